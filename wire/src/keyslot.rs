//! The keyslot file: encoding, decoding and the AEAD wrap of the data key.
//!
//! `docs/keyslot-format.md` is the normative description; this file implements it. Decoding is
//! strict and bounded: every length is checked before it is used, every enum byte must be known,
//! parameters above the caps are refused, and the file's SHA-256 trailer must match, so a
//! truncated, flipped or padded file is `Corrupt` (never a panic, an allocation abort or a hang).
//!
//! Pure code: the vault (`outpost_core::vault`) reads and writes the file, runs Argon2 and holds
//! the data key; this module knows the bytes, the parameter types they carry, and the AEAD
//! wrap. `tests/keyslot.rs` holds its property tests, `fuzz/` its fuzz target.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

/// First eight bytes of every keyslot file, whatever its version.
pub const MAGIC: &[u8; 8] = b"OUTPOSTK";
/// The format this build writes, and the newest it reads (it reads 1 and 2; it writes 2).
pub const FORMAT_VERSION: u16 = 2;
/// The version number a password slot's associated data carries. It stays 1 in format 2 (the
/// slot layout did not change), so slots wrapped under format 1 still open after a migration.
pub const SLOT_AAD_VERSION: u16 = 1;
/// The default of [`LockoutPolicy::refuse_after`], and what a format-1 file (which has no such
/// field) is read with: 50 wrong passwords in a row, or `max_attempts` if that is larger.
pub const DEFAULT_REFUSE_AFTER: u32 = 50;
/// Larger files are refused before parsing.
pub const MAX_FILE_LEN: usize = 1 << 20;
const MAX_SLOTS: usize = 32;
const MAX_BLOB: usize = 16 * 1024;
const TRAILER_LEN: usize = 32;
/// Length of a wrapped data key: 32 bytes and the 16-byte Poly1305 tag.
pub const WRAPPED_LEN: usize = 32 + 16;

// ---------------------------------------------------------------------------------------------
// The parameters the file carries

/// Argon2id cost parameters (version 0x13, 32-byte output, 16-byte salt).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KdfParams {
    /// Memory in KiB.
    pub m_kib: u32,
    /// Iterations (passes).
    pub t: u32,
    /// Lanes (parallelism).
    pub p: u32,
}

/// Upper bounds accepted when *parsing* a keyslot file. Anything above is `Corrupt`, so a
/// tampered file cannot make unlock allocate gigabytes or spin for hours.
pub const MAX_M_KIB: u32 = 1024 * 1024; // 1 GiB
/// Cap on iterations.
pub const MAX_T: u32 = 16;
/// Cap on lanes.
pub const MAX_P: u32 = 16;

/// OWASP's equal-strength rows for Argon2id (m KiB, t), all p = 1. A parameter set is at or
/// above the floor when it dominates one of these rows.
const OWASP_FLOOR: [(u32, u32); 5] = [(47_104, 1), (19_456, 2), (12_288, 3), (9_216, 4), (7_168, 5)];

impl KdfParams {
    /// RFC 9106's second recommendation: 64 MiB, t = 3, p = 4.
    pub const DEFAULT: KdfParams = KdfParams { m_kib: 64 * 1024, t: 3, p: 4 };

    /// The weakest parameters a new or re-wrapped slot may use (OWASP: 19 MiB, t = 2, p = 1).
    /// Tests create vaults here to stay fast.
    pub const FLOOR: KdfParams = KdfParams { m_kib: 19_456, t: 2, p: 1 };

    /// Whether these parameters meet OWASP's minimum (any of its equal-strength rows).
    pub fn meets_floor(&self) -> bool {
        OWASP_FLOOR.iter().any(|&(m, t)| self.m_kib >= m && self.t >= t)
    }

    /// Structural validity and the parse-time caps.
    pub fn within_caps(&self) -> bool {
        self.t >= 1
            && self.t <= MAX_T
            && self.p >= 1
            && self.p <= MAX_P
            && self.m_kib <= MAX_M_KIB
            && self.m_kib >= 8 * self.p
    }
}

impl Default for KdfParams {
    fn default() -> Self {
        KdfParams::DEFAULT
    }
}

/// What happens once `max_attempts` wrong passwords have been entered in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnLimit {
    /// Each further wrong password locks the vault for a delay that doubles, from `base_s` up to
    /// `max_s` seconds.
    Delay {
        /// First delay, seconds.
        base_s: u32,
        /// Longest delay, seconds.
        max_s: u32,
    },
    /// Delete the vault (keyslot file first: without it the database is unreadable).
    Wipe,
}

/// Lockout policy, chosen when the vault is created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LockoutPolicy {
    /// Wrong passwords in a row before `on_limit` applies (≥ 1).
    pub max_attempts: u32,
    /// What happens then.
    pub on_limit: OnLimit,
    /// With [`OnLimit::Delay`]: wrong passwords in a row after which no password is tried at
    /// all (≥ `max_attempts`), until a verified platform unlock resets the count or the vault is
    /// wiped. A hard ceiling on guesses through the app, whatever the clocks say. Ignored with
    /// [`OnLimit::Wipe`] (the vault is gone at `max_attempts`).
    pub refuse_after: u32,
}

impl Default for LockoutPolicy {
    fn default() -> Self {
        LockoutPolicy {
            max_attempts: 10,
            on_limit: OnLimit::Delay { base_s: 30, max_s: 24 * 3600 },
            refuse_after: DEFAULT_REFUSE_AFTER,
        }
    }
}

/// The persisted attempt counter (its rules are in `outpost_core::vault::lockout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counter {
    /// Wrong passwords in a row (including an attempt in progress).
    pub failed: u32,
    /// The latest clock reading seen; detects a clock moved backwards.
    pub last_seen_unix: i64,
    /// No attempt is accepted before this time (0 = not locked).
    pub locked_until_unix: i64,
    /// The boot clock (seconds since boot, counting sleep) at the latest observation; 0 = none
    /// (no boot clock on this platform, or a format-1 file). Format 2.
    pub boot_seen_s: u64,
    /// Seconds of the lockout still to wait at that observation. Format 2.
    pub wait_left_s: u64,
}

const KIND_PASSWORD: u8 = 1;
const KIND_PLATFORM: u8 = 2;
const KIND_PASSWORD_NFC: u8 = 3;
const KDF_ARGON2ID_V13: u8 = 1;
const POLICY_DELAY: u8 = 1;
const POLICY_WIPE: u8 = 2;

/// SQLCipher settings that define the database file, recorded so that a change of SQLCipher's
/// defaults can never make an existing vault unreadable. Applied at every open.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DbSettings {
    /// `cipher_compatibility` the file was created under (4).
    pub compatibility: u8,
    /// `cipher_page_size`.
    pub page_size: u32,
    /// `kdf_iter` (unused with raw keys, recorded for completeness).
    pub kdf_iter: u32,
    /// 1 = HMAC_SHA1, 2 = HMAC_SHA256, 3 = HMAC_SHA512.
    pub hmac_algorithm: u8,
    /// 1 = PBKDF2_HMAC_SHA1, 2 = PBKDF2_HMAC_SHA256, 3 = PBKDF2_HMAC_SHA512.
    pub kdf_algorithm: u8,
    /// `cipher_plaintext_header_size`: 0, or 32 for the iOS option.
    pub plaintext_header_size: u32,
    /// The database salt, always supplied with the raw key (required when the header is plain).
    pub salt: [u8; 16],
}

impl DbSettings {
    /// SQLCipher 4's defaults, with the iOS plaintext header (32 bytes) or none.
    pub fn sqlcipher4(plaintext_header: bool, salt: [u8; 16]) -> Self {
        DbSettings {
            compatibility: 4,
            page_size: 4096,
            kdf_iter: 256_000,
            hmac_algorithm: 3,
            kdf_algorithm: 3,
            plaintext_header_size: if plaintext_header { 32 } else { 0 },
            salt,
        }
    }

    /// The `cipher_hmac_algorithm` name.
    pub fn hmac_name(&self) -> &'static str {
        match self.hmac_algorithm {
            1 => "HMAC_SHA1",
            2 => "HMAC_SHA256",
            _ => "HMAC_SHA512",
        }
    }

    /// The `cipher_kdf_algorithm` name.
    pub fn kdf_name(&self) -> &'static str {
        match self.kdf_algorithm {
            1 => "PBKDF2_HMAC_SHA1",
            2 => "PBKDF2_HMAC_SHA256",
            _ => "PBKDF2_HMAC_SHA512",
        }
    }
}

/// How one slot holds the data key.
#[derive(Clone, PartialEq, Eq)]
pub enum SlotKind {
    /// Argon2id(password, salt, kdf) → KEK → XChaCha20-Poly1305(KEK, nonce, DEK, aad).
    Password {
        /// The KDF's input is the password in Unicode NFC when it is UTF-8 (kind 3, written
        /// since format 2), else the bytes as given (kind 1, written by format 1). See
        /// `docs/keyslot-format.md`, "The password".
        nfc: bool,
        /// Argon2id parameters.
        kdf: KdfParams,
        /// Argon2id salt.
        salt: [u8; 16],
        /// XChaCha20-Poly1305 nonce.
        nonce: [u8; 24],
        /// The wrapped data key and its tag.
        wrapped: [u8; WRAPPED_LEN],
    },
    /// A blob only the host platform's key (Keystore / Secure Enclave) can unwrap.
    Platform {
        /// The provider's wrapped data key (1 to 16 KiB).
        blob: Vec<u8>,
    },
}

impl std::fmt::Debug for SlotKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SlotKind::Password { nfc, kdf, .. } => {
                write!(f, "Password {{ nfc: {nfc}, kdf: {kdf:?}, wrapped: [redacted] }}")
            }
            SlotKind::Platform { .. } => write!(f, "Platform {{ blob: [redacted] }}"),
        }
    }
}

/// One keyslot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// Unique within its list.
    pub id: u8,
    /// Which data-key generation this slot wraps.
    pub key_generation: u32,
    /// How it holds the data key.
    pub kind: SlotKind,
}

/// A data-key rotation in progress: for every slot that survives it, the *new* data key wrapped
/// the same way (same KEK, fresh nonce / a new platform blob). Written before `PRAGMA rekey`,
/// folded into the slots after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rotation {
    /// The new data key's generation.
    pub to_generation: u32,
    /// [`dek_check`] of the new data key.
    pub new_dek_check: [u8; 16],
    /// The surviving slots, wrapping the new data key.
    pub entries: Vec<Slot>,
}

/// The whole decoded keyslot file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyslotFile {
    /// Random, fixed at creation; binds the slots and the counter to this vault.
    pub vault_id: [u8; 16],
    /// Creation time, Unix seconds.
    pub created_unix: i64,
    /// The current data key's generation.
    pub key_generation: u32,
    /// First 16 bytes of SHA-256("outpost/dek-check/v1" ‖ vault_id ‖ DEK): detects a platform
    /// provider that hands back the wrong key without touching the database.
    pub dek_check: [u8; 16],
    /// How the database file is encrypted.
    pub db: DbSettings,
    /// What wrong passwords lead to.
    pub policy: LockoutPolicy,
    /// Parameters for new and re-wrapped password slots.
    pub target_kdf: KdfParams,
    /// The slots (1 to 32, unique ids).
    pub slots: Vec<Slot>,
    /// A data-key rotation in progress.
    pub rotation: Option<Rotation>,
    /// Wrong-password counter.
    pub counter: Counter,
    /// SHA-256("outpost/account/v2" ‖ vault_id ‖ tenant id ‖ 0x00 ‖ object id) of the account
    /// the vault is bound to, once bound. Format 2; lets a locked vault recognise its owner's
    /// sign-in without the key.
    pub account_hash: Option<[u8; 32]>,
}

/// First 16 bytes of SHA-256("outpost/dek-check/v1" ‖ vault_id ‖ DEK).
pub fn dek_check(vault_id: &[u8; 16], dek: &[u8]) -> [u8; 16] {
    let mut h = Sha256::new();
    h.update(b"outpost/dek-check/v1");
    h.update(vault_id);
    h.update(dek);
    first16(&h.finalize())
}

fn first16(d: &[u8]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, b) in out.iter_mut().zip(d) {
        *o = *b;
    }
    out
}

/// Associated data of a password slot: binds the wrapped key to the slot format, this vault,
/// this slot, its kind (raw or NFC password), its generation and its KDF parameters, so an
/// edited or swapped header fails.
pub fn slot_aad(
    vault_id: &[u8; 16],
    slot_id: u8,
    nfc: bool,
    generation: u32,
    kdf: &KdfParams,
    salt: &[u8; 16],
) -> Vec<u8> {
    let mut w = Vec::with_capacity(64);
    w.extend_from_slice(MAGIC);
    w.extend_from_slice(&SLOT_AAD_VERSION.to_le_bytes());
    w.extend_from_slice(vault_id);
    w.push(slot_id);
    w.push(if nfc { KIND_PASSWORD_NFC } else { KIND_PASSWORD });
    w.extend_from_slice(&generation.to_le_bytes());
    w.push(KDF_ARGON2ID_V13);
    w.extend_from_slice(&kdf.m_kib.to_le_bytes());
    w.extend_from_slice(&kdf.t.to_le_bytes());
    w.extend_from_slice(&kdf.p.to_le_bytes());
    w.extend_from_slice(salt);
    w
}

/// AEAD-wrap the data key (32 bytes) under a KEK.
///
/// # Errors
/// [`Error::Internal`] if the AEAD fails or `dek` is not 32 bytes long (a bug).
pub fn wrap(kek: &[u8; 32], nonce: &[u8; 24], aad: &[u8], dek: &[u8]) -> Result<[u8; WRAPPED_LEN]> {
    let cipher = XChaCha20Poly1305::new(kek.into());
    let ct = cipher
        .encrypt(XNonce::from_slice(nonce), Payload { msg: dek, aad })
        .map_err(|_| Error::internal("AEAD wrap failed"))?;
    let mut out = [0u8; WRAPPED_LEN];
    if ct.len() != WRAPPED_LEN {
        return Err(Error::internal("AEAD output length"));
    }
    out.copy_from_slice(&ct);
    Ok(out)
}

/// AEAD-unwrap; `None` when the tag does not verify (wrong password, or tampered slot).
/// The plaintext is zeroized on drop.
pub fn unwrap(kek: &[u8; 32], nonce: &[u8; 24], aad: &[u8], wrapped: &[u8; WRAPPED_LEN]) -> Option<Zeroizing<Vec<u8>>> {
    let cipher = XChaCha20Poly1305::new(kek.into());
    Some(Zeroizing::new(cipher.decrypt(XNonce::from_slice(nonce), Payload { msg: wrapped, aad }).ok()?))
}

/// `body` followed by its SHA-256 trailer: what [`KeyslotFile::encode`] ends with. For tests
/// and fuzzing, which damage a file and want the damage to reach the field checks.
pub fn seal(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() + TRAILER_LEN);
    out.extend_from_slice(body);
    out.extend_from_slice(&Sha256::digest(body));
    out
}

fn counter_checksum(version: u16, vault_id: &[u8; 16], c: &Counter) -> [u8; 16] {
    let mut h = Sha256::new();
    if version == 1 {
        h.update(b"outpost/counter/v1");
    } else {
        h.update(b"outpost/counter/v2");
    }
    h.update(vault_id);
    h.update(c.failed.to_le_bytes());
    h.update(c.last_seen_unix.to_le_bytes());
    h.update(c.locked_until_unix.to_le_bytes());
    if version >= 2 {
        h.update(c.boot_seen_s.to_le_bytes());
        h.update(c.wait_left_s.to_le_bytes());
    }
    first16(&h.finalize())
}

/// The account hash a vault bound to `tenant_id` / `object_id` records (see
/// [`KeyslotFile::account_hash`]).
pub fn account_hash(vault_id: &[u8; 16], tenant_id: &str, object_id: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"outpost/account/v2");
    h.update(vault_id);
    h.update(tenant_id.as_bytes());
    h.update([0u8]);
    h.update(object_id.as_bytes());
    h.finalize().into()
}

// ---------------------------------------------------------------------------------------------
// Encoding

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn i64(&mut self, v: i64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.0.extend_from_slice(v);
    }
    fn kdf(&mut self, k: &KdfParams) {
        self.u8(KDF_ARGON2ID_V13);
        self.u32(k.m_kib);
        self.u32(k.t);
        self.u32(k.p);
    }
    /// Slot material after id/kind/generation.
    fn slot(&mut self, s: &Slot) {
        self.u8(s.id);
        match &s.kind {
            SlotKind::Password { nfc, kdf, salt, nonce, wrapped } => {
                self.u8(if *nfc { KIND_PASSWORD_NFC } else { KIND_PASSWORD });
                self.u32(s.key_generation);
                self.kdf(kdf);
                self.bytes(salt);
                self.bytes(nonce);
                self.bytes(wrapped);
            }
            SlotKind::Platform { blob } => {
                self.u8(KIND_PLATFORM);
                self.u32(s.key_generation);
                self.u32(blob.len() as u32);
                self.bytes(blob);
            }
        }
    }
}

impl KeyslotFile {
    /// Serialise (the caller writes it atomically). Lists longer than 255 entries cannot be
    /// encoded: the vault keeps at most 32 slots, as [`KeyslotFile::decode`] requires.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(512));
        w.bytes(MAGIC);
        w.0.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        // Header
        w.bytes(&self.vault_id);
        w.i64(self.created_unix);
        w.u32(self.key_generation);
        w.bytes(&self.dek_check);
        let db = &self.db;
        w.u8(db.compatibility);
        w.u32(db.page_size);
        w.u32(db.kdf_iter);
        w.u8(db.hmac_algorithm);
        w.u8(db.kdf_algorithm);
        w.u32(db.plaintext_header_size);
        w.bytes(&db.salt);
        w.u32(self.policy.max_attempts);
        match self.policy.on_limit {
            OnLimit::Delay { base_s, max_s } => {
                w.u8(POLICY_DELAY);
                w.u32(base_s);
                w.u32(max_s);
            }
            OnLimit::Wipe => {
                w.u8(POLICY_WIPE);
                w.u32(0);
                w.u32(0);
            }
        }
        w.kdf(&self.target_kdf);
        w.u32(self.policy.refuse_after);
        // Slots
        w.u8(self.slots.len() as u8);
        for s in &self.slots {
            w.slot(s);
        }
        // Rotation
        match &self.rotation {
            None => w.u8(0),
            Some(r) => {
                w.u8(1);
                w.u32(r.to_generation);
                w.bytes(&r.new_dek_check);
                w.u8(r.entries.len() as u8);
                for s in &r.entries {
                    w.slot(s);
                }
            }
        }
        // Counter, with its own checksum
        let c = &self.counter;
        w.u32(c.failed);
        w.i64(c.last_seen_unix);
        w.i64(c.locked_until_unix);
        w.u64(c.boot_seen_s);
        w.u64(c.wait_left_s);
        w.bytes(&counter_checksum(FORMAT_VERSION, &self.vault_id, c));
        // Account binding
        match &self.account_hash {
            None => w.u8(0),
            Some(h) => {
                w.u8(1);
                w.bytes(h);
            }
        }
        seal(&w.0)
    }

    /// Parse and validate. Every failure is `Corrupt`, except a file that is intact (trailer
    /// checksum matches) but of a newer version, which is `NewerFormat`.
    ///
    /// Generic over the caller's error type, so that the vault gets its own error directly
    /// (`outpost_core::Error` converts from [`Error`]); elsewhere write `decode::<Error>`.
    ///
    /// # Errors
    /// [`Error::Corrupt`] (`keyslot file: <field>`) or [`Error::NewerFormat`].
    pub fn decode<E: From<Error>>(bytes: &[u8]) -> std::result::Result<KeyslotFile, E> {
        Ok(Self::parse(bytes)?)
    }

    fn parse(bytes: &[u8]) -> Result<KeyslotFile> {
        const WHAT: &str = "keyslot file";
        if bytes.len() > MAX_FILE_LEN {
            return Err(Error::corrupt(format!("{WHAT}: too large")));
        }
        let truncated = || Error::corrupt(format!("{WHAT}: not an Outpost keyslot file, or truncated"));
        if bytes.len() < MAGIC.len() + 2 + TRAILER_LEN || bytes.get(..8) != Some(&MAGIC[..]) {
            return Err(truncated());
        }
        let (body, trailer) = bytes.split_at(bytes.len() - TRAILER_LEN);
        if Sha256::digest(body).as_slice() != trailer {
            return Err(Error::corrupt(format!("{WHAT}: checksum mismatch (truncated or modified)")));
        }
        let version = match body.get(8..10) {
            Some(&[lo, hi]) => u16::from_le_bytes([lo, hi]),
            _ => return Err(truncated()),
        };
        if version > FORMAT_VERSION {
            return Err(Error::NewerFormat { found: u32::from(version), supported: u32::from(FORMAT_VERSION) });
        }
        if version == 0 {
            return Err(Error::corrupt(format!("{WHAT}: version 0")));
        }
        let mut r = Reader { buf: body, pos: 10, version };
        let file = r.file().map_err(|field| Error::corrupt(format!("{WHAT}: {field}")))?;
        if r.pos != body.len() {
            return Err(Error::corrupt(format!("{WHAT}: trailing bytes")));
        }
        Ok(file)
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// The file's format version (1 or 2).
    version: u16,
}

type Field = &'static str;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: Field) -> std::result::Result<&'a [u8], Field> {
        let end = self.pos.checked_add(n).ok_or(field)?;
        let s = self.buf.get(self.pos..end).ok_or(field)?;
        self.pos = end;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self, field: Field) -> std::result::Result<[u8; N], Field> {
        self.take(N, field)?.try_into().map_err(|_| field)
    }
    fn u8(&mut self, field: Field) -> std::result::Result<u8, Field> {
        let [b] = self.arr::<1>(field)?;
        Ok(b)
    }
    fn u32(&mut self, field: Field) -> std::result::Result<u32, Field> {
        Ok(u32::from_le_bytes(self.arr(field)?))
    }
    fn i64(&mut self, field: Field) -> std::result::Result<i64, Field> {
        Ok(i64::from_le_bytes(self.arr(field)?))
    }
    fn u64(&mut self, field: Field) -> std::result::Result<u64, Field> {
        Ok(u64::from_le_bytes(self.arr(field)?))
    }
    fn kdf(&mut self) -> std::result::Result<KdfParams, Field> {
        if self.u8("kdf algorithm")? != KDF_ARGON2ID_V13 {
            return Err("unknown kdf algorithm");
        }
        let k = KdfParams { m_kib: self.u32("kdf memory")?, t: self.u32("kdf iterations")?, p: self.u32("kdf lanes")? };
        if !k.within_caps() {
            return Err("kdf parameters beyond the caps");
        }
        Ok(k)
    }
    fn slot(&mut self) -> std::result::Result<Slot, Field> {
        let id = self.u8("slot id")?;
        let kind = self.u8("slot kind")?;
        let key_generation = self.u32("slot generation")?;
        if kind == KIND_PASSWORD_NFC && self.version < 2 {
            return Err("unknown slot kind");
        }
        let kind = match kind {
            KIND_PASSWORD | KIND_PASSWORD_NFC => SlotKind::Password {
                nfc: kind == KIND_PASSWORD_NFC,
                kdf: self.kdf()?,
                salt: self.arr("slot salt")?,
                nonce: self.arr("slot nonce")?,
                wrapped: self.arr("slot wrapped key")?,
            },
            KIND_PLATFORM => {
                let len = self.u32("platform blob length")? as usize;
                if len == 0 || len > MAX_BLOB {
                    return Err("platform blob length");
                }
                SlotKind::Platform { blob: self.take(len, "platform blob")?.to_vec() }
            }
            _ => return Err("unknown slot kind"),
        };
        Ok(Slot { id, key_generation, kind })
    }
    fn slots(&mut self, allow_empty: bool) -> std::result::Result<Vec<Slot>, Field> {
        let n = self.u8("slot count")? as usize;
        if n > MAX_SLOTS || (n == 0 && !allow_empty) {
            return Err("slot count");
        }
        let mut slots: Vec<Slot> = Vec::with_capacity(n);
        for _ in 0..n {
            let s = self.slot()?;
            if slots.iter().any(|o| o.id == s.id) {
                return Err("duplicate slot id");
            }
            slots.push(s);
        }
        Ok(slots)
    }
    fn file(&mut self) -> std::result::Result<KeyslotFile, Field> {
        let vault_id: [u8; 16] = self.arr("vault id")?;
        let created_unix = self.i64("created")?;
        let key_generation = self.u32("key generation")?;
        let dek_check = self.arr("key check")?;
        let db = DbSettings {
            compatibility: self.u8("cipher compatibility")?,
            page_size: self.u32("cipher page size")?,
            kdf_iter: self.u32("cipher kdf iterations")?,
            hmac_algorithm: self.u8("cipher hmac algorithm")?,
            kdf_algorithm: self.u8("cipher kdf algorithm")?,
            plaintext_header_size: self.u32("plaintext header size")?,
            salt: self.arr("database salt")?,
        };
        if db.compatibility != 4
            || !(512..=65536).contains(&db.page_size)
            || !db.page_size.is_power_of_two()
            || !(1..=3).contains(&db.hmac_algorithm)
            || !(1..=3).contains(&db.kdf_algorithm)
            || !db.plaintext_header_size.is_multiple_of(16)
            || db.plaintext_header_size > 1024
        {
            return Err("database settings");
        }
        let max_attempts = self.u32("attempt limit")?;
        let policy_kind = self.u8("lockout policy")?;
        let base_s = self.u32("lockout base delay")?;
        let max_s = self.u32("lockout max delay")?;
        let on_limit = match policy_kind {
            POLICY_DELAY => OnLimit::Delay { base_s, max_s },
            POLICY_WIPE => OnLimit::Wipe,
            _ => return Err("unknown lockout policy"),
        };
        if max_attempts == 0 {
            return Err("attempt limit");
        }
        let target_kdf = self.kdf()?;
        let refuse_after = if self.version >= 2 {
            self.u32("refusal limit")?
        } else {
            match on_limit {
                OnLimit::Delay { .. } => DEFAULT_REFUSE_AFTER.max(max_attempts),
                OnLimit::Wipe => max_attempts,
            }
        };
        if refuse_after < max_attempts {
            return Err("refusal limit");
        }
        let slots = self.slots(false)?;
        let rotation = match self.u8("rotation flag")? {
            0 => None,
            1 => Some(Rotation {
                to_generation: self.u32("rotation generation")?,
                new_dek_check: self.arr("rotation key check")?,
                entries: self.slots(true)?,
            }),
            _ => return Err("rotation flag"),
        };
        let mut counter = Counter {
            failed: self.u32("attempt counter")?,
            last_seen_unix: self.i64("attempt clock")?,
            locked_until_unix: self.i64("lockout deadline")?,
            ..Counter::default()
        };
        if self.version >= 2 {
            counter.boot_seen_s = self.u64("attempt boot clock")?;
            counter.wait_left_s = self.u64("lockout wait left")?;
        }
        let sum: [u8; 16] = self.arr("counter checksum")?;
        if sum != counter_checksum(self.version, &vault_id, &counter) {
            return Err("counter checksum");
        }
        let account_hash = if self.version >= 2 {
            match self.u8("account flag")? {
                0 => None,
                1 => Some(self.arr("account hash")?),
                _ => return Err("account flag"),
            }
        } else {
            None
        };
        Ok(KeyslotFile {
            vault_id,
            created_unix,
            key_generation,
            dek_check,
            db,
            policy: LockoutPolicy { max_attempts, on_limit, refuse_after },
            target_kdf,
            slots,
            rotation,
            counter,
            account_hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> KeyslotFile {
        KeyslotFile {
            vault_id: [7; 16],
            created_unix: 1_700_000_000,
            key_generation: 1,
            dek_check: [9; 16],
            db: DbSettings::sqlcipher4(false, [3; 16]),
            policy: LockoutPolicy::default(),
            target_kdf: KdfParams::FLOOR,
            slots: vec![
                Slot {
                    id: 0,
                    key_generation: 1,
                    kind: SlotKind::Password {
                        nfc: true,
                        kdf: KdfParams::FLOOR,
                        salt: [1; 16],
                        nonce: [2; 24],
                        wrapped: [4; 48],
                    },
                },
                Slot { id: 1, key_generation: 1, kind: SlotKind::Platform { blob: vec![5; 40] } },
            ],
            rotation: None,
            counter: Counter {
                failed: 2,
                last_seen_unix: 1_700_000_100,
                locked_until_unix: 0,
                boot_seen_s: 77,
                wait_left_s: 30,
            },
            account_hash: Some([6; 32]),
        }
    }

    #[test]
    fn round_trip() {
        let f = sample();
        assert_eq!(KeyslotFile::decode::<Error>(&f.encode()).unwrap(), f);
        let mut g = sample();
        g.rotation = Some(Rotation { to_generation: 2, new_dek_check: [8; 16], entries: vec![g.slots[1].clone()] });
        g.policy.on_limit = OnLimit::Wipe;
        assert_eq!(KeyslotFile::decode::<Error>(&g.encode()).unwrap(), g);
    }

    /// The format-1 layout, written the way format-1 builds wrote it.
    fn encode_v1(f: &KeyslotFile) -> Vec<u8> {
        let v2 = f.encode();
        let mut w = Writer(Vec::new());
        w.bytes(MAGIC);
        w.0.extend_from_slice(&1u16.to_le_bytes());
        // Everything up to and including the target KDF is laid out as in format 2.
        let header_len = 16 + 8 + 4 + 16 + (1 + 4 + 4 + 1 + 1 + 4 + 16) + (4 + 1 + 4 + 4) + 13;
        w.bytes(&v2[10..10 + header_len]);
        // No refusal limit; slots and rotation unchanged.
        let rest_start = 10 + header_len + 4;
        let counter_len = 4 + 8 + 8 + 8 + 8 + 16;
        let account_len = if f.account_hash.is_some() { 33 } else { 1 };
        let rest_end = v2.len() - 32 - account_len - counter_len;
        w.bytes(&v2[rest_start..rest_end]);
        let c = &f.counter;
        w.u32(c.failed);
        w.i64(c.last_seen_unix);
        w.i64(c.locked_until_unix);
        w.bytes(&counter_checksum(1, &f.vault_id, c));
        seal(&w.0)
    }

    #[test]
    fn format_1_reads_with_the_defaults_of_its_missing_fields() {
        let mut f = sample();
        f.counter.boot_seen_s = 0;
        f.counter.wait_left_s = 0;
        f.account_hash = None;
        f.policy.refuse_after = DEFAULT_REFUSE_AFTER;
        if let SlotKind::Password { nfc, .. } = &mut f.slots[0].kind {
            *nfc = false;
        }
        let v1 = encode_v1(&f);
        assert_eq!(u16::from_le_bytes([v1[8], v1[9]]), 1);
        assert_eq!(KeyslotFile::decode::<Error>(&v1).unwrap(), f);
        // A wipe policy reads with the refusal limit at the attempt limit; a large attempt
        // limit raises the refusal limit with it.
        f.policy = LockoutPolicy { max_attempts: 3, on_limit: OnLimit::Wipe, refuse_after: 3 };
        assert_eq!(KeyslotFile::decode::<Error>(&encode_v1(&f)).unwrap(), f);
        f.policy = LockoutPolicy { max_attempts: 500, refuse_after: 500, ..LockoutPolicy::default() };
        assert_eq!(KeyslotFile::decode::<Error>(&encode_v1(&f)).unwrap(), f);
        // A normalised-password slot (kind 3) does not exist in format 1.
        let mut g = f.clone();
        if let SlotKind::Password { nfc, .. } = &mut g.slots[0].kind {
            *nfc = true;
        }
        assert!(matches!(KeyslotFile::decode::<Error>(&encode_v1(&g)), Err(Error::Corrupt { .. })));
        // Slots keep their associated data across the format change.
        assert_eq!(&slot_aad(&[1; 16], 0, false, 1, &KdfParams::FLOOR, &[2; 16])[8..10], &1u16.to_le_bytes());
    }

    #[test]
    fn a_refusal_limit_below_the_attempt_limit_is_corrupt() {
        let mut f = sample();
        f.policy.refuse_after = f.policy.max_attempts - 1;
        assert!(matches!(KeyslotFile::decode::<Error>(&f.encode()), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn every_flip_and_truncation_is_corrupt() {
        let bytes = sample().encode();
        for i in 0..bytes.len() {
            for bit in [0x01u8, 0x80] {
                let mut b = bytes.clone();
                b[i] ^= bit;
                assert!(matches!(KeyslotFile::decode::<Error>(&b), Err(Error::Corrupt { .. })), "byte {i}");
            }
        }
        for len in 0..bytes.len() {
            assert!(matches!(KeyslotFile::decode::<Error>(&bytes[..len]), Err(Error::Corrupt { .. })), "len {len}");
        }
    }

    #[test]
    fn newer_version_with_valid_checksum() {
        let mut bytes = sample().encode();
        bytes.truncate(bytes.len() - 32);
        bytes[8] = 3;
        let sum = Sha256::digest(&bytes);
        bytes.extend_from_slice(&sum);
        assert!(matches!(KeyslotFile::decode::<Error>(&bytes), Err(Error::NewerFormat { found: 3, .. })));
    }

    #[test]
    fn caps_are_corrupt() {
        let mut f = sample();
        if let SlotKind::Password { kdf, .. } = &mut f.slots[0].kind {
            kdf.m_kib = 4 * 1024 * 1024;
        }
        assert!(matches!(KeyslotFile::decode::<Error>(&f.encode()), Err(Error::Corrupt { .. })));
    }

    #[test]
    fn debug_redacts() {
        let s = format!("{:?}", sample());
        assert!(s.contains("[redacted]"));
        assert!(!s.contains("4, 4, 4"));
    }
}
