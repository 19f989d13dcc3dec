//! RS256 JSON Web Tokens: signing (access and ID tokens) and verification (the Dataverse side), plus the
//! JWKS document.

use std::sync::{Arc, OnceLock};

use rsa::pkcs1v15::{Signature, SigningKey, VerifyingKey};
use rsa::signature::{SignatureEncoding as _, Signer as _, Verifier as _};
use rsa::traits::PublicKeyParts as _;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha1::Digest as _;
use sha2::Sha256;

use crate::codec;

/// The signing key pair and its JWKS identifiers.
pub struct Keys {
    signing: SigningKey<Sha256>,
    verifying: VerifyingKey<Sha256>,
    public: RsaPublicKey,
    /// Key id (`kid`, also `x5t`).
    pub kid: String,
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keys").field("kid", &self.kid).finish_non_exhaustive()
    }
}

static KEYS: OnceLock<Arc<Keys>> = OnceLock::new();
static NEXT_KEYS: OnceLock<Arc<Keys>> = OnceLock::new();

/// Why a token was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwtError {
    /// Not three base64url segments of JSON.
    Malformed,
    /// Wrong algorithm, key id or signature.
    BadSignature,
}

impl Keys {
    /// The process-wide key pair (generated once: 2048-bit RSA generation is slow).
    ///
    /// # Errors
    /// Key generation failure.
    pub fn shared() -> Result<Arc<Keys>, rsa::Error> {
        Self::once(&KEYS)
    }

    /// A second process-wide key pair, the one a key rollover switches to.
    ///
    /// # Errors
    /// Key generation failure.
    pub fn shared_next() -> Result<Arc<Keys>, rsa::Error> {
        Self::once(&NEXT_KEYS)
    }

    fn once(cell: &OnceLock<Arc<Keys>>) -> Result<Arc<Keys>, rsa::Error> {
        if let Some(k) = cell.get() {
            return Ok(k.clone());
        }
        let private = RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048)?;
        let public = private.to_public_key();
        let digest = sha1::Sha1::digest(public.n().to_bytes_be());
        let kid = codec::b64url(&digest);
        let keys = Arc::new(Keys {
            signing: SigningKey::<Sha256>::new(private),
            verifying: VerifyingKey::<Sha256>::new(public.clone()),
            public,
            kid,
        });
        let _ = cell.set(keys.clone());
        Ok(cell.get().cloned().unwrap_or(keys))
    }

    /// Signs claims as a compact JWT.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        let header = serde_json::json!({"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid});
        let mut input = codec::b64url(header.to_string().as_bytes());
        input.push('.');
        input.push_str(&codec::b64url(claims.to_string().as_bytes()));
        let sig = match self.signing.try_sign(input.as_bytes()) {
            Ok(s) => s.to_vec(),
            Err(_) => Vec::new(),
        };
        input.push('.');
        input.push_str(&codec::b64url(&sig));
        input
    }

    /// Verifies the signature and returns the claims (expiry and audience are the caller's job).
    ///
    /// # Errors
    /// [`JwtError`].
    pub fn verify(&self, token: &str) -> Result<serde_json::Value, JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
            return Err(JwtError::Malformed);
        };
        let header: serde_json::Value = serde_json::from_slice(&codec::b64url_decode(h).ok_or(JwtError::Malformed)?)
            .map_err(|_| JwtError::Malformed)?;
        if header.get("alg").and_then(|v| v.as_str()) != Some("RS256")
            || header.get("kid").and_then(|v| v.as_str()) != Some(&self.kid)
        {
            return Err(JwtError::BadSignature);
        }
        let sig_bytes = codec::b64url_decode(s).ok_or(JwtError::Malformed)?;
        let sig = Signature::try_from(sig_bytes.as_slice()).map_err(|_| JwtError::BadSignature)?;
        let signed = &token[..h.len() + 1 + p.len()];
        self.verifying.verify(signed.as_bytes(), &sig).map_err(|_| JwtError::BadSignature)?;
        serde_json::from_slice(&codec::b64url_decode(p).ok_or(JwtError::Malformed)?).map_err(|_| JwtError::Malformed)
    }

    /// The key's JWKS entry.
    fn jwk(&self, issuer: &str) -> serde_json::Value {
        serde_json::json!({
            "kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
            "n": codec::b64url(&self.public.n().to_bytes_be()),
            "e": codec::b64url(&self.public.e().to_bytes_be()),
            "issuer": issuer
        })
    }

    /// The JWKS document of this key alone.
    pub fn jwks(&self, issuer: &str) -> serde_json::Value {
        serde_json::json!({"keys": [self.jwk(issuer)]})
    }
}

/// The identity provider's signing keys: the one it signs with, and the published ones (the
/// JWKS document) it verifies with. A rollover, as Entra does it every few weeks, signs with the
/// other key from then on; both stay published, so tokens signed before still verify.
#[derive(Debug)]
pub struct KeySet {
    current: std::sync::RwLock<Arc<Keys>>,
    published: std::sync::RwLock<Vec<Arc<Keys>>>,
}

impl KeySet {
    /// One key, signing and published.
    #[must_use]
    pub fn new(keys: Arc<Keys>) -> Self {
        KeySet { current: std::sync::RwLock::new(keys.clone()), published: std::sync::RwLock::new(vec![keys]) }
    }

    fn current(&self) -> Arc<Keys> {
        self.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Sign with the current key.
    pub fn sign(&self, claims: &serde_json::Value) -> String {
        self.current().sign(claims)
    }

    /// Verify with whichever published key the token's `kid` names.
    ///
    /// # Errors
    /// [`JwtError`].
    pub fn verify(&self, token: &str) -> Result<serde_json::Value, JwtError> {
        let published = self.published.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut last = JwtError::BadSignature;
        for k in published {
            match k.verify(token) {
                Ok(c) => return Ok(c),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// The JWKS document: every published key, the current one first.
    pub fn jwks(&self, issuer: &str) -> serde_json::Value {
        let current = self.current();
        let published = self.published.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
        let mut keys = vec![current.jwk(issuer)];
        keys.extend(published.iter().filter(|k| k.kid != current.kid).map(|k| k.jwk(issuer)));
        serde_json::json!({ "keys": keys })
    }

    /// Roll the signing key over to `next` (published from now on, the old one stays published).
    /// Returns the new key id.
    pub fn roll_over(&self, next: Arc<Keys>) -> String {
        let kid = next.kid.clone();
        {
            let mut published = self.published.write().unwrap_or_else(std::sync::PoisonError::into_inner);
            if !published.iter().any(|k| k.kid == next.kid) {
                published.push(next.clone());
            }
        }
        *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = next;
        kid
    }

    /// The key id signing now.
    #[must_use]
    pub fn kid(&self) -> String {
        self.current().kid.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_verify() {
        let k = Keys::shared().unwrap();
        let t = k.sign(&serde_json::json!({"a": 1}));
        assert_eq!(k.verify(&t).unwrap()["a"], 1);
        let mut bad = t.clone();
        bad.pop();
        bad.push(if t.ends_with('A') { 'B' } else { 'A' });
        assert!(k.verify(&bad).is_err());
    }
}
