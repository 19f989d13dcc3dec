// The generated Kotlin bindings against the real library (built with --test-hooks) and the
// emulator over loopback HTTP: the glue (suspend calls, callbacks, typed errors, cancellation,
// panics, async foreign traits), not the core's logic again. Mirrors bindings/tests/python.
//
// OUTPOST_EMULATOR_BIN names the emulator binary; run.sh sets it and -Djna.library.path.
package io.outpost.tests

import io.outpost.ClientConfig
import io.outpost.Compare
import io.outpost.Condition
import io.outpost.DeviceCodeCallback
import io.outpost.DeviceCodeInfo
import io.outpost.HostTokenException
import io.outpost.HostTokenProvider
import io.outpost.KdfParams
import io.outpost.LogLevel
import io.outpost.Logger
import io.outpost.OrderBy
import io.outpost.OutpostClient
import io.outpost.OutpostException
import io.outpost.PlatformKeyException
import io.outpost.PlatformKeyProvider
import io.outpost.Query
import io.outpost.RecordState
import io.outpost.SignInOptions
import io.outpost.SyncEvent
import io.outpost.SyncObserver
import io.outpost.SyncOptions
import io.outpost.Value
import io.outpost.VaultOptions
import io.outpost.calibrate
import io.outpost.defaultKdfParams
import io.outpost.installLogger
import io.outpost.libraryVersion
import io.outpost.uniffiForeignFutureHandleCount
import java.io.File
import java.math.BigDecimal
import java.net.HttpURLConnection
import java.net.URI
import java.net.URLEncoder
import java.nio.ByteBuffer
import java.nio.file.Files
import java.nio.file.Path
import java.util.concurrent.CompletableFuture
import java.util.concurrent.CopyOnWriteArrayList
import java.util.concurrent.CountDownLatch
import java.util.concurrent.TimeUnit
import java.util.concurrent.atomic.AtomicInteger
import java.util.concurrent.atomic.AtomicReference
import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec
import kotlin.concurrent.thread
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.async
import kotlinx.coroutines.awaitCancellation
import kotlinx.coroutines.cancel
import kotlinx.coroutines.delay
import kotlinx.coroutines.launch
import kotlinx.coroutines.runBlocking
import kotlinx.coroutines.withContext
import kotlinx.coroutines.withTimeout
import org.junit.After
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Assert.fail
import org.junit.Before
import org.junit.Rule
import org.junit.Test
import org.junit.rules.Timeout

private val PASSWORD = "offline pass+/=word".toByteArray()
private val FAST_KDF = KdfParams(memoryKib = 19456, iterations = 2, parallelism = 1)
private const val REDIRECT_URI = "http://127.0.0.1:53682"
private const val PAGED_ACCOUNTS =
    "[[tables]]\nentity_set = \"accounts\"\ncolumns = [\"name\"]\npage_size = 10\n"

// ------------------------------------------------------------------------------------- JSON

/** Just enough JSON for the emulator's start-up line and control answers. */
internal object Json {
    fun parse(text: String): Any? {
        val p = Parser(text)
        val v = p.value()
        p.ws()
        check(p.i == text.length) { "trailing characters in JSON at ${p.i}" }
        return v
    }

    private class Parser(val s: String) {
        var i = 0

        fun ws() {
            while (i < s.length && s[i].isWhitespace()) i++
        }

        fun value(): Any? {
            ws()
            check(i < s.length) { "unexpected end of JSON" }
            return when (s[i]) {
                '{' -> obj()
                '[' -> arr()
                '"' -> str()
                't' -> word("true", true)
                'f' -> word("false", false)
                'n' -> word("null", null)
                else -> num()
            }
        }

        fun word(w: String, v: Any?): Any? {
            check(s.startsWith(w, i)) { "bad JSON literal at $i" }
            i += w.length
            return v
        }

        fun num(): Any {
            val start = i
            while (i < s.length && (s[i].isDigit() || s[i] in "+-.eE")) i++
            val t = s.substring(start, i)
            return t.toLongOrNull() ?: t.toDouble()
        }

        fun str(): String {
            val out = StringBuilder()
            i++ // opening quote
            while (true) {
                val c = s[i++]
                when (c) {
                    '"' -> return out.toString()
                    '\\' -> {
                        when (val e = s[i++]) {
                            'n' -> out.append('\n')
                            't' -> out.append('\t')
                            'r' -> out.append('\r')
                            'b' -> out.append('\b')
                            'f' -> out.append('\u000c')
                            'u' -> {
                                out.append(s.substring(i, i + 4).toInt(16).toChar())
                                i += 4
                            }
                            else -> out.append(e)
                        }
                    }
                    else -> out.append(c)
                }
            }
        }

        fun arr(): List<Any?> {
            val out = ArrayList<Any?>()
            i++
            ws()
            if (s[i] == ']') return out.also { i++ }
            while (true) {
                out.add(value())
                ws()
                when (s[i++]) {
                    ',' -> continue
                    ']' -> return out
                    else -> error("bad JSON array at ${i - 1}")
                }
            }
        }

        fun obj(): Map<String, Any?> {
            val out = LinkedHashMap<String, Any?>()
            i++
            ws()
            if (s[i] == '}') return out.also { i++ }
            while (true) {
                ws()
                val k = str()
                ws()
                check(s[i++] == ':') { "bad JSON object at ${i - 1}" }
                out[k] = value()
                ws()
                when (s[i++]) {
                    ',' -> continue
                    '}' -> return out
                    else -> error("bad JSON object at ${i - 1}")
                }
            }
        }
    }
}

// ------------------------------------------------------------------------------------- HTTP

internal class HttpAnswer(val status: Int, val location: String?, val body: String)

/** One request, redirects off (the test reads the code from the 302 Location). */
internal fun send(url: String, form: List<Pair<String, String>>? = null): HttpAnswer =
    request(if (form == null) "GET" else "POST", url, form?.let { encodeForm(it) }, "application/x-www-form-urlencoded")

internal fun request(method: String, url: String, body: String?, contentType: String): HttpAnswer {
    val c = URI(url).toURL().openConnection() as HttpURLConnection
    try {
        c.instanceFollowRedirects = false
        c.connectTimeout = 30_000
        c.readTimeout = 60_000
        c.requestMethod = method
        if (body != null) {
            c.doOutput = true
            c.setRequestProperty("Content-Type", contentType)
            c.outputStream.use { it.write(body.toByteArray()) }
        }
        val status = c.responseCode
        val stream = if (status >= 400) c.errorStream else c.inputStream
        val text = stream?.use { it.readBytes().decodeToString() } ?: ""
        return HttpAnswer(status, c.getHeaderField("Location"), text)
    } finally {
        c.disconnect()
    }
}

private fun encodeForm(fields: List<Pair<String, String>>): String =
    fields.joinToString("&") { (k, v) -> URLEncoder.encode(k, Charsets.UTF_8) + "=" + URLEncoder.encode(v, Charsets.UTF_8) }

private fun htmlUnescape(s: String): String =
    Regex("&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);").replace(s) { m ->
        when (val e = m.groupValues[1]) {
            "amp" -> "&"
            "lt" -> "<"
            "gt" -> ">"
            "quot" -> "\""
            "apos" -> "'"
            else -> if (e.startsWith("#x")) e.substring(2).toInt(16).toChar().toString() else e.substring(1).toInt().toChar().toString()
        }
    }

// ------------------------------------------------------------------------------------- TOTP

internal fun base32Decode(text: String): ByteArray {
    val alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
    val out = java.io.ByteArrayOutputStream()
    var buffer = 0
    var bits = 0
    for (ch in text.trimEnd('=').uppercase()) {
        val v = alphabet.indexOf(ch)
        require(v >= 0) { "not base32: $ch" }
        buffer = (buffer shl 5) or v
        bits += 5
        if (bits >= 8) {
            bits -= 8
            out.write((buffer shr bits) and 0xff)
        }
    }
    return out.toByteArray()
}

/** RFC 6238: HMAC-SHA1, 30 s, 6 digits. */
internal fun totp(key: ByteArray, unixSeconds: Long = System.currentTimeMillis() / 1000): String {
    val mac = Mac.getInstance("HmacSHA1")
    mac.init(SecretKeySpec(key, "HmacSHA1"))
    val h = mac.doFinal(ByteBuffer.allocate(8).putLong(unixSeconds / 30).array())
    val off = h[19].toInt() and 0x0f
    val bin = ((h[off].toInt() and 0x7f) shl 24) or ((h[off + 1].toInt() and 0xff) shl 16) or
        ((h[off + 2].toInt() and 0xff) shl 8) or (h[off + 3].toInt() and 0xff)
    return "%06d".format(bin % 1_000_000)
}

// --------------------------------------------------------------------------------- Emulator

internal class User(val upn: String, val password: String, val totpSecret: String)

/** One emulator process (own port, own state); close() stops it. */
internal class Emulator(rows: Int = 300) : AutoCloseable {
    private val process: Process
    private val pidFile: File?
    val info: Map<String, Any?>
    val users: Map<String, User>

    init {
        val bin = System.getenv("OUTPOST_EMULATOR_BIN")
            ?: File("target/debug/outpost-emulator").absolutePath
        process = ProcessBuilder(bin, "--port", "0", "--rows", rows.toString(), "--json")
            .redirectError(ProcessBuilder.Redirect.INHERIT)
            .redirectInput(ProcessBuilder.Redirect.from(File("/dev/null")))
            .start()
        live.add(process)
        // run.sh stops what a crashed JVM left behind (shutdown hooks do not run then).
        pidFile = System.getenv("OUTPOST_TEST_PID_DIR")?.let { File(it, "emulator-${process.pid()}") }
        pidFile?.writeText(process.pid().toString())
        val reader = process.inputStream.bufferedReader()
        val line = try {
            CompletableFuture.supplyAsync { reader.readLine() }.get(60, TimeUnit.SECONDS)
        } catch (e: Exception) {
            close()
            throw AssertionError("the emulator did not start ($bin)", e)
        } ?: run {
            close()
            throw AssertionError("the emulator exited before printing its JSON line ($bin)")
        }
        // Keep draining stdout so that the emulator never blocks on a full pipe.
        thread(isDaemon = true, name = "emulator-stdout") { runCatching { reader.readLines() } }
        @Suppress("UNCHECKED_CAST")
        info = Json.parse(line) as Map<String, Any?>
        @Suppress("UNCHECKED_CAST")
        users = (info["users"] as List<Map<String, Any?>>).associate {
            val upn = it["upn"] as String
            upn to User(upn, it["password"] as String, it["totp_secret"] as String)
        }
    }

    private fun s(key: String) = info[key] as String

    fun config(allowPasswordGrant: Boolean = false, profileToml: String? = null) = ClientConfig(
        orgUrl = s("org_url"),
        clientId = s("client_id"),
        redirectUri = REDIRECT_URI,
        authority = s("authority"),
        allowPasswordGrant = allowPasswordGrant,
        profileToml = profileToml,
    )

    /** An access token from the emulator's password grant (what MSAL with a broker gives a real app). */
    fun passwordToken(upn: String, scope: String): String {
        val token = s("authority").removeSuffix("/v2.0") + "/oauth2/v2.0/token"
        val form = encodeForm(
            listOf(
                "grant_type" to "password", "client_id" to s("client_id"), "username" to upn,
                "password" to users.getValue(upn).password, "scope" to scope,
            ),
        )
        val a = request("POST", token, form, "application/x-www-form-urlencoded")
        check(a.status == 200) { "password grant: HTTP ${a.status}" }
        @Suppress("UNCHECKED_CAST")
        return (Json.parse(a.body) as Map<String, Any?>)["access_token"] as String
    }

    /** The control API (emulator/README.md). */
    fun control(method: String, path: String, body: String? = null): Any? {
        val a = request(method, s("control") + path, body, "application/json")
        check(a.status in 200..299) { "control $method $path: HTTP ${a.status} ${a.body}" }
        return if (a.body.isBlank()) null else Json.parse(a.body)
    }

    override fun close() {
        process.destroy()
        if (!process.waitFor(10, TimeUnit.SECONDS)) {
            process.destroyForcibly()
            process.waitFor(10, TimeUnit.SECONDS)
        }
        live.remove(process)
        pidFile?.delete()
    }

    companion object {
        private val live = CopyOnWriteArrayList<Process>()

        init {
            // Never leave an emulator behind, even when the JVM is stopped mid-test.
            Runtime.getRuntime().addShutdownHook(Thread { live.forEach { it.destroyForcibly() } })
        }
    }
}

/**
 * Completes the emulator's sign-in pages as a browser would; returns the final redirect URL
 * (authorization code flow) or null (device flow, after the confirmation).
 */
internal fun drivePages(start: String, user: User, code: String? = null): String? {
    var url = start
    var answer = send(url)
    var confirmed = false
    repeat(12) {
        if (answer.status in listOf(301, 302, 303)) {
            val location = URI(url).resolve(assertNotNullValue(answer.location, "a redirect without Location")).toString()
            if (location.startsWith(REDIRECT_URI)) return location
            url = location
            answer = send(url)
            return@repeat
        }
        val page = answer.body
        if (!page.contains("<form")) {
            assertTrue("no form on the page (HTTP ${answer.status}): ${page.take(500)}", confirmed)
            return null
        }
        val action = Regex("<form[^>]*action=\"([^\"]+)\"").find(page)?.groupValues?.get(1)
            ?: throw AssertionError("a form without an action: ${page.take(500)}")
        val fields = Regex("<input type=\"hidden\" name=\"([^\"]+)\" value=\"([^\"]*)\"").findAll(page)
            .map { it.groupValues[1] to htmlUnescape(it.groupValues[2]) }
            .toMutableList()
        when {
            page.contains("id=\"i0116\"") -> {
                fields += "loginfmt" to user.upn
                fields += "passwd" to user.password
            }
            page.contains("idTxtBx_SAOTCC_OTC") -> fields += "otc" to totp(base32Decode(user.totpSecret))
            page.contains("idBtn_Accept") -> fields += "decision" to "accept"
            page.contains("id=\"deviceconfirm\"") -> {
                fields += "decision" to "continue"
                confirmed = true
            }
            page.contains("id=\"devicecode\"") -> fields += "otc" to assertNotNullValue(code, "a device code page without a code")
            else -> fail("unexpected page: ${page.take(500)}")
        }
        url = URI(url).resolve(htmlUnescape(action)).toString()
        answer = send(url, fields)
    }
    throw AssertionError("too many pages")
}

private fun <T : Any> assertNotNullValue(v: T?, what: String): T = v ?: throw AssertionError(what)

// -------------------------------------------------------------------------------- Utilities

/** Records every sync event (called on Outpost's sync thread). */
internal class Events : SyncObserver {
    val events = CopyOnWriteArrayList<SyncEvent>()

    override fun onEvent(event: SyncEvent) {
        events.add(event)
    }

    inline fun <reified T : SyncEvent> of(): List<T> = events.filterIsInstance<T>()

    fun appliedAPage() = of<SyncEvent.Progress>().any { it.rows > 0 }
}

/** Runs [block] and returns what it threw, failing unless it is a [T]. */
internal suspend inline fun <reified T : Throwable> assertThrowsSuspend(block: suspend () -> Unit): T {
    try {
        block()
    } catch (e: Throwable) {
        if (e is T) return e
        throw AssertionError("expected ${T::class.java.name}, got $e", e)
    }
    throw AssertionError("expected ${T::class.java.name}, nothing was thrown")
}

/** Polls [cond] every 50 ms until it holds or [timeoutMs] passes. */
internal suspend fun waitUntil(what: String, timeoutMs: Long = 60_000, cond: () -> Boolean) {
    val end = System.nanoTime() + timeoutMs * 1_000_000
    while (!cond()) {
        if (System.nanoTime() > end) throw AssertionError("timed out after $timeoutMs ms waiting for: $what")
        delay(50)
    }
}

// ------------------------------------------------------------------------------------ Tests

class FlowTest {
    @get:Rule
    val timeout: Timeout = Timeout.builder().withTimeout(300, TimeUnit.SECONDS).withLookingForStuckThread(true).build()

    private lateinit var emulator: Emulator
    private lateinit var tempDir: Path
    private lateinit var vaultDir: String
    private val clients = ArrayList<OutpostClient>()

    @Before
    fun setUp() {
        emulator = Emulator(rows = 300)
        tempDir = Files.createTempDirectory("outpost-kt-vault-")
        vaultDir = tempDir.resolve("vault").toString()
    }

    @After
    fun tearDown() {
        clients.forEach { runCatching { it.lock(); it.close() } }
        emulator.close()
        tempDir.toFile().deleteRecursively()
    }

    private suspend fun newClient(allowPasswordGrant: Boolean = false, profileToml: String? = null): OutpostClient {
        val client = OutpostClient(vaultDir, emulator.config(allowPasswordGrant, profileToml))
        clients += client
        client.createVault(PASSWORD.copyOf(), VaultOptions(kdf = FAST_KDF))
        return client
    }

    private suspend fun signInAlice(client: OutpostClient): String {
        val request = client.beginSignIn(SignInOptions(loginHint = "alice@contoso.test"))
        val redirect = withContext(Dispatchers.IO) { drivePages(request.url, emulator.users.getValue("alice@contoso.test")) }
        return client.completeSignIn(assertNotNullValue(redirect, "no redirect")).username
    }

    private suspend fun signInBob(client: OutpostClient) {
        assertEquals("bob@contoso.test", client.signInWithPassword("bob@contoso.test", "Bob+Secret/2=".toByteArray()).username)
    }

    @Test
    fun totpHelperMatchesRfc6238() {
        // RFC 6238 appendix B (SHA-1), truncated to 6 digits: the helper the MFA step relies on.
        val key = "12345678901234567890".toByteArray()
        assertEquals("287082", totp(key, 59))
        assertEquals("081804", totp(key, 1_111_111_109))
        assertEquals("005924", totp(key, 1_234_567_890))
        assertEquals(key.toList(), base32Decode("GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ").toList())
    }

    @Test
    fun wholeFlow(): Unit = runBlocking {
        val client = newClient()
        assertTrue(client.isUnlocked() && client.vaultExists())
        assertEquals("alice@contoso.test", signInAlice(client))

        val events = Events()
        val summary = client.sync(SyncOptions(), events)
        assertEquals(300L, summary.rowsPulled)
        assertTrue(summary.complete)
        assertEquals(setOf("accounts", "contacts", "tasks"), summary.tables.map { it.entitySet }.toSet())
        summary.tables.forEach { assertNull("${it.entitySet}: ${it.error}", it.error) }
        assertNull(summary.pushError)
        val progress = events.of<SyncEvent.Progress>()
        assertTrue("progress events", progress.isNotEmpty() && progress.last().rows > 0)
        assertEquals(setOf("accounts", "contacts", "tasks"), events.of<SyncEvent.InitialSyncComplete>().map { it.entitySet }.toSet())

        // typed conditions, ordering
        val typed = client.query(
            "accounts",
            Query(
                conditions = listOf(Condition(column = "name", compare = Compare.STARTS_WITH, value = Value.Text("Contoso"))),
                orderBy = listOf(OrderBy(column = "name")),
                limit = 2,
            ),
        )
        assertTrue(typed.records.size <= 2)
        val names = typed.records.map { (it.values.getValue("name") as Value.Text).value }
        assertTrue(names.toString(), names.isNotEmpty() && names.all { it.startsWith("Contoso") })
        assertEquals(names.sorted(), names)

        // $filter text, keyset pages
        val seen = ArrayList<String>()
        var after: String? = null
        do {
            val p = client.query("accounts", Query(filter = "numberofemployees ge 0", limit = 70, after = after))
            assertTrue(p.records.size <= 70)
            seen += p.records.map { it.id }
            after = p.next
        } while (after != null)
        assertEquals(150, seen.size)
        assertEquals(150, seen.toSet().size)

        // exact decimals
        val first = client.query("accounts", Query(limit = 1)).records[0]
        val revenue = first.values.getValue("revenue")
        assertTrue("revenue is $revenue", revenue is Value.Decimal)
        val exact = BigDecimal((revenue as Value.Decimal).text)
        assertTrue(exact.signum() > 0)
        assertEquals("the decimal text round-trips exactly", revenue.text, exact.toPlainString())
        assertThrowsSuspend<OutpostException.InvalidArgument> { client.query("accounts", Query(filter = "name eq")) }

        // search, create with a lookup, update, push
        val name = (first.values.getValue("name") as Value.Text).value
        val hits = client.search("accounts", name, 5)
        assertEquals(first.id, hits[0].id)
        val contact = client.create(
            "contacts",
            mapOf("lastname" to Value.Text("Whitfield"), "parentcustomerid" to Value.Lookup(entitySet = "accounts", id = first.id)),
        )
        client.update("accounts", first.id, mapOf("telephone1" to Value.Text("+1 555 0100")))
        val created = assertNotNullValue(client.get("contacts", contact), "the created contact")
        assertEquals(RecordState.CREATED, created.state)
        assertNull(created.etag)
        assertEquals(Value.Lookup(entitySet = "accounts", id = first.id), created.values["parentcustomerid"])
        assertEquals(2L, client.status().pending)
        val pushed = client.sync(SyncOptions(), null)
        assertEquals(2L, pushed.pushed)
        assertEquals(0L, pushed.pending)
        assertEquals(RecordState.SYNCED, client.get("contacts", contact)?.state)
        val status = client.status()
        assertTrue(status.signedIn)
        assertEquals("alice@contoso.test", status.account?.username)
        assertNull(client.get("contacts", "00000000-0000-0000-0000-000000000000"))

        // lock, a wrong password as its exception class, unlock
        client.lock()
        assertFalse(client.isUnlocked())
        assertThrowsSuspend<OutpostException.Locked> { client.get("accounts", first.id) }
        val wrong = assertThrowsSuspend<OutpostException.WrongPassword> { client.unlock("not the password".toByteArray()) }
        assertEquals(9, wrong.attemptsLeft)
        assertEquals(9, client.vaultStatus().attemptsLeft)
        client.unlock(PASSWORD.copyOf())
        assertEquals(Value.Text("+1 555 0100"), client.get("accounts", first.id)?.values?.get("telephone1"))
        // The default password policy refuses a guessable new password, saying why.
        val weak = assertThrowsSuspend<OutpostException.WeakPassword> {
            client.changePassword(PASSWORD.copyOf(), "new password".toByteArray())
        }
        assertTrue(weak.reason, weak.reason.startsWith("too easy to guess"))
        client.changePassword(PASSWORD.copyOf(), "a new pass phrase".toByteArray())
        client.lock()
        assertThrowsSuspend<OutpostException.WrongPassword> { client.unlock(PASSWORD.copyOf()) }
        client.unlock("a new pass phrase".toByteArray())
        assertTrue(client.isUnlocked())
        client.wipe()
        assertFalse(client.vaultExists())
        assertThrowsSuspend<OutpostException.NoVault> { client.unlock("a new pass phrase".toByteArray()) }
    }

    @Test
    fun deviceCodeSignIn(): Unit = runBlocking {
        emulator.control("POST", "/settings", """{"device_code_interval_secs":1}""")
        val client = newClient()
        val shown = CountDownLatch(1)
        val shownInfo = AtomicReference<DeviceCodeInfo>()
        // Called on Outpost's thread: keep it quick.
        val callback = object : DeviceCodeCallback {
            override fun onCode(info: DeviceCodeInfo) {
                shownInfo.set(info)
                shown.countDown()
            }
        }
        val helperError = AtomicReference<Throwable>()
        // The user on another device: a plain thread drives the devicelogin pages.
        val helper = thread(name = "device-user") {
            try {
                check(shown.await(60, TimeUnit.SECONDS)) { "the code was never shown" }
                val i = shownInfo.get()
                assertNull(drivePages(i.verificationUri, emulator.users.getValue("bob@contoso.test"), i.userCode))
            } catch (t: Throwable) {
                helperError.set(t)
            }
        }
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        try {
            val signIn = scope.async { client.signInWithDeviceCode(callback) }
            waitUntil("the device-code sign-in", 120_000) { signIn.isCompleted || helperError.get() != null }
            helperError.get()?.let { throw AssertionError("the device-user thread failed", it) }
            assertEquals("bob@contoso.test", signIn.await().username)
        } finally {
            scope.cancel()
            helper.join(30_000)
        }
        val info = shownInfo.get()
        assertTrue(info.verificationUri, info.verificationUri.contains("devicelogin"))
        assertTrue(info.userCode.isNotEmpty() && info.expiresInS > 0)
        assertTrue(client.status().signedIn)
    }

    @Test
    fun signInErrorsAreTyped(): Unit = runBlocking {
        val client = newClient(allowPasswordGrant = true)
        val mfa = assertThrowsSuspend<OutpostException.MfaRequired> {
            client.signInWithPassword("alice@contoso.test", "Alice+Secret/1=".toByteArray())
        }
        assertTrue(mfa.details.errorCodes.toString(), 50076L in mfa.details.errorCodes)
        assertEquals("invalid_grant", mfa.details.error)
        assertThrowsSuspend<OutpostException.BadCredentials> {
            client.signInWithPassword("bob@contoso.test", "wrong".toByteArray())
        }
        assertThrowsSuspend<OutpostException.InteractionRequired> { client.sync(SyncOptions(), null) }
    }

    @Test
    fun cancellingTheCoroutineCancelsARunningSync(): Unit = runBlocking {
        val client = newClient(allowPasswordGrant = true, profileToml = PAGED_ACCOUNTS)
        signInBob(client)
        emulator.control("POST", "/faults", """{"path_contains":"accounts","delay_ms":500,"count":1000}""")
        val events = Events()
        val outcome = AtomicReference<Any?>()
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        val job = scope.launch {
            try {
                client.sync(SyncOptions(), events)
                outcome.set("completed")
            } catch (e: CancellationException) {
                outcome.set(e)
                throw e
            } catch (e: Throwable) {
                outcome.set(e)
            }
        }
        waitUntil("the sync applied a page") { events.appliedAPage() || job.isCompleted }
        assertTrue("the sync applied a page (outcome ${outcome.get()})", events.appliedAPage())
        job.cancel()
        withTimeout(30_000) { job.join() }
        assertTrue(job.isCancelled)
        assertTrue("outcome ${outcome.get()}", outcome.get() is CancellationException)

        // The Rust sync stopped too: no more pages arrive (one per 500 ms while it runs).
        delay(1_500)
        val settled = events.of<SyncEvent.Progress>().size
        delay(1_500)
        assertEquals("progress events after the cancel", settled, events.of<SyncEvent.Progress>().size)

        // The client keeps working, and the next sync resumes.
        emulator.control("DELETE", "/faults")
        val rows = client.status().tables[0].rows
        assertTrue("rows after the cancel: $rows", rows in 1 until 150)
        val summary = client.sync(SyncOptions(), null)
        assertTrue(summary.complete)
        assertEquals(150L, client.status().tables[0].rows)
        scope.cancel()
    }

    @Test
    fun cancelSyncHandleEndsTheSyncWithCancelled(): Unit = runBlocking {
        val client = newClient(allowPasswordGrant = true, profileToml = PAGED_ACCOUNTS)
        signInBob(client)
        emulator.control("POST", "/faults", """{"path_contains":"accounts","delay_ms":500,"count":1000}""")
        val events = Events()
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        val sync = scope.async { client.sync(SyncOptions(), events) }
        waitUntil("the sync applied a page") { events.appliedAPage() || sync.isCompleted }
        assertTrue("the sync applied a page", events.appliedAPage())
        client.cancelSync()
        assertThrowsSuspend<OutpostException.Cancelled> { withTimeout(30_000) { sync.await() } }

        // Everything applied so far is kept; the next sync completes.
        emulator.control("DELETE", "/faults")
        assertTrue(client.status().tables[0].rows in 1 until 150)
        assertTrue(client.sync(SyncOptions(), null).complete)
        assertEquals(150L, client.status().tables[0].rows)
        scope.cancel()
    }

    private fun panicsBecomeInternalErrors(site: String): Unit = runBlocking {
        val client = newClient(allowPasswordGrant = true)
        signInBob(client)
        client.sync(SyncOptions(), null)
        repeat(2) {
            val e = assertThrowsSuspend<OutpostException.Internal> { client.debugPanic(site) }
            assertTrue(e.reason, e.reason.contains("panic"))
        }
        // Still working: reads, writes (on the same writer) and a sync.
        val anyId = client.query("accounts", Query(limit = 1)).records[0].id
        client.update("accounts", anyId, mapOf("telephone1" to Value.Text("after the panic")))
        assertEquals(1L, client.sync(SyncOptions(), null).pushed)
        assertEquals(Value.Text("after the panic"), client.get("accounts", anyId)?.values?.get("telephone1"))
    }

    @Test
    fun panicInTheCallBecomesInternal(): Unit = panicsBecomeInternalErrors("call")

    @Test
    fun panicOnTheWriterBecomesInternal(): Unit = panicsBecomeInternalErrors("writer")

    @Test
    fun panicInASpawnedTaskBecomesInternal(): Unit = panicsBecomeInternalErrors("task")

    @Test
    fun unknownPanicSiteIsInvalidArgument(): Unit = runBlocking {
        val client = newClient()
        assertThrowsSuspend<OutpostException.InvalidArgument> { client.debugPanic("nowhere") }
    }

    @Test
    fun anObserverThatThrowsDoesNotBreakTheSync(): Unit = runBlocking {
        val client = newClient(allowPasswordGrant = true)
        signInBob(client)
        val calls = AtomicInteger()
        val broken = object : SyncObserver {
            override fun onEvent(event: SyncEvent) {
                calls.incrementAndGet()
                throw IllegalStateException("observer bug")
            }
        }
        val summary = client.sync(SyncOptions(), broken)
        assertEquals(300L, summary.rowsPulled)
        assertTrue(summary.complete)
        assertTrue("the observer was called", calls.get() > 0)
    }

    /** A platform key whose operations really suspend (as a biometric prompt would). */
    private class XorKey : PlatformKeyProvider {
        private val secret = ByteArray(32) { it.toByte() }

        @Volatile var invalidated = false

        @Volatile var failure: Exception? = null

        override suspend fun wrap(dataKey: ByteArray): ByteArray {
            delay(20)
            return "PK1".toByteArray() + xor(dataKey)
        }

        override suspend fun unwrap(blob: ByteArray): ByteArray = withContext(Dispatchers.IO) {
            delay(20)
            failure?.let { throw it }
            if (invalidated) throw PlatformKeyException.Invalidated()
            xor(blob.copyOfRange(3, blob.size))
        }

        private fun xor(b: ByteArray) = ByteArray(b.size) { (b[it].toInt() xor secret[it % 32].toInt()).toByte() }
    }

    @Test
    fun aHostTokenProviderSuppliesTheTokens(): Unit = runBlocking {
        // Compliant-device tenants (issue 15): the app signs in with MSAL and its broker and hands
        // Outpost tokens; Outpost asks for each request and stores no refresh token.
        val client = newClient()
        val asked = CopyOnWriteArrayList<List<String>>()
        var refuse = false
        val host = object : HostTokenProvider {
            override suspend fun token(scopes: List<String>, claims: String?): String = withContext(Dispatchers.IO) {
                asked += scopes
                if (refuse) throw HostTokenException.InteractionRequired(null)
                emulator.passwordToken("bob@contoso.test", scopes.joinToString(" "))
            }
        }
        client.setTokenProvider(host)
        assertEquals(300L, client.sync(SyncOptions(), null).rowsPulled)
        assertEquals(listOf(emulator.config().orgUrl + "/user_impersonation"), asked.first())
        assertThrowsSuspend<OutpostException.InvalidArgument> { client.beginSignIn(SignInOptions()) }
        refuse = true
        assertThrowsSuspend<OutpostException.InteractionRequired> { client.sync(SyncOptions(), null) }
        client.setTokenProvider(null)
        assertFalse(client.status().signedIn)
        waitUntil("no foreign futures left", 10_000) { uniffiForeignFutureHandleCount() == 0 }
    }

    @Test
    fun platformKeyUnlock(): Unit = runBlocking {
        val client = newClient()
        val key = XorKey()
        client.addPlatformSlot(key)
        client.lock()
        assertTrue(client.vaultStatus().hasPlatformSlot)
        client.unlockWithPlatform(key)
        assertTrue(client.isUnlocked())
        client.lock()
        key.invalidated = true
        assertThrowsSuspend<OutpostException.PlatformKeyInvalidated> { client.unlockWithPlatform(key) }
        assertFalse(client.isUnlocked())
        client.unlock(PASSWORD.copyOf())
        assertTrue(client.isUnlocked())
        // Every foreign future the Rust side made from the suspend funs was released.
        waitUntil("no foreign futures left", 10_000) { uniffiForeignFutureHandleCount() == 0 }
    }

    @Test
    fun platformKeyFailuresAreTyped(): Unit = runBlocking {
        val client = newClient()
        val key = XorKey()
        client.addPlatformSlot(key)
        client.lock()
        // The declared error: Failed(reason) → PlatformKey(reason).
        key.failure = PlatformKeyException.Failed("the user cancelled the prompt")
        val declared = assertThrowsSuspend<OutpostException.PlatformKey> { client.unlockWithPlatform(key) }
        assertTrue(declared.reason, declared.reason.contains("the user cancelled the prompt"))
        // Any other exception from the host: still PlatformKey, never a crash.
        key.failure = IllegalStateException("keystore bug")
        val unexpected = assertThrowsSuspend<OutpostException.PlatformKey> { client.unlockWithPlatform(key) }
        assertTrue(unexpected.reason, unexpected.reason.contains("keystore bug"))
        key.failure = null
        client.unlockWithPlatform(key)
        assertTrue(client.isUnlocked())
        waitUntil("no foreign futures left", 10_000) { uniffiForeignFutureHandleCount() == 0 }
    }

    @Test
    fun cancellingUnlockWithPlatformCancelsTheProvider(): Unit = runBlocking {
        val client = newClient()
        val state = AtomicReference("idle")
        val key = object : PlatformKeyProvider {
            @Volatile var hang = false

            override suspend fun wrap(dataKey: ByteArray): ByteArray = dataKey.copyOf()

            override suspend fun unwrap(blob: ByteArray): ByteArray {
                if (hang) {
                    state.set("prompting")
                    try {
                        awaitCancellation()
                    } finally {
                        state.set("cancelled")
                    }
                }
                return blob.copyOf()
            }
        }
        client.addPlatformSlot(key)
        client.lock()
        key.hang = true
        val scope = CoroutineScope(SupervisorJob() + Dispatchers.Default)
        val unlock = scope.launch { client.unlockWithPlatform(key) }
        waitUntil("the provider is prompting") { state.get() == "prompting" }
        unlock.cancel()
        unlock.join()
        // The app gave up: the prompt (the provider's coroutine) must be cancelled, not leaked.
        waitUntil("the provider's coroutine is cancelled", 10_000) { state.get() == "cancelled" }
        waitUntil("no foreign futures left", 10_000) { uniffiForeignFutureHandleCount() == 0 }
        scope.cancel()
    }

    @Test
    fun topLevelFunctions(): Unit = runBlocking {
        assertTrue(libraryVersion().isNotEmpty())
        assertEquals(KdfParams(memoryKib = 65536, iterations = 3, parallelism = 4), defaultKdfParams())
        val c = calibrate(20, 19456)
        assertEquals(19456, c.params.memoryKib)
        assertTrue(c.params.iterations >= 2 && c.measuredMs >= 0)
        assertThrowsSuspend<OutpostException.InvalidArgument> { calibrate(-1, 19456) }
    }

    @Test
    fun loggerReceivesRedactedLinesAndIsInstalledOnce(): Unit = runBlocking {
        val lines = CopyOnWriteArrayList<Triple<LogLevel, String, String>>()
        val logger = object : Logger {
            override fun log(level: LogLevel, target: String, message: String) {
                lines.add(Triple(level, target, message))
            }
        }
        // Once per process: this is the only test that installs one.
        installLogger(logger, LogLevel.INFO)
        assertThrowsSuspend<OutpostException.InvalidArgument> { installLogger(logger, LogLevel.DEBUG) }
        val client = newClient(allowPasswordGrant = true)
        signInBob(client)
        client.sync(SyncOptions(), null)
        waitUntil("a sync log line", 10_000) { lines.any { it.second.startsWith("outpost::sync") } }
        assertTrue(lines.all { it.first <= LogLevel.INFO })
        for ((_, _, message) in lines) {
            assertFalse(message, message.contains("Bob+Secret/2=") || message.contains("offline pass"))
        }
    }
}
