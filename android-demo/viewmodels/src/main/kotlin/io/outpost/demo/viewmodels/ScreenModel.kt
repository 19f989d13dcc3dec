package io.outpost.demo.viewmodels

import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.SupervisorJob
import kotlinx.coroutines.cancel

/**
 * The base of every view-model here: plain Kotlin (no androidx), its own scope on an injected
 * dispatcher (`Dispatchers.Main` in the app, a test dispatcher on the JVM), state as `StateFlow`.
 * Outpost's calls are `suspend` and run on Outpost's own threads, so the dispatcher only runs the
 * short state updates between them.
 *
 * On Android an androidx `ViewModel` owns one of these and closes it in `onCleared`
 * (`ViewModel(closeable)`), which cancels whatever is still running — including a sync, whose
 * Rust future is dropped and so cancelled.
 */
abstract class ScreenModel(dispatcher: CoroutineDispatcher) : AutoCloseable {
    protected val scope: CoroutineScope = CoroutineScope(SupervisorJob() + dispatcher)

    override fun close() {
        scope.cancel()
    }
}
