package io.outpost.demo.ui

import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.text.KeyboardActions
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Text
import androidx.compose.runtime.Composable
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.ImeAction
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.text.input.PasswordVisualTransformation
import androidx.lifecycle.viewmodel.compose.viewModel
import io.outpost.OutpostClient
import io.outpost.demo.Held
import io.outpost.demo.MainActivity
import io.outpost.demo.viewmodels.SyncViewModel
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.Dispatchers

/** The view-models' dispatcher in the app: the main thread (Outpost's work runs on its own threads). */
val Main: CoroutineDispatcher get() = Dispatchers.Main.immediate

/**
 * The sync view-model, scoped to the activity so a running sync outlives screen changes (home,
 * conflicts) and rotation. Keyed by client: after a wipe and a new setup it is a new one.
 */
@Composable
fun syncModel(activity: MainActivity, client: OutpostClient): SyncViewModel =
    viewModel(viewModelStoreOwner = activity, key = "sync:${System.identityHashCode(client)}") {
        Held(SyncViewModel(client, Main))
    }.model

/**
 * A password box. Its text is deliberately not `rememberSaveable`: saved instance state can be
 * written to disk by the system.
 */
@Composable
fun PasswordField(
    value: String,
    onValueChange: (String) -> Unit,
    label: String,
    enabled: Boolean = true,
    imeAction: ImeAction = ImeAction.Done,
    onDone: () -> Unit = {},
) {
    OutlinedTextField(
        value = value,
        onValueChange = onValueChange,
        label = { Text(label) },
        singleLine = true,
        enabled = enabled,
        visualTransformation = PasswordVisualTransformation(),
        keyboardOptions = KeyboardOptions(keyboardType = KeyboardType.Password, autoCorrectEnabled = false, imeAction = imeAction),
        keyboardActions = KeyboardActions(onDone = { onDone() }),
        modifier = Modifier.fillMaxWidth(),
    )
}

@Composable
fun ErrorText(text: String?) {
    if (text != null) Text(text, color = MaterialTheme.colorScheme.error, style = MaterialTheme.typography.bodyMedium)
}
