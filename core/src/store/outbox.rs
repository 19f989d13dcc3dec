//! The outbox as the push sees it, parked errors, and conflicts kept for the user.
//!
//! Every bookkeeping step is one transaction that ends with [`rebuild`], so the local view of a
//! record is always its server copy plus whatever still waits (outbox entries, open conflicts).

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::records::{fts_delete, load, mirror, norm_id, now_unix, rebuild, table_id, RecordState, ServerRow};
use super::sync_state::{insert_conflict, json_values, server_deleted_conflict};
use super::value::{to_json, Values};
use super::Store;
use crate::error::{Error, Result};

/// What an outbox entry does on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxOp {
    /// Create the record (upsert with `If-None-Match: *`, client-chosen id).
    Create,
    /// Update changed columns (`If-Match` the base etag).
    Update,
    /// Delete (`If-Match` the base etag).
    Delete,
}

/// Where an outbox entry is: the states of the outbox state machine (`docs/sync.md`, "The
/// outbox state machine"), one to one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutboxState {
    /// Never sent: later local edits of the record merge into it.
    Pending,
    /// Sent at least once (or claimed by a push round about to send it); the outcome is not
    /// known until the server's answer is settled. **Immutable**: a later local edit goes into a
    /// new entry, and settling the answer removes exactly what was sent. Sent again (the
    /// conditional headers and a read of the record tell whether an earlier attempt landed)
    /// until it is settled.
    InFlight,
    /// Refused by the server (validation, permission, a missing lookup target) or unsendable:
    /// known not to be applied. Later local edits of the record merge into it; it waits for
    /// `retry_parked` (which sends its current values) or `discard_parked`.
    Parked,
}

/// Why an entry was refused, as an app can act on it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum RefusalReason {
    /// The server refused the change (validation, privilege, …): see `status`, `code` and
    /// `message`.
    #[default]
    Server,
    /// A lookup column points at a record that does not exist on the server (never created, or
    /// deleted there): set the column to another record or clear it, then retry.
    MissingLookupTarget {
        /// The lookup property, e.g. `_parentcustomerid_value`.
        column: String,
    },
    /// The change cannot be written as a request (e.g. a lookup whose target table is unknown).
    InvalidLocalChange,
}

impl RefusalReason {
    fn to_db(&self) -> Option<String> {
        match self {
            RefusalReason::Server => None,
            RefusalReason::MissingLookupTarget { column } => Some(format!("missing_lookup_target:{column}")),
            RefusalReason::InvalidLocalChange => Some("invalid_local_change".into()),
        }
    }

    fn from_db(s: Option<&str>) -> RefusalReason {
        match s {
            Some("invalid_local_change") => RefusalReason::InvalidLocalChange,
            Some(r) => match r.strip_prefix("missing_lookup_target:") {
                Some(column) => RefusalReason::MissingLookupTarget { column: column.to_string() },
                None => RefusalReason::Server,
            },
            None => RefusalReason::Server,
        }
    }
}

/// The answer that parked an entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushError {
    /// HTTP status (0 for a change refused before sending).
    pub status: u16,
    /// Dataverse error code, e.g. `0x80044331`.
    pub code: String,
    /// The server's message. Kept only inside the vault; it may name columns.
    pub message: String,
    /// Why, as an app can act on it.
    pub reason: RefusalReason,
}

/// One local edit waiting to be pushed.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEntry {
    /// Order of the edit.
    pub seq: i64,
    /// Entity set of the record.
    pub entity_set: String,
    /// Primary id of the record.
    pub record_id: String,
    /// Operation.
    pub op: OutboxOp,
    /// Changed columns and their new values (all values for a create).
    pub changes: Values,
    /// The same columns as they were when edited (updates).
    pub base_values: Values,
    /// The etag the edit was based on.
    pub base_etag: Option<String>,
    /// Push attempts so far.
    pub attempts: u32,
    /// State.
    pub state: OutboxState,
    /// Why it is parked.
    pub error: Option<PushError>,
}

/// Which kind of conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConflictKind {
    /// Both sides changed the same columns to different values.
    Update,
    /// Deleted on the server, edited locally.
    ServerDeleted,
    /// Deleted locally, changed on the server.
    LocalDeleted,
}

impl ConflictKind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            ConflictKind::Update => "update",
            ConflictKind::ServerDeleted => "server_deleted",
            ConflictKind::LocalDeleted => "local_deleted",
        }
    }
}

/// A conflict kept for the user to decide.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// Conflict id.
    pub id: i64,
    /// Entity set of the record.
    pub entity_set: String,
    /// Primary id of the record.
    pub record_id: String,
    /// Which case.
    pub kind: ConflictKind,
    /// Columns that disagree.
    pub columns: Vec<String>,
    /// The columns as they were when edited locally.
    pub base: Values,
    /// The local values (for `ServerDeleted`: the whole local record).
    pub local: Values,
    /// The server's values of the columns (`None` when deleted on the server).
    pub server: Option<Values>,
    /// The server's etag when the conflict was found.
    pub server_etag: Option<String>,
    /// Unix seconds.
    pub detected_at: i64,
}

/// How to resolve a conflict.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// Keep the local values (or the local delete, or recreate a record deleted on the server).
    TakeLocal,
    /// Keep the server's values (or its delete).
    TakeServer,
    /// Use these values.
    Values(Values),
}

fn op_of(s: &str) -> Result<OutboxOp> {
    Ok(match s {
        "create" => OutboxOp::Create,
        "update" => OutboxOp::Update,
        "delete" => OutboxOp::Delete,
        _ => return Err(Error::corrupt("outbox op")),
    })
}

fn state_of(s: &str) -> Result<OutboxState> {
    Ok(match s {
        "pending" => OutboxState::Pending,
        "inflight" => OutboxState::InFlight,
        "parked" => OutboxState::Parked,
        _ => return Err(Error::corrupt("outbox state")),
    })
}

const ENTRY_SQL: &str = "SELECT o.seq, t.entity_set, o.record_id, o.op, json(o.changes), json(o.base_values), \
     o.base_etag, o.attempts, o.state, o.error_status, o.error_code, o.last_error, o.error_reason \
     FROM outbox o JOIN sync_table t ON t.table_id = o.table_id";

fn entries(conn: &Connection, where_sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<OutboxEntry>> {
    let mut stmt = conn.prepare(&format!("{ENTRY_SQL} {where_sql} ORDER BY o.seq"))?;
    let rows = stmt.query_map(args, |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, Option<String>>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, i64>(7)?,
            r.get::<_, String>(8)?,
            r.get::<_, Option<i64>>(9)?,
            r.get::<_, Option<String>>(10)?,
            r.get::<_, Option<String>>(11)?,
            r.get::<_, Option<String>>(12)?,
        ))
    })?;
    rows.map(|row| {
        let (seq, entity_set, record_id, op, changes, base, base_etag, attempts, state, status, code, msg, reason) =
            row?;
        Ok(OutboxEntry {
            seq,
            entity_set,
            record_id,
            op: op_of(&op)?,
            changes: json_values(changes)?,
            base_values: json_values(base)?,
            base_etag,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            state: state_of(&state)?,
            error: status.map(|s| PushError {
                status: u16::try_from(s).unwrap_or(0),
                code: code.unwrap_or_default(),
                message: msg.unwrap_or_default(),
                reason: RefusalReason::from_db(reason.as_deref()),
            }),
        })
    })
    .collect()
}

/// One entry the server accepted: drop it and take the server's row (or remove a deleted record).
fn succeeded(tx: &Transaction<'_>, seq: i64, server: Option<&ServerRow>) -> Result<()> {
    let (table_id, id, searchable, op) = locate(tx, seq)?;
    let sent_on: Option<String> = tx.query_row("SELECT base_etag FROM outbox WHERE seq = ?1", [seq], |r| r.get(0))?;
    tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
    if let Some(etag) = server.and_then(|s| s.etag.as_deref()) {
        // Later entries of the record were made on a local view that already showed this one:
        // they are based on the version our write produced, not on the one before it (else a
        // delete made while an update was in flight would meet 412 against our own update).
        tx.execute(
            "UPDATE outbox SET base_etag = ?4 WHERE table_id = ?1 AND record_id = ?2 AND seq > ?3 \
             AND base_etag IS ?5",
            params![table_id, id, seq, etag, sent_on],
        )?;
    }
    if op == "delete" {
        let later: i64 = tx.query_row(
            "SELECT count(*) FROM outbox WHERE table_id = ?1 AND record_id = ?2",
            params![table_id, id],
            |r| r.get(0),
        )?;
        if later == 0 {
            tx.execute("DELETE FROM conflict WHERE table_id = ?1 AND record_id = ?2", params![table_id, id])?;
            remove_record(tx, table_id, &id)?;
        }
        return Ok(());
    }
    refresh(tx, table_id, &searchable, &id, server)
}

/// The entry's table id, record id and row id.
fn locate(tx: &Transaction<'_>, seq: i64) -> Result<(i64, String, Vec<String>, String)> {
    let (table_id, id, op, searchable): (i64, String, String, String) = tx
        .query_row(
            "SELECT o.table_id, o.record_id, o.op, t.searchable FROM outbox o \
             JOIN sync_table t ON t.table_id = o.table_id WHERE o.seq = ?1",
            [seq],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )
        .optional()?
        .ok_or_else(|| Error::NotFound { what: "outbox entry".into() })?;
    let searchable = serde_json::from_str(&searchable).map_err(|_| Error::corrupt("sync_table.searchable"))?;
    Ok((table_id, id, searchable, op))
}

/// Rebuild a record keeping `new_mirror` (or its current mirror) as the server copy.
fn refresh(
    tx: &Transaction<'_>,
    table_id: i64,
    searchable: &[String],
    id: &str,
    new_mirror: Option<&ServerRow>,
) -> Result<()> {
    let Some(existing) = load(tx, table_id, id)? else {
        if let Some(row) = new_mirror {
            // The record is not here (e.g. a replayed create after a purge): insert the server copy.
            tx.execute(
                "INSERT INTO record (table_id, id, data, etag, state) VALUES (?1, ?2, jsonb(?3), ?4, 0)",
                params![table_id, id, to_json(&row.values), row.etag],
            )?;
            let rid = tx.last_insert_rowid();
            rebuild(tx, table_id, searchable, rid, id, Some((&row.values, row.etag.as_deref())))?;
        }
        return Ok(());
    };
    if new_mirror.is_some() {
        // The server has this row now: a full pass in progress counts it as seen (its sweep
        // must not remove a record we just created).
        tx.execute(
            "UPDATE record SET pass = (SELECT pass FROM sync_table WHERE table_id = ?2) WHERE rid = ?1",
            params![existing.rid, table_id],
        )?;
    }
    let current = mirror(tx, existing.rid)?;
    let m = match new_mirror {
        Some(row) => Some((row.values.clone(), row.etag.clone())),
        None => current,
    };
    rebuild(tx, table_id, searchable, existing.rid, id, m.as_ref().map(|(v, e)| (v, e.as_deref())))?;
    Ok(())
}

fn remove_record(tx: &Transaction<'_>, table_id: i64, id: &str) -> Result<()> {
    if let Some(existing) = load(tx, table_id, id)? {
        fts_delete(tx, table_id, existing.rid)?;
        tx.execute("DELETE FROM record WHERE rid = ?1", [existing.rid])?;
    }
    Ok(())
}

/// Taking the server's side of columns: the user gave up the local values the conflict showed,
/// including newer edits of those columns still waiting (unsent) in the outbox. Entries left
/// with nothing to change go. Entries in flight are immutable (the server may have them).
fn drop_unsent_columns(tx: &Transaction<'_>, table_id: i64, id: &str, columns: &[String]) -> Result<()> {
    let waiting = entries(
        tx,
        "WHERE o.table_id = ?1 AND o.record_id = ?2 AND o.op = 'update' AND o.state IN ('pending', 'parked')",
        &[&table_id, &id],
    )?;
    for mut e in waiting {
        let before = e.changes.len();
        for c in columns {
            let lookup = format!("{c}{}", crate::dataverse::page::LOOKUP_LOGICAL_NAME);
            for k in [c, &lookup] {
                e.changes.remove(k);
                e.base_values.remove(k);
            }
        }
        if e.changes.len() == before {
            continue;
        }
        if e.changes.keys().all(|k| k.ends_with(crate::dataverse::page::LOOKUP_LOGICAL_NAME)) {
            tx.execute("DELETE FROM outbox WHERE seq = ?1", [e.seq])?;
        } else {
            tx.execute(
                "UPDATE outbox SET changes = jsonb(?2), base_values = jsonb(?3) WHERE seq = ?1",
                params![e.seq, to_json(&e.changes), to_json(&e.base_values)],
            )?;
        }
    }
    Ok(())
}

fn conflicts_where(c: &Connection, where_sql: &str, args: &[&dyn rusqlite::ToSql]) -> Result<Vec<Conflict>> {
    let mut stmt = c.prepare(&format!(
        "SELECT k.conflict_id, t.entity_set, k.record_id, k.kind, k.columns, json(k.base_values), \
             json(k.local_changes), json(k.server_data), k.server_etag, k.detected_at \
             FROM conflict k JOIN sync_table t ON t.table_id = k.table_id {where_sql} ORDER BY k.conflict_id"
    ))?;
    let rows = stmt.query_map(args, |r| {
        Ok((
            r.get::<_, i64>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, String>(4)?,
            r.get::<_, Option<String>>(5)?,
            r.get::<_, Option<String>>(6)?,
            r.get::<_, Option<String>>(7)?,
            r.get::<_, Option<String>>(8)?,
            r.get::<_, i64>(9)?,
        ))
    })?;
    rows.map(|row| {
        let (id, entity_set, record_id, kind, columns, base, local, server, server_etag, at) = row?;
        present(
            c,
            Conflict {
                id,
                entity_set,
                record_id,
                kind: match kind.as_str() {
                    "update" => ConflictKind::Update,
                    "server_deleted" => ConflictKind::ServerDeleted,
                    "local_deleted" => ConflictKind::LocalDeleted,
                    _ => return Err(Error::corrupt("conflict kind")),
                },
                columns: serde_json::from_str(&columns).map_err(|_| Error::corrupt("conflict columns"))?,
                base: json_values(base)?,
                local: json_values(local)?,
                server: server.map(|s| json_values(Some(s))).transpose()?,
                server_etag,
                detected_at: at,
            },
        )
    })
    .collect()
}

/// A conflict as it is now: the local side shows the user's newest edits of its columns (made
/// after the conflict was found, waiting in the outbox), the server side the server copy as
/// last pulled (which a later pull may have moved on). Edits already sent (in flight: the
/// server may have them) are not shown as the local side: taking the server's side cannot
/// take them back (see [`Store::resolve_conflict`]).
fn present(c: &Connection, mut k: Conflict) -> Result<Conflict> {
    if k.kind == ConflictKind::ServerDeleted {
        return Ok(k);
    }
    let Ok((table_id, _)) = table_id(c, &k.entity_set) else { return Ok(k) };
    let id = norm_id(&k.record_id);
    let mut newer = Values::new();
    let mut stmt = c.prepare_cached(
        "SELECT json(changes) FROM outbox WHERE table_id = ?1 AND record_id = ?2 AND changes IS NOT NULL \
         AND state <> 'inflight' ORDER BY seq",
    )?;
    for json in stmt.query_map(params![table_id, id], |r| r.get::<_, String>(0))? {
        newer.extend(super::value::from_json(&json?)?);
    }
    for (col, v) in k.local.iter_mut() {
        if let Some(n) = newer.get(col) {
            *v = n.clone();
        }
    }
    if let Some(existing) = load(c, table_id, &id)? {
        if let Some((values, etag)) = mirror(c, existing.rid)? {
            k.server = Some(values);
            k.server_etag = etag;
        }
    }
    Ok(k)
}

impl Store {
    /// Every outbox entry, in order (inspection).
    ///
    /// # Errors
    /// `Storage`; `Corrupt`.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        self.read(|c| entries(c, "", &[]))
    }

    /// Entries to push now: per record, its oldest entry that is not parked.
    ///
    /// # Errors
    /// `Storage`; `Corrupt`.
    pub fn push_candidates(&self) -> Result<Vec<OutboxEntry>> {
        self.read(|c| {
            entries(
                c,
                "WHERE o.seq IN (SELECT min(seq) FROM outbox GROUP BY table_id, record_id) AND o.state <> 'parked'",
                &[],
            )
        })
    }

    /// Outbox entries and open conflicts of one table: what would be lost if it were purged.
    ///
    /// # Errors
    /// `Storage`.
    pub fn table_pending(&self, entity_set: &str) -> Result<u64> {
        self.read(|c| {
            let Ok((table_id, _)) = table_id(c, entity_set) else { return Ok(0) };
            let n: i64 = c.query_row(
                "SELECT (SELECT count(*) FROM outbox WHERE table_id = ?1) + (SELECT count(*) FROM conflict WHERE table_id = ?1)",
                [table_id],
                |r| r.get(0),
            )?;
            Ok(u64::try_from(n).unwrap_or(0))
        })
    }

    /// Parked entries (sync errors waiting for retry or discard).
    ///
    /// # Errors
    /// `Storage`; `Corrupt`.
    pub fn parked(&self) -> Result<Vec<OutboxEntry>> {
        self.read(|c| entries(c, "WHERE o.state = 'parked'", &[]))
    }

    /// Claim entries for a push round: in one transaction, each entry that is still pending or
    /// in flight becomes in flight (sent, outcome unknown) and is returned **as it is now**, so
    /// what the round sends is exactly what the store holds. From here on the entry is
    /// immutable: a local edit made while the round runs goes into a new entry. Entries that no
    /// longer exist (superseded by a local delete) or are parked are left out.
    ///
    /// # Errors
    /// `Storage`; `Corrupt`.
    pub fn claim(&self, seqs: &[i64]) -> Result<Vec<OutboxEntry>> {
        self.write(|tx| {
            let mut out = Vec::with_capacity(seqs.len());
            for seq in seqs {
                let n = tx
                    .prepare_cached(
                        "UPDATE outbox SET state = 'inflight', attempts = attempts + 1 \
                     WHERE seq = ?1 AND state IN ('pending', 'inflight')",
                    )?
                    .execute([seq])?;
                if n == 1 {
                    out.extend(entries(tx, "WHERE o.seq = ?1", &[seq])?);
                }
            }
            Ok(out)
        })
    }

    /// Give back a claimed entry that was not sent after all (it waits for a record created
    /// offline): an entry claimed for the first time becomes pending again; one sent before
    /// stays in flight.
    ///
    /// # Errors
    /// `Storage`.
    pub fn release(&self, seq: i64) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET state = 'pending', attempts = 0 WHERE seq = ?1 AND state = 'inflight' AND attempts = 1",
                [seq],
            )?;
            Ok(())
        })
    }

    /// Split the lookups `columns` off a pending create into a new update entry of the same
    /// record (to break a cycle of offline creates that refer to each other: the record is
    /// created without them, and the update sets them once the other records exist). The local
    /// view does not change. Returns false (and changes nothing) if the entry is not a pending
    /// create, if the record has later entries, or if none of the columns is in it.
    ///
    /// # Errors
    /// `Storage`; `Corrupt`.
    pub fn split_lookups(&self, seq: i64, columns: &[String]) -> Result<bool> {
        self.write(|tx| {
            let Some(entry) = entries(tx, "WHERE o.seq = ?1", &[&seq])?.pop() else { return Ok(false) };
            if entry.op != OutboxOp::Create || entry.state != OutboxState::Pending {
                return Ok(false);
            }
            let (table_id, ..) = locate(tx, seq)?;
            let later: i64 = tx.query_row(
                "SELECT count(*) FROM outbox WHERE table_id = ?1 AND record_id = ?2 AND seq > ?3",
                params![table_id, entry.record_id, seq],
                |r| r.get(0),
            )?;
            if later > 0 {
                return Ok(false);
            }
            let mut create = entry.changes.clone();
            let mut update = Values::new();
            for c in columns {
                if let Some(v) = create.remove(c) {
                    update.insert(c.clone(), v);
                    let key = format!("{c}{}", crate::dataverse::page::LOOKUP_LOGICAL_NAME);
                    if let Some(t) = create.remove(&key) {
                        update.insert(key, t);
                    }
                }
            }
            if update.is_empty() {
                return Ok(false);
            }
            let base: Values = update.keys().map(|k| (k.clone(), super::Value::Null)).collect();
            tx.execute("UPDATE outbox SET changes = jsonb(?2) WHERE seq = ?1", params![seq, to_json(&create)])?;
            tx.execute(
                "INSERT INTO outbox (table_id, record_id, op, changes, base_values, created_at) \
                 VALUES (?1, ?2, 'update', jsonb(?3), jsonb(?4), ?5)",
                params![table_id, entry.record_id, to_json(&update), to_json(&base), now_unix()],
            )?;
            Ok(true)
        })
    }

    /// The server applied an entry: drop it and adopt the server's copy of the record (the
    /// representation the write returned), so the next local edit is based on our own write.
    ///
    /// # Errors
    /// `NotFound` for an unknown entry; `Storage`.
    pub fn push_succeeded(&self, seq: i64, server: Option<&ServerRow>) -> Result<()> {
        self.write(|tx| succeeded(tx, seq, server))
    }

    /// [`Store::push_succeeded`] for many entries, in order, in one transaction: what a `$batch`
    /// answer settles at once (one commit instead of one per entry).
    ///
    /// # Errors
    /// `NotFound` for an unknown seq (nothing of the batch is applied); `Storage`.
    pub fn push_succeeded_many(&self, done: &[(i64, Option<ServerRow>)]) -> Result<()> {
        if done.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            for (seq, server) in done {
                succeeded(tx, *seq, server.as_ref())?;
            }
            Ok(())
        })
    }

    /// The server refused an entry (validation, permission): park it with the server's answer.
    /// The rest of the queue keeps going.
    ///
    /// # Errors
    /// `Storage`.
    pub fn park(&self, seq: i64, error: &PushError) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET state = 'parked', error_status = ?2, error_code = ?3, last_error = ?4, \
                 error_reason = ?5 WHERE seq = ?1",
                params![seq, error.status, error.code, error.message, error.reason.to_db()],
            )?;
            Ok(())
        })
    }

    /// Send a parked entry again at the next sync, with its current values (local edits made
    /// since it was refused have been merged into it).
    ///
    /// # Errors
    /// `NotFound`; `Storage`.
    pub fn retry_parked(&self, seq: i64) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE outbox SET state = 'pending', error_status = NULL, error_code = NULL, last_error = NULL, \
                 error_reason = NULL WHERE seq = ?1 AND state = 'parked'",
                [seq],
            )?;
            if n == 0 {
                return Err(Error::NotFound { what: "parked outbox entry".into() });
            }
            Ok(())
        })
    }

    /// Give up a parked entry: its local edit is undone. Returns what the record shows now:
    /// `None` when it is gone (a discarded create), otherwise the local view — the server's copy
    /// (`RecordState::Synced`) unless other edits or an open conflict of the record still wait.
    ///
    /// # Errors
    /// `NotFound`; `Storage`.
    pub fn discard_parked(&self, seq: i64) -> Result<Option<super::Record>> {
        self.write(|tx| {
            let state: Option<String> =
                tx.query_row("SELECT state FROM outbox WHERE seq = ?1", [seq], |r| r.get(0)).optional()?;
            if state.as_deref() != Some("parked") {
                return Err(Error::NotFound { what: "parked outbox entry".into() });
            }
            let (table_id, id, searchable, op) = locate(tx, seq)?;
            let server_copy = match load(tx, table_id, &id)? {
                Some(existing) => mirror(tx, existing.rid)?,
                None => None,
            };
            // A refused create whose record the server has (another device re-created it with
            // the same id and this device pulled it): only the create goes; the record shows the
            // server's copy, as a discarded update does (trials seed 10051035586216306381).
            if op == "create" && server_copy.is_none() {
                tx.execute("DELETE FROM outbox WHERE table_id = ?1 AND record_id = ?2", params![table_id, id])?;
                tx.execute("DELETE FROM conflict WHERE table_id = ?1 AND record_id = ?2", params![table_id, id])?;
                remove_record(tx, table_id, &id)?;
                return Ok(None);
            }
            tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
            refresh(tx, table_id, &searchable, &id, None)?;
            Ok(load(tx, table_id, &id)?.filter(|e| e.state != RecordState::Deleted).map(|e| super::Record {
                id: id.clone(),
                values: e.values,
                etag: e.etag,
                state: e.state,
            }))
        })
    }

    /// Update an entry in place after a partial conflict: new changes (the columns still to
    /// push), their base, the server's current etag, and the server copy to keep.
    ///
    /// # Errors
    /// `NotFound`; `Storage`.
    pub fn rebase(&self, seq: i64, changes: &Values, base: &Values, server: &ServerRow) -> Result<()> {
        self.rebase_as(seq, None, changes, base, server)
    }

    /// A create met `412` on its first attempt: a record with this id exists that we did not
    /// create (e.g. a recreate of a record that was not deleted after all). The entry becomes an
    /// update of the columns whose values differ, based on the server's copy.
    ///
    /// # Errors
    /// `NotFound`; `Storage`.
    pub fn create_as_update(&self, seq: i64, changes: &Values, base: &Values, server: &ServerRow) -> Result<()> {
        self.rebase_as(seq, Some("update"), changes, base, server)
    }

    /// `rebase`, optionally changing the entry's operation (`op`); no changes left: the entry
    /// goes. Either way the server copy becomes the mirror.
    fn rebase_as(&self, seq: i64, op: Option<&str>, changes: &Values, base: &Values, server: &ServerRow) -> Result<()> {
        self.write(|tx| {
            let (table_id, id, searchable, _) = locate(tx, seq)?;
            if changes.is_empty() {
                tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
            } else {
                tx.execute(
                    "UPDATE outbox SET op = coalesce(?5, op), state = 'pending', changes = jsonb(?2), \
                     base_values = jsonb(?3), base_etag = ?4 WHERE seq = ?1",
                    params![seq, to_json(changes), to_json(base), server.etag, op],
                )?;
            }
            refresh(tx, table_id, &searchable, &id, Some(server))
        })
    }

    /// Turn a delete into a plain delete of whatever the server has (`ClientWins` against a
    /// server update): the base etag becomes the server's current one.
    ///
    /// # Errors
    /// `NotFound`; `Storage`.
    pub fn rebase_delete(&self, seq: i64, server_etag: Option<&str>) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "UPDATE outbox SET state = 'pending', base_etag = ?2 WHERE seq = ?1",
                params![seq, server_etag],
            )?;
            Ok(())
        })
    }

    /// Keep a conflict for the user: the entry leaves the outbox (`local` holds the values it
    /// still wants), the server copy is adopted as the mirror. With `server == None` the record
    /// is gone on the server.
    ///
    /// # Errors
    /// `NotFound`; `Storage`.
    pub fn record_conflict(
        &self,
        seq: i64,
        kind: ConflictKind,
        columns: &[String],
        local: &Values,
        base: &Values,
        server: Option<&ServerRow>,
    ) -> Result<()> {
        self.write(|tx| {
            let (table_id, id, searchable, _) = locate(tx, seq)?;
            if kind == ConflictKind::ServerDeleted {
                if let Some(existing) = load(tx, table_id, &id)? {
                    server_deleted_conflict(tx, table_id, &id, existing.rid, existing.state, &existing.values)?;
                    remove_record(tx, table_id, &id)?;
                } else {
                    tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
                }
                return Ok(());
            }
            tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
            insert_conflict(tx, table_id, &id, kind, columns, local, base, server)?;
            refresh(tx, table_id, &searchable, &id, server)
        })
    }

    /// `MergeFields` after a 412: the columns both sides changed become one conflict; the
    /// entry keeps the columns only we changed (`remaining`, based on the server's copy) and
    /// goes out again on the server's etag.
    ///
    /// # Errors
    /// `NotFound`; `Storage`.
    #[allow(clippy::too_many_arguments)]
    pub fn record_conflict_keeping(
        &self,
        seq: i64,
        columns: &[String],
        local: &Values,
        base: &Values,
        server: &ServerRow,
        remaining: &Values,
        remaining_base: &Values,
    ) -> Result<()> {
        self.write(|tx| {
            let (table_id, id, searchable, _) = locate(tx, seq)?;
            insert_conflict(tx, table_id, &id, ConflictKind::Update, columns, local, base, Some(server))?;
            if remaining.is_empty() {
                tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
            } else {
                tx.execute(
                    "UPDATE outbox SET state = 'pending', changes = jsonb(?2), base_values = jsonb(?3), base_etag = ?4 \
                     WHERE seq = ?1",
                    params![seq, to_json(remaining), to_json(remaining_base), server.etag],
                )?;
            }
            refresh(tx, table_id, &searchable, &id, Some(server))
        })
    }

    /// The server's version wins for this entry: drop it and keep the server copy (`None`:
    /// the record is gone on the server).
    ///
    /// # Errors
    /// `NotFound`; `Storage`.
    pub fn take_server(&self, seq: i64, server: Option<&ServerRow>) -> Result<()> {
        self.write(|tx| {
            let (table_id, id, searchable, _) = locate(tx, seq)?;
            tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
            match server {
                Some(row) => refresh(tx, table_id, &searchable, &id, Some(row)),
                None => {
                    tx.execute("DELETE FROM outbox WHERE table_id = ?1 AND record_id = ?2", params![table_id, id])?;
                    tx.execute("DELETE FROM conflict WHERE table_id = ?1 AND record_id = ?2", params![table_id, id])?;
                    remove_record(tx, table_id, &id)
                }
            }
        })
    }

    /// Recreate a record deleted on the server from the local values (`ClientWins`): the entry
    /// becomes a create of the whole local record.
    ///
    /// # Errors
    /// `NotFound`; `Storage`.
    pub fn recreate(&self, seq: i64, values: &Values) -> Result<()> {
        self.write(|tx| {
            let (table_id, id, searchable, _) = locate(tx, seq)?;
            tx.execute(
                "DELETE FROM outbox WHERE table_id = ?1 AND record_id = ?2 AND seq <> ?3",
                params![table_id, id, seq],
            )?;
            tx.execute(
                "UPDATE outbox SET op = 'create', state = 'pending', changes = jsonb(?2), base_values = NULL, \
                 base_etag = NULL WHERE seq = ?1",
                params![seq, to_json(values)],
            )?;
            if let Some(existing) = load(tx, table_id, &id)? {
                rebuild(tx, table_id, &searchable, existing.rid, &id, None)?;
            }
            Ok(())
        })
    }

    /// Open conflicts, oldest first.
    ///
    /// # Errors
    /// `Storage`; `Corrupt`.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        self.read(|c| conflicts_where(c, "", &[]))
    }

    /// Resolve a conflict. Taking the local side (or given values) queues a new outbox entry
    /// based on the server's values and etag seen with the conflict, so it pushes without
    /// conflicting again unless the server changes once more.
    ///
    /// # Errors
    /// `NotFound` for an unknown conflict; `InvalidArgument`; `Storage`.
    pub fn resolve_conflict(&self, conflict_id: i64, resolution: &Resolution) -> Result<()> {
        self.write(|tx| {
            let conflict = conflicts_where(tx, "WHERE k.conflict_id = ?1", &[&conflict_id])?
                .pop()
                .ok_or_else(|| Error::NotFound { what: "conflict".into() })?;
            let (table_id, searchable) = table_id(tx, &conflict.entity_set)?;
            let id = norm_id(&conflict.record_id);
            tx.execute("DELETE FROM conflict WHERE conflict_id = ?1", [conflict_id])?;
            let server_values = conflict.server.clone().unwrap_or_default();
            let enqueue = |op: &str, changes: Option<&Values>| -> Result<()> {
                let base: Option<Values> = changes.map(|ch| {
                    ch.keys()
                        .map(|k| (k.clone(), server_values.get(k).cloned().unwrap_or(super::Value::Null)))
                        .collect()
                });
                tx.execute(
                    "INSERT INTO outbox (table_id, record_id, op, changes, base_values, base_etag, created_at) \
                     VALUES (?1, ?2, ?3, jsonb(?4), jsonb(?5), ?6, ?7)",
                    params![
                        table_id,
                        id,
                        op,
                        changes.map(to_json),
                        base.as_ref().filter(|_| op == "update").map(to_json),
                        conflict.server_etag,
                        now_unix()
                    ],
                )?;
                Ok(())
            };
            // A record deleted on this device after the conflict arose takes no more edits (as
            // `update` says `NotFound` for it): resolving its conflict with the local side or new
            // values would be silently undone when the delete goes out (the full 10,000-trial
            // run, seeds 13787233047635752993 and 14179287113253448137). Take the server's side
            // (or, for a conflicting delete, the local side) instead.
            let revives = matches!(
                (conflict.kind, resolution),
                (ConflictKind::Update, Resolution::TakeLocal | Resolution::Values(_))
                    | (ConflictKind::LocalDeleted, Resolution::Values(_))
            );
            if revives {
                let deleting: bool = tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM outbox WHERE table_id = ?1 AND record_id = ?2 AND op = 'delete' \
                     AND state IN ('pending', 'inflight', 'parked'))",
                    params![table_id, id],
                    |r| r.get(0),
                )?;
                if deleting {
                    return Err(Error::NotFound {
                        what: format!(
                            "{} record (deleted on this device since the conflict: take the server's side to close it)",
                            conflict.entity_set
                        ),
                    });
                }
            }
            match (conflict.kind, resolution) {
                (ConflictKind::Update, Resolution::TakeLocal) => enqueue("update", Some(&conflict.local))?,
                (ConflictKind::Update, Resolution::Values(v)) => enqueue("update", Some(v))?,
                (ConflictKind::LocalDeleted, Resolution::TakeLocal) => enqueue("delete", None)?,
                (ConflictKind::LocalDeleted, Resolution::Values(v)) => enqueue("update", Some(v))?,
                (ConflictKind::ServerDeleted, Resolution::TakeLocal | Resolution::Values(_)) => {
                    let mut values = conflict.local.clone();
                    if let Resolution::Values(v) = resolution {
                        values.extend(v.clone());
                    }
                    if load(tx, table_id, &id)?.is_none() {
                        tx.execute(
                            "INSERT INTO record (table_id, id, data, state) VALUES (?1, ?2, jsonb(?3), ?4)",
                            params![table_id, id, to_json(&values), RecordState::Created.code()],
                        )?;
                    }
                    enqueue("create", Some(&values))?;
                    if let Some(existing) = load(tx, table_id, &id)? {
                        // The record may be back (another device re-created it and this device
                        // pulled it): its server copy stays the mirror.
                        let m = mirror(tx, existing.rid)?;
                        rebuild(
                            tx,
                            table_id,
                            &searchable,
                            existing.rid,
                            &id,
                            m.as_ref().map(|(v, e)| (v, e.as_deref())),
                        )?;
                    }
                    return Ok(());
                }
                (ConflictKind::Update, Resolution::TakeServer) => {
                    drop_unsent_columns(tx, table_id, &id, &conflict.columns)?;
                }
                (_, Resolution::TakeServer) => {}
            }
            if let Some(existing) = load(tx, table_id, &id)? {
                let m = mirror(tx, existing.rid)?;
                rebuild(tx, table_id, &searchable, existing.rid, &id, m.as_ref().map(|(v, e)| (v, e.as_deref())))?;
            }
            Ok(())
        })
    }
}
