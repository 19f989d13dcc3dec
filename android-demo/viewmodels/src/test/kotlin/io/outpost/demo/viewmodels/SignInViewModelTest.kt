package io.outpost.demo.viewmodels

import java.net.URI
import java.net.URLDecoder
import org.junit.Assert.assertEquals
import org.junit.Assert.assertTrue
import org.junit.Test

internal class SignInViewModelTest : WithEmulator() {
    @Test
    fun completesAnAuthorizationCodeSignInWithTotp() {
        val client = setUp()
        val alice = emulator.users.getValue("alice@contoso.test")
        assertTrue("alice has MFA", alice.mfa)
        val vm = SignInViewModel(client, dispatcher).closeLater()

        vm.begin(loginHint = alice.upn)
        val open = vm.state.await("authorize URL") { it is SignInState.OpenBrowser || it is SignInState.Failed }
        check(open is SignInState.OpenBrowser) { "$open" }
        val query = query(open.url)
        assertEquals("S256", query["code_challenge_method"])
        assertEquals(AppSettings.DEFAULT_REDIRECT_URI, query["redirect_uri"])
        vm.browserOpened()
        assertEquals(true, (vm.state.value as SignInState.OpenBrowser).opened)

        // Custom Tabs' part: password page, TOTP page, then the 302 to outpost://auth?code=...
        val redirect = SignInPages.drive(open.url, alice)
        assertTrue(redirect, redirect.startsWith("outpost://auth?"))
        assertTrue(redirect, query(redirect).containsKey("code"))

        vm.complete(redirect)
        val done = vm.state.await("signed in") { it is SignInState.SignedIn || it is SignInState.Failed }
        check(done is SignInState.SignedIn) { "$done" }
        assertEquals(alice.upn, done.account.username)
        assertTrue(blocking { client.status() }.signedIn)
    }

    @Test
    fun aCancelledSignInIsShownAsSuch() {
        val client = setUp()
        val vm = SignInViewModel(client, dispatcher).closeLater()
        vm.begin()
        val open = vm.state.await("authorize URL") { it is SignInState.OpenBrowser || it is SignInState.Failed }
        check(open is SignInState.OpenBrowser) { "$open" }
        val state = query(open.url).getValue("state")
        // What the identity provider sends when the user backs out.
        vm.complete("outpost://auth?error=access_denied&error_description=AADSTS65004&state=$state")
        val failed = vm.state.await("failure") { it is SignInState.Failed || it is SignInState.SignedIn }
        assertEquals(SignInState.Failed("Sign-in was cancelled."), failed)
        assertEquals(false, blocking { client.status() }.signedIn)
    }

    private fun query(url: String): Map<String, String> =
        URI(url).rawQuery.split("&").associate {
            val (k, v) = (it.split("=", limit = 2) + "").take(2)
            URLDecoder.decode(k, Charsets.UTF_8) to URLDecoder.decode(v, Charsets.UTF_8)
        }
}
