//! Sync options, progress events (through the host's `SyncObserver`) and summaries.

use std::sync::Arc;

use crate::error::OutpostError;
use crate::types::i64_of;

/// What one sync does.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncOptions {
    /// Push the outbox first.
    #[uniffi(default = true)]
    pub push: bool,
    /// Pull.
    #[uniffi(default = true)]
    pub pull: bool,
    /// Pull only these entity sets (all profile tables when `None`).
    #[uniffi(default = None)]
    pub tables: Option<Vec<String>>,
    /// Stop at the next page boundary after this many milliseconds (e.g. a background task's budget).
    #[uniffi(default = None)]
    pub deadline_ms: Option<i64>,
}

impl SyncOptions {
    pub(crate) fn to_core(&self) -> outpost_core::sync::SyncOptions {
        outpost_core::sync::SyncOptions {
            push: self.push,
            pull: self.pull,
            tables: self.tables.clone(),
            deadline: self.deadline_ms.map(|ms| std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        }
    }
}

/// Phase of a table's sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, uniffi::Enum)]
pub enum Phase {
    /// Reading metadata.
    Metadata,
    /// Full pull.
    InitialPull,
    /// Incremental pull.
    DeltaPull,
}

/// Something the app may show or react to.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Enum)]
pub enum SyncEvent {
    /// A page was applied.
    Progress {
        /// Entity set.
        entity_set: String,
        /// Phase.
        phase: Phase,
        /// Rows applied so far in this sync.
        rows: i64,
        /// Total rows, when known.
        total: Option<i64>,
        /// Pages applied.
        pages: i64,
    },
    /// A table's full pull completed: usable offline.
    InitialSyncComplete {
        /// Entity set.
        entity_set: String,
    },
    /// Records changed (refresh the UI): ids of one page, at most 1,000.
    Changed {
        /// Entity set.
        entity_set: String,
        /// Primary ids.
        ids: Vec<String>,
    },
    /// Push progress.
    Pushed {
        /// Entries applied so far.
        done: i64,
        /// Entries of this round settled so far.
        pending: i64,
    },
}

impl From<&outpost_core::sync::SyncEvent> for SyncEvent {
    fn from(e: &outpost_core::sync::SyncEvent) -> Self {
        use outpost_core::sync::SyncEvent as E;
        match e {
            E::Progress(p) => SyncEvent::Progress {
                entity_set: p.entity_set.clone(),
                phase: match p.phase {
                    outpost_core::sync::Phase::Metadata => Phase::Metadata,
                    outpost_core::sync::Phase::InitialPull => Phase::InitialPull,
                    outpost_core::sync::Phase::DeltaPull => Phase::DeltaPull,
                },
                rows: i64_of(p.rows),
                total: p.total.map(i64_of),
                pages: i64_of(p.pages),
            },
            E::InitialSyncComplete { entity_set } => SyncEvent::InitialSyncComplete { entity_set: entity_set.clone() },
            E::Changed { entity_set, ids } => SyncEvent::Changed { entity_set: entity_set.clone(), ids: ids.clone() },
            E::Pushed { done, pending } => SyncEvent::Pushed { done: i64_of(*done), pending: i64_of(*pending) },
        }
    }
}

/// Receives sync events, on a sync thread: keep it quick and hand UI work to the main thread.
#[uniffi::export(with_foreign)]
pub trait SyncObserver: Send + Sync {
    /// One event.
    fn on_event(&self, event: SyncEvent);
}

/// Adapts the host's observer to the core's; an observer that throws is ignored, never fatal.
pub(crate) struct Observer(pub Option<Arc<dyn SyncObserver>>);

impl outpost_core::sync::SyncObserver for Observer {
    fn on_event(&self, event: &outpost_core::sync::SyncEvent) {
        if let Some(o) = &self.0 {
            o.on_event(event.into());
        }
    }
}

/// The outcome of one table.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct TableSummary {
    /// Entity set.
    pub entity_set: String,
    /// Rows received.
    pub pulled: i64,
    /// Rows removed locally.
    pub deleted: i64,
    /// Pages applied.
    pub pages: i64,
    /// A full pass (not a delta).
    pub full: bool,
    /// Up to date.
    pub complete: bool,
    /// What went wrong for this table (the others still synced).
    pub error: Option<OutpostError>,
}

/// The outcome of a sync.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct SyncSummary {
    /// Per table.
    pub tables: Vec<TableSummary>,
    /// Entries the server applied.
    pub pushed: i64,
    /// Conflicts found and kept for the user.
    pub conflicts: i64,
    /// Conflicts settled by policy.
    pub auto_resolved: i64,
    /// Entries parked by this push.
    pub parked_now: i64,
    /// Why the push stopped, if it did (the queue is kept).
    pub push_error: Option<OutpostError>,
    /// Entries still waiting.
    pub pending: i64,
    /// Open conflicts.
    pub open_conflicts: i64,
    /// Parked entries.
    pub parked: i64,
    /// Wall time, milliseconds.
    pub duration_ms: i64,
    /// HTTP requests sent.
    pub requests: i64,
    /// Rows received over all tables.
    pub rows_pulled: i64,
    /// Local changes left unsent that are not parked, each with the reason (a sync that
    /// leaves any is not complete).
    pub unsent: Vec<UnsentChange>,
    /// Whether everything completed: every table is up to date and every local change was
    /// sent or is shown to the user (a conflict, a parked change).
    pub complete: bool,
}

/// A local change a sync left unsent, and why.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct UnsentChange {
    /// Outbox sequence number.
    pub seq: i64,
    /// Entity set.
    pub entity_set: String,
    /// Record id.
    pub record_id: String,
    /// `behind_refused` (a parked change of the same record comes first: `behind_seq`),
    /// `waits_for_refused` (it refers to a record created offline whose create is parked:
    /// `refers_to`), `waits_for_create` (it refers to a record created offline not on the
    /// server yet: `refers_to`), `table_not_in_profile`, or `not_sent` (goes out next sync).
    pub reason: String,
    /// For `behind_refused`: the parked change's sequence number.
    pub behind_seq: Option<i64>,
    /// For `waits_for_*`: the record referred to, as `<entity set>(<id>)`.
    pub refers_to: Option<String>,
}

impl From<outpost_core::sync::Unsent> for UnsentChange {
    fn from(u: outpost_core::sync::Unsent) -> Self {
        use outpost_core::sync::UnsentReason as R;
        let (reason, behind_seq, refers_to) = match u.reason {
            R::BehindRefused { seq } => ("behind_refused", Some(seq), None),
            R::WaitsForRefused { entity_set, record_id } => {
                ("waits_for_refused", None, Some(format!("{entity_set}({record_id})")))
            }
            R::WaitsForCreate { entity_set, record_id } => {
                ("waits_for_create", None, Some(format!("{entity_set}({record_id})")))
            }
            R::TableNotInProfile => ("table_not_in_profile", None, None),
            R::NotSent => ("not_sent", None, None),
        };
        UnsentChange {
            seq: u.seq,
            entity_set: u.entity_set,
            record_id: u.record_id,
            reason: reason.into(),
            behind_seq,
            refers_to,
        }
    }
}

impl From<outpost_core::sync::SyncSummary> for SyncSummary {
    fn from(s: outpost_core::sync::SyncSummary) -> Self {
        SyncSummary {
            rows_pulled: i64_of(s.rows_pulled()),
            tables: s
                .tables
                .iter()
                .map(|t| TableSummary {
                    entity_set: t.entity_set.clone(),
                    pulled: i64_of(t.pulled),
                    deleted: i64_of(t.deleted),
                    pages: i64_of(t.pages),
                    full: t.full,
                    complete: t.complete,
                    error: t.error.clone().map(Into::into),
                })
                .collect(),
            pushed: i64_of(s.push.pushed),
            conflicts: i64_of(s.push.conflicts),
            auto_resolved: i64_of(s.push.auto_resolved),
            parked_now: i64_of(s.push.parked),
            push_error: s.push_error.map(Into::into),
            pending: i64_of(s.pending),
            open_conflicts: i64_of(s.open_conflicts),
            parked: i64_of(s.parked),
            duration_ms: i64::try_from(s.duration.as_millis()).unwrap_or(i64::MAX),
            requests: i64_of(s.requests),
            unsent: s.unsent.into_iter().map(Into::into).collect(),
            complete: s.complete,
        }
    }
}
