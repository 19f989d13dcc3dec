//! The one public error type, and the single place where module errors map into it.
//!
//! Each module keeps a rich internal error (`vault::VaultError`, `store::StoreError`, …). Apps and
//! bindings only ever see [`Error`]: a few variants, each answering "what should the app do now?",
//! with structured fields. No message here ever contains a password, key, token or record value.

use std::fmt;

/// What the identity provider said, kept for support tickets. Never holds a token, a code or
/// the provider's free-text description (which can name the user).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServerDetails {
    /// The OAuth `error` value, e.g. `invalid_grant`.
    pub error: String,
    /// Entra's AADSTS codes, e.g. `[50076]`.
    pub error_codes: Vec<u32>,
    /// Correlation id, for Microsoft support.
    pub correlation_id: Option<String>,
    /// Trace id, for Microsoft support.
    pub trace_id: Option<String>,
}

impl fmt::Display for ServerDetails {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        if !self.error_codes.is_empty() {
            let codes: Vec<String> = self.error_codes.iter().map(|c| format!("AADSTS{c}")).collect();
            write!(f, " [{}]", codes.join(", "))?;
        }
        if let Some(c) = &self.correlation_id {
            write!(f, " correlation id {c}")?;
        }
        Ok(())
    }
}

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
    /// A new offline password does not meet the vault's password policy (at creation, a
    /// password change or an added password slot). Nothing changed. Show `reason` and ask again.
    #[error("the password does not meet the policy: {reason}")]
    WeakPassword {
        /// Which rule failed (never the password).
        reason: String,
    },
    /// The delay policy's refusal limit is reached (`LockoutPolicy::refuse_after` wrong
    /// passwords in a row): no password is tried any more, whatever the clocks say. A verified
    /// platform (biometric) unlock opens the vault and resets the count; otherwise the vault can
    /// only be wiped (sign in and sync again).
    #[error("too many wrong passwords: the offline password is disabled")]
    PasswordRefused,
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
    /// Multi-factor authentication (or MFA enrolment) is required: switch to interactive sign-in
    /// (system browser), passing `claims` on the authorize request. ROPC can never satisfy it.
    #[error("multi-factor authentication is required: sign in interactively ({details})")]
    MfaRequired {
        /// Claims request to pass to the next interactive sign-in, if the provider sent one.
        claims: Option<String>,
        /// Provider details.
        details: ServerDetails,
    },
    /// Silent sign-in is not possible (claims challenge, password expired, another account
    /// needed, …): start interactive sign-in, passing `claims`.
    #[error("interactive sign-in is required ({details})")]
    InteractionRequired {
        /// Claims request to pass to the next interactive sign-in.
        claims: Option<String>,
        /// Provider details.
        details: ServerDetails,
    },
    /// The app lacks consent in this tenant. If `user_consent_possible`, retry interactive
    /// sign-in with `prompt=consent`; otherwise show `admin_consent_url` to an administrator.
    #[error("consent is required ({details})")]
    ConsentRequired {
        /// The link an administrator opens to consent for the whole tenant.
        admin_consent_url: Option<String>,
        /// Whether the user can consent themselves (interactive sign-in with `prompt=consent`).
        user_consent_possible: bool,
        /// Provider details.
        details: ServerDetails,
    },
    /// The sign-in expired or was revoked (inactivity, password change, admin revoke). The
    /// refresh token has been deleted; sign in again.
    #[error("the sign-in expired or was revoked: sign in again ({details})")]
    ReauthRequired {
        /// Provider details.
        details: ServerDetails,
    },
    /// Wrong username or password (password grant only).
    #[error("wrong username or password ({details})")]
    BadCredentials {
        /// Provider details.
        details: ServerDetails,
    },
    /// The account is locked, disabled or blocked by policy (e.g. conditional access). Show the
    /// code and the administrator contact; do not retry automatically.
    #[error("sign-in blocked (AADSTS{code}) ({details})")]
    Blocked {
        /// The AADSTS code.
        code: u32,
        /// Provider details.
        details: ServerDetails,
    },
    /// The app registration, tenant, authority or redirect URI is wrong. Fix the configuration.
    #[error("sign-in configuration error ({details})")]
    Configuration {
        /// The AADSTS code, when there is one.
        code: Option<u32>,
        /// Provider details.
        details: ServerDetails,
    },
    /// The user declined the device-code sign-in.
    #[error("the device-code sign-in was declined ({details})")]
    DeviceCodeDeclined {
        /// Provider details.
        details: ServerDetails,
    },
    /// The device code expired before the user finished; start again.
    #[error("the device code expired ({details})")]
    DeviceCodeExpired {
        /// Provider details.
        details: ServerDetails,
    },
    /// Another sign-in failure the categories above do not cover.
    #[error("sign-in failed ({details})")]
    AuthFailed {
        /// Provider details.
        details: ServerDetails,
    },
    /// The user cancelled (closed the browser, denied consent).
    #[error("cancelled by the user")]
    UserCancelled,
    /// The network or the server is unavailable; retry later (queued work is kept).
    #[error("network error: {reason}")]
    Network {
        /// What failed (no URLs with secrets, no tokens).
        reason: String,
    },
    /// The server throttled us: wait `retry_after_s` seconds.
    #[error("throttled: retry in {retry_after_s} s")]
    Throttled {
        /// Seconds to wait.
        retry_after_s: u64,
    },
    /// Signing out would lose `count` unsent local changes: sync first, or force.
    #[error("{count} local changes have not been sent")]
    PendingChanges {
        /// Unsent changes in the outbox.
        count: u64,
    },
    /// The Web API refused a request: HTTP `status` and Dataverse's error `code` (e.g.
    /// `0x80040220`, missing privilege). The server's message is kept only inside the vault
    /// (parked outbox entries), since it can quote record values.
    #[error("the server refused the request: HTTP {status} {code}")]
    Server {
        /// HTTP status.
        status: u16,
        /// Dataverse error code (hex), empty when the server gave none.
        code: String,
    },
    /// Change tracking cannot be used for `table`: it is not enabled, or the server ignored the
    /// preference (no delta link). The other tables still sync. Ask the admin to enable change
    /// tracking on the table (a `modifiedon` fallback is not implemented yet).
    #[error("change tracking is unavailable for {table}: {reason}")]
    ChangeTrackingUnavailable {
        /// Entity set name.
        table: String,
        /// Why.
        reason: String,
    },
    /// A sync is already running (single flight): wait for it.
    #[error("a sync is already running")]
    SyncInProgress,
    /// The operation was cancelled through its handle; everything applied so far is kept.
    #[error("cancelled")]
    Cancelled,
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

    /// A sign-in failure described by us (not by the provider): `AuthFailed` with `error` only.
    pub(crate) fn auth_failed(error: impl fmt::Display) -> Self {
        Error::AuthFailed { details: ServerDetails { error: error.to_string(), ..ServerDetails::default() } }
    }

    pub(crate) fn storage(reason: impl fmt::Display) -> Self {
        Error::Storage { reason: reason.to_string() }
    }
}

/// `Corrupt::what` for a database that SQLCipher cannot read with the key it was given
/// (`SQLITE_NOTADB`): another vault's database, a plain file, or a damaged first page.
pub(crate) const WRONG_DB_KEY: &str = "database (not a database, or not encrypted with this vault's key)";

/// `Storage::reason` when the device is full (`SQLITE_FULL`, `ENOSPC`). The transaction was
/// rolled back; nothing committed before is lost, and the sync resumes once space is freed.
pub(crate) const DISK_FULL: &str = "the device is full: free some space, then sync again";

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
            Some(ErrorCode::DiskFull) => Error::storage(DISK_FULL),
            _ => Error::storage(e),
        }
    }
}

/// The mapping from the pure parsers' errors (`outpost-wire`): one variant each, reasons kept
/// as they are, so moving the parsers changed no message.
impl From<outpost_wire::Error> for Error {
    fn from(e: outpost_wire::Error) -> Self {
        match e {
            outpost_wire::Error::Invalid { reason } => Error::InvalidArgument { reason },
            outpost_wire::Error::Corrupt { what } => Error::Corrupt { what },
            outpost_wire::Error::NewerFormat { found, supported } => Error::NewerFormat { found, supported },
            outpost_wire::Error::Internal { reason } => Error::Internal { reason },
            // `outpost_wire::Error` is non-exhaustive; a new variant is a bug until mapped here.
            other => Error::Internal { reason: other.to_string() },
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        if e.kind() == std::io::ErrorKind::StorageFull {
            return Error::storage(DISK_FULL);
        }
        Error::storage(format!("I/O: {}", e.kind()))
    }
}
