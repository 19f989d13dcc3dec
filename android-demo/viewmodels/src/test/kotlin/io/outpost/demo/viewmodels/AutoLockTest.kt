package io.outpost.demo.viewmodels

import io.outpost.Query
import org.junit.Assert.assertFalse
import org.junit.Assert.assertTrue
import org.junit.Test

internal class AutoLockTest : WithEmulator() {
    @Test
    fun leavingTheAppChecksAndLocksButWaitsForTheSignInBrowser() {
        val home = home()
        val client = setUp(home)
        signIn(client, "bob@contoso.test")
        sync(client)
        val auto = AutoLock(home::client, dispatcher, browserGraceMs = 60_000).closeLater()

        auto.onStop()
        auto.locked.await("locked on stop") { it }
        assertFalse(client.isUnlocked())
        assertTrue(runCatching { blocking { client.query("accounts", Query(limit = 1)) } }.isFailure)

        val lock = LockViewModel(client, dispatcher, null).closeLater()
        lock.unlock(PASSWORD.toCharArray())
        lock.state.await("unlocked") { it.unlocked }
        auto.unlocked()

        // Custom Tabs in front: the app is stopped, but the redirect brings it back in time.
        auto.leavingForBrowser()
        auto.onStop()
        auto.onStart()
        auto.backFromBrowser()
        Thread.sleep(200)
        assertTrue(client.isUnlocked())
        assertFalse(auto.locked.value)

        // The browser never came back: locked once the grace is over.
        val short = AutoLock(home::client, dispatcher, browserGraceMs = 300).closeLater()
        short.leavingForBrowser()
        short.onStop()
        short.locked.await("locked after the grace") { it }
        assertFalse(client.isUnlocked())
    }
}
