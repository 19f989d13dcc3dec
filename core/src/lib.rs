#![doc = include_str!("../README.md")]

pub mod auth;
pub(crate) mod dataverse;
pub mod error;
mod failpoint;
pub mod store;
pub mod sync;
pub mod vault;

pub use auth::{
    AccessToken, Account, AdminConsent, Auth, AuthConfig, DeviceCodeInfo, LoopbackRedirect, OrgUrl, SignInOptions,
    SignInRequest, TokenFuture, TokenProvider, TokenRequest,
};
pub use error::{Error, Result, ServerDetails};
pub use outpost_wire::keyslot::DEFAULT_REFUSE_AFTER;
pub use store::{
    parse_filter, Conflict, ConflictKind, Cursor, Filter, OrderBy, OutboxEntry, OutboxOp, OutboxState, Page, PushError,
    Query, Record, RecordState, RefusalReason, Resolution, SearchHit, ServerRow, Store, TableSpec, Value, Values,
};
pub use vault::kdf::{calibrate, Calibration, KdfParams};
pub use vault::lockout::{Clock, LockoutPolicy, OnLimit, SystemClock};
pub use vault::password::PasswordPolicy;
pub use vault::{
    AccountBinding, CreateOptions, OpenOptions, PlatformKeyError, PlatformKeyProvider, RotationReport, SlotInfo, Vault,
    VaultStatus,
};

/// Make *ring* the process's rustls crypto provider, unless the app installed one already (then
/// that one stays). The core calls it before building any HTTP client; an app or tool that builds
/// its own `reqwest` clients in the same process calls it first too. Idempotent and cheap.
pub fn install_tls_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Err only when another thread installed one in between: that one is used.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}
