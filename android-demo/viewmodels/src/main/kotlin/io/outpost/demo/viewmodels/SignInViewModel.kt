package io.outpost.demo.viewmodels

import io.outpost.Account
import io.outpost.OutpostClient
import io.outpost.OutpostException
import io.outpost.SignInOptions
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.launch

/** The interactive sign-in, step by step. */
sealed interface SignInState {
    data object Idle : SignInState
    data object Starting : SignInState

    /**
     * Open [url] in Custom Tabs, once: the screen calls [SignInViewModel.browserOpened] after
     * launching it. The browser comes back to the app through the redirect (`outpost://auth?…`),
     * which goes to [SignInViewModel.complete].
     */
    data class OpenBrowser(val url: String, val opened: Boolean = false) : SignInState
    data object Completing : SignInState
    data class SignedIn(val account: Account) : SignInState
    data class Failed(val message: String) : SignInState
}

/**
 * Authorization code + PKCE through the system browser. The in-flight request is kept in the
 * vault for ten minutes, so [complete] also works in a new process (Android may kill the app
 * while Custom Tabs is open): the redirect intent just has to reach it once the vault is unlocked.
 */
class SignInViewModel(
    private val client: OutpostClient,
    dispatcher: CoroutineDispatcher,
) : ScreenModel(dispatcher) {
    private val _state = MutableStateFlow<SignInState>(SignInState.Idle)
    val state: StateFlow<SignInState> = _state.asStateFlow()

    /**
     * Start: Outpost builds the authorize URL (PKCE S256, state, nonce).
     * @param claims the claims challenge of an `MfaRequired` / `InteractionRequired` error.
     */
    fun begin(loginHint: String? = null, claims: String? = null, prompt: String? = null) {
        when (_state.value) {
            SignInState.Starting, SignInState.Completing -> return
            else -> Unit
        }
        _state.value = SignInState.Starting
        scope.launch {
            _state.value = try {
                val request = client.beginSignIn(
                    SignInOptions(loginHint = loginHint?.takeIf { it.isNotBlank() }, claims = claims, prompt = prompt),
                )
                SignInState.OpenBrowser(request.url)
            } catch (e: OutpostException) {
                SignInState.Failed(e.userMessage())
            }
        }
    }

    /** The screen launched the browser for the current [SignInState.OpenBrowser]. */
    fun browserOpened() {
        val s = _state.value
        if (s is SignInState.OpenBrowser) _state.value = s.copy(opened = true)
    }

    /** The redirect the browser was sent to (`outpost://auth?code=…&state=…`, or `?error=…`). */
    fun complete(redirectUrl: String) {
        if (_state.value == SignInState.Completing) return
        _state.value = SignInState.Completing
        scope.launch {
            _state.value = try {
                SignInState.SignedIn(client.completeSignIn(redirectUrl))
            } catch (e: OutpostException) {
                SignInState.Failed(e.userMessage())
            }
        }
    }

    /** The user closed the browser without finishing: back to the start (the request expires by itself). */
    fun browserDismissed() {
        val s = _state.value
        if (s is SignInState.OpenBrowser && s.opened) _state.value = SignInState.Idle
    }

    fun reset() {
        _state.value = SignInState.Idle
    }
}
