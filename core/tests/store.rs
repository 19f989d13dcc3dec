//! Store behaviour on real SQLCipher files: records, local edits, query, search.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use common::*;
use outpost_core::{Cursor, Error, Filter, OrderBy, Query, RecordState, Value, Values};

fn setup() -> (tempfile::TempDir, outpost_core::Vault) {
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    vault.store().register_table(&accounts_spec()).unwrap();
    (dir, vault)
}

fn text(s: &str) -> Value {
    Value::text(s)
}

#[test]
fn local_edits_are_read_your_writes_and_survive_a_pull() {
    let (_d, vault) = setup();
    let s = vault.store();
    s.apply_server_rows("accounts", &[account_row(1, "Alpha", "server text")]).unwrap();
    let id = "00000000-0000-4000-8000-000000000001";

    let mut change = Values::new();
    change.insert("name".into(), text("Alpha (edited offline)"));
    s.update("accounts", id, change).unwrap();
    let r = s.get("accounts", id).unwrap().unwrap();
    assert_eq!(r.state, RecordState::Modified);
    assert_eq!(r.values["name"], text("Alpha (edited offline)"));
    assert_eq!(s.pending_count().unwrap(), 1);
    assert_eq!(s.search("accounts", "edited", 10).unwrap().len(), 1);

    // The server changes another column; the pull keeps the local edit on top.
    let mut row = account_row(1, "Alpha", "new server text");
    row.etag = Some("W/\"2000\"".into());
    s.apply_server_rows("accounts", &[row]).unwrap();
    let r = s.get("accounts", id).unwrap().unwrap();
    assert_eq!(r.values["name"], text("Alpha (edited offline)"));
    assert_eq!(r.values["description"], text("new server text"));
    assert_eq!(r.etag.as_deref(), Some("W/\"2000\""));

    // Local create and delete.
    let mut v = Values::new();
    v.insert("name".into(), text("Created offline"));
    let new_id = s.create("accounts", v).unwrap();
    assert_eq!(s.get("accounts", &new_id).unwrap().unwrap().state, RecordState::Created);
    assert_eq!(s.pending_count().unwrap(), 2);
    s.delete("accounts", &new_id).unwrap();
    assert_eq!(s.pending_count().unwrap(), 1, "an unpushed create simply disappears");
    s.delete("accounts", id).unwrap();
    assert!(s.get("accounts", id).unwrap().is_none());
    assert_eq!(s.count("accounts").unwrap(), 0);
    assert_eq!(s.search("accounts", "edited", 10).unwrap().len(), 0);
    assert!(matches!(s.update("accounts", id, Values::new()), Err(Error::NotFound { .. })));
}

#[test]
fn server_delete_of_an_edited_record_keeps_the_edit_as_a_conflict() {
    let (_d, vault) = setup();
    let s = vault.store();
    s.apply_server_rows("accounts", &[account_row(1, "Alpha", "")]).unwrap();
    let id = "00000000-0000-4000-8000-000000000001";
    let mut change = Values::new();
    change.insert("name".into(), text("mine"));
    s.update("accounts", id, change).unwrap();
    s.apply_server_deletes("accounts", &[id.to_uppercase()]).unwrap();
    assert!(s.get("accounts", id).unwrap().is_none());
    assert_eq!(s.conflict_count().unwrap(), 1);
    assert_eq!(s.pending_count().unwrap(), 0);
}

#[test]
fn unknown_table_and_bad_input_are_typed_errors() {
    let (_d, vault) = setup();
    let s = vault.store();
    assert!(matches!(s.get("nope", "x"), Err(Error::InvalidArgument { .. })));
    let q = Query { filter: Some(Filter::Eq("bad\"col".into(), text("x"))), ..Query::default() };
    assert!(matches!(s.query("accounts", &q), Err(Error::InvalidArgument { .. })));
    let q = Query { after: Some(Cursor("not a cursor!".into())), ..Query::default() };
    assert!(matches!(s.query("accounts", &q), Err(Error::InvalidArgument { .. })));
    assert!(matches!(s.search("accounts", "x", 0), Err(Error::InvalidArgument { .. })));
}

#[test]
fn injection_attempts_are_data() {
    let (_d, vault) = setup();
    let s = vault.store();
    s.apply_server_rows(
        "accounts",
        &[account_row(1, "x' OR 1=1 --", "100% _sure_"), account_row(2, "plain", "nothing")],
    )
    .unwrap();
    let q = |f: Filter| s.query("accounts", &Query { filter: Some(f), ..Query::default() }).unwrap().records.len();
    assert_eq!(q(Filter::Eq("name".into(), text("x' OR 1=1 --"))), 1);
    assert_eq!(q(Filter::Eq("name".into(), text("' OR 1=1 --"))), 0);
    assert_eq!(q(Filter::Contains("description".into(), "0% _s".into())), 1);
    assert_eq!(q(Filter::Contains("description".into(), "%".into())), 1);
    assert_eq!(q(Filter::Contains("description".into(), "_".into())), 1);
    assert_eq!(q(Filter::StartsWith("name".into(), "x'".into())), 1);
    assert_eq!(s.search("accounts", "\" OR * NEAR(", 10).unwrap().len(), 0);
    assert_eq!(s.count("accounts").unwrap(), 2, "nothing was dropped");
}

#[test]
fn unicode_case_folding_like_dataverse() {
    let (_d, vault) = setup();
    let s = vault.store();
    s.apply_server_rows("accounts", &[account_row(1, "Straße Ölwerke", "ÉCOLE"), account_row(2, "strasse", "")])
        .unwrap();
    let q = |f: Filter| s.query("accounts", &Query { filter: Some(f), ..Query::default() }).unwrap().records.len();
    assert_eq!(q(Filter::StartsWith("name".into(), "STRASSE".into())), 2);
    assert_eq!(q(Filter::Contains("name".into(), "ölWERKE".into())), 1);
    assert_eq!(q(Filter::Eq("description".into(), text("école"))), 1);
    // FTS removes diacritics: "ecole" finds "ÉCOLE", "olwerk*" finds "Ölwerke".
    assert_eq!(s.search("accounts", "ecole", 10).unwrap().len(), 1);
    assert_eq!(s.search("accounts", "olwerk*", 10).unwrap().len(), 1);
}

#[test]
fn keyset_pages_cover_everything_once_in_order() {
    let (_d, vault) = setup();
    let s = vault.store();
    let rows: Vec<_> = (0..237).map(|i| account_row(i, &format!("Name {:03}", (i * 7) % 50), "")).collect();
    s.apply_server_rows("accounts", &rows).unwrap();
    for descending in [false, true] {
        let order = vec![OrderBy { column: "name".into(), descending }];
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page =
                s.query("accounts", &Query { order_by: order.clone(), limit: 20, after, ..Query::default() }).unwrap();
            assert!(page.records.len() <= 20);
            seen.extend(page.records.into_iter().map(|r| (r.values["name"].clone(), r.id)));
            match page.next {
                Some(c) => after = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 237);
        let mut sorted = seen.clone();
        sorted.sort_by(|a, b| {
            let (Value::Text(x), Value::Text(y)) = (&a.0, &b.0) else { unreachable!() };
            let o = x.cmp(y).then(a.1.cmp(&b.1));
            if descending {
                o.reverse()
            } else {
                o
            }
        });
        assert_eq!(seen, sorted);
    }
}

#[test]
fn search_ranks_and_bounds() {
    let (_d, vault) = setup();
    let s = vault.store();
    let mut rows: Vec<_> = (0..3000).map(|i| account_row(i, &format!("Common Account {i}"), "shared words")).collect();
    rows.push(account_row(5000, "Zymurgy Brewing", "zymurgy zymurgy zymurgy"));
    rows.push(account_row(5001, "Zymurgy Supplies", "tools"));
    s.apply_server_rows("accounts", &rows).unwrap();
    let hits = s.search("accounts", "zymurgy", 10).unwrap();
    assert_eq!(hits.len(), 2);
    assert_eq!(hits[0].record.values["name"], text("Zymurgy Brewing"), "more occurrences rank first");
    assert_eq!(s.search("accounts", "zym*", 10).unwrap().len(), 2);
    assert_eq!(s.search("accounts", "zymurgy tools", 10).unwrap().len(), 1);
    let common = s.search("accounts", "common", 50).unwrap();
    assert_eq!(common.len(), 50);
    // Changing the searchable columns rebuilds the index.
    let mut spec = accounts_spec();
    spec.searchable = vec!["description".into()];
    s.register_table(&spec).unwrap();
    assert_eq!(s.search("accounts", "brewing", 10).unwrap().len(), 0);
    assert_eq!(s.search("accounts", "tools", 10).unwrap().len(), 1);
}

#[test]
fn ordering_by_sortable_and_other_columns_pages_alike() {
    let (_d, vault) = setup();
    let s = vault.store();
    let rows: Vec<_> =
        (0..120).map(|i| account_row(i, &format!("N{:02}", i % 17), &format!("D{:02}", i % 13))).collect();
    s.apply_server_rows("accounts", &rows).unwrap();
    // "name" has an ordering index, "description" does not: same semantics either way.
    for col in ["name", "description"] {
        for descending in [false, true] {
            let order = vec![
                OrderBy { column: col.into(), descending },
                OrderBy { column: "numberofemployees".into(), descending: !descending },
            ];
            let all = s
                .query("accounts", &Query { order_by: order.clone(), limit: 500, ..Query::default() })
                .unwrap()
                .records;
            let mut paged = Vec::new();
            let mut after = None;
            loop {
                let p = s
                    .query("accounts", &Query { order_by: order.clone(), limit: 7, after, ..Query::default() })
                    .unwrap();
                paged.extend(p.records);
                match p.next {
                    Some(c) => after = Some(c),
                    None => break,
                }
            }
            assert_eq!(paged, all, "{col} desc={descending}");
            assert_eq!(all.len(), 120);
        }
    }
    assert!(matches!(
        s.register_table(&outpost_core::TableSpec { sortable: vec!["bad name".into()], ..accounts_spec() }),
        Err(Error::InvalidArgument { .. })
    ));
}
