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
    fn code(self) -> i64 {
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

/// A row as pulled from the server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRow {
    /// Primary id.
    pub id: String,
    /// Column values.
    pub values: Values,
    /// `@odata.etag`.
    pub etag: Option<String>,
}

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

fn fts_delete(tx: &Transaction<'_>, table_id: i64, rid: i64) -> Result<()> {
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
fn fts_put(
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
fn norm_id(id: &str) -> String {
    id.trim().to_ascii_lowercase()
}

struct Existing {
    rid: i64,
    values: Values,
    etag: Option<String>,
    state: RecordState,
}

fn load(conn: &Connection, table_id: i64, id: &str) -> Result<Option<Existing>> {
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

/// Pending changes of a record from its outbox entries, in order.
fn pending_changes(tx: &Transaction<'_>, table_id: i64, id: &str) -> Result<Values> {
    let mut stmt = tx.prepare_cached(
        "SELECT json(changes) FROM outbox WHERE table_id = ?1 AND record_id = ?2 AND changes IS NOT NULL ORDER BY seq",
    )?;
    let mut merged = Values::new();
    let rows = stmt.query_map(params![table_id, id], |r| r.get::<_, String>(0))?;
    for json in rows {
        merged.extend(from_json(&json?)?);
    }
    Ok(merged)
}

fn now_unix() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

fn new_guid() -> Result<String> {
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
                let mut stmt = tx.prepare("SELECT rid, json(data) FROM record WHERE table_id = ?1")?;
                let rows: Vec<(i64, String)> =
                    stmt.query_map([table_id], |r| Ok((r.get(0)?, r.get(1)?)))?.collect::<rusqlite::Result<_>>()?;
                drop(stmt);
                for (rid, json) in rows {
                    fts_put(tx, rid, table_id, &from_json(&json)?, &cols, false)?;
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
        self.write(|tx| {
            let (table_id, searchable) = table_id(tx, entity_set)?;
            let mut find = tx.prepare_cached("SELECT rid, state FROM record WHERE table_id = ?1 AND id = ?2")?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO record (table_id, id, data, etag, state, modifiedon) VALUES (?1, ?2, jsonb(?3), ?4, 0, ?5)",
            )?;
            let mut update_synced =
                tx.prepare_cached("UPDATE record SET data = jsonb(?2), etag = ?3, modifiedon = ?4 WHERE rid = ?1")?;
            let mut update_pending = tx.prepare_cached(
                "UPDATE record SET data = jsonb(?2), server_data = jsonb(?3), etag = ?4, modifiedon = ?5 WHERE rid = ?1",
            )?;
            for row in rows {
                let id = norm_id(&row.id);
                let json = to_json(&row.values);
                let existing: Option<(i64, i64)> = find.query_row(params![table_id, id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
                match existing {
                    None => {
                        insert.execute(params![table_id, id, json, row.etag, modifiedon(&row.values)])?;
                        fts_put(tx, tx.last_insert_rowid(), table_id, &row.values, &searchable, true)?;
                    }
                    Some((rid, 0)) => {
                        update_synced.execute(params![rid, json, row.etag, modifiedon(&row.values)])?;
                        fts_put(tx, rid, table_id, &row.values, &searchable, false)?;
                    }
                    Some((rid, _)) => {
                        let mut view = row.values.clone();
                        view.extend(pending_changes(tx, table_id, &id)?);
                        update_pending.execute(params![rid, to_json(&view), json, row.etag, modifiedon(&row.values)])?;
                        fts_put(tx, rid, table_id, &view, &searchable, false)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Apply server-side deletions. A record with pending local edits is not silently dropped:
    /// its edits are kept as a conflict for the user to decide.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table; `Storage`.
    pub fn apply_server_deletes(&self, entity_set: &str, ids: &[String]) -> Result<()> {
        self.write(|tx| {
            let (table_id, _) = table_id(tx, entity_set)?;
            for id in ids {
                let id = norm_id(id);
                let Some(existing) = load(tx, table_id, &id)? else { continue };
                if existing.state != RecordState::Synced {
                    let changes = pending_changes(tx, table_id, &id)?;
                    tx.execute(
                        "INSERT INTO conflict (table_id, record_id, local_changes, detected_at) VALUES (?1, ?2, jsonb(?3), ?4)",
                        params![table_id, id, to_json(&changes), now_unix()],
                    )?;
                    tx.execute("DELETE FROM outbox WHERE table_id = ?1 AND record_id = ?2", params![table_id, id])?;
                }
                fts_delete(tx, table_id, existing.rid)?;
                tx.execute("DELETE FROM record WHERE rid = ?1", [existing.rid])?;
            }
            Ok(())
        })
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
            let existing = load(tx, table_id, &id)?
                .filter(|e| e.state != RecordState::Deleted)
                .ok_or_else(|| Error::NotFound { what: format!("{entity_set} record") })?;
            let base: Values =
                changes.keys().map(|k| (k.clone(), existing.values.get(k).cloned().unwrap_or(Value::Null))).collect();
            let mut view = existing.values.clone();
            view.extend(changes.clone());
            let new_state = match existing.state {
                RecordState::Synced => {
                    tx.execute("UPDATE record SET server_data = data WHERE rid = ?1", [existing.rid])?;
                    RecordState::Modified
                }
                other => other,
            };
            tx.execute(
                "UPDATE record SET data = jsonb(?2), state = ?3 WHERE rid = ?1",
                params![existing.rid, to_json(&view), new_state.code()],
            )?;
            fts_put(tx, existing.rid, table_id, &view, &searchable, false)?;
            tx.execute(
                "INSERT INTO outbox (table_id, record_id, op, changes, base_values, base_etag, created_at) \
                 VALUES (?1, ?2, 'update', jsonb(?3), jsonb(?4), ?5, ?6)",
                params![table_id, id, to_json(&changes), to_json(&base), existing.etag, now_unix()],
            )?;
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
            let (table_id, _) = table_id(tx, entity_set)?;
            let existing = load(tx, table_id, &id)?
                .filter(|e| e.state != RecordState::Deleted)
                .ok_or_else(|| Error::NotFound { what: format!("{entity_set} record") })?;
            if existing.state == RecordState::Created {
                tx.execute("DELETE FROM outbox WHERE table_id = ?1 AND record_id = ?2", params![table_id, id])?;
                fts_delete(tx, table_id, existing.rid)?;
                tx.execute("DELETE FROM record WHERE rid = ?1", [existing.rid])?;
                return Ok(());
            }
            if existing.state == RecordState::Synced {
                tx.execute("UPDATE record SET server_data = data WHERE rid = ?1", [existing.rid])?;
            }
            tx.execute(
                "UPDATE record SET state = ?2 WHERE rid = ?1",
                params![existing.rid, RecordState::Deleted.code()],
            )?;
            tx.execute(
                "INSERT INTO outbox (table_id, record_id, op, base_etag, created_at) VALUES (?1, ?2, 'delete', ?3, ?4)",
                params![table_id, id, existing.etag, now_unix()],
            )?;
            Ok(())
        })
    }

    /// Local edits waiting to be pushed.
    ///
    /// # Errors
    /// `Storage`.
    pub fn pending_count(&self) -> Result<u64> {
        self.read(|c| Ok(c.query_row("SELECT count(*) FROM outbox", [], |r| r.get::<_, i64>(0))? as u64))
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
