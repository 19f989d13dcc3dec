package io.outpost.demo.viewmodels

import io.outpost.OrderBy
import io.outpost.OutpostClient
import io.outpost.OutpostException
import io.outpost.Query
import io.outpost.Record
import io.outpost.RecordState
import io.outpost.Value
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Job
import kotlinx.coroutines.delay
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

/** How a profile table is listed. */
data class TableView(
    val entitySet: String,
    val label: String,
    /** Profile column shown as the title (and sorted by, when [orderBy] is `null`). */
    val titleColumn: String,
    val subtitleColumn: String? = null,
    /** A `sortable` column of the profile (keyset paging stays fast); `null`: by id. */
    val orderBy: String? = titleColumn,
)

data class RecordRow(val id: String, val title: String, val subtitle: String?, val state: RecordState)

data class RecordsState(
    val table: TableView,
    /** The search box; blank lists the table page by page. */
    val search: String = "",
    val rows: List<RecordRow> = emptyList(),
    val loading: Boolean = false,
    /** More pages after [rows] (listing only: a search returns the best matches at once). */
    val hasMore: Boolean = false,
    val error: String? = null,
)

/**
 * One table offline: keyset pages of a local query, or full-text search (best matches first) as
 * the user types. Both read the local database only and see local edits at once.
 */
class RecordsViewModel(
    private val client: OutpostClient,
    table: TableView,
    dispatcher: CoroutineDispatcher,
    private val pageSize: Int = 50,
    private val searchLimit: Int = 100,
    private val debounceMs: Long = 250,
) : ScreenModel(dispatcher) {
    private val _state = MutableStateFlow(RecordsState(table))
    val state: StateFlow<RecordsState> = _state.asStateFlow()

    private var next: String? = null
    private var job: Job? = null

    /** Reload from the first page (or run the search again): after a sync or an edit. */
    fun refresh() {
        val s = _state.value
        if (s.search.isBlank()) loadFirstPage() else runSearch(s.search, 0)
    }

    /** The next page of the listing; ignored while loading, after the last page, or while searching. */
    fun loadMore() {
        val s = _state.value
        val after = next
        if (s.loading || !s.hasMore || after == null || s.search.isNotBlank()) return
        _state.update { it.copy(loading = true, error = null) }
        job = scope.launch {
            try {
                val page = client.query(s.table.entitySet, query(s.table, after))
                next = page.next
                _state.update { st -> st.copy(rows = st.rows + page.records.map { row(st.table, it) }, hasMore = page.next != null, loading = false) }
            } catch (e: OutpostException) {
                _state.update { it.copy(loading = false, error = e.userMessage()) }
            }
        }
    }

    /** The search box changed: searches after a short pause in typing. */
    fun onSearchChange(text: String) {
        _state.update { it.copy(search = text) }
        if (text.isBlank()) loadFirstPage() else runSearch(text, debounceMs)
    }

    /** Search now (the keyboard's search action). */
    fun search(text: String) {
        _state.update { it.copy(search = text) }
        if (text.isBlank()) loadFirstPage() else runSearch(text, 0)
    }

    private fun loadFirstPage() {
        job?.cancel()
        _state.update { it.copy(loading = true, error = null) }
        job = scope.launch {
            val table = _state.value.table
            try {
                val page = client.query(table.entitySet, query(table, null))
                next = page.next
                _state.update { it.copy(rows = page.records.map { r -> row(table, r) }, hasMore = page.next != null, loading = false) }
            } catch (e: OutpostException) {
                _state.update { it.copy(loading = false, error = e.userMessage()) }
            }
        }
    }

    private fun runSearch(text: String, wait: Long) {
        job?.cancel()
        _state.update { it.copy(loading = true, error = null) }
        job = scope.launch {
            if (wait > 0) delay(wait)
            val table = _state.value.table
            try {
                val hits = client.search(table.entitySet, asYouType(text), searchLimit)
                next = null
                _state.update { it.copy(rows = hits.map { r -> row(table, r) }, hasMore = false, loading = false) }
            } catch (e: OutpostException) {
                _state.update { it.copy(loading = false, error = e.userMessage()) }
            }
        }
    }

    private fun query(table: TableView, after: String?) = Query(
        orderBy = listOfNotNull(table.orderBy?.let { OrderBy(it) }),
        limit = pageSize,
        after = after,
    )

    companion object {
        /** The last word is a prefix while it is being typed ("cont" finds "Contoso"). */
        fun asYouType(text: String): String {
            if (text.isEmpty() || text.last().isWhitespace() || text.endsWith("*")) return text
            return "$text*"
        }

        internal fun row(table: TableView, r: Record) = RecordRow(
            id = r.id,
            title = r.values[table.titleColumn]?.display()?.takeIf { it.isNotBlank() } ?: "(no ${table.titleColumn})",
            subtitle = table.subtitleColumn?.let { r.values[it]?.display() }?.takeIf { it.isNotBlank() },
            state = r.state,
        )
    }
}

/** A value as the user reads and types it. */
fun Value.display(): String = when (this) {
    is Value.Null -> ""
    is Value.Bool -> if (value) "Yes" else "No"
    is Value.Int -> value.toString()
    is Value.Decimal -> text
    is Value.Text -> value
    is Value.Lookup -> "$entitySet($id)"
}
