//! Organisation (Dataverse environment) URLs and the scopes requested for them.

use url::Url;

use crate::error::{Error, Result};

/// A validated Dataverse environment URL: `https://{org}.crm….dynamics.com` (any https host),
/// without a trailing slash. The host form the user gave (`org.crm…` or `org.api.crm…`) is kept,
/// since it is also the token audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUrl(String);

/// Whether `host` is a loopback host, where plain `http` is allowed (emulator, local tests).
pub(crate) fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Require `https`, or `http` on a loopback host.
pub(crate) fn check_secure(url: &Url, what: &str) -> Result<()> {
    let host = url.host().ok_or_else(|| Error::invalid(format!("{what}: no host")))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&host) => Ok(()),
        _ => Err(Error::invalid(format!("{what}: https is required (plain http only for loopback hosts)"))),
    }
}

impl OrgUrl {
    /// Validate and normalise.
    ///
    /// # Errors
    /// `InvalidArgument` for anything but an `https` origin (or `http` on loopback) with no
    /// path, query, fragment or credentials.
    pub fn parse(input: &str) -> Result<OrgUrl> {
        let url = Url::parse(input.trim()).map_err(|_| Error::invalid("organisation URL: not a URL"))?;
        check_secure(&url, "organisation URL")?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(Error::invalid("organisation URL: must not contain credentials"));
        }
        if url.query().is_some() || url.fragment().is_some() || !url.path().trim_matches('/').is_empty() {
            return Err(Error::invalid(
                "organisation URL: give the environment URL only, e.g. https://contoso.crm.dynamics.com",
            ));
        }
        let host = url.host_str().ok_or_else(|| Error::invalid("organisation URL: no host"))?;
        Ok(OrgUrl(match url.port() {
            Some(port) => format!("{}://{host}:{port}", url.scheme()),
            None => format!("{}://{host}", url.scheme()),
        }))
    }

    /// The URL, e.g. `https://contoso.crm.dynamics.com`.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The host, e.g. `contoso.crm.dynamics.com`.
    pub fn host(&self) -> &str {
        self.0.split_once("://").map(|(_, h)| h).unwrap_or(&self.0)
    }

    /// The Web API root, `{org}/api/data/v9.2/`.
    pub fn web_api(&self) -> String {
        format!("{}/api/data/v9.2/", self.0)
    }

    /// The resource scope, `{org}/user_impersonation`.
    pub fn resource_scope(&self) -> String {
        format!("{}/user_impersonation", self.0)
    }

    /// Everything requested at sign-in: `{org}/user_impersonation offline_access openid profile`.
    pub fn scopes(&self) -> Vec<String> {
        vec![self.resource_scope(), "offline_access".into(), "openid".into(), "profile".into()]
    }
}

impl std::fmt::Display for OrgUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_keeps_host_form() {
        let o = OrgUrl::parse("https://Contoso.crm4.dynamics.com///").unwrap();
        assert_eq!(o.as_str(), "https://contoso.crm4.dynamics.com");
        assert_eq!(o.resource_scope(), "https://contoso.crm4.dynamics.com/user_impersonation");
        let api = OrgUrl::parse("https://contoso.api.crm.dynamics.com").unwrap();
        assert_eq!(api.host(), "contoso.api.crm.dynamics.com");
        assert_eq!(
            OrgUrl::parse("https://x.crm.microsoftdynamics.us").unwrap().web_api(),
            "https://x.crm.microsoftdynamics.us/api/data/v9.2/"
        );
        assert_eq!(OrgUrl::parse("http://127.0.0.1:8080/").unwrap().as_str(), "http://127.0.0.1:8080");
        assert_eq!(OrgUrl::parse("http://localhost:1").unwrap().host(), "localhost:1");
        assert_eq!(
            OrgUrl::parse("https://contoso.crm.dynamics.com").unwrap().scopes(),
            vec!["https://contoso.crm.dynamics.com/user_impersonation", "offline_access", "openid", "profile"]
        );
    }

    #[test]
    fn refuses_unsafe_or_odd_urls() {
        for bad in [
            "http://contoso.crm.dynamics.com",
            "contoso.crm.dynamics.com",
            "https://contoso.crm.dynamics.com/api/data/v9.2",
            "https://contoso.crm.dynamics.com?x=1",
            "https://user:pw@contoso.crm.dynamics.com",
            "ftp://contoso.crm.dynamics.com",
            "http://10.0.0.1",
        ] {
            assert!(OrgUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
