package io.outpost.demo.viewmodels

import java.nio.CharBuffer
import java.nio.charset.CodingErrorAction

/**
 * UTF-8 bytes of a password without going through a `String` (which could not be wiped). The
 * encoder's buffer is wiped; the caller wipes the result after the call (`fill(0)`), and Outpost
 * zeroizes its own copy.
 */
internal fun utf8(password: CharArray): ByteArray {
    val encoder = Charsets.UTF_8.newEncoder()
        .onMalformedInput(CodingErrorAction.REPLACE)
        .onUnmappableCharacter(CodingErrorAction.REPLACE)
    val buffer = encoder.encode(CharBuffer.wrap(password))
    val bytes = ByteArray(buffer.remaining())
    buffer.get(bytes)
    if (buffer.hasArray()) buffer.array().fill(0)
    return bytes
}

/** Runs [block] with the UTF-8 bytes of [password]; both are wiped afterwards. */
internal inline fun <T> withPasswordBytes(password: CharArray, block: (ByteArray) -> T): T {
    val bytes = utf8(password)
    try {
        return block(bytes)
    } finally {
        bytes.fill(0)
        password.fill('\u0000')
    }
}
