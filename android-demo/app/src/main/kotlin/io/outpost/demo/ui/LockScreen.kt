package io.outpost.demo.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.saveable.rememberSaveable
import androidx.compose.runtime.setValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.platform.LocalContext
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import io.outpost.demo.Held
import io.outpost.demo.KeystorePlatformKey
import io.outpost.demo.MainActivity
import io.outpost.demo.OutpostDemoApp
import io.outpost.demo.viewmodels.LockViewModel

@Composable
fun LockScreen(app: OutpostDemoApp, onUnlocked: () -> Unit, onWiped: () -> Unit) {
    val client = app.home.client()
    if (client == null || !client.vaultExists()) {
        LaunchedEffect(Unit) { onWiped() }
        return
    }
    val context = LocalContext.current
    val vm = viewModel(key = "lock") {
        val key = if (KeystorePlatformKey.available(context)) {
            KeystorePlatformKey(context.applicationContext, { MainActivity.current() })
        } else {
            null
        }
        Held(LockViewModel(client, Main, key))
    }.model
    val s by vm.state.collectAsStateWithLifecycle()
    var password by remember { mutableStateOf("") }
    // Offer the biometric prompt once by itself; the button stays for another try.
    var prompted by rememberSaveable { mutableStateOf(false) }

    LaunchedEffect(s.unlocked) { if (s.unlocked) onUnlocked() }
    LaunchedEffect(s.wiped) {
        if (s.wiped) {
            // The lockout policy deleted the vault: its biometric key goes with it.
            KeystorePlatformKey.forget()
            onWiped()
        }
    }
    LaunchedEffect(s.biometricAvailable) {
        if (s.biometricAvailable && !prompted && !s.unlocked) {
            prompted = true
            vm.unlockWithBiometric()
        }
    }

    val submit = {
        vm.unlock(password.toCharArray())
        password = ""
    }

    Scaffold { padding ->
        Column(
            Modifier.fillMaxSize().padding(padding).padding(24.dp),
            verticalArrangement = Arrangement.spacedBy(12.dp, Alignment.CenterVertically),
            horizontalAlignment = Alignment.CenterHorizontally,
        ) {
            Text("Outpost is locked", style = MaterialTheme.typography.headlineSmall)
            Text("Your offline data is encrypted. Enter your offline password to open it.", style = MaterialTheme.typography.bodyMedium)
            PasswordField(password, { password = it }, "Offline password", enabled = !s.busy, onDone = submit)
            // Shown after a wrong password ("Wrong password. 9 attempts left."), a lockout, or a
            // biometric failure.
            ErrorText(s.message)
            s.attemptsLeft?.takeIf { s.message == null && it < 5 }?.let {
                Text("$it attempts left before the lockout.", style = MaterialTheme.typography.bodySmall)
            }
            Button(onClick = submit, enabled = !s.busy && password.isNotEmpty(), modifier = Modifier.fillMaxWidth()) {
                Text("Unlock")
            }
            if (s.biometricAvailable) {
                OutlinedButton(onClick = vm::unlockWithBiometric, enabled = !s.busy, modifier = Modifier.fillMaxWidth()) {
                    Text("Unlock with biometrics")
                }
            }
            if (s.busy) CircularProgressIndicator()
        }
    }
}
