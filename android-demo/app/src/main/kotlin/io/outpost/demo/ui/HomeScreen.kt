package io.outpost.demo.ui

import androidx.compose.foundation.clickable
import androidx.compose.foundation.layout.Arrangement
import androidx.compose.foundation.layout.Box
import androidx.compose.foundation.layout.Column
import androidx.compose.foundation.layout.Row
import androidx.compose.foundation.layout.fillMaxSize
import androidx.compose.foundation.layout.fillMaxWidth
import androidx.compose.foundation.layout.padding
import androidx.compose.foundation.lazy.LazyColumn
import androidx.compose.foundation.lazy.items
import androidx.compose.material3.Button
import androidx.compose.material3.Card
import androidx.compose.material3.CircularProgressIndicator
import androidx.compose.material3.DropdownMenu
import androidx.compose.material3.DropdownMenuItem
import androidx.compose.material3.ExperimentalMaterial3Api
import androidx.compose.material3.FilterChip
import androidx.compose.material3.HorizontalDivider
import androidx.compose.material3.LinearProgressIndicator
import androidx.compose.material3.ListItem
import androidx.compose.material3.MaterialTheme
import androidx.compose.material3.OutlinedTextField
import androidx.compose.material3.Scaffold
import androidx.compose.material3.SnackbarHost
import androidx.compose.material3.SnackbarHostState
import androidx.compose.material3.Text
import androidx.compose.material3.TextButton
import androidx.compose.material3.TopAppBar
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
import io.outpost.RecordState
import io.outpost.demo.Held
import io.outpost.demo.KeystorePlatformKey
import io.outpost.demo.MainActivity
import io.outpost.demo.OutpostDemoApp
import io.outpost.demo.Tables
import io.outpost.demo.viewmodels.LockViewModel
import io.outpost.demo.viewmodels.RecordRow
import io.outpost.demo.viewmodels.RecordsState
import io.outpost.demo.viewmodels.RecordsViewModel
import io.outpost.demo.viewmodels.StatusViewModel
import io.outpost.demo.viewmodels.SyncState
import kotlinx.coroutines.delay

/** Sync with its progress bar, the offline records of one table with search, and the menu. */
@OptIn(ExperimentalMaterial3Api::class)
@Composable
fun HomeScreen(
    app: OutpostDemoApp,
    activity: MainActivity,
    onEdit: (entitySet: String, id: String) -> Unit,
    onConflicts: () -> Unit,
    onSignIn: () -> Unit,
    onLocked: () -> Unit,
) {
    val client = app.home.client() ?: return
    val context = LocalContext.current
    val sync = syncModel(activity, client)
    val status = viewModel(key = "status") { Held(StatusViewModel(client, Main)) }.model
    // The lock view-model here only enrols biometric unlock (the vault is unlocked).
    val security = viewModel(key = "security") {
        val key = if (KeystorePlatformKey.available(context)) {
            KeystorePlatformKey(context.applicationContext, { MainActivity.current() })
        } else {
            null
        }
        Held(LockViewModel(client, Main, key))
    }.model
    var table by rememberSaveable { mutableStateOf(Tables.all.first().entitySet) }
    val records = viewModel(key = "records:$table") { Held(RecordsViewModel(client, Tables.view(table), Main)) }.model

    val syncState by sync.state.collectAsStateWithLifecycle()
    val statusState by status.state.collectAsStateWithLifecycle()
    val securityState by security.state.collectAsStateWithLifecycle()
    val recordsState by records.state.collectAsStateWithLifecycle()
    val snackbar = remember { SnackbarHostState() }
    var menu by remember { mutableStateOf(false) }

    LaunchedEffect(Unit) { status.refresh() }
    LaunchedEffect(table) { if (records.state.value.rows.isEmpty()) records.refresh() }
    // First time here after sign-in, nothing offline yet: sync at once.
    LaunchedEffect(statusState.signedIn, statusState.readyTables) {
        if (statusState.signedIn && statusState.readyTables.isEmpty() && !syncState.running && syncState.summary == null) sync.start()
    }
    // Pages of changed records arrive during a sync: refresh the list, at most twice a second.
    LaunchedEffect(syncState.changes) {
        delay(500)
        records.refresh()
    }
    LaunchedEffect(syncState.running) {
        if (!syncState.running) {
            records.refresh()
            status.refresh()
        }
    }
    LaunchedEffect(syncState.signInNeeded) {
        if (syncState.signInNeeded) {
            app.signInClaims.value = syncState.signInClaims
            onSignIn()
        }
    }
    LaunchedEffect(securityState.message) { securityState.message?.let { snackbar.showSnackbar(it) } }

    Scaffold(
        topBar = {
            TopAppBar(
                title = {
                    Column {
                        Text("Outpost")
                        Text(statusState.username ?: "Not signed in", style = MaterialTheme.typography.labelSmall)
                    }
                },
                actions = {
                    TextButton(onClick = onConflicts) { Text("Conflicts (${statusState.conflicts})") }
                    Box {
                        TextButton(onClick = { menu = true }) { Text("More") }
                        DropdownMenu(expanded = menu, onDismissRequest = { menu = false }) {
                            DropdownMenuItem(text = { Text("Sign in again") }, onClick = { menu = false; onSignIn() })
                            if (KeystorePlatformKey.available(context) && !securityState.biometricAvailable) {
                                DropdownMenuItem(
                                    text = { Text("Turn on biometric unlock") },
                                    onClick = { menu = false; security.enrolBiometric() },
                                )
                            }
                            DropdownMenuItem(
                                text = { Text("Lock now") },
                                onClick = {
                                    menu = false
                                    security.lock()
                                    onLocked()
                                },
                            )
                        }
                    }
                },
            )
        },
        snackbarHost = { SnackbarHost(snackbar) },
    ) { padding ->
        Column(Modifier.fillMaxSize().padding(padding)) {
            SyncCard(syncState, pending = statusState.pending, onSync = { sync.start() }, onCancel = { sync.cancel() })
            Row(Modifier.padding(horizontal = 16.dp), horizontalArrangement = Arrangement.spacedBy(8.dp)) {
                for (t in Tables.all) {
                    FilterChip(selected = t.entitySet == table, onClick = { table = t.entitySet }, label = { Text(t.label) })
                }
            }
            OutlinedTextField(
                value = recordsState.search,
                onValueChange = records::onSearchChange,
                label = { Text("Search ${Tables.view(table).label.lowercase()}") },
                singleLine = true,
                modifier = Modifier.fillMaxWidth().padding(horizontal = 16.dp),
            )
            ErrorText(recordsState.error)
            RecordList(recordsState, onLoadMore = records::loadMore, onOpen = { onEdit(table, it.id) })
        }
    }
}

@Composable
private fun SyncCard(s: SyncState, pending: Long, onSync: () -> Unit, onCancel: () -> Unit) {
    Card(Modifier.fillMaxWidth().padding(16.dp)) {
        Column(Modifier.padding(12.dp), verticalArrangement = Arrangement.spacedBy(8.dp)) {
            if (s.running) {
                val fraction = s.fraction
                // Outpost reports rows applied, not (yet) totals: indeterminate until it knows.
                if (fraction != null) LinearProgressIndicator(progress = { fraction }, modifier = Modifier.fillMaxWidth())
                else LinearProgressIndicator(Modifier.fillMaxWidth())
                Text(progressText(s), style = MaterialTheme.typography.bodyMedium)
                TextButton(onClick = onCancel) { Text("Cancel") }
            } else {
                Row(verticalAlignment = Alignment.CenterVertically) {
                    Text(lastSyncText(s, pending), Modifier.weight(1f), style = MaterialTheme.typography.bodyMedium)
                    Button(onClick = onSync) { Text("Sync") }
                }
            }
            ErrorText(s.error)
            s.tableErrors.forEach { ErrorText(it) }
        }
    }
}

private fun progressText(s: SyncState): String = when {
    s.waiting -> "Waiting for the previous sync to stop…"
    s.tables.isEmpty() && s.pushed > 0 -> "Sent ${s.pushed} changes…"
    s.tables.isEmpty() -> "Starting…"
    else -> s.tables.joinToString(" · ") { "${it.entitySet}: ${it.rows} rows" + if (it.initialSyncComplete) " ✓" else "" }
}

private fun lastSyncText(s: SyncState, pending: Long): String {
    val summary = s.summary
    return when {
        s.cancelled -> "Sync cancelled: everything received so far is kept."
        summary != null ->
            "Received ${summary.rowsPulled} rows, sent ${summary.pushed} changes in ${summary.durationMs / 1000.0} s." +
                if (summary.pending > 0) " ${summary.pending} still waiting." else ""
        pending > 0 -> "$pending changes waiting to be sent."
        else -> "Ready."
    }
}

@Composable
private fun RecordList(s: RecordsState, onLoadMore: () -> Unit, onOpen: (RecordRow) -> Unit) {
    LazyColumn(Modifier.fillMaxSize()) {
        items(s.rows, key = { it.id }) { row ->
            val subtitle = row.subtitle
            val label = stateLabel(row.state)
            ListItem(
                headlineContent = { Text(row.title) },
                supportingContent = if (subtitle != null) { { Text(subtitle) } } else null,
                trailingContent = if (label != null) { { Text(label, style = MaterialTheme.typography.labelSmall) } } else null,
                modifier = Modifier.clickable { onOpen(row) },
            )
            HorizontalDivider()
        }
        if (s.hasMore || s.loading) {
            item(key = "more") {
                // Reaching the end of the list loads the next keyset page.
                if (s.hasMore) LaunchedEffect(s.rows.size) { onLoadMore() }
                Box(Modifier.fillMaxWidth().padding(16.dp), contentAlignment = Alignment.Center) { CircularProgressIndicator() }
            }
        }
        if (!s.loading && s.rows.isEmpty()) {
            item(key = "empty") {
                Text(
                    if (s.search.isBlank()) "Nothing offline yet: sync first." else "No matches.",
                    Modifier.padding(16.dp),
                )
            }
        }
    }
}

private fun stateLabel(state: RecordState): String? = when (state) {
    RecordState.SYNCED -> null
    RecordState.MODIFIED -> "edited"
    RecordState.CREATED -> "new"
    RecordState.DELETED -> "deleted"
}
