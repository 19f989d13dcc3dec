//! The wire contract Outpost's sync client relies on, over real HTTP: conditional upserts, updates and deletes
//! with `return=representation` and `$select`, `$batch` parts that carry their own status, ETag and body,
//! changesets with Content-ID binds and rollback, what the request log records for `$batch`, the two 429s,
//! and the `annotations_drop_delta_link` reproduction switch.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use std::collections::BTreeSet;

use common::*;
use outpost_emulator::{EmulatorConfig, EmulatorHandle};
use reqwest::Method;
use serde_json::{json, Value};

const MISSING_ACCOUNT: &str = "5a0c9e1d-7b2f-4c3a-9d8e-0f1a2b3c4d5e";

async fn first_ids(h: &EmulatorHandle, set: &str, n: usize) -> Vec<String> {
    let ids = control(h, Method::GET, &format!("/tables/{set}/ids?limit={n}"), Value::Null).await;
    ids["ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_owned()).collect()
}

fn keys(v: &Value) -> BTreeSet<String> {
    v.as_object().unwrap().keys().cloned().collect()
}

fn set_of(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| (*s).to_owned()).collect()
}

async fn etag_of(h: &EmulatorHandle, t: &str, rel: &str) -> String {
    let (s, headers, _) = get_json(t, &api(h, rel), None).await;
    assert_eq!(s, 200);
    headers["etag"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn upsert_with_if_none_match_creates_once() {
    let h = small();
    h.update_settings(|s| s.noise = false);
    let t = bob_token(&h).await;
    let url = api(&h, &format!("accounts({MISSING_ACCOUNT})?$select=name,telephone1"));
    let headers = [("If-None-Match", "*"), ("Prefer", "return=representation")];
    let body = json!({"name": "Insert Only", "telephone1": "555-0199", "accountnumber": "IO-1"});
    let (s, hd, row) = send(&t, Method::PATCH, &url, Some(body.clone()), &headers).await;
    assert_eq!(s, 201, "{row}");
    let etag = hd["etag"].to_str().unwrap();
    assert!(etag.starts_with("W/\""), "{etag}");
    assert_eq!(row["@odata.etag"], etag);
    assert_eq!(row["accountid"], MISSING_ACCOUNT);
    assert_eq!((row["name"].as_str(), row["telephone1"].as_str()), (Some("Insert Only"), Some("555-0199")));
    assert_eq!(keys(&row), set_of(&["@odata.context", "@odata.etag", "name", "telephone1", "accountid"]));
    assert!(row["@odata.context"].as_str().unwrap().ends_with("$metadata#accounts(name,telephone1)/$entity"));
    assert_eq!(hd["preference-applied"], "return=representation");
    // the same insert again: the row exists now
    let (s, _, e) = send(&t, Method::PATCH, &url, Some(body), &headers).await;
    assert_eq!(s, 412);
    assert_eq!(e["error"]["code"], "0x80040237");
    assert_eq!(e["error"]["message"], "A record with matching key values already exists.");
    // nothing changed by the refused insert
    assert_eq!(etag_of(&h, &t, &format!("accounts({MISSING_ACCOUNT})?$select=name")).await, etag);
}

#[tokio::test]
async fn update_with_if_match_returns_selected_row_or_412() {
    let h = small();
    h.update_settings(|s| s.noise = false);
    let t = bob_token(&h).await;
    let id = first_ids(&h, "contacts", 1).await.remove(0);
    let etag = etag_of(&h, &t, &format!("contacts({id})?$select=lastname")).await;
    let url = api(&h, &format!("contacts({id})?$select=jobtitle,lastname"));
    let (s, hd, row) = send(
        &t,
        Method::PATCH,
        &url,
        Some(json!({"jobtitle": "Buyer"})),
        &[("If-Match", &etag), ("Prefer", "return=representation")],
    )
    .await;
    assert_eq!(s, 200, "{row}");
    let new_etag = hd["etag"].to_str().unwrap();
    assert_ne!(new_etag, etag);
    assert_eq!(row["@odata.etag"], new_etag);
    assert_eq!(row["jobtitle"], "Buyer");
    assert_eq!(keys(&row), set_of(&["@odata.context", "@odata.etag", "jobtitle", "lastname", "contactid"]));
    // the old etag no longer matches
    let (s, _, e) = send(
        &t,
        Method::PATCH,
        &url,
        Some(json!({"jobtitle": "Lost update"})),
        &[("If-Match", &etag), ("Prefer", "return=representation")],
    )
    .await;
    assert_eq!(s, 412);
    assert_eq!(e["error"]["code"], "0x80060882");
    let (_, _, row) = get_json(&t, &api(&h, &format!("contacts({id})?$select=jobtitle")), None).await;
    assert_eq!(row["jobtitle"], "Buyer");
}

#[tokio::test]
async fn delete_with_if_match() {
    let h = small();
    let t = bob_token(&h).await;
    let id = first_ids(&h, "tasks", 1).await.remove(0);
    let url = api(&h, &format!("tasks({id})"));
    let etag = etag_of(&h, &t, &format!("tasks({id})?$select=subject")).await;
    let stale = format!("W/\"{}\"", etag.trim_start_matches("W/\"").trim_end_matches('"').parse::<u64>().unwrap() + 1);
    let (s, _, e) = send(&t, Method::DELETE, &url, None, &[("If-Match", &stale)]).await;
    assert_eq!(s, 412, "{e}");
    assert_eq!(e["error"]["code"], "0x80060882");
    let (s, _, _) = send(&t, Method::DELETE, &url, None, &[("If-Match", &etag)]).await;
    assert_eq!(s, 204);
    let (s, _, e) = send(&t, Method::DELETE, &url, None, &[("If-Match", &etag)]).await;
    assert_eq!(s, 404);
    assert_eq!(e["error"]["code"], "0x80040217");
}

/// One answered operation of a `$batch` response.
#[derive(Debug)]
struct Part {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
    content_id: Option<String>,
}

impl Part {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

fn boundary_of(content_type: &str) -> String {
    content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary=")).unwrap().trim_matches('"').to_owned()
}

fn split_head(s: &str) -> (&str, &str) {
    let i = s.find("\r\n\r\n").unwrap();
    (&s[..i], &s[i + 4..])
}

fn header_lines(head: &str) -> Vec<(String, String)> {
    head.lines().filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))).collect()
}

/// Flattens a multipart/mixed batch response (changesets included) into its answered operations.
fn parse_batch(content_type: &str, text: &str) -> Vec<Part> {
    let delim = format!("--{}", boundary_of(content_type));
    let mut out = Vec::new();
    for chunk in text.split(&delim).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let (head, rest) = split_head(chunk.trim_start_matches("\r\n"));
        let outer = header_lines(head);
        let ct = outer.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.as_str());
        if let Some(ct) = ct.filter(|c| c.starts_with("multipart/mixed")) {
            out.extend(parse_batch(ct, rest));
            continue;
        }
        let content_id = outer.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-id")).map(|(_, v)| v.clone());
        let (inner_head, body) = split_head(rest);
        let mut lines = inner_head.lines();
        let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
        let headers = header_lines(&lines.collect::<Vec<_>>().join("\n"));
        let body = body.trim();
        let body = if body.is_empty() { Value::Null } else { serde_json::from_str(body).unwrap() };
        out.push(Part { status, headers, body, content_id });
    }
    out
}

/// One `application/http` operation (without its boundary line).
fn op(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&Value>, content_id: Option<&str>) -> String {
    let mut s = String::from("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = content_id {
        s.push_str(&format!("Content-ID: {id}\r\n"));
    }
    s.push_str(&format!("\r\n{method} {url} HTTP/1.1\r\nAccept: application/json\r\n"));
    if body.is_some() {
        s.push_str("Content-Type: application/json; type=entry\r\n");
    }
    for (k, v) in headers {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    if let Some(b) = body {
        s.push_str(&b.to_string());
    }
    s.push_str("\r\n");
    s
}

fn single(op: &str) -> String {
    format!("--batch_S\r\n{op}")
}

fn changeset(ops: &[String]) -> String {
    let mut s = String::from("--batch_S\r\nContent-Type: multipart/mixed; boundary=changeset_C\r\n\r\n");
    for o in ops {
        s.push_str(&format!("--changeset_C\r\n{o}"));
    }
    s.push_str("--changeset_C--\r\n");
    s
}

async fn post_batch(h: &EmulatorHandle, t: &str, items: &[String], prefer: Option<&str>) -> (u16, String, Vec<Part>) {
    let body = format!("{}--batch_S--\r\n", items.concat());
    let mut rb = client()
        .post(api(h, "$batch"))
        .bearer_auth(t)
        .header("OData-Version", "4.0")
        .header("Content-Type", "multipart/mixed; boundary=batch_S")
        .body(body);
    if let Some(p) = prefer {
        rb = rb.header("Prefer", p);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let applied = r.headers().get("preference-applied").map_or(String::new(), |v| v.to_str().unwrap().to_owned());
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    let text = r.text().await.unwrap();
    (status, applied, parse_batch(&ct, &text))
}

#[tokio::test]
async fn batch_continue_on_error_answers_each_upsert_with_status_etag_and_body() {
    let h = small();
    let t = bob_token(&h).await;
    let ids = first_ids(&h, "accounts", 2).await;
    let etag = etag_of(&h, &t, &format!("accounts({})?$select=name", ids[0])).await;
    let repr = ("Prefer", "return=representation");
    let items = [
        // insert-only upsert of a new row (absolute URL)
        single(&op(
            "PATCH",
            &api(&h, &format!("accounts({MISSING_ACCOUNT})?$select=name,telephone1")),
            &[("If-None-Match", "*"), repr],
            Some(&json!({"name": "Batch Insert", "telephone1": "555-0142"})),
            None,
        )),
        // insert-only upsert of an existing row
        single(&op(
            "PATCH",
            &format!("/api/data/v9.2/accounts({})?$select=name", ids[1]),
            &[("If-None-Match", "*"), repr],
            Some(&json!({"name": "Must not win"})),
            None,
        )),
        // update with the current etag (relative URL without the /api/data prefix)
        single(&op(
            "PATCH",
            &format!("accounts({})?$select=name", ids[0]),
            &[("If-Match", &etag), repr],
            Some(&json!({"name": "Batch Update"})),
            Some("u1"),
        )),
        // the same etag again: stale now
        single(&op(
            "PATCH",
            &format!("/api/data/v9.2/accounts({})?$select=name", ids[0]),
            &[("If-Match", &etag), repr],
            Some(&json!({"name": "Lost update"})),
            None,
        )),
        single(&op("DELETE", &format!("/api/data/v9.2/accounts({MISSING_ACCOUNT})"), &[("If-Match", "*")], None, None)),
    ];
    let (s, applied, parts) = post_batch(&h, &t, &items, Some("odata.continue-on-error")).await;
    assert_eq!(s, 200);
    assert_eq!(applied, "odata.continue-on-error");
    let statuses: Vec<u16> = parts.iter().map(|p| p.status).collect();
    assert_eq!(statuses, [201, 412, 200, 412, 204], "{parts:#?}");
    let created = &parts[0];
    let etag0 = created.header("ETag").unwrap();
    assert_eq!(created.body["@odata.etag"], etag0);
    assert_eq!(created.body["accountid"], MISSING_ACCOUNT);
    assert_eq!(created.body["name"], "Batch Insert");
    assert_eq!(created.body["telephone1"], "555-0142");
    assert!(created.body.get("revenue").is_none(), "only selected columns: {}", created.body);
    assert_eq!(parts[1].body["error"]["code"], "0x80040237");
    assert_eq!(parts[1].body["error"]["message"], "A record with matching key values already exists.");
    assert!(parts[1].header("ETag").is_none());
    let updated = &parts[2];
    // outside a changeset the Content-ID is not echoed (default `echo_content_id_outside_changesets`)
    assert_eq!(updated.content_id, None);
    assert_ne!(updated.header("ETag").unwrap(), etag);
    assert_eq!(updated.body["@odata.etag"], updated.header("ETag").unwrap());
    assert_eq!(updated.body["name"], "Batch Update");
    assert!(updated.body.get("telephone1").is_none());
    assert_eq!(parts[3].body["error"]["code"], "0x80060882");
    // the delete ran after the insert, so the row existed
    assert_eq!(parts[4].body, Value::Null);
    let (s, _, _) = get_json(&t, &api(&h, &format!("accounts({MISSING_ACCOUNT})")), None).await;
    assert_eq!(s, 404);
    let (_, _, row) = get_json(&t, &api(&h, &format!("accounts({})?$select=name", ids[1])), None).await;
    assert_ne!(row["name"], "Must not win");
}

#[tokio::test]
async fn batch_changeset_binds_content_id_and_rolls_back_as_unit() {
    let h = small();
    let t = bob_token(&h).await;
    let parent = "6b1d0f2e-8c3a-4d4b-9e9f-1a2b3c4d5e6f";
    let child = "7c2e1a3f-9d4b-4e5c-8f0a-2b3c4d5e6f70";
    let repr = ("Prefer", "return=representation");
    let ok = changeset(&[
        op(
            "PATCH",
            &format!("/api/data/v9.2/accounts({parent})?$select=name"),
            &[("If-None-Match", "*"), repr],
            Some(&json!({"name": "Parent Co"})),
            Some("1"),
        ),
        op(
            "PATCH",
            &format!("/api/data/v9.2/contacts({child})?$select=lastname,_parentcustomerid_value"),
            &[("If-None-Match", "*"), repr],
            Some(&json!({"lastname": "Child", "parentcustomerid_account@odata.bind": "$1"})),
            Some("2"),
        ),
    ]);
    let (s, _, parts) = post_batch(&h, &t, &[ok], None).await;
    assert_eq!(s, 200, "{parts:#?}");
    assert_eq!(parts.iter().map(|p| p.status).collect::<Vec<_>>(), [201, 201]);
    assert_eq!(parts[0].content_id.as_deref(), Some("1"));
    assert_eq!(parts[1].body["_parentcustomerid_value"], parent);
    assert!(parts.iter().all(|p| p.header("ETag").is_some_and(|e| p.body["@odata.etag"] == e)));
    // a changeset whose second member fails is rolled back as a unit
    let tasks_before = h.row_count("tasks").unwrap();
    let accounts_before = h.row_count("accounts").unwrap();
    let bad = changeset(&[
        op(
            "PATCH",
            &format!("/api/data/v9.2/accounts({parent})"),
            &[("If-Match", "*")],
            Some(&json!({"name": "Renamed in a failed changeset"})),
            Some("1"),
        ),
        op("POST", "/api/data/v9.2/accounts", &[], Some(&json!({"name": "Rolled back"})), Some("2")),
        op(
            "PATCH",
            &format!("/api/data/v9.2/contacts({child})"),
            &[("If-None-Match", "*")],
            Some(&json!({"lastname": "Duplicate"})),
            Some("3"),
        ),
    ]);
    let after = single(&op("POST", "/api/data/v9.2/tasks", &[], Some(&json!({"subject": "after"})), None));
    let (s, _, parts) = post_batch(&h, &t, &[bad.clone(), after.clone()], Some("odata.continue-on-error")).await;
    assert_eq!(s, 200);
    assert_eq!(parts.len(), 2, "the failed changeset is answered by one part: {parts:#?}");
    assert_eq!((parts[0].status, parts[0].content_id.as_deref()), (412, Some("3")));
    assert_eq!(parts[0].body["error"]["code"], "0x80040237");
    assert_eq!(parts[1].status, 204);
    assert_eq!(h.row_count("accounts").unwrap(), accounts_before, "the POST was rolled back");
    assert_eq!(h.row_count("tasks").unwrap(), tasks_before + 1, "the part after the changeset ran");
    let (_, _, row) = get_json(&t, &api(&h, &format!("accounts({parent})?$select=name")), None).await;
    assert_eq!(row["name"], "Parent Co", "the update was rolled back");
    // without continue-on-error: 400 for the batch, only the failing response, nothing after it runs
    let (s, _, parts) = post_batch(&h, &t, &[bad, after], None).await;
    assert_eq!(s, 400);
    assert_eq!(parts.iter().map(|p| p.status).collect::<Vec<_>>(), [412]);
    assert_eq!(h.row_count("tasks").unwrap(), tasks_before + 1);
}

#[tokio::test]
async fn request_log_records_a_batch_as_one_entry_with_its_part_count() {
    let h = small();
    let t = bob_token(&h).await;
    let items = [
        single(&op("GET", "/api/data/v9.2/WhoAmI", &[], None, None)),
        changeset(&[
            op("POST", "/api/data/v9.2/tasks", &[], Some(&json!({"subject": "a"})), Some("1")),
            op("POST", "/api/data/v9.2/tasks", &[], Some(&json!({"subject": "b"})), Some("2")),
        ]),
    ];
    let (s, _, parts) = post_batch(&h, &t, &items, None).await;
    assert_eq!((s, parts.len()), (200, 3));
    let log = control(&h, Method::GET, "/requests?path_contains=/api/data/", Value::Null).await;
    let entries = log["requests"].as_array().unwrap();
    assert_eq!(entries.len(), 1, "inner parts are not logged as requests: {entries:?}");
    assert_eq!(entries[0]["path"], "/api/data/v9.2/$batch");
    assert_eq!(entries[0]["method"], "POST");
    assert_eq!(entries[0]["inner_parts"], 3);
    let rust_log = h.requests();
    let batch = rust_log.iter().find(|e| e.path.ends_with("$batch")).unwrap();
    assert_eq!(batch.inner_parts, 3);
    assert!(rust_log.iter().filter(|e| !e.path.ends_with("$batch")).all(|e| e.inner_parts == 0));
}

#[tokio::test]
async fn both_429s_carry_retry_after_and_the_log_records_arrival() {
    let mut cfg = EmulatorConfig::default().with_rows(5, 5, 5);
    cfg.settings.concurrency_limit = 1;
    cfg.settings.concurrency_retry_after_secs = 3;
    let h = start(cfg);
    let t = bob_token(&h).await;
    // concurrency: a slow request holds the only slot
    h.inject_fault(outpost_emulator::Fault {
        path_contains: Some("/accounts".into()),
        delay_ms: Some(800),
        ..Default::default()
    });
    let slow = tokio::spawn({
        let (u, t) = (api(&h, "accounts?$top=1"), t.clone());
        async move { get_json(&t, &u, None).await.0 }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (s, headers, e) = get_json(&t, &api(&h, "WhoAmI"), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (429, Some("0x80072326")));
    assert_eq!(headers["retry-after"], "3");
    assert_eq!(slow.await.unwrap(), 200);
    // the log is written at completion but records arrival: the slow request arrived first, finished last
    let log = h.requests();
    let slow_entry = log.iter().find(|e| e.path.contains("/accounts")).unwrap();
    let rejected = log.iter().find(|e| e.status == 429).unwrap();
    assert!(slow_entry.seq > rejected.seq, "logged after the 429");
    assert!(slow_entry.at_unix_ms + 250 <= rejected.at_unix_ms, "{} vs {}", slow_entry.at_unix_ms, rejected.at_unix_ms);
    assert!(slow_entry.duration_ms >= 800);
    // request count
    h.update_settings(|s| {
        s.concurrency_limit = 52;
        s.requests_per_window = 2;
        s.window_secs = 4;
    });
    let mut last = (0, reqwest::header::HeaderMap::new(), Value::Null);
    for _ in 0..3 {
        last = get_json(&t, &api(&h, "WhoAmI"), None).await;
    }
    let (s, headers, e) = last;
    assert_eq!((s, e["error"]["code"].as_str()), (429, Some("0x80072322")));
    let retry: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=4).contains(&retry), "{retry}");
}

/// Follows a change-tracking read to its last page; returns (pages, last page, every Preference-Applied).
async fn last_page(t: &str, url: &str, prefer: &str) -> (usize, Value, Vec<String>) {
    let mut url = url.to_owned();
    let mut pages = 0;
    let mut applied = Vec::new();
    loop {
        let (s, headers, b) = get_json(t, &url, Some(prefer)).await;
        assert_eq!(s, 200, "{b}");
        pages += 1;
        applied.push(headers.get("preference-applied").map_or(String::new(), |v| v.to_str().unwrap().to_owned()));
        match b.get("@odata.nextLink").and_then(Value::as_str) {
            Some(n) => url = n.to_owned(),
            None => return (pages, b, applied),
        }
    }
}

#[tokio::test]
async fn annotations_drop_delta_link_reproduction() {
    let h = small();
    let t = bob_token(&h).await;
    let url = api(&h, "accounts?$select=name,_ownerid_value");
    let plain = "odata.track-changes,odata.maxpagesize=15";
    let annotated = "odata.track-changes,odata.maxpagesize=15,odata.include-annotations=\"OData.Community.Display.V1.FormattedValue\"";
    // off (default): the last page has the deltaLink with or without annotations
    assert!(!h.settings().annotations_drop_delta_link);
    let (_, page, _) = last_page(&t, &url, annotated).await;
    assert!(page["@odata.deltaLink"].is_string());
    // on through the control API
    let s = control(&h, Method::POST, "/settings", json!({"annotations_drop_delta_link": true})).await;
    assert_eq!(s["annotations_drop_delta_link"], true);
    assert!(h.settings().annotations_drop_delta_link);
    let (pages, page, applied) = last_page(&t, &url, annotated).await;
    assert_eq!(pages, 3);
    assert!(page.get("@odata.deltaLink").is_none() && page.get("@odata.nextLink").is_none(), "{page}");
    assert_eq!(page["value"].as_array().unwrap().len(), 10, "the rows are still there");
    assert!(page["value"][0]["_ownerid_value@OData.Community.Display.V1.FormattedValue"].is_string());
    assert!(applied.iter().all(|a| a.contains("odata.track-changes")), "{applied:?}");
    // without annotations (or excluding them all) the link stays
    let (_, page, _) = last_page(&t, &url, plain).await;
    let delta = page["@odata.deltaLink"].as_str().unwrap().to_owned();
    let (_, page, _) = last_page(&t, &url, &format!("{plain},odata.include-annotations=\"-*\"")).await;
    assert!(page["@odata.deltaLink"].is_string());
    // a delta request asking for annotations loses it too
    let (s, _, b) = get_json(&t, &delta, Some("odata.include-annotations=\"*\"")).await;
    assert_eq!(s, 200);
    assert!(b["value"].is_array() && b.get("@odata.deltaLink").is_none(), "{b}");
    let (_, _, b) = get_json(&t, &delta, None).await;
    assert!(b["@odata.deltaLink"].is_string());
    // off again from Rust
    h.update_settings(|s| s.annotations_drop_delta_link = false);
    let (_, _, b) = get_json(&t, &delta, Some("odata.include-annotations=\"*\"")).await;
    assert!(b["@odata.deltaLink"].is_string());
}
