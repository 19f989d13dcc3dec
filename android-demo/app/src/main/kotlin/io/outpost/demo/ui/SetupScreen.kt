package io.outpost.demo.ui

import android.security.NetworkSecurityPolicy
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.runtime.mutableStateOf
import androidx.compose.runtime.remember
import androidx.compose.runtime.setValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.ImeAction
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import io.outpost.calibrate
import io.outpost.demo.Held
import io.outpost.demo.OutpostDemoApp
import io.outpost.demo.viewmodels.SetupViewModel

/** What `outpost-emulator --public-url http://127.0.0.1:5155` registers (see README.md). */
private const val EMULATOR_ORG = "http://127.0.0.1:5155"
private const val EMULATOR_CLIENT_ID = "4c7f0a9e-5b1d-4e2a-8c3f-9d6b2e1a7f05"

@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun SetupScreen(app: OutpostDemoApp, onDone: () -> Unit) {
    val vm = viewModel(key = "setup") {
        Held(
            SetupViewModel(
                home = app.home,
                dispatcher = Main,
                // Argon2id sized for this phone: ~0.5 s, at most 128 MiB (takes a few seconds once).
                kdf = { calibrate(500, 128 * 1024).params },
                // The network security config governs Outpost's Rust HTTP stack too.
                cleartextPermitted = { host -> NetworkSecurityPolicy.getInstance().isCleartextTrafficPermitted(host) },
            ),
        )
    }.model
    val s by vm.state.collectAsStateWithLifecycle()
    var password by remember { mutableStateOf("") }
    var confirm by remember { mutableStateOf("") }
    LaunchedEffect(s.done) { if (s.done) onDone() }

    val submit = {
        vm.create(password.toCharArray(), confirm.toCharArray())
        password = ""
        confirm = ""
    }

    Scaffold(topBar = { TopAppBar(title = { Text("Set up Outpost") }) }) { padding ->
        Column(
            Modifier.padding(padding).padding(16.dp).verticalScroll(rememberScrollState()),
            verticalArrangement = Arrangement.spacedBy(12.dp),
        ) {
            Text("Your Dataverse environment", style = MaterialTheme.typography.titleMedium)
            OutlinedTextField(
                value = s.orgUrl,
                onValueChange = vm::onOrgUrl,
                label = { Text("Organisation URL") },
                placeholder = { Text("https://contoso.crm.dynamics.com") },
                singleLine = true,
                enabled = !s.busy,
                keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Uri, imeAction = ImeAction.Next),
                modifier = Modifier.fillMaxWidth(),
            )
            OutlinedTextField(
                value = s.clientId,
                onValueChange = vm::onClientId,
                label = { Text("App (client) id") },
                singleLine = true,
                enabled = !s.busy,
                modifier = Modifier.fillMaxWidth(),
            )
            OutlinedTextField(
                value = s.authority,
                onValueChange = vm::onAuthority,
                label = { Text("Authority (optional)") },
                supportingText = { Text("Blank: the tenant is found from the organisation") },
                singleLine = true,
                enabled = !s.busy,
                modifier = Modifier.fillMaxWidth(),
            )
            TextButton(onClick = { vm.prefill(EMULATOR_ORG, EMULATOR_CLIENT_ID) }, enabled = !s.busy) {
                Text("Use the Outpost emulator (adb reverse tcp:5155 tcp:5155)")
            }

            Text("Offline password", style = MaterialTheme.typography.titleMedium)
            Text(
                "It encrypts the data kept on this phone. It cannot be recovered: if you forget it, " +
                    "wipe the app's data and sync again.",
                style = MaterialTheme.typography.bodyMedium,
            )
            PasswordField(password, { password = it }, "Offline password", enabled = !s.busy, imeAction = ImeAction.Next)
            PasswordField(confirm, { confirm = it }, "Repeat the password", enabled = !s.busy, onDone = submit)
            ErrorText(s.error)
            Button(onClick = submit, enabled = !s.busy, modifier = Modifier.fillMaxWidth()) { Text("Create the vault") }
            if (s.busy) {
                LinearProgressIndicator(Modifier.fillMaxWidth())
                s.step?.let { Text("$it…") }
            }
        }
    }
}
