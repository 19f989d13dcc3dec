package io.outpost.demo.viewmodels

import java.io.File
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNotNull
import org.junit.Assert.assertTrue
import org.junit.Test

internal class SetupViewModelTest : WithEmulator() {
    @Test
    fun createsAVaultAndKeepsTheSettings() {
        val home = home()
        assertFalse(home.isSetUp())
        val vm = SetupViewModel(home, dispatcher, kdf = { FAST_KDF }).closeLater()

        // Checked before anything is written.
        vm.onOrgUrl("http://contoso.example")
        vm.onClientId(emulator.clientId)
        vm.create(PASSWORD.toCharArray(), PASSWORD.toCharArray())
        assertTrue(vm.state.value.error!!.contains("https://"))
        vm.onOrgUrl(emulator.orgUrl)
        vm.create("short".toCharArray(), "short".toCharArray())
        assertTrue(vm.state.value.error!!.contains("at least 8"))
        vm.create(PASSWORD.toCharArray(), "another password".toCharArray())
        assertEquals("The passwords do not match.", vm.state.value.error)
        assertTrue("nothing written yet", home.vaultDir.listFiles().isNullOrEmpty())
        assertFalse(home.isSetUp())

        val password = PASSWORD.toCharArray()
        vm.create(password, PASSWORD.toCharArray())
        val s = vm.state.await("vault created") { it.done || (!it.busy && it.error != null) }
        assertEquals(null, s.error)
        assertTrue(s.done)
        assertTrue("the password array is wiped", password.all { it == '\u0000' })

        val client = home.client()!!
        assertTrue(client.vaultExists())
        assertTrue(client.isUnlocked())
        assertEquals(10, client.vaultStatus().attemptsLeft)

        // A new process: the settings come back from the file, the vault is there, locked.
        val again = VaultHome(home.vaultDir, FileSettingsStore(File(dir, "vault.properties")))
        assertEquals(emulator.orgUrl, again.settings()!!.orgUrl)
        assertEquals(AppSettings.DEFAULT_REDIRECT_URI, again.settings()!!.redirectUri)
        assertTrue(again.isSetUp())
        assertFalse(again.client()!!.isUnlocked())
    }

    @Test
    fun refusesASecondVaultInTheSamePlace() {
        val first = home()
        setUp(first)
        val second = VaultHome(first.vaultDir, FileSettingsStore(File(dir, "other.properties")))
        val vm = SetupViewModel(second, dispatcher, kdf = { FAST_KDF }).closeLater()
        vm.prefill(emulator.orgUrl, emulator.clientId)
        vm.create(PASSWORD.toCharArray(), PASSWORD.toCharArray())
        val s = vm.state.await("refused") { !it.busy && (it.error != null || it.done) }
        assertFalse(s.done)
        assertNotNull(s.error)
        assertTrue(s.error!!, s.error!!.contains("already exists"))
    }
}
