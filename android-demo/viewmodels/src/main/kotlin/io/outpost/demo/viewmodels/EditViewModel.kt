package io.outpost.demo.viewmodels

import io.outpost.OutpostClient
import io.outpost.OutpostException
import io.outpost.Record
import io.outpost.RecordState
import io.outpost.Value
import java.math.BigDecimal
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

/** How a column is typed in (the value kinds of ADR 0006). */
enum class FieldKind { TEXT, WHOLE_NUMBER, DECIMAL, YES_NO }

/** A column the edit screen offers (a profile column name). */
data class EditableColumn(val name: String, val label: String, val kind: FieldKind = FieldKind.TEXT)

data class FieldState(
    val column: EditableColumn,
    val text: String,
    /** The text when loaded or last saved. */
    val original: String,
    val error: String? = null,
) {
    val changed: Boolean get() = text != original
}

data class EditState(
    val loading: Boolean = true,
    val title: String = "",
    val fields: List<FieldState> = emptyList(),
    val recordState: RecordState? = null,
    val saving: Boolean = false,
    /** The last save went through (pushed by the next sync). */
    val saved: Boolean = false,
    val notFound: Boolean = false,
    val error: String? = null,
) {
    val dirty: Boolean get() = fields.any { it.changed }
}

/**
 * Edit one record offline: only changed columns are written (`update`), and the next sync
 * pushes them. Text is checked against the column's kind before anything is written.
 */
class EditViewModel(
    private val client: OutpostClient,
    private val entitySet: String,
    private val id: String,
    private val columns: List<EditableColumn>,
    private val titleColumn: String,
    dispatcher: CoroutineDispatcher,
) : ScreenModel(dispatcher) {
    private val _state = MutableStateFlow(EditState())
    val state: StateFlow<EditState> = _state.asStateFlow()

    init {
        load()
    }

    fun load() {
        _state.update { it.copy(loading = true, error = null) }
        scope.launch {
            try {
                val record = client.get(entitySet, id)
                _state.value = if (record == null) EditState(loading = false, notFound = true) else loaded(record, saved = false)
            } catch (e: OutpostException) {
                _state.update { it.copy(loading = false, error = e.userMessage()) }
            }
        }
    }

    fun onChange(column: String, text: String) {
        _state.update { s ->
            s.copy(saved = false, fields = s.fields.map { if (it.column.name == column) it.copy(text = text, error = null) else it })
        }
    }

    fun save() {
        val s = _state.value
        if (s.loading || s.saving) return
        val checked = s.fields.map { f -> if (f.changed) f.copy(error = problem(f)) else f }
        if (checked.any { it.error != null }) {
            _state.update { it.copy(fields = checked, error = "Fix the highlighted fields.") }
            return
        }
        val changes = checked.filter { it.changed }.associate { it.column.name to value(it) }
        if (changes.isEmpty()) {
            _state.update { it.copy(saved = true, error = null) }
            return
        }
        _state.update { it.copy(saving = true, error = null) }
        scope.launch {
            try {
                client.update(entitySet, id, changes)
                val record = client.get(entitySet, id)
                _state.value = if (record == null) EditState(loading = false, notFound = true) else loaded(record, saved = true)
            } catch (e: OutpostException) {
                _state.update { it.copy(saving = false, error = e.userMessage()) }
            }
        }
    }

    private fun loaded(record: Record, saved: Boolean): EditState {
        val fields = columns.map { c ->
            val text = record.values[c.name]?.let { edit(c.kind, it) }.orEmpty()
            FieldState(c, text, text)
        }
        return EditState(
            loading = false,
            title = record.values[titleColumn]?.display().orEmpty(),
            fields = fields,
            recordState = record.state,
            saved = saved,
        )
    }

    companion object {
        private fun edit(kind: FieldKind, v: Value): String = when {
            kind == FieldKind.YES_NO && v is Value.Bool -> v.value.toString()
            else -> v.display()
        }

        internal fun problem(f: FieldState): String? {
            val t = f.text.trim()
            if (t.isEmpty()) return null
            return when (f.column.kind) {
                FieldKind.TEXT -> null
                FieldKind.WHOLE_NUMBER -> if (t.toLongOrNull() == null) "A whole number" else null
                FieldKind.DECIMAL -> if (runCatching { BigDecimal(t) }.isFailure) "A number, e.g. 1234.50" else null
                FieldKind.YES_NO -> if (t != "true" && t != "false") "Yes or no" else null
            }
        }

        /** Blank clears the column. Decimals stay exact text (never a Double). */
        internal fun value(f: FieldState): Value {
            val t = f.text.trim()
            if (t.isEmpty()) return Value.Null
            return when (f.column.kind) {
                FieldKind.TEXT -> Value.Text(f.text)
                FieldKind.WHOLE_NUMBER -> Value.Int(t.toLong())
                FieldKind.DECIMAL -> Value.Decimal(BigDecimal(t).toPlainString())
                FieldKind.YES_NO -> Value.Bool(t.toBoolean())
            }
        }
    }
}
