package io.outpost.demo.viewmodels

import io.outpost.PlatformKeyException
import io.outpost.PlatformKeyProvider
import java.security.SecureRandom
import javax.crypto.Cipher
import javax.crypto.KeyGenerator
import javax.crypto.SecretKey
import javax.crypto.spec.GCMParameterSpec
import org.junit.Assert.assertEquals
import org.junit.Assert.assertFalse
import org.junit.Assert.assertNull
import org.junit.Assert.assertTrue
import org.junit.Test

/**
 * The host's key, as the app's Android Keystore provider does it but in software: AES-256-GCM,
 * blob = version byte + 12-byte IV + ciphertext. [invalidate] plays a biometric enrolment change
 * (`KeyPermanentlyInvalidatedException` on Android).
 */
internal class SoftwareKey : PlatformKeyProvider {
    private val key: SecretKey = KeyGenerator.getInstance("AES").apply { init(256) }.generateKey()

    @Volatile
    var invalidated = false
    var prompts = 0

    override suspend fun wrap(dataKey: ByteArray): ByteArray {
        prompts++
        try {
            val iv = ByteArray(12).also { SecureRandom().nextBytes(it) }
            val cipher = Cipher.getInstance("AES/GCM/NoPadding").apply { init(Cipher.ENCRYPT_MODE, key, GCMParameterSpec(128, iv)) }
            return byteArrayOf(1) + iv + cipher.doFinal(dataKey)
        } finally {
            dataKey.fill(0)
        }
    }

    override suspend fun unwrap(blob: ByteArray): ByteArray {
        prompts++
        if (invalidated) throw PlatformKeyException.Invalidated()
        if (blob.size < 13 || blob[0] != 1.toByte()) throw PlatformKeyException.Failed("not a blob of this key")
        val cipher = Cipher.getInstance("AES/GCM/NoPadding")
            .apply { init(Cipher.DECRYPT_MODE, key, GCMParameterSpec(128, blob.copyOfRange(1, 13))) }
        return cipher.doFinal(blob, 13, blob.size - 13)
    }
}

internal class LockViewModelTest : WithEmulator() {
    @Test
    fun aWrongPasswordShowsTheAttemptsLeftAndTheRightOneUnlocks() {
        val client = setUp()
        client.lock()
        val vm = LockViewModel(client, dispatcher, platformKey = null).closeLater()
        var s = vm.state.value
        assertFalse(s.unlocked)
        assertEquals(10, s.attemptsLeft)
        assertFalse("no platform key offered", s.biometricAvailable)

        vm.unlock("not the password".toCharArray())
        s = vm.state.await("refused") { !it.busy && it.message != null }
        assertFalse(s.unlocked)
        assertEquals(9, s.attemptsLeft)
        assertEquals("Wrong password. 9 attempts left.", s.message)

        vm.unlock("still wrong".toCharArray())
        s = vm.state.await("refused again") { !it.busy && it.attemptsLeft == 8 }
        assertEquals("Wrong password. 8 attempts left.", s.message)
        assertEquals(8, client.vaultStatus().attemptsLeft)

        vm.unlock(PASSWORD.toCharArray())
        s = vm.state.await("unlocked") { !it.busy && (it.unlocked || it.message != null) }
        assertTrue(s.unlocked)
        assertNull(s.message)
        assertTrue(client.isUnlocked())
        assertEquals("a right password resets the counter", 10, client.vaultStatus().attemptsLeft)
        assertEquals(10, s.attemptsLeft)
    }

    @Test
    fun biometricUnlockThroughTheInjectedPlatformKey() {
        val client = setUp()
        val key = SoftwareKey()
        val vm = LockViewModel(client, dispatcher, platformKey = key).closeLater()
        assertFalse(vm.state.value.biometricAvailable)

        vm.enrolBiometric()
        var s = vm.state.await("enrolled") { !it.busy && (it.biometricEnrolled || it.message != null) }
        assertTrue(s.message, s.biometricEnrolled)

        vm.lock()
        s = vm.state.value
        assertFalse(s.unlocked)
        assertTrue(s.biometricAvailable)
        vm.unlockWithBiometric()
        s = vm.state.await("unlocked by the key") { !it.busy && (it.unlocked || it.message != null) }
        assertTrue(s.message, s.unlocked)

        // Fingerprints changed: the key is gone for good; the password still works.
        vm.lock()
        key.invalidated = true
        vm.unlockWithBiometric()
        s = vm.state.await("invalidated") { !it.busy && it.message != null }
        assertFalse(s.unlocked)
        assertFalse("biometric hidden until enrolled again", s.biometricAvailable)
        assertTrue(s.message!!, s.message!!.contains("password"))
        assertEquals("the platform key does not count as a wrong password", 10, s.attemptsLeft)

        vm.unlock(PASSWORD.toCharArray())
        s = vm.state.await("unlocked by password") { !it.busy && (it.unlocked || it.message != null) }
        assertTrue(s.unlocked)
    }
}
