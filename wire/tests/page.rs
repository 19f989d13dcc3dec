//! Property tests of the OData page parser: generated pages parse back to the rows, deletes and
//! links they were written from; arbitrary and damaged bodies give a `PageError`, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::collections::{BTreeMap, HashSet};

use outpost_wire::page::{parse, Page, PageError, Shape};
use outpost_wire::value::{value_json, Value, Values};
use proptest::prelude::*;

const PRIMARY_ID: &str = "accountid";

fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

/// A value as Dataverse sends it and as the parser keeps it (a decimal has a point or an
/// exponent, else it would be an integer).
fn value() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        "-?(0|[1-9][0-9]{0,25})\\.[0-9]{1,10}".prop_map(Value::Decimal),
        "-?[1-9][0-9]{0,5}[eE][+-]?[0-9]{1,3}".prop_map(Value::Decimal),
        "[1-9][0-9]{19,30}".prop_map(Value::Decimal),
        any::<String>().prop_map(Value::Text),
    ]
}

#[derive(Debug, Clone)]
struct Row {
    id: String,
    etag: Option<String>,
    kept: BTreeMap<String, Value>,
    skipped: BTreeMap<String, Value>,
}

fn row() -> impl Strategy<Value = Row> {
    (
        "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
        prop::option::of("W/\"[0-9]{1,8}\""),
        prop::collection::btree_map("k[a-z]{0,5}", value(), 0..5),
        prop::collection::btree_map("s[a-z]{0,5}", value(), 0..3),
    )
        .prop_map(|(id, etag, kept, skipped)| Row { id, etag, kept, skipped })
}

#[derive(Debug, Clone)]
enum Entry {
    Row(Row),
    Deleted(String),
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![4 => row().prop_map(Entry::Row), 1 => "[0-9a-f-]{36}".prop_map(Entry::Deleted)]
}

/// Write the page as the Web API would (keys in any order the map gives, annotations around).
fn body(entries: &[Entry], next: &Option<String>, delta: &Option<String>) -> String {
    let mut rows = Vec::new();
    for e in entries {
        match e {
            Entry::Row(r) => {
                let mut fields = Vec::new();
                if let Some(etag) = &r.etag {
                    fields.push(format!("\"@odata.etag\":{}", json_string(etag)));
                }
                for (k, v) in r.kept.iter().chain(&r.skipped) {
                    fields.push(format!("{}:{}", json_string(k), value_json(v)));
                }
                fields.push(format!("\"{PRIMARY_ID}\":{}", json_string(&r.id)));
                fields.push("\"x@OData.Community.Display.V1.FormattedValue\":\"f\"".into());
                rows.push(format!("{{{}}}", fields.join(",")));
            }
            Entry::Deleted(id) => rows.push(format!(
                "{{\"@odata.context\":\"https://org/api/data/v9.2/$metadata#accounts/$deletedEntity\",\"id\":{},\"reason\":\"deleted\"}}",
                json_string(id)
            )),
        }
    }
    let mut out =
        format!("{{\"@odata.context\":\"https://org/api/data/v9.2/$metadata#accounts\",\"value\":[{}]", rows.join(","));
    if let Some(n) = next {
        out.push_str(&format!(",\"@odata.nextLink\":{}", json_string(n)));
    }
    if let Some(d) = delta {
        out.push_str(&format!(",\"@odata.deltaLink\":{}", json_string(d)));
    }
    out.push('}');
    out
}

fn keep_of(entries: &[Entry]) -> HashSet<String> {
    entries
        .iter()
        .filter_map(|e| match e {
            Entry::Row(r) => Some(r.kept.keys().cloned()),
            Entry::Deleted(_) => None,
        })
        .flatten()
        .collect()
}

fn expected(entries: &[Entry], next: Option<String>, delta: Option<String>, keep: &HashSet<String>) -> Page {
    let mut page = Page { next_link: next, delta_link: delta, ..Page::default() };
    for e in entries {
        match e {
            Entry::Row(r) => {
                let mut values: Values = r.kept.clone();
                // A column kept for another row is kept for this one too.
                values.extend(r.skipped.iter().filter(|(k, _)| keep.contains(*k)).map(|(k, v)| (k.clone(), v.clone())));
                values.insert(PRIMARY_ID.into(), Value::Text(r.id.to_ascii_lowercase()));
                page.rows.push(outpost_wire::page::ServerRow { id: r.id.clone(), values, etag: r.etag.clone() });
            }
            Entry::Deleted(id) => page.deleted.push(id.clone()),
        }
    }
    page
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn written_pages_parse_back(
        entries in prop::collection::vec(entry(), 0..6),
        next in prop::option::of("https://org/api/data/v9\\.2/accounts\\?\\$skiptoken=[a-zA-Z0-9%]{1,20}"),
        delta in prop::option::of("https://org/api/data/v9\\.2/accounts\\?\\$deltatoken=[0-9]{1,6}%21[0-9]{2}"),
    ) {
        let text = body(&entries, &next, &delta);
        let keep = keep_of(&entries);
        let page = parse(text.as_bytes(), &Shape { primary_id: PRIMARY_ID, keep: &keep });
        prop_assert_eq!(page, Ok(expected(&entries, next, delta, &keep)));
    }

    #[test]
    fn every_prefix_of_a_page_is_an_error(entries in prop::collection::vec(entry(), 0..4), cut in any::<prop::sample::Index>()) {
        let text = body(&entries, &None, &None);
        let keep = keep_of(&entries);
        let cut = cut.index(text.len());
        let r = parse(&text.as_bytes()[..cut], &Shape { primary_id: PRIMARY_ID, keep: &keep });
        prop_assert!(r.is_err(), "{:?}", &text[..cut]);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let keep: HashSet<String> = ["name".to_string()].into();
        let _: Result<Page, PageError> = parse(&bytes, &Shape { primary_id: PRIMARY_ID, keep: &keep });
    }

    /// Damaged pages (a byte replaced by a JSON-significant one) parse or give a typed error
    /// whose message quotes nothing from the body.
    #[test]
    fn damaged_pages_give_typed_errors(
        entries in prop::collection::vec(entry(), 1..4),
        at in any::<prop::sample::Index>(),
        b in prop::sample::select(b"{}[]\":,\\0en-".to_vec()),
    ) {
        let mut bytes = body(&entries, &None, &None).into_bytes();
        let i = at.index(bytes.len());
        bytes[i] = b;
        let keep = keep_of(&entries);
        if let Err(e) = parse(&bytes, &Shape { primary_id: PRIMARY_ID, keep: &keep }) {
            prop_assert!(e.to_string().starts_with("malformed page: "));
        }
    }
}
