//! "Sync that never loses an edit" (issue 14): one test per defect found, each written first
//! against the old outbox (where it failed) and kept as a regression test. Every test ends with
//! the user-level checks: the edit is on the server with the value the user last set, or it is
//! shown to the user (a conflict, a refused change), and the vault equals the server.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::world::*;
use common::*;
use outpost_core::sync::{ConflictPolicy, SyncEngine, SyncOptions, SyncProfile, TableColumns, TableProfile};
use outpost_core::{Auth, ConflictKind, OrgUrl, Resolution, Value};
use outpost_emulator::{EmulatorHandle, Fault};

fn ids_of(c: &Client, set: &str, pk: &str) -> Vec<String> {
    local_rows(&c.store(), set, &cols(&[pk])).keys().cloned().collect()
}

fn text(c: &Client, set: &str, id: &str, col: &str) -> Option<String> {
    c.store().get(set, id).unwrap().and_then(|r| r.values.get(col).and_then(|v| v.as_str().map(str::to_string)))
}

async fn server_text(server: &Server, set: &str, id: &str, col: &str) -> Option<String> {
    server.get(&format!("{set}({id})?$select={col}")).await.and_then(|v| v[col].as_str().map(str::to_string))
}

/// A sync that only pushes, and whose push a fault ends (the answer lost, or the connection cut).
async fn push_only_and_fail(c: &Client) {
    let s = c
        .engine
        .sync(SyncOptions { pull: false, ..SyncOptions::default() }, Arc::new(outpost_core::sync::NoObserver))
        .await
        .unwrap();
    assert!(s.push_error.is_some(), "{s:?}");
}

/// A second engine on the same vault with another profile.
fn engine_with(c: &Client, emu: &EmulatorHandle, profile: SyncProfile) -> SyncEngine {
    let org = OrgUrl::parse(emu.org_url()).unwrap();
    let auth = Auth::new(emulator_auth_config(emu.org_url(), &emu.authority(), &emu.client_id()), c.store()).unwrap();
    SyncEngine::new(c.store(), Arc::new(auth), &org, profile, test_config()).unwrap()
}

/// Defect 1: the push read a snapshot of the outbox; a batch waiting for a concurrency slot
/// sent the stale snapshot and then deleted the entry an edit had been merged into meanwhile.
#[tokio::test(flavor = "multi_thread")]
async fn defect1_an_edit_made_while_the_push_waits_is_not_lost() {
    let emu = emulator(0, 0, 40);
    let server = Server::new(&emu).await;
    let mut config = test_config();
    config.push_batch_size = 10;
    config.concurrency = 1;
    let c = client_with(&emu, SyncProfile::default_profile(), config).await;
    c.sync().await;
    let ids = ids_of(&c, "tasks", "activityid");
    for id in &ids {
        c.store().update("tasks", id, values(&[("subject", Value::text("queued"))])).unwrap();
    }
    // Every $batch takes 400 ms: while the first one is answered, the last one waits about
    // 1.2 s for its slot.
    emu.inject_fault(Fault {
        method: Some("POST".into()),
        path_contains: Some("$batch".into()),
        delay_ms: Some(400),
        count: 4,
        ..Fault::default()
    });
    let store = c.store();
    let written_before = emu.table_write_history("tasks").len();
    let edit = async {
        // As soon as the server has applied the first batch of the push, the user edits every
        // record the server has not seen yet: their entries wait for a slot (or are on the
        // way). Not after a fixed delay, which made the test depend on the pull's duration.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while emu.table_write_history("tasks").len() == written_before && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let written: std::collections::HashSet<String> =
            emu.table_write_history("tasks").into_iter().skip(written_before).map(|(id, _)| id).collect();
        let edited: Vec<String> = ids.iter().filter(|id| !written.contains(*id)).cloned().collect();
        for id in &edited {
            store.update("tasks", id, values(&[("subject", Value::text("edited during the sync"))])).unwrap();
        }
        edited
    };
    let (s, edited) =
        tokio::join!(c.engine.sync(SyncOptions::default(), Arc::new(outpost_core::sync::NoObserver)), edit);
    let s = s.unwrap();
    assert!(!edited.is_empty(), "the edits were made while the push was under way");
    // Either this sync sent the edits in a later round, or they still wait (and the sync says so).
    for id in &edited {
        assert_eq!(text(&c, "tasks", id, "subject").as_deref(), Some("edited during the sync"));
        if s.pending == 0 {
            assert_eq!(server_text(&server, "tasks", id, "subject").await.as_deref(), Some("edited during the sync"));
        }
    }
    if s.pending > 0 {
        assert!(!s.complete, "a sync that leaves an unsent edit is not complete: {s:?}");
    }
    let s = c.sync().await;
    assert!(s.complete && s.pending == 0, "{s:?}");
    for id in &edited {
        assert_eq!(server_text(&server, "tasks", id, "subject").await.as_deref(), Some("edited during the sync"));
    }
    assert_matches_server(&server, &c.store()).await;
}

/// Defect 2: a create the server applied but whose answer was lost. Later edits merged into
/// the create vanished on replay (412, server row adopted without comparing), a delete of such
/// a record only removed the local copy, and the replay re-created a record the server had
/// deleted in between.
#[tokio::test(flavor = "multi_thread")]
async fn defect2_a_create_whose_answer_was_lost_keeps_later_edits_and_deletes() {
    let emu = emulator(2, 0, 0);
    let server = Server::new(&emu).await;
    let mut config = test_config();
    config.retry.max_attempts = 1; // the lost answer ends this sync's push
    let c = client_with(&emu, SyncProfile::default_profile(), config).await;
    c.sync().await;
    let store = c.store();
    let edited = store.create("accounts", values(&[("name", Value::text("created offline"))])).unwrap();
    let deleted = store.create("accounts", values(&[("name", Value::text("deleted later"))])).unwrap();
    let gone = store.create("accounts", values(&[("name", Value::text("deleted on the server"))])).unwrap();
    // The server applies the $batch, then the connection drops before the answer.
    emu.inject_fault(Fault {
        method: Some("POST".into()),
        path_contains: Some("$batch".into()),
        lost_ack: true,
        ..Fault::default()
    });
    push_only_and_fail(&c).await;
    for id in [&edited, &deleted, &gone] {
        assert!(server.get(&format!("accounts({id})")).await.is_some(), "the server applied the create");
    }
    // Offline again: the user edits one, deletes another; the server deletes the third.
    store.update("accounts", &edited, values(&[("name", Value::text("edited after the lost answer"))])).unwrap();
    store.delete("accounts", &deleted).unwrap();
    server.delete(&format!("accounts({gone})")).await;

    let s = c.sync().await;
    assert!(s.complete, "{s:?}");
    assert_eq!(
        server_text(&server, "accounts", &edited, "name").await.as_deref(),
        Some("edited after the lost answer")
    );
    assert!(server.get(&format!("accounts({deleted})")).await.is_none(), "the local delete reached the server");
    assert!(server.get(&format!("accounts({gone})")).await.is_none(), "the server's delete is not undone");
    let inserts = emu.insert_counts("accounts");
    for id in [&edited, &deleted, &gone] {
        assert_eq!(inserts.get(id.as_str()).copied(), Some(1), "{id} created once: {inserts:?}");
    }
    assert_eq!(c.store().pending_count().unwrap(), 0);
    assert_matches_server(&server, &c.store()).await;
}

/// Defect 3: an update whose lookup target no longer exists gets a 404, which was taken as
/// "the record was deleted on the server" under every policy.
#[tokio::test(flavor = "multi_thread")]
async fn defect3_a_missing_lookup_target_is_a_refused_change_not_a_server_delete() {
    for policy in [ConflictPolicy::ServerWins, ConflictPolicy::MergeFields, ConflictPolicy::ClientWins] {
        let emu = emulator(3, 3, 0);
        let server = Server::new(&emu).await;
        let mut profile = SyncProfile::default_profile();
        for t in &mut profile.tables {
            t.conflict_policy = policy;
        }
        let c = client_with(&emu, profile, test_config()).await;
        c.sync().await;
        let contact = ids_of(&c, "contacts", "contactid")[0].clone();
        let missing = "0badf00d-0000-4000-8000-000000000404";
        let mut change = values(&[("jobtitle", Value::text("points at nothing"))]);
        change.extend(lookup("_parentcustomerid_value", "account", missing));
        c.store().update("contacts", &contact, change).unwrap();
        let s = c.sync().await;
        assert_eq!((s.parked, s.open_conflicts), (1, 0), "{policy:?}: {s:?}");
        assert!(c.store().get("contacts", &contact).unwrap().is_some(), "{policy:?}: the record stays");
        assert!(server.get(&format!("contacts({contact})")).await.is_some());
        let parked = c.store().parked().unwrap();
        let err = parked[0].error.clone().unwrap();
        assert_eq!(err.status, 404, "{policy:?}");
        assert_eq!(
            err.reason,
            outpost_core::RefusalReason::MissingLookupTarget { column: "_parentcustomerid_value".into() },
            "{policy:?}"
        );
        // Later syncs keep it, and a fix goes through.
        c.sync().await;
        assert!(c.store().get("contacts", &contact).unwrap().is_some());
        let good = ids_of(&c, "accounts", "accountid")[0].clone();
        c.store()
            .update("contacts", &contact, lookup("_parentcustomerid_value", "account", &good).into_iter().collect())
            .unwrap();
        c.store().retry_parked(parked[0].seq).unwrap();
        let s = c.sync().await;
        assert_eq!((s.parked, s.pending), (0, 0), "{policy:?}: {s:?}");
        assert_eq!(server_text(&server, "contacts", &contact, "jobtitle").await.as_deref(), Some("points at nothing"));
        assert_matches_server(&server, &c.store()).await;
    }
}

/// Defect 4: removing a table from the profile purged its unsent edits before the push.
#[tokio::test(flavor = "multi_thread")]
async fn defect4_removing_a_table_from_the_profile_keeps_its_unsent_edits() {
    let emu = emulator(3, 3, 0);
    let server = Server::new(&emu).await;
    let both = SyncProfile {
        tables: vec![
            TableProfile::new("accounts", &["name"]),
            TableProfile::new("contacts", &["lastname", "jobtitle"]),
        ],
    };
    let c = client_with(&emu, both.clone(), test_config()).await;
    c.sync().await;
    let contact = ids_of(&c, "contacts", "contactid")[0].clone();
    c.store().update("contacts", &contact, values(&[("jobtitle", Value::text("unsent edit"))])).unwrap();
    let only_accounts = engine_with(&c, &emu, SyncProfile { tables: vec![TableProfile::new("accounts", &["name"])] });
    let _ = only_accounts.sync(SyncOptions::default(), Arc::new(outpost_core::sync::NoObserver)).await.unwrap();
    // The edit was pushed before the table left, or it is still waiting in the vault.
    let on_server = server_text(&server, "contacts", &contact, "jobtitle").await;
    if on_server.as_deref() != Some("unsent edit") {
        assert_eq!(c.store().pending_count().unwrap(), 1, "the unsent edit was discarded");
    }
    let again = engine_with(&c, &emu, both);
    again.sync(SyncOptions::default(), Arc::new(outpost_core::sync::NoObserver)).await.unwrap();
    assert_eq!(server_text(&server, "contacts", &contact, "jobtitle").await.as_deref(), Some("unsent edit"));
}

/// Defect 5: offline creates that refer to each other (contact → account → contact) never
/// pushed, and every sync said complete.
#[tokio::test(flavor = "multi_thread")]
async fn defect5_offline_creates_that_refer_to_each_other_are_pushed() {
    let emu = emulator(2, 2, 0);
    let server = Server::new(&emu).await;
    let c = client(&emu).await;
    c.sync().await;
    let store = c.store();
    let account = store.create("accounts", values(&[("name", Value::text("cyclic account"))])).unwrap();
    let mut contact = values(&[("lastname", Value::text("cyclic contact"))]);
    contact.extend(lookup("_parentcustomerid_value", "account", &account));
    let contact = store.create("contacts", contact).unwrap();
    store
        .update("accounts", &account, lookup("_primarycontactid_value", "contact", &contact).into_iter().collect())
        .unwrap();
    let s = c.sync().await;
    assert!(s.complete && s.pending == 0, "{s:?}");
    let a = server.get(&format!("accounts({account})?$select=_primarycontactid_value")).await.unwrap();
    assert_eq!(a["_primarycontactid_value"], contact.as_str());
    let k = server.get(&format!("contacts({contact})?$select=_parentcustomerid_value")).await.unwrap();
    assert_eq!(k["_parentcustomerid_value"], account.as_str());
    assert_matches_server(&server, &store).await;
}

/// Defect 6: a refused (parked) change could never be fixed: later edits did not reach it,
/// retry resent the original values, and later entries waited behind it forever.
#[tokio::test(flavor = "multi_thread")]
async fn defect6_a_parked_change_can_be_fixed_and_retried() {
    let emu = emulator(3, 0, 0);
    let server = Server::new(&emu).await;
    let c = client(&emu).await;
    c.sync().await;
    let store = c.store();
    let id = ids_of(&c, "accounts", "accountid")[0].clone();
    store
        .update("accounts", &id, values(&[("name", Value::text("x".repeat(161))), ("telephone1", Value::text("kept"))]))
        .unwrap();
    let s = c.sync().await;
    assert_eq!(s.parked, 1, "{s:?}");
    // The CLI's advice: fix the value with an update, then retry.
    store.update("accounts", &id, values(&[("name", Value::text("a valid name"))])).unwrap();
    let parked = store.parked().unwrap();
    assert_eq!(parked.len(), 1);
    store.retry_parked(parked[0].seq).unwrap();
    let s = c.sync().await;
    assert_eq!((s.parked, s.pending), (0, 0), "{s:?}");
    assert_eq!(server_text(&server, "accounts", &id, "name").await.as_deref(), Some("a valid name"));
    assert_eq!(server_text(&server, "accounts", &id, "telephone1").await.as_deref(), Some("kept"));
    assert_matches_server(&server, &store).await;

    // Discard says what the record shows afterwards: the server's copy when nothing else waits.
    store.update("accounts", &id, values(&[("name", Value::text("y".repeat(161)))])).unwrap();
    c.sync().await;
    let parked = store.parked().unwrap();
    let shown = store.discard_parked(parked[0].seq).unwrap();
    assert_eq!(shown.map(|r| r.state), Some(outpost_core::RecordState::Synced));
    assert_eq!(text(&c, "accounts", &id, "name").as_deref(), Some("a valid name"));
}

/// Defect 7: the local view applied open conflict values after the outbox, hiding the user's
/// newest edit; "take local" then sent the older conflict value.
#[tokio::test(flavor = "multi_thread")]
async fn defect7_the_newest_local_edit_shows_over_an_open_conflict() {
    let emu = emulator(3, 0, 0);
    let server = Server::new(&emu).await;
    let c = client(&emu).await;
    c.sync().await;
    let store = c.store();
    let id = ids_of(&c, "accounts", "accountid")[0].clone();
    server.patch(&format!("accounts({id})"), serde_json::json!({"telephone1": "server phone"})).await;
    store.update("accounts", &id, values(&[("telephone1", Value::text("client phone"))])).unwrap();
    let s = c.sync().await;
    assert_eq!(s.open_conflicts, 1, "{s:?}");
    store.update("accounts", &id, values(&[("telephone1", Value::text("newest phone"))])).unwrap();
    assert_eq!(text(&c, "accounts", &id, "telephone1").as_deref(), Some("newest phone"));
    let conflict = store.conflicts().unwrap().remove(0);
    assert_eq!(conflict.local.get("telephone1"), Some(&Value::text("newest phone")), "{conflict:?}");
    assert_eq!(conflict.server.as_ref().and_then(|s| s.get("telephone1").cloned()), Some(Value::text("server phone")));
    store.resolve_conflict(conflict.id, &Resolution::TakeLocal).unwrap();
    assert_eq!(text(&c, "accounts", &id, "telephone1").as_deref(), Some("newest phone"));
    let s = c.sync().await;
    assert!(s.complete && s.open_conflicts == 0 && s.pending == 0, "{s:?}");
    assert_eq!(server_text(&server, "accounts", &id, "telephone1").await.as_deref(), Some("newest phone"));
    assert_matches_server(&server, &store).await;
}

/// Defect 8: a record with an open conflict, deleted on the server, survived a full resync
/// (the sweep removed only synced rows), and "take server" rebuilt it from the stale copy.
#[tokio::test(flavor = "multi_thread")]
async fn defect8_a_full_resync_leaves_no_ghost_behind_an_open_conflict() {
    let emu = emulator(3, 0, 0);
    let server = Server::new(&emu).await;
    let c = client(&emu).await;
    c.sync().await;
    let store = c.store();
    let id = ids_of(&c, "accounts", "accountid")[0].clone();
    server.patch(&format!("accounts({id})"), serde_json::json!({"telephone1": "server phone"})).await;
    store.update("accounts", &id, values(&[("telephone1", Value::text("client phone"))])).unwrap();
    assert_eq!(c.sync().await.open_conflicts, 1);
    server.delete(&format!("accounts({id})")).await;
    emu.expire_delta_tokens();
    let s = c.sync().await;
    assert!(s.tables.iter().any(|t| t.full), "{s:?}");
    let conflicts = store.conflicts().unwrap();
    assert_eq!(conflicts.len(), 1, "{conflicts:?}");
    assert_eq!(conflicts[0].kind, ConflictKind::ServerDeleted, "{conflicts:?}");
    assert_eq!(conflicts[0].local.get("telephone1"), Some(&Value::text("client phone")));
    assert!(store.get("accounts", &id).unwrap().is_none(), "no ghost");
    store.resolve_conflict(conflicts[0].id, &Resolution::TakeServer).unwrap();
    assert!(store.get("accounts", &id).unwrap().is_none(), "take server accepts the delete");
    assert_matches_server(&server, &store).await;
}

/// Defect 9: Money and Decimal values from JSON went through f64.
#[tokio::test(flavor = "multi_thread")]
async fn defect9_money_from_json_is_exact_end_to_end() {
    let emu = emulator(2, 0, 0);
    let server = Server::new(&emu).await;
    let c = client(&emu).await;
    c.sync().await;
    let profile = SyncProfile::default_profile();
    let accounts = profile.table("accounts").unwrap();
    let cols = TableColumns::load(&c.store(), accounts).unwrap();
    let json: serde_json::Value = serde_json::from_str(r#"{"revenue": 98765432109876.1234}"#).unwrap();
    let exact = cols.values_from_json_text(r#"{"revenue": 98765432109876.1234}"#).unwrap();
    assert_eq!(exact.get("revenue"), Some(&Value::decimal("98765432109876.1234").unwrap()));
    // A parsed serde_json::Value has lost the digits already: refused rather than rounded.
    assert!(cols.values_from_json("revenue", &json["revenue"]).is_err());
    let id = ids_of(&c, "accounts", "accountid")[0].clone();
    c.store().update("accounts", &id, exact).unwrap();
    let s = c.sync().await;
    assert!(s.complete && s.pending == 0, "{s:?}");
    let (st, body) = server.send(reqwest::Method::GET, &format!("accounts({id})?$select=revenue"), None).await;
    assert_eq!(st, 200);
    assert!(body.contains("98765432109876.1234"), "{body}");
    assert_matches_server(&server, &c.store()).await;
}

// Counterexamples the randomized trials found (cli/tests/trials.rs; docs/faults.md), shrunk
// and kept as regression tests.

/// Trials, "lost delete": a delete made while the record's update was in flight was based on
/// the etag before that update; our own update then counted as a server change, the delete met
/// 412 and (server wins) was dropped, silently. Under every policy the delete must reach the
/// server and nothing must be shown as a conflict.
#[tokio::test(flavor = "multi_thread")]
async fn trials_a_delete_made_while_its_records_update_is_in_flight_reaches_the_server() {
    for policy in [ConflictPolicy::ServerWins, ConflictPolicy::MergeFields, ConflictPolicy::Manual] {
        let emu = emulator(2, 0, 0);
        let server = Server::new(&emu).await;
        let mut profile = SyncProfile::default_profile();
        for t in &mut profile.tables {
            t.conflict_policy = policy;
        }
        let c = client_with(&emu, profile, test_config()).await;
        c.sync().await;
        let store = c.store();
        let id = ids_of(&c, "accounts", "accountid")[0].clone();
        store.update("accounts", &id, values(&[("name", Value::text("edited, then deleted"))])).unwrap();
        emu.inject_fault(Fault {
            method: Some("POST".into()),
            path_contains: Some("$batch".into()),
            delay_ms: Some(300),
            count: 1,
            ..Fault::default()
        });
        let delete = async {
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while !store.outbox().unwrap().iter().any(|e| e.state == outpost_core::OutboxState::InFlight) {
                assert!(std::time::Instant::now() < deadline, "the update went out");
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            store.delete("accounts", &id).unwrap();
        };
        let (s, ()) = tokio::join!(
            c.engine
                .sync(SyncOptions { pull: false, ..SyncOptions::default() }, Arc::new(outpost_core::sync::NoObserver)),
            delete
        );
        s.unwrap();
        let s = c.sync().await;
        assert!(s.complete && s.pending == 0 && s.open_conflicts == 0, "{policy:?}: {s:?}");
        assert!(server.get(&format!("accounts({id})")).await.is_none(), "{policy:?}: the delete reached the server");
        assert!(store.get("accounts", &id).unwrap().is_none(), "{policy:?}");
        assert_matches_server(&server, &store).await;
    }
}

/// Trials, "a discarded edit reached the server": a conflict shows the user's newest unsent
/// edit of its columns as the local side (defect 7); taking the server's side dropped only the
/// conflict's own values, and the newer edit still went out.
#[tokio::test(flavor = "multi_thread")]
async fn trials_taking_the_servers_side_gives_up_the_newer_edit_the_conflict_showed() {
    let emu = emulator(3, 0, 0);
    let server = Server::new(&emu).await;
    let c = client(&emu).await;
    c.sync().await;
    let store = c.store();
    let id = ids_of(&c, "accounts", "accountid")[0].clone();
    server.patch(&format!("accounts({id})"), serde_json::json!({"telephone1": "server phone"})).await;
    store.update("accounts", &id, values(&[("telephone1", Value::text("client phone"))])).unwrap();
    assert_eq!(c.sync().await.open_conflicts, 1);
    // A newer edit of the conflict's column, and one of another column, both unsent.
    store
        .update(
            "accounts",
            &id,
            values(&[("telephone1", Value::text("newest phone")), ("name", Value::text("renamed meanwhile"))]),
        )
        .unwrap();
    let conflict = store.conflicts().unwrap().remove(0);
    assert_eq!(conflict.local.get("telephone1"), Some(&Value::text("newest phone")), "{conflict:?}");
    store.resolve_conflict(conflict.id, &Resolution::TakeServer).unwrap();
    assert_eq!(text(&c, "accounts", &id, "telephone1").as_deref(), Some("server phone"));
    assert_eq!(text(&c, "accounts", &id, "name").as_deref(), Some("renamed meanwhile"));
    let s = c.sync().await;
    assert!(s.complete && s.open_conflicts == 0 && s.pending == 0, "{s:?}");
    assert_eq!(server_text(&server, "accounts", &id, "telephone1").await.as_deref(), Some("server phone"));
    assert_eq!(server_text(&server, "accounts", &id, "name").await.as_deref(), Some("renamed meanwhile"));
    assert_matches_server(&server, &store).await;
}

/// Trials, "lost edit": a create went out and its push failed (HTTP 500), so its outcome stays
/// open; the user deleted the record, and the delete was queued behind the create. The record
/// still showed as a local create: the app could open and edit it, the delete then went out,
/// and the edit was gone with no word. A deleted record is deleted for the app at once.
#[tokio::test(flavor = "multi_thread")]
async fn trials_a_record_deleted_behind_its_sent_create_cannot_be_edited() {
    let emu = emulator(1, 0, 0);
    let server = Server::new(&emu).await;
    let mut config = test_config();
    config.retry.max_attempts = 1; // the 500 ends this sync's push
    let c = client_with(&emu, SyncProfile::default_profile(), config).await;
    c.sync().await;
    let store = c.store();
    let id = store.create("accounts", values(&[("name", Value::text("created, then deleted"))])).unwrap();
    emu.inject_fault(Fault {
        method: Some("POST".into()),
        path_contains: Some("$batch".into()),
        status: Some(500),
        count: 1,
        ..Fault::default()
    });
    push_only_and_fail(&c).await;
    store.delete("accounts", &id).unwrap();
    assert!(store.get("accounts", &id).unwrap().is_none(), "deleted for the app");
    let edit = store.update("accounts", &id, values(&[("name", Value::text("edited after the delete"))]));
    assert!(matches!(edit, Err(outpost_core::Error::NotFound { .. })), "{edit:?}");
    assert!(matches!(store.delete("accounts", &id), Err(outpost_core::Error::NotFound { .. })));
    let s = c.sync().await;
    assert!(s.complete && s.pending == 0 && s.open_conflicts == 0, "{s:?}");
    assert!(server.get(&format!("accounts({id})")).await.is_none(), "not on the server");
    assert!(store.get("accounts", &id).unwrap().is_none());
    assert_matches_server(&server, &store).await;
}

/// Trials, "lost edit" (the full 10,000-trial run, seeds 13787233047635752993,
/// 14179287113253448137 and two more): an update of a record was in flight when the user deleted
/// the record; both met 412 (the server had changed it), so two conflicts were open. The user
/// kept the delete (take local) and answered the update conflict with new values: accepted, the
/// delete went out first, and the values were gone with no word. A record deleted here takes no
/// more edits: that resolution is refused (the conflict stays) until the user takes the
/// server's side.
#[tokio::test(flavor = "multi_thread")]
async fn trials_a_conflict_of_a_record_deleted_here_cannot_be_resolved_with_values() {
    let emu = emulator(2, 0, 0);
    let server = Server::new(&emu).await;
    let c = client(&emu).await;
    c.sync().await;
    let store = c.store();
    let id = ids_of(&c, "accounts", "accountid")[0].clone();
    server.patch(&format!("accounts({id})"), serde_json::json!({"telephone1": "server phone"})).await;
    store.update("accounts", &id, values(&[("telephone1", Value::text("client phone"))])).unwrap();
    emu.inject_fault(Fault {
        method: Some("POST".into()),
        path_contains: Some("$batch".into()),
        delay_ms: Some(400),
        count: 1,
        ..Fault::default()
    });
    let delete = async {
        // Once the update is claimed (in flight), the user deletes the record.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !store.outbox().unwrap().iter().any(|e| e.state == outpost_core::store::OutboxState::InFlight)
            && std::time::Instant::now() < deadline
        {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        store.delete("accounts", &id).unwrap();
    };
    let (s, ()) = tokio::join!(c.engine.sync(SyncOptions::default(), Arc::new(outpost_core::sync::NoObserver)), delete);
    let s = s.unwrap();
    let conflicts = store.conflicts().unwrap();
    assert_eq!(conflicts.len(), 2, "{s:?} {conflicts:?}");
    let update = conflicts.iter().find(|k| k.kind == outpost_core::store::ConflictKind::Update).unwrap().clone();
    let delete = conflicts.iter().find(|k| k.kind == outpost_core::store::ConflictKind::LocalDeleted).unwrap().clone();
    store.resolve_conflict(delete.id, &Resolution::TakeLocal).unwrap();
    for r in [Resolution::Values(values(&[("telephone1", Value::text("chosen phone"))])), Resolution::TakeLocal] {
        let refused = store.resolve_conflict(update.id, &r);
        assert!(matches!(refused, Err(outpost_core::Error::NotFound { .. })), "{refused:?}");
    }
    assert_eq!(store.conflicts().unwrap().len(), 1, "the conflict stays");
    store.resolve_conflict(update.id, &Resolution::TakeServer).unwrap();
    let s = c.sync().await;
    assert!(s.complete && s.open_conflicts == 0 && s.pending == 0, "{s:?}");
    assert!(server_text(&server, "accounts", &id, "name").await.is_none(), "the delete reached the server");
    assert_matches_server(&server, &store).await;
}

/// Trials seed 10051035586216306381, "device differs from the server": after a server delete,
/// this device answered "deleted on the server" with its local side, and that re-create was
/// refused (parked); another device re-created the record with the same id, and this device
/// pulled it. Discarding the refused re-create removed the record although the server has it,
/// and no later pull brought it back. A discard (or a delete) of such a re-create falls back to
/// the server's copy.
#[tokio::test(flavor = "multi_thread")]
async fn trials_discarding_a_refused_recreate_keeps_the_record_the_server_has_again() {
    for delete_instead in [false, true] {
        let emu = emulator(2, 0, 0);
        let server = Server::new(&emu).await;
        let mut profile = SyncProfile::default_profile();
        for t in &mut profile.tables {
            t.conflict_policy = ConflictPolicy::Manual;
        }
        let c = client_with(&emu, profile, test_config()).await;
        c.sync().await;
        let store = c.store();
        let id = ids_of(&c, "accounts", "accountid")[0].clone();
        store.update("accounts", &id, values(&[("name", Value::text("x".repeat(161)))])).unwrap();
        server.delete(&format!("accounts({id})")).await;
        let s = c.sync().await;
        assert_eq!(s.open_conflicts, 1, "{s:?}");
        let conflict = store.conflicts().unwrap()[0].clone();
        assert_eq!(conflict.kind, ConflictKind::ServerDeleted);
        store.resolve_conflict(conflict.id, &Resolution::TakeLocal).unwrap();
        let s = c.sync().await;
        assert_eq!(s.parked, 1, "the re-create is refused (name too long): {s:?}");
        // Another device re-creates the record with the same id.
        server.patch(&format!("accounts({id})"), serde_json::json!({"name": "re-created elsewhere"})).await;
        let s = c.sync().await;
        assert_eq!(s.parked, 1, "{s:?}");
        let parked = store.parked().unwrap();
        if delete_instead {
            store.delete("accounts", &id).unwrap();
            let s = c.sync().await;
            assert!(s.complete && s.pending == 0 && s.parked == 0 && s.open_conflicts == 0, "{s:?}");
            assert!(server.get(&format!("accounts({id})")).await.is_none(), "the delete reached the server");
        } else {
            let shown = store.discard_parked(parked[0].seq).unwrap();
            assert_eq!(shown.map(|r| r.state), Some(outpost_core::RecordState::Synced));
            assert_eq!(text(&c, "accounts", &id, "name").as_deref(), Some("re-created elsewhere"));
            let s = c.sync().await;
            assert!(s.complete && s.pending == 0 && s.parked == 0 && s.open_conflicts == 0, "{s:?}");
        }
        assert_matches_server(&server, &store).await;
    }
}

/// Second full trials run (seed 4503457556177035486, shrunk to 4 operations): a create whose
/// answer was lost, a server delete of the row, then expired delta tokens. The pull before the
/// replay had to be a full resync, which has no tombstone to show the row landed and was
/// deleted, and the create was replayed: the deleted record came back. Now a sent create that a
/// full pass does not see is kept for the user as "deleted on the server" (no duplicate, no
/// silent loss); keeping it creates it again, taking the server's side gives it up.
#[tokio::test(flavor = "multi_thread")]
async fn trials_a_lost_create_answer_after_which_the_delta_token_expired_is_kept_for_the_user() {
    for keep in [false, true] {
        let emu = emulator(2, 0, 0);
        let server = Server::new(&emu).await;
        let mut config = test_config();
        config.retry.max_attempts = 1; // the lost answer ends this sync's push
        let c = client_with(&emu, SyncProfile::default_profile(), config).await;
        c.sync().await;
        let store = c.store();
        let id = store.create("accounts", values(&[("name", Value::text("created offline"))])).unwrap();
        emu.inject_fault(Fault {
            method: Some("POST".into()),
            path_contains: Some("$batch".into()),
            lost_ack: true,
            ..Fault::default()
        });
        push_only_and_fail(&c).await;
        assert!(server.get(&format!("accounts({id})")).await.is_some(), "the server applied the create");
        server.delete(&format!("accounts({id})")).await;
        emu.expire_delta_tokens();

        let s = c.sync().await;
        assert_eq!(s.open_conflicts, 1, "{s:?}");
        assert!(server.get(&format!("accounts({id})")).await.is_none(), "the server's delete is not undone");
        assert_eq!(emu.insert_counts("accounts").get(id.as_str()).copied(), Some(1), "created once");
        let conflict = store.conflicts().unwrap()[0].clone();
        assert_eq!((conflict.kind, conflict.record_id.as_str()), (ConflictKind::ServerDeleted, id.as_str()));
        assert_eq!(store.pending_count().unwrap(), 0);
        if keep {
            store.resolve_conflict(conflict.id, &Resolution::TakeLocal).unwrap();
            let s = c.sync().await;
            assert!(s.complete && s.open_conflicts == 0 && s.pending == 0, "{s:?}");
            assert_eq!(server_text(&server, "accounts", &id, "name").await.as_deref(), Some("created offline"));
        } else {
            store.resolve_conflict(conflict.id, &Resolution::TakeServer).unwrap();
            let s = c.sync().await;
            assert!(s.complete && s.open_conflicts == 0 && s.pending == 0, "{s:?}");
            assert!(server.get(&format!("accounts({id})")).await.is_none());
        }
        assert_matches_server(&server, &store).await;
    }
}

/// Second full trials run (seed 17356269532594158711): a create in flight whose answer never
/// came, and a row with its id on the server that does not hold its values (another device's
/// re-create of the id after a server delete, while ours never arrived). The pull took the row
/// as "our create landed" and settled the entry: our values were gone, neither on the server nor
/// shown. Now the differing columns are kept as a conflict; "keep mine" sends them.
#[tokio::test(flavor = "multi_thread")]
async fn trials_a_row_with_the_id_of_an_unanswered_create_but_other_values_is_a_conflict() {
    let emu = emulator(2, 0, 0);
    let server = Server::new(&emu).await;
    let mut config = test_config();
    config.retry.max_attempts = 1;
    let c = client_with(&emu, SyncProfile::default_profile(), config).await;
    c.sync().await;
    let store = c.store();
    let id = store.create("accounts", values(&[("name", Value::text("ours, never arrived"))])).unwrap();
    // The connection drops before the server runs any part of the $batch.
    emu.inject_fault(Fault {
        method: Some("POST".into()),
        path_contains: Some("$batch".into()),
        lost_ack_after_parts: Some(0),
        ..Fault::default()
    });
    push_only_and_fail(&c).await;
    assert!(server.get(&format!("accounts({id})")).await.is_none(), "nothing arrived");
    // Another device writes a row with this id.
    server.patch(&format!("accounts({id})"), serde_json::json!({"name": "theirs"})).await;

    let s = c.sync().await;
    assert_eq!(s.open_conflicts, 1, "{s:?}");
    let conflict = store.conflicts().unwrap()[0].clone();
    assert_eq!((conflict.kind, conflict.record_id.as_str()), (ConflictKind::Update, id.as_str()));
    assert_eq!(conflict.columns, vec!["name".to_string()]);
    assert_eq!(server_text(&server, "accounts", &id, "name").await.as_deref(), Some("theirs"));
    store.resolve_conflict(conflict.id, &Resolution::TakeLocal).unwrap();
    let s = c.sync().await;
    assert!(s.complete && s.open_conflicts == 0 && s.pending == 0, "{s:?}");
    assert_eq!(server_text(&server, "accounts", &id, "name").await.as_deref(), Some("ours, never arrived"));
    assert_matches_server(&server, &store).await;
}
