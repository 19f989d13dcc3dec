package io.outpost.demo.viewmodels

import io.outpost.OutpostClient
import io.outpost.OutpostException
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

data class StatusState(
    val username: String? = null,
    val signedIn: Boolean = false,
    val pending: Long = 0,
    val conflicts: Long = 0,
    val parked: Long = 0,
    /** Tables whose first full pull completed (usable offline). */
    val readyTables: List<String> = emptyList(),
    val error: String? = null,
)

/** The home screen's header: who is signed in, what waits to be pushed, open conflicts. */
class StatusViewModel(
    private val client: OutpostClient,
    dispatcher: CoroutineDispatcher,
) : ScreenModel(dispatcher) {
    private val _state = MutableStateFlow(StatusState())
    val state: StateFlow<StatusState> = _state.asStateFlow()

    fun refresh() {
        scope.launch {
            try {
                val s = client.status()
                _state.value = StatusState(
                    username = s.account?.username,
                    signedIn = s.signedIn,
                    pending = s.pending,
                    conflicts = s.conflicts,
                    parked = s.parked,
                    readyTables = s.tables.filter { it.initialSyncDone }.map { it.entitySet },
                )
            } catch (e: OutpostException) {
                _state.update { it.copy(error = e.userMessage()) }
            }
        }
    }
}
