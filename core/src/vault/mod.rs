//! The vault: offline unlock of the encrypted store with envelope keys.
//!
//! A random 32-byte data key (DEK) is SQLCipher's raw key. It is stored only wrapped, in the
//! slots of a small keyslot file beside the database (`docs/keyslot-format.md`):
//! - a password slot wraps it under Argon2id(password) with XChaCha20-Poly1305;
//! - a platform slot holds a blob only the host's Keystore / Secure Enclave key can unwrap.
//!
//! Changing the password re-wraps the DEK (O(1) in database size); only an explicit
//! [`Vault::rotate_data_key`] re-encrypts the database, crash-safely.

mod files;
pub mod kdf;
pub(crate) mod keyslot;
pub mod lockout;
pub mod password;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use self::files::VaultPaths;
use self::kdf::{KdfParams, KdfParamsExt};
use self::keyslot::{dek_check, slot_aad, DbSettings, KeyslotFile, Rotation, Slot, SlotKind};
use self::lockout::{Clock, Counter, CounterRules, Failure, LockoutPolicy, Now, OnLimit};
use self::password::PasswordPolicy;
use crate::error::{Error, Result};
use crate::store::Store;

/// The 32-byte data key. Zeroized on drop; never printed.
pub(crate) struct DataKey(Zeroizing<[u8; 32]>);

impl DataKey {
    fn random() -> Result<DataKey> {
        let mut k = Zeroizing::new([0u8; 32]);
        fill_random(k.as_mut())?;
        Ok(DataKey(k))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        self.0.as_ref()
    }

    pub(crate) fn from_slice(s: &[u8]) -> Option<DataKey> {
        let arr: [u8; 32] = s.try_into().ok()?;
        Some(DataKey(Zeroizing::new(arr)))
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey([redacted])")
    }
}

pub(crate) fn fill_random(buf: &mut [u8]) -> Result<()> {
    getrandom::fill(buf).map_err(|e| Error::internal(format!("OS random generator failed: {e}")))
}

fn random<const N: usize>() -> Result<[u8; N]> {
    let mut b = [0u8; N];
    fill_random(&mut b)?;
    Ok(b)
}

/// Why a platform key operation failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformKeyError {
    /// The key is gone or unusable for good (biometric enrolment changed, key deleted).
    Invalidated,
    /// Any other failure (user cancelled, hardware busy). Must not contain key material.
    Failed(String),
}

/// The host app's non-exportable key (Android Keystore, iOS Keychain / Secure Enclave), used to
/// wrap the data key for quick unlock without the password.
///
/// # Security
/// `wrap` receives the raw data key; the implementation must not log or persist it.
pub trait PlatformKeyProvider: Send + Sync {
    /// Wrap (encrypt) the data key; the returned blob is stored in the keyslot file.
    ///
    /// # Errors
    /// [`PlatformKeyError`] if the platform key cannot be used.
    fn wrap(&self, data_key: &[u8]) -> std::result::Result<Vec<u8>, PlatformKeyError>;

    /// Unwrap a blob produced by `wrap`.
    ///
    /// # Errors
    /// [`PlatformKeyError::Invalidated`] when the key was invalidated.
    fn unwrap(&self, blob: &[u8]) -> std::result::Result<Zeroizing<Vec<u8>>, PlatformKeyError>;
}

impl From<PlatformKeyError> for Error {
    fn from(e: PlatformKeyError) -> Self {
        match e {
            PlatformKeyError::Invalidated => Error::PlatformKeyInvalidated,
            PlatformKeyError::Failed(reason) => Error::PlatformKey { reason },
        }
    }
}

/// Options for [`Vault::create`].
#[derive(Clone)]
pub struct CreateOptions {
    /// Argon2id parameters for the password slot (and later re-wraps). Must meet the floor.
    pub kdf: KdfParams,
    /// What happens after too many wrong passwords.
    pub lockout: LockoutPolicy,
    /// What an offline password must be: checked now and at every later password change or
    /// added password slot (recorded in the vault).
    pub password_policy: PasswordPolicy,
    /// Keep the first 32 bytes of the database in plaintext (`cipher_plaintext_header_size`),
    /// with the salt kept in the keyslot file, so iOS recognises the file as SQLite and does not
    /// kill the suspended app (0xdead10cc). On by default on iOS only.
    pub plaintext_header: bool,
    /// The clock (injectable for tests).
    pub clock: Arc<dyn Clock>,
}

impl Default for CreateOptions {
    fn default() -> Self {
        CreateOptions {
            kdf: KdfParams::DEFAULT,
            lockout: LockoutPolicy::default(),
            password_policy: PasswordPolicy::default(),
            plaintext_header: cfg!(target_os = "ios"),
            clock: lockout::system_clock(),
        }
    }
}

/// Options for unlocking.
#[derive(Clone)]
pub struct OpenOptions {
    /// The clock (injectable for tests).
    pub clock: Arc<dyn Clock>,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { clock: lockout::system_clock() }
    }
}

/// What a slot is, without its secrets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotInfo {
    /// A password slot and its KDF parameters.
    Password {
        /// Slot id.
        id: u8,
        /// Argon2id parameters.
        kdf: KdfParams,
    },
    /// A platform-key slot.
    Platform {
        /// Slot id.
        id: u8,
    },
}

/// What can be known about a vault without unlocking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VaultStatus {
    /// Wrong passwords left before the lockout policy applies.
    pub attempts_left: u32,
    /// Seconds to wait before a password is accepted, if locked out.
    pub retry_after_s: Option<u64>,
    /// The refusal limit is reached: no password is accepted any more (`PasswordRefused`);
    /// offer platform unlock if there is a platform slot, else a wipe.
    pub password_refused: bool,
    /// Whether a platform slot exists (offer biometric unlock).
    pub has_platform_slot: bool,
}

/// Which account and organisation a vault's data belongs to.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AccountBinding {
    /// Directory (tenant) id.
    pub tenant_id: String,
    /// The user's object id in that tenant.
    pub account_id: String,
    /// Sign-in name, for display.
    pub username: String,
    /// The Dataverse organisation URL.
    pub org_url: String,
}

/// Outcome of [`Vault::rotate_data_key`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Slots that could not be re-wrapped (other passwords, platform slots without a provider)
    /// and were removed; enrol them again.
    pub removed_slots: Vec<u8>,
}

/// An unlocked vault: the data key and the open store.
///
/// Dropping it (or calling [`Vault::lock`]) closes the database and zeroizes the key.
pub struct Vault {
    paths: VaultPaths,
    clock: Arc<dyn Clock>,
    dek: DataKey,
    store: Arc<Store>,
    /// Serialises read-modify-write of the keyslot file within this process.
    keys_lock: Mutex<()>,
    last_rewrap: Mutex<Option<Duration>>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("dir", &self.paths.dir).finish_non_exhaustive()
    }
}

impl Drop for Vault {
    /// Dropping the vault locks it: shared store handles then fail with `Locked`.
    fn drop(&mut self) {
        let _ = self.store.close();
    }
}

/// A password slot that opened.
struct Opened {
    slot_id: u8,
    kek: Zeroizing<[u8; 32]>,
    dek: DataKey,
}

/// The bytes the KDF runs on: with `nfc` (every slot written since keyslot format 2) a UTF-8
/// password in Unicode Normalization Form C, so that `é` typed as U+00E9 or as `e` + U+0301
/// (keyboards and platforms differ) is the same password; bytes that are not UTF-8 as they are.
/// The copy is built in a buffer sized once (NFC grows UTF-8 by at most 3×) and zeroized.
fn kdf_input(password: &[u8], nfc: bool) -> Zeroizing<Vec<u8>> {
    use unicode_normalization::UnicodeNormalization;
    match std::str::from_utf8(password) {
        Ok(text) if nfc => {
            let mut out = Zeroizing::new(String::with_capacity(password.len() * 3 + 4));
            out.extend(text.nfc());
            Zeroizing::new(std::mem::take(&mut *out).into_bytes())
        }
        _ => Zeroizing::new(password.to_vec()),
    }
}

/// Argon2id over the slot's KDF input.
fn slot_kek(kdf: &KdfParams, password: &[u8], salt: &[u8; 16], nfc: bool) -> Result<Zeroizing<[u8; 32]>> {
    kdf.derive(&kdf_input(password, nfc), salt)
}

/// A password slot wrapping `dek` under `kek` (derived with `nfc` as given: new slots `true`).
#[allow(clippy::too_many_arguments)]
fn password_slot(
    vault_id: &[u8; 16],
    id: u8,
    nfc: bool,
    generation: u32,
    kdf: KdfParams,
    kek: &[u8; 32],
    salt: [u8; 16],
    dek: &DataKey,
) -> Result<Slot> {
    let nonce = random::<24>()?;
    let wrapped = keyslot::wrap(kek, &nonce, &slot_aad(vault_id, id, nfc, generation, &kdf, &salt), dek)?;
    Ok(Slot { id, key_generation: generation, kind: SlotKind::Password { nfc, kdf, salt, nonce, wrapped } })
}

fn unwrap_password_slot(vault_id: &[u8; 16], slot: &Slot, kek: &[u8; 32]) -> Option<DataKey> {
    match &slot.kind {
        SlotKind::Password { nfc, kdf, salt, nonce, wrapped } => {
            keyslot::unwrap(kek, nonce, &slot_aad(vault_id, slot.id, *nfc, slot.key_generation, kdf, salt), wrapped)
        }
        SlotKind::Platform { .. } => None,
    }
}

fn next_slot_id(file: &KeyslotFile) -> Result<u8> {
    (0..=254u8).find(|id| file.slots.iter().all(|s| s.id != *id)).ok_or_else(|| Error::invalid("no free slot id"))
}

/// Parameters for a new or re-wrapped password slot: the vault's target, or the library
/// default if the target no longer meets the floor; never below the slot it replaces on any
/// axis (issue 16, defect 3: a downgraded target must not make a password change write a
/// cheaper slot).
fn new_slot_params(file: &KeyslotFile, replaced: Option<&KdfParams>) -> KdfParams {
    let target = if file.target_kdf.meets_floor() { file.target_kdf } else { KdfParams::DEFAULT };
    match replaced {
        Some(old) => KdfParams { m_kib: target.m_kib.max(old.m_kib), t: target.t.max(old.t), p: target.p.max(old.p) },
        None => target,
    }
}

/// The database setting that holds the authentic copy of the keyslot file's policy and target
/// KDF. The keyslot file's copy is needed before the key is known, so nothing protects it but a
/// checksum anyone can recompute; the database's copy is under SQLCipher's authentication, with
/// a key only the data key gives (issue 16, defect 3).
const SETTINGS_RECORD: &str = "keyslot_settings";

/// The database setting that holds the vault's [`PasswordPolicy`] (chosen at creation).
const PASSWORD_POLICY_RECORD: &str = "password_policy";

fn settings_record(file: &KeyslotFile) -> String {
    let p = &file.policy;
    let limit = match p.on_limit {
        OnLimit::Delay { base_s, max_s } => format!("delay:{base_s}:{max_s}"),
        OnLimit::Wipe => "wipe".to_owned(),
    };
    let k = &file.target_kdf;
    format!("1;{};{limit};{};{}:{}:{}", p.max_attempts, p.refuse_after, k.m_kib, k.t, k.p)
}

fn parse_settings_record(s: &str) -> Option<(LockoutPolicy, KdfParams)> {
    let mut parts = s.split(';');
    if parts.next()? != "1" {
        return None;
    }
    let max_attempts = parts.next()?.parse().ok()?;
    let limit: Vec<&str> = parts.next()?.split(':').collect();
    let on_limit = match limit.as_slice() {
        ["delay", base, max] => OnLimit::Delay { base_s: base.parse().ok()?, max_s: max.parse().ok()? },
        ["wipe"] => OnLimit::Wipe,
        _ => return None,
    };
    let refuse_after = parts.next()?.parse().ok()?;
    let kdf: Vec<u32> = parts.next()?.split(':').map(|n| n.parse().ok()).collect::<Option<_>>()?;
    let [m_kib, t, p] = kdf.as_slice() else { return None };
    if parts.next().is_some() {
        return None;
    }
    Some((LockoutPolicy { max_attempts, on_limit, refuse_after }, KdfParams { m_kib: *m_kib, t: *t, p: *p }))
}

/// After the store opened: compare the keyslot file's policy and target KDF with the authentic
/// copy in the database, and put the authentic values back if they differ (a weakened policy
/// or a downgraded target is refused, never adopted). The first unlock of a vault that has no
/// copy yet (written before format 2) records the file's values.
fn check_settings(paths: &VaultPaths, file: &mut KeyslotFile, store: &Store) -> Result<()> {
    match store.setting(SETTINGS_RECORD)? {
        None => {
            // Also rewrites a format-1 file as format 2 (a platform unlock writes nothing else).
            store.set_setting(SETTINGS_RECORD, &settings_record(file))?;
            paths.write_keys(file)
        }
        Some(s) => {
            let (policy, target_kdf) =
                parse_settings_record(&s).ok_or_else(|| Error::corrupt("database: keyslot settings record"))?;
            if policy != file.policy || target_kdf != file.target_kdf {
                tracing::warn!(
                    "the keyslot file's lockout policy or KDF target differed from the vault's own record: restored"
                );
                file.policy = policy;
                file.target_kdf = target_kdf;
                paths.write_keys(file)?;
            }
            Ok(())
        }
    }
}

/// Run one counted password attempt: check the lockout, count the attempt on disk *before* the
/// KDF, try every password slot, then reset the counter or apply the policy.
fn attempt_password(paths: &VaultPaths, clock: &dyn Clock, password: &[u8]) -> Result<(KeyslotFile, Opened)> {
    let mut file = paths.read_keys()?;
    let now = Now::read(clock);
    let clock_changed = file.counter.observe(now);
    if file.counter.refused(&file.policy) {
        if clock_changed {
            paths.write_keys(&file)?;
        }
        return Err(Error::PasswordRefused);
    }
    if let Some(retry_after_s) = file.counter.retry_after(now) {
        if clock_changed {
            paths.write_keys(&file)?;
        }
        return Err(Error::LockedOut { retry_after_s });
    }
    file.counter.failed = file.counter.failed.saturating_add(1);
    paths.write_keys(&file)?;

    let mut opened = None;
    for slot in &file.slots {
        if let SlotKind::Password { kdf, salt, nfc, .. } = &slot.kind {
            let kek = slot_kek(kdf, password, salt, *nfc)?;
            if let Some(dek) = unwrap_password_slot(&file.vault_id, slot, &kek) {
                opened = Some(Opened { slot_id: slot.id, kek, dek });
                break;
            }
        }
    }
    match opened {
        Some(o) => {
            file.counter.succeed();
            Ok((file, o))
        }
        None => match file.counter.fail(&file.policy, now) {
            Failure::Wipe => {
                paths.wipe()?;
                Err(Error::Wiped)
            }
            Failure::WrongPassword { attempts_left } => {
                paths.write_keys(&file)?;
                Err(Error::WrongPassword { attempts_left })
            }
            Failure::LockedOut { retry_after_s } => {
                paths.write_keys(&file)?;
                Err(Error::LockedOut { retry_after_s })
            }
            Failure::Refused => {
                paths.write_keys(&file)?;
                Err(Error::PasswordRefused)
            }
        },
    }
}

/// Fold a clock reading into the persisted counter (under the keyslot lock).
fn record_observation(paths: &VaultPaths, now: Now) -> Result<()> {
    let _lock = paths.lock_keys()?;
    let mut file = paths.read_keys()?;
    if file.counter.observe(now) {
        paths.write_keys(&file)?;
    }
    Ok(())
}

/// How the key of a pending rotation is reached from an opened slot.
enum SlotSecret<'a> {
    Kek(&'a [u8; 32]),
    Platform(&'a dyn PlatformKeyProvider),
}

/// Given the key an opened slot holds, open the store: finishes or abandons an interrupted
/// rotation, and checks the key against the header's key check.
fn open_store(
    paths: &VaultPaths,
    file: &mut KeyslotFile,
    slot_id: u8,
    dek: DataKey,
    secret: SlotSecret<'_>,
) -> Result<(DataKey, Store)> {
    let slot_gen = file
        .slots
        .iter()
        .find(|s| s.id == slot_id)
        .map(|s| s.key_generation)
        .ok_or_else(|| Error::internal("opened slot vanished"))?;
    if let Some(rotation) = file.rotation.clone() {
        // A rotation was interrupted. The database is entirely under the old or the new key
        // (rekey is one transaction): try the new key first.
        let entry = rotation.entries.iter().find(|e| e.id == slot_id);
        let new_dek = match (entry, secret) {
            (Some(e), SlotSecret::Kek(kek)) => unwrap_password_slot(&file.vault_id, e, kek),
            (Some(Slot { kind: SlotKind::Platform { blob }, .. }), SlotSecret::Platform(p)) => {
                DataKey::from_slice(&p.unwrap(blob)?)
            }
            _ => None,
        }
        .filter(|k| dek_check(&file.vault_id, k) == rotation.new_dek_check);
        if let Some(new_dek) = new_dek {
            match Store::open(&paths.db, &new_dek, &file.db, false) {
                Ok(store) => {
                    finish_rotation(file, rotation);
                    paths.write_keys(file)?;
                    return Ok((new_dek, store));
                }
                Err(e) if !is_wrong_db_key(&e) => return Err(e),
                Err(_) => {}
            }
        }
        // The rekey never happened: abandon the rotation and carry on with the old key.
        file.rotation = None;
        paths.write_keys(file)?;
    }
    if slot_gen != file.key_generation || dek_check(&file.vault_id, &dek) != file.dek_check {
        return Err(Error::corrupt("keyslot file: key check mismatch"));
    }
    let store = Store::open(&paths.db, &dek, &file.db, false)?;
    Ok((dek, store))
}

fn finish_rotation(file: &mut KeyslotFile, rotation: Rotation) {
    file.slots = rotation.entries;
    file.key_generation = rotation.to_generation;
    file.dek_check = rotation.new_dek_check;
    file.rotation = None;
}

fn is_wrong_db_key(e: &Error) -> bool {
    matches!(e, Error::Corrupt { what } if what == crate::error::WRONG_DB_KEY)
}

impl Vault {
    fn assemble(paths: VaultPaths, clock: Arc<dyn Clock>, dek: DataKey, store: Store) -> Vault {
        Vault { paths, clock, dek, store: Arc::new(store), keys_lock: Mutex::new(()), last_rewrap: Mutex::new(None) }
    }

    /// Create a new vault in `dir` protected by `password`.
    ///
    /// # Errors
    /// `VaultExists` if one is there; `InvalidArgument` for KDF parameters below the floor or
    /// an empty password; `Storage` on I/O failure.
    ///
    /// # Security
    /// The caller should zeroize `password` afterwards.
    pub fn create(dir: &Path, password: &[u8], options: &CreateOptions) -> Result<Vault> {
        if password.is_empty() {
            return Err(Error::invalid("the password is empty"));
        }
        options.kdf.check_for_new_slot()?;
        if options.lockout.max_attempts == 0 {
            return Err(Error::invalid("max_attempts must be at least 1"));
        }
        if options.lockout.refuse_after < options.lockout.max_attempts {
            return Err(Error::invalid("refuse_after must be at least max_attempts"));
        }
        options.password_policy.check(password)?;
        let paths = VaultPaths::new(dir);
        paths.ensure_dir()?;
        let _lock = paths.lock_keys()?;
        if paths.keys.exists() {
            return Err(Error::VaultExists);
        }
        // A database without a keyslot file can never be opened: it is a leftover of a create
        // that crashed, and safe to replace.
        paths.remove_db()?;

        let vault_id = random::<16>()?;
        let dek = DataKey::random()?;
        let db = DbSettings::sqlcipher4(options.plaintext_header, random::<16>()?);
        let salt = random::<16>()?;
        let kek = slot_kek(&options.kdf, password, &salt, true)?;
        let slot = password_slot(&vault_id, 0, true, 1, options.kdf, &kek, salt, &dek)?;
        let now = Now::read(options.clock.as_ref());
        let file = KeyslotFile {
            vault_id,
            created_unix: now.unix,
            key_generation: 1,
            dek_check: dek_check(&vault_id, &dek),
            db,
            policy: options.lockout,
            target_kdf: options.kdf,
            slots: vec![slot],
            rotation: None,
            counter: Counter { last_seen_unix: now.unix, boot_seen_s: now.boot_s.unwrap_or(0), ..Counter::default() },
            account_hash: None,
        };
        let store = Store::open(&paths.db, &dek, &db, true)?;
        let recorded = store
            .set_setting(SETTINGS_RECORD, &settings_record(&file))
            .and_then(|()| store.set_setting(PASSWORD_POLICY_RECORD, &options.password_policy.record()));
        if let Err(e) = recorded.and_then(|()| paths.write_keys(&file)) {
            let _ = store.close();
            let _ = paths.remove_db();
            return Err(e);
        }
        Ok(Vault::assemble(paths, options.clock.clone(), dek, store))
    }

    /// Unlock with the offline password.
    ///
    /// The attempt is counted on disk before the KDF runs. A slot weaker than the floor is
    /// re-wrapped with current parameters after a successful unlock.
    ///
    /// # Errors
    /// `WrongPassword { attempts_left }`, `LockedOut { retry_after_s }`, `Wiped` (wipe policy),
    /// `NoVault`, `Corrupt { what }`, `NewerFormat`.
    pub fn unlock(dir: &Path, password: &[u8], options: &OpenOptions) -> Result<Vault> {
        let paths = VaultPaths::new(dir);
        if !paths.keys.exists() && !paths.db.exists() {
            return Err(Error::NoVault);
        }
        let _lock = paths.lock_keys()?;
        let (mut file, opened) = attempt_password(&paths, options.clock.as_ref(), password)?;
        // A slot below today's floor (the floor was raised since it was written) is re-wrapped
        // now, while we hold the password: a raised floor never locks anyone out. So is a slot
        // written before keyslot format 2, whose KDF input is the raw bytes: it becomes a slot
        // over the NFC form, at the same parameters (one more KDF run, once).
        // (Not while a rotation is pending: that is resolved first, with the slot as it is.)
        let rewrap = file.slots.iter().enumerate().find_map(|(i, s)| match &s.kind {
            SlotKind::Password { kdf, nfc, .. } if s.id == opened.slot_id && (!kdf.meets_floor() || !nfc) => {
                Some((i, if kdf.meets_floor() { *kdf } else { new_slot_params(&file, Some(kdf)) }))
            }
            _ => None,
        });
        if let (Some((i, params)), None) = (rewrap, &file.rotation) {
            let salt = random::<16>()?;
            let kek = slot_kek(&params, password, &salt, true)?;
            let gen = file.slots[i].key_generation;
            file.slots[i] = password_slot(&file.vault_id, opened.slot_id, true, gen, params, &kek, salt, &opened.dek)?;
        }
        paths.write_keys(&file)?;
        let (dek, store) = open_store(&paths, &mut file, opened.slot_id, opened.dek, SlotSecret::Kek(&opened.kek))?;
        if let Err(e) = check_settings(&paths, &mut file, &store) {
            let _ = store.close();
            return Err(e);
        }
        Ok(Vault::assemble(paths, options.clock.clone(), dek, store))
    }

    /// Unlock through a platform slot (no password, no attempt counting).
    ///
    /// # Errors
    /// `PlatformKeyInvalidated` if the platform key is gone (unlock with the password and enrol
    /// again), `PlatformKey` for other provider failures, `InvalidArgument` if the vault has no
    /// platform slot, `Corrupt` if the provider returns a key that is not this vault's.
    pub fn unlock_with_platform(
        dir: &Path,
        provider: &dyn PlatformKeyProvider,
        options: &OpenOptions,
    ) -> Result<Vault> {
        let paths = VaultPaths::new(dir);
        if !paths.keys.exists() && !paths.db.exists() {
            return Err(Error::NoVault);
        }
        let _lock = paths.lock_keys()?;
        let mut file = paths.read_keys()?;
        let mut last_err = Error::invalid("the vault has no platform slot");
        let mut opened = None;
        for slot in &file.slots {
            if let SlotKind::Platform { blob } = &slot.kind {
                match provider.unwrap(blob) {
                    Ok(key) => match DataKey::from_slice(&key) {
                        Some(dek) => {
                            opened = Some((slot.id, dek));
                            break;
                        }
                        None => last_err = Error::corrupt("platform slot: unwrapped key has the wrong length"),
                    },
                    Err(e) => last_err = e.into(),
                }
            }
        }
        let (slot_id, dek) = opened.ok_or(last_err)?;
        let (dek, store) = open_store(&paths, &mut file, slot_id, dek, SlotSecret::Platform(provider))?;
        if let Err(e) = check_settings(&paths, &mut file, &store) {
            let _ = store.close();
            return Err(e);
        }
        // A verified platform unlock (the platform key is the device's, behind its biometric or
        // passcode check, and it opened this vault's key) is the owner: it resets the count of
        // wrong passwords, as a right password does. Otherwise four typos, a fingerprint, then
        // one more typo wiped a vault with a limit of five (issue 16, defect 8).
        if file.counter.failed != 0 || file.counter.locked_until_unix != 0 || file.counter.wait_left_s != 0 {
            file.counter.succeed();
            if let Err(e) = paths.write_keys(&file) {
                let _ = store.close();
                return Err(e);
            }
        }
        Ok(Vault::assemble(paths, options.clock.clone(), dek, store))
    }

    /// What can be shown before unlocking: attempts left, lockout, whether biometric unlock is
    /// offered.
    ///
    /// # Errors
    /// `NoVault`, `Corrupt`, `NewerFormat`.
    pub fn status(dir: &Path, options: &OpenOptions) -> Result<VaultStatus> {
        let paths = VaultPaths::new(dir);
        let file = paths.read_keys()?;
        let mut counter = file.counter;
        let now = Now::read(options.clock.as_ref());
        let changed = counter.observe(now);
        let retry_after_s = counter.retry_after(now);
        if changed && retry_after_s.is_some() {
            // While locked, record the boot-clock reading: a reboot then loses only the time
            // since this look, not since the last attempt (the wait is kept, never shortened).
            if let Err(e) = record_observation(&paths, now) {
                tracing::warn!(error = %e, "could not record the lockout clock reading");
            }
        }
        Ok(VaultStatus {
            attempts_left: counter.attempts_left(&file.policy),
            retry_after_s,
            password_refused: counter.refused(&file.policy),
            has_platform_slot: file.slots.iter().any(|s| matches!(s.kind, SlotKind::Platform { .. })),
        })
    }

    /// Whether a vault exists in `dir`.
    pub fn exists(dir: &Path) -> bool {
        VaultPaths::new(dir).keys.exists()
    }

    /// Lock: close every connection and zeroize the key material held here.
    ///
    /// # Errors
    /// `Storage` if SQLite fails to close cleanly (the key is zeroized regardless).
    pub fn lock(self) -> Result<()> {
        self.store.close()
    }

    /// The open store (records, query, search, outbox).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A shared handle to the store, for components that outlive a borrow (sign-in, sync).
    /// After [`Vault::lock`] every call through it fails with `Locked`.
    pub fn shared_store(&self) -> Arc<Store> {
        self.store.clone()
    }

    /// Change the offline password: re-wraps the data key only (never re-encrypts the database),
    /// so it costs two KDF runs plus a small file write, whatever the database size. Counts as a
    /// password attempt.
    ///
    /// # Errors
    /// As [`Vault::unlock`] for `old`; `InvalidArgument` if `new` is empty; `WeakPassword` if
    /// `new` does not meet the vault's password policy (checked first: no attempt is counted).
    pub fn change_password(&self, old: &[u8], new: &[u8]) -> Result<()> {
        if new.is_empty() {
            return Err(Error::invalid("the new password is empty"));
        }
        self.password_policy()?.check(new)?;
        let _guard = self.keys_lock.lock().map_err(|_| Error::internal("keys lock poisoned"))?;
        let _lock = self.paths.lock_keys()?;
        let (mut file, opened) = attempt_password(&self.paths, self.clock.as_ref(), old)?;
        if opened.dek.bytes() != self.dek.bytes() {
            return Err(Error::corrupt("keyslot file: belongs to another database"));
        }
        let i =
            file.slots.iter().position(|s| s.id == opened.slot_id).ok_or_else(|| Error::internal("slot vanished"))?;
        let replaced = match &file.slots[i].kind {
            SlotKind::Password { kdf, .. } => Some(*kdf),
            SlotKind::Platform { .. } => None,
        };
        let params = new_slot_params(&file, replaced.as_ref());
        let salt = random::<16>()?;
        let kek = slot_kek(&params, new, &salt, true)?;
        let started = Instant::now();
        let gen = file.slots[i].key_generation;
        file.slots[i] = password_slot(&file.vault_id, opened.slot_id, true, gen, params, &kek, salt, &self.dek)?;
        self.paths.write_keys(&file)?;
        if let Ok(mut t) = self.last_rewrap.lock() {
            *t = Some(started.elapsed());
        }
        Ok(())
    }

    /// The vault's password policy, as chosen at creation (a vault made before policies existed
    /// has the default).
    ///
    /// # Errors
    /// `Storage`; `Corrupt` if the recorded policy is unreadable.
    pub fn password_policy(&self) -> Result<PasswordPolicy> {
        match self.store.setting(PASSWORD_POLICY_RECORD)? {
            None => Ok(PasswordPolicy::default()),
            Some(s) => {
                PasswordPolicy::parse_record(&s).ok_or_else(|| Error::corrupt("database: password policy record"))
            }
        }
    }

    /// How long the last [`Vault::change_password`] spent re-wrapping and writing the keyslot
    /// file, excluding the KDF runs (for benchmarks).
    #[doc(hidden)]
    pub fn last_rewrap_duration(&self) -> Option<Duration> {
        self.last_rewrap.lock().ok().and_then(|t| *t)
    }

    /// Add a platform slot: `provider` wraps the data key.
    ///
    /// # Errors
    /// Provider failures as `PlatformKey` / `PlatformKeyInvalidated`; `InvalidArgument` if the
    /// blob is empty or larger than 16 KiB.
    pub fn add_platform_slot(&self, provider: &dyn PlatformKeyProvider) -> Result<u8> {
        let blob = provider.wrap(self.dek.bytes())?;
        if blob.is_empty() || blob.len() > 16 * 1024 {
            return Err(Error::invalid("platform blob must be 1 byte to 16 KiB"));
        }
        self.modify_keys(|file| {
            let id = next_slot_id(file)?;
            file.slots.push(Slot { id, key_generation: file.key_generation, kind: SlotKind::Platform { blob } });
            Ok(id)
        })
    }

    /// Add another password slot (e.g. a recovery code).
    ///
    /// # Errors
    /// `InvalidArgument` for an empty password or parameters below the floor.
    pub fn add_password_slot(&self, password: &[u8], kdf: KdfParams) -> Result<u8> {
        if password.is_empty() {
            return Err(Error::invalid("the password is empty"));
        }
        self.password_policy()?.check(password)?;
        kdf.check_for_new_slot()?;
        let salt = random::<16>()?;
        let kek = slot_kek(&kdf, password, &salt, true)?;
        self.modify_keys(|file| {
            let id = next_slot_id(file)?;
            let slot = password_slot(&file.vault_id, id, true, file.key_generation, kdf, &kek, salt, &self.dek)?;
            file.slots.push(slot);
            Ok(id)
        })
    }

    /// Remove a slot. The last slot cannot be removed.
    ///
    /// # Errors
    /// `NotFound` for an unknown id; `InvalidArgument` for the last slot.
    pub fn remove_slot(&self, id: u8) -> Result<()> {
        self.modify_keys(|file| {
            let i = file
                .slots
                .iter()
                .position(|s| s.id == id)
                .ok_or_else(|| Error::NotFound { what: format!("slot {id}") })?;
            if file.slots.len() == 1 {
                return Err(Error::invalid("the last slot cannot be removed"));
            }
            file.slots.remove(i);
            Ok(())
        })
    }

    /// The vault's slots, without secrets.
    ///
    /// # Errors
    /// `Corrupt` if the keyslot file is damaged.
    pub fn slots(&self) -> Result<Vec<SlotInfo>> {
        Ok(self
            .paths
            .read_keys()?
            .slots
            .iter()
            .map(|s| match s.kind {
                SlotKind::Password { kdf, .. } => SlotInfo::Password { id: s.id, kdf },
                SlotKind::Platform { .. } => SlotInfo::Platform { id: s.id },
            })
            .collect())
    }

    fn modify_keys<T>(&self, f: impl FnOnce(&mut KeyslotFile) -> Result<T>) -> Result<T> {
        let _guard = self.keys_lock.lock().map_err(|_| Error::internal("keys lock poisoned"))?;
        let _lock = self.paths.lock_keys()?;
        let mut file = self.paths.read_keys()?;
        let out = f(&mut file)?;
        self.paths.write_keys(&file)?;
        Ok(out)
    }

    /// Replace the data key and re-encrypt the database (`PRAGMA rekey`, O(database size)).
    ///
    /// Crash-safe: the new key, wrapped by every surviving slot, is recorded as "rotation
    /// pending" in the keyslot file before the rekey; the next unlock finishes or abandons it.
    /// The password slot `password` opens is re-wrapped; platform slots are re-wrapped through
    /// `platform` when given; other slots are removed (listed in the report).
    ///
    /// # Errors
    /// As [`Vault::unlock`] for `password`; `Storage` if the rekey fails.
    pub fn rotate_data_key(
        &mut self,
        password: &[u8],
        platform: Option<&dyn PlatformKeyProvider>,
    ) -> Result<RotationReport> {
        let _guard = self.keys_lock.lock().map_err(|_| Error::internal("keys lock poisoned"))?;
        let _lock = self.paths.lock_keys()?;
        let (mut file, opened) = attempt_password(&self.paths, self.clock.as_ref(), password)?;
        let new_dek = DataKey::random()?;
        let to_generation = file.key_generation.wrapping_add(1);
        let mut entries = Vec::new();
        let mut removed_slots = Vec::new();
        for slot in &file.slots {
            match (&slot.kind, platform) {
                (SlotKind::Password { nfc, kdf, salt, .. }, _) if slot.id == opened.slot_id => {
                    entries.push(password_slot(
                        &file.vault_id,
                        slot.id,
                        *nfc,
                        to_generation,
                        *kdf,
                        &opened.kek,
                        *salt,
                        &new_dek,
                    )?);
                }
                (SlotKind::Platform { .. }, Some(p)) => entries.push(Slot {
                    id: slot.id,
                    key_generation: to_generation,
                    kind: SlotKind::Platform { blob: p.wrap(new_dek.bytes())? },
                }),
                _ => removed_slots.push(slot.id),
            }
        }
        let rotation = Rotation { to_generation, new_dek_check: dek_check(&file.vault_id, &new_dek), entries };
        file.rotation = Some(rotation.clone());
        self.paths.write_keys(&file)?;
        crate::failpoint::failpoint("vault.rotate.after_journal");
        self.store.rekey(&new_dek)?;
        crate::failpoint::failpoint("vault.rotate.after_rekey");
        finish_rotation(&mut file, rotation);
        self.paths.write_keys(&file)?;
        self.dek = new_dek;
        Ok(RotationReport { removed_slots })
    }

    /// Bind the vault to an account and organisation (done at first sign-in), or check that it
    /// is already bound to this one.
    ///
    /// # Errors
    /// `AccountMismatch` if it belongs to another account or org.
    pub fn bind_account(&self, binding: &AccountBinding) -> Result<()> {
        self.store.bind_account(binding)
    }

    /// The account and organisation this vault belongs to, if bound.
    ///
    /// # Errors
    /// `Storage`; `Corrupt` if the stored binding is unreadable.
    pub fn account(&self) -> Result<Option<AccountBinding>> {
        self.store
            .account_json()?
            .map(|s| serde_json::from_str(&s).map_err(|_| Error::corrupt("account binding")))
            .transpose()
    }

    /// Close and delete this vault's files.
    ///
    /// # Errors
    /// `Storage` if a file cannot be removed.
    pub fn wipe(self) -> Result<()> {
        let _ = self.store.close();
        let _lock = self.paths.lock_keys()?;
        self.paths.wipe()
    }

    /// Delete the vault in `dir` without unlocking it (database, `-wal`, `-shm`, keyslot file).
    ///
    /// # Errors
    /// `Storage` if a file cannot be removed.
    pub fn wipe_at(dir: &Path) -> Result<()> {
        let paths = VaultPaths::new(dir);
        let _lock = if dir.is_dir() { Some(paths.lock_keys()?) } else { None };
        paths.wipe()
    }

    /// The database file's path (for diagnostics and tests).
    pub fn database_path(&self) -> &Path {
        &self.paths.db
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::TableSpec;

    fn opts() -> CreateOptions {
        CreateOptions { kdf: KdfParams::FLOOR, password_policy: PasswordPolicy::Unchecked, ..CreateOptions::default() }
    }

    /// Issue 16, defect 3: a new slot never goes below the floor nor below the slot it replaces.
    #[test]
    fn a_replacing_slot_is_never_cheaper_than_the_one_it_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::create(dir.path(), b"pw", &opts()).unwrap();
        let mut file = vault.paths.read_keys().unwrap();
        let strong = KdfParams { m_kib: 65_536, t: 3, p: 4 };
        file.target_kdf = KdfParams::FLOOR;
        assert_eq!(new_slot_params(&file, Some(&strong)), strong);
        assert_eq!(new_slot_params(&file, None), KdfParams::FLOOR);
        file.target_kdf = KdfParams { m_kib: 1024, t: 1, p: 1 };
        assert_eq!(new_slot_params(&file, None), KdfParams::DEFAULT);
        file.target_kdf = KdfParams { m_kib: 32_768, t: 2, p: 1 };
        assert_eq!(new_slot_params(&file, Some(&KdfParams::FLOOR)), KdfParams { m_kib: 32_768, t: 2, p: 1 });
        assert_eq!(new_slot_params(&file, Some(&strong)), strong);
        vault.lock().unwrap();
    }

    #[test]
    fn the_settings_record_round_trips_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let vault = Vault::create(dir.path(), b"pw", &opts()).unwrap();
        let mut file = vault.paths.read_keys().unwrap();
        for policy in [
            LockoutPolicy::default(),
            LockoutPolicy { max_attempts: 3, on_limit: OnLimit::Wipe, refuse_after: 3 },
            LockoutPolicy {
                max_attempts: u32::MAX,
                on_limit: OnLimit::Delay { base_s: 0, max_s: u32::MAX },
                refuse_after: u32::MAX,
            },
        ] {
            file.policy = policy;
            assert_eq!(parse_settings_record(&settings_record(&file)), Some((policy, file.target_kdf)));
        }
        for bad in
            ["", "2;1;wipe;1;1:1:1", "1;1;wipe;1;1:1", "1;1;wipe;1;1:1:1;x", "1;x;wipe;1;1:1:1", "1;1;delay:1;1;1:1:1"]
        {
            assert_eq!(parse_settings_record(bad), None, "{bad}");
        }
        vault.lock().unwrap();
    }

    fn table() -> TableSpec {
        TableSpec {
            entity_set: "accounts".into(),
            primary_id: "accountid".into(),
            searchable: vec![],
            sortable: vec![],
        }
    }

    #[test]
    fn newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::create(dir.path(), b"pw", &opts()).unwrap();
        v.store.with_writer(|c| Ok(c.execute_batch("PRAGMA user_version = 99")?)).unwrap();
        v.lock().unwrap();
        assert_eq!(
            Vault::unlock(dir.path(), b"pw", &OpenOptions::default()).unwrap_err(),
            Error::NewerFormat { found: 99, supported: crate::store::SCHEMA_VERSION }
        );
    }

    /// Write the "rotation pending" record as `rotate_data_key` does, optionally rekey, then
    /// "crash" (drop everything) and check the next unlock recovers.
    fn interrupted_rotation(rekeyed: bool) {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::create(dir.path(), b"pw", &opts()).unwrap();
        v.store.register_table(&table()).unwrap();
        let paths = VaultPaths::new(dir.path());
        let (mut file, opened) = attempt_password(&paths, &lockout::SystemClock, b"pw").unwrap();
        let new_dek = DataKey::random().unwrap();
        let slot = &file.slots[0];
        let SlotKind::Password { nfc, kdf, salt, .. } = &slot.kind else { panic!("password slot") };
        let entry = password_slot(&file.vault_id, slot.id, *nfc, 2, *kdf, &opened.kek, *salt, &new_dek).unwrap();
        file.rotation = Some(Rotation {
            to_generation: 2,
            new_dek_check: dek_check(&file.vault_id, &new_dek),
            entries: vec![entry],
        });
        paths.write_keys(&file).unwrap();
        if rekeyed {
            v.store.rekey(&new_dek).unwrap();
        }
        drop(v); // crash: the rotation is never finished

        let v = Vault::unlock(dir.path(), b"pw", &OpenOptions::default()).unwrap();
        assert_eq!(v.store.tables().unwrap().len(), 1);
        let after = paths.read_keys().unwrap();
        assert!(after.rotation.is_none());
        assert_eq!(after.key_generation, if rekeyed { 2 } else { 1 });
        assert_eq!(v.dek.bytes() == new_dek.bytes(), rekeyed);
        v.lock().unwrap();
        Vault::unlock(dir.path(), b"pw", &OpenOptions::default()).unwrap();
    }

    #[test]
    fn rotation_interrupted_before_rekey_is_abandoned() {
        interrupted_rotation(false);
    }

    #[test]
    fn rotation_interrupted_after_rekey_is_finished() {
        interrupted_rotation(true);
    }

    #[test]
    fn weak_slot_is_rewrapped_on_unlock() {
        let dir = tempfile::tempdir().unwrap();
        let v = Vault::create(dir.path(), b"pw", &opts()).unwrap();
        v.lock().unwrap();
        // Simulate a slot written under an older, lower floor.
        let paths = VaultPaths::new(dir.path());
        let mut file = paths.read_keys().unwrap();
        let (_, opened) = attempt_password(&paths, &lockout::SystemClock, b"pw").unwrap();
        let weak = KdfParams { m_kib: 4096, t: 1, p: 1 };
        let salt = random::<16>().unwrap();
        let kek = weak.derive(b"pw", &salt).unwrap();
        file.slots[0] = password_slot(&file.vault_id, 0, true, 1, weak, &kek, salt, &opened.dek).unwrap();
        paths.write_keys(&file).unwrap();

        Vault::unlock(dir.path(), b"pw", &OpenOptions::default()).unwrap().lock().unwrap();
        let SlotKind::Password { kdf, .. } = paths.read_keys().unwrap().slots[0].kind else { panic!() };
        assert_eq!(kdf, KdfParams::FLOOR, "re-wrapped with the vault's target parameters");
    }

    /// Issue 16, defect 9: a slot written before format 2 (KDF over the raw bytes) still opens
    /// with the bytes it was made with, and is then re-wrapped over the NFC form at the same
    /// parameters, after which either form of the password opens it.
    #[test]
    fn a_raw_password_slot_is_migrated_to_nfc_at_unlock() {
        let composed = "Ångström café".as_bytes();
        let decomposed = "A\u{30a}ngstro\u{308}m cafe\u{301}".as_bytes();
        assert_ne!(composed, decomposed);
        let dir = tempfile::tempdir().unwrap();
        Vault::create(dir.path(), decomposed, &opts()).unwrap().lock().unwrap();
        let paths = VaultPaths::new(dir.path());
        let (mut file, opened) = attempt_password(&paths, &lockout::SystemClock, decomposed).unwrap();
        // As format 1 wrote it: raw bytes, kind 1.
        let salt = random::<16>().unwrap();
        let kek = KdfParams::FLOOR.derive(decomposed, &salt).unwrap();
        file.slots[0] = password_slot(&file.vault_id, 0, false, 1, KdfParams::FLOOR, &kek, salt, &opened.dek).unwrap();
        paths.write_keys(&file).unwrap();
        assert!(matches!(
            Vault::unlock(dir.path(), composed, &OpenOptions::default()),
            Err(Error::WrongPassword { .. })
        ));
        Vault::unlock(dir.path(), decomposed, &OpenOptions::default()).unwrap().lock().unwrap();
        let SlotKind::Password { nfc, kdf, .. } = paths.read_keys().unwrap().slots[0].kind else { panic!() };
        assert!(nfc);
        assert_eq!(kdf, KdfParams::FLOOR);
        Vault::unlock(dir.path(), composed, &OpenOptions::default()).unwrap().lock().unwrap();
        Vault::unlock(dir.path(), decomposed, &OpenOptions::default()).unwrap().lock().unwrap();
    }

    #[test]
    fn kdf_input_normalises_utf8_only() {
        assert_eq!(&*kdf_input("e\u{301}".as_bytes(), true), "é".as_bytes());
        assert_eq!(&*kdf_input("e\u{301}".as_bytes(), false), "e\u{301}".as_bytes());
        assert_eq!(&*kdf_input(&[0xff, 0x65], true), &[0xff, 0x65]);
        assert_eq!(&*kdf_input("ﬁ".as_bytes(), true), "ﬁ".as_bytes(), "NFC, not NFKC: compatibility forms stay");
    }

    #[test]
    fn debug_output_redacts_keys() {
        let k = DataKey::random().unwrap();
        assert_eq!(format!("{k:?}"), "DataKey([redacted])");
    }
}
