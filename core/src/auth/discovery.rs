//! OpenID Connect discovery: `{issuer}/.well-known/openid-configuration`, and the provider's
//! signing keys (JWKS).

use serde::Deserialize;
use url::Url;

use super::http::{describe, error_response, retry_after};
use super::org::check_secure;
use crate::error::{Error, Result};

/// What discovery says about a provider (unknown fields ignored).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct ProviderMetadata {
    /// May be Entra's template `https://…/{tenantid}/v2.0` for `common` / `organizations`.
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    #[serde(default)]
    pub device_authorization_endpoint: Option<Url>,
    pub jwks_uri: Url,
}

/// GET a JSON document; a 4xx with an OAuth error body is classified like a token error.
pub(crate) async fn get_json<T: serde::de::DeserializeOwned>(
    http: &reqwest::Client,
    url: &Url,
    what: &str,
) -> Result<T> {
    let resp = http
        .get(url.clone())
        .header("Accept", "application/json")
        .send()
        .await
        .map_err(|e| Error::Network { reason: format!("{what}: {}", describe(&e)) })?;
    let status = resp.status();
    let retry_after = retry_after(resp.headers());
    let body = resp.bytes().await.map_err(|e| Error::Network { reason: format!("{what}: {}", describe(&e)) })?;
    if status.is_success() {
        return serde_json::from_slice(&body).map_err(|_| Error::auth_failed(format!("{what}: malformed response")));
    }
    Err(error_response(status, retry_after, &body))
}

/// Discover the provider behind `authority` (an issuer URL).
pub(crate) async fn discover(http: &reqwest::Client, authority: &Url) -> Result<ProviderMetadata> {
    check_secure(authority, "authority")?;
    let base = authority.as_str().trim_end_matches('/');
    let url = Url::parse(&format!("{base}/.well-known/openid-configuration"))
        .map_err(|_| Error::invalid("authority: not a URL"))?;
    let meta: ProviderMetadata = get_json(http, &url, "discovery").await?;
    for (endpoint, what) in [
        (&meta.authorization_endpoint, "authorization endpoint"),
        (&meta.token_endpoint, "token endpoint"),
        (&meta.jwks_uri, "JWKS URI"),
    ] {
        check_secure(endpoint, what)?;
    }
    if let Some(d) = &meta.device_authorization_endpoint {
        check_secure(d, "device authorization endpoint")?;
    }
    Ok(meta)
}

/// One RSA signing key from a JWKS document.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Jwks {
    pub keys: Vec<Jwk>,
}
