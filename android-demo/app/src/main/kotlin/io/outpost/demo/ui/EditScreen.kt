package io.outpost.demo.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.rememberScrollState
import androidx.compose.foundation.text.KeyboardOptions
import androidx.compose.foundation.verticalScroll
import androidx.compose.material3.Button
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Switch
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.getValue
import androidx.compose.ui.Alignment
import androidx.compose.ui.Modifier
import androidx.compose.ui.text.input.KeyboardType
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import io.outpost.RecordState
import io.outpost.demo.Held
import io.outpost.demo.OutpostDemoApp
import io.outpost.demo.Tables
import io.outpost.demo.viewmodels.EditViewModel
import io.outpost.demo.viewmodels.FieldKind
import io.outpost.demo.viewmodels.FieldState

/** Edit a record offline; the next sync sends the changed columns. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun EditScreen(app: OutpostDemoApp, entitySet: String, id: String, onBack: () -> Unit) {
    val client = app.home.client() ?: return
    val vm = viewModel(key = "edit:$entitySet:$id") {
        Held(EditViewModel(client, entitySet, id, Tables.editable(entitySet), Tables.view(entitySet).titleColumn, Main))
    }.model
    val s by vm.state.collectAsStateWithLifecycle()

    Scaffold(
        topBar = {
            TopAppBar(
                title = { Text(s.title.ifBlank { "Edit" }) },
                navigationIcon = { TextButton(onClick = onBack) { Text("Back") } },
            )
        },
    ) { padding ->
        Column(
            Modifier.padding(padding).padding(16.dp).verticalScroll(rememberScrollState()),
            verticalArrangement = Arrangement.spacedBy(12.dp),
        ) {
            if (s.loading) CircularProgressIndicator()
            if (s.notFound) Text("This record is not on the device any more (deleted, here or on the server).")
            s.recordState?.let { Text(stateText(it), style = MaterialTheme.typography.labelMedium) }
            for (f in s.fields) Field(f, enabled = !s.saving) { vm.onChange(f.column.name, it) }
            ErrorText(s.error)
            Button(onClick = vm::save, enabled = s.dirty && !s.saving, modifier = Modifier.fillMaxWidth()) { Text("Save") }
            if (s.saving) CircularProgressIndicator()
            if (s.saved && !s.dirty) Text("Saved on this device. The next sync sends it.", style = MaterialTheme.typography.bodyMedium)
        }
    }
}

@Composable
private fun Field(f: FieldState, enabled: Boolean, onChange: (String) -> Unit) {
    val error = f.error
    when (f.column.kind) {
        FieldKind.YES_NO -> Row(verticalAlignment = Alignment.CenterVertically) {
            Text(f.column.label, Modifier.weight(1f))
            Switch(checked = f.text == "true", onCheckedChange = { onChange(it.toString()) }, enabled = enabled)
        }
        else -> OutlinedTextField(
            value = f.text,
            onValueChange = onChange,
            label = { Text(f.column.label) },
            isError = error != null,
            supportingText = if (error != null) { { Text(error) } } else null,
            enabled = enabled,
            keyboardOptions = KeyboardOptions(
                keyboardType = when (f.column.kind) {
                    FieldKind.WHOLE_NUMBER -> KeyboardType.Number
                    FieldKind.DECIMAL -> KeyboardType.Decimal
                    else -> KeyboardType.Text
                },
            ),
            modifier = Modifier.fillMaxWidth(),
        )
    }
}

private fun stateText(state: RecordState): String = when (state) {
    RecordState.SYNCED -> "Same as the server"
    RecordState.MODIFIED -> "Edited on this device: not sent yet"
    RecordState.CREATED -> "Created on this device: not sent yet"
    RecordState.DELETED -> "Deleted on this device: not sent yet"
}
