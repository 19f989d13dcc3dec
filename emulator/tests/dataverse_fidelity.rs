//! What a sync client must survive, over real HTTP: lost acknowledgements (a write applied, its answer
//! never delivered, also for `$batch` and mid-batch), create counting and server-side deletes for
//! invariant checks, a bind to a missing record, duplicate creates, exact money and decimals, and
//! Content-ID outside changesets.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use outpost_emulator::{EmulatorHandle, Fault};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const EXACT: &str = "98765432109876.1234";

/// A Web API request with a raw body text (numbers stay as written); returns (status, headers, text).
async fn raw(
    token: &str,
    method: reqwest::Method,
    url: &str,
    body: Option<&str>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let mut rb = client().request(method, url).bearer_auth(token).header("OData-Version", "4.0");
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.header("Content-Type", "application/json").body(b.to_owned());
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    let h = r.headers().clone();
    (s, h, r.text().await.unwrap())
}

fn part(method: &str, url: &str, body: Option<&str>, content_id: Option<&str>, prefer: Option<&str>) -> String {
    let mut s = String::from("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = content_id {
        s.push_str(&format!("Content-ID: {id}\r\n"));
    }
    s.push_str(&format!("\r\n{method} {url} HTTP/1.1\r\nAccept: application/json\r\n"));
    if let Some(p) = prefer {
        s.push_str(&format!("Prefer: {p}\r\n"));
    }
    match body {
        Some(b) => s.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{b}\r\n", b.len())),
        None => s.push_str("\r\n\r\n"),
    }
    s
}

fn single(p: String) -> String {
    format!("--batch_F\r\n{p}")
}

fn changeset(parts: &[String]) -> String {
    let mut s = String::from("--batch_F\r\nContent-Type: multipart/mixed; boundary=changeset_F\r\n\r\n");
    for p in parts {
        s.push_str(&format!("--changeset_F\r\n{p}"));
    }
    s.push_str("--changeset_F--\r\n");
    s
}

fn batch_request(h: &EmulatorHandle, token: &str, items: &[String], prefer: Option<&str>) -> reqwest::RequestBuilder {
    let body = format!("{}--batch_F--\r\n", items.concat());
    let mut rb = client()
        .post(api(h, "$batch"))
        .bearer_auth(token)
        .header("Content-Type", "multipart/mixed; boundary=\"batch_F\"")
        .body(body);
    if let Some(p) = prefer {
        rb = rb.header("Prefer", p);
    }
    rb
}

async fn batch(h: &EmulatorHandle, token: &str, items: &[String], prefer: Option<&str>) -> (u16, String) {
    let r = batch_request(h, token, items, prefer).send().await.unwrap();
    let s = r.status().as_u16();
    (s, r.text().await.unwrap())
}

fn id_of(n: u32) -> String {
    format!("5a5a5a5a-0000-4000-8000-{n:012}")
}

async fn exists(h: &EmulatorHandle, token: &str, set: &str, id: &str) -> bool {
    get_json(token, &api(h, &format!("{set}({id})?$select=createdon")), None).await.0 == 200
}

#[tokio::test]
async fn lost_ack_applies_a_patch_once_and_drops_the_answer() {
    let h = small();
    let t = bob_token(&h).await;
    let id = id_of(1);
    let url = api(&h, &format!("accounts({id})"));
    assert_eq!(raw(&t, reqwest::Method::PATCH, &url, Some("{\"name\":\"Before\"}"), &[]).await.0, 204);
    // only PATCHes to this row lose their answer, and only the first one
    h.inject_fault(Fault {
        method: Some("PATCH".into()),
        path_contains: Some(id.clone()),
        lost_ack: true,
        count: 1,
        ..Fault::default()
    });
    assert_eq!(get_json(&t, &url, None).await.0, 200, "a GET does not match the fault");
    let version = |etag: &Value| -> u64 {
        etag.as_str().unwrap().trim_start_matches("W/\"").trim_end_matches('"').parse().unwrap()
    };
    let (_, _, row) = get_json(&t, &format!("{url}?$select=name"), None).await;
    let before = version(&row["@odata.etag"]);
    let r = client()
        .patch(&url)
        .bearer_auth(&t)
        .header("Content-Type", "application/json")
        .header("If-Match", "*")
        .body("{\"name\":\"Lost answer\"}")
        .send()
        .await;
    assert!(r.is_err(), "no status line may reach the client: {r:?}");
    let (_, _, row) = get_json(&t, &format!("{url}?$select=name"), None).await;
    assert_eq!(row["name"], "Lost answer", "the write happened");
    assert_eq!(version(&row["@odata.etag"]), before + 1, "written exactly once (one new row version)");
    // the fault is used up: the next PATCH is answered
    assert_eq!(raw(&t, reqwest::Method::PATCH, &url, Some("{\"name\":\"Answered\"}"), &[]).await.0, 204);
    let log = h.requests();
    let lost = log.iter().find(|e| e.method == "PATCH" && e.fault.is_some()).unwrap();
    assert_eq!(lost.status, 204, "the log keeps the status the client never saw");

    // on the wire: not one byte of the answer, then the connection closes (a POST this time)
    h.inject_fault(Fault { method: Some("POST".into()), lost_ack: true, ..Fault::default() });
    let body = format!("{{\"accountid\":\"{}\",\"name\":\"Raw\"}}", id_of(2));
    let request = format!(
        "POST /api/data/v9.2/accounts HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {t}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        h.local_addr(),
        body.len()
    );
    let mut sock = tokio::net::TcpStream::connect(h.local_addr()).await.unwrap();
    sock.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let _ = sock.read_to_end(&mut got).await; // EOF or a reset, either way nothing
    assert!(got.is_empty(), "bytes of the answer were sent: {:?}", String::from_utf8_lossy(&got));
    assert!(exists(&h, &t, "accounts", &id_of(2)).await, "the create happened");
    // DELETE too
    h.inject_fault(Fault { method: Some("DELETE".into()), lost_ack: true, ..Fault::default() });
    assert!(client().delete(api(&h, &format!("accounts({})", id_of(2)))).bearer_auth(&t).send().await.is_err());
    assert!(!exists(&h, &t, "accounts", &id_of(2)).await, "the delete happened");
}

#[tokio::test]
async fn lost_ack_on_a_batch_applies_every_part() {
    let h = small();
    let t = bob_token(&h).await;
    let (a, b) = (id_of(11), id_of(12));
    let items = [
        single(part("POST", "/api/data/v9.2/accounts", Some(&format!("{{\"accountid\":\"{a}\",\"name\":\"A\"}}")), Some("1"), None)),
        changeset(&[part(
            "POST",
            "/api/data/v9.2/contacts",
            Some(&format!("{{\"contactid\":\"{b}\",\"lastname\":\"B\",\"parentcustomerid_account@odata.bind\":\"/accounts({a})\"}}")),
            Some("2"),
            None,
        )]),
    ];
    let id = h.inject_fault(Fault {
        method: Some("POST".into()),
        path_contains: Some("$batch".into()),
        lost_ack: true,
        ..Fault::default()
    });
    assert!(id > 0);
    let r = batch_request(&h, &t, &items, Some("odata.continue-on-error")).send().await;
    assert!(r.is_err(), "{r:?}");
    assert!(exists(&h, &t, "accounts", &a).await && exists(&h, &t, "contacts", &b).await, "both rows exist");
    assert_eq!(h.insert_counts("accounts").get(&a), Some(&1));
    assert_eq!(h.insert_counts("contacts").get(&b), Some(&1));
    let entry = h.requests().into_iter().find(|e| e.path.contains("$batch")).unwrap();
    assert_eq!((entry.fault, entry.inner_parts, entry.status), (Some(id), 2, 200));
}

#[tokio::test]
async fn lost_ack_after_parts_applies_only_the_first_parts() {
    let h = small();
    let t = bob_token(&h).await;
    let create = |n: u32| {
        part(
            "POST",
            "/api/data/v9.2/tasks",
            Some(&format!("{{\"activityid\":\"{}\",\"subject\":\"t{n}\"}}", id_of(n))),
            None,
            None,
        )
    };
    // three single parts, the connection lost after two
    let items = [single(create(21)), single(create(22)), single(create(23))];
    h.inject_fault(Fault { path_contains: Some("$batch".into()), lost_ack_after_parts: Some(2), ..Fault::default() });
    assert!(batch_request(&h, &t, &items, None).send().await.is_err());
    assert!(exists(&h, &t, "tasks", &id_of(21)).await && exists(&h, &t, "tasks", &id_of(22)).await);
    assert!(!exists(&h, &t, "tasks", &id_of(23)).await, "the third part was not applied");
    // a changeset the limit cuts through is not applied at all (atomic); what came before is
    let items = [single(create(31)), changeset(&[create(32), create(33)]), single(create(34))];
    h.inject_fault(Fault { path_contains: Some("$batch".into()), lost_ack_after_parts: Some(2), ..Fault::default() });
    assert!(batch_request(&h, &t, &items, None).send().await.is_err());
    assert!(exists(&h, &t, "tasks", &id_of(31)).await);
    for n in [32, 33, 34] {
        assert!(!exists(&h, &t, "tasks", &id_of(n)).await, "{n}");
    }
    // through the control API, with zero parts: nothing runs, nothing is answered
    control(&h, reqwest::Method::POST, "/faults", json!({"path_contains": "$batch", "lost_ack_after_parts": 0})).await;
    assert!(batch_request(&h, &t, &[single(create(41))], None).send().await.is_err());
    assert!(!exists(&h, &t, "tasks", &id_of(41)).await);
    // and the next batch is answered normally
    let (s, text) = batch(&h, &t, &[single(create(41))], None).await;
    assert_eq!(s, 200, "{text}");
    assert!(exists(&h, &t, "tasks", &id_of(41)).await);
}

#[tokio::test]
async fn insert_counts_and_server_side_deletes() {
    let h = small();
    let t = bob_token(&h).await;
    let id = id_of(51);
    let url = api(&h, &format!("accounts({id})"));
    // upsert-create, update, delete, re-create by POST: two inserts
    assert_eq!(raw(&t, reqwest::Method::PATCH, &url, Some("{\"name\":\"one\"}"), &[]).await.0, 204);
    assert_eq!(raw(&t, reqwest::Method::PATCH, &url, Some("{\"name\":\"two\"}"), &[]).await.0, 204);
    assert_eq!(h.insert_counts("accounts").get(&id), Some(&1), "an update is no insert");
    // a changeset that is rolled back does not count
    let items = [changeset(&[
        part(
            "POST",
            "/api/data/v9.2/accounts",
            Some(&format!("{{\"accountid\":\"{}\",\"name\":\"x\"}}", id_of(52))),
            Some("1"),
            None,
        ),
        part(
            "POST",
            "/api/data/v9.2/accounts",
            Some(&format!("{{\"accountid\":\"{id}\",\"name\":\"dup\"}}")),
            Some("2"),
            None,
        ),
    ])];
    assert_eq!(batch(&h, &t, &items, None).await.0, 400);
    assert!(!h.insert_counts("accounts").contains_key(&id_of(52)));
    // a delta token before the server-side delete
    let (_, _, page) = get_json(&t, &api(&h, "accounts?$select=name"), Some("odata.track-changes")).await;
    let delta = page["@odata.deltaLink"].as_str().unwrap().to_owned();
    let generated = control(&h, reqwest::Method::GET, "/tables/accounts/ids?limit=1", Value::Null).await["ids"][0]
        .as_str()
        .unwrap()
        .to_owned();
    let n = h.delete_rows("accounts", &[id.clone(), generated.clone(), id_of(99)]).unwrap();
    assert_eq!(n, 2, "the missing row is skipped");
    let (_, _, page) = get_json(&t, &delta, None).await;
    let tombs: Vec<&str> = page["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["@odata.context"].as_str().is_some_and(|c| c.ends_with("$deletedEntity")))
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert!(tombs.contains(&id.as_str()) && tombs.contains(&generated.as_str()), "{page}");
    assert!(!exists(&h, &t, "accounts", &id).await);
    assert!(h.delete_rows("accounts", &["not-a-guid".into()]).is_err());
    assert!(h.delete_rows("nosuch", &[]).is_err());
    // re-created after the delete: a second insert
    let body = format!("{{\"accountid\":\"{id}\",\"name\":\"three\"}}");
    assert_eq!(raw(&t, reqwest::Method::POST, &api(&h, "accounts"), Some(&body), &[]).await.0, 204);
    assert_eq!(h.insert_counts("accounts").get(&id), Some(&2));
    assert!(!h.insert_counts("accounts").contains_key(&generated), "generated rows were never inserted");
    assert!(h.insert_counts("nosuch").is_empty());
    // the same through the control API
    let counts = control(&h, reqwest::Method::GET, "/tables/accounts/insert-counts", Value::Null).await;
    assert_eq!(counts["counts"][&id], 2);
    let r = control(&h, reqwest::Method::POST, "/tables/accounts/delete-rows", json!({"ids": [id]})).await;
    assert_eq!(r["deleted"], 1);
    assert!(!exists(&h, &t, "accounts", &id).await);
}

#[tokio::test]
async fn a_bind_to_a_missing_record_is_404_naming_the_target() {
    let h = small();
    let t = bob_token(&h).await;
    let missing = "0badbadb-0000-4000-8000-000000000404";
    let expected = format!("Entity 'account' With Id = {missing} Does Not Exist");
    let bind = format!("\"parentcustomerid_account@odata.bind\":\"/accounts({missing})\"");
    let before = h.row_count("contacts").unwrap();
    // create
    let (s, _, e) = send(
        &t,
        reqwest::Method::POST,
        &api(&h, "contacts"),
        Some(serde_json::from_str(&format!("{{\"lastname\":\"Orphan\",{bind}}}")).unwrap()),
        &[],
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["message"].as_str()),
        (404, Some("0x80040217"), Some(expected.as_str()))
    );
    assert_eq!(h.row_count("contacts").unwrap(), before, "nothing created");
    // update of an existing row: the same code as a missing row, told apart by the message
    let (_, _, rows) = get_json(&t, &api(&h, "contacts?$select=lastname&$top=1"), None).await;
    let contact = rows["value"][0]["contactid"].as_str().unwrap().to_owned();
    let url = api(&h, &format!("contacts({contact})"));
    let (s, _, text) = raw(&t, reqwest::Method::PATCH, &url, Some(&format!("{{{bind}}}")), &[("If-Match", "*")]).await;
    let e: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("0x80040217")));
    assert_eq!(e["error"]["message"], expected.as_str());
    let (s, _, text) = raw(
        &t,
        reqwest::Method::PATCH,
        &api(&h, &format!("contacts({missing})")),
        Some("{\"lastname\":\"x\"}"),
        &[("If-Match", "*")],
    )
    .await;
    let gone: Value = serde_json::from_str(&text).unwrap();
    assert_eq!((s, gone["error"]["code"].as_str()), (404, Some("0x80040217")));
    assert_eq!(gone["error"]["message"], format!("Entity 'contact' With Id = {missing} Does Not Exist"));
    // the same inside $batch: a changeset part (400 for the batch, default) and a single part
    let body = format!("{{\"lastname\":\"In batch\",{bind}}}");
    let (s, text) =
        batch(&h, &t, &[changeset(&[part("POST", "/api/data/v9.2/contacts", Some(&body), Some("1"), None)])], None)
            .await;
    assert_eq!(s, 400);
    assert!(
        text.contains("HTTP/1.1 404 Not Found") && text.contains("0x80040217") && text.contains(&expected),
        "{text}"
    );
    let patch = part("PATCH", &format!("/api/data/v9.2/contacts({contact})"), Some(&format!("{{{bind}}}")), None, None);
    let (s, text) = batch(&h, &t, &[single(patch)], Some("odata.continue-on-error")).await;
    assert_eq!(s, 200);
    assert!(text.contains("HTTP/1.1 404 Not Found") && text.contains(&expected), "{text}");
    assert_eq!(h.row_count("contacts").unwrap(), before);
}

#[tokio::test]
async fn duplicate_creates_answer_412_duplicate_record() {
    let h = small();
    let t = bob_token(&h).await;
    let id = id_of(61);
    let body = format!("{{\"accountid\":\"{id}\",\"name\":\"First\"}}");
    assert_eq!(raw(&t, reqwest::Method::POST, &api(&h, "accounts"), Some(&body), &[]).await.0, 204);
    let message = "A record with matching key values already exists.";
    // POST with the id again
    let (s, _, text) = raw(&t, reqwest::Method::POST, &api(&h, "accounts"), Some(&body), &[]).await;
    let e: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["message"].as_str()),
        (412, Some("0x80040237"), Some(message))
    );
    // PATCH with If-None-Match: * on the existing row
    let url = api(&h, &format!("accounts({id})"));
    let (s, _, text) =
        raw(&t, reqwest::Method::PATCH, &url, Some("{\"name\":\"Second\"}"), &[("If-None-Match", "*")]).await;
    let e: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(
        (s, e["error"]["code"].as_str(), e["error"]["message"].as_str()),
        (412, Some("0x80040237"), Some(message))
    );
    let (_, _, row) = get_json(&t, &format!("{url}?$select=name"), None).await;
    assert_eq!(row["name"], "First", "nothing was overwritten");
    assert_eq!(h.insert_counts("accounts").get(&id), Some(&1));
    // inside $batch
    let (s, text) =
        batch(&h, &t, &[single(part("POST", "/api/data/v9.2/accounts", Some(&body), None, None))], None).await;
    assert_eq!(s, 400);
    assert!(
        text.contains("HTTP/1.1 412 Precondition Failed") && text.contains("0x80040237") && text.contains(message),
        "{text}"
    );
}

#[tokio::test]
async fn money_and_decimals_are_exact_end_to_end() {
    let h = small();
    let t = bob_token(&h).await;
    let id = id_of(71);
    let select = "$select=name,revenue,new_discountrate";
    // a delta token from before the writes
    let (_, _, page) = get_json(&t, &api(&h, "accounts?$select=revenue"), Some("odata.track-changes")).await;
    let delta = page["@odata.deltaLink"].as_str().unwrap().to_owned();
    // create, with the answer
    let body = format!("{{\"accountid\":\"{id}\",\"name\":\"Exact\",\"revenue\":{EXACT},\"new_discountrate\":37.5}}");
    let (s, _, text) = raw(
        &t,
        reqwest::Method::POST,
        &api(&h, &format!("accounts?{select}")),
        Some(&body),
        &[("Prefer", "return=representation")],
    )
    .await;
    assert_eq!(s, 201, "{text}");
    assert!(text.contains(&format!("\"revenue\":{EXACT}")), "{text}");
    assert!(text.contains("\"new_discountrate\":37.50"), "{text}");
    // GET
    let url = api(&h, &format!("accounts({id})"));
    let (s, _, text) = raw(&t, reqwest::Method::GET, &format!("{url}?{select}"), None, &[]).await;
    assert_eq!(s, 200);
    assert!(text.contains(&format!("\"revenue\":{EXACT}")), "{text}");
    // $filter compares exactly: .1233 and .1234 are the same f64
    let filter = |op: &str, v: &str| api(&h, &format!("accounts?$select=revenue&$filter=revenue {op} {v}"));
    let (_, _, hit) = get_json(&t, &filter("eq", EXACT), None).await;
    assert_eq!(hit["value"].as_array().unwrap().len(), 1, "{hit}");
    let (_, _, miss) = get_json(&t, &filter("eq", "98765432109876.1233"), None).await;
    assert_eq!(miss["value"].as_array().unwrap().len(), 0, "{miss}");
    let (_, _, above) = get_json(&t, &filter("gt", "98765432109876.1233"), None).await;
    assert_eq!(above["value"].as_array().unwrap().len(), 1);
    let (_, _, below) = get_json(&t, &filter("lt", EXACT), None).await;
    assert!(below["value"].as_array().unwrap().iter().all(|r| r["accountid"] != id.as_str()));
    let (_, _, d) = get_json(&t, &api(&h, "accounts?$select=name&$filter=new_discountrate eq 37.50M"), None).await;
    assert!(d["value"].as_array().unwrap().iter().any(|r| r["accountid"] == id.as_str()), "{d}");
    // update, with the answer; more decimals than the column keeps are rounded
    let (s, _, text) = raw(
        &t,
        reqwest::Method::PATCH,
        &format!("{url}?{select}"),
        Some("{\"revenue\":-12345678901234.5678,\"new_discountrate\":0.125}"),
        &[("Prefer", "return=representation"), ("If-Match", "*")],
    )
    .await;
    assert_eq!(s, 200, "{text}");
    assert!(text.contains("\"revenue\":-12345678901234.5678") && text.contains("\"new_discountrate\":0.13"), "{text}");
    // a change-tracked page
    let (s, _, text) = raw(&t, reqwest::Method::GET, &delta, None, &[]).await;
    assert_eq!(s, 200);
    assert!(text.contains("\"revenue\":-12345678901234.5678"), "{text}");
    // the initial tracked pages too
    let (_, _, text) =
        raw(&t, reqwest::Method::GET, &api(&h, "accounts?$select=revenue"), None, &[("Prefer", "odata.track-changes")])
            .await;
    assert!(text.contains("\"revenue\":-12345678901234.5678"));
    // $batch: a changeset create answered with the row, then a GET of it
    let other = id_of(72);
    let body = format!("{{\"accountid\":\"{other}\",\"name\":\"Batch exact\",\"revenue\":{EXACT}}}");
    let items = [
        changeset(&[part(
            "POST",
            &format!("/api/data/v9.2/accounts?{select}"),
            Some(&body),
            Some("1"),
            Some("return=representation"),
        )]),
        single(part("GET", &format!("/api/data/v9.2/accounts({other})?{select}"), None, None, None)),
    ];
    let (s, text) = batch(&h, &t, &items, None).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(text.matches(&format!("\"revenue\":{EXACT}")).count(), 2, "{text}");
    // what cannot be held (beyond money's range) is refused, not rounded into something else
    let (s, _, text) = raw(&t, reqwest::Method::PATCH, &url, Some("{\"revenue\":1e20}"), &[]).await;
    assert_eq!(s, 400, "{text}");
    assert!(text.contains("0x80044331") && text.contains("outside the valid range"), "{text}");
    let (s, _, _) = raw(&t, reqwest::Method::PATCH, &url, Some("{\"revenue\":\"12.5\"}"), &[]).await;
    assert_eq!(s, 400, "a string is not an Edm.Decimal");
}

#[tokio::test]
async fn content_id_outside_changesets_follows_the_setting() {
    let h = small();
    let t = bob_token(&h).await;
    assert!(!h.settings().echo_content_id_outside_changesets, "off by default");
    let items = |n: u32| {
        [
            single(part("POST", "/api/data/v9.2/tasks", Some(&format!("{{\"subject\":\"s{n}\"}}")), Some("7"), None)),
            changeset(&[part("POST", "/api/data/v9.2/tasks", Some("{\"subject\":\"in changeset\"}"), Some("8"), None)]),
        ]
    };
    let (s, text) = batch(&h, &t, &items(1), None).await;
    assert_eq!(s, 200);
    assert!(!text.contains("Content-ID: 7"), "not echoed outside the changeset: {text}");
    assert!(text.contains("Content-ID: 8"), "echoed inside it: {text}");
    // the control API switches it on
    let settings =
        control(&h, reqwest::Method::POST, "/settings", json!({"echo_content_id_outside_changesets": true})).await;
    assert_eq!(settings["echo_content_id_outside_changesets"], true);
    let (_, text) = batch(&h, &t, &items(2), None).await;
    assert!(text.contains("Content-ID: 7") && text.contains("Content-ID: 8"), "{text}");
    // and Rust, off again
    h.update_settings(|s| s.echo_content_id_outside_changesets = false);
    let (_, text) = batch(&h, &t, &items(3), None).await;
    assert!(!text.contains("Content-ID: 7"), "{text}");
}
