//! Organisation (Dataverse environment) URLs: validation and normalisation. `outpost_core::OrgUrl`
//! wraps the result. Pure code; `tests/org.rs` holds its property tests, `fuzz/` its fuzz target.

use url::Url;

use crate::error::{Error, Result};

/// Whether `host` is a loopback host, where plain `http` is allowed (emulator, local tests).
pub fn is_loopback(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Require `https`, or `http` on a loopback host.
///
/// # Errors
/// [`Error::Invalid`] (starting with `what`) for a URL without a host, or with another scheme.
pub fn check_secure(url: &Url, what: &str) -> Result<()> {
    let host = url.host().ok_or_else(|| Error::invalid(format!("{what}: no host")))?;
    match url.scheme() {
        "https" => Ok(()),
        "http" if is_loopback(&host) => Ok(()),
        _ => Err(Error::invalid(format!("{what}: https is required (plain http only for loopback hosts)"))),
    }
}

/// Validate and normalise an environment URL: `https://{org}.crm….dynamics.com` (any https
/// host, or `http` on loopback), returned as `scheme://host[:port]` without a trailing slash,
/// the host lower-cased. The host form the user gave (`org.crm…` or `org.api.crm…`) is kept,
/// since it is also the token audience. Surrounding whitespace is ignored.
///
/// # Errors
/// [`Error::Invalid`] (`outpost_core::Error::InvalidArgument`) for anything but an `https`
/// origin (or `http` on loopback) with no path, query, fragment or credentials. The reason
/// starts with `organisation URL:` and never quotes the input.
pub fn parse_org_url(input: &str) -> Result<String> {
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
    Ok(match url.port() {
        Some(port) => format!("{}://{host}:{port}", url.scheme()),
        None => format!("{}://{host}", url.scheme()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises() {
        assert_eq!(
            parse_org_url(" https://Contoso.crm4.dynamics.com/// ").unwrap(),
            "https://contoso.crm4.dynamics.com"
        );
        assert_eq!(parse_org_url("http://127.0.0.1:8080/").unwrap(), "http://127.0.0.1:8080");
        assert_eq!(parse_org_url("http://[::1]:8080").unwrap(), "http://[::1]:8080");
        assert_eq!(parse_org_url("https://x.example:443").unwrap(), "https://x.example");
    }

    #[test]
    fn refusals_are_invalid_and_never_quote_the_input() {
        for bad in [
            "http://secret.crm.dynamics.com",
            "secret.crm.dynamics.com",
            "https://secret.crm.dynamics.com/api/data/v9.2",
            "https://secret.crm.dynamics.com?x=1",
            "https://user:secret@contoso.crm.dynamics.com",
            "ftp://secret.crm.dynamics.com",
            "http://10.0.0.1",
            "",
        ] {
            match parse_org_url(bad) {
                Err(Error::Invalid { reason }) => {
                    assert!(reason.starts_with("organisation URL: ") && !reason.contains("secret"), "{bad}: {reason}")
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }
}
