//! `$filter` text → parser → SQL compiler. Whatever parses must compile, with one `?` per
//! parameter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_wire::{filter, sql};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(f) = filter::parse_filter(text) {
        match sql::compile(&f) {
            Ok(s) => assert_eq!(s.text.matches('?').count(), s.params.len()),
            Err(e) => panic!("a parsed filter did not compile: {e}"),
        }
    }
});
