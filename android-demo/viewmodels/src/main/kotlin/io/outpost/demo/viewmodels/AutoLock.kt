package io.outpost.demo.viewmodels

import io.outpost.OutpostClient
import io.outpost.OutpostException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch

/**
 * What happens when the app leaves the screen (ProcessLifecycleOwner `ON_STOP`): checkpoint the
 * WAL, then lock (database closed, key wiped from memory). Opening Custom Tabs for sign-in also
 * stops the app, so while a sign-in the app started is in the browser the lock waits up to
 * [browserGraceMs] for the redirect to bring the app back ([onStart] cancels it).
 */
class AutoLock(
    private val client: () -> OutpostClient?,
    dispatcher: CoroutineDispatcher,
    private val browserGraceMs: Long = 10 * 60_000L,
    private val clock: () -> Long = System::currentTimeMillis,
) : ScreenModel(dispatcher) {
    private val _locked = MutableStateFlow(false)

    /** The app locked the vault on leaving: show the lock screen on return. */
    val locked: StateFlow<Boolean> = _locked.asStateFlow()

    @Volatile
    private var browserUntil = 0L
    private var pending: Job? = null

    /** The app is opening the browser for sign-in: do not lock before the redirect (or the grace) ends. */
    fun leavingForBrowser() {
        browserUntil = clock() + browserGraceMs
    }

    /** The redirect arrived (or the sign-in was abandoned). */
    fun backFromBrowser() {
        browserUntil = 0
    }

    fun onStop() {
        val c = client() ?: return
        pending?.cancel()
        pending = scope.launch {
            try {
                c.checkpoint()
            } catch (ignored: OutpostException) {
                // Locked already, or nothing to checkpoint: locking below is what matters.
            }
            val wait = browserUntil - clock()
            if (wait > 0) delay(wait)
            if (c.isUnlocked()) {
                c.lock()
                _locked.value = true
            }
        }
    }

    fun onStart() {
        pending?.cancel()
        pending = null
    }

    /** The user unlocked again. */
    fun unlocked() {
        _locked.value = false
    }
}
