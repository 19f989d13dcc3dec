package io.outpost.demo.viewmodels

import io.outpost.KdfParams
import io.outpost.OutpostClient
import io.outpost.OutpostException
import io.outpost.VaultOptions
import java.net.URI
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

/** The setup screen. Passwords are not part of the state: the screen passes them to [SetupViewModel.create]. */
data class SetupState(
    val orgUrl: String = "",
    val clientId: String = "",
    /** Blank: discovered from the org. */
    val authority: String = "",
    val busy: Boolean = false,
    /** What is happening while [busy] (e.g. measuring the device for the password hashing). */
    val step: String? = null,
    val error: String? = null,
    /** The vault exists and is unlocked: go on to sign-in. */
    val done: Boolean = false,
)

/**
 * First launch: where to sync from and the offline password. Creates the vault (which unlocks
 * it) and saves the settings; [VaultHome.client] then returns the client.
 *
 * @param kdf the Argon2id parameters for the new vault: on a phone `calibrate(500, 128 * 1024).params`
 *   (it takes a few times the target), `null` for Outpost's default.
 */
class SetupViewModel(
    private val home: VaultHome,
    dispatcher: CoroutineDispatcher,
    private val kdf: suspend () -> KdfParams?,
    private val profileToml: String? = null,
    private val minPasswordLength: Int = 8,
    /**
     * Whether plain HTTP to a host is allowed (on Android: `NetworkSecurityPolicy`, so the
     * network security config also governs Outpost's own Rust HTTP stack). Outpost itself allows
     * it on loopback only.
     */
    private val cleartextPermitted: (host: String) -> Boolean = { host -> SetupViewModel.isLoopback(host) },
) : ScreenModel(dispatcher) {
    private val _state = MutableStateFlow(SetupState())
    val state: StateFlow<SetupState> = _state.asStateFlow()

    fun onOrgUrl(value: String) = _state.update { it.copy(orgUrl = value.trim(), error = null) }
    fun onClientId(value: String) = _state.update { it.copy(clientId = value.trim(), error = null) }
    fun onAuthority(value: String) = _state.update { it.copy(authority = value.trim(), error = null) }

    /** Pre-fill the form (e.g. from an MDM app restriction or a QR code). */
    fun prefill(orgUrl: String, clientId: String, authority: String? = null) =
        _state.update { it.copy(orgUrl = orgUrl.trim(), clientId = clientId.trim(), authority = authority?.trim().orEmpty()) }

    /** Validate, then create the vault. Both arrays are wiped. */
    fun create(password: CharArray, confirm: CharArray) {
        val s = _state.value
        if (s.busy) {
            password.fill('\u0000'); confirm.fill('\u0000')
            return
        }
        val problem = validate(s, password, confirm)
        confirm.fill('\u0000')
        if (problem != null) {
            password.fill('\u0000')
            _state.update { it.copy(error = problem) }
            return
        }
        val settings = AppSettings(
            orgUrl = s.orgUrl.trimEnd('/'),
            clientId = s.clientId,
            authority = s.authority.takeIf { it.isNotBlank() },
            profileToml = profileToml,
        )
        _state.update { it.copy(busy = true, step = "Preparing", error = null) }
        scope.launch {
            try {
                val client: OutpostClient = home.clientFor(settings)
                if (client.vaultExists()) throw OutpostException.VaultExists()
                _state.update { it.copy(step = "Measuring this device") }
                val params = kdf()
                _state.update { it.copy(step = "Creating the encrypted vault") }
                withPasswordBytes(password) { bytes -> client.createVault(bytes, VaultOptions(kdf = params)) }
                home.adopt(settings, client)
                _state.update { it.copy(busy = false, step = null, done = true) }
            } catch (e: OutpostException) {
                _state.update { it.copy(busy = false, step = null, error = e.userMessage()) }
            } finally {
                password.fill('\u0000')
            }
        }
    }

    private fun validate(s: SetupState, password: CharArray, confirm: CharArray): String? {
        urlProblem(s.orgUrl, "organisation URL", cleartextPermitted)?.let { return it }
        if (s.clientId.isBlank()) return "Enter the app's client id."
        if (s.authority.isNotBlank()) urlProblem(s.authority, "authority", cleartextPermitted)?.let { return it }
        if (password.size < minPasswordLength) return "Use at least $minPasswordLength characters for the offline password."
        if (!password.contentEquals(confirm)) return "The passwords do not match."
        return null
    }

    companion object {
        fun isLoopback(host: String): Boolean = host == "127.0.0.1" || host == "localhost" || host == "[::1]" || host == "::1"

        /** HTTPS, or HTTP where [cleartextPermitted] allows it: checked here to give a readable message. */
        fun urlProblem(text: String, what: String, cleartextPermitted: (String) -> Boolean = ::isLoopback): String? {
            val uri = runCatching { URI(text.trim()) }.getOrNull()
            val host = uri?.host
            if (uri == null || host.isNullOrEmpty()) return "Enter the $what, e.g. https://contoso.crm.dynamics.com."
            return when (uri.scheme?.lowercase()) {
                "https" -> null
                "http" -> if (isLoopback(host) && cleartextPermitted(host)) null
                else "The $what must use https:// (http:// only for the emulator on 127.0.0.1)."
                else -> "The $what must start with https://."
            }
        }
    }
}
