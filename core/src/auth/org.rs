//! Organisation (Dataverse environment) URLs and the scopes requested for them. The parser is
//! `outpost_wire::org` (pure code, property-tested and fuzzed there).

use url::Url;

use crate::error::Result;

/// A validated Dataverse environment URL: `https://{org}.crm….dynamics.com` (any https host),
/// without a trailing slash. The host form the user gave (`org.crm…` or `org.api.crm…`) is kept,
/// since it is also the token audience.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrgUrl(String);

/// Require `https`, or `http` on a loopback host.
pub(crate) fn check_secure(url: &Url, what: &str) -> Result<()> {
    Ok(outpost_wire::org::check_secure(url, what)?)
}

impl OrgUrl {
    /// Validate and normalise.
    ///
    /// # Errors
    /// `InvalidArgument` for anything but an `https` origin (or `http` on loopback) with no
    /// path, query, fragment or credentials.
    pub fn parse(input: &str) -> Result<OrgUrl> {
        Ok(OrgUrl(outpost_wire::org::parse_org_url(input)?))
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
