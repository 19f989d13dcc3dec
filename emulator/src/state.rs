//! Shared state of a running emulator.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::Instant;

use crate::config::Settings;
use crate::control::{Fault, RequestLog};
use crate::directory::Directory;
use crate::identity::AuthState;
use crate::jwt::KeySet;
use crate::schema::Schema;
use crate::service::Throttle;
use crate::store::Store;

/// Everything the handlers share.
#[derive(Debug)]
pub struct Shared {
    /// Public base URL (no trailing slash): the authority host and the org URL.
    pub base: String,
    /// Dataverse organization URL (= base).
    pub org_url: String,
    /// Schema.
    pub schema: Arc<Schema>,
    /// Settings.
    pub settings: RwLock<Settings>,
    /// Directory.
    pub directory: RwLock<Directory>,
    /// Rows.
    pub store: RwLock<Store>,
    /// Codes, refresh tokens, device codes, sign-in transactions.
    pub auth: Mutex<AuthState>,
    /// Signing keys (the current one and the published ones).
    pub keys: KeySet,
    /// Request log and counters.
    pub log: Mutex<RequestLog>,
    /// Pending fault injections.
    pub faults: Mutex<Vec<Fault>>,
    /// Service protection state.
    pub throttle: Mutex<Throttle>,
    /// Organization id.
    pub org_id: u128,
    /// Root business unit id.
    pub business_unit_id: u128,
    /// The same, formatted.
    pub business_unit_guid: String,
    /// Start time.
    pub started: Instant,
}

/// Read lock, ignoring poisoning (a panicked handler must not take the emulator down).
pub fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

/// Write lock, ignoring poisoning.
pub fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// Mutex lock, ignoring poisoning.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}
