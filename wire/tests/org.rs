//! Property tests of the org-URL parser: environment URLs in any case and with trailing
//! slashes normalise; the result parses to itself; anything else is `Invalid`, never a panic,
//! and the reason never quotes the input.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use outpost_wire::org::parse_org_url;
use outpost_wire::Error;
use proptest::prelude::*;

/// Every reason the parser gives (none quotes the input).
const REASONS: [&str; 5] = [
    "organisation URL: not a URL",
    "organisation URL: no host",
    "organisation URL: https is required (plain http only for loopback hosts)",
    "organisation URL: must not contain credentials",
    "organisation URL: give the environment URL only, e.g. https://contoso.crm.dynamics.com",
];

fn check(input: &str) -> Result<(), TestCaseError> {
    match parse_org_url(input) {
        Ok(url) => {
            prop_assert!(url.starts_with("https://") || url.starts_with("http://"), "{}", url);
            prop_assert!(!url.ends_with('/'));
            prop_assert_eq!(parse_org_url(&url), Ok(url.clone()), "not idempotent");
        }
        Err(Error::Invalid { reason }) => prop_assert!(REASONS.contains(&reason.as_str()), "{}", reason),
        Err(e) => prop_assert!(false, "{:?}", e),
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn environment_urls_normalise(
        org in "[a-z][a-z0-9-]{0,20}[a-z0-9]",
        region in prop::sample::select(vec!["crm", "crm4", "crm11", "api.crm", "crm.microsoftdynamics.us"]),
        upper in prop::collection::vec(any::<bool>(), 0..40),
        slashes in 0usize..4,
        space in any::<bool>(),
    ) {
        let want = if region.contains("microsoftdynamics") {
            format!("https://{org}.{region}")
        } else {
            format!("https://{org}.{region}.dynamics.com")
        };
        let cased: String = want
            .chars()
            .enumerate()
            .map(|(i, c)| if i > 8 && upper.get(i % 40).copied().unwrap_or(false) { c.to_ascii_uppercase() } else { c })
            .collect();
        let pad = if space { " " } else { "" };
        let input = format!("{pad}{cased}{}{pad}", "/".repeat(slashes));
        prop_assert_eq!(parse_org_url(&input), Ok(want));
    }

    #[test]
    fn loopback_http_keeps_its_port(port in 1u16.., host in prop::sample::select(vec!["127.0.0.1", "localhost", "[::1]", "127.8.9.10"])) {
        // Port 80 is http's default: the URL has none.
        let want = if port == 80 { format!("http://{host}") } else { format!("http://{host}:{port}") };
        prop_assert_eq!(parse_org_url(&format!("http://{host}:{port}/")), Ok(want));
    }

    #[test]
    fn arbitrary_strings_never_panic(input in any::<String>()) {
        check(&input)?;
    }

    /// Near-URLs: the pieces a URL is made of, in any order.
    #[test]
    fn near_urls_are_normalised_or_invalid(pieces in prop::collection::vec(prop::sample::select(vec![
        "https://", "http://", "ftp://", "contoso", ".crm", ".dynamics.com", "localhost", "127.0.0.1", "[::1]", ":",
        "8080", "/", "//", "?", "#", "@", "user", "%41", "xn--", "é", " ", "\t", "..", "[", "]",
    ]), 0..10)) {
        check(&pieces.concat())?;
    }
}
