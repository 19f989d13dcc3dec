#![doc = include_str!("../README.md")]

pub mod auth;
pub(crate) mod dataverse;
pub mod error;
mod failpoint;
pub mod store;
pub mod sync;
pub mod vault;

pub use auth::{
    AccessToken, Account, Auth, AuthConfig, DeviceCodeInfo, LoopbackRedirect, OrgUrl, SignInOptions, SignInRequest,
};
pub use error::{Error, Result, ServerDetails};
pub use store::{
    parse_filter, Conflict, ConflictKind, Cursor, Filter, OrderBy, OutboxEntry, OutboxOp, OutboxState, Page, PushError,
    Query, Record, RecordState, Resolution, SearchHit, ServerRow, Store, TableSpec, Value, Values,
};
pub use vault::kdf::{calibrate, Calibration, KdfParams};
pub use vault::lockout::{Clock, LockoutPolicy, OnLimit, SystemClock};
pub use vault::{
    AccountBinding, CreateOptions, OpenOptions, PlatformKeyError, PlatformKeyProvider, RotationReport, SlotInfo, Vault,
    VaultStatus,
};
