//! Encodings used on the wire: base64, base32, the two percent-encodings of paging cookies, GUIDs,
//! HTML and JSON escaping, and random opaque tokens.

use base64::Engine as _;
use rand::RngCore as _;

/// base64url without padding (JWT segments).
pub fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Decodes base64url without padding.
pub fn b64url_decode(s: &str) -> Option<Vec<u8>> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).ok()
}

/// Random bytes from the OS.
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rand::rngs::OsRng.fill_bytes(&mut v);
    v
}

/// An opaque token shaped like Entra's (`1.AXEA…`), always containing `+`, `/` and `=` so that its
/// URL-encoded and form-encoded forms differ from the raw one (secret scanners must look for both).
pub fn opaque_token(prefix: &str, nbytes: usize) -> String {
    let raw = base64::engine::general_purpose::STANDARD.encode(random_bytes(nbytes));
    let mut chars: Vec<char> = raw.trim_end_matches('=').chars().collect();
    if chars.len() > 12 {
        chars[4] = '+';
        chars[9] = '/';
    }
    let mut s: String = prefix.to_owned();
    s.extend(chars);
    s.push('=');
    s
}

const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// RFC 4648 base32 without padding (TOTP secrets).
pub fn base32_encode(bytes: &[u8]) -> String {
    let mut out = String::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(B32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(B32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// Decodes base32 (case-insensitive, padding and spaces ignored).
pub fn base32_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let mut buffer: u32 = 0;
    let mut bits = 0;
    for c in s.chars().filter(|c| *c != '=' && !c.is_whitespace()) {
        let v = B32.iter().position(|&x| x as char == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | v;
        bits += 5;
        if bits >= 8 {
            bits -= 8;
            out.push(((buffer >> bits) & 0xff) as u8);
        }
    }
    Some(out)
}

fn encode_with(s: &str, keep: impl Fn(u8) -> bool, upper: bool) -> String {
    let mut out = String::with_capacity(s.len() * 2);
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else if upper {
            out.push_str(&format!("%{b:02X}"));
        } else {
            out.push_str(&format!("%{b:02x}"));
        }
    }
    out
}

/// Lower-case percent-encoding of everything but `A-Za-z0-9-_.` (inner paging cookie, delta token).
pub fn pct_lower(s: &str) -> String {
    encode_with(s, |b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.', false)
}

/// Upper-case percent-encoding that keeps `=` and `/` (outer `$skiptoken`, as Dataverse sends it).
pub fn pct_outer(s: &str) -> String {
    encode_with(
        s,
        |b| {
            b.is_ascii_alphanumeric()
                || matches!(b, b'-' | b'_' | b'.' | b'=' | b'/' | b'!' | b'(' | b')' | b',' | b':')
        },
        true,
    )
}

/// Percent-encoding for a query-string value (keeps `,()'$*:@/` readable, like Dataverse links).
pub fn pct_query(s: &str) -> String {
    encode_with(
        s,
        |b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'-' | b'_' | b'.' | b'~' | b',' | b'(' | b')' | b'\'' | b'$' | b'*' | b':' | b'@' | b'/'
                )
        },
        true,
    )
}

/// Percent-encoding for a URL placed into another URL's query (`redirect_uri`, `code`, ...).
pub fn pct_component(s: &str) -> String {
    encode_with(s, |b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~'), true)
}

/// Percent-decoding (does not treat `+` as space).
pub fn pct_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Formats a GUID in lower case with hyphens.
pub fn guid(v: u128) -> String {
    uuid::Uuid::from_u128(v).hyphenated().to_string()
}

/// Appends a GUID (lower case, hyphens) without allocating.
pub fn push_guid(out: &mut String, v: u128) {
    let mut buf = [0u8; 36];
    out.push_str(uuid::Uuid::from_u128(v).hyphenated().encode_lower(&mut buf));
}

/// Formats a GUID in upper case inside braces (paging cookies).
pub fn guid_braced_upper(v: u128) -> String {
    format!("{{{}}}", uuid::Uuid::from_u128(v).hyphenated().to_string().to_ascii_uppercase())
}

/// Parses a GUID with or without braces.
pub fn parse_guid(s: &str) -> Option<u128> {
    let t = s.trim().trim_start_matches('{').trim_end_matches('}');
    if t.len() != 36 {
        return None;
    }
    uuid::Uuid::parse_str(t).ok().map(|u| u.as_u128())
}

/// A random v4 GUID.
pub fn random_guid() -> u128 {
    uuid::Uuid::new_v4().as_u128()
}

/// Escapes text for HTML.
pub fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// Appends `s` as a JSON string literal.
pub fn json_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: Option<&str> = match b {
            b'"' => Some("\\\""),
            b'\\' => Some("\\\\"),
            b'\n' => Some("\\n"),
            b'\r' => Some("\\r"),
            b'\t' => Some("\\t"),
            0..=0x1f => None,
            _ => continue,
        };
        out.push_str(&s[start..i]);
        match esc {
            Some(e) => out.push_str(e),
            None => out.push_str(&format!("\\u{b:04x}")),
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// SplitMix64 step: the deterministic generator's mixing function.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A deterministic v4-shaped GUID from a seed and a few discriminators.
pub fn derived_guid(seed: u64, a: u64, b: u64) -> u128 {
    let hi = mix(seed ^ mix(a.wrapping_mul(31).wrapping_add(b)));
    let lo = mix(hi ^ mix(b.wrapping_add(0x5151)));
    let v = (u128::from(hi) << 64) | u128::from(lo);
    // version 4, RFC 4122 variant
    (v & !(0xF000u128 << 64) | (0x4000u128 << 64)) & !(0xC000u128 << 48) | (0x8000u128 << 48)
}

/// Stable 64-bit hash of a string (FNV-1a), for deriving ids from names.
pub fn hash_str(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base32_round_trip() {
        let b = b"12345678901234567890";
        assert_eq!(base32_encode(b), "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ");
        assert_eq!(base32_decode(&base32_encode(b)).unwrap(), b);
    }

    #[test]
    fn tokens_have_awkward_chars() {
        let t = opaque_token("1.A", 48);
        assert!(t.contains('+') && t.contains('/') && t.ends_with('='));
    }

    #[test]
    fn guid_shapes() {
        let g = derived_guid(1, 2, 3);
        let s = guid(g);
        assert_eq!(s.as_bytes()[14], b'4');
        assert_eq!(parse_guid(&guid_braced_upper(g)), Some(g));
    }
}
