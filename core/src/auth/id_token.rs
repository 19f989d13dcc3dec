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
    if claims.exp.saturating_add(LEEWAY_S) < expected.now {
        return Err(invalid("expired"));
    }
    if claims.nbf.is_some_and(|nbf| nbf.saturating_sub(LEEWAY_S) > expected.now)
        || claims.iat.is_some_and(|iat| iat.saturating_sub(LEEWAY_S) > expected.now)
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    //! Validation against tokens signed by the emulator's RS256 key (ADR 0009: the checks are
    //! hand-written around RustCrypto's RSA; these are the attacks they must stop).
    use super::*;
    use outpost_emulator::jwt::Keys;

    const ISS: &str = "https://login.example/{tenantid}/v2.0";
    const NOW: i64 = 1_800_000_000;

    fn claims() -> serde_json::Value {
        serde_json::json!({
            "iss": "https://login.example/tid-1/v2.0", "aud": "client-1", "exp": NOW + 3600, "nbf": NOW,
            "iat": NOW, "nonce": "n-1", "tid": "tid-1", "oid": "oid-1", "preferred_username": "bob@contoso.test"
        })
    }

    fn jwks() -> Jwks {
        serde_json::from_value(Keys::shared().unwrap().jwks("x")).unwrap()
    }

    fn check(token: &str) -> Result<IdClaims> {
        validate(token, &jwks(), &Expected { client_id: "client-1", issuer: ISS, nonce: Some("n-1"), now: NOW })
    }

    fn signed(c: &serde_json::Value) -> String {
        Keys::shared().unwrap().sign(c)
    }

    fn reason(r: Result<IdClaims>) -> String {
        match r {
            Err(Error::AuthFailed { details }) => details.error,
            other => panic!("expected AuthFailed, got {other:?}"),
        }
    }

    fn b64(v: &serde_json::Value) -> String {
        URL_SAFE_NO_PAD.encode(v.to_string())
    }

    #[test]
    fn a_good_token_passes_and_the_tenant_fills_the_issuer_template() {
        let c = check(&signed(&claims())).unwrap();
        assert_eq!(c.oid.as_deref(), Some("oid-1"));
        assert!(names_a_known_key(&signed(&claims()), &jwks()));
    }

    #[test]
    fn forged_and_confused_tokens_are_refused() {
        let good = signed(&claims());
        let (h, rest) = good.split_once('.').unwrap();
        let (_, sig) = rest.split_once('.').unwrap();
        // Payload changed under the same signature.
        let mut evil = claims();
        evil["oid"] = "someone-else".into();
        assert!(reason(check(&format!("{h}.{}.{sig}", b64(&evil)))).contains("signature"));
        // alg none, and HS256 keyed with the public key (algorithm confusion).
        for alg in ["none", "HS256", "RS512"] {
            let header = b64(&serde_json::json!({"alg": alg, "kid": Keys::shared().unwrap().kid}));
            let t = format!("{header}.{}.{sig}", b64(&claims()));
            assert!(reason(check(&t)).contains("algorithm"), "{alg}");
            let t = format!("{header}.{}.", b64(&claims()));
            assert!(check(&t).is_err(), "{alg} unsigned");
        }
        // A kid the keys lack.
        let header = b64(&serde_json::json!({"alg": "RS256", "kid": "unknown"}));
        let t = format!("{header}.{}.{sig}", b64(&claims()));
        assert!(!names_a_known_key(&t, &jwks()));
        assert!(reason(check(&t)).contains("signature"));
        // Not a JWT at all.
        for t in ["", "a", "a.b", "a.b.c.d", "!!.!!.!!"] {
            assert!(check(t).is_err(), "{t}");
        }
    }

    #[test]
    fn claims_that_do_not_match_are_refused() {
        let cases: Vec<(&str, serde_json::Value, &str)> = vec![
            ("aud", "another-client".into(), "audience"),
            ("nonce", "n-2".into(), "nonce"),
            ("iss", "https://evil.example/tid-1/v2.0".into(), "issuer"),
            ("tid", "tid-2".into(), "issuer"),
            ("exp", (NOW - LEEWAY_S - 1).into(), "expired"),
            ("iat", (NOW + LEEWAY_S + 1).into(), "not yet valid"),
            ("nbf", (NOW + LEEWAY_S + 1).into(), "not yet valid"),
        ];
        for (field, value, why) in cases {
            let mut c = claims();
            c[field] = value;
            assert!(reason(check(&signed(&c))).contains(why), "{field}");
        }
        // Within the leeway: accepted.
        let mut c = claims();
        c["exp"] = (NOW - LEEWAY_S + 1).into();
        c["iat"] = (NOW + LEEWAY_S - 1).into();
        check(&signed(&c)).unwrap();
        // Extreme times neither overflow nor pass.
        let mut c = claims();
        c["exp"] = i64::MIN.into();
        assert!(reason(check(&signed(&c))).contains("expired"));
        let mut c = claims();
        c["iat"] = i64::MAX.into();
        c["exp"] = i64::MAX.into();
        assert!(reason(check(&signed(&c))).contains("not yet valid"));
        // No tid with a template issuer.
        let mut c = claims();
        c.as_object_mut().unwrap().remove("tid");
        assert!(reason(check(&signed(&c))).contains("tid"));
        // An audience array naming the client passes.
        let mut c = claims();
        c["aud"] = serde_json::json!(["other", "client-1"]);
        check(&signed(&c)).unwrap();
    }
}
