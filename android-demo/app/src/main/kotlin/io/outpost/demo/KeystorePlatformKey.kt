package io.outpost.demo

import android.content.Context
import android.content.pm.PackageManager
import android.os.Build
import android.security.keystore.KeyGenParameterSpec
import android.security.keystore.KeyPermanentlyInvalidatedException
import android.security.keystore.KeyProperties
import android.security.keystore.StrongBoxUnavailableException
import androidx.biometric.BiometricManager
import androidx.biometric.BiometricManager.Authenticators.BIOMETRIC_STRONG
import androidx.biometric.BiometricPrompt
import androidx.core.content.ContextCompat
import androidx.fragment.app.FragmentActivity
import io.outpost.PlatformKeyException
import io.outpost.PlatformKeyProvider
import java.security.GeneralSecurityException
import java.security.KeyStore
import javax.crypto.AEADBadTagException
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import kotlin.coroutines.resume
import kotlin.coroutines.resumeWithException
import kotlinx.coroutines.CancellationException
import kotlinx.coroutines.Dispatchers
import kotlinx.coroutines.suspendCancellableCoroutine
import kotlinx.coroutines.withContext

/**
 * Biometric unlock: an AES-256-GCM key in the Android Keystore that can only be used after a
 * strong biometric (every use: the cipher is authorised through BiometricPrompt's CryptoObject)
 * and is invalidated by the Keystore when fingerprints or faces are added or removed. Outpost
 * gives [wrap] the vault's data key once at enrolment and keeps the blob in its keyslot file;
 * [unwrap] turns the blob back into the data key.
 *
 * Blob: version byte 1 ‖ 12-byte IV ‖ ciphertext + 16-byte tag. The key never leaves the
 * Keystore (hardware-backed; StrongBox where the device has one).
 *
 * `KeyPermanentlyInvalidatedException` (enrolment changed), a missing key and a blob the key's
 * tag check refuses (`AEADBadTagException`: it was made by an earlier key under this alias, which
 * can never open it) become [PlatformKeyException.Invalidated]: the user unlocks with the
 * password and enrols again.
 * A cancelled prompt or any other failure is [PlatformKeyException.Failed].
 */
class KeystorePlatformKey(
    private val context: Context,
    /** The activity that can show the prompt (the resumed one); `null` when none is. */
    private val activity: () -> FragmentActivity?,
    private val alias: String = DEFAULT_ALIAS,
) : PlatformKeyProvider {

    override suspend fun wrap(dataKey: ByteArray): ByteArray {
        try {
            val cipher = Cipher.getInstance(TRANSFORMATION)
            try {
                cipher.init(Cipher.ENCRYPT_MODE, existingKey() ?: newKey())
            } catch (ignored: KeyPermanentlyInvalidatedException) {
                // Enrolling again after an enrolment change: replace the dead key.
                deleteKey()
                cipher.init(Cipher.ENCRYPT_MODE, newKey())
            }
            val authorised = authenticate(cipher, "Turn on biometric unlock")
            val iv = authorised.iv
            check(iv.size == IV_BYTES) { "unexpected IV length ${iv.size}" }
            return byteArrayOf(VERSION) + iv + authorised.doFinal(dataKey)
        } catch (e: PlatformKeyException) {
            throw e
        } catch (e: GeneralSecurityException) {
            throw PlatformKeyException.Failed("keystore: ${e.javaClass.simpleName}")
        } catch (e: CancellationException) {
            throw e
        } catch (e: RuntimeException) {
            // ProviderException and friends from some Keystore implementations.
            throw PlatformKeyException.Failed("keystore: ${e.javaClass.simpleName}")
        } finally {
            dataKey.fill(0)
        }
    }

    override suspend fun unwrap(blob: ByteArray): ByteArray {
        if (blob.size < 1 + IV_BYTES + TAG_BYTES || blob[0] != VERSION) throw PlatformKeyException.Failed("not a blob of this key")
        try {
            // The key is gone (app data cleared, or deleted after an enrolment change): for good.
            val key = existingKey() ?: throw PlatformKeyException.Invalidated()
            val cipher = Cipher.getInstance(TRANSFORMATION)
            try {
                cipher.init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(TAG_BYTES * 8, blob, 1, IV_BYTES))
            } catch (ignored: KeyPermanentlyInvalidatedException) {
                deleteKey()
                throw PlatformKeyException.Invalidated()
            }
            val authorised = authenticate(cipher, "Unlock Outpost")
            return authorised.doFinal(blob, 1 + IV_BYTES, blob.size - 1 - IV_BYTES)
        } catch (e: PlatformKeyException) {
            throw e
        } catch (ignored: AEADBadTagException) {
            // Not a failure to retry: this key will never open this blob (issue 16, defect 8).
            throw PlatformKeyException.Invalidated()
        } catch (e: GeneralSecurityException) {
            throw PlatformKeyException.Failed("keystore: ${e.javaClass.simpleName}")
        } catch (e: CancellationException) {
            throw e
        } catch (e: RuntimeException) {
            // ProviderException and friends from some Keystore implementations.
            throw PlatformKeyException.Failed("keystore: ${e.javaClass.simpleName}")
        }
    }

    /** Shows BiometricPrompt on the main thread; the returned cipher is authorised for one operation. */
    private suspend fun authenticate(cipher: Cipher, title: String): Cipher = withContext(Dispatchers.Main) {
        val host = activity() ?: throw PlatformKeyException.Failed("no screen to show the biometric prompt on")
        suspendCancellableCoroutine { cont ->
            val prompt = BiometricPrompt(
                host,
                ContextCompat.getMainExecutor(host),
                object : BiometricPrompt.AuthenticationCallback() {
                    override fun onAuthenticationSucceeded(result: BiometricPrompt.AuthenticationResult) {
                        val c = result.cryptoObject?.cipher
                        if (c == null) cont.resumeWithException(PlatformKeyException.Failed("no cipher from the prompt"))
                        else cont.resume(c)
                    }

                    override fun onAuthenticationError(errorCode: Int, errString: CharSequence) {
                        val reason = when (errorCode) {
                            BiometricPrompt.ERROR_USER_CANCELED,
                            BiometricPrompt.ERROR_NEGATIVE_BUTTON,
                            BiometricPrompt.ERROR_CANCELED -> "cancelled"
                            BiometricPrompt.ERROR_LOCKOUT,
                            BiometricPrompt.ERROR_LOCKOUT_PERMANENT -> "too many attempts: use the password"
                            else -> "biometric error $errorCode"
                        }
                        cont.resumeWithException(PlatformKeyException.Failed(reason))
                    }
                    // onAuthenticationFailed: a finger that did not match; the prompt stays up.
                },
            )
            val info = BiometricPrompt.PromptInfo.Builder()
                .setTitle(title)
                .setSubtitle("Your offline data stays encrypted until you confirm")
                .setNegativeButtonText("Use password")
                .setAllowedAuthenticators(BIOMETRIC_STRONG)
                .setConfirmationRequired(false)
                .build()
            cont.invokeOnCancellation { prompt.cancelAuthentication() }
            prompt.authenticate(info, BiometricPrompt.CryptoObject(cipher))
        }
    }

    private fun keyStore(): KeyStore = KeyStore.getInstance(KEYSTORE).apply { load(null) }

    private fun existingKey(): SecretKey? = keyStore().getKey(alias, null) as? SecretKey

    private fun deleteKey() {
        runCatching { keyStore().deleteEntry(alias) }
    }

    private fun newKey(): SecretKey {
        val strongBox = Build.VERSION.SDK_INT >= Build.VERSION_CODES.P &&
            context.packageManager.hasSystemFeature(PackageManager.FEATURE_STRONGBOX_KEYSTORE)
        if (strongBox) {
            try {
                return generate(strongBox = true)
            } catch (ignored: StrongBoxUnavailableException) {
                // Fall through to the TEE.
            }
        }
        return generate(strongBox = false)
    }

    private fun generate(strongBox: Boolean): SecretKey {
        val spec = KeyGenParameterSpec.Builder(alias, KeyProperties.PURPOSE_ENCRYPT or KeyProperties.PURPOSE_DECRYPT)
            .setBlockModes(KeyProperties.BLOCK_MODE_GCM)
            .setEncryptionPaddings(KeyProperties.ENCRYPTION_PADDING_NONE)
            .setKeySize(256)
            .setRandomizedEncryptionRequired(true)
            .setUserAuthenticationRequired(true)
            .setInvalidatedByBiometricEnrollment(true)
            .apply {
                if (Build.VERSION.SDK_INT >= Build.VERSION_CODES.R) {
                    // Every use needs a strong biometric, bound to this operation (CryptoObject).
                    setUserAuthenticationParameters(0, KeyProperties.AUTH_BIOMETRIC_STRONG)
                } else {
                    @Suppress("DEPRECATION")
                    setUserAuthenticationValidityDurationSeconds(-1)
                }
                if (strongBox && Build.VERSION.SDK_INT >= Build.VERSION_CODES.P) setIsStrongBoxBacked(true)
            }
            .build()
        return KeyGenerator.getInstance(KeyProperties.KEY_ALGORITHM_AES, KEYSTORE).apply { init(spec) }.generateKey()
    }

    companion object {
        private const val KEYSTORE = "AndroidKeyStore"
        private const val TRANSFORMATION = "AES/GCM/NoPadding"
        private const val VERSION: Byte = 1
        private const val IV_BYTES = 12
        private const val TAG_BYTES = 16
        const val DEFAULT_ALIAS = "outpost-vault-key"

        /**
         * Delete the Keystore key (after the vault was wiped, by the user or by the lockout
         * policy): it unlocks nothing any more, and a new vault enrols a new one.
         */
        fun forget(alias: String = DEFAULT_ALIAS) {
            runCatching { KeyStore.getInstance(KEYSTORE).apply { load(null) }.deleteEntry(alias) }
        }

        /** Whether this device can do strong biometric authentication now (else: password only). */
        fun available(context: Context): Boolean =
            BiometricManager.from(context).canAuthenticate(BIOMETRIC_STRONG) == BiometricManager.BIOMETRIC_SUCCESS
    }
}
