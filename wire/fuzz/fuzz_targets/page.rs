//! An OData page body → rows, deletes and links (the shape of a profile's `accounts` table).
#![no_main]

use std::collections::HashSet;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use outpost_wire::page::{parse, Shape};

fn keep() -> &'static HashSet<String> {
    static KEEP: OnceLock<HashSet<String>> = OnceLock::new();
    KEEP.get_or_init(|| {
        ["name", "revenue", "new_foundedon", "_parentaccountid_value", "id"].iter().map(|s| s.to_string()).collect()
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(page) = parse(data, &Shape { primary_id: "accountid", keep: keep() }) {
        for row in &page.rows {
            assert!(row.values.contains_key("accountid"));
        }
    }
});
