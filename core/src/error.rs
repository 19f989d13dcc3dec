//! The one public error type, and the single place where module errors map into it.
//!
//! Each module keeps a rich internal error (`vault::VaultError`, `store::StoreError`, …). Apps and
//! bindings only ever see [`Error`]: a few variants, each answering "what should the app do now?",
//! with structured fields. No message here ever contains a password, key, token or record value.

use std::fmt;

/// Everything that can go wrong in Outpost, as an app needs to see it.
///
/// `docs/errors.md` lists every variant with when it happens and what an app should do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The offline password did not open the vault. Ask again; `attempts_left` more wrong
    /// answers trigger the vault's lockout policy (a delay or a wipe).
    #[error("wrong password ({attempts_left} attempts left)")]
    WrongPassword {
        /// Wrong answers left before the lockout policy applies.
        attempts_left: u32,
    },
    /// Too many wrong passwords: no attempt is accepted for `retry_after_s` seconds.
    #[error("too many wrong passwords: try again in {retry_after_s} s")]
    LockedOut {
        /// Seconds until the next attempt is accepted.
        retry_after_s: u64,
    },
    /// The wipe policy applied after too many wrong passwords: the vault's files are gone.
    /// Start again with a new vault (sign in and sync).
    #[error("the vault was wiped after too many wrong passwords")]
    Wiped,
    /// A file is damaged, truncated or tampered with, or does not belong with the others.
    /// Nothing was changed. The app may offer to wipe and sync again.
    #[error("corrupt: {what}")]
    Corrupt {
        /// Which part is damaged (file or field name; never contents).
        what: String,
    },
    /// The vault was written by a newer version of Outpost. Update the app.
    #[error(
        "the vault was written by a newer version of Outpost (format {found}, this build reads up to {supported})"
    )]
    NewerFormat {
        /// The format or schema version found.
        found: u32,
        /// The newest version this build understands.
        supported: u32,
    },
    /// The platform key (Android Keystore / iOS Keychain or Secure Enclave) can no longer unwrap
    /// the data key, e.g. after a biometric enrolment change. Unlock with the password and
    /// enrol the platform slot again.
    #[error("the platform key was invalidated; unlock with the password and enrol again")]
    PlatformKeyInvalidated,
    /// The platform key provider failed for another reason (user cancelled a prompt, …).
    #[error("platform key provider failed: {reason}")]
    PlatformKey {
        /// The provider's own description (must not contain key material).
        reason: String,
    },
    /// The operation needs an unlocked vault.
    #[error("the vault is locked")]
    Locked,
    /// No vault exists at the given location.
    #[error("no vault at this location")]
    NoVault,
    /// A vault already exists at the given location.
    #[error("a vault already exists at this location")]
    VaultExists,
    /// The vault belongs to another account or organisation; data is never mixed.
    #[error("this vault belongs to another account or organisation ({field} differs)")]
    AccountMismatch {
        /// Which binding differs: `account` or `org`.
        field: String,
    },
    /// The caller passed something unusable (parameters below the floor, removing the last
    /// slot, an unknown table or column, …). Fix the call.
    #[error("invalid argument: {reason}")]
    InvalidArgument {
        /// What is wrong with it.
        reason: String,
    },
    /// The requested item does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for (kind and id, never contents).
        what: String,
    },
    /// The local database failed (disk full, I/O error, busy beyond the timeout).
    #[error("storage error: {reason}")]
    Storage {
        /// A description without record contents.
        reason: String,
    },
    /// A bug or an impossible state. Report it.
    #[error("internal error: {reason}")]
    Internal {
        /// A description for the bug report.
        reason: String,
    },
}

/// Result alias used across the public API.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn corrupt(what: impl fmt::Display) -> Self {
        Error::Corrupt { what: what.to_string() }
    }

    pub(crate) fn invalid(reason: impl fmt::Display) -> Self {
        Error::InvalidArgument { reason: reason.to_string() }
    }

    pub(crate) fn internal(reason: impl fmt::Display) -> Self {
        Error::Internal { reason: reason.to_string() }
    }

    pub(crate) fn storage(reason: impl fmt::Display) -> Self {
        Error::Storage { reason: reason.to_string() }
    }
}

/// `Corrupt::what` for a database that SQLCipher cannot read with the key it was given
/// (`SQLITE_NOTADB`): another vault's database, a plain file, or a damaged first page.
pub(crate) const WRONG_DB_KEY: &str = "database (not a database, or not encrypted with this vault's key)";

/// The mapping from SQLite errors: the one place a `rusqlite::Error` becomes public.
///
/// SQLite's messages can quote SQL text but never bound values, and we never put values into
/// SQL text, so the message is safe to keep.
impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        use rusqlite::ffi::ErrorCode;
        match e.sqlite_error_code() {
            Some(ErrorCode::NotADatabase) => Error::corrupt(WRONG_DB_KEY),
            Some(ErrorCode::DatabaseCorrupt) => Error::corrupt("database (malformed)"),
            _ => Error::storage(e),
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::storage(format!("I/O: {}", e.kind()))
    }
}
