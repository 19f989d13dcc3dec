package io.outpost.demo.ui

import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedButton
import androidx.compose.material3.Scaffold
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
import androidx.compose.runtime.Composable
import androidx.compose.runtime.LaunchedEffect
import androidx.compose.runtime.getValue
import androidx.compose.ui.Modifier
import androidx.compose.ui.unit.dp
import androidx.lifecycle.compose.collectAsStateWithLifecycle
import androidx.lifecycle.viewmodel.compose.viewModel
import io.outpost.demo.Held
import io.outpost.demo.MainActivity
import io.outpost.demo.OutpostDemoApp
import io.outpost.demo.viewmodels.ConflictRow
import io.outpost.demo.viewmodels.ConflictsViewModel

/** Records changed here and on the server in the same columns: the user picks a side. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun ConflictsScreen(app: OutpostDemoApp, activity: MainActivity, onBack: () -> Unit) {
    val client = app.home.client() ?: return
    val vm = viewModel(key = "conflicts") { Held(ConflictsViewModel(client, Main)) }.model
    val sync = syncModel(activity, client)
    val s by vm.state.collectAsStateWithLifecycle()
    val syncState by sync.state.collectAsStateWithLifecycle()

    LaunchedEffect(Unit) { vm.load() }
    LaunchedEffect(syncState.running) { if (!syncState.running) vm.load() }

    Scaffold(
        topBar = {
            TopAppBar(
                title = { Text("Conflicts") },
                navigationIcon = { TextButton(onClick = onBack) { Text("Back") } },
                actions = { TextButton(onClick = { sync.start() }, enabled = !syncState.running) { Text("Sync now") } },
            )
        },
    ) { padding ->
        LazyColumn(Modifier.fillMaxSize().padding(padding)) {
            item { ErrorText(s.error) }
            if (!s.loading && s.rows.isEmpty()) {
                item { Text("No conflicts.", Modifier.padding(16.dp)) }
            }
            items(s.rows, key = { it.id }) { row ->
                ConflictCard(row, busy = s.resolving != null, onMine = { vm.keepMine(row.id) }, onServer = { vm.keepServer(row.id) })
            }
        }
    }
}

@Composable
private fun ConflictCard(row: ConflictRow, busy: Boolean, onMine: () -> Unit, onServer: () -> Unit) {
    Card(Modifier.fillMaxWidth().padding(horizontal = 16.dp, vertical = 8.dp)) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(6.dp)) {
            Text("${row.entitySet} · ${row.recordId}", style = MaterialTheme.typography.labelMedium)
            Text(row.summary, style = MaterialTheme.typography.bodyMedium)
            for (d in row.diffs) {
                Text("${d.column}: this device “${d.mine}” · server “${d.server ?: "(deleted)"}”", style = MaterialTheme.typography.bodySmall)
            }
            Row(horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                Button(onClick = onMine, enabled = !busy) { Text("Keep mine") }
                OutlinedButton(onClick = onServer, enabled = !busy) { Text("Keep the server's") }
            }
        }
    }
}
