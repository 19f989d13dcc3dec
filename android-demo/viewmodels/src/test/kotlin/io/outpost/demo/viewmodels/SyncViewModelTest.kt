package io.outpost.demo.viewmodels

import io.outpost.Phase
import java.util.Collections
import kotlinx.coroutines.CoroutineScope
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.cancel
import kotlinx.coroutines.launch
import org.junit.Assert.assertEquals
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

internal class SyncViewModelTest : WithEmulator() {
    @Test
    fun reportsProgressAndFinishes() {
        val client = setUp()
        signIn(client, "bob@contoso.test")
        val vm = SyncViewModel(client, dispatcher).closeLater()
        // Everything the screen would have drawn.
        val seen = Collections.synchronizedList(mutableListOf<SyncState>())
        val watcher = CoroutineScope(Dispatchers.Unconfined)
        watcher.launch { vm.state.collect { seen += it } }
        try {
            vm.start()
            assertTrue(vm.state.value.running)
            val s = vm.state.await("sync finished") { !it.running }
            assertNull(s.error)
            val summary = s.summary!!
            assertTrue(summary.complete)
            assertEquals(300L, summary.rowsPulled)
            assertEquals(emptyList<String>(), s.tableErrors)

            assertTrue("progress events were reported", s.progressEvents > 0)
            assertEquals(mapOf("accounts" to 150L, "contacts" to 90L, "tasks" to 60L), s.tables.associate { it.entitySet to it.rows })
            assertTrue(s.tables.all { it.initialSyncComplete && it.phase == Phase.INITIAL_PULL && it.pages >= 1 })
            assertTrue("changed records announced", s.changes > 0)
            assertEquals(1f, s.fraction)
            assertEquals(300L, s.rows)
            assertTrue("the screen saw it running with rows", synchronized(seen) { seen.any { it.running && it.rows > 0 } })

            // A second sync is a delta: nothing new.
            vm.start()
            val delta = vm.state.await("delta finished") { !it.running }
            assertNull(delta.error)
            assertEquals(0L, delta.summary!!.rowsPulled)
            assertTrue(delta.summary!!.complete)
        } finally {
            watcher.cancel()
        }
    }

    @Test
    fun cancelStopsTheSyncAndTheNextOneResumes() {
        val profile = "[[tables]]\nentity_set = \"accounts\"\ncolumns = [\"name\"]\npage_size = 10\n"
        val client = setUp(profileToml = profile)
        signIn(client, "bob@contoso.test")
        emulator.control("POST", "/faults", mapOf("path_contains" to "accounts", "delay_ms" to 300, "count" to 1000))
        val vm = SyncViewModel(client, dispatcher).closeLater()
        vm.start()
        vm.state.await("a page applied") { it.rows > 0 || !it.running }
        assertTrue("still running", vm.state.value.running)
        vm.cancel()
        val cancelled = vm.state.await("cancelled") { !it.running }
        assertTrue(cancelled.cancelled)
        assertNull(cancelled.error)

        emulator.control("DELETE", "/faults")
        val rows = blocking { client.status() }.tables.single().rows
        assertTrue("kept what was applied: $rows", rows in 1 until 150)

        // The next sync resumes (waiting if the cancelled one is still winding down).
        vm.start()
        val done = vm.state.await("resumed sync finished") { !it.running }
        assertNull(done.error)
        assertTrue(done.summary!!.complete)
        assertEquals(150L, blocking { client.status() }.tables.single().rows)
    }
}
