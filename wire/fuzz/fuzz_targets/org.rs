//! An organisation URL. Whatever parses is normalised: it parses to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_wire::org::parse_org_url;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(url) = parse_org_url(text) {
        assert_eq!(parse_org_url(&url).as_deref(), Ok(url.as_str()));
    }
});
