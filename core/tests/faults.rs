//! The network fault suite: every fault a field app meets on a bad network or a busy service,
//! injected by the emulator over loopback HTTP into a real sync with a real SQLCipher vault.
//!
//! Each case runs the same story twice: an initial pull under the fault, then local edits (updates,
//! creates, a delete) and server-side changes, synced (push + incremental pull) under the fault.
//! A short burst must be ridden out inside the same sync; a fault that outlasts the retry policy
//! must surface as the expected typed error with nothing lost. Either way, once the fault is gone
//! the next sync ends with the vault equal to the server row for row (ids, etags, values), the
//! outbox empty, every local edit on the server exactly once, and no conflict or parked entry.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::world::*;
use outpost_core::sync::{NoObserver, SyncConfig, SyncEvent, SyncObserver, SyncOptions, SyncProfile, SyncSummary};
use outpost_core::{Error, Value};
use outpost_emulator::{EmulatorHandle, Fault};

/// What goes wrong on the wire.
#[derive(Clone, Copy, Debug)]
enum Kind {
    /// Headers and half the body, then the connection is reset.
    DropConnection,
    /// The service answers with this status (500 or 503) instead of handling the request.
    Status(u16),
    /// 429 with `Retry-After: 1`, Dataverse's service-protection answer.
    Throttle,
    /// A complete HTTP answer whose JSON is corrupt.
    Malformed,
    /// A complete HTTP answer with only the first half of its JSON.
    Truncated,
}

fn fault(kind: Kind, path: &str, count: u32) -> Fault {
    let mut f = Fault { path_contains: Some(path.into()), count, ..Fault::default() };
    match kind {
        Kind::DropConnection => f.drop_connection = true,
        Kind::Status(s) => f.status = Some(s),
        Kind::Throttle => {
            f.status = Some(429);
            f.retry_after = Some(1);
        }
        Kind::Malformed => f.malformed_json = true,
        Kind::Truncated => f.truncate_body = true,
    }
    f
}

const ATTEMPTS: u32 = 4;

fn config() -> SyncConfig {
    let mut c = test_config();
    c.page_size = 100;
    c.push_batch_size = 3;
    c.retry.max_attempts = ATTEMPTS;
    c.retry.base_delay = Duration::from_millis(20);
    c.retry.max_delay = Duration::from_millis(400);
    c
}

/// A burst the retry policy rides out, or a fault that outlasts it.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Length {
    Burst,
    Outlasting,
}

impl Length {
    fn count(self) -> u32 {
        match self {
            // Fewer failures than attempts for any one request.
            Length::Burst => ATTEMPTS - 1,
            Length::Outlasting => 10_000,
        }
    }
}

/// The typed error a fault that outlasts the retries must surface as.
fn expected(kind: Kind, e: &Error) -> bool {
    match kind {
        Kind::DropConnection | Kind::Malformed | Kind::Truncated => matches!(e, Error::Network { .. }),
        Kind::Status(s) => matches!(e, Error::Server { status, .. } if *status == s),
        Kind::Throttle => matches!(e, Error::Throttled { .. }),
    }
}

struct Edits {
    /// (entity set, id, property, new text)
    updates: Vec<(String, String, String, String)>,
    /// Names of accounts created offline.
    creates: Vec<String>,
    /// (entity set, id) deleted offline.
    deletes: Vec<(String, String)>,
}

/// Local edits, plus changes by another user on the server for the incremental pull.
async fn edit(c: &Client, server: &Server, tag: &str) -> Edits {
    let store = c.store();
    let accounts: Vec<String> = local_rows(&store, "accounts", &cols(&["accountid"])).keys().cloned().collect();
    let contacts: Vec<String> = local_rows(&store, "contacts", &cols(&["contactid"])).keys().cloned().collect();
    let tasks: Vec<String> = local_rows(&store, "tasks", &cols(&["activityid"])).keys().cloned().collect();
    let mut e = Edits { updates: Vec::new(), creates: Vec::new(), deletes: Vec::new() };
    for (i, id) in accounts.iter().take(4).enumerate() {
        e.updates.push(("accounts".into(), id.clone(), "name".into(), format!("{tag} updated account {i}")));
    }
    e.updates.push(("contacts".into(), contacts[0].clone(), "jobtitle".into(), format!("{tag} inspector")));
    for (set, id, prop, text) in &e.updates {
        store.update(set, id, values(&[(prop.as_str(), Value::text(text.clone()))])).unwrap();
    }
    for i in 0..3 {
        let name = format!("{tag} created account {i}");
        store.create("accounts", values(&[("name", Value::text(name.clone()))])).unwrap();
        e.creates.push(name);
    }
    store.delete("tasks", &tasks[0]).unwrap();
    e.deletes.push(("tasks".into(), tasks[0].clone()));
    // Another user changes and deletes rows the client holds, and adds one.
    server.patch(&format!("accounts({})", accounts[10]), serde_json::json!({"telephone1": format!("{tag}-555")})).await;
    server.delete(&format!("contacts({})", contacts[5])).await;
    let (status, body) = server
        .send(reqwest::Method::POST, "accounts", Some(serde_json::json!({"name": format!("{tag} server account")})))
        .await;
    assert!(status < 300, "{status} {body}");
    e
}

/// The end state: the vault equals the server, every edit is there exactly once, nothing waits.
async fn verify(c: &Client, server: &Server, e: &Edits) {
    let store = c.store();
    assert_eq!(store.pending_count().unwrap(), 0, "outbox not empty");
    assert!(store.parked().unwrap().is_empty(), "parked: {:?}", store.parked().unwrap());
    assert!(store.conflicts().unwrap().is_empty(), "conflicts");
    for (set, id, prop, text) in &e.updates {
        let row = server.get(&format!("{set}({id})?$select={prop}")).await.unwrap();
        assert_eq!(row[prop.as_str()], serde_json::json!(text), "{set} {id} {prop}");
    }
    for name in &e.creates {
        let found = server.get(&format!("accounts?$select=accountid&$filter=name eq '{name}'")).await.unwrap();
        assert_eq!(found["value"].as_array().unwrap().len(), 1, "{name} must be on the server exactly once");
    }
    for (set, id) in &e.deletes {
        assert!(server.get(&format!("{set}({id})")).await.is_none(), "{set} {id} still on the server");
    }
    assert_matches_server(server, &store).await;
}

/// Checks one faulted sync: complete for a burst; the expected typed error for an outlasting
/// fault (per table, or for the push), with every table that failed left incomplete.
fn check(kind: Kind, length: Length, r: outpost_core::Result<SyncSummary>, phase: &str) {
    let s = match r {
        Ok(s) => s,
        Err(e) => panic!("{kind:?} {length:?} {phase}: the sync itself failed: {e:?}"),
    };
    let errors: Vec<&Error> = s.tables.iter().filter_map(|t| t.error.as_ref()).chain(s.push_error.as_ref()).collect();
    match length {
        Length::Burst => {
            assert!(s.complete && errors.is_empty(), "{kind:?} burst {phase}: not ridden out: {s:?}");
        }
        Length::Outlasting => {
            assert!(!s.complete, "{kind:?} {phase}: complete despite the fault: {s:?}");
            assert!(!errors.is_empty(), "{kind:?} {phase}: no error surfaced: {s:?}");
            for e in errors {
                assert!(expected(kind, e), "{kind:?} {phase}: unexpected error {e:?}");
            }
            for t in &s.tables {
                assert_eq!(t.complete, t.error.is_none(), "{kind:?} {phase}: {t:?}");
            }
        }
    }
}

async fn run_case(kind: Kind, length: Length) {
    let emu = emulator(600, 300, 200);
    let server = Server::new(&emu).await;
    let c = client_with(&emu, SyncProfile::default_profile(), config()).await;

    // 1. The initial pull, faulted on the accounts pages.
    emu.inject_fault(fault(kind, "accounts?", length.count()));
    let r = c.engine.sync(SyncOptions::default(), Arc::new(NoObserver)).await;
    check(kind, length, r, "initial pull");
    emu.clear_faults();
    let s = c.sync().await;
    assert!(s.complete, "{s:?}");
    assert_matches_server(&server, &c.store()).await;

    // 2. Local edits and server changes: push and incremental pull, faulted on both.
    let edits = edit(&c, &server, &format!("{kind:?}-{length:?}")).await;
    let pending = c.store().pending_count().unwrap();
    assert_eq!(pending, 9);
    emu.inject_fault(fault(kind, "$batch", length.count()));
    emu.inject_fault(fault(kind, "deltatoken", length.count()));
    let r = c.engine.sync(SyncOptions::default(), Arc::new(NoObserver)).await;
    if length == Length::Outlasting && matches!(kind, Kind::Status(_) | Kind::Throttle) {
        // The service refused the very first push request for good, before handling it: the
        // whole outbox is still there. (A dropped or mangled answer may come after the server
        // applied the batch: then the entries are on the server, which `verify` checks.)
        assert_eq!(c.store().pending_count().unwrap(), pending, "{kind:?}: outbox entries lost");
    }
    check(kind, length, r, "push and incremental pull");
    emu.clear_faults();
    let s = c.sync().await;
    assert!(s.complete, "{s:?}");
    verify(&c, &server, &edits).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn connection_dropped_mid_page() {
    run_case(Kind::DropConnection, Length::Burst).await;
    run_case(Kind::DropConnection, Length::Outlasting).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bursts_of_503() {
    run_case(Kind::Status(503), Length::Burst).await;
    run_case(Kind::Status(503), Length::Outlasting).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn bursts_of_500() {
    run_case(Kind::Status(500), Length::Burst).await;
    run_case(Kind::Status(500), Length::Outlasting).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_429_storm() {
    run_case(Kind::Throttle, Length::Burst).await;
    run_case(Kind::Throttle, Length::Outlasting).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn malformed_json() {
    run_case(Kind::Malformed, Length::Burst).await;
    run_case(Kind::Malformed, Length::Outlasting).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn truncated_json() {
    run_case(Kind::Truncated, Length::Burst).await;
    run_case(Kind::Truncated, Length::Outlasting).await;
}

/// Expires every access token the emulator issued: at every `every`-th page applied, and at the
/// first push answer of each sync; never twice within 250 ms (a request that just refreshed its
/// token must be able to use the new one, as with real token lifetimes).
struct ExpireTokens {
    emu: Arc<EmulatorHandle>,
    every: u64,
    pages: AtomicU64,
    pushes: AtomicU64,
    expired: AtomicU64,
    last: std::sync::Mutex<Option<std::time::Instant>>,
}

impl ExpireTokens {
    fn new(emu: Arc<EmulatorHandle>, every: u64) -> Self {
        ExpireTokens {
            emu,
            every,
            pages: AtomicU64::new(0),
            pushes: AtomicU64::new(0),
            expired: AtomicU64::new(0),
            last: std::sync::Mutex::new(None),
        }
    }
}

impl SyncObserver for ExpireTokens {
    fn on_event(&self, e: &SyncEvent) {
        let fire = match e {
            SyncEvent::Progress(_) => (self.pages.fetch_add(1, Ordering::SeqCst) + 1).is_multiple_of(self.every),
            SyncEvent::Pushed { .. } => self.pushes.fetch_add(1, Ordering::SeqCst) == 0,
            _ => false,
        };
        let mut last = self.last.lock().unwrap();
        if fire && last.is_none_or(|t| t.elapsed() > Duration::from_millis(250)) {
            *last = Some(std::time::Instant::now());
            self.emu.expire_access_tokens();
            self.expired.fetch_add(1, Ordering::SeqCst);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn access_tokens_expiring_mid_pull_and_mid_push() {
    let emu = Arc::new(emulator(600, 300, 200));
    let c = client_with(&emu, SyncProfile::default_profile(), config()).await;
    let observer = Arc::new(ExpireTokens::new(emu.clone(), 2));
    // Slow the pages down a little so the pull spans several token lifetimes.
    emu.inject_fault(Fault {
        path_contains: Some("/api/data/".into()),
        delay_ms: Some(150),
        count: 40,
        ..Fault::default()
    });
    let s = c.engine.sync(SyncOptions::default(), observer.clone()).await.unwrap();
    assert!(s.complete, "{s:?}");
    let first = observer.expired.load(Ordering::SeqCst);
    assert!(first >= 2, "{first} expiries during the initial pull");
    // Expiring tokens expires the admin's too: take a new one.
    let server = Server::new(&emu).await;
    let edits = edit(&c, &server, "expiry").await;
    let before = observer.expired.load(Ordering::SeqCst);
    observer.pushes.store(0, Ordering::SeqCst);
    observer.last.lock().unwrap().take();
    let s = c.engine.sync(SyncOptions::default(), observer.clone()).await.unwrap();
    assert!(s.complete, "{s:?}");
    assert!(observer.expired.load(Ordering::SeqCst) > before, "no token expired during the second sync");
    let refreshes = emu.requests().iter().filter(|e| e.grant_type.as_deref() == Some("refresh_token")).count();
    assert!(refreshes >= 3, "{refreshes} refreshes");
    println!("access tokens expired {} times, {refreshes} refreshes", observer.expired.load(Ordering::SeqCst));
    let server = Server::new(&emu).await;
    verify(&c, &server, &edits).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_delta_token_expiring_with_edits_waiting() {
    let emu = emulator(600, 300, 200);
    let server = Server::new(&emu).await;
    let c = client_with(&emu, SyncProfile::default_profile(), config()).await;
    assert!(c.sync().await.complete);
    let edits = edit(&c, &server, "delta-expired").await;
    emu.expire_delta_tokens();
    let s = c.sync().await;
    assert!(s.complete && s.tables.iter().all(|t| t.full), "every table resyncs in full: {s:?}");
    verify(&c, &server, &edits).await;
    // And once more, with a 503 in the middle of the full resync's pages.
    emu.expire_delta_tokens();
    emu.inject_fault(fault(Kind::Status(503), "contacts?", 2));
    let s = c.sync().await;
    assert!(s.complete, "{s:?}");
    assert_matches_server(&server, &c.store()).await;
}
