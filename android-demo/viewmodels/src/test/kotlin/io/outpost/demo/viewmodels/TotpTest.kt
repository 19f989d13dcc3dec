package io.outpost.demo.viewmodels

import org.junit.Assert.assertEquals
import org.junit.Test

/** The test's own TOTP against RFC 6238's test vectors (SHA-1 key "12345678901234567890"). */
internal class TotpTest {
    private val secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"

    @Test
    fun matchesTheRfcVectors() {
        // RFC 6238 appendix B gives 8 digits; the last 6 are the 6-digit code.
        assertEquals("287082", Totp.code(secret, 59_000L))
        assertEquals("081804", Totp.code(secret, 1_111_111_109_000L))
        assertEquals("050471", Totp.code(secret, 1_111_111_111_000L))
        assertEquals("005924", Totp.code(secret, 1_234_567_890_000L))
        assertEquals("279037", Totp.code(secret, 2_000_000_000_000L))
    }
}
