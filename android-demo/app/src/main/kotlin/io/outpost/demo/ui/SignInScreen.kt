package io.outpost.demo.ui

import android.content.ActivityNotFoundException
import android.net.Uri
import androidx.browser.customtabs.CustomTabsIntent
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.LifecycleResumeEffect
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import io.outpost.demo.Held
import io.outpost.demo.OutpostDemoApp
import io.outpost.demo.viewmodels.SignInState
import io.outpost.demo.viewmodels.SignInViewModel
import kotlinx.coroutines.flow.MutableStateFlow

/**
 * Interactive sign-in in Custom Tabs. MFA, consent and conditional access happen in the browser;
 * the identity provider redirects to outpost://auth?code=…, which the intent filter brings back
 * to MainActivity and [redirects] brings here.
 */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun SignInScreen(app: OutpostDemoApp, redirects: MutableStateFlow<String?>, onSignedIn: () -> Unit) {
    val client = app.home.client() ?: return
    val vm = viewModel(key = "signin") { Held(SignInViewModel(client, Main)) }.model
    val s by vm.state.collectAsStateWithLifecycle()
    val redirect by redirects.collectAsStateWithLifecycle()
    val context = LocalContext.current
    var loginHint by rememberSaveable { mutableStateOf("") }

    LaunchedEffect(redirect) {
        val url = redirect ?: return@LaunchedEffect
        redirects.value = null
        app.autoLock.backFromBrowser()
        vm.complete(url)
    }
    LaunchedEffect(s) {
        val st = s
        if (st is SignInState.OpenBrowser && !st.opened) {
            // Custom Tabs stops the app: the auto-lock waits for the redirect (bounded).
            app.autoLock.leavingForBrowser()
            try {
                CustomTabsIntent.Builder().setShowTitle(true).build().launchUrl(context, Uri.parse(st.url))
                vm.browserOpened()
            } catch (ignored: ActivityNotFoundException) {
                app.autoLock.backFromBrowser()
                vm.reset()
            }
        }
        if (st is SignInState.SignedIn) {
            app.signInClaims.value = null
            onSignedIn()
        }
    }
    // Back in the app without a redirect: the user closed the tab.
    LifecycleResumeEffect(Unit) {
        if (redirects.value == null) vm.browserDismissed()
        onPauseOrDispose { }
    }

    Scaffold(topBar = { TopAppBar(title = { Text("Sign in") }) }) { padding ->
        Column(Modifier.padding(padding).padding(16.dp), verticalArrangement = Arrangement.spacedBy(12.dp)) {
            Text(
                "Sign in with your work account to sync. Your organisation's sign-in page opens in the browser; " +
                    "multi-factor authentication happens there.",
                style = MaterialTheme.typography.bodyMedium,
            )
            OutlinedTextField(
                value = loginHint,
                onValueChange = { loginHint = it },
                label = { Text("Work email (optional)") },
                singleLine = true,
                keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Email),
                modifier = Modifier.fillMaxWidth(),
            )
            val busy = s is SignInState.Starting || s is SignInState.Completing
            Button(
                onClick = { vm.begin(loginHint = loginHint, claims = app.signInClaims.value) },
                enabled = !busy,
                modifier = Modifier.fillMaxWidth(),
            ) { Text("Sign in with Microsoft") }
            when (val st = s) {
                is SignInState.OpenBrowser -> Text("Finish signing in in the browser.")
                SignInState.Completing -> Text("Signing in…")
                is SignInState.Failed -> ErrorText(st.message)
                else -> Unit
            }
            if (busy) CircularProgressIndicator()
        }
    }
}
