//! The encrypted local store: SQLCipher connections (one writer, a small pool of readers, WAL),
//! migrations by `PRAGMA user_version`, records, the outbox, query and full-text search.
//!
//! Every call is synchronous and short; async callers run it off their executor threads
//! (`spawn_blocking`). No connection or lock is ever held across an `.await`, because nothing
//! here is async.

mod auth;
mod odata_filter;
mod outbox;
mod query;
mod records;
mod search;
mod sync_state;
mod value;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags, OptionalExtension, Transaction};
use zeroize::Zeroizing;

pub use odata_filter::parse_filter;
pub use outbox::{Conflict, ConflictKind, OutboxEntry, OutboxOp, OutboxState, PushError, RefusalReason, Resolution};
pub use query::{Cursor, Filter, OrderBy, Page, Query};
pub(crate) use records::is_identifier;
pub use records::{Record, RecordState, ServerRow, TableSpec};
pub use search::SearchHit;
pub use sync_state::{Checkpoint, PageApplied, PassKind, TableSyncState};
pub(crate) use value::value_json;
pub use value::{Value, Values};

use crate::error::{Error, Result};
use crate::vault::keyslot::DbSettings;
use crate::vault::DataKey;

/// Schema migrations, applied in order; the schema version is their count.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_sync.sql"),
    include_str!("migrations/0003_outbox_v3.sql"),
];

/// The schema version this build writes and the newest it opens.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Readers kept open for reuse.
const READER_POOL: usize = 4;

/// Page cache per connection: 32 MiB (as fast as 128 MiB for ~1 KB rows, twice 1 MiB's speed).
const CACHE_KIB: i64 = 32 * 1024;

/// The `PRAGMA key` literal: raw key plus salt, so SQLCipher skips its PBKDF2 and works with a
/// plaintext header. Zeroized on drop.
pub(crate) struct DbKey {
    literal: Zeroizing<String>,
}

impl DbKey {
    /// Built in buffers sized once (`x'…'` with its 96 hex digits, and each statement from it
    /// in [`DbKey::pragma`]), so no reallocation leaves an unwiped copy of the hex key behind
    /// (issue 16, defect 4: it was `format!` and `hex::encode`).
    pub(crate) fn new(dek: &DataKey, settings: &DbSettings) -> Self {
        let mut hex_key = Zeroizing::new([0u8; 64]);
        let mut hex_salt = [0u8; 32];
        let mut s = Zeroizing::new(String::with_capacity(LITERAL_LEN));
        s.push_str("x'");
        if hex::encode_to_slice(dek.bytes(), hex_key.as_mut()).is_ok()
            && hex::encode_to_slice(settings.salt, &mut hex_salt).is_ok()
        {
            s.push_str(std::str::from_utf8(hex_key.as_ref()).unwrap_or_default());
            s.push_str(std::str::from_utf8(&hex_salt).unwrap_or_default());
        }
        s.push('\'');
        DbKey { literal: s }
    }

    /// Run `PRAGMA {name} = "x'…'";` (`key` or `rekey`) on `conn`. The statement is built in a
    /// buffer of exactly its size, NUL-terminated, and handed to `sqlite3_exec` directly:
    /// rusqlite's `execute_batch` would copy it into a `CString` it frees without wiping.
    #[allow(unsafe_code)] // the one FFI call of the core: docs/security.md, "Key material in memory"
    pub(crate) fn apply(&self, conn: &Connection, name: &str) -> Result<()> {
        let len = 7 + name.len() + 4 + self.literal.len() + 2 + 1;
        let mut sql: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(len));
        sql.extend_from_slice(b"PRAGMA ");
        sql.extend_from_slice(name.as_bytes());
        sql.extend_from_slice(b" = \"");
        sql.extend_from_slice(self.literal.as_bytes());
        sql.extend_from_slice(b"\";\0");
        debug_assert_eq!(sql.len(), len);
        // SAFETY: `conn.handle()` is the open connection's handle, valid while `conn` is; `sql`
        // is NUL-terminated and outlives the call; no callback or error buffer is passed.
        let rc = unsafe {
            rusqlite::ffi::sqlite3_exec(
                conn.handle(),
                sql.as_ptr().cast(),
                None,
                std::ptr::null_mut(),
                std::ptr::null_mut(),
            )
        };
        if rc != rusqlite::ffi::SQLITE_OK {
            return Err(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rc), None).into());
        }
        Ok(())
    }
}

/// `x'` + 64 + 32 hex digits + `'`.
const LITERAL_LEN: usize = 2 + 96 + 1;

impl std::fmt::Debug for DbKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DbKey([redacted])")
    }
}

/// An open, unlocked store.
pub struct Store {
    path: PathBuf,
    settings: DbSettings,
    /// `None` only for the unkeyed comparison store of the benchmarks (feature `bench-internals`).
    key: Mutex<Option<DbKey>>,
    /// `None` once closed: every later call is `Locked`.
    writer: Mutex<Option<Connection>>,
    readers: Mutex<Vec<Connection>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

fn poisoned<T>(_: T) -> Error {
    Error::internal("a store lock was poisoned by an earlier panic")
}

/// Case folding used for every case-insensitive comparison: full Unicode case folding, so
/// `Straße` equals `STRASSE` as in Dataverse, not just ASCII.
pub(crate) fn fold(s: &str) -> String {
    outpost_wire::sql::fold(s)
}

fn register_functions(conn: &Connection) -> Result<()> {
    conn.create_scalar_function(
        "outpost_fold",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC | FunctionFlags::SQLITE_INNOCUOUS,
        |ctx| {
            use rusqlite::types::{Value as V, ValueRef};
            Ok(match ctx.get_raw(0) {
                ValueRef::Text(t) => V::Text(fold(&String::from_utf8_lossy(t))),
                ValueRef::Integer(i) => V::Integer(i),
                ValueRef::Real(f) => V::Real(f),
                ValueRef::Null => V::Null,
                ValueRef::Blob(b) => V::Blob(b.to_vec()),
            })
        },
    )?;
    Ok(())
}

/// Open one keyed connection and check that the key fits.
fn connect(path: &Path, key: Option<&DbKey>, settings: &DbSettings, writer: bool) -> Result<Connection> {
    let flags = if writer {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(path, flags)?;
    // Refuse plain SQLite: without SQLCipher the data would be written unencrypted.
    let version: Option<String> = conn.query_row("PRAGMA cipher_version", [], |r| r.get(0)).optional()?;
    if version.as_deref().is_none_or(str::is_empty) {
        return Err(Error::internal("SQLCipher is not linked (cipher_version is empty)"));
    }
    // SQLCipher logs a wrong key to stderr unless told not to.
    conn.query_row("PRAGMA cipher_log_level = NONE", [], |_| Ok(())).optional()?;
    if let Some(key) = key {
        key.apply(&conn, "key")?;
        conn.execute_batch(&format!(
            "PRAGMA cipher_page_size = {}; PRAGMA kdf_iter = {}; PRAGMA cipher_hmac_algorithm = {}; \
         PRAGMA cipher_kdf_algorithm = {}; PRAGMA cipher_plaintext_header_size = {};",
            settings.page_size,
            settings.kdf_iter,
            settings.hmac_name(),
            settings.kdf_name(),
            settings.plaintext_header_size,
        ))?;
    }
    // The first read verifies the key: a wrong key is SQLITE_NOTADB, mapped to `Corrupt`.
    conn.query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get::<_, i64>(0))?;
    conn.execute_batch(&format!(
        "PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 5000; PRAGMA cache_size = -{CACHE_KIB}; \
         PRAGMA temp_store = MEMORY; PRAGMA synchronous = NORMAL;"
    ))?;
    if writer {
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::storage(format!("could not enable WAL (journal_mode = {mode})")));
        }
    } else {
        conn.execute_batch("PRAGMA query_only = ON;")?;
    }
    register_functions(&conn)?;
    Ok(conn)
}

/// Create the database file with owner-only permissions before SQLite does (SQLite gives the
/// `-wal` and `-shm` files the main file's permissions).
fn precreate(path: &Path) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The schema version to migrate to: the newest. Tests (feature `failpoints`) can play an older
/// build with `OUTPOST_TEST_SCHEMA_VERSION`, to kill a later build inside a real upgrade.
fn schema_target() -> u32 {
    #[cfg(feature = "failpoints")]
    if let Some(v) = std::env::var("OUTPOST_TEST_SCHEMA_VERSION").ok().and_then(|v| v.parse::<u32>().ok()) {
        return v.min(SCHEMA_VERSION);
    }
    SCHEMA_VERSION
}

fn migrate(conn: &mut Connection) -> Result<()> {
    let current: u32 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    if current > SCHEMA_VERSION {
        return Err(Error::NewerFormat { found: current, supported: SCHEMA_VERSION });
    }
    for (i, sql) in MIGRATIONS.iter().enumerate().take(schema_target() as usize).skip(current as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        crate::failpoint::failpoint("store.migration.mid");
        tx.execute_batch(&format!("PRAGMA user_version = {}", i + 1))?;
        tx.commit()?;
    }
    Ok(())
}

impl Store {
    /// Open (creating if `create`) the database at `path` with the data key.
    pub(crate) fn open(path: &Path, dek: &DataKey, settings: &DbSettings, create: bool) -> Result<Store> {
        if create {
            precreate(path)?;
        } else {
            match std::fs::metadata(path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::corrupt("database file is missing"))
                }
                Err(e) => return Err(e.into()),
                // SQLite would take an empty file for a new database and start afresh, silently
                // losing the records and the outbox: a vault's database is never empty.
                Ok(m) if m.len() == 0 => return Err(Error::corrupt("database file is empty (truncated)")),
                Ok(_) => {}
            }
        }
        Self::open_with(path, Some(DbKey::new(dek, settings)), settings)
    }

    /// An *unencrypted* store, only for measuring SQLCipher's cost against plain SQLite through
    /// the same code. Never compiled into the library apps use.
    #[cfg(feature = "bench-internals")]
    #[doc(hidden)]
    pub fn open_unkeyed_for_bench(path: &Path) -> Result<Store> {
        precreate(path)?;
        Self::open_with(path, None, &DbSettings::sqlcipher4(false, [0; 16]))
    }

    fn open_with(path: &Path, key: Option<DbKey>, settings: &DbSettings) -> Result<Store> {
        let mut writer = connect(path, key.as_ref(), settings, true)?;
        migrate(&mut writer)?;
        Ok(Store {
            path: path.to_path_buf(),
            settings: *settings,
            key: Mutex::new(key),
            writer: Mutex::new(Some(writer)),
            readers: Mutex::new(Vec::new()),
        })
    }

    /// Run `f` in one write transaction; committed if `f` succeeds, rolled back otherwise.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction<'_>) -> Result<T>) -> Result<T> {
        let mut guard = self.writer.lock().map_err(poisoned)?;
        let conn = guard.as_mut().ok_or(Error::Locked)?;
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // A panic inside `f` (a bug) must not kill the writer: the transaction is rolled back
        // when `tx` drops, the lock is released unpoisoned, and the caller gets `Internal`.
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&tx)))
            .map_err(|_| Error::internal("a write to the store panicked; it was rolled back"))??;
        tx.commit()?;
        Ok(out)
    }

    /// Test hook (feature `test-hooks`, never in a shipped build): panic inside a write
    /// transaction, to check that the writer survives it.
    ///
    /// # Errors
    /// Always `Internal`.
    #[cfg(feature = "test-hooks")]
    #[doc(hidden)]
    pub fn debug_panic_in_writer(&self) -> Result<()> {
        self.write(|_| -> Result<()> { panic!("test hook: a panic inside a write transaction") })
    }

    /// Run `f` on a reader connection (a snapshot of the last committed state).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let pooled = self.readers.lock().map_err(poisoned)?.pop();
        let conn = match pooled {
            Some(c) => c,
            None => {
                if self.writer.lock().map_err(poisoned)?.is_none() {
                    return Err(Error::Locked);
                }
                let key = self.key.lock().map_err(poisoned)?;
                connect(&self.path, key.as_ref(), &self.settings, false)?
            }
        };
        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&conn)))
            .unwrap_or_else(|_| Err(Error::internal("a read from the store panicked")));
        let mut pool = self.readers.lock().map_err(poisoned)?;
        if pool.len() < READER_POOL {
            pool.push(conn);
        }
        out
    }

    /// Re-encrypt every page under a new key (`PRAGMA rekey`): O(database size). Only for an
    /// explicit data-key rotation, never for a password change.
    pub(crate) fn rekey(&self, new: &DataKey) -> Result<()> {
        let new_key = DbKey::new(new, &self.settings);
        let mut key = self.key.lock().map_err(poisoned)?;
        self.readers.lock().map_err(poisoned)?.clear();
        let guard = self.writer.lock().map_err(poisoned)?;
        let writer = guard.as_ref().ok_or(Error::Locked)?;
        checkpoint(writer)?;
        new_key.apply(writer, "rekey")?;
        checkpoint(writer)?;
        *key = Some(new_key);
        Ok(())
    }

    /// Checkpoint the WAL into the main file and truncate it (e.g. before going to the
    /// background on iOS, or before copying the files).
    ///
    /// # Errors
    /// `Storage` if SQLite fails.
    pub fn checkpoint(&self) -> Result<()> {
        let guard = self.writer.lock().map_err(poisoned)?;
        checkpoint(guard.as_ref().ok_or(Error::Locked)?)
    }

    /// Read every page of the database and check it: SQLCipher's HMAC of each page
    /// (`PRAGMA cipher_integrity_check`), then SQLite's structure (`PRAGMA quick_check`). Reads
    /// the whole file, so it takes about as long as reading the database once; for `doctor`, or
    /// after a crash or storage error, not for every start.
    ///
    /// # Errors
    /// `Corrupt` naming the first damaged page or structure (never contents); `Storage`.
    pub fn verify_integrity(&self) -> Result<()> {
        self.read(|c| {
            let mut stmt = c.prepare("PRAGMA cipher_integrity_check")?;
            let problems: Vec<String> =
                stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<rusqlite::Result<_>>()?;
            if let Some(first) = problems.first() {
                // "HMAC verification failed for page 42": a page number, no contents.
                return Err(Error::corrupt(format!("database: {first} ({} pages damaged)", problems.len())));
            }
            let quick: String = c.query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
            if quick != "ok" {
                return Err(Error::corrupt("database structure (quick_check failed)"));
            }
            Ok(())
        })
    }

    /// Raw access for benchmarks and tests in this crate.
    #[cfg(test)]
    pub(crate) fn with_writer<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let w = self.writer.lock().map_err(poisoned)?;
        f(w.as_ref().ok_or(Error::Locked)?)
    }

    /// Close every connection (readers first) and drop the key (zeroized). Any later call on
    /// this store, through any handle, is `Locked`.
    pub(crate) fn close(&self) -> Result<()> {
        let writer = self.writer.lock().map_err(poisoned)?.take();
        self.readers.lock().map_err(poisoned)?.clear();
        self.key.lock().map_err(poisoned)?.take();
        match writer {
            Some(w) => w.close().map_err(|(_, e)| Error::from(e)),
            None => Ok(()),
        }
    }

    /// A setting (small key/value pairs kept in the vault).
    pub(crate) fn setting(&self, key: &str) -> Result<Option<String>> {
        self.read(|c| Ok(c.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?))
    }

    pub(crate) fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2) \
                 ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                [key, value],
            )?;
            Ok(())
        })
    }
}

fn checkpoint(conn: &Connection) -> Result<()> {
    let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
    if busy != 0 {
        return Err(Error::storage("WAL checkpoint was blocked by a reader"));
    }
    Ok(())
}
