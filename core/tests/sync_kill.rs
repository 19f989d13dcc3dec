//! Kill and resume: a child process syncing against the emulator is killed at named failpoints
//! (feature `failpoints`), or has its connection dropped mid-page by fault injection; the vault
//! is reopened and synced again. The end state is exactly the server's, no page is fetched
//! twice beyond one retry, and no write is lost or applied twice.

#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use common::PASSWORD;
use outpost_core::sync::{NoObserver, SyncConfig, SyncEngine, SyncOptions, SyncProfile, TableProfile};
use outpost_core::{Auth, OpenOptions, OrgUrl, Query, Value, Vault};
use outpost_emulator::{defaults, Emulator, EmulatorConfig, EmulatorHandle, Fault};

const ROWS: u32 = 3_000;
const PAGE: u32 = 200;

fn profile() -> SyncProfile {
    SyncProfile { tables: vec![TableProfile::new("accounts", &["name", "telephone1"])] }
}

/// The child: open (or create) the vault, sign in if needed, sync once, print the summary.
#[test]
fn child_sync() {
    let Ok(dir) = std::env::var("OUTPOST_SYNC_DIR") else { return };
    let org = std::env::var("OUTPOST_SYNC_ORG").unwrap();
    let authority = std::env::var("OUTPOST_SYNC_AUTHORITY").unwrap();
    let client_id = std::env::var("OUTPOST_SYNC_CLIENT").unwrap();
    let dir = Path::new(&dir);
    let vault = if Vault::exists(dir) {
        Vault::unlock(dir, PASSWORD, &OpenOptions::default()).unwrap()
    } else {
        common::create(dir)
    };
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let auth = Auth::new(common::emulator_auth_config(&org, &authority, &client_id), vault.shared_store()).unwrap();
        if !auth.is_signed_in().await.unwrap() {
            auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
        }
        let mut config = SyncConfig { page_size: PAGE, ..SyncConfig::default() };
        config.retry.base_delay = Duration::from_millis(50);
        let org = OrgUrl::parse(&org).unwrap();
        let engine = SyncEngine::new(vault.shared_store(), Arc::new(auth), &org, profile(), config).unwrap();
        let s = engine.sync(SyncOptions::default(), Arc::new(NoObserver)).await.unwrap();
        println!("CHILD complete={} pushed={} conflicts={}", s.complete, s.push.pushed, s.open_conflicts);
    });
}

/// Run the child; returns (success, stderr).
fn run_child(emu: &EmulatorHandle, dir: &Path, failpoint: Option<&str>) -> (bool, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", "child_sync", "--nocapture", "--test-threads=1"])
        .env("OUTPOST_SYNC_DIR", dir)
        .env("OUTPOST_SYNC_ORG", emu.org_url())
        .env("OUTPOST_SYNC_AUTHORITY", emu.authority())
        .env("OUTPOST_SYNC_CLIENT", emu.client_id())
        .env_remove("OUTPOST_FAILPOINT");
    if let Some(f) = failpoint {
        cmd.env("OUTPOST_FAILPOINT", f);
    }
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// id → (etag, name, telephone1) on the server.
async fn server_accounts(emu: &EmulatorHandle, token: &str) -> BTreeMap<String, (String, String, String)> {
    let mut out = BTreeMap::new();
    let mut url = format!("{}accounts?$select=name,telephone1", emu.web_api_url());
    loop {
        let page: serde_json::Value = reqwest::Client::new()
            .get(&url)
            .bearer_auth(token)
            .header("Prefer", "odata.maxpagesize=5000")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for r in page["value"].as_array().unwrap() {
            let s = |k: &str| r[k].as_str().unwrap_or_default().to_string();
            out.insert(s("accountid"), (s("@odata.etag"), s("name"), s("telephone1")));
        }
        match page["@odata.nextLink"].as_str() {
            Some(n) => url = n.to_string(),
            None => return out,
        }
    }
}

fn local_accounts(dir: &Path) -> BTreeMap<String, (String, String, String)> {
    let vault = Vault::unlock(dir, PASSWORD, &OpenOptions::default()).unwrap();
    let mut out = BTreeMap::new();
    let mut q = Query { limit: 5000, ..Query::default() };
    loop {
        let page = vault.store().query("accounts", &q).unwrap();
        for r in page.records {
            let s = |k: &str| r.values.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
            out.insert(r.id.clone(), (r.etag.clone().unwrap_or_default(), s("name"), s("telephone1")));
        }
        match page.next {
            Some(c) => q.after = Some(c),
            None => break,
        }
    }
    vault.lock().unwrap();
    out
}

fn page_requests(emu: &EmulatorHandle, from: u64) -> usize {
    emu.requests()
        .iter()
        .filter(|e| {
            e.seq > from && e.method == "GET" && e.path.contains("/accounts?$select=") && !e.path.contains("$top")
        })
        .count()
}

fn last_seq(emu: &EmulatorHandle) -> u64 {
    emu.requests().iter().map(|e| e.seq).max().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn killed_at_every_failpoint_the_vault_resumes_to_the_server_state() {
    let emu = Emulator::start(EmulatorConfig::default().with_rows(ROWS, 0, 0)).unwrap();
    let token = common::password_token(&emu, defaults::ADMIN, defaults::ADMIN_PASSWORD).await;
    let dir = tempfile::tempdir().unwrap();
    let total_pages = ROWS.div_ceil(PAGE) as usize;
    let mut hits: BTreeMap<&str, usize> = BTreeMap::new();

    // 1. Killed right after the third page commit; 2. resumed with a connection dropped mid-page.
    let from = last_seq(&emu);
    let (ok, err) = run_child(&emu, dir.path(), Some("pull.after_page_commit:3"));
    assert!(!ok, "the child must die at the failpoint");
    *hits.entry("pull.after_page_commit").or_default() += err.matches("failpoint pull.after_page_commit hit").count();
    let fault = emu.inject_fault(Fault {
        method: Some("GET".into()),
        path_contains: Some("skiptoken".into()),
        drop_connection: true,
        count: 1,
        ..Fault::default()
    });
    let (ok, err) = run_child(&emu, dir.path(), None);
    assert!(ok, "{err}");
    let dropped = emu.requests().iter().filter(|e| e.fault == Some(fault)).count();
    *hits.entry("mid-page connection drop (fault)").or_default() += dropped;
    let pages = page_requests(&emu, from);
    assert!(pages <= total_pages + 1, "{pages} pages fetched for {total_pages}");
    assert_eq!(local_accounts(dir.path()), server_accounts(&emu, &token).await);

    // 3. Local edits pushed; killed after the server acknowledged, before the bookkeeping.
    let vault = Vault::unlock(dir.path(), PASSWORD, &OpenOptions::default()).unwrap();
    let ids: Vec<String> = local_accounts_ids(&vault);
    let store = vault.store();
    for id in &ids[..3] {
        store.update("accounts", id, [("telephone1".to_string(), Value::text("pushed once"))].into()).unwrap();
    }
    store.delete("accounts", &ids[3]).unwrap();
    let created = store.create("accounts", [("name".to_string(), Value::text("Created exactly once"))].into()).unwrap();
    vault.lock().unwrap();
    let (ok, err) = run_child(&emu, dir.path(), Some("push.after_ack"));
    assert!(!ok, "the child must die at the failpoint");
    *hits.entry("push.after_ack").or_default() += err.matches("failpoint push.after_ack hit").count();
    let (ok, err) = run_child(&emu, dir.path(), None);
    assert!(ok, "{err}");
    let server = server_accounts(&emu, &token).await;
    let local = local_accounts(dir.path());
    assert_eq!(local, server);
    assert_eq!(server.values().filter(|(_, n, _)| n == "Created exactly once").count(), 1);
    assert!(server.contains_key(&created));
    assert!(!server.contains_key(&ids[3]));
    assert!(ids[..3].iter().all(|id| server[id].2 == "pushed once"));
    let vault = Vault::unlock(dir.path(), PASSWORD, &OpenOptions::default()).unwrap();
    assert_eq!((vault.store().pending_count().unwrap(), vault.store().conflict_count().unwrap()), (0, 0));
    vault.lock().unwrap();

    println!("failpoint hits: {hits:?}");
    for (name, n) in &hits {
        assert!(*n >= 1, "{name} was never hit");
    }
}

fn local_accounts_ids(vault: &Vault) -> Vec<String> {
    let page = vault.store().query("accounts", &Query { limit: 10, ..Query::default() }).unwrap();
    page.records.into_iter().map(|r| r.id).collect()
}
