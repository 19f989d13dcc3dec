//! What the users meant: every value a device's user set (each one globally unique), deletes,
//! and the decisions they took (discarding a refused change, resolving a conflict). The
//! invariants compare this with what the server and the devices hold in the end.

use std::collections::BTreeMap;

use super::gen::Table;

/// A record: table and lower-case id.
pub type Rec = (Table, String);

/// One value the user set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Set {
    /// Logical time (operation order; a sub-step of a sync counts as the sync's time).
    pub t: u64,
    pub value: Option<String>,
    /// The version of the server copy the edit was based on (its outbox entry's base etag).
    pub base_version: Option<u64>,
    /// The operation that set it.
    pub uid: u32,
}

/// A column of a record on one device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ColIntent {
    pub sets: Vec<Set>,
    /// The user gave up the newest value (discarded a refused change, took the server's side):
    /// (time, the write history's length then).
    pub discarded: Option<(u64, u64)>,
    /// A later local delete of the record made the value moot.
    pub superseded: Option<u64>,
}

impl ColIntent {
    /// The newest value, unless given up or superseded since.
    pub fn live(&self) -> Option<&Set> {
        let last = self.sets.last()?;
        let gone = |t: Option<u64>| t.is_some_and(|t| t >= last.t);
        if gone(self.discarded.map(|d| d.0)) || gone(self.superseded) {
            return None;
        }
        Some(last)
    }

    /// The last time the user set `value`.
    pub fn last_set_of(&self, value: Option<&str>) -> Option<&Set> {
        self.sets.iter().rev().find(|s| s.value.as_deref() == value)
    }
}

/// A local delete.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DelIntent {
    pub t: u64,
    pub base_version: Option<u64>,
    pub uid: u32,
    /// The user gave the delete up (discarded it, or took the server's side of its conflict).
    pub discarded: bool,
}

/// A record on one device.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecIntent {
    pub cols: BTreeMap<String, ColIntent>,
    pub delete: Option<DelIntent>,
}

/// Everything the users meant, for all devices.
#[derive(Clone, Debug, Default)]
pub struct Model {
    /// (device, record) → intent.
    pub recs: BTreeMap<(u8, Rec), RecIntent>,
    /// Records created offline: record → (device, uid).
    pub created: BTreeMap<Rec, (u8, u32)>,
    /// Records the other user created on the server.
    pub server_created: BTreeMap<Rec, u32>,
    /// Recreations the users asked for (a server-deleted record kept): record → count.
    pub recreates: BTreeMap<Rec, u32>,
    /// Tables purged from a device after leaving its profile: (device, table, time).
    pub purges: Vec<(u8, Table, u64)>,
}

impl Model {
    #[allow(clippy::too_many_arguments)]
    pub fn set(&mut self, dev: u8, rec: &Rec, col: &str, value: Option<String>, t: u64, base: Option<u64>, uid: u32) {
        let r = self.recs.entry((dev, rec.clone())).or_default();
        r.cols.entry(col.to_string()).or_default().sets.push(Set { t, value, base_version: base, uid });
        // Setting a value again after a delete was given up: the record lives on.
        if let Some(d) = &r.delete {
            if d.discarded || d.t < t {
                // An update after a delete cannot happen locally (the record is hidden); after a
                // resolution that keeps the record, the delete is over.
                r.delete = None;
            }
        }
    }

    pub fn delete(&mut self, dev: u8, rec: &Rec, t: u64, base: Option<u64>, uid: u32) {
        let r = self.recs.entry((dev, rec.clone())).or_default();
        for c in r.cols.values_mut() {
            c.superseded = Some(t);
        }
        r.delete = Some(DelIntent { t, base_version: base, uid, discarded: false });
    }

    /// The user gave up the value `value` of a column (only if it is still the newest one).
    pub fn discard_col(&mut self, dev: u8, rec: &Rec, col: &str, value: Option<&str>, t: u64, hist: u64) {
        if let Some(c) = self.recs.get_mut(&(dev, rec.clone())).and_then(|r| r.cols.get_mut(col)) {
            if c.sets.last().is_some_and(|s| s.value.as_deref() == value) {
                c.discarded = Some((t, hist));
            }
        }
    }

    /// The user gave up every value of the record (a discarded create, a server delete accepted).
    pub fn discard_record(&mut self, dev: u8, rec: &Rec, t: u64, hist: u64) {
        if let Some(r) = self.recs.get_mut(&(dev, rec.clone())) {
            for c in r.cols.values_mut() {
                if !c.sets.is_empty() {
                    c.discarded = Some((t, hist));
                }
            }
            if let Some(d) = &mut r.delete {
                d.discarded = true;
            }
        }
    }

    pub fn discard_delete(&mut self, dev: u8, rec: &Rec) {
        if let Some(d) = self.recs.get_mut(&(dev, rec.clone())).and_then(|r| r.delete.as_mut()) {
            d.discarded = true;
        }
    }
}

/// Who wrote a value: `d<n>-u<uid>…` (device n), `srv-u<uid>…` (the other user), or neither
/// (generated data, lookups).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Author {
    Device(u8),
    Server,
    Unknown,
}

pub fn author(value: Option<&str>) -> Author {
    let Some(v) = value else { return Author::Unknown };
    if v.starts_with("srv-u") {
        return Author::Server;
    }
    if let Some(rest) = v.strip_prefix('d') {
        if let Some((n, tail)) = rest.split_once('-') {
            if tail.starts_with('u') {
                if let Ok(n) = n.parse() {
                    return Author::Device(n);
                }
            }
        }
    }
    Author::Unknown
}

/// `W/"123"` → 123.
pub fn etag_version(etag: Option<&str>) -> Option<u64> {
    let e = etag?;
    e.trim_start_matches("W/").trim_matches('"').parse().ok()
}
