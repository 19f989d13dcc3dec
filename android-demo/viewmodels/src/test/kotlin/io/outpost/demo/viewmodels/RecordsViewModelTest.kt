package io.outpost.demo.viewmodels

import io.outpost.OrderBy
import io.outpost.Query
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

internal class RecordsViewModelTest : WithEmulator() {
    private val accounts = TableView("accounts", "Accounts", titleColumn = "name", subtitleColumn = "accountnumber")

    @Test
    fun listsPagesAndSearches() {
        val client = setUp()
        signIn(client, "bob@contoso.test")
        sync(client)
        val vm = RecordsViewModel(client, accounts, dispatcher, pageSize = 40, debounceMs = 50).closeLater()

        vm.refresh()
        var s = vm.state.await("first page") { !it.loading && (it.rows.isNotEmpty() || it.error != null) }
        assertEquals(null, s.error)
        assertEquals(40, s.rows.size)
        assertTrue(s.hasMore)
        assertTrue(s.rows.all { it.title.isNotBlank() && !it.title.startsWith("(no ") })

        // Keyset pages until the end: every account once, in the query's order.
        while (s.hasMore) {
            val before = s.rows.size
            vm.loadMore()
            s = vm.state.await("next page") { !it.loading && (it.rows.size > before || it.error != null) }
            assertEquals(null, s.error)
        }
        assertEquals(150, s.rows.size)
        assertEquals(150, s.rows.map { it.id }.toSet().size)
        val all = blocking { client.query("accounts", Query(orderBy = listOf(OrderBy("name")), limit = 500)) }
        assertEquals(all.records.map { it.id }, s.rows.map { it.id })
        vm.loadMore() // past the end: nothing happens
        assertFalse(vm.state.value.loading)

        // Full-text search, as typed: the last word is a prefix.
        val target = s.rows[17]
        vm.search(target.title)
        s = vm.state.await("search hits") { !it.loading && it.search == target.title && (it.rows.isNotEmpty() || it.error != null) }
        assertEquals(target.id, s.rows.first().id)
        assertFalse(s.hasMore)

        val word = target.title.split(" ").first { it.length >= 4 }
        val prefix = word.take(word.length - 1)
        vm.onSearchChange(prefix)
        s = vm.state.await("prefix hits") { !it.loading && it.search == prefix && it.rows.any { r -> r.id == target.id } }
        assertTrue(s.rows.size in 1..100)
        assertEquals("cont*", RecordsViewModel.asYouType("cont"))
        assertEquals("cont ", RecordsViewModel.asYouType("cont "))

        // Clearing the box lists the table again.
        vm.onSearchChange("")
        s = vm.state.await("listing again") { !it.loading && it.search.isEmpty() && it.rows.size == 40 }
        assertTrue(s.hasMore)
    }
}
