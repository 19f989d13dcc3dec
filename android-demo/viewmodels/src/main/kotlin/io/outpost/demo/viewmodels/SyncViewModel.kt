package io.outpost.demo.viewmodels

import io.outpost.OutpostClient
import io.outpost.OutpostException
import io.outpost.Phase
import io.outpost.SyncEvent
import io.outpost.SyncObserver
import io.outpost.SyncOptions
import io.outpost.SyncSummary
import java.util.concurrent.atomic.AtomicLong
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

/** One table's progress in the running sync. */
data class TableProgress(
    val entitySet: String,
    val phase: Phase,
    /** Rows applied so far in this sync. */
    val rows: Long,
    /** Total rows, when the server said (Outpost does not know it today: `null`). */
    val total: Long?,
    val pages: Long,
    /** The table's first full pull completed: it is usable offline. */
    val initialSyncComplete: Boolean = false,
)

data class SyncState(
    val running: Boolean = false,
    /** Another sync (e.g. one just cancelled, still stopping) holds the engine: waiting for it. */
    val waiting: Boolean = false,
    val tables: List<TableProgress> = emptyList(),
    /** Outbox entries the server applied so far in this sync. */
    val pushed: Long = 0,
    /** Progress events received in this sync. */
    val progressEvents: Long = 0,
    /** Bumped for every page of changed records: lists refresh when it changes. */
    val changes: Long = 0,
    val summary: SyncSummary? = null,
    val cancelled: Boolean = false,
    val error: String? = null,
    /** The sync stopped because the user has to sign in (again), with these claims. */
    val signInNeeded: Boolean = false,
    val signInClaims: String? = null,
    /** Per-table failures of the last sync (the other tables synced). */
    val tableErrors: List<String> = emptyList(),
) {
    /** Rows applied over all tables in this sync. */
    val rows: Long get() = tables.sumOf { it.rows }

    /**
     * For a determinate progress bar: 0..1 when every table's total is known, else `null`
     * (show an indeterminate bar with [rows]); 1 once a sync completed.
     */
    val fraction: Float?
        get() {
            if (!running) return if (summary?.complete == true) 1f else null
            if (tables.isEmpty() || tables.any { it.total == null }) return null
            val total = tables.sumOf { it.total ?: 0 }
            if (total <= 0) return null
            return (tables.sumOf { minOf(it.rows, it.total ?: 0) }.toFloat() / total).coerceIn(0f, 1f)
        }
}

/**
 * Sync with progress. Events arrive on Outpost's threads (the [SyncObserver]) and only update the
 * state flow. [cancel] cancels the coroutine: the generated Kotlin drops the Rust future, which
 * cancels the sync (everything applied so far is kept; the next sync resumes).
 */
class SyncViewModel(
    private val client: OutpostClient,
    dispatcher: CoroutineDispatcher,
    /** How long to wait for another sync to finish before giving up. */
    private val waitForOtherSyncMs: Long = 30_000,
) : ScreenModel(dispatcher) {
    private val _state = MutableStateFlow(SyncState())
    val state: StateFlow<SyncState> = _state.asStateFlow()

    private var job: Job? = null

    /** Tags events with the sync they belong to: a late event of a cancelled sync is dropped. */
    private val generation = AtomicLong(0)

    val isRunning: Boolean get() = _state.value.running

    /** Start a sync, unless one is running (the state says so until it has ended). */
    fun start(options: SyncOptions = SyncOptions()) {
        if (_state.value.running) return
        val run = generation.incrementAndGet()
        _state.update { SyncState(running = true, changes = it.changes) }
        job = scope.launch {
            try {
                val summary = syncWaitingForOthers(options, Observer(run))
                _state.update {
                    it.copy(
                        running = false,
                        waiting = false,
                        summary = summary,
                        tableErrors = summary.tables.mapNotNull { t -> t.error?.let { e -> "${t.entitySet}: ${e.userMessage()}" } } +
                            listOfNotNull(summary.pushError?.let { e -> "push: ${e.userMessage()}" }),
                    )
                }
            } catch (e: CancellationException) {
                _state.update { it.copy(running = false, waiting = false, cancelled = true) }
                throw e
            } catch (e: OutpostException) {
                _state.update {
                    it.copy(
                        running = false,
                        waiting = false,
                        cancelled = e is OutpostException.Cancelled,
                        error = if (e is OutpostException.Cancelled) null else e.userMessage(),
                        signInNeeded = e.needsSignIn(),
                        signInClaims = e.signInClaims(),
                    )
                }
            }
        }
    }

    /** Stop the running sync. */
    fun cancel() {
        job?.cancel()
    }

    /** Suspends until the current sync (if any) has ended. */
    suspend fun join() {
        job?.join()
    }

    private suspend fun syncWaitingForOthers(options: SyncOptions, observer: SyncObserver): SyncSummary {
        val deadline = System.nanoTime() + waitForOtherSyncMs * 1_000_000
        while (true) {
            try {
                return client.sync(options, observer)
            } catch (e: OutpostException.SyncInProgress) {
                if (System.nanoTime() > deadline) throw e
                _state.update { it.copy(waiting = true) }
                delay(250)
            }
        }
    }

    private inner class Observer(private val run: Long) : SyncObserver {
        override fun onEvent(event: SyncEvent) {
            if (generation.get() != run) return
            _state.update { s -> if (!s.running) s else s.apply(event) }
        }
    }
}

private fun SyncState.apply(event: SyncEvent): SyncState = when (event) {
    is SyncEvent.Progress -> copy(
        waiting = false,
        progressEvents = progressEvents + 1,
        tables = tables.upsert(event.entitySet) {
            (it ?: TableProgress(event.entitySet, event.phase, 0, null, 0))
                .copy(phase = event.phase, rows = event.rows, total = event.total, pages = event.pages)
        },
    )
    is SyncEvent.InitialSyncComplete -> copy(
        tables = tables.upsert(event.entitySet) {
            (it ?: TableProgress(event.entitySet, Phase.INITIAL_PULL, 0, null, 0)).copy(initialSyncComplete = true)
        },
    )
    is SyncEvent.Changed -> copy(changes = changes + 1)
    is SyncEvent.Pushed -> copy(waiting = false, pushed = event.done)
}

private fun List<TableProgress>.upsert(entitySet: String, f: (TableProgress?) -> TableProgress): List<TableProgress> {
    val i = indexOfFirst { it.entitySet == entitySet }
    return if (i < 0) this + f(null) else toMutableList().also { it[i] = f(it[i]) }
}
