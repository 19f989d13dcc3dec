package io.outpost.demo.viewmodels

import io.outpost.Query
import io.outpost.RecordState
import io.outpost.Value
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

internal class EditViewModelTest : WithEmulator() {
    private val columns = listOf(
        EditableColumn("name", "Name"),
        EditableColumn("telephone1", "Phone"),
        EditableColumn("numberofemployees", "Employees", FieldKind.WHOLE_NUMBER),
        EditableColumn("revenue", "Revenue", FieldKind.DECIMAL),
        EditableColumn("creditonhold", "Credit on hold", FieldKind.YES_NO),
    )

    @Test
    fun savesAChangeThatTheNextSyncPushes() {
        val client = setUp()
        signIn(client, "bob@contoso.test")
        sync(client)
        val id = blocking { client.query("accounts", Query(limit = 1)) }.records.single().id
        val vm = EditViewModel(client, "accounts", id, columns, titleColumn = "name", dispatcher = dispatcher).closeLater()
        var s = vm.state.await("loaded") { !it.loading }
        assertEquals(null, s.error)
        assertEquals(RecordState.SYNCED, s.recordState)
        assertTrue(s.title.isNotBlank())
        val revenue = s.fields.single { it.column.name == "revenue" }.text
        assertTrue("revenue keeps its exact decimal text: $revenue", revenue.toBigDecimal().signum() > 0)
        assertFalse(s.dirty)

        // A bad number is refused before anything is written.
        vm.onChange("numberofemployees", "about forty")
        vm.save()
        s = vm.state.value
        assertNotNull(s.fields.single { it.column.name == "numberofemployees" }.error)
        assertEquals(0L, blocking { client.status() }.pending)

        val original = s.fields.single { it.column.name == "numberofemployees" }.original
        vm.onChange("numberofemployees", original)
        vm.onChange("telephone1", "+1 555 0199")
        assertTrue(vm.state.value.dirty)
        vm.save()
        s = vm.state.await("saved") { !it.saving && (it.saved || it.error != null) }
        assertNull(s.error)
        assertEquals(RecordState.MODIFIED, s.recordState)
        assertFalse("saved values are the new originals", s.dirty)
        assertEquals(1L, blocking { client.status() }.pending)

        val pushed = sync(client)
        assertEquals(1L, pushed.pushed)
        assertEquals(0L, pushed.pending)
        val record = blocking { client.get("accounts", id) }!!
        assertEquals(RecordState.SYNCED, record.state)
        assertEquals(Value.Text("+1 555 0199"), record.values["telephone1"])

        // On the server: another device (its own vault) pulls the change.
        val other = setUp(home("other"))
        signIn(other, "bob@contoso.test")
        sync(other)
        assertEquals(Value.Text("+1 555 0199"), blocking { other.get("accounts", id) }!!.values["telephone1"])
    }
}
