package io.outpost.demo.viewmodels

import io.outpost.KdfParams
import io.outpost.OutpostClient
import io.outpost.SyncSummary
import java.io.File
import java.nio.file.Files
import java.util.concurrent.Executors
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.ExecutorCoroutineDispatcher
import kotlinx.coroutines.asCoroutineDispatcher
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.first
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withTimeoutOrNull
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Before

/** Passwords with the characters encodings get wrong. */
internal const val PASSWORD = "offline pass+/=word"

/** Cheap Argon2id for tests (19 MiB, 2 passes, 1 lane: the OWASP floor). */
internal val FAST_KDF = KdfParams(memoryKib = 19456, iterations = 2, parallelism = 1)

/** Generous: CI is a loaded 2-core machine. */
internal const val WAIT_MS = 120_000L

/**
 * The "main thread" of the tests: one thread, like Android's, injected into every view-model
 * (kotlinx-coroutines-test is not available here).
 */
internal class TestMain : AutoCloseable {
    private val executor = Executors.newSingleThreadExecutor { r -> Thread(r, "test-main").apply { isDaemon = true } }
    val dispatcher: ExecutorCoroutineDispatcher = executor.asCoroutineDispatcher()

    override fun close() {
        dispatcher.close()
    }
}

/** Waits (without tight timing) until the state satisfies [predicate]; fails with the last state. */
internal fun <T> StateFlow<T>.await(what: String, timeoutMs: Long = WAIT_MS, predicate: (T) -> Boolean): T =
    runBlocking { withTimeoutOrNull(timeoutMs) { first(predicate) } } ?: run {
        fail("timed out after $timeoutMs ms waiting for $what; last state: $value")
        error("unreachable")
    }

/** A real emulator, a fresh vault directory and a test main thread per test. */
internal abstract class WithEmulator {
    protected lateinit var emulator: Emulator
    protected lateinit var main: TestMain
    protected lateinit var dir: File
    private val closeables = mutableListOf<AutoCloseable>()

    protected val dispatcher: CoroutineDispatcher get() = main.dispatcher

    @Before
    fun startEmulator() {
        emulator = Emulator.start(rows = 300)
        main = TestMain()
        dir = Files.createTempDirectory("outpost-vm-").toFile()
    }

    @After
    fun stopEmulator() {
        closeables.asReversed().forEach { runCatching { it.close() } }
        runCatching { main.close() }
        runCatching { emulator.close() }
        dir.deleteRecursively()
    }

    /** Closed after the test (view-models, clients). */
    protected fun <T : AutoCloseable> T.closeLater(): T = also { closeables += it }

    protected fun settings(profileToml: String? = null) = AppSettings(
        orgUrl = emulator.orgUrl,
        clientId = emulator.clientId,
        authority = null,
        profileToml = profileToml,
    )

    protected fun home(name: String = "vault") = VaultHome(File(dir, name), FileSettingsStore(File(dir, "$name.properties")))

    /** The setup screen, filled in and submitted: returns the unlocked client. */
    protected fun setUp(home: VaultHome = home(), profileToml: String? = null): OutpostClient {
        val vm = SetupViewModel(home, dispatcher, kdf = { FAST_KDF }, profileToml = profileToml).closeLater()
        vm.prefill(emulator.orgUrl, emulator.clientId)
        vm.create(PASSWORD.toCharArray(), PASSWORD.toCharArray())
        val s = vm.state.await("setup done") { it.done || it.error != null }
        assertEquals(null, s.error)
        val client = home.client() ?: error("no client after setup")
        assertTrue(client.isUnlocked())
        return client
    }

    /** The sign-in screen with the browser played by [SignInPages]. */
    protected fun signIn(client: OutpostClient, upn: String) {
        val vm = SignInViewModel(client, dispatcher).closeLater()
        vm.begin(loginHint = upn)
        val open = vm.state.await("authorize URL") { it is SignInState.OpenBrowser || it is SignInState.Failed }
        check(open is SignInState.OpenBrowser) { "sign-in did not start: $open" }
        vm.browserOpened()
        vm.complete(SignInPages.drive(open.url, emulator.users.getValue(upn)))
        val done = vm.state.await("signed in") { it is SignInState.SignedIn || it is SignInState.Failed }
        check(done is SignInState.SignedIn) { "sign-in failed: $done" }
    }

    /** The sync screen's view-model run to the end. */
    protected fun sync(client: OutpostClient): SyncSummary {
        val vm = SyncViewModel(client, dispatcher).closeLater()
        vm.start()
        val s = vm.state.await("sync finished") { !it.running }
        assertEquals(null, s.error)
        return s.summary ?: error("no summary: $s")
    }

    protected fun <T> blocking(block: suspend () -> T): T = runBlocking { block() }
}
