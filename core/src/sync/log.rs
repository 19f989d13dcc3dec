//! The sync log: a redacted record of the last syncs, kept inside the vault, for support
//! (`outpost log`). It holds counts, durations, table names and error descriptions — which by
//! the error type's rule never contain tokens, passwords or record values — and no URLs.

use serde::{Deserialize, Serialize};

use super::SyncSummary;
use crate::error::{Error, Result};
use crate::store::Store;

const SETTING_LOG: &str = "sync.log";
/// Entries kept; older ones are dropped.
pub const SYNC_LOG_ENTRIES: usize = 100;

/// One table of one logged sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TableLog {
    /// Entity set.
    pub entity_set: String,
    /// Full pass (first sync or resync) rather than a delta.
    pub full: bool,
    /// Rows received.
    pub pulled: u64,
    /// Rows removed locally.
    pub deleted: u64,
    /// Pages applied.
    pub pages: u64,
    /// Response bytes.
    pub bytes: u64,
    /// Up to date afterwards.
    pub complete: bool,
    /// The error, if the table failed.
    pub error: Option<String>,
}

/// One logged sync.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncLogEntry {
    /// Start, Unix seconds.
    pub started_unix: i64,
    /// Wall time in milliseconds.
    pub duration_ms: u64,
    /// `complete`, `incomplete`, or `failed`.
    pub outcome: String,
    /// The error that stopped the whole sync, if any.
    pub error: Option<String>,
    /// HTTP requests sent.
    pub requests: u64,
    /// Entries pushed.
    pub pushed: u64,
    /// Conflicts found by the push and kept for the user.
    pub conflicts: u64,
    /// Conflicts settled by policy.
    pub auto_resolved: u64,
    /// Entries parked by this push.
    pub parked: u64,
    /// Why the push phase stopped, if it did.
    pub push_error: Option<String>,
    /// Outbox entries still waiting afterwards.
    pub pending: u64,
    /// Open conflicts afterwards.
    pub open_conflicts: u64,
    /// Per table.
    pub tables: Vec<TableLog>,
}

impl SyncLogEntry {
    pub(crate) fn new(started_unix: i64, result: &Result<SyncSummary>, elapsed_ms: u64) -> SyncLogEntry {
        let mut e = SyncLogEntry {
            started_unix,
            duration_ms: elapsed_ms,
            outcome: "failed".into(),
            error: None,
            requests: 0,
            pushed: 0,
            conflicts: 0,
            auto_resolved: 0,
            parked: 0,
            push_error: None,
            pending: 0,
            open_conflicts: 0,
            tables: Vec::new(),
        };
        match result {
            Err(err) => e.error = Some(err.to_string()),
            Ok(s) => {
                e.outcome = if s.complete { "complete" } else { "incomplete" }.into();
                e.requests = s.requests;
                e.pushed = s.push.pushed;
                e.conflicts = s.push.conflicts;
                e.auto_resolved = s.push.auto_resolved;
                e.parked = s.push.parked;
                e.push_error = s.push_error.as_ref().map(ToString::to_string);
                e.pending = s.pending;
                e.open_conflicts = s.open_conflicts;
                e.tables = s
                    .tables
                    .iter()
                    .map(|t| TableLog {
                        entity_set: t.entity_set.clone(),
                        full: t.full,
                        pulled: t.pulled,
                        deleted: t.deleted,
                        pages: t.pages,
                        bytes: t.bytes,
                        complete: t.complete,
                        error: t.error.as_ref().map(ToString::to_string),
                    })
                    .collect();
            }
        }
        e
    }
}

/// Append an entry, keeping the newest [`SYNC_LOG_ENTRIES`].
pub(crate) fn append(store: &Store, entry: &SyncLogEntry) -> Result<()> {
    let mut all = sync_log(store).unwrap_or_default();
    all.push(entry.clone());
    let skip = all.len().saturating_sub(SYNC_LOG_ENTRIES);
    let json = serde_json::to_string(&all[skip..]).map_err(|e| Error::internal(e.to_string()))?;
    store.set_setting(SETTING_LOG, &json)
}

/// The logged syncs, oldest first.
///
/// # Errors
/// `Storage`; `Corrupt` if the log cannot be read.
pub fn sync_log(store: &Store) -> Result<Vec<SyncLogEntry>> {
    match store.setting(SETTING_LOG)? {
        None => Ok(Vec::new()),
        Some(j) => serde_json::from_str(&j).map_err(|_| Error::corrupt("sync log")),
    }
}
