//! Pull bookkeeping: each page of a pull is applied in one transaction together with its
//! checkpoint (the next link, or at the end the delta link), so a process killed at any moment
//! resumes from the last applied page and never stores a delta link before the last page.

use rusqlite::{params, OptionalExtension, Transaction};

use super::outbox::ConflictKind;
use super::records::{
    fts_delete, fts_put, load, mirror, norm_id, now_unix, pending_changes, rebuild, table_id, RecordState, ServerRow,
};
use super::value::{from_json, to_json, Values};
use super::Store;
use crate::error::{Error, Result};

/// Which kind of pass a saved next link belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PassKind {
    /// The initial (full) change-tracked query: every row of the table.
    Full,
    /// A delta query: changes since the last delta link.
    Delta,
}

impl PassKind {
    fn as_str(self) -> &'static str {
        match self {
            PassKind::Full => "full",
            PassKind::Delta => "delta",
        }
    }
}

/// What to record with a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checkpoint {
    /// More pages follow: resume from this link.
    Next(String),
    /// The last page. `delta_link`: where the next incremental pull starts (`None` when the
    /// server gave none). After a full pass, rows the pass did not see are deleted, except rows
    /// with pending local edits.
    Done {
        /// The new delta link.
        delta_link: Option<String>,
    },
}

/// Sync state of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSyncState {
    /// Saved delta link of the last completed pull.
    pub delta_link: Option<String>,
    /// Checkpoint of a pull in progress.
    pub next_link: Option<String>,
    /// The kind of the pull in progress.
    pub pass_kind: Option<PassKind>,
    /// The `$select` the links were made with.
    pub select_columns: Option<String>,
    /// Number of the current full pass.
    pub pass: i64,
    /// Whether lookup annotations are requested on change-tracked queries (ADR 0004).
    pub annotations: bool,
    /// Whether a full pass has completed once.
    pub initial_done: bool,
    /// Table logical name, from metadata.
    pub logical_name: Option<String>,
    /// Cached metadata (JSON).
    pub metadata: Option<String>,
    /// Unix seconds of the last completed pull.
    pub last_sync: Option<i64>,
}

/// Counts of one applied page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageApplied {
    /// Rows inserted or updated.
    pub upserted: u64,
    /// Rows removed (server deletes, and at the end of a full pass the rows it did not see).
    pub deleted: u64,
    /// Ids that changed (for change notifications), capped at 1,000 per page.
    pub changed_ids: Vec<String>,
}

const CHANGED_IDS_CAP: usize = 1000;

impl Store {
    /// The sync state of a table.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table; `Storage`.
    pub fn sync_state(&self, entity_set: &str) -> Result<TableSyncState> {
        self.read(|c| {
            c.query_row(
                "SELECT delta_link, next_link, pass_kind, select_columns, pass, annotations, initial_done, \
                 logical_name, metadata, last_sync FROM sync_table WHERE entity_set = ?1",
                [entity_set],
                |r| {
                    Ok(TableSyncState {
                        delta_link: r.get(0)?,
                        next_link: r.get(1)?,
                        pass_kind: match r.get::<_, Option<String>>(2)?.as_deref() {
                            Some("full") => Some(PassKind::Full),
                            Some("delta") => Some(PassKind::Delta),
                            _ => None,
                        },
                        select_columns: r.get(3)?,
                        pass: r.get(4)?,
                        annotations: r.get::<_, i64>(5)? != 0,
                        initial_done: r.get::<_, i64>(6)? != 0,
                        logical_name: r.get(7)?,
                        metadata: r.get(8)?,
                        last_sync: r.get(9)?,
                    })
                },
            )
            .optional()?
            .ok_or_else(|| Error::invalid(format!("unknown table {entity_set:?}")))
        })
    }

    /// Start a full pass: forget the links, bump the pass number, remember the `$select`.
    /// Returns the new pass number.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table; `Storage`.
    pub fn begin_full_pass(&self, entity_set: &str, select: &str) -> Result<i64> {
        self.write(|tx| {
            let (table_id, _) = table_id(tx, entity_set)?;
            tx.execute(
                "UPDATE sync_table SET pass = pass + 1, delta_link = NULL, next_link = NULL, pass_kind = NULL, \
                 select_columns = ?2 WHERE table_id = ?1",
                params![table_id, select],
            )?;
            Ok(tx.query_row("SELECT pass FROM sync_table WHERE table_id = ?1", [table_id], |r| r.get(0))?)
        })
    }

    /// Forget a table's delta link and any checkpoint (the next pull is a full pass).
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table; `Storage`.
    pub fn drop_links(&self, entity_set: &str) -> Result<()> {
        self.write(|tx| {
            let (table_id, _) = table_id(tx, entity_set)?;
            tx.execute(
                "UPDATE sync_table SET delta_link = NULL, next_link = NULL, pass_kind = NULL WHERE table_id = ?1",
                [table_id],
            )?;
            Ok(())
        })
    }

    /// Cache a table's metadata.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table; `Storage`.
    pub fn set_table_metadata(&self, entity_set: &str, logical_name: &str, json: &str) -> Result<()> {
        self.write(|tx| {
            let (table_id, _) = table_id(tx, entity_set)?;
            tx.execute(
                "UPDATE sync_table SET logical_name = ?2, metadata = ?3 WHERE table_id = ?1",
                params![table_id, logical_name, json],
            )?;
            Ok(())
        })
    }

    /// Which local edits the profile allows for a table: any of `c` (create), `u` (update),
    /// `d` (delete).
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table; `Storage`.
    pub fn set_allowed_edits(&self, entity_set: &str, create: bool, update: bool, delete: bool) -> Result<()> {
        let mut allowed = String::new();
        for (on, c) in [(create, 'c'), (update, 'u'), (delete, 'd')] {
            if on {
                allowed.push(c);
            }
        }
        self.write(|tx| {
            let (table_id, _) = table_id(tx, entity_set)?;
            tx.execute("UPDATE sync_table SET allowed = ?2 WHERE table_id = ?1", params![table_id, allowed])?;
            Ok(())
        })
    }

    /// Whether tracked queries of a table request lookup annotations (ADR 0004).
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table; `Storage`.
    pub fn set_annotations(&self, entity_set: &str, on: bool) -> Result<()> {
        self.write(|tx| {
            let (table_id, _) = table_id(tx, entity_set)?;
            tx.execute("UPDATE sync_table SET annotations = ?2 WHERE table_id = ?1", params![table_id, on])?;
            Ok(())
        })
    }

    /// Which of `ids` exist in a table (for resolving polymorphic lookup targets).
    ///
    /// # Errors
    /// `Storage`.
    pub fn ids_present(&self, entity_set: &str, ids: &[String]) -> Result<Vec<String>> {
        self.read(|c| {
            let Ok((table_id, _)) = table_id(c, entity_set) else { return Ok(Vec::new()) };
            let list = serde_json::to_string(ids).map_err(|e| Error::internal(e.to_string()))?;
            let mut stmt = c.prepare_cached(
                "SELECT r.id FROM json_each(?2) j JOIN record r ON r.table_id = ?1 AND r.id = lower(j.value)",
            )?;
            let out = stmt.query_map(params![table_id, list], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            Ok(out)
        })
    }

    /// Fill in the target of a polymorphic lookup (`property`) where it is unknown, from the
    /// local tables that hold the referenced id (ADR 0004). `targets`: (logical name, entity
    /// set). Only records without pending edits are touched. Returns the records updated.
    ///
    /// # Errors
    /// `InvalidArgument` for a property that is not a plain identifier; `Storage`.
    pub fn resolve_lookup_targets(
        &self,
        entity_set: &str,
        property: &str,
        targets: &[(String, String)],
    ) -> Result<u64> {
        if !super::records::is_identifier(property) {
            return Err(Error::invalid("lookup property must be a plain identifier"));
        }
        let annotation = format!("{property}{}", crate::dataverse::page::LOOKUP_LOGICAL_NAME);
        self.write(|tx| {
            let (source_table, _) = table_id(tx, entity_set)?;
            let mut n = 0u64;
            for (logical, set) in targets {
                let Ok((target_table, _)) = table_id(tx, set) else { continue };
                n += tx.execute(
                    &format!(
                        "UPDATE record SET data = jsonb_set(data, ?3, ?4) WHERE table_id = ?1 AND state = 0 \
                         AND data ->> '$.\"{property}\"' IS NOT NULL AND data ->> ?3 IS NULL \
                         AND EXISTS (SELECT 1 FROM record t WHERE t.table_id = ?2 \
                                     AND t.id = lower(record.data ->> '$.\"{property}\"'))"
                    ),
                    params![source_table, target_table, format!("$.\"{annotation}\""), logical],
                )? as u64;
            }
            Ok(n)
        })
    }

    /// Remove a table that left the profile: its rows, index, outbox entries and conflicts.
    ///
    /// # Errors
    /// `Storage`.
    pub fn purge_table(&self, entity_set: &str) -> Result<()> {
        self.write(|tx| {
            let Ok((table_id, _)) = table_id(tx, entity_set) else { return Ok(()) };
            tx.execute("DELETE FROM conflict WHERE table_id = ?1", [table_id])?;
            tx.execute("DELETE FROM outbox WHERE table_id = ?1", [table_id])?;
            tx.execute("DELETE FROM record WHERE table_id = ?1", [table_id])?;
            tx.execute_batch(&format!("DROP TABLE IF EXISTS {}", super::records::fts_table(table_id)))?;
            let indexes: Vec<String> = tx
                .prepare(
                    "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'record' AND name LIKE ?1",
                )?
                .query_map([format!("ix_{table_id}_%")], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            for name in indexes {
                tx.execute_batch(&format!("DROP INDEX \"{name}\""))?;
            }
            tx.execute("DELETE FROM sync_table WHERE table_id = ?1", [table_id])?;
            Ok(())
        })
    }

    /// Apply one page of a pull and its checkpoint in one transaction.
    ///
    /// `pass`: the full pass this page belongs to (rows are marked as seen by it), or `None` for
    /// a delta page. A record with pending local edits keeps them: its server copy is replaced
    /// and the local view rebuilt. A server delete of a record with pending edits keeps the
    /// edits as a conflict. A delete of an unknown id is fine.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table; `Storage`.
    pub fn apply_page(
        &self,
        entity_set: &str,
        rows: &[ServerRow],
        deletes: &[String],
        pass_and_checkpoint: Option<(Option<i64>, Checkpoint)>,
    ) -> Result<PageApplied> {
        self.write(|tx| {
            let (table_id, searchable) = table_id(tx, entity_set)?;
            let pass = pass_and_checkpoint.as_ref().and_then(|(p, _)| *p);
            let mut out = PageApplied::default();
            apply_rows(tx, table_id, &searchable, rows, pass, &mut out)?;
            apply_deletes(tx, table_id, deletes, &mut out)?;
            match pass_and_checkpoint {
                None => {}
                Some((_, Checkpoint::Next(link))) => {
                    let kind = if pass.is_some() { PassKind::Full } else { PassKind::Delta };
                    tx.execute(
                        "UPDATE sync_table SET next_link = ?2, pass_kind = ?3 WHERE table_id = ?1",
                        params![table_id, link, kind.as_str()],
                    )?;
                }
                Some((_, Checkpoint::Done { delta_link })) => {
                    if let Some(pass) = pass {
                        out.deleted += sweep(tx, table_id, pass)?;
                        tx.execute(
                            "UPDATE sync_table SET last_full_sync = ?2, initial_done = 1 WHERE table_id = ?1",
                            params![table_id, now_unix()],
                        )?;
                    }
                    tx.execute(
                        "UPDATE sync_table SET delta_link = ?2, next_link = NULL, pass_kind = NULL, last_sync = ?3 \
                         WHERE table_id = ?1",
                        params![table_id, delta_link, now_unix()],
                    )?;
                }
            }
            Ok(out)
        })
    }
}

fn note_change(out: &mut PageApplied, id: &str) {
    if out.changed_ids.len() < CHANGED_IDS_CAP {
        out.changed_ids.push(id.to_string());
    }
}

fn apply_rows(
    tx: &Transaction<'_>,
    table_id: i64,
    searchable: &[String],
    rows: &[ServerRow],
    pass: Option<i64>,
    out: &mut PageApplied,
) -> Result<()> {
    let mut find = tx.prepare_cached("SELECT rid, state FROM record WHERE table_id = ?1 AND id = ?2")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO record (table_id, id, data, etag, state, modifiedon, pass) \
         VALUES (?1, ?2, jsonb(?3), ?4, 0, ?5, coalesce(?6, 0))",
    )?;
    let mut update_synced = tx.prepare_cached(
        "UPDATE record SET data = jsonb(?2), etag = ?3, modifiedon = ?4, pass = coalesce(?5, pass) WHERE rid = ?1",
    )?;
    let mut mark = tx.prepare_cached("UPDATE record SET pass = ?2 WHERE rid = ?1")?;
    let mut landed = tx.prepare_cached(
        "DELETE FROM outbox WHERE table_id = ?1 AND record_id = ?2 AND op = 'create' AND state = 'inflight'",
    )?;
    for row in rows {
        let id = norm_id(&row.id);
        let existing: Option<(i64, i64)> =
            find.query_row(params![table_id, id], |r| Ok((r.get(0)?, r.get(1)?))).optional()?;
        let modified = row.values.get("modifiedon").and_then(super::Value::as_str);
        match existing {
            None => {
                insert.execute(params![table_id, id, to_json(&row.values), row.etag, modified, pass])?;
                fts_put(tx, tx.last_insert_rowid(), table_id, &row.values, searchable, true)?;
            }
            Some((rid, 0)) => {
                update_synced.execute(params![rid, to_json(&row.values), row.etag, modified, pass])?;
                fts_put(tx, rid, table_id, &row.values, searchable, false)?;
            }
            Some((rid, _)) => {
                // A create we sent whose answer never came, and the server has a row with its
                // id. Holding our values, it is our create, landed: the entry is settled. Not
                // holding them, it may be our create edited since, or another device's re-create
                // of the id after a server delete while ours never arrived (the second full trials
                // run, seed 17356269532594158711): the columns that differ become a conflict for
                // the user instead of being given up silently. Edits made since stay queued.
                unsettled_create_conflict(tx, table_id, &id, row)?;
                landed.execute(params![table_id, id])?;
                rebuild(tx, table_id, searchable, rid, &id, Some((&row.values, row.etag.as_deref())))?;
                if let Some(p) = pass {
                    mark.execute(params![rid, p])?;
                }
            }
        }
        out.upserted += 1;
        note_change(out, &id);
    }
    Ok(())
}

/// See `apply_rows`: an in-flight create of `id` whose values `row` does not hold becomes an
/// update conflict of the differing columns (local: the create's values; server: `row`).
fn unsettled_create_conflict(tx: &Transaction<'_>, table_id: i64, id: &str, row: &ServerRow) -> Result<()> {
    let entry: Option<Option<String>> = tx
        .query_row(
            "SELECT json(changes) FROM outbox WHERE table_id = ?1 AND record_id = ?2 AND op = 'create' \
             AND state = 'inflight' ORDER BY seq LIMIT 1",
            params![table_id, id],
            |r| r.get(0),
        )
        .optional()?;
    let Some(changes) = entry else { return Ok(()) };
    let ours = json_values(changes)?;
    let local: Values = ours
        .iter()
        .filter(|(k, _)| !k.contains('@'))
        .filter(|(k, v)| row.values.get(k.as_str()).is_some_and(|theirs| theirs != *v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if local.is_empty() {
        return Ok(());
    }
    let columns: Vec<String> = local.keys().cloned().collect();
    insert_conflict(tx, table_id, id, ConflictKind::Update, &columns, &local, &Values::new(), Some(row))
}

/// Record a conflict of `kind` for `id`: the local side, its base, and the server's copy (if any).
#[allow(clippy::too_many_arguments)]
pub(crate) fn insert_conflict(
    tx: &Transaction<'_>,
    table_id: i64,
    id: &str,
    kind: ConflictKind,
    columns: &[String],
    local: &Values,
    base: &Values,
    server: Option<&ServerRow>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO conflict (table_id, record_id, local_changes, base_values, server_data, server_etag, \
         kind, columns, detected_at) VALUES (?1, ?2, jsonb(?3), jsonb(?4), jsonb(?5), ?6, ?7, ?8, ?9)",
        params![
            table_id,
            id,
            to_json(local),
            to_json(base),
            server.map(|s| to_json(&s.values)),
            server.and_then(|s| s.etag.clone()),
            kind.as_str(),
            serde_json::to_string(columns).map_err(|e| Error::internal(e.to_string()))?,
            now_unix()
        ],
    )?;
    Ok(())
}

fn apply_deletes(tx: &Transaction<'_>, table_id: i64, ids: &[String], out: &mut PageApplied) -> Result<()> {
    for id in ids {
        let id = norm_id(id);
        let Some(existing) = load(tx, table_id, &id)? else { continue };
        // A create we sent (answer lost) that the server has since deleted: it landed, and
        // nothing else of the record waits, so there is nothing to show: the record goes.
        tx.execute(
            "DELETE FROM outbox WHERE table_id = ?1 AND record_id = ?2 AND op = 'create' AND state = 'inflight'",
            params![table_id, id],
        )?;
        let waiting: i64 = tx.query_row(
            "SELECT (SELECT count(*) FROM outbox WHERE table_id = ?1 AND record_id = ?2) + \
                    (SELECT count(*) FROM conflict WHERE table_id = ?1 AND record_id = ?2)",
            params![table_id, id],
            |r| r.get(0),
        )?;
        if existing.state != RecordState::Synced && waiting > 0 {
            server_deleted_conflict(tx, table_id, &id, existing.rid, existing.state, &existing.values)?;
        }
        fts_delete(tx, table_id, existing.rid)?;
        tx.execute("DELETE FROM record WHERE rid = ?1", [existing.rid])?;
        out.deleted += 1;
        note_change(out, &id);
    }
    Ok(())
}

/// The record is gone on the server while local edits wait: keep the local view as a conflict
/// (kind `server_deleted`), drop the outbox entries and the record.
pub(crate) fn server_deleted_conflict(
    tx: &Transaction<'_>,
    table_id: i64,
    id: &str,
    rid: i64,
    state: RecordState,
    view: &Values,
) -> Result<()> {
    if state != RecordState::Deleted {
        let base = mirror(tx, rid)?.map(|(m, _)| m);
        let changes = pending_changes(tx, table_id, id)?;
        tx.execute(
            "INSERT INTO conflict (table_id, record_id, local_changes, base_values, kind, columns, detected_at) \
             VALUES (?1, ?2, jsonb(?3), jsonb(?4), 'server_deleted', ?5, ?6)",
            params![
                table_id,
                id,
                to_json(view),
                base.as_ref().map(to_json),
                serde_json::to_string(&changes.keys().collect::<Vec<_>>()).unwrap_or_else(|_| "[]".into()),
                now_unix()
            ],
        )?;
    }
    tx.execute(
        "DELETE FROM conflict WHERE table_id = ?1 AND record_id = ?2 AND kind <> 'server_deleted'",
        params![table_id, id],
    )?;
    tx.execute("DELETE FROM outbox WHERE table_id = ?1 AND record_id = ?2", params![table_id, id])?;
    Ok(())
}

/// End of a full pass: rows it did not see are gone on the server, as if a tombstone had come
/// for each. A synced row simply goes; a row with local edits or an open conflict becomes a
/// `ServerDeleted` conflict holding the local view (a pending local delete simply ends). Rows
/// created locally whose create was never sent stay (their create is still to be sent).
///
/// A row created locally whose create *was* sent but never answered (in flight: killed, or the
/// answer lost) and that the pass did not see is not on the server: either the create never
/// arrived, or it landed and was deleted there since. A full pass has no tombstones to tell the
/// two apart (the pull before a replay finds them only with a delta link: ADR 0008). Replaying
/// would bring a deleted record back; dropping would lose a create that never arrived. So it
/// becomes a `ServerDeleted` conflict holding the local view, and the user decides (keep: it is
/// created again; server: it is given up). Issue 14, trials seed 4503457556177035486.
fn sweep(tx: &Transaction<'_>, table_id: i64, pass: i64) -> Result<u64> {
    let ghosts: Vec<(i64, String, i64)> = tx
        .prepare(
            "SELECT r.rid, r.id, r.state FROM record r WHERE r.table_id = ?1 AND r.pass <> ?2 AND (r.state <> 2 \
             OR EXISTS (SELECT 1 FROM outbox o WHERE o.table_id = r.table_id AND o.record_id = r.id \
                        AND o.op = 'create' AND o.state = 'inflight'))",
        )?
        .query_map(params![table_id, pass], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (rid, id, state) in &ghosts {
        if *state != RecordState::Synced.code() {
            let Some(existing) = load(tx, table_id, id)? else { continue };
            server_deleted_conflict(tx, table_id, id, *rid, existing.state, &existing.values)?;
        }
        fts_delete(tx, table_id, *rid)?;
        tx.execute("DELETE FROM record WHERE rid = ?1", [rid])?;
    }
    Ok(ghosts.len() as u64)
}

/// Values of a JSON column, or empty.
pub(crate) fn json_values(json: Option<String>) -> Result<Values> {
    json.as_deref().map(from_json).transpose().map(Option::unwrap_or_default)
}
