//! Row storage with a global row version, change log, tombstones, undo (for `$batch` changesets) and the
//! deterministic generator.
//!
//! Generated rows are not stored column by column: a row is `(version, createdon, modifiedon, index)`
//! and its columns are regenerated from `(seed, table, index)` whenever they are read, so a million rows
//! take a few dozen megabytes. A row is materialised (all columns stored) on its first write.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::clock;
use crate::codec::{derived_guid, mix};
use crate::schema::{Gen, Kind, Role, Schema, TableId, ACCOUNT, CONTACT, SYSTEMUSER, TASK, TEAM};

/// A column value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Null.
    Null,
    /// Text.
    Str(Box<str>),
    /// Whole number (also choices).
    Int(i64),
    /// Money or decimal, scaled by 10^4.
    Dec(i64),
    /// Yes/No.
    Bool(bool),
    /// Date only: days since 1970-01-01.
    Date(i64),
    /// Date and time: seconds since the epoch.
    Time(i64),
    /// Lookup: target table and id.
    Ref(TableId, u128),
    /// Unique identifier.
    Guid(u128),
}

/// Scale of [`Value::Dec`].
pub const DEC_SCALE: i64 = 10_000;

/// Column data of a row.
#[derive(Clone, Debug)]
pub enum RowData {
    /// Generated on demand from the row's index.
    Gen(u32),
    /// Stored values, one per column (bookkeeping columns hold `Null`).
    Stored(Box<[Value]>),
}

/// A row.
#[derive(Clone, Debug)]
pub struct Row {
    /// Row version (`versionnumber`, the etag).
    pub version: u64,
    /// `createdon`.
    pub created: i64,
    /// `modifiedon`.
    pub modified: i64,
    /// Column data.
    pub data: RowData,
}

/// A deleted row.
#[derive(Clone, Debug)]
pub struct Tomb {
    /// Primary key.
    pub id: u128,
}

/// Rows and change log of one table.
#[derive(Debug, Default)]
pub struct TableData {
    /// Rows by primary key (ordered like the GUID's text).
    pub rows: BTreeMap<u128, Row>,
    /// Rows written after start-up, by version.
    pub changed: BTreeMap<u64, u128>,
    /// Deleted rows by deletion version.
    pub tombs: BTreeMap<u64, Tomb>,
    tomb_by_id: HashMap<u128, u64>,
    /// Change tracking enabled.
    pub change_tracking: bool,
    /// Max length overrides by column index.
    pub max_len: HashMap<usize, u32>,
}

/// Inputs of the generator shared by all rows.
#[derive(Clone, Debug)]
pub struct GenCtx {
    /// Seed.
    pub seed: u64,
    /// Generated row counts by table.
    pub counts: [u32; 5],
    /// System user ids (owners, createdby).
    pub users: Vec<u128>,
    /// Team ids (owners).
    pub teams: Vec<u128>,
}

#[derive(Debug)]
struct Undo {
    table: TableId,
    id: u128,
    row: Option<Row>,
    tomb: Option<(u64, Tomb)>,
}

/// All tables.
#[derive(Debug)]
pub struct Store {
    /// Schema.
    pub schema: Arc<Schema>,
    /// Table data by [`TableId`].
    pub tables: Vec<TableData>,
    /// Last row version handed out (global across tables).
    pub version: u64,
    /// Highest version of the start-up data.
    pub base_version: u64,
    /// Delta tokens below this version are expired.
    pub delta_min_version: u64,
    /// Generator inputs.
    pub gen: GenCtx,
    undo: Option<Vec<Undo>>,
    /// Every accepted write (`history.rs`).
    pub history: crate::history::History,
}

const FIRST: &[&str] = &[
    "Yvonne", "Susanna", "Monte", "Aiden", "Nancy", "Rene", "Paul", "Sidney", "Scott", "Maria", "Jim", "Thomas",
    "Cathan", "Patrick", "Rob", "Maxi", "Helena", "Jonas", "Ingrid", "Mateo", "Sofia", "Kenji", "Amara", "Lena",
    "Omar", "Priya", "Lucas", "Chloe",
];
const LAST: &[&str] = &[
    "McKay",
    "Stubberod",
    "Orton",
    "Hill",
    "Anderson",
    "Valdes",
    "Cannon",
    "Higa",
    "Konersmann",
    "Campbell",
    "Glynn",
    "Andersen",
    "Cook",
    "Sands",
    "Young",
    "Lindqvist",
    "Okafor",
    "Tanaka",
    "Moreau",
    "Silva",
    "Novak",
    "Rossi",
    "Fischer",
    "Kowalski",
];
const COMPANY_A: &[&str] = &[
    "Contoso",
    "Fabrikam",
    "Litware",
    "Adventure",
    "Blue Yonder",
    "Coho",
    "Alpine",
    "Northwind",
    "Tailspin",
    "Wingtip",
    "Fourth",
    "Humongous",
    "Lucerne",
    "Margie's",
    "Proseware",
    "Southridge",
    "Trey",
    "Wide World",
    "Woodgrove",
    "Graphic",
];
const COMPANY_B: &[&str] = &[
    "Inc.",
    "Ltd",
    "Traders",
    "Pharmaceuticals",
    "Airlines",
    "Winery",
    "Ski House",
    "Coffee",
    "Toys",
    "Importers",
    "Bank",
    "Design",
];
const WORDS: &[&str] = &[
    "the",
    "customer",
    "asked",
    "for",
    "a",
    "follow-up",
    "about",
    "pricing",
    "delivery",
    "schedule",
    "and",
    "support",
    "contract",
    "renewal",
    "meeting",
    "notes",
    "include",
    "next",
    "steps",
    "with",
    "regional",
    "team",
    "quarterly",
    "review",
    "of",
    "open",
    "issues",
    "shipment",
    "invoice",
    "discussed",
    "options",
    "priority",
    "escalation",
    "agreed",
    "to",
    "update",
    "proposal",
    "by",
    "friday",
    "warehouse",
    "inventory",
    "training",
    "onsite",
    "visit",
    "budget",
    "approval",
    "pending",
    "feedback",
    "positive",
];
const TITLES: &[&str] =
    &["Purchasing Manager", "Owner", "CEO", "Sales Lead", "Engineer", "Buyer", "Office Manager", "CFO", "Analyst"];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = mix(self.0);
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
    fn pick<'a>(&mut self, list: &[&'a str]) -> &'a str {
        list[self.below(list.len() as u64) as usize]
    }
}

/// Start of the generated data's time range (2026-01-01T00:00:00Z).
const BASE_TIME: i64 = 20_454 * 86_400;

/// Id of the generated row `index` of `table`.
pub fn gen_id(seed: u64, table: TableId, index: u32) -> u128 {
    derived_guid(seed, table as u64 + 1, u64::from(index))
}

fn rng_for(seed: u64, table: TableId, index: u32, col: usize) -> Rng {
    Rng(mix(seed ^ ((table as u64) << 56) ^ (u64::from(index) << 12) ^ col as u64))
}

impl GenCtx {
    fn name_parts(&self, table: TableId, index: u32) -> (&'static str, &'static str) {
        let mut r = rng_for(self.seed, table, index, 900);
        (r.pick(FIRST), r.pick(LAST))
    }

    fn company(&self, index: u32) -> String {
        let mut r = rng_for(self.seed, ACCOUNT, index, 901);
        format!("{} {} {}", r.pick(COMPANY_A), r.pick(COMPANY_B), index + 1)
    }

    /// Value of a generated column.
    pub fn value(&self, schema: &Schema, table: TableId, index: u32, ci: usize) -> Value {
        let column = &schema.tables[table].columns[ci];
        let mut r = rng_for(self.seed, table, index, ci);
        match column.gen {
            Gen::Null | Gen::Fixed => Value::Null,
            Gen::Company => Value::Str(self.company(index).into()),
            Gen::FirstName => Value::Str(self.name_parts(table, index).0.into()),
            Gen::LastName => Value::Str(self.name_parts(table, index).1.into()),
            Gen::Email => {
                let s = if table == ACCOUNT {
                    format!(
                        "info{}@{}.example",
                        index + 1,
                        self.company(index).split(' ').next().unwrap_or("x").to_ascii_lowercase()
                    )
                } else {
                    let (f, l) = self.name_parts(table, index);
                    format!("{}.{}{}@example.com", f.to_ascii_lowercase(), l.to_ascii_lowercase(), index + 1)
                };
                Value::Str(s.into())
            }
            Gen::Phone => Value::Str(format!("555-{:04}", r.below(10_000)).into()),
            Gen::AccountNumber => Value::Str(format!("ACC-{:06}", index + 1).into()),
            Gen::JobTitle => Value::Str(r.pick(TITLES).into()),
            Gen::Sentence => {
                let n = 3 + r.below(6);
                let mut s = String::from("Task");
                for _ in 0..n {
                    s.push(' ');
                    s.push_str(r.pick(WORDS));
                }
                s.push_str(&format!(" #{}", index + 1));
                Value::Str(s.into())
            }
            Gen::Paragraph(len) => {
                let target = len as usize - 40 + r.below(80) as usize;
                let mut s = String::with_capacity(target + 16);
                while s.len() < target {
                    if !s.is_empty() {
                        s.push(' ');
                    }
                    s.push_str(r.pick(WORDS));
                }
                s.push('.');
                Value::Str(s.into())
            }
            Gen::Int(a, b) => Value::Int(a + r.below((b - a + 1) as u64) as i64),
            Gen::Amount(a, b) => {
                let whole = a + r.below((b - a + 1) as u64) as i64;
                let cents = r.below(100) as i64;
                Value::Dec(whole * DEC_SCALE + cents * 100)
            }
            Gen::Date => Value::Date(BASE_TIME / 86_400 - 365 - r.below(365 * 40) as i64),
            Gen::Time => Value::Time(BASE_TIME - r.below(3 * 365 * 86_400) as i64),
            Gen::Option => match column.options() {
                Some(opts) => {
                    // state/status: mostly the first (active) option
                    let i = if matches!(column.kind, Kind::State(_) | Kind::Status(_)) {
                        if r.below(10) < 8 {
                            0
                        } else {
                            r.below(opts.len() as u64) as usize
                        }
                    } else {
                        r.below(opts.len() as u64) as usize
                    };
                    Value::Int(i64::from(opts[i].0))
                }
                None => Value::Null,
            },
            Gen::Bool(per_mille) => Value::Bool(r.below(1000) < u64::from(per_mille)),
            Gen::Ref(per_mille) => {
                if r.below(1000) >= u64::from(per_mille) {
                    return Value::Null;
                }
                let Kind::Lookup(_, targets) = &column.kind else { return Value::Null };
                let candidates: Vec<TableId> = targets
                    .iter()
                    .map(|t| t.table)
                    .filter(|t| self.counts[*t] > 0 && !(*t == table && self.counts[*t] < 2))
                    .collect();
                if candidates.is_empty() {
                    return Value::Null;
                }
                // first target (account) three times as likely as the others
                let roll = r.below(candidates.len() as u64 + 2) as usize;
                let target = if roll >= candidates.len() { candidates[0] } else { candidates[roll] };
                let mut j = r.below(u64::from(self.counts[target])) as u32;
                if target == table && j == index {
                    j = (j + 1) % self.counts[target];
                }
                Value::Ref(target, gen_id(self.seed, target, j))
            }
            Gen::Owner => {
                if !self.teams.is_empty() && r.below(100) < 15 {
                    Value::Ref(TEAM, self.teams[r.below(self.teams.len() as u64) as usize])
                } else if !self.users.is_empty() {
                    Value::Ref(SYSTEMUSER, self.users[r.below(self.users.len() as u64) as usize])
                } else {
                    Value::Null
                }
            }
            Gen::User => {
                if self.users.is_empty() {
                    Value::Null
                } else {
                    Value::Ref(SYSTEMUSER, self.users[r.below(self.users.len() as u64) as usize])
                }
            }
        }
    }
}

impl Store {
    /// Creates the store and generates the rows.
    pub fn new(
        schema: Arc<Schema>,
        gen: GenCtx,
        seeded: Vec<(TableId, u128, Vec<Value>)>,
        untracked: &[TableId],
    ) -> Self {
        let mut tables: Vec<TableData> =
            (0..schema.tables.len()).map(|_| TableData { change_tracking: true, ..TableData::default() }).collect();
        for &t in untracked {
            if let Some(td) = tables.get_mut(t) {
                td.change_tracking = false;
            }
        }
        let mut version: u64 = 900_000;
        for (table, id, values) in seeded {
            version += 1;
            let created = BASE_TIME - 400 * 86_400;
            tables[table].rows.insert(
                id,
                Row { version, created, modified: created, data: RowData::Stored(values.into_boxed_slice()) },
            );
        }
        for table in [ACCOUNT, CONTACT, TASK] {
            let count = gen.counts[table];
            for index in 0..count {
                version += 1;
                let mut r = rng_for(gen.seed, table, index, 999);
                let created = BASE_TIME - 3 * 365 * 86_400 + r.below(3 * 365 * 86_400) as i64;
                let modified = created + r.below(30 * 86_400) as i64;
                tables[table].rows.insert(
                    gen_id(gen.seed, table, index),
                    Row { version, created, modified, data: RowData::Gen(index) },
                );
            }
        }
        Store {
            schema,
            tables,
            version,
            base_version: version,
            delta_min_version: 0,
            gen,
            undo: None,
            history: Default::default(),
        }
    }

    /// A row.
    pub fn get(&self, table: TableId, id: u128) -> Option<&Row> {
        self.tables[table].rows.get(&id)
    }

    /// A column value of a row.
    pub fn value(&self, table: TableId, id: u128, row: &Row, ci: usize) -> Value {
        let column = &self.schema.tables[table].columns[ci];
        match column.role {
            Role::Pk => Value::Guid(id),
            Role::CreatedOn => Value::Time(row.created),
            Role::ModifiedOn => Value::Time(row.modified),
            Role::Version => Value::Int(row.version as i64),
            Role::FullName => {
                let def = &self.schema.tables[table];
                let first = def.col("firstname").map(|c| self.value(table, id, row, c));
                let last = def.col("lastname").map(|c| self.value(table, id, row, c));
                let mut s = String::new();
                if let Some(Value::Str(f)) = first {
                    s.push_str(&f);
                }
                if let Some(Value::Str(l)) = last {
                    if !s.is_empty() {
                        s.push(' ');
                    }
                    s.push_str(&l);
                }
                if s.is_empty() {
                    Value::Null
                } else {
                    Value::Str(s.into())
                }
            }
            Role::Data => match &row.data {
                RowData::Gen(index) => self.gen.value(&self.schema, table, *index, ci),
                RowData::Stored(values) => values.get(ci).cloned().unwrap_or(Value::Null),
            },
        }
    }

    /// All stored column values of a row (bookkeeping columns as `Null`).
    pub fn materialize(&self, table: TableId, id: u128, row: &Row) -> Vec<Value> {
        let def = &self.schema.tables[table];
        (0..def.columns.len())
            .map(|ci| if def.columns[ci].role == Role::Data { self.value(table, id, row, ci) } else { Value::Null })
            .collect()
    }

    /// The primary name of a row, for formatted lookup values.
    pub fn primary_name(&self, table: TableId, id: u128) -> Option<String> {
        let row = self.get(table, id)?;
        match self.value(table, id, row, self.schema.tables[table].primary_name) {
            Value::Str(s) => Some(s.into()),
            _ => None,
        }
    }

    /// Next row version.
    pub fn bump(&mut self) -> u64 {
        self.version += 1;
        self.version
    }

    fn record(&mut self, table: TableId, id: u128) {
        if self.undo.is_some() {
            let t = &self.tables[table];
            let row = t.rows.get(&id).cloned();
            let tomb = t.tomb_by_id.get(&id).and_then(|v| t.tombs.get(v).map(|tb| (*v, tb.clone())));
            if let Some(u) = self.undo.as_mut() {
                u.push(Undo { table, id, row, tomb });
            }
        }
    }

    /// Inserts or replaces a row with new values; returns the new version.
    pub fn put(&mut self, table: TableId, id: u128, values: Vec<Value>, created: i64, now: i64) -> u64 {
        self.record(table, id);
        let version = self.bump();
        self.note_put(table, id, &values, version);
        let t = &mut self.tables[table];
        if let Some(old) = t.rows.remove(&id) {
            t.changed.remove(&old.version);
        }
        if let Some(v) = t.tomb_by_id.remove(&id) {
            t.tombs.remove(&v);
        }
        t.rows.insert(id, Row { version, created, modified: now, data: RowData::Stored(values.into_boxed_slice()) });
        t.changed.insert(version, id);
        version
    }

    /// Deletes a row, leaving a tombstone. Returns false when it did not exist.
    pub fn delete(&mut self, table: TableId, id: u128) -> bool {
        if !self.tables[table].rows.contains_key(&id) {
            return false;
        }
        self.record(table, id);
        let version = self.bump();
        self.note_delete(table, id, version);
        let t = &mut self.tables[table];
        if let Some(old) = t.rows.remove(&id) {
            t.changed.remove(&old.version);
        }
        if let Some(v) = t.tomb_by_id.remove(&id) {
            t.tombs.remove(&v);
        }
        t.tombs.insert(version, Tomb { id });
        t.tomb_by_id.insert(id, version);
        true
    }

    /// Starts recording undo information (a changeset).
    pub fn begin(&mut self) {
        self.undo = Some(Vec::new());
        self.history.begin();
    }

    /// Keeps the changes since [`Store::begin`].
    pub fn commit(&mut self) {
        self.undo = None;
        self.history.commit();
    }

    /// Reverts every change since [`Store::begin`].
    pub fn rollback(&mut self) {
        self.history.rollback();
        let Some(entries) = self.undo.take() else { return };
        for u in entries.into_iter().rev() {
            let t = &mut self.tables[u.table];
            if let Some(cur) = t.rows.remove(&u.id) {
                t.changed.remove(&cur.version);
            }
            if let Some(v) = t.tomb_by_id.remove(&u.id) {
                t.tombs.remove(&v);
            }
            if let Some(r) = u.row {
                if r.version > self.base_version {
                    t.changed.insert(r.version, u.id);
                }
                t.rows.insert(u.id, r);
            }
            if let Some((v, tomb)) = u.tomb {
                t.tombs.insert(v, tomb);
                t.tomb_by_id.insert(u.id, v);
            }
        }
    }

    /// Current time for writes.
    pub fn now() -> i64 {
        clock::now_unix()
    }

    /// Effective max length of a text column.
    pub fn max_len(&self, table: TableId, ci: usize) -> Option<u32> {
        if let Some(m) = self.tables[table].max_len.get(&ci) {
            return Some(*m);
        }
        match self.schema.tables[table].columns[ci].kind {
            Kind::String { max } | Kind::Memo { max } => Some(max),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> Store {
        let schema = Arc::new(Schema::new());
        let gen = GenCtx { seed: 7, counts: [100, 50, 20, 0, 0], users: vec![1, 2], teams: vec![3] };
        Store::new(schema, gen, Vec::new(), &[])
    }

    #[test]
    fn generation_is_deterministic_and_about_1kb() {
        let a = store();
        let b = store();
        let id = gen_id(7, ACCOUNT, 5);
        let ra = a.get(ACCOUNT, id).unwrap();
        let rb = b.get(ACCOUNT, id).unwrap();
        let total: usize = (0..a.schema.tables[ACCOUNT].columns.len())
            .map(|c| {
                let v = a.value(ACCOUNT, id, ra, c);
                assert_eq!(v, b.value(ACCOUNT, id, rb, c));
                match v {
                    Value::Str(s) => s.len(),
                    _ => 12,
                }
            })
            .sum();
        assert!(total > 350 && total < 1000, "{total}"); // raw values; about 1.3 KB as JSON with names and etag
    }

    #[test]
    fn rollback_restores_rows_and_tombs() {
        let mut s = store();
        let id = gen_id(7, ACCOUNT, 1);
        let before = s.get(ACCOUNT, id).unwrap().version;
        s.begin();
        let vals = s.materialize(ACCOUNT, id, &s.get(ACCOUNT, id).unwrap().clone());
        s.put(ACCOUNT, id, vals, 0, 1);
        s.delete(ACCOUNT, id);
        s.put(ACCOUNT, 99, vec![Value::Null; 30], 0, 1);
        s.rollback();
        assert_eq!(s.get(ACCOUNT, id).unwrap().version, before);
        assert!(s.get(ACCOUNT, 99).is_none());
        assert!(s.tables[ACCOUNT].tombs.is_empty() && s.tables[ACCOUNT].changed.is_empty());
    }
}
