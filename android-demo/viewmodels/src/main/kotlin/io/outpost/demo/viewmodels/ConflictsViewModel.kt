package io.outpost.demo.viewmodels

import io.outpost.Conflict
import io.outpost.ConflictKind
import io.outpost.OutpostClient
import io.outpost.OutpostException
import io.outpost.Resolution
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

/** One column both sides changed. */
data class ColumnDiff(val column: String, val mine: String, val server: String?)

data class ConflictRow(
    val id: Long,
    val entitySet: String,
    val recordId: String,
    val kind: ConflictKind,
    val diffs: List<ColumnDiff>,
    /** Unix seconds. */
    val detectedAt: Long,
) {
    val summary: String
        get() = when (kind) {
            ConflictKind.UPDATE -> "Changed here and on the server: ${diffs.joinToString { it.column }}"
            ConflictKind.SERVER_DELETED -> "Deleted on the server, edited here"
            ConflictKind.LOCAL_DELETED -> "Deleted here, changed on the server"
        }
}

data class ConflictsState(
    val loading: Boolean = false,
    val rows: List<ConflictRow> = emptyList(),
    /** The conflict being resolved. */
    val resolving: Long? = null,
    val error: String? = null,
)

/**
 * Conflicts the sync kept for the user (columns both sides changed to different values under the
 * default merge policy). A resolution is stored locally and pushed by the next sync.
 */
class ConflictsViewModel(
    private val client: OutpostClient,
    dispatcher: CoroutineDispatcher,
) : ScreenModel(dispatcher) {
    private val _state = MutableStateFlow(ConflictsState())
    val state: StateFlow<ConflictsState> = _state.asStateFlow()

    fun load() {
        _state.update { it.copy(loading = true, error = null) }
        scope.launch {
            try {
                val rows = client.conflicts().map(::row)
                _state.update { it.copy(loading = false, rows = rows) }
            } catch (e: OutpostException) {
                _state.update { it.copy(loading = false, error = e.userMessage()) }
            }
        }
    }

    /** Keep this device's values (or its delete). */
    fun keepMine(id: Long) = resolve(id, Resolution.TakeLocal)

    /** Keep the server's version. */
    fun keepServer(id: Long) = resolve(id, Resolution.TakeServer)

    private fun resolve(id: Long, resolution: Resolution) {
        if (_state.value.resolving != null) return
        _state.update { it.copy(resolving = id, error = null) }
        scope.launch {
            try {
                client.resolveConflict(id, resolution)
                val rows = client.conflicts().map(::row)
                _state.update { it.copy(resolving = null, rows = rows) }
            } catch (e: OutpostException) {
                _state.update { it.copy(resolving = null, error = e.userMessage()) }
            }
        }
    }

    private fun row(c: Conflict) = ConflictRow(
        id = c.id,
        entitySet = c.entitySet,
        recordId = c.recordId,
        kind = c.kind,
        diffs = c.columns.map { col -> ColumnDiff(col, c.local[col]?.display().orEmpty(), c.server?.get(col)?.display()) },
        detectedAt = c.detectedAt,
    )
}
