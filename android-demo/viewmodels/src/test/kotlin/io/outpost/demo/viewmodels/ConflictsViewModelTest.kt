package io.outpost.demo.viewmodels

import io.outpost.ConflictKind
import io.outpost.Query
import io.outpost.Value
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

internal class ConflictsViewModelTest : WithEmulator() {
    @Test
    fun aColumnChangedOnBothSidesIsResolvedByTheUser() {
        val client = setUp()
        signIn(client, "bob@contoso.test")
        sync(client)
        val id = blocking { client.query("accounts", Query(limit = 1)) }.records.single().id

        blocking { client.update("accounts", id, mapOf("telephone1" to Value.Text("+1 555 0001 (mine)"))) }
        emulator.control("PATCH", "/tables/accounts/rows/$id", mapOf("telephone1" to "+1 555 0002 (theirs)"))
        val summary = sync(client)
        assertEquals(1L, summary.openConflicts)

        val vm = ConflictsViewModel(client, dispatcher).closeLater()
        vm.load()
        var s = vm.state.await("conflicts") { !it.loading && (it.rows.isNotEmpty() || it.error != null) }
        assertNull(s.error)
        val row = s.rows.single()
        assertEquals(ConflictKind.UPDATE, row.kind)
        assertEquals(id, row.recordId)
        val diff = row.diffs.single { it.column == "telephone1" }
        assertEquals("+1 555 0001 (mine)", diff.mine)
        assertEquals("+1 555 0002 (theirs)", diff.server)
        assertTrue(row.summary, row.summary.contains("telephone1"))

        vm.keepMine(row.id)
        s = vm.state.await("resolved") { it.resolving == null && (it.rows.isEmpty() || it.error != null) }
        assertNull(s.error)

        val pushed = sync(client)
        assertEquals(1L, pushed.pushed)
        assertEquals(0L, pushed.openConflicts)
        assertEquals(Value.Text("+1 555 0001 (mine)"), blocking { client.get("accounts", id) }!!.values["telephone1"])
    }
}
