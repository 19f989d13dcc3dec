//! ID-token validation: RS256 signature against the provider's JWKS, `aud`, `nonce`, `iss`
//! (with Entra's `{tenantid}` template filled from the token's `tid`), and `exp` / `nbf` / `iat`
//! with five minutes of leeway, because field devices often have wrong clocks.
//!
//! Access tokens are never decoded: they are opaque to the client.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::signature::Verifier;
use rsa::{BigUint, RsaPublicKey};
use serde::Deserialize;
use sha2::Sha256;

use super::discovery::Jwks;
use crate::error::{Error, Result};

/// Clock leeway for `exp`, `nbf` and `iat`.
pub(crate) const LEEWAY_S: i64 = 300;

/// The claims Outpost uses (account identity); others are ignored.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct IdClaims {
    pub iss: String,
    #[serde(default, deserialize_with = "audience")]
    pub aud: Vec<String>,
    pub exp: i64,
    #[serde(default)]
    pub nbf: Option<i64>,
    #[serde(default)]
    pub iat: Option<i64>,
    #[serde(default)]
    pub nonce: Option<String>,
    #[serde(default)]
    pub tid: Option<String>,
    #[serde(default)]
    pub oid: Option<String>,
    #[serde(default)]
    pub sub: Option<String>,
    #[serde(default)]
    pub preferred_username: Option<String>,
}

fn audience<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Aud {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Aud::deserialize(d)? {
        Aud::One(s) => vec![s],
        Aud::Many(v) => v,
    })
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

fn invalid(reason: &str) -> Error {
    Error::auth_failed(format_args!("invalid_id_token: {reason}"))
}

/// What the ID token must match.
pub(crate) struct Expected<'a> {
    pub client_id: &'a str,
    /// The issuer from discovery (may contain `{tenantid}`).
    pub issuer: &'a str,
    /// The nonce sent on the authorize request (`None` for flows without one: ROPC, device code).
    pub nonce: Option<&'a str>,
    pub now: i64,
}

/// Whether `jwks` has a key the token's header names (`kid`; any RSA key when it names none).
/// False also for a token that is not a JWT: validation then says why.
pub(crate) fn names_a_known_key(token: &str, jwks: &Jwks) -> bool {
    let Some(h) = token.split('.').next() else { return false };
    let Some(header) = URL_SAFE_NO_PAD.decode(h).ok().and_then(|b| serde_json::from_slice::<Header>(&b).ok()) else {
        return false;
    };
    jwks.keys.iter().any(|k| k.kty == "RSA" && (header.kid.is_none() || k.kid == header.kid))
}

/// Validate `token` and return its claims.
pub(crate) fn validate(token: &str, jwks: &Jwks, expected: &Expected<'_>) -> Result<IdClaims> {
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(invalid("not a JWT"));
    };
    let header: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(h).map_err(|_| invalid("header"))?)
        .map_err(|_| invalid("header"))?;
    if header.alg != "RS256" {
        return Err(invalid("unsupported algorithm"));
    }
    let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| invalid("signature encoding"))?;
    let signed = &token[..h.len() + 1 + p.len()];
    let verified = jwks
        .keys
        .iter()
        .filter(|k| k.kty == "RSA" && (header.kid.is_none() || k.kid == header.kid))
        .any(|k| verify_rs256(k.n.as_deref(), k.e.as_deref(), signed.as_bytes(), &sig));
    if !verified {
        return Err(invalid("signature"));
    }
    let claims: IdClaims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).map_err(|_| invalid("payload"))?)
        .map_err(|_| invalid("claims"))?;
    if !claims.aud.iter().any(|a| a == expected.client_id) {
        return Err(invalid("audience"));
    }
    if let Some(nonce) = expected.nonce {
        if claims.nonce.as_deref() != Some(nonce) {
            return Err(invalid("nonce"));
        }
    }
    let issuer = match (&claims.tid, expected.issuer.contains("{tenantid}")) {
        (Some(tid), true) => expected.issuer.replace("{tenantid}", tid),
        (None, true) => return Err(invalid("issuer template without tid")),
        _ => expected.issuer.to_string(),
    };
    if claims.iss != issuer {
        return Err(invalid("issuer"));
    }
    if claims.exp + LEEWAY_S < expected.now {
        return Err(invalid("expired"));
    }
    if claims.nbf.is_some_and(|nbf| nbf - LEEWAY_S > expected.now)
        || claims.iat.is_some_and(|iat| iat - LEEWAY_S > expected.now)
    {
        return Err(invalid("not yet valid (check the device clock)"));
    }
    Ok(claims)
}

fn verify_rs256(n: Option<&str>, e: Option<&str>, message: &[u8], signature: &[u8]) -> bool {
    let (Some(n), Some(e)) = (n, e) else { return false };
    let (Ok(n), Ok(e)) = (URL_SAFE_NO_PAD.decode(n), URL_SAFE_NO_PAD.decode(e)) else { return false };
    let Ok(key) = RsaPublicKey::new(BigUint::from_bytes_be(&n), BigUint::from_bytes_be(&e)) else { return false };
    let Ok(sig) = Signature::try_from(signature) else { return false };
    VerifyingKey::<Sha256>::new(key).verify(message, &sig).is_ok()
}
