//! Golden vaults: one per released keyslot/schema format, committed under `tests/fixtures/`,
//! must keep opening (with the password and with the platform slot) in every later version.
//! Add one only for a *new* format: `OUTPOST_WRITE_GOLDEN=1 cargo test -p outpost-core --test
//! golden -- --ignored write_golden_v2` (never overwrite an old one). An old format is migrated
//! to the current one at the first unlock; the tests check that too.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::path::{Path, PathBuf};

use common::*;
use outpost_core::{OpenOptions, Value, Values, Vault};

const GOLDEN_PASSWORD: &[u8] = b"golden password v1";

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

#[test]
#[ignore = "writes the fixture; run by hand when a new format is released"]
fn write_golden_v2() {
    if std::env::var("OUTPOST_WRITE_GOLDEN").is_err() {
        return;
    }
    // The same content as golden-v1, written by keyslot format 2.
    let dir = fixture("golden-v2");
    assert!(!dir.join("outpost.keys").exists(), "never overwrite a golden vault");
    let vault = Vault::create(&dir, GOLDEN_PASSWORD, &fast_options(TestClock::at(1_795_000_000))).unwrap();
    vault.add_platform_slot(&TestPlatformKey::new(0x42)).unwrap();
    vault.store().register_table(&accounts_spec()).unwrap();
    vault
        .store()
        .apply_server_rows(
            "accounts",
            &[account_row(1, "Golden Ölwerke", "first format"), account_row(2, "Second", "")],
        )
        .unwrap();
    let mut change = Values::new();
    change.insert("name".into(), Value::text("Second (edited offline)"));
    vault.store().update("accounts", "00000000-0000-4000-8000-000000000002", change).unwrap();
    vault.store().checkpoint().unwrap();
    vault.lock().unwrap();
}

fn keyslot_version(dir: &Path) -> u16 {
    let b = std::fs::read(dir.join("outpost.keys")).unwrap();
    u16::from_le_bytes([b[8], b[9]])
}

#[test]
fn golden_vault_v1_opens_and_is_migrated() {
    assert_eq!(keyslot_version(&fixture("golden-v1")), 1);
    check_golden("golden-v1");
}

#[test]
fn golden_vault_v2_opens() {
    assert_eq!(keyslot_version(&fixture("golden-v2")), 2);
    check_golden("golden-v2");
}

fn check_golden(name: &str) {
    for use_platform in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        copy_dir(&fixture(name), dir.path());
        let o = OpenOptions::default();
        let vault = if use_platform {
            Vault::unlock_with_platform(dir.path(), &TestPlatformKey::new(0x42), &o).unwrap()
        } else {
            Vault::unlock(dir.path(), GOLDEN_PASSWORD, &o).unwrap()
        };
        let s = vault.store();
        assert_eq!(s.count("accounts").unwrap(), 2);
        assert_eq!(s.pending_count().unwrap(), 1);
        let r = s.get("accounts", "00000000-0000-4000-8000-000000000001").unwrap().unwrap();
        assert_eq!(r.values["name"], Value::text("Golden Ölwerke"));
        assert_eq!(r.values["revenue"], Value::Decimal("1234567890123.4567".into()));
        assert_eq!(s.search("accounts", "olwerke", 5).unwrap().len(), 1);
        assert_eq!(s.search("accounts", "edited", 5).unwrap().len(), 1);
        vault.lock().unwrap();
        // Rewritten in the current format, and it opens again both ways; the lockout settings
        // read from the old file are the ones its format implied.
        assert_eq!(keyslot_version(dir.path()), outpost_wire::keyslot::FORMAT_VERSION);
        let f = outpost_wire::keyslot::KeyslotFile::decode::<outpost_wire::Error>(
            &std::fs::read(dir.path().join("outpost.keys")).unwrap(),
        )
        .unwrap();
        assert_eq!(f.policy, outpost_core::LockoutPolicy::default());
        // The password slot's KDF now runs over the NFC form (a password unlock re-wraps it).
        if !use_platform {
            assert!(f
                .slots
                .iter()
                .all(|s| !matches!(s.kind, outpost_wire::keyslot::SlotKind::Password { nfc: false, .. })));
        }
        Vault::unlock(dir.path(), GOLDEN_PASSWORD, &o).unwrap().lock().unwrap();
        Vault::unlock_with_platform(dir.path(), &TestPlatformKey::new(0x42), &o).unwrap().lock().unwrap();
    }
}
