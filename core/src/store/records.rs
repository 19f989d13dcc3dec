//! Records: the server mirror, the local view with pending edits, the outbox entries local edits
//! create, and the full-text index kept in step with the local view.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::value::{from_json, to_json, Value, Values};
use super::Store;
use crate::error::{Error, Result};

/// A table the store keeps, as the sync profile declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSpec {
    /// Web API entity set name, e.g. `accounts`.
    pub entity_set: String,
    /// Primary id column, e.g. `accountid` (`activityid` for tasks).
    pub primary_id: String,
    /// Columns indexed for full-text search.
    pub searchable: Vec<String>,
    /// Columns with an ordering index: queries ordered by them page in O(page) (keyset), not by
    /// scanning the table. Names must be plain identifiers (`[A-Za-z_][A-Za-z0-9_]*`).
    pub sortable: Vec<String>,
}

/// Whether a column name is a plain identifier, safe to appear in SQL text as a JSON path
/// literal (Dataverse property names always are). Anything else is bound as a parameter.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && name.len() <= 128
}

/// The ordering-key expression for an identifier column; the same text in the index and in
/// queries, so SQLite matches them.
pub(crate) fn sort_key_sql(column: &str) -> String {
    format!("outpost_fold(data ->> '$.\"{column}\"')")
}

fn sync_indexes(tx: &Transaction<'_>, table_id: i64, sortable: &[String]) -> Result<()> {
    let prefix = format!("ix_{table_id}_");
    let existing: Vec<String> = tx
        .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'record' AND name LIKE ?1")?
        .query_map([format!("{prefix}%")], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    for name in &existing {
        if !sortable.iter().any(|c| format!("{prefix}{c}") == *name) {
            tx.execute_batch(&format!("DROP INDEX \"{name}\""))?;
        }
    }
    for col in sortable {
        tx.execute_batch(&format!(
            "CREATE INDEX IF NOT EXISTS \"{prefix}{col}\" ON record (table_id, {}, id) WHERE state <> 3",
            sort_key_sql(col)
        ))?;
    }
    Ok(())
}

/// Local state of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordState {
    /// Same as the server copy.
    Synced,
    /// Edited locally; the edit waits in the outbox.
    Modified,
    /// Created locally; not on the server yet.
    Created,
    /// Deleted locally; hidden from queries until the delete is pushed.
    Deleted,
}

impl RecordState {
    pub(crate) fn code(self) -> i64 {
        match self {
            RecordState::Synced => 0,
            RecordState::Modified => 1,
            RecordState::Created => 2,
            RecordState::Deleted => 3,
        }
    }

    pub(crate) fn from_code(c: i64) -> Result<Self> {
        Ok(match c {
            0 => RecordState::Synced,
            1 => RecordState::Modified,
            2 => RecordState::Created,
            3 => RecordState::Deleted,
            _ => return Err(Error::corrupt("record state")),
        })
    }
}

/// A record as the app sees it: the local view (server copy with pending edits applied).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Primary id (a GUID, lower case).
    pub id: String,
    /// Column values by Web API property name.
    pub values: Values,
    /// The server copy's ETag as last pulled (`None` for a local create).
    pub etag: Option<String>,
    /// Whether local edits are pending.
    pub state: RecordState,
}

pub use outpost_wire::page::ServerRow;

pub(crate) fn table_id(conn: &Connection, entity_set: &str) -> Result<(i64, Vec<String>)> {
    let row: Option<(i64, String)> = conn
        .query_row("SELECT table_id, searchable FROM sync_table WHERE entity_set = ?1", [entity_set], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    let (id, searchable) = row.ok_or_else(|| Error::invalid(format!("unknown table {entity_set:?}")))?;
    let searchable: Vec<String> =
        serde_json::from_str(&searchable).map_err(|_| Error::corrupt("sync_table.searchable"))?;
    Ok((id, searchable))
}

/// Name of a table's FTS5 index. Built from an integer id only, never from user text.
/// A record's newest outbox entry (where a local edit may coalesce).
struct NewestEntry {
    seq: i64,
    op: String,
    changes: Option<String>,
    base: Option<String>,
    state: String,
}

/// Refuse a local edit the sync profile does not allow for the table.
fn check_allowed(conn: &Connection, table_id: i64, op: char, entity_set: &str) -> Result<()> {
    let allowed: String =
        conn.query_row("SELECT allowed FROM sync_table WHERE table_id = ?1", [table_id], |r| r.get(0))?;
    if allowed.contains(op) {
        return Ok(());
    }
    let what = match op {
        'c' => "creating",
        'u' => "updating",
        _ => "deleting",
    };
    Err(Error::invalid(format!("the sync profile does not allow {what} {entity_set} records")))
}

pub(crate) fn fts_table(table_id: i64) -> String {
    format!("fts_{table_id}")
}

fn create_fts(tx: &Transaction<'_>, table_id: i64) -> Result<()> {
    tx.execute_batch(&format!(
        "CREATE VIRTUAL TABLE IF NOT EXISTS {} USING fts5(body, content = '', contentless_delete = 1, \
         tokenize = 'unicode61 remove_diacritics 2', prefix = '2 3')",
        fts_table(table_id)
    ))?;
    Ok(())
}

pub(crate) fn fts_delete(tx: &Transaction<'_>, table_id: i64, rid: i64) -> Result<()> {
    tx.prepare_cached(&format!("DELETE FROM {} WHERE rowid = ?1", fts_table(table_id)))?.execute([rid])?;
    Ok(())
}

fn fts_body(values: &Values, searchable: &[String]) -> String {
    let mut body = String::new();
    for col in searchable {
        if let Some(Value::Text(s)) = values.get(col) {
            if !body.is_empty() {
                body.push('\n');
            }
            body.push_str(s);
        }
    }
    body
}

/// Index a record's searchable text (`fresh`: the rowid has no entry yet).
pub(crate) fn fts_put(
    tx: &Transaction<'_>,
    rid: i64,
    table_id: i64,
    values: &Values,
    searchable: &[String],
    fresh: bool,
) -> Result<()> {
    if !fresh {
        fts_delete(tx, table_id, rid)?;
    }
    if !searchable.is_empty() {
        tx.prepare_cached(&format!("INSERT INTO {} (rowid, body) VALUES (?1, ?2)", fts_table(table_id)))?
            .execute(params![rid, fts_body(values, searchable)])?;
    }
    Ok(())
}

fn modifiedon(values: &Values) -> Option<&str> {
    values.get("modifiedon").and_then(Value::as_str)
}

/// Normalise a primary id (GUIDs compare case-insensitively on the server).
pub(crate) fn norm_id(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

pub(crate) struct Existing {
    pub(crate) rid: i64,
    pub(crate) values: Values,
    pub(crate) etag: Option<String>,
    pub(crate) state: RecordState,
}

pub(crate) fn load(conn: &Connection, table_id: i64, id: &str) -> Result<Option<Existing>> {
    conn.query_row(
        "SELECT rid, json(data), etag, state FROM record WHERE table_id = ?1 AND id = ?2",
        params![table_id, id],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get::<_, Option<String>>(2)?, r.get::<_, i64>(3)?)),
    )
    .optional()?
    .map(|(rid, data, etag, state)| {
        Ok(Existing { rid, values: from_json(&data)?, etag, state: RecordState::from_code(state)? })
    })
    .transpose()
}

/// Pending changes of a record: the local values of its open update conflicts (kept visible
/// until the user decides), then its outbox entries in order — so the user's newest edit is
/// what the local view shows, even over a column in conflict.
pub(crate) fn pending_changes(conn: &Connection, table_id: i64, id: &str) -> Result<Values> {
    let mut merged = Values::new();
    let mut stmt = conn.prepare_cached(
        "SELECT json(local_changes) FROM conflict WHERE table_id = ?1 AND record_id = ?2 AND kind = 'update' \
         ORDER BY conflict_id",
    )?;
    for json in stmt.query_map(params![table_id, id], |r| r.get::<_, String>(0))? {
        merged.extend(from_json(&json?)?);
    }
    let mut stmt = conn.prepare_cached(
        "SELECT json(changes) FROM outbox WHERE table_id = ?1 AND record_id = ?2 AND changes IS NOT NULL ORDER BY seq",
    )?;
    for json in stmt.query_map(params![table_id, id], |r| r.get::<_, String>(0))? {
        merged.extend(from_json(&json?)?);
    }
    Ok(merged)
}

/// The server copy (mirror) of a record: `data` while synced, `server_data` while local edits
/// are pending, nothing for a record created locally and not pushed yet. A local (re-)create
/// can have one too: another device re-created the record with the same id and this device
/// pulled it while its own create still waited (refused, parked): the server copy is kept, so
/// discarding or deleting the local create falls back to it (trials seed 10051035586216306381).
pub(crate) fn mirror(conn: &Connection, rid: i64) -> Result<Option<(Values, Option<String>)>> {
    let (state, data, server, etag): (i64, String, Option<String>, Option<String>) =
        conn.query_row("SELECT state, json(data), json(server_data), etag FROM record WHERE rid = ?1", [rid], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
    Ok(match RecordState::from_code(state)? {
        RecordState::Synced => Some((from_json(&data)?, etag)),
        _ => server.map(|s| from_json(&s)).transpose()?.map(|v| (v, etag)),
    })
}

/// Recompute a record's local view and state from its mirror, its outbox entries and its open
/// conflicts. `mirror`: the server copy to keep (`None`: none, a local create). The one place
/// that decides what an app sees for a record.
pub(crate) fn rebuild(
    tx: &Transaction<'_>,
    table_id: i64,
    searchable: &[String],
    rid: i64,
    id: &str,
    mirror: Option<(&Values, Option<&str>)>,
) -> Result<RecordState> {
    let ops: Vec<String> = tx
        .prepare_cached("SELECT op FROM outbox WHERE table_id = ?1 AND record_id = ?2 ORDER BY seq")?
        .query_map(params![table_id, id], |r| r.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let conflicts: i64 = tx.query_row(
        "SELECT count(*) FROM conflict WHERE table_id = ?1 AND record_id = ?2",
        params![table_id, id],
        |r| r.get(0),
    )?;
    let pending = pending_changes(tx, table_id, id)?;
    // The newer of a create and a delete decides: a delete queued behind a create that was
    // already sent (its answer may say "created") leaves the record deleted for the app, not a
    // local create that can still be edited.
    let last_lifecycle = ops.iter().rev().find(|o| *o == "create" || *o == "delete").map(String::as_str);
    let state = if last_lifecycle == Some("delete") {
        RecordState::Deleted
    } else if last_lifecycle == Some("create") || (mirror.is_none() && !ops.is_empty()) {
        RecordState::Created
    } else if !ops.is_empty() || conflicts > 0 {
        RecordState::Modified
    } else {
        RecordState::Synced
    };
    let mut view = mirror.map(|(m, _)| m.clone()).unwrap_or_default();
    view.extend(pending);
    let etag = mirror.and_then(|(_, e)| e);
    let server_json = match (state, mirror) {
        (RecordState::Synced, _) | (_, None) => None,
        (_, Some((m, _))) => Some(to_json(m)),
    };
    tx.prepare_cached(
        "UPDATE record SET data = jsonb(?2), server_data = jsonb(?3), etag = ?4, state = ?5, modifiedon = ?6 \
         WHERE rid = ?1",
    )?
    .execute(params![rid, to_json(&view), server_json, etag, state.code(), modifiedon(&view)])?;
    fts_put(tx, rid, table_id, &view, searchable, false)?;
    Ok(state)
}

pub(crate) fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub(crate) fn new_guid() -> Result<String> {
    let mut b = [0u8; 16];
    crate::vault::fill_random(&mut b)?;
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    Ok(format!("{}-{}-{}-{}-{}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32]))
}

impl Store {
    /// Declare a table (or update its declaration). Changing the searchable columns rebuilds
    /// that table's full-text index.
    ///
    /// # Errors
    /// `InvalidArgument` for an empty name; `Storage`.
    pub fn register_table(&self, spec: &TableSpec) -> Result<()> {
        if spec.entity_set.is_empty() || spec.primary_id.is_empty() {
            return Err(Error::invalid("entity set and primary id must not be empty"));
        }
        if let Some(bad) = spec.sortable.iter().find(|c| !is_identifier(c)) {
            return Err(Error::invalid(format!("sortable column {bad:?} is not a plain identifier")));
        }
        let searchable = serde_json::to_string(&spec.searchable).map_err(|e| Error::internal(e.to_string()))?;
        let sortable = serde_json::to_string(&spec.sortable).map_err(|e| Error::internal(e.to_string()))?;
        self.write(|tx| {
            let before: Option<String> = tx
                .query_row("SELECT searchable FROM sync_table WHERE entity_set = ?1", [&spec.entity_set], |r| r.get(0))
                .optional()?;
            tx.execute(
                "INSERT INTO sync_table (entity_set, primary_id, searchable, sortable) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (entity_set) DO UPDATE SET primary_id = excluded.primary_id, \
                 searchable = excluded.searchable, sortable = excluded.sortable",
                params![spec.entity_set, spec.primary_id, searchable, sortable],
            )?;
            let (table_id, cols) = table_id(tx, &spec.entity_set)?;
            create_fts(tx, table_id)?;
            sync_indexes(tx, table_id, &spec.sortable)?;
            if before.is_some_and(|b| b != searchable) {
                // In chunks by rowid: memory stays bounded for tables of millions of rows.
                let mut stmt = tx.prepare(
                    "SELECT rid, json(data) FROM record WHERE table_id = ?1 AND rid > ?2 ORDER BY rid LIMIT 2000",
                )?;
                let mut after = i64::MIN;
                loop {
                    let rows: Vec<(i64, String)> = stmt
                        .query_map(params![table_id, after], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<_>>()?;
                    let Some(&(last, _)) = rows.last() else { break };
                    for (rid, json) in rows {
                        fts_put(tx, rid, table_id, &from_json(&json)?, &cols, false)?;
                    }
                    after = last;
                }
            }
            Ok(())
        })
    }

    /// The declared tables.
    ///
    /// # Errors
    /// `Storage`; `Corrupt`.
    pub fn tables(&self) -> Result<Vec<TableSpec>> {
        self.read(|c| {
            let mut stmt =
                c.prepare("SELECT entity_set, primary_id, searchable, sortable FROM sync_table ORDER BY table_id")?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?, r.get::<_, String>(2)?, r.get::<_, String>(3)?))
            })?;
            rows.map(|row| {
                let (entity_set, primary_id, searchable, sortable) = row?;
                let list = |json: &str, what: &str| -> Result<Vec<String>> {
                    serde_json::from_str(json).map_err(|_| Error::corrupt(format!("sync_table.{what}")))
                };
                Ok(TableSpec {
                    entity_set,
                    primary_id,
                    searchable: list(&searchable, "searchable")?,
                    sortable: list(&sortable, "sortable")?,
                })
            })
            .collect()
        })
    }

    /// Apply pulled rows in one transaction. A record with pending local edits keeps them: its
    /// server copy is replaced and the local view is rebuilt as server copy + pending changes.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table; `Storage`.
    pub fn apply_server_rows(&self, entity_set: &str, rows: &[ServerRow]) -> Result<()> {
        self.apply_page(entity_set, rows, &[], None).map(|_| ())
    }

    /// Apply server-side deletions. A record with pending local edits is not silently dropped:
    /// its edits are kept as a conflict for the user to decide.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table; `Storage`.
    pub fn apply_server_deletes(&self, entity_set: &str, ids: &[String]) -> Result<()> {
        self.apply_page(entity_set, &[], ids, None).map(|_| ())
    }

    /// Get one record by primary id (local view; `None` if absent or deleted locally).
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table; `Storage`.
    pub fn get(&self, entity_set: &str, id: &str) -> Result<Option<Record>> {
        self.read(|c| {
            let (table_id, _) = table_id(c, entity_set)?;
            Ok(load(c, table_id, &norm_id(id))?.and_then(|e| {
                (e.state != RecordState::Deleted).then_some(Record {
                    id: norm_id(id),
                    values: e.values,
                    etag: e.etag,
                    state: e.state,
                })
            }))
        })
    }

    /// Create a record locally; it waits in the outbox. The primary id is taken from `values`
    /// if present (client-chosen ids are honoured by Dataverse), otherwise a new GUID.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table or an id that exists; `Storage`.
    pub fn create(&self, entity_set: &str, mut values: Values) -> Result<String> {
        self.write(|tx| {
            let (table_id, searchable) = table_id(tx, entity_set)?;
            check_allowed(tx, table_id, 'c', entity_set)?;
            let primary: String = tx.query_row("SELECT primary_id FROM sync_table WHERE table_id = ?1", [table_id], |r| r.get(0))?;
            let id = match values.get(&primary) {
                Some(Value::Text(s)) => norm_id(s),
                Some(_) => return Err(Error::invalid("the primary id must be text")),
                None => new_guid()?,
            };
            values.insert(primary, Value::Text(id.clone()));
            if load(tx, table_id, &id)?.is_some() {
                return Err(Error::invalid("a record with this id exists"));
            }
            let json = to_json(&values);
            tx.execute(
                "INSERT INTO record (table_id, id, data, state) VALUES (?1, ?2, jsonb(?3), ?4)",
                params![table_id, id, json, RecordState::Created.code()],
            )?;
            fts_put(tx, tx.last_insert_rowid(), table_id, &values, &searchable, true)?;
            tx.execute(
                "INSERT INTO outbox (table_id, record_id, op, changes, created_at) VALUES (?1, ?2, 'create', jsonb(?3), ?4)",
                params![table_id, id, json, now_unix()],
            )?;
            Ok(id)
        })
    }

    /// Update columns of a record locally; the change waits in the outbox with the values and
    /// ETag it was based on (for conflict detection at push).
    ///
    /// # Errors
    /// `NotFound` if the record is absent or deleted; `InvalidArgument` for an unknown table;
    /// `Storage`.
    pub fn update(&self, entity_set: &str, id: &str, changes: Values) -> Result<()> {
        let id = norm_id(id);
        self.write(|tx| {
            let (table_id, searchable) = table_id(tx, entity_set)?;
            check_allowed(tx, table_id, 'u', entity_set)?;
            let existing = load(tx, table_id, &id)?
                .filter(|e| e.state != RecordState::Deleted)
                .ok_or_else(|| Error::NotFound { what: format!("{entity_set} record") })?;
            if changes.is_empty() {
                return Ok(());
            }
            let mirror = mirror(tx, existing.rid)?;
            // Coalesce into the newest entry of this record if it is known not to be applied:
            // pending (never sent) or parked (refused; the edit may be its fix). Never into one
            // in flight: what was sent is immutable, so the edit gets an entry of its own. A
            // create absorbs the change; an update merges it and keeps the base it already
            // recorded for columns it had.
            let open: Option<NewestEntry> = tx
                .query_row(
                    "SELECT seq, op, json(changes), json(base_values), state FROM outbox \
                     WHERE table_id = ?1 AND record_id = ?2 ORDER BY seq DESC LIMIT 1",
                    params![table_id, id],
                    |r| {
                        Ok(NewestEntry {
                            seq: r.get(0)?,
                            op: r.get(1)?,
                            changes: r.get(2)?,
                            base: r.get(3)?,
                            state: r.get(4)?,
                        })
                    },
                )
                .optional()?;
            match open {
                Some(NewestEntry { seq, op, changes: ch, base, state })
                    if (state == "pending" || state == "parked") && op != "delete" =>
                {
                    let mut merged = ch.as_deref().map(from_json).transpose()?.unwrap_or_default();
                    let mut base = base.as_deref().map(from_json).transpose()?.unwrap_or_default();
                    if op == "update" {
                        for k in changes.keys() {
                            if !merged.contains_key(k) {
                                base.insert(k.clone(), existing.values.get(k).cloned().unwrap_or(Value::Null));
                            }
                        }
                    }
                    merged.extend(changes);
                    let base_json = (op == "update").then(|| to_json(&base));
                    tx.execute(
                        "UPDATE outbox SET changes = jsonb(?2), base_values = jsonb(?3) WHERE seq = ?1",
                        params![seq, to_json(&merged), base_json],
                    )?;
                }
                _ => {
                    let base: Values = changes
                        .keys()
                        .map(|k| (k.clone(), existing.values.get(k).cloned().unwrap_or(Value::Null)))
                        .collect();
                    tx.execute(
                        "INSERT INTO outbox (table_id, record_id, op, changes, base_values, base_etag, created_at) \
                         VALUES (?1, ?2, 'update', jsonb(?3), jsonb(?4), ?5, ?6)",
                        params![table_id, id, to_json(&changes), to_json(&base), existing.etag, now_unix()],
                    )?;
                }
            }
            rebuild(tx, table_id, &searchable, existing.rid, &id, mirror.as_ref().map(|(m, e)| (m, e.as_deref())))?;
            Ok(())
        })
    }

    /// Delete a record locally. A record created locally and never pushed simply disappears
    /// (with its outbox entries); otherwise it is hidden and the delete waits in the outbox.
    ///
    /// # Errors
    /// `NotFound` if absent; `InvalidArgument` for an unknown table; `Storage`.
    pub fn delete(&self, entity_set: &str, id: &str) -> Result<()> {
        let id = norm_id(id);
        self.write(|tx| {
            let (table_id, searchable) = table_id(tx, entity_set)?;
            let existing = load(tx, table_id, &id)?
                .filter(|e| e.state != RecordState::Deleted)
                .ok_or_else(|| Error::NotFound { what: format!("{entity_set} record") })?;
            check_allowed(tx, table_id, 'd', entity_set)?;
            let sent: i64 = tx.query_row(
                "SELECT count(*) FROM outbox WHERE table_id = ?1 AND record_id = ?2 AND state = 'inflight'",
                params![table_id, id],
                |r| r.get(0),
            )?;
            let mirror = mirror(tx, existing.rid)?;
            // A local create never sent (or refused: parked) is not on the server: the record
            // simply disappears. Once its create was sent, the outcome may be "created" (a lost
            // answer), so the delete goes to the server like any other; so does a delete of a
            // re-create whose record the server has again (another device re-created it and
            // this device pulled it: `mirror`).
            if existing.state == RecordState::Created && sent == 0 && mirror.is_none() {
                tx.execute("DELETE FROM outbox WHERE table_id = ?1 AND record_id = ?2", params![table_id, id])?;
                fts_delete(tx, table_id, existing.rid)?;
                tx.execute("DELETE FROM record WHERE rid = ?1", [existing.rid])?;
                return Ok(());
            }
            // A delete supersedes changes known not to be applied (pending or parked: updates,
            // and a re-create of a record the server has again), never one in flight.
            tx.execute(
                "DELETE FROM outbox WHERE table_id = ?1 AND record_id = ?2 AND state IN ('pending', 'parked') \
                 AND op IN ('update', 'create')",
                params![table_id, id],
            )?;
            // The user's delete is their newest decision about the record: it closes the open
            // update conflicts of it (their local values would be deleted with it anyway).
            tx.execute(
                "DELETE FROM conflict WHERE table_id = ?1 AND record_id = ?2 AND kind = 'update'",
                params![table_id, id],
            )?;
            let base_etag = mirror.as_ref().and_then(|(_, e)| e.clone());
            tx.execute(
                "INSERT INTO outbox (table_id, record_id, op, base_etag, created_at) VALUES (?1, ?2, 'delete', ?3, ?4)",
                params![table_id, id, base_etag, now_unix()],
            )?;
            rebuild(tx, table_id, &searchable, existing.rid, &id, mirror.as_ref().map(|(m, e)| (m, e.as_deref())))?;
            Ok(())
        })
    }

    /// Local edits waiting to be pushed.
    ///
    /// # Errors
    /// `Storage`.
    pub fn pending_count(&self) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row("SELECT count(*) FROM outbox WHERE state <> 'parked'", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    /// Conflicts waiting for the user.
    ///
    /// # Errors
    /// `Storage`.
    pub fn conflict_count(&self) -> Result<u64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM conflict", [], |r| r.get::<_, i64>(0))? as u64))
    }

    /// Records of a table (excluding local deletes).
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table; `Storage`.
    pub fn count(&self, entity_set: &str) -> Result<u64> {
        self.read(|c| {
            let (table_id, _) = table_id(c, entity_set)?;
            Ok(c.query_row("SELECT count(*) FROM record WHERE table_id = ?1 AND state <> 3", [table_id], |r| {
                r.get::<_, i64>(0)
            })? as u64)
        })
    }
}
