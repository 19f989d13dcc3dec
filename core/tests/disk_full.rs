//! Disk full during a sync, then space freed: the vault lives on a small tmpfs (mounted by the
//! test; needs root, as in CI), the initial pull runs out of space, local edits made before it stay
//! in the outbox, the error is the typed "device is full" storage error, and after the tmpfs
//! grows the next sync completes with the vault equal to the server and every edit on it once.
//!
//! Where mounting is not allowed the test says so on stdout and passes without running: the
//! fault needs a real full filesystem, which nothing else here can give.

#![cfg(target_os = "linux")]
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use common::world::*;
use outpost_core::sync::{NoObserver, SyncOptions, SyncProfile};
use outpost_core::{Error, Value};

/// A tmpfs mounted on a directory, unmounted on drop (after the vault in it is closed).
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(at: &Path, size: &str) -> Option<Tmpfs> {
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700"), "tmpfs"])
            .arg(at)
            .status()
            .is_ok_and(|s| s.success());
        ok.then(|| Tmpfs(at.to_path_buf()))
    }

    fn resize(&self, size: &str) {
        let s = Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status().unwrap();
        assert!(s.success());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn disk_full_during_a_sync_then_space_freed() {
    let dir = tempfile::tempdir().unwrap();
    let Some(fs) = Tmpfs::mount(dir.path(), "6m") else {
        println!("disk-full test not run: cannot mount a tmpfs here (needs root)");
        return;
    };
    let emu = emulator(4_000, 2_000, 1_000);
    let server = Server::new(&emu).await;
    let mut config = test_config();
    config.page_size = 500;
    let c = client_in(dir, &emu, SyncProfile::default_profile(), config).await;

    // A first small sync of one table, and local edits waiting in the outbox.
    let s = c.sync_with(SyncOptions { tables: Some(vec!["tasks".into()]), ..SyncOptions::default() }).await;
    assert!(s.complete);
    let store = c.store();
    let task = local_rows(&store, "tasks", &cols(&["activityid"])).into_keys().next().unwrap();
    store.update("tasks", &task, values(&[("subject", Value::text("edited before the disk filled"))])).unwrap();
    let created = store.create("tasks", values(&[("subject", Value::text("created before the disk filled"))])).unwrap();
    assert_eq!(store.pending_count().unwrap(), 2);

    // The initial pull of the big tables fills the device.
    let r = c.engine.sync(SyncOptions::default(), Arc::new(NoObserver)).await;
    let errors: Vec<Error> = match r {
        Ok(s) => s.tables.iter().filter_map(|t| t.error.clone()).chain(s.push_error.clone()).collect(),
        Err(e) => vec![e],
    };
    assert!(!errors.is_empty(), "the device never filled up");
    for e in &errors {
        assert!(
            matches!(e, Error::Storage { reason } if reason.contains("device is full")),
            "expected the typed disk-full error, got {e:?}"
        );
    }
    println!("disk full: {} errors, e.g. {}", errors.len(), errors[0]);
    // The edits are still there (pushed, or waiting), and reads work on a full device.
    assert!(store.get("tasks", &created).unwrap().is_some());

    // Space is freed: the next sync completes and the vault equals the server.
    fs.resize("256m");
    let s = c.sync().await;
    assert!(s.complete, "{s:?}");
    assert_eq!(store.pending_count().unwrap(), 0);
    assert_matches_server(&server, &store).await;
    let on_server = server.get(&format!("tasks({task})?$select=subject")).await.unwrap();
    assert_eq!(on_server["subject"], "edited before the disk filled");
    let found =
        server.get("tasks?$select=activityid&$filter=subject eq 'created before the disk filled'").await.unwrap();
    assert_eq!(found["value"].as_array().unwrap().len(), 1, "the offline create is on the server exactly once");
    drop(c);
    drop(fs);
}
