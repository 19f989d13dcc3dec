//! Errors as the CLI shows them: one exit code per error class, and a message that says what to
//! do. The codes are part of the CLI's interface (`docs/getting-started.md` lists them).

use outpost_core::Error;

/// Success.
pub const OK: u8 = 0;
/// A bug or an impossible state: report it.
pub const INTERNAL: u8 = 1;
/// Bad flags or arguments, or the item does not exist.
pub const USAGE: u8 = 2;
/// Wrong offline password, locked out, or wiped by the lockout policy.
pub const PASSWORD: u8 = 3;
/// No vault here, a vault already exists, or it belongs to another account or org.
pub const VAULT: u8 = 4;
/// Sign-in needed or failed.
pub const SIGN_IN: u8 = 5;
/// Network unavailable or throttled: retry later (nothing is lost).
pub const NETWORK: u8 = 6;
/// The server refused a request, or change tracking is unavailable for a table.
pub const SERVER: u8 = 7;
/// Unsent local changes would be lost.
pub const PENDING: u8 = 8;
/// Damaged files, a newer vault format, or a storage error (disk full).
pub const DAMAGED: u8 = 9;
/// Cancelled (Ctrl-C).
pub const CANCELLED: u8 = 10;
/// The sync finished but left local changes unsent for a reason the user must act on (behind
/// a refused change, referring to a refused record): `outpost errors`.
pub const UNSENT: u8 = 11;

/// What the CLI was doing, for messages that depend on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Doing {
    /// Anything.
    #[default]
    Other,
    /// `sign-in --flow password`.
    PasswordSignIn,
    /// `doctor`, with this many failed checks (already printed).
    Doctor(usize),
    /// `sync` left local changes unsent (listed in its summary).
    Unsent,
}

/// A failure of a command.
#[derive(Debug)]
pub struct Failure {
    /// The core's error (boxed: it is large, and results carry it).
    pub error: Box<Error>,
    /// Context for the message.
    pub doing: Doing,
}

impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        Failure { error: Box::new(error), doing: Doing::Other }
    }
}

/// Shorthand for a usage error.
pub fn usage(reason: impl Into<String>) -> Failure {
    Error::InvalidArgument { reason: reason.into() }.into()
}

/// The exit code of a failure.
pub fn failure_code(f: &Failure) -> u8 {
    match f.doing {
        Doing::Doctor(_) => SERVER,
        Doing::Unsent => UNSENT,
        _ => exit_code(&f.error),
    }
}

/// The exit code of an error.
pub fn exit_code(e: &Error) -> u8 {
    match e {
        Error::WrongPassword { .. }
        | Error::LockedOut { .. }
        | Error::PasswordRefused
        | Error::WeakPassword { .. }
        | Error::Wiped => PASSWORD,
        Error::NoVault | Error::VaultExists | Error::AccountMismatch { .. } | Error::Locked => VAULT,
        Error::MfaRequired { .. }
        | Error::InteractionRequired { .. }
        | Error::ConsentRequired { .. }
        | Error::ReauthRequired { .. }
        | Error::BadCredentials { .. }
        | Error::Blocked { .. }
        | Error::Configuration { .. }
        | Error::DeviceCodeDeclined { .. }
        | Error::DeviceCodeExpired { .. }
        | Error::AuthFailed { .. }
        | Error::UserCancelled
        | Error::PlatformKeyInvalidated
        | Error::PlatformKey { .. } => SIGN_IN,
        Error::Network { .. } | Error::Throttled { .. } | Error::SyncInProgress => NETWORK,
        Error::Server { .. } | Error::ChangeTrackingUnavailable { .. } => SERVER,
        Error::PendingChanges { .. } => PENDING,
        Error::Corrupt { .. } | Error::NewerFormat { .. } | Error::Storage { .. } => DAMAGED,
        Error::Cancelled => CANCELLED,
        Error::InvalidArgument { .. } | Error::NotFound { .. } => USAGE,
        _ => INTERNAL,
    }
}

/// A message that tells the user what to do. Never contains secrets: the core's errors never
/// do, and nothing else is added but fixed text.
pub fn message(f: &Failure, vault_dir: &std::path::Path) -> String {
    let dir = vault_dir.display();
    if let Doing::Doctor(n) = f.doing {
        return format!("{n} checks failed: see the findings above (docs/getting-started.md explains each)");
    }
    if let (Doing::Unsent, Error::PendingChanges { count }) = (f.doing, f.error.as_ref()) {
        return format!(
            "{count} local changes were not sent (the summary above says why): fix or discard the refused ones \
             with `outpost errors`, then sync again"
        );
    }
    match f.error.as_ref() {
        Error::WrongPassword { attempts_left } => {
            format!("wrong offline password ({attempts_left} attempts left before the vault's lockout policy applies)")
        }
        Error::LockedOut { retry_after_s } => {
            format!("too many wrong offline passwords: try again in {retry_after_s} s")
        }
        Error::WeakPassword { reason } => {
            format!("that offline password is too weak: {reason}; choose another (a few uncommon words work well)")
        }
        Error::PasswordRefused => "too many wrong offline passwords: the password is disabled; unlock with the \
             platform key if this vault has one, or run `outpost wipe`, then `outpost init`, sign in and sync again"
            .into(),
        Error::Wiped => {
            "the vault was wiped after too many wrong passwords: run `outpost init`, sign in and sync again".into()
        }
        Error::NoVault => format!("no vault at {dir}: run `outpost init --org URL --client-id ID` (or pass --db PATH)"),
        Error::VaultExists => format!("a vault already exists at {dir}: use it, or run `outpost wipe` first"),
        Error::AccountMismatch { field } => format!(
            "this vault belongs to another {}: sign in with the account it was made for, or use another --db",
            if field == "org" { "organisation" } else { "account" }
        ),
        Error::Locked => "the vault is locked".into(),
        Error::MfaRequired { details, .. } if f.doing == Doing::PasswordSignIn => {
            format!("this account needs MFA: use --flow browser or --flow device-code ({details})")
        }
        Error::MfaRequired { details, .. } => {
            format!("multi-factor authentication is required: run `outpost sign-in --flow browser` ({details})")
        }
        Error::InteractionRequired { details, .. } => {
            if details.error.is_empty() || details.error == "not signed in" {
                "not signed in: run `outpost sign-in`".into()
            } else {
                format!("interactive sign-in is required: run `outpost sign-in --flow browser` ({details})")
            }
        }
        Error::ConsentRequired { admin_consent_url, user_consent_possible, details } => {
            let mut m = format!("the app has no consent in this tenant ({details}).");
            if *user_consent_possible {
                m.push_str(" Run `outpost sign-in --flow browser` and accept the consent prompt.");
            }
            match admin_consent_url {
                Some(u) => m.push_str(&format!(" An administrator can consent for everyone by opening:\n  {u}")),
                None => m.push_str(" An administrator can get the consent link with `outpost consent-url`."),
            }
            m
        }
        Error::ReauthRequired { details } => {
            format!("the sign-in expired or was revoked: run `outpost sign-in` ({details})")
        }
        Error::BadCredentials { details } => format!("wrong username or password ({details})"),
        Error::Blocked { code, details } => format!(
            "sign-in blocked by the tenant's policy (AADSTS{code}): give your administrator this code and the \
             correlation id ({details})"
        ),
        Error::Configuration { details, .. } => format!(
            "sign-in configuration error ({details}): check --client-id, --tenant or --authority, and the app \
             registration's redirect URI and public-client setting (docs/getting-started.md)"
        ),
        Error::DeviceCodeDeclined { .. } => "the device-code sign-in was declined".into(),
        Error::DeviceCodeExpired { .. } => "the device code expired before sign-in finished: try again".into(),
        Error::UserCancelled => "sign-in cancelled (or no answer from the browser in time)".into(),
        Error::Network { reason } => {
            format!("cannot reach the server ({reason}): check the URL and the network; nothing was lost")
        }
        Error::Throttled { retry_after_s } => {
            format!("the server is throttling requests: try again in {retry_after_s} s; nothing was lost")
        }
        Error::SyncInProgress => "a sync is already running".into(),
        Error::Server { status: 403, code } => format!(
            "the server refused the request: HTTP 403 {code} — the user's security role lacks a privilege \
             (ask an administrator)"
        ),
        Error::Server { status, code } => format!("the server refused the request: HTTP {status} {code}"),
        Error::ChangeTrackingUnavailable { table, reason } => format!(
            "change tracking is unavailable for {table} ({reason}): an administrator must enable \"Track changes\" \
             on the table (Power Apps → Tables → {table} → Properties → Advanced options); the other tables still sync"
        ),
        Error::PendingChanges { count } => format!(
            "{count} local changes have not been sent: run `outpost sync` first, or `outpost sign-out --force` \
             (the changes stay in the vault)"
        ),
        Error::Corrupt { what } => format!(
            "a vault file is damaged or does not belong here ({what}); nothing was changed. Restore the files from \
             a backup, or `outpost wipe` and sync again"
        ),
        Error::NewerFormat { .. } => format!("{}: update outpost", f.error),
        Error::Storage { reason } => format!("storage error: {reason} (is the disk full?)"),
        Error::Cancelled => "cancelled; everything applied so far is kept".into(),
        Error::Internal { reason } => format!("internal error: {reason} (please report it)"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_by_class() {
        assert_eq!(exit_code(&Error::WrongPassword { attempts_left: 2 }), PASSWORD);
        assert_eq!(exit_code(&Error::NoVault), VAULT);
        assert_eq!(exit_code(&Error::Network { reason: "x".into() }), NETWORK);
        assert_eq!(exit_code(&Error::PendingChanges { count: 1 }), PENDING);
        assert_eq!(exit_code(&Error::Corrupt { what: "keys".into() }), DAMAGED);
        assert_eq!(exit_code(&Error::Cancelled), CANCELLED);
    }

    #[test]
    fn mfa_on_the_password_flow_names_the_other_flows() {
        let f = Failure {
            error: Box::new(Error::MfaRequired { claims: None, details: Default::default() }),
            doing: Doing::PasswordSignIn,
        };
        assert!(message(&f, std::path::Path::new("/v")).contains("use --flow browser or --flow device-code"));
    }
}
