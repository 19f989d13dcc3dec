//! Kill the process in the middle of the vault's own writes (feature `failpoints`): halfway through
//! the keyslot file, before its rename, between a data-key rotation's journal and `PRAGMA rekey`,
//! after the rekey, and inside a schema migration's transaction. A child process (this test binary
//! re-run) does the operation and aborts at the failpoint; the parent then opens the vault as the
//! next app start would. Every vault must open with a password that was valid at some moment of the
//! operation, keep its data, and accept the operation again. Each failpoint's hits are counted and
//! printed.

#![cfg(feature = "failpoints")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use common::*;
use outpost_core::{Error, OpenOptions, Value, Vault};

const NEW_PASSWORD: &[u8] = b"a new offline password";

/// The child: run one vault operation (`OUTPOST_KILL_OP`) in `OUTPOST_KILL_DIR`.
#[test]
fn child_vault_op() {
    let Ok(dir) = std::env::var("OUTPOST_KILL_DIR") else { return };
    let dir = Path::new(&dir);
    match std::env::var("OUTPOST_KILL_OP").unwrap().as_str() {
        "create" => {
            let vault = create(dir);
            vault.lock().unwrap();
        }
        // Run with OUTPOST_TEST_SCHEMA_VERSION=1: an older build makes the vault and a table.
        // (This build's record writes need version 2's columns, so the old build writes none.)
        "create_v1" => {
            let vault = create(dir);
            vault.store().register_table(&accounts_spec()).unwrap();
            vault.lock().unwrap();
        }
        "unlock" => {
            Vault::unlock(dir, PASSWORD, &OpenOptions::default()).unwrap().lock().unwrap();
        }
        "change_password" => {
            let vault = Vault::unlock(dir, PASSWORD, &OpenOptions::default()).unwrap();
            vault.change_password(PASSWORD, NEW_PASSWORD).unwrap();
        }
        "rotate" => {
            let mut vault = Vault::unlock(dir, PASSWORD, &OpenOptions::default()).unwrap();
            vault.rotate_data_key(PASSWORD, None).unwrap();
        }
        other => panic!("unknown op {other}"),
    }
    println!("CHILD done");
}

/// Runs the child; returns (success, stderr).
fn child(dir: &Path, op: &str, failpoint: Option<&str>, schema: Option<u32>) -> (bool, String) {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["--exact", "child_vault_op", "--nocapture", "--test-threads=1"])
        .env("OUTPOST_KILL_DIR", dir)
        .env("OUTPOST_KILL_OP", op)
        .env_remove("OUTPOST_FAILPOINT")
        .env_remove("OUTPOST_TEST_SCHEMA_VERSION");
    if let Some(f) = failpoint {
        cmd.env("OUTPOST_FAILPOINT", f);
    }
    if let Some(v) = schema {
        cmd.env("OUTPOST_TEST_SCHEMA_VERSION", v.to_string());
    }
    let out = cmd.output().unwrap();
    (out.status.success(), String::from_utf8_lossy(&out.stderr).into_owned())
}

/// Runs the child at `failpoint`; returns how often it reported the failpoint hit (once).
fn kill_at(dir: &Path, op: &str, failpoint: &str, schema: Option<u32>) -> usize {
    let (ok, stderr) = child(dir, op, Some(failpoint), schema);
    let name = failpoint.split(':').next().unwrap();
    assert!(!ok, "{op}: the child must die at {failpoint}: {stderr}");
    let hits = stderr.matches(&format!("failpoint {name} hit")).count();
    assert_eq!(hits, 1, "{op} at {failpoint}: {stderr}");
    hits
}

const MARKER_ID: &str = "00000000-0000-4000-8000-000000000007";

/// A vault with one table and one record in it, locked.
fn vault_with_data(dir: &Path) {
    let vault = create(dir);
    vault.store().register_table(&accounts_spec()).unwrap();
    vault.store().apply_server_rows("accounts", &[account_row(7, "Kept through the crash", "x")]).unwrap();
    vault.lock().unwrap();
}

fn marker(vault: &Vault) -> Option<String> {
    vault.store().get("accounts", MARKER_ID).unwrap().map(|r| r.values["name"].as_str().unwrap().to_string())
}

#[test]
fn killed_mid_vault_writes_every_vault_opens_with_its_data() {
    let mut hits: BTreeMap<String, usize> = BTreeMap::new();

    // The password change: killed halfway through the new keyslot file, and with the complete
    // temp file not yet renamed. The old password still opens the vault, the new one does not
    // (the change never happened), and the change then succeeds.
    for fp in ["vault.keyslot.mid_write", "vault.keyslot.before_rename"] {
        let dir = tempfile::tempdir().unwrap();
        vault_with_data(dir.path());
        *hits.entry(fp.into()).or_default() += kill_at(dir.path(), "change_password", fp, None);
        assert!(matches!(
            Vault::unlock(dir.path(), NEW_PASSWORD, &OpenOptions::default()),
            Err(Error::WrongPassword { .. })
        ));
        let vault = Vault::unlock(dir.path(), PASSWORD, &OpenOptions::default()).unwrap();
        assert_eq!(marker(&vault).as_deref(), Some("Kept through the crash"), "{fp}");
        vault.change_password(PASSWORD, NEW_PASSWORD).unwrap();
        vault.lock().unwrap();
        let vault = Vault::unlock(dir.path(), NEW_PASSWORD, &OpenOptions::default()).unwrap();
        assert_eq!(marker(&vault).as_deref(), Some("Kept through the crash"), "{fp}");
    }

    // The data-key rotation: killed with the journal written (old key still in the database),
    // after `PRAGMA rekey` (new key in the database, the keyslot file not finished), and while
    // the journal or the final keyslot file is half written. The password opens the vault with
    // whichever key the database has; a second rotation then completes.
    for fp in [
        "vault.rotate.after_journal",
        "vault.rotate.after_rekey",
        "vault.keyslot.mid_write:1",
        "vault.keyslot.mid_write:2",
        "vault.keyslot.before_rename:2",
    ] {
        let dir = tempfile::tempdir().unwrap();
        vault_with_data(dir.path());
        *hits.entry(fp.into()).or_default() += kill_at(dir.path(), "rotate", fp, None);
        let mut vault = Vault::unlock(dir.path(), PASSWORD, &OpenOptions::default())
            .unwrap_or_else(|e| panic!("after a kill at {fp}: {e:?}"));
        assert_eq!(marker(&vault).as_deref(), Some("Kept through the crash"), "{fp}");
        vault.rotate_data_key(PASSWORD, None).unwrap();
        vault.lock().unwrap();
        let vault = Vault::unlock(dir.path(), PASSWORD, &OpenOptions::default()).unwrap();
        assert_eq!(marker(&vault).as_deref(), Some("Kept through the crash"), "{fp}");
    }

    // Vault creation killed inside a schema migration: the keyslot file is written last, so no
    // vault exists yet; the leftover database is replaced by the next create.
    for fp in ["store.migration.mid:1", "store.migration.mid:2"] {
        let dir = tempfile::tempdir().unwrap();
        *hits.entry(format!("{fp} (create)")).or_default() += kill_at(dir.path(), "create", fp, None);
        assert!(!Vault::exists(dir.path()), "{fp}");
        assert!(matches!(Vault::unlock(dir.path(), PASSWORD, &OpenOptions::default()), Err(Error::Corrupt { .. })));
        let vault = create(dir.path());
        vault.store().register_table(&accounts_spec()).unwrap();
        vault.lock().unwrap();
    }

    // An upgrade: a vault made by an older build (schema version 1) with a table, opened by this
    // build, killed inside the migration to version 2. The next open runs it again.
    let dir = tempfile::tempdir().unwrap();
    let (ok, err) = child(dir.path(), "create_v1", None, Some(1));
    assert!(ok, "{err}");
    *hits.entry("store.migration.mid (upgrade 1 to 2)".into()).or_default() +=
        kill_at(dir.path(), "unlock", "store.migration.mid", None);
    let vault = Vault::unlock(dir.path(), PASSWORD, &OpenOptions::default()).unwrap();
    assert_eq!(vault.store().tables().unwrap().len(), 1, "the table survives the upgrade");
    vault.store().apply_server_rows("accounts", &[account_row(7, "written after the upgrade", "x")]).unwrap();
    assert_eq!(marker(&vault).as_deref(), Some("written after the upgrade"));
    vault.store().create("accounts", [("name".to_string(), Value::text("local"))].into()).unwrap();
    assert_eq!(vault.store().pending_count().unwrap(), 1, "the outbox works after the upgrade");
    vault.lock().unwrap();

    println!("vault failpoint hits:");
    for (name, n) in &hits {
        println!("  {name}: {n}");
        assert!(*n >= 1, "{name} was never hit");
    }
}
