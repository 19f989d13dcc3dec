//! RFC 6238 TOTP (HMAC-SHA1, 30-second step, 6 digits), as authenticator apps implement it.

use hmac::{Hmac, Mac};
use sha1::Sha1;

/// Time step in seconds.
pub const STEP: i64 = 30;

/// The code for a counter value (RFC 4226 HOTP).
pub fn hotp(secret: &[u8], counter: u64) -> String {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else { return String::new() };
    mac.update(&counter.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let bin = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    format!("{:06}", bin % 1_000_000)
}

/// The code at a Unix time.
pub fn code_at(secret: &[u8], unix: i64) -> String {
    hotp(secret, (unix.max(0) / STEP) as u64)
}

/// Checks a code, accepting one step of clock drift either way.
pub fn verify(secret: &[u8], code: &str, unix: i64) -> bool {
    let code = code.trim();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return false;
    }
    (-1..=1).any(|d| code_at(secret, unix + d * STEP) == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc6238_vectors() {
        // RFC 6238 appendix B, SHA-1, truncated to 6 digits.
        let secret = b"12345678901234567890";
        assert_eq!(code_at(secret, 59), "287082");
        assert_eq!(code_at(secret, 1_111_111_109), "081804");
        assert_eq!(code_at(secret, 1_234_567_890), "005924");
        assert!(verify(secret, "287082", 59 + 30));
        assert!(!verify(secret, "287082", 59 + 90));
    }
}
