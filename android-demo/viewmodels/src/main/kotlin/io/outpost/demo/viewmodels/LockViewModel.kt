package io.outpost.demo.viewmodels

import io.outpost.OutpostClient
import io.outpost.OutpostException
import io.outpost.PlatformKeyProvider
import kotlinx.coroutines.CoroutineDispatcher
import kotlinx.coroutines.flow.MutableStateFlow
import kotlinx.coroutines.flow.StateFlow
import kotlinx.coroutines.flow.asStateFlow
import kotlinx.coroutines.flow.update
import kotlinx.coroutines.launch

data class LockState(
    /** Wrong passwords left before the lockout policy applies. */
    val attemptsLeft: Int? = null,
    /** Seconds to wait before a password is accepted, when locked out. */
    val retryAfterS: Long? = null,
    /** Biometric unlock is enrolled in the vault and this device can prompt for it. */
    val biometricAvailable: Boolean = false,
    val busy: Boolean = false,
    val message: String? = null,
    val unlocked: Boolean = false,
    /** The vault is gone (wiped after too many wrong passwords): back to setup. */
    val wiped: Boolean = false,
    /** Biometric unlock was enrolled by the last [LockViewModel.enrolBiometric]. */
    val biometricEnrolled: Boolean = false,
)

/**
 * The lock screen: the offline password (wrong attempts counted by Outpost, shown here) or
 * biometrics through the injected [PlatformKeyProvider] (on Android an Android Keystore key that
 * needs the user's biometric for every use).
 *
 * @param platformKey `null` where the device has no strong biometric: the option is hidden.
 */
class LockViewModel(
    private val client: OutpostClient,
    dispatcher: CoroutineDispatcher,
    private val platformKey: PlatformKeyProvider?,
) : ScreenModel(dispatcher) {
    private val _state = MutableStateFlow(LockState())
    val state: StateFlow<LockState> = _state.asStateFlow()

    init {
        refresh()
    }

    /** Read the attempts left and whether biometric unlock is enrolled (no unlock needed). */
    fun refresh() {
        _state.update { status(it).copy(unlocked = client.isUnlocked()) }
    }

    fun unlock(password: CharArray) {
        if (_state.value.busy || password.isEmpty()) {
            password.fill('\u0000')
            return
        }
        _state.update { it.copy(busy = true, message = null) }
        scope.launch {
            try {
                withPasswordBytes(password) { client.unlock(it) }
                _state.update { status(it).copy(busy = false, unlocked = true, message = null) }
            } catch (e: OutpostException) {
                _state.update { failed(it, e) }
            } finally {
                password.fill('\u0000')
            }
        }
    }

    fun unlockWithBiometric() {
        val key = platformKey ?: return
        if (_state.value.busy) return
        _state.update { it.copy(busy = true, message = null) }
        scope.launch {
            try {
                client.unlockWithPlatform(key)
                _state.update { status(it).copy(busy = false, unlocked = true, message = null) }
            } catch (e: OutpostException) {
                _state.update { failed(it, e) }
            }
        }
    }

    /** Enrol biometric unlock (the vault must be unlocked): a second keyslot beside the password. */
    fun enrolBiometric() {
        val key = platformKey ?: return
        if (_state.value.busy) return
        _state.update { it.copy(busy = true, message = null, biometricEnrolled = false) }
        scope.launch {
            try {
                client.addPlatformSlot(key)
                _state.update { status(it).copy(busy = false, biometricEnrolled = true, message = "Biometric unlock is on.") }
            } catch (e: OutpostException) {
                _state.update { failed(it, e) }
            }
        }
    }

    /** Lock now: closes the database and wipes the key from memory. */
    fun lock() {
        client.lock()
        refresh()
    }

    private fun failed(s: LockState, e: OutpostException): LockState {
        val base = status(s).copy(busy = false, unlocked = client.isUnlocked(), message = e.userMessage())
        return when (e) {
            is OutpostException.WrongPassword -> base.copy(attemptsLeft = e.attemptsLeft)
            is OutpostException.LockedOut -> base.copy(retryAfterS = e.retryAfterS)
            is OutpostException.Wiped, is OutpostException.NoVault -> base.copy(wiped = true, biometricAvailable = false)
            // Enrolment changed: the key is gone for good. Hide the option until enrolled again.
            is OutpostException.PlatformKeyInvalidated -> base.copy(biometricAvailable = false)
            else -> base
        }
    }

    private fun status(s: LockState): LockState = try {
        val v = client.vaultStatus()
        s.copy(
            attemptsLeft = v.attemptsLeft,
            retryAfterS = v.retryAfterS,
            biometricAvailable = platformKey != null && v.hasPlatformSlot,
            wiped = false,
        )
    } catch (e: OutpostException.NoVault) {
        s.copy(wiped = true, biometricAvailable = false)
    } catch (e: OutpostException) {
        s.copy(message = e.userMessage())
    }
}
