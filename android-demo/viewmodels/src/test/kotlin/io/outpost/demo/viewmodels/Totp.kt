package io.outpost.demo.viewmodels

import java.nio.ByteBuffer
import javax.crypto.Mac
import javax.crypto.spec.SecretKeySpec

/** RFC 6238 TOTP as an authenticator app computes it: HMAC-SHA1, 30-second steps, 6 digits. */
internal object Totp {
    fun code(secretBase32: String, atMillis: Long = System.currentTimeMillis()): String {
        val counter = ByteBuffer.allocate(8).putLong(atMillis / 1000 / 30).array()
        val mac = Mac.getInstance("HmacSHA1").apply { init(SecretKeySpec(base32(secretBase32), "HmacSHA1")) }.doFinal(counter)
        val offset = mac[19].toInt() and 0x0f
        val binary = ((mac[offset].toInt() and 0x7f) shl 24) or
            ((mac[offset + 1].toInt() and 0xff) shl 16) or
            ((mac[offset + 2].toInt() and 0xff) shl 8) or
            (mac[offset + 3].toInt() and 0xff)
        return (binary % 1_000_000).toString().padStart(6, '0')
    }

    /** RFC 4648 base32 (padding optional, case-insensitive). */
    fun base32(text: String): ByteArray {
        val alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
        val out = java.io.ByteArrayOutputStream()
        var buffer = 0
        var bits = 0
        for (c in text.trimEnd('=').uppercase()) {
            val v = alphabet.indexOf(c)
            require(v >= 0) { "not base32: $c" }
            buffer = (buffer shl 5) or v
            bits += 5
            if (bits >= 8) {
                bits -= 8
                out.write((buffer shr bits) and 0xff)
            }
        }
        return out.toByteArray()
    }
}
