//! No plaintext on disk: distinctive record values and FTS content appear in none of the vault's
//! files (`.db`, `-wal`, `-shm`, keyslot file) nor in temp files, while the vault is open and
//! after a writing process is SIGKILLed. Committed data survives the kill.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use outpost_core::{OpenOptions, ServerRow, Value, Values, Vault};

/// Distinctive strings; the FTS index stores tokens lower-cased, so both forms are scanned.
const NEEDLES: &[&[u8]] = &[
    b"Zanzibar-Quokka-Marmalade",
    b"zanzibar",
    b"quokka",
    b"marmalade",
    b"Confidential-Ledger-Nightingale",
    b"nightingale",
];

fn rows(batch: usize, n: usize) -> Vec<ServerRow> {
    (0..n)
        .map(|i| {
            let mut v = Values::new();
            let k = batch * n + i;
            v.insert("name".into(), Value::text(format!("Zanzibar-Quokka-Marmalade account {k}")));
            v.insert(
                "description".into(),
                Value::text(format!("Confidential-Ledger-Nightingale notes {k} {}", "x".repeat(600))),
            );
            ServerRow { id: format!("00000000-0000-4000-8000-{k:012}"), values: v, etag: None }
        })
        .collect()
}

fn assert_clean(dirs: &[&Path], context: &str) {
    let mut scanned = 0;
    for dir in dirs {
        for (path, bytes) in files_in(dir) {
            scanned += 1;
            for needle in NEEDLES.iter().chain([&PASSWORD]) {
                assert!(
                    !contains(&bytes, needle),
                    "{context}: {:?} found in {}",
                    String::from_utf8_lossy(needle),
                    path.display()
                );
            }
        }
    }
    assert!(scanned > 0, "{context}: nothing scanned");
}

#[test]
fn no_plaintext_while_open() {
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    vault.store().register_table(&accounts_spec()).unwrap();
    for b in 0..5 {
        vault.store().apply_server_rows("accounts", &rows(b, 200)).unwrap();
    }
    let names: Vec<String> = common::files_in(dir.path())
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().any(|n| n.ends_with("-wal")), "WAL present while open: {names:?}");
    assert_clean(&[dir.path()], "open vault");
    assert_eq!(vault.store().search("accounts", "quokka", 5).unwrap().len(), 5, "the data is really there");
    vault.lock().unwrap();
    assert_clean(&[dir.path()], "locked vault");
}

#[test]
fn no_plaintext_after_sigkill_and_nothing_committed_is_lost() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let marker = tempfile::tempdir().unwrap();
    create(dir.path()).lock().unwrap();

    let exe = std::env::current_exe().unwrap();
    let mut child = std::process::Command::new(exe)
        .args(["--exact", "child_writer", "--nocapture", "--test-threads=1"])
        .env("OUTPOST_WRITER_DIR", dir.path())
        .env("OUTPOST_WRITER_MARKER", marker.path())
        .env("TMPDIR", tmp.path())
        .env("SQLITE_TMPDIR", tmp.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let committed_file = marker.path().join("committed");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let n: usize = std::fs::read_to_string(&committed_file).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        if n >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "writer made no progress");
        assert!(child.try_wait().unwrap().is_none(), "writer exited early");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL, mid-write
    child.wait().unwrap();
    let committed: usize = std::fs::read_to_string(&committed_file).unwrap().trim().parse().unwrap();

    assert_clean(&[dir.path(), tmp.path()], "after SIGKILL");
    let vault = Vault::unlock(dir.path(), PASSWORD, &OpenOptions::default()).unwrap();
    let count = vault.store().count("accounts").unwrap() as usize;
    assert!(count >= committed * 100, "{count} rows < {committed} committed batches of 100");
    assert_eq!(count % 100, 0, "each batch is one transaction: all or nothing");
    vault.lock().unwrap();
    assert_clean(&[dir.path(), tmp.path()], "after recovery");
}

/// The child process of the test above: writes 100-row transactions until killed, recording
/// each commit in a marker file outside the vault.
#[test]
fn child_writer() {
    let (Ok(dir), Ok(marker)) = (std::env::var("OUTPOST_WRITER_DIR"), std::env::var("OUTPOST_WRITER_MARKER")) else {
        return;
    };
    let vault = Vault::unlock(Path::new(&dir), PASSWORD, &OpenOptions::default()).unwrap();
    vault.store().register_table(&accounts_spec()).unwrap();
    for batch in 0.. {
        vault.store().apply_server_rows("accounts", &rows(batch, 100)).unwrap();
        let tmp = Path::new(&marker).join("committed.tmp");
        std::fs::write(&tmp, (batch + 1).to_string()).unwrap();
        std::fs::rename(&tmp, Path::new(&marker).join("committed")).unwrap();
    }
}
