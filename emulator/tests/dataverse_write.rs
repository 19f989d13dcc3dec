//! Dataverse writes over real HTTP: POST/PATCH/DELETE with etags, binds, validation and privilege
//! errors, `$batch` (atomic changesets, continue-on-error), service protection and fault injection.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use outpost_emulator::{defaults, EmulatorConfig};
use serde_json::{json, Value};

#[tokio::test]
async fn create_update_delete_with_etags() {
    let h = small();
    let t = bob_token(&h).await;
    // POST → 204 + OData-EntityId
    let (s, headers, _) = send(
        &t,
        reqwest::Method::POST,
        &api(&h, "accounts"),
        Some(json!({"name": "Fourth Coffee", "revenue": 5000000, "creditonhold": false, "industrycode": 2})),
        &[],
    )
    .await;
    assert_eq!(s, 204);
    let entity = headers["odata-entityid"].to_str().unwrap().to_owned();
    assert!(entity.starts_with(&api(&h, "accounts(")));
    // POST with return=representation and a client-chosen id → 201 + body + ETag
    let id = "0f5b4c2e-1111-4a4a-8b8b-123456789abc";
    let (s, headers, row) = send(
        &t,
        reqwest::Method::POST,
        &api(&h, "contacts?$select=fullname,_parentcustomerid_value,birthdate,annualincome"),
        Some(json!({"contactid": id, "firstname": "Yvonne", "lastname": "McKay", "birthdate": "1980-05-01", "annualincome": 1234.5,
                     "parentcustomerid_account@odata.bind": entity.trim_start_matches(&h.web_api_url()).to_owned()})),
        &[("Prefer", "return=representation")],
    )
    .await;
    assert_eq!(s, 201, "{row}");
    assert_eq!(row["contactid"], id);
    assert_eq!(row["fullname"], "Yvonne McKay");
    assert_eq!(row["birthdate"], "1980-05-01");
    assert_eq!(row["annualincome"], 1234.5);
    let account_id = entity.rsplit('(').next().unwrap().trim_end_matches(')');
    assert_eq!(row["_parentcustomerid_value"], account_id);
    let etag = headers["etag"].to_str().unwrap().to_owned();
    assert_eq!(row["@odata.etag"], etag);
    // duplicate id → 412 0x80040237
    let (s, _, e) =
        send(&t, reqwest::Method::POST, &api(&h, "contacts"), Some(json!({"contactid": id, "lastname": "Dup"})), &[])
            .await;
    assert_eq!(s, 412);
    assert_eq!(e["error"]["code"], "0x80040237");
    // PATCH with the right etag, then the stale one → 412 0x80060882
    let url = api(&h, &format!("contacts({id})"));
    let (s, h2, row) = send(
        &t,
        reqwest::Method::PATCH,
        &url,
        Some(json!({"jobtitle": "CEO"})),
        &[("If-Match", &etag), ("Prefer", "return=representation")],
    )
    .await;
    assert_eq!(s, 200);
    let new_etag = h2["etag"].to_str().unwrap().to_owned();
    assert_ne!(new_etag, etag);
    assert_eq!(row["jobtitle"], "CEO");
    let v_old: u64 = etag.trim_start_matches("W/\"").trim_end_matches('"').parse().unwrap();
    let v_new: u64 = new_etag.trim_start_matches("W/\"").trim_end_matches('"').parse().unwrap();
    assert!(v_new > v_old, "global row version grows");
    let (s, _, e) =
        send(&t, reqwest::Method::PATCH, &url, Some(json!({"jobtitle": "CFO"})), &[("If-Match", &etag)]).await;
    assert_eq!(s, 412);
    assert_eq!(e["error"]["code"], "0x80060882");
    // upsert semantics
    let missing = api(&h, "contacts(0f5b4c2e-2222-4a4a-8b8b-123456789abc)");
    let (s, _, e) =
        send(&t, reqwest::Method::PATCH, &missing, Some(json!({"lastname": "X"})), &[("If-Match", "*")]).await;
    assert_eq!((s, e["error"]["code"].as_str()), (404, Some("0x80040217")));
    let (s, _, _) =
        send(&t, reqwest::Method::PATCH, &url, Some(json!({"lastname": "X"})), &[("If-None-Match", "*")]).await;
    assert_eq!(s, 412);
    let (s, _, row) = send(
        &t,
        reqwest::Method::PATCH,
        &missing,
        Some(json!({"lastname": "Created"})),
        &[("Prefer", "return=representation")],
    )
    .await;
    assert_eq!(s, 201);
    assert_eq!(row["lastname"], "Created");
    let (s, headers, _) = send(&t, reqwest::Method::PATCH, &missing, Some(json!({"lastname": "Again"})), &[]).await;
    assert_eq!(s, 204);
    assert!(headers.contains_key("odata-entityid"));
    // clearing a lookup with null bind
    let (s, _, row) = send(
        &t,
        reqwest::Method::PATCH,
        &url,
        Some(json!({"parentcustomerid_account@odata.bind": null})),
        &[("Prefer", "return=representation")],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(row["_parentcustomerid_value"], Value::Null);
    // wrong target set for a polymorphic navigation
    let (s, _, _) = send(
        &t,
        reqwest::Method::PATCH,
        &url,
        Some(json!({"parentcustomerid_account@odata.bind": format!("/contacts({id})")})),
        &[],
    )
    .await;
    assert_eq!(s, 400);
    // owner can be a team or a user
    let (_, _, teams) = get_json(&t, &api(&h, "teams?$select=name"), None).await;
    let team = teams["value"][0]["teamid"].as_str().unwrap().to_owned();
    let (s, _, row) = send(
        &t,
        reqwest::Method::PATCH,
        &url,
        Some(json!({"ownerid@odata.bind": format!("/teams({team})")})),
        &[("Prefer", "return=representation"), ("Prefer", "odata.include-annotations=\"*\"")],
    )
    .await;
    assert_eq!(s, 200);
    assert_eq!(row["_ownerid_value@Microsoft.Dynamics.CRM.lookuplogicalname"], "team");
    // DELETE: stale etag 412, then 204, then 404
    let (s, _, _) = send(&t, reqwest::Method::DELETE, &url, None, &[("If-Match", &etag)]).await;
    assert_eq!(s, 412);
    assert_eq!(send(&t, reqwest::Method::DELETE, &url, None, &[]).await.0, 204);
    assert_eq!(send(&t, reqwest::Method::DELETE, &url, None, &[]).await.0, 404);
}

#[tokio::test]
async fn validation_and_privilege_errors() {
    let h = small();
    let t = bob_token(&h).await;
    let long = "x".repeat(201);
    let (s, _, e) = send(&t, reqwest::Method::POST, &api(&h, "tasks"), Some(json!({"subject": long})), &[]).await;
    assert_eq!(s, 400);
    assert_eq!(e["error"]["code"], "0x80044331");
    assert_eq!(e["error"]["message"], "A validation error occurred. The length of the 'subject' attribute of the 'task' entity exceeded the maximum allowed length of '200'.");
    control(&h, reqwest::Method::POST, "/tables/accounts/max-length", json!({"column": "name", "max_length": 5})).await;
    assert_eq!(
        send(&t, reqwest::Method::POST, &api(&h, "accounts"), Some(json!({"name": "toolong"})), &[]).await.0,
        400
    );
    let (s, _, e) = send(&t, reqwest::Method::POST, &api(&h, "accounts"), Some(json!({"nosuch": 1})), &[]).await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("0x80060888")));
    let (s, _, e) =
        send(&t, reqwest::Method::POST, &api(&h, "accounts"), Some(json!({"industrycode": 999})), &[]).await;
    assert_eq!((s, e["error"]["code"].as_str()), (400, Some("0x8004431a")));
    control(
        &h,
        reqwest::Method::POST,
        &format!("/users/{}/privileges", defaults::BOB),
        json!({"table": "tasks", "read": "organization", "create": false, "write": true, "delete": false}),
    )
    .await;
    let (s, _, e) = send(&t, reqwest::Method::POST, &api(&h, "tasks"), Some(json!({"subject": "x"})), &[]).await;
    assert_eq!(s, 403);
    assert_eq!(e["error"]["code"], "0x80040220");
    assert!(e["error"]["message"].as_str().unwrap().contains("prvCreateTask"));
}

fn batch_body(parts: &str) -> String {
    format!("{parts}--batch_AAA--\r\n")
}

fn changeset(ops: &[(&str, &str, &str, Option<&str>)]) -> String {
    let mut s = String::from("--batch_AAA\r\nContent-Type: multipart/mixed; boundary=changeset_BBB\r\n\r\n");
    for (i, (m, url, body, cid)) in ops.iter().enumerate() {
        let cid = cid.map(str::to_owned).unwrap_or_else(|| (i + 1).to_string());
        s.push_str(&format!(
            "--changeset_BBB\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: {cid}\r\n\r\n{m} {url} HTTP/1.1\r\nContent-Type: application/json; type=entry\r\n\r\n{body}\r\n"
        ));
    }
    s.push_str("--changeset_BBB--\r\n");
    s
}

fn single(m: &str, url: &str, body: &str) -> String {
    format!("--batch_AAA\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n{m} {url} HTTP/1.1\r\nContent-Type: application/json\r\nAccept: application/json\r\n\r\n{body}\r\n")
}

async fn post_batch(
    h: &outpost_emulator::EmulatorHandle,
    t: &str,
    body: String,
    prefer: Option<&str>,
) -> (u16, String, String) {
    let mut rb = client()
        .post(api(h, "$batch"))
        .bearer_auth(t)
        .header("Content-Type", "multipart/mixed; boundary=\"batch_AAA\"")
        .body(body);
    if let Some(p) = prefer {
        rb = rb.header("Prefer", p);
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
    (s, ct, r.text().await.unwrap())
}

#[tokio::test]
async fn batch_changesets_are_atomic_and_continue_on_error_works() {
    let h = small();
    let t = bob_token(&h).await;
    let before = h.row_count("tasks").unwrap();
    // a good changeset with a Content-ID reference
    let body = batch_body(
        &(changeset(&[
            ("POST", "/api/data/v9.2/accounts", "{\"name\":\"Batch Co\"}", Some("1")),
            (
                "POST",
                "/api/data/v9.2/tasks",
                "{\"subject\":\"Call\",\"regardingobjectid_account_task@odata.bind\":\"$1\"}",
                Some("2"),
            ),
            ("PATCH", "$2", "{\"description\":\"set via reference\"}", Some("3")),
        ]) + &single("GET", &format!("{}tasks?$select=subject&$filter=subject eq 'Call'", h.web_api_url()), "")),
    );
    let (s, ct, text) = post_batch(&h, &t, body, None).await;
    assert_eq!(s, 200, "{text}");
    assert!(ct.starts_with("multipart/mixed; boundary=batchresponse_"));
    assert!(
        text.contains("changesetresponse_")
            && text.contains("Content-ID: 2")
            && text.contains("HTTP/1.1 204 No Content")
    );
    assert!(text.contains("\"subject\":\"Call\""));
    assert_eq!(h.row_count("tasks").unwrap(), before + 1);
    // a failing changeset rolls back as a unit; default: stop at first error, 400 for the batch
    let body = batch_body(
        &(changeset(&[
            ("POST", "/api/data/v9.2/tasks", "{\"subject\":\"Should roll back\"}", Some("1")),
            ("POST", "/api/data/v9.2/tasks", &format!("{{\"subject\":\"{}\"}}", "y".repeat(250)), Some("2")),
        ]) + &single("POST", "/api/data/v9.2/tasks", "{\"subject\":\"never runs\"}")),
    );
    let (s, _, text) = post_batch(&h, &t, body, None).await;
    assert_eq!(s, 400);
    assert!(text.contains("0x80044331"), "{text}");
    assert!(!text.contains("HTTP/1.1 204"), "only the failing response: {text}");
    assert_eq!(h.row_count("tasks").unwrap(), before + 1, "nothing committed");
    // continue-on-error: one failing part, others run; 200
    let body = batch_body(
        &(single("POST", "/api/data/v9.2/tasks", "{\"subject\":\"first\"}")
            + &single("POST", "/api/data/v9.2/tasks", &format!("{{\"subject\":\"{}\"}}", "z".repeat(250)))
            + &single("POST", "/api/data/v9.2/tasks", "{\"subject\":\"third\"}")),
    );
    let (s, _, text) = post_batch(&h, &t, body, Some("odata.continue-on-error")).await;
    assert_eq!(s, 200, "{text}");
    assert_eq!(text.matches("HTTP/1.1 204 No Content").count(), 2);
    assert_eq!(text.matches("HTTP/1.1 400 Bad Request").count(), 1);
    assert_eq!(h.row_count("tasks").unwrap(), before + 3);
    // unknown Content-ID reference
    let body = batch_body(&changeset(&[("PATCH", "$9", "{\"subject\":\"x\"}", Some("1"))]));
    let (s, _, text) = post_batch(&h, &t, body, None).await;
    assert_eq!(s, 400);
    assert!(text.contains("does not exist in the batch context"));
}

#[tokio::test]
async fn service_protection_429_with_retry_after_and_request_log() {
    let mut cfg = EmulatorConfig::default().with_rows(5, 5, 5);
    cfg.settings.requests_per_window = 3;
    cfg.settings.window_secs = 2;
    let h = start(cfg);
    let t = bob_token(&h).await;
    for _ in 0..3 {
        assert_eq!(get_json(&t, &api(&h, "WhoAmI"), None).await.0, 200);
    }
    let r = client().get(api(&h, "WhoAmI")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 429);
    let retry: u64 = r.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=2).contains(&retry));
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "0x80072322");
    assert_eq!(e["error"]["message"], "Number of requests exceeded the limit of 3 over time window of 2 seconds.");
    tokio::time::sleep(std::time::Duration::from_secs(retry)).await;
    assert_eq!(get_json(&t, &api(&h, "WhoAmI"), None).await.0, 200);
    // the log shows arrival times, so a test can check that the client waited
    let log = control(&h, reqwest::Method::GET, "/requests?path_contains=WhoAmI", Value::Null).await;
    let entries = log["requests"].as_array().unwrap();
    assert_eq!(entries.len(), 5);
    let throttled = entries.iter().position(|e| e["status"] == 429).unwrap();
    let waited =
        entries[throttled + 1]["at_unix_ms"].as_u64().unwrap() - entries[throttled]["at_unix_ms"].as_u64().unwrap();
    assert!(waited >= retry * 1000 - 50, "{waited}");
    assert_eq!(entries[0]["user"], defaults::BOB);
    let counters = control(&h, reqwest::Method::GET, "/counters", Value::Null).await;
    assert_eq!(counters["counters"]["status_429"], 1);
    // concurrency limit: a slow request holds the only slot
    control(
        &h,
        reqwest::Method::POST,
        "/settings",
        json!({"requests_per_window": 6000, "concurrency_limit": 1, "concurrency_retry_after_secs": 2}),
    )
    .await;
    control(&h, reqwest::Method::POST, "/faults", json!({"path_contains": "/accounts", "delay_ms": 1500, "count": 1}))
        .await;
    let slow = tokio::spawn({
        let (u, t) = (api(&h, "accounts?$top=1"), t.clone());
        async move { get_json(&t, &u, None).await.0 }
    });
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let r = client().get(api(&h, "WhoAmI")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "2");
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"]["code"], "0x80072326");
    assert_eq!(slow.await.unwrap(), 200);
    assert_eq!(get_json(&t, &api(&h, "WhoAmI"), None).await.0, 200);
}

#[tokio::test]
async fn fault_injection() {
    let h = small();
    let t = bob_token(&h).await;
    control(
        &h,
        reqwest::Method::POST,
        "/faults",
        json!({"path_contains": "/accounts", "status": 503, "retry_after": 7, "count": 2}),
    )
    .await;
    for _ in 0..2 {
        let r = client().get(api(&h, "accounts?$top=1")).bearer_auth(&t).send().await.unwrap();
        assert_eq!(r.status(), 503);
        assert_eq!(r.headers()["retry-after"], "7");
    }
    assert_eq!(get_json(&t, &api(&h, "accounts?$top=1"), None).await.0, 200);
    // 429 with the real code
    control(
        &h,
        reqwest::Method::POST,
        "/faults",
        json!({"method": "GET", "path_contains": "/contacts", "status": 429, "retry_after": 1}),
    )
    .await;
    let (s, headers, e) = get_json(&t, &api(&h, "contacts"), None).await;
    assert_eq!((s, e["error"]["code"].as_str()), (429, Some("0x80072322")));
    assert_eq!(headers["retry-after"], "1");
    // truncated and malformed JSON
    control(&h, reqwest::Method::POST, "/faults", json!({"path_contains": "/tasks", "truncate_body": true})).await;
    let r = client().get(api(&h, "tasks")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(serde_json::from_str::<Value>(&r.text().await.unwrap()).is_err());
    control(&h, reqwest::Method::POST, "/faults", json!({"path_contains": "/tasks", "malformed_json": true})).await;
    let r = client().get(api(&h, "tasks")).bearer_auth(&t).send().await.unwrap();
    assert!(serde_json::from_str::<Value>(&r.text().await.unwrap()).is_err());
    // connection dropped mid-body
    control(&h, reqwest::Method::POST, "/faults", json!({"path_contains": "/tasks", "drop_connection": true})).await;
    let r = client().get(api(&h, "tasks")).bearer_auth(&t).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.bytes().await.is_err(), "body must fail mid-way");
    // delay
    control(&h, reqwest::Method::POST, "/faults", json!({"path_contains": "WhoAmI", "delay_ms": 300})).await;
    let start = std::time::Instant::now();
    assert_eq!(get_json(&t, &api(&h, "WhoAmI"), None).await.0, 200);
    assert!(start.elapsed().as_millis() >= 300);
    // injected 401 on the token endpoint path is also possible
    control(&h, reqwest::Method::POST, "/faults", json!({"path_contains": "/oauth2/v2.0/token", "status": 500})).await;
    assert_eq!(ropc(&h, defaults::BOB, defaults::BOB_PASSWORD, &h.scope()).await.status(), 500);
    // from Rust
    h.inject_fault(outpost_emulator::Fault {
        path_contains: Some("WhoAmI".into()),
        status: Some(503),
        ..Default::default()
    });
    assert_eq!(get_json(&t, &api(&h, "WhoAmI"), None).await.0, 503);
    let faults = control(&h, reqwest::Method::GET, "/faults", Value::Null).await;
    assert_eq!(faults["faults"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn server_side_edits_are_visible() {
    let h = small();
    let t = bob_token(&h).await;
    let created = control(
        &h,
        reqwest::Method::POST,
        &format!("/tables/tasks/rows?as={}", defaults::ALICE),
        json!({"subject": "From the server"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    let (s, _, row) =
        get_json(&t, &api(&h, &format!("tasks({id})?$select=subject,_modifiedby_value,_ownerid_value")), None).await;
    assert_eq!(s, 200);
    assert_eq!(row["_modifiedby_value"], h.users()[0].systemuser_id);
    assert_eq!(row["_ownerid_value"], h.users()[0].systemuser_id);
}
