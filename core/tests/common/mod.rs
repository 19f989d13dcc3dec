//! Shared helpers for the core's integration tests (real SQLCipher files in temp dirs).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use outpost_core::{
    Clock, CreateOptions, KdfParams, LockoutPolicy, OpenOptions, PasswordPolicy, PlatformKeyError, PlatformKeyProvider,
    ServerRow, TableSpec, Value, Values, Vault,
};
use zeroize::Zeroizing;

pub mod world;

pub const PASSWORD: &[u8] = b"correct horse battery staple";

/// A clock tests move by hand.
#[derive(Default)]
pub struct TestClock(pub AtomicI64);

impl TestClock {
    pub fn at(t: i64) -> Arc<TestClock> {
        Arc::new(TestClock(AtomicI64::new(t)))
    }
    pub fn set(&self, t: i64) {
        self.0.store(t, Ordering::SeqCst);
    }
    pub fn advance(&self, s: i64) {
        self.0.fetch_add(s, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_unix(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A wall clock and a boot clock tests move apart: the user can set the first, not the second.
pub struct TwoClocks {
    pub wall: AtomicI64,
    pub boot: AtomicI64,
}

impl TwoClocks {
    pub fn at(wall: i64, boot: i64) -> Arc<TwoClocks> {
        Arc::new(TwoClocks { wall: AtomicI64::new(wall), boot: AtomicI64::new(boot) })
    }
    /// Real time passes: both clocks move.
    pub fn pass(&self, s: i64) {
        self.wall.fetch_add(s, Ordering::SeqCst);
        self.boot.fetch_add(s, Ordering::SeqCst);
    }
    /// The user moves the wall clock (Settings → Date & time).
    pub fn set_wall(&self, t: i64) {
        self.wall.store(t, Ordering::SeqCst);
    }
    /// The device reboots: the boot clock starts again near 0.
    pub fn reboot(&self, boot: i64) {
        self.boot.store(boot, Ordering::SeqCst);
    }
}

impl Clock for TwoClocks {
    fn now_unix(&self) -> i64 {
        self.wall.load(Ordering::SeqCst)
    }
    fn boot_s(&self) -> Option<u64> {
        u64::try_from(self.boot.load(Ordering::SeqCst)).ok()
    }
}

pub fn fast_options(clock: Arc<dyn Clock>) -> CreateOptions {
    // The password policy has its own tests (core/src/vault/password.rs, tests/vault.rs); these
    // vaults are for everything else and change passwords freely.
    CreateOptions {
        kdf: KdfParams::FLOOR,
        lockout: LockoutPolicy::default(),
        password_policy: PasswordPolicy::Unchecked,
        plaintext_header: false,
        clock,
    }
}

pub fn open_options(clock: Arc<dyn Clock>) -> OpenOptions {
    OpenOptions { clock }
}

pub fn create(dir: &Path) -> Vault {
    Vault::create(dir, PASSWORD, &fast_options(TestClock::at(1_000_000))).expect("create")
}

pub fn accounts_spec() -> TableSpec {
    TableSpec {
        entity_set: "accounts".into(),
        primary_id: "accountid".into(),
        searchable: vec!["name".into(), "description".into()],
        sortable: vec!["name".into()],
    }
}

pub fn account_row(i: usize, name: &str, description: &str) -> ServerRow {
    let id = format!("00000000-0000-4000-8000-{i:012}");
    let mut v = Values::new();
    v.insert("accountid".into(), Value::text(id.clone()));
    v.insert("name".into(), Value::text(name));
    v.insert("description".into(), Value::text(description));
    v.insert("revenue".into(), Value::decimal("1234567890123.4567").expect("decimal"));
    v.insert("numberofemployees".into(), Value::Int(i as i64));
    v.insert("modifiedon".into(), Value::text("2026-11-01T10:00:00Z"));
    ServerRow { id, values: v, etag: Some(format!("W/\"{}\"", 1000 + i)) }
}

/// A stand-in for Android Keystore / Secure Enclave: XChaCha-free, but a real keyed transform
/// (XOR with a secret pad plus a tag), with an "enrolment changed" switch.
pub struct TestPlatformKey {
    pub secret: [u8; 32],
    pub invalidated: std::sync::atomic::AtomicBool,
}

impl TestPlatformKey {
    pub fn new(seed: u8) -> Self {
        TestPlatformKey { secret: [seed; 32], invalidated: Default::default() }
    }
}

impl PlatformKeyProvider for TestPlatformKey {
    fn wrap(&self, data_key: &[u8]) -> Result<Vec<u8>, PlatformKeyError> {
        if self.invalidated.load(Ordering::SeqCst) {
            return Err(PlatformKeyError::Invalidated);
        }
        let mut out = b"TPK1".to_vec();
        out.extend(data_key.iter().zip(self.secret.iter().cycle()).map(|(a, b)| a ^ b));
        Ok(out)
    }

    fn unwrap(&self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, PlatformKeyError> {
        if self.invalidated.load(Ordering::SeqCst) {
            return Err(PlatformKeyError::Invalidated);
        }
        let body = blob.strip_prefix(b"TPK1").ok_or_else(|| PlatformKeyError::Failed("not our blob".into()))?;
        Ok(Zeroizing::new(body.iter().zip(self.secret.iter().cycle()).map(|(a, b)| a ^ b).collect()))
    }
}

/// Every file below `dir` (recursively) with its bytes.
pub fn files_in(dir: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_in(&p));
            } else if let Ok(b) = std::fs::read(&p) {
                out.push((p, b));
            }
        }
    }
    out
}

pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// Copy the files of `from` into `to`.
pub fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
    }
}

/// Sign-in settings for the emulator (password grant allowed, loopback redirect).
pub fn emulator_auth_config(org: &str, authority: &str, client_id: &str) -> outpost_core::AuthConfig {
    outpost_core::AuthConfig {
        org: outpost_core::OrgUrl::parse(org).unwrap(),
        client_id: client_id.into(),
        redirect_uri: "http://127.0.0.1:53682".into(),
        authority: Some(format!("{authority}/v2.0")),
        tenant: None,
        allow_password_grant: true,
    }
}

/// An access token for `upn` from the emulator's token endpoint (password grant), for tests
/// that act on the server directly as another user.
pub async fn password_token(emu: &outpost_emulator::EmulatorHandle, upn: &str, password: &str) -> String {
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/oauth2/v2.0/token", emu.authority()))
        .form(&[
            ("grant_type", "password"),
            ("client_id", &emu.client_id()),
            ("username", upn),
            ("password", password),
            ("scope", &emu.scope()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap().to_string()
}
