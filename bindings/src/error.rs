//! The one public error of the bindings (Kotlin `OutpostException`, Swift `OutpostError`, Python
//! `OutpostError`), mirroring `outpost_core::Error` variant for variant with plain fields.

use outpost_core::Error;

/// What the identity provider said, kept for support tickets (no tokens, no free text).
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ServerDetails {
    /// The OAuth `error` value, e.g. `invalid_grant`.
    pub error: String,
    /// Entra's AADSTS codes, e.g. `[50076]`.
    pub error_codes: Vec<i64>,
    /// Correlation id, for Microsoft support.
    pub correlation_id: Option<String>,
    /// Trace id, for Microsoft support.
    pub trace_id: Option<String>,
}

impl From<outpost_core::ServerDetails> for ServerDetails {
    fn from(d: outpost_core::ServerDetails) -> Self {
        ServerDetails {
            error: d.error,
            error_codes: d.error_codes.into_iter().map(i64::from).collect(),
            correlation_id: d.correlation_id,
            trace_id: d.trace_id,
        }
    }
}

fn i32_of(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn i64_of(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Everything that can go wrong, as an app needs to see it. `docs/errors.md` says what an app
/// should do for each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
#[allow(missing_docs)] // the variants are documented on `outpost_core::Error`
pub enum OutpostError {
    #[error("wrong password ({attempts_left} attempts left)")]
    WrongPassword { attempts_left: i32 },
    #[error("too many wrong passwords: try again in {retry_after_s} s")]
    LockedOut { retry_after_s: i64 },
    #[error("too many wrong passwords: the offline password is disabled")]
    PasswordRefused,
    #[error("the password does not meet the policy: {reason}")]
    WeakPassword { reason: String },
    #[error("the vault was wiped after too many wrong passwords")]
    Wiped,
    #[error("corrupt: {what}")]
    Corrupt { what: String },
    #[error(
        "the vault was written by a newer version of Outpost (format {found}, this build reads up to {supported})"
    )]
    NewerFormat { found: i32, supported: i32 },
    #[error("the platform key was invalidated; unlock with the password and enrol again")]
    PlatformKeyInvalidated,
    #[error("platform key provider failed: {reason}")]
    PlatformKey { reason: String },
    #[error("the vault is locked")]
    Locked,
    #[error("no vault at this location")]
    NoVault,
    #[error("a vault already exists at this location")]
    VaultExists,
    #[error("this vault belongs to another account or organisation ({field} differs)")]
    AccountMismatch { field: String },
    #[error("invalid argument: {reason}")]
    InvalidArgument { reason: String },
    #[error("not found: {what}")]
    NotFound { what: String },
    #[error("storage error: {reason}")]
    Storage { reason: String },
    #[error("multi-factor authentication is required: sign in interactively")]
    MfaRequired { claims: Option<String>, details: ServerDetails },
    #[error("interactive sign-in is required")]
    InteractionRequired { claims: Option<String>, details: ServerDetails },
    #[error("consent is required")]
    ConsentRequired { admin_consent_url: Option<String>, user_consent_possible: bool, details: ServerDetails },
    #[error("the sign-in expired or was revoked: sign in again")]
    ReauthRequired { details: ServerDetails },
    #[error("wrong username or password")]
    BadCredentials { details: ServerDetails },
    #[error("sign-in blocked (AADSTS{code})")]
    Blocked { code: i64, details: ServerDetails },
    #[error("sign-in configuration error")]
    Configuration { code: Option<i64>, details: ServerDetails },
    #[error("the device-code sign-in was declined")]
    DeviceCodeDeclined { details: ServerDetails },
    #[error("the device code expired")]
    DeviceCodeExpired { details: ServerDetails },
    #[error("sign-in failed")]
    AuthFailed { details: ServerDetails },
    #[error("cancelled by the user")]
    UserCancelled,
    #[error("network error: {reason}")]
    Network { reason: String },
    #[error("throttled: retry in {retry_after_s} s")]
    Throttled { retry_after_s: i64 },
    #[error("{count} local changes have not been sent")]
    PendingChanges { count: i64 },
    #[error("the server refused the request: HTTP {status} {code}")]
    Server { status: i32, code: String },
    #[error("change tracking is unavailable for {table}: {reason}")]
    ChangeTrackingUnavailable { table: String, reason: String },
    #[error("a sync is already running")]
    SyncInProgress,
    #[error("cancelled")]
    Cancelled,
    #[error("internal error: {reason}")]
    Internal { reason: String },
}

impl OutpostError {
    pub(crate) fn internal(reason: impl Into<String>) -> Self {
        OutpostError::Internal { reason: reason.into() }
    }

    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        OutpostError::InvalidArgument { reason: reason.into() }
    }
}

impl From<Error> for OutpostError {
    fn from(e: Error) -> Self {
        use OutpostError as O;
        match e {
            Error::WrongPassword { attempts_left } => O::WrongPassword { attempts_left: i32_of(attempts_left) },
            Error::LockedOut { retry_after_s } => O::LockedOut { retry_after_s: i64_of(retry_after_s) },
            Error::PasswordRefused => O::PasswordRefused,
            Error::WeakPassword { reason } => O::WeakPassword { reason },
            Error::Wiped => O::Wiped,
            Error::Corrupt { what } => O::Corrupt { what },
            Error::NewerFormat { found, supported } => {
                O::NewerFormat { found: i32_of(found), supported: i32_of(supported) }
            }
            Error::PlatformKeyInvalidated => O::PlatformKeyInvalidated,
            Error::PlatformKey { reason } => O::PlatformKey { reason },
            Error::Locked => O::Locked,
            Error::NoVault => O::NoVault,
            Error::VaultExists => O::VaultExists,
            Error::AccountMismatch { field } => O::AccountMismatch { field },
            Error::InvalidArgument { reason } => O::InvalidArgument { reason },
            Error::NotFound { what } => O::NotFound { what },
            Error::Storage { reason } => O::Storage { reason },
            Error::MfaRequired { claims, details } => O::MfaRequired { claims, details: details.into() },
            Error::InteractionRequired { claims, details } => {
                O::InteractionRequired { claims, details: details.into() }
            }
            Error::ConsentRequired { admin_consent_url, user_consent_possible, details } => {
                O::ConsentRequired { admin_consent_url, user_consent_possible, details: details.into() }
            }
            Error::ReauthRequired { details } => O::ReauthRequired { details: details.into() },
            Error::BadCredentials { details } => O::BadCredentials { details: details.into() },
            Error::Blocked { code, details } => O::Blocked { code: i64::from(code), details: details.into() },
            Error::Configuration { code, details } => {
                O::Configuration { code: code.map(i64::from), details: details.into() }
            }
            Error::DeviceCodeDeclined { details } => O::DeviceCodeDeclined { details: details.into() },
            Error::DeviceCodeExpired { details } => O::DeviceCodeExpired { details: details.into() },
            Error::AuthFailed { details } => O::AuthFailed { details: details.into() },
            Error::UserCancelled => O::UserCancelled,
            Error::Network { reason } => O::Network { reason },
            Error::Throttled { retry_after_s } => O::Throttled { retry_after_s: i64_of(retry_after_s) },
            Error::PendingChanges { count } => O::PendingChanges { count: i64_of(count) },
            Error::Server { status, code } => O::Server { status: i32::from(status), code },
            Error::ChangeTrackingUnavailable { table, reason } => O::ChangeTrackingUnavailable { table, reason },
            Error::SyncInProgress => O::SyncInProgress,
            Error::Cancelled => O::Cancelled,
            Error::Internal { reason } => O::Internal { reason },
            other => O::Internal { reason: other.to_string() },
        }
    }
}

/// A host callback (foreign trait) failed in a way it could not report (e.g. it threw).
impl From<uniffi::UnexpectedUniFFICallbackError> for OutpostError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        OutpostError::Internal { reason: format!("a host callback failed: {}", e.reason) }
    }
}
