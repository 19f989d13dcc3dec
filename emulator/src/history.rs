//! Write history: every write the store accepted, per row, with the columns it changed.
//!
//! Tests use it to tell whether a value ever reached the server and who wrote what after it (the
//! randomized sync trials in `cli/tests/trials.rs`): each accepted insert, update and delete is
//! recorded, `$batch` parts and control-API edits included. Writes of a changeset that is rolled
//! back are taken out again. Only the columns a write changed are kept (all non-null columns for
//! an insert), so the history stays small next to the generated rows.

use crate::codec::guid;
use crate::schema::{Role, TableId, SYSTEMUSER};
use crate::store::{Store, Value, DEC_SCALE};

/// What a write did to its row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// The row did not exist (a create, or an upsert that created it).
    Insert,
    /// The row existed.
    Update,
    /// The row was deleted.
    Delete,
}

/// One accepted write of one row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Write {
    /// Order among all writes of the emulator (starts at 1).
    pub seq: u64,
    /// Row version after the write (the etag is `W/"<version>"`); for a delete, the tombstone's.
    pub version: u64,
    /// What it did.
    pub kind: WriteKind,
    /// The writer: the `systemuserid` in `modifiedby` (`None` for deletes and rows without it).
    pub by: Option<String>,
    /// Changed columns by wire name (`name`, `_parentcustomerid_value`) with their new value as
    /// text (`None`: null). Lookups as the target's GUID, money and decimals as exact decimal text.
    pub columns: Vec<(String, Option<String>)>,
}

impl Write {
    /// The value this write gave `column`, if it changed it (`Some(None)`: set to null).
    pub fn value(&self, column: &str) -> Option<Option<&str>> {
        self.columns.iter().find(|(c, _)| c == column).map(|(_, v)| v.as_deref())
    }
}

/// The history of all rows, in write order.
#[derive(Debug, Default)]
pub struct History {
    log: Vec<(TableId, u128, Write)>,
    seq: u64,
    /// Length of `log` when the open changeset began.
    mark: Option<(usize, u64)>,
}

impl History {
    /// The writes of one row, oldest first.
    pub fn of(&self, table: TableId, id: u128) -> Vec<Write> {
        self.log.iter().filter(|(t, i, _)| *t == table && *i == id).map(|(_, _, w)| w.clone()).collect()
    }

    /// Every write of a table: (row id, write), oldest first.
    pub fn of_table(&self, table: TableId) -> Vec<(u128, Write)> {
        self.log.iter().filter(|(t, _, _)| *t == table).map(|(_, i, w)| (*i, w.clone())).collect()
    }

    fn push(&mut self, table: TableId, id: u128, mut w: Write) {
        self.seq += 1;
        w.seq = self.seq;
        self.log.push((table, id, w));
    }

    /// A changeset begins: its writes are taken out again if it is rolled back.
    pub fn begin(&mut self) {
        self.mark = Some((self.log.len(), self.seq));
    }

    /// The changeset's writes stay.
    pub fn commit(&mut self) {
        self.mark = None;
    }

    /// The changeset's writes never happened.
    pub fn rollback(&mut self) {
        if let Some((len, seq)) = self.mark.take() {
            self.log.truncate(len);
            self.seq = seq;
        }
    }
}

/// A stored value as text (`None` for null).
pub fn value_text(v: &Value) -> Option<String> {
    Some(match v {
        Value::Null => return None,
        Value::Str(s) => s.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Dec(d) => {
            let sign = if *d < 0 { "-" } else { "" };
            let a = d.unsigned_abs();
            let scale = DEC_SCALE.unsigned_abs();
            format!("{sign}{}.{:04}", a / scale, a % scale)
        }
        Value::Bool(b) => b.to_string(),
        Value::Date(d) => format!("date:{d}"),
        Value::Time(t) => format!("time:{t}"),
        Value::Ref(_, id) | Value::Guid(id) => guid(*id),
    })
}

impl Store {
    /// Records an insert or update of `id` with `values` (called before the row is replaced).
    pub(crate) fn note_put(&mut self, table: TableId, id: u128, values: &[Value], version: u64) {
        let def = &self.schema.tables[table];
        let before = self.tables[table].rows.get(&id).map(|r| self.materialize(table, id, r));
        let mut columns = Vec::new();
        let mut by = None;
        for (ci, col) in def.columns.iter().enumerate() {
            if col.role != Role::Data {
                continue;
            }
            let new = values.get(ci).unwrap_or(&Value::Null);
            if col.name == "modifiedby" {
                if let Value::Ref(SYSTEMUSER, u) = new {
                    by = Some(guid(*u));
                }
            }
            let changed = match &before {
                Some(old) => old.get(ci).unwrap_or(&Value::Null) != new,
                None => *new != Value::Null,
            };
            if changed {
                columns.push((col.wire.clone(), value_text(new)));
            }
        }
        let kind = if before.is_some() { WriteKind::Update } else { WriteKind::Insert };
        self.history.push(table, id, Write { seq: 0, version, kind, by, columns });
    }

    /// Records a delete of `id`.
    pub(crate) fn note_delete(&mut self, table: TableId, id: u128, version: u64) {
        self.history.push(table, id, Write { seq: 0, version, kind: WriteKind::Delete, by: None, columns: Vec::new() });
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::schema::{Schema, ACCOUNT};
    use crate::store::{gen_id, GenCtx};

    #[test]
    fn writes_are_recorded_with_changed_columns_and_rolled_back_with_their_changeset() {
        let schema = Arc::new(Schema::new());
        let gen = GenCtx { seed: 7, counts: [10, 5, 2, 0, 0], users: vec![1, 2], teams: vec![3] };
        let mut s = Store::new(schema.clone(), gen, Vec::new(), &[]);
        let id = gen_id(7, ACCOUNT, 1);
        let name = schema.tables[ACCOUNT].col("name").unwrap();
        let row = s.get(ACCOUNT, id).unwrap().clone();
        let mut vals = s.materialize(ACCOUNT, id, &row);
        vals[name] = Value::Str("renamed".into());
        let v1 = s.put(ACCOUNT, id, vals, 0, 1);
        let h = s.history.of(ACCOUNT, id);
        assert_eq!(h.len(), 1);
        assert_eq!((h[0].kind, h[0].version), (WriteKind::Update, v1));
        assert_eq!(h[0].columns, vec![("name".to_string(), Some("renamed".to_string()))]);
        assert_eq!(h[0].value("name"), Some(Some("renamed")));

        s.begin();
        s.delete(ACCOUNT, id);
        s.rollback();
        assert_eq!(s.history.of(ACCOUNT, id).len(), 1);

        s.delete(ACCOUNT, id);
        let mut vals = vec![Value::Null; schema.tables[ACCOUNT].columns.len()];
        vals[name] = Value::Str("again".into());
        s.put(ACCOUNT, id, vals, 0, 2);
        let kinds: Vec<WriteKind> = s.history.of(ACCOUNT, id).iter().map(|w| w.kind).collect();
        assert_eq!(kinds, vec![WriteKind::Update, WriteKind::Delete, WriteKind::Insert]);
        let seqs: Vec<u64> = s.history.of(ACCOUNT, id).iter().map(|w| w.seq).collect();
        assert_eq!(seqs, vec![1, 2, 3]);
    }
}
