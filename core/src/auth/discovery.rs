//! OpenID Connect discovery: `{issuer}/.well-known/openid-configuration`, and the provider's
//! signing keys (JWKS).

use serde::{Deserialize, Serialize};
use url::Url;

use super::http::{describe, error_response, retry_after};
use super::org::check_secure;
use crate::error::{Error, Result, ServerDetails};

/// Microsoft's login hosts (the public cloud, US Government, China (21Vianet), the retired German
/// cloud), as MSAL's known-instance list has them. An authority on one of these is Entra's.
const MICROSOFT_LOGIN_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
    "login.microsoftonline.us",
    "login.usgovcloudapi.net",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
    "login.microsoftonline.de",
];

/// Entra's authority without a version, `https://login.microsoftonline.com/{tenant}` (the form
/// MSAL takes and Azure's portal shows), names the **v1** endpoints (`/oauth2/token`, issuer
/// `sts.windows.net`), whose answers differ from the v2.0 ones this client speaks. Like MSAL,
/// turn it into `…/{tenant}/v2.0`. Only on Microsoft's login hosts: another provider's issuer with
/// one path segment (AWS Cognito's `/{pool}`, for one) is left as it is, and a v1 document from
/// anywhere is refused by [`discover`].
/// Whether an authority the org's 401 challenge names may be used without the app having
/// configured one: only on Microsoft's login hosts (MSAL's instance-discovery list), or on
/// loopback (a local emulator on this device). Anything else could send the user's password to
/// whoever answers for the org's host; the app configures such an authority itself.
pub(crate) fn challenge_authority_allowed(authority: &Url) -> bool {
    let host = authority.host_str().unwrap_or_default().to_ascii_lowercase();
    if MICROSOFT_LOGIN_HOSTS.contains(&host.as_str()) {
        return true;
    }
    match authority.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

pub(crate) fn normalise_authority(mut authority: Url) -> Url {
    let host = authority.host_str().unwrap_or_default().to_ascii_lowercase();
    if !MICROSOFT_LOGIN_HOSTS.contains(&host.as_str()) {
        return authority;
    }
    let segments: Vec<String> =
        authority.path_segments().map(|s| s.filter(|s| !s.is_empty()).map(str::to_owned).collect()).unwrap_or_default();
    if let [tenant] = segments.as_slice() {
        authority.set_path(&format!("/{tenant}/v2.0"));
    }
    authority
}

/// Whether a discovery document is Entra's v1 one: issued by `sts.windows.net`, or carrying
/// Entra's `cloud_instance_name` with a token endpoint outside `/v2.0/`.
fn is_entra_v1(meta: &ProviderMetadata) -> bool {
    let issuer_host = Url::parse(&meta.issuer).ok().and_then(|u| u.host_str().map(str::to_ascii_lowercase));
    issuer_host.as_deref() == Some("sts.windows.net")
        || (meta.cloud_instance_name.is_some() && !meta.token_endpoint.path().contains("/v2.0/"))
}

/// What discovery says about a provider (unknown fields ignored).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct ProviderMetadata {
    /// May be Entra's template `https://…/{tenantid}/v2.0` for `common` / `organizations`.
    pub issuer: String,
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    #[serde(default)]
    pub device_authorization_endpoint: Option<Url>,
    pub jwks_uri: Url,
    /// Entra only (`microsoftonline.com`, …): tells Entra's documents from other providers'.
    #[serde(default)]
    pub cloud_instance_name: Option<String>,
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
    if is_entra_v1(&meta) {
        return Err(Error::Configuration {
            code: None,
            details: ServerDetails {
                error: format!(
                    "the authority {base} names Entra's v1 endpoints, which this client does not speak: \
                     enter the v2.0 authority, {base}/v2.0"
                ),
                ..Default::default()
            },
        });
    }
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
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Jwk {
    pub kty: String,
    #[serde(default)]
    pub kid: Option<String>,
    #[serde(default)]
    pub n: Option<String>,
    #[serde(default)]
    pub e: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct Jwks {
    pub keys: Vec<Jwk>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn challenge_authorities_only_on_microsoft_hosts_or_loopback() {
        for ok in [
            "https://login.microsoftonline.com/t/v2.0",
            "https://login.microsoftonline.us/t/v2.0",
            "https://LOGIN.chinacloudapi.cn/t/v2.0",
            "http://127.0.0.1:8080/t/v2.0",
            "http://localhost:1/t/v2.0",
            "http://[::1]:1/t/v2.0",
        ] {
            assert!(challenge_authority_allowed(&Url::parse(ok).unwrap()), "{ok}");
        }
        for bad in [
            "https://login.microsoftonline.com.evil.example/t/v2.0",
            "https://evil.example/t/v2.0",
            "https://10.0.0.1/t/v2.0",
        ] {
            assert!(!challenge_authority_allowed(&Url::parse(bad).unwrap()), "{bad}");
        }
    }

    fn norm(s: &str) -> String {
        normalise_authority(Url::parse(s).unwrap()).to_string()
    }

    #[test]
    fn entra_authorities_without_a_version_become_v2() {
        assert_eq!(
            norm("https://login.microsoftonline.com/contoso.onmicrosoft.com"),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0"
        );
        assert_eq!(
            norm("https://login.microsoftonline.com/organizations/"),
            "https://login.microsoftonline.com/organizations/v2.0"
        );
        assert_eq!(
            norm("https://LOGIN.microsoftonline.us/4a1b2c3d-0000-4000-8000-000000000001"),
            "https://login.microsoftonline.us/4a1b2c3d-0000-4000-8000-000000000001/v2.0"
        );
        assert_eq!(
            norm("https://login.microsoftonline.com/common/v2.0"),
            "https://login.microsoftonline.com/common/v2.0"
        );
        assert_eq!(
            norm("https://login.microsoftonline.com/common/v2.0/"),
            "https://login.microsoftonline.com/common/v2.0/"
        );
    }

    #[test]
    fn other_providers_are_left_alone() {
        assert_eq!(
            norm("https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"),
            "https://cognito-idp.eu-west-1.amazonaws.com/eu-west-1_AbC"
        );
        assert_eq!(norm("https://id.example.com/realms/field"), "https://id.example.com/realms/field");
        assert_eq!(norm("http://127.0.0.1:8080/tenant"), "http://127.0.0.1:8080/tenant");
    }

    fn meta(issuer: &str, token: &str, cloud: Option<&str>) -> ProviderMetadata {
        ProviderMetadata {
            issuer: issuer.into(),
            authorization_endpoint: Url::parse("https://idp.example/authorize").unwrap(),
            token_endpoint: Url::parse(token).unwrap(),
            device_authorization_endpoint: None,
            jwks_uri: Url::parse("https://idp.example/keys").unwrap(),
            cloud_instance_name: cloud.map(str::to_owned),
        }
    }

    #[test]
    fn v1_documents_are_told_from_v2_and_from_other_providers() {
        let t = "https://login.microsoftonline.com/t";
        assert!(is_entra_v1(&meta(
            "https://sts.windows.net/t/",
            &format!("{t}/oauth2/token"),
            Some("microsoftonline.com")
        )));
        assert!(is_entra_v1(&meta(
            "https://idp.example/t/",
            "http://127.0.0.1:1/t/oauth2/token",
            Some("microsoftonline.com")
        )));
        assert!(!is_entra_v1(&meta(
            &format!("{t}/v2.0"),
            &format!("{t}/oauth2/v2.0/token"),
            Some("microsoftonline.com")
        )));
        // Cognito: one path segment and `/oauth2/token`, but not Entra
        assert!(!is_entra_v1(&meta(
            "https://cognito-idp.eu-west-1.amazonaws.com/p",
            "https://x.auth.eu-west-1.amazoncognito.com/oauth2/token",
            None
        )));
    }
}
