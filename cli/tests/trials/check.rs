//! The user-level invariants, as pure functions of what the users meant (the model), what the
//! server holds and wrote (rows and write history), and what each device holds (rows, outbox,
//! conflicts). The types here are the checker's own (not the core's), so the positive control can
//! fabricate any state and the checks survive changes of the core's API.
//!
//! (a) every local edit is on the server with the value the user last set, or shown to the user
//!     (a conflict listing that record/column, a refused change), or given up by the user, or
//!     overwritten later by another actor; a device's older value written after its newer one
//!     is always a violation (an old replay overwrote the newest edit), and so is a value the
//!     user gave up that reaches the server afterwards;
//! (b) no record is created twice on the server;
//! (c) every device's synced rows equal the server's (ids, etags, values);
//! (d) a sync that says `complete` leaves nothing in the outbox without a reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use super::gen::{Policy, Table};
use super::model::{author, Author, Model, Rec};

pub type Vals = BTreeMap<String, Option<String>>;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WKind {
    Insert,
    Update,
    Delete,
}

/// One accepted write (the emulator's write history).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HWrite {
    pub seq: u64,
    pub version: u64,
    pub kind: WKind,
    /// Changed properties (checked ones only) and their new values.
    pub cols: Vals,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerRow {
    pub etag: String,
    pub values: Vals,
}

/// What the server holds after the trial.
#[derive(Clone, Debug, Default)]
pub struct ServerView {
    pub rows: BTreeMap<Rec, ServerRow>,
    pub history: BTreeMap<Rec, Vec<HWrite>>,
    /// The checked values before the first operation (rows the emulator was seeded with).
    pub initial: BTreeMap<Rec, Vals>,
    /// Inserts per record from the emulator's own counter, when it has one.
    pub inserts: Option<BTreeMap<Rec, usize>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EOp {
    Create,
    Update,
    Delete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EState {
    Pending,
    InFlight,
    Parked,
}

/// An outbox entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub seq: i64,
    pub rec: Rec,
    pub op: EOp,
    pub state: EState,
    /// Changed properties (lookup annotations left out).
    pub changes: Vals,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CKind {
    Update,
    ServerDeleted,
    LocalDeleted,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConflictView {
    pub rec: Rec,
    pub kind: CKind,
    pub columns: Vec<String>,
    pub local: Vals,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalRow {
    pub etag: Option<String>,
    /// `RecordState::Synced`.
    pub synced: bool,
    pub state: String,
    pub values: Vals,
}

/// What one device holds.
#[derive(Clone, Debug, Default)]
pub struct DeviceView {
    pub dev: u8,
    /// Tables of its current profile.
    pub tables: Vec<Table>,
    pub rows: BTreeMap<Rec, LocalRow>,
    pub outbox: Vec<Entry>,
    pub conflicts: Vec<ConflictView>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum VKind {
    /// (a) an edit is neither on the server nor shown nor given up nor overwritten by another actor.
    LostEdit,
    /// (a) the same, for an edit of a table the device's profile dropped.
    LostByPurge,
    /// (a) a device's older value was written after its newer one.
    StaleReplay,
    /// (a) a value the user gave up reached the server afterwards.
    DiscardedLanded,
    /// (a) a local delete neither done, shown nor given up.
    LostDelete,
    /// (b) a record inserted more often than allowed.
    Duplicate,
    /// (c) a device's synced row differs from the server's (or is missing, or a ghost).
    Diverged,
    /// (d) a complete sync left an outbox entry without a reason.
    SilentLeftover,
    /// The heal could not finish (a sync failed, or it did not converge).
    Heal,
    /// The core failed (a sync returned `Internal`/`Storage`, a vault did not open again).
    CoreError,
}

impl VKind {
    pub fn label(self) -> &'static str {
        match self {
            VKind::LostEdit => "(a) lost edit",
            VKind::LostByPurge => "(a) edit lost when its table left the profile",
            VKind::StaleReplay => "(a) old replay overwrote a newer edit",
            VKind::DiscardedLanded => "(a) a discarded edit reached the server",
            VKind::LostDelete => "(a) lost delete",
            VKind::Duplicate => "(b) record created twice",
            VKind::Diverged => "(c) device differs from the server",
            VKind::SilentLeftover => "(d) complete sync left an outbox entry without a reason",
            VKind::Heal => "heal failed",
            VKind::CoreError => "core error",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    pub kind: VKind,
    pub dev: Option<u8>,
    pub detail: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.dev {
            Some(d) => write!(f, "{} on d{d}: {}", self.kind.label(), self.detail),
            None => write!(f, "{}: {}", self.kind.label(), self.detail),
        }
    }
}

/// What the checks need besides the states.
#[derive(Clone, Debug, Default)]
pub struct Ctx {
    pub policies: BTreeMap<Table, Policy>,
    /// Symbolic names of records (`acc[3]`, `con#u12`), for readable reports.
    pub names: BTreeMap<Rec, String>,
}

impl Ctx {
    fn name(&self, rec: &Rec) -> String {
        match self.names.get(rec) {
            Some(n) => format!("{n} ({})", &rec.1[..8.min(rec.1.len())]),
            None => format!("{} {}", rec.0.set(), rec.1),
        }
    }

    fn policy(&self, t: Table) -> Policy {
        self.policies.get(&t).copied().unwrap_or(Policy::MergeFields)
    }
}

fn show(v: Option<&str>) -> String {
    match v {
        None => "null".into(),
        Some(s) if s.len() > 24 => format!("{:?}…", &s[..24]),
        Some(s) => format!("{s:?}"),
    }
}

fn history_text(writes: &[HWrite], col: &str) -> String {
    let parts: Vec<String> = writes
        .iter()
        .filter(|w| w.kind != WKind::Update || w.cols.contains_key(col))
        .map(|w| match w.kind {
            WKind::Delete => format!("#{} delete", w.seq),
            k => {
                let v = w.cols.get(col).map_or("-".to_string(), |v| show(v.as_deref()));
                format!("#{} {}{col}={v}", w.seq, if k == WKind::Insert { "insert " } else { "" })
            }
        })
        .collect();
    let n = parts.len();
    let tail = if n > 8 { &parts[n - 8..] } else { &parts[..] };
    format!("[{}{}]", if n > 8 { "… " } else { "" }, tail.join(", "))
}

/// Why an outbox entry may still wait, for every entry of a device (`None`: no reason).
pub fn reasons(outbox: &[Entry], conflicts: &[ConflictView]) -> BTreeMap<i64, Option<&'static str>> {
    let conflicted: BTreeSet<&Rec> = conflicts.iter().map(|c| &c.rec).collect();
    let mut out: BTreeMap<i64, Option<&'static str>> = BTreeMap::new();
    for e in outbox {
        let r = if e.state == EState::Parked {
            Some("refused (parked)")
        } else if outbox.iter().any(|p| p.rec == e.rec && p.seq < e.seq && p.state == EState::Parked) {
            Some("behind a refused change of the record")
        } else if conflicted.contains(&e.rec) {
            Some("behind an open conflict of the record")
        } else {
            None
        };
        out.insert(e.seq, r);
    }
    // Waiting for an offline create that itself cannot go (transitively).
    loop {
        let mut changed = false;
        for e in outbox {
            if out[&e.seq].is_some() {
                continue;
            }
            let waits = e.changes.values().flatten().any(|id| {
                outbox.iter().any(|c| c.op == EOp::Create && c.rec.1 == *id && c.seq != e.seq && out[&c.seq].is_some())
            });
            if waits {
                out.insert(e.seq, Some("waits for a refused create"));
                changed = true;
            }
        }
        if !changed {
            return out;
        }
    }
}

/// (d): after a sync that said `complete`, every outbox entry has a reason. `exempt`: records
/// edited while the sync ran (their new entries may legitimately wait for the next sync).
pub fn check_after_complete_sync(ctx: &Ctx, d: &DeviceView, exempt: &[Rec], when: &str) -> Vec<Violation> {
    let reasons = reasons(&d.outbox, &d.conflicts);
    d.outbox
        .iter()
        .filter(|e| reasons[&e.seq].is_none() && !exempt.contains(&e.rec))
        .map(|e| Violation {
            kind: VKind::SilentLeftover,
            dev: Some(d.dev),
            detail: format!(
                "{when}: the sync said complete, yet {:?} entry #{} of {} ({:?}, columns {:?}) waits with no reason",
                e.op,
                e.seq,
                ctx.name(&e.rec),
                e.state,
                e.changes.keys().collect::<Vec<_>>()
            ),
        })
        .collect()
}

/// Whether the device shows the user why `col` of `rec` is not on the server.
fn shown(d: &DeviceView, rec: &Rec, col: Option<&str>) -> Option<&'static str> {
    for c in d.conflicts.iter().filter(|c| c.rec == *rec) {
        let lists = match col {
            None => true,
            Some(col) => c.kind != CKind::Update || c.columns.iter().any(|x| x == col) || c.local.contains_key(col),
        };
        if lists {
            return Some("conflict");
        }
    }
    let reasons = reasons(&d.outbox, &d.conflicts);
    for e in d.outbox.iter().filter(|e| e.rec == *rec) {
        let covers = match col {
            None => e.op == EOp::Delete,
            Some(col) => e.op == EOp::Create || e.changes.contains_key(col),
        };
        if covers {
            if let Some(r) = reasons[&e.seq] {
                return Some(r);
            }
        }
    }
    None
}

/// The value a write gave `col` (an insert gives every column it does not name null).
/// Whether `writes[i]` is a re-create (an insert after a delete) written by a device other
/// than `dev`: it carries a value of that other device that no earlier write had — an edit of
/// its own, so the insert is its push. A re-create sends the re-creating device's whole local
/// view, with the values of other devices as it knew them (`docs/sync.md`, "Re-creates"): such
/// a value is that device's decision, not a replay or a landing of `dev`'s edit.
fn recreate_by_other(writes: &[HWrite], i: usize, dev: u8) -> bool {
    let w = &writes[i];
    if w.kind != WKind::Insert || !writes[..i].iter().any(|p| p.kind == WKind::Delete) {
        return false;
    }
    w.cols.values().any(|v| match author(v.as_deref()) {
        Author::Device(e) if e != dev => !writes[..i].iter().any(|p| p.cols.values().any(|pv| pv == v)),
        _ => false,
    })
}

fn wval<'w>(w: &'w HWrite, col: &str) -> Option<&'w Option<String>> {
    const NULL: &Option<String> = &None;
    match (w.cols.get(col), w.kind) {
        (Some(v), _) => Some(v),
        (None, WKind::Insert) => Some(NULL),
        (None, _) => None,
    }
}

/// A write by someone else than device `dev`: a delete, an insert, or a change of a checked
/// property to a value `dev` did not write.
fn foreign(w: &HWrite, dev: u8) -> bool {
    match w.kind {
        WKind::Delete | WKind::Insert => true,
        // A write that changed nothing we check is someone's too (the version moved).
        WKind::Update => w.cols.is_empty() || w.cols.values().any(|v| author(v.as_deref()) != Author::Device(dev)),
    }
}

fn in_flight_text(d: &DeviceView, rec: &Rec) -> String {
    let es: Vec<String> = d
        .outbox
        .iter()
        .filter(|e| e.rec == *rec)
        .map(|e| format!("#{} {:?} {:?} {:?}", e.seq, e.op, e.state, e.changes.keys().collect::<Vec<_>>()))
        .collect();
    if es.is_empty() {
        "outbox: nothing for it".into()
    } else {
        format!("outbox: {}", es.join("; "))
    }
}

/// (a), (b) and (c) after the heal.
pub fn check_final(ctx: &Ctx, model: &Model, server: &ServerView, devices: &[DeviceView]) -> Vec<Violation> {
    let mut out = Vec::new();
    let empty: Vec<HWrite> = Vec::new();
    for ((dev, rec), intent) in &model.recs {
        let Some(d) = devices.iter().find(|d| d.dev == *dev) else { continue };
        // The seeded row counts as write #0: an edit that set the value the server already had
        // (clearing a lookup that was empty) landed without changing anything.
        let seeded: Vec<HWrite> = server
            .initial
            .get(rec)
            .map(|cols| HWrite { seq: 0, version: 0, kind: WKind::Insert, cols: cols.clone() })
            .into_iter()
            .chain(server.history.get(rec).unwrap_or(&empty).iter().cloned())
            .collect();
        let writes = &seeded[..];
        let row = server.rows.get(rec);
        let policy = ctx.policy(rec.0);
        for (col, ci) in &intent.cols {
            let text_col = rec.0.text_columns().contains(&col.as_str());
            // An older value of this device written after a newer one.
            let mut stale = false;
            if text_col {
                let mut newest: Option<(u64, Option<String>, u32)> = None;
                for (i, w) in writes.iter().enumerate() {
                    let Some(v) = w.cols.get(col) else { continue };
                    if author(v.as_deref()) != Author::Device(*dev) || recreate_by_other(writes, i, *dev) {
                        continue;
                    }
                    let Some(s) = ci.last_set_of(v.as_deref()) else { continue };
                    if let Some((t, nv, nu)) = &newest {
                        if s.t < *t {
                            stale = true;
                            out.push(Violation {
                                kind: VKind::StaleReplay,
                                dev: Some(*dev),
                                detail: format!(
                                    "{}.{col}: {} (set by u{}) was written (write #{}) after the newer {} (set by u{nu}); history {}",
                                    ctx.name(rec),
                                    show(v.as_deref()),
                                    s.uid,
                                    w.seq,
                                    show(nv.as_deref()),
                                    history_text(writes, col)
                                ),
                            });
                            break;
                        }
                    }
                    if newest.as_ref().is_none_or(|(t, _, _)| s.t > *t) {
                        newest = Some((s.t, s.value.clone(), s.uid));
                    }
                }
                // A value given up that reached the server afterwards.
                if let Some((t_disc, hist)) = ci.discarded {
                    if let Some(gone) = ci.sets.iter().rev().find(|s| s.t <= t_disc) {
                        let again = ci.last_set_of(gone.value.as_deref()).is_some_and(|s| s.t > t_disc);
                        let landed = writes.iter().enumerate().find_map(|(i, w)| {
                            (w.seq > hist
                                && w.cols.get(col) == Some(&gone.value)
                                && !recreate_by_other(writes, i, *dev))
                            .then_some(w)
                        });
                        if let (Some(w), false) = (landed, again) {
                            out.push(Violation {
                                kind: VKind::DiscardedLanded,
                                dev: Some(*dev),
                                detail: format!(
                                    "{}.{col}: {} (set by u{}) was given up by the user, then written (write #{}); history {}",
                                    ctx.name(rec),
                                    show(gone.value.as_deref()),
                                    gone.uid,
                                    w.seq,
                                    history_text(writes, col)
                                ),
                            });
                        }
                    }
                }
            }
            let Some(last) = ci.live() else { continue };
            if row.is_some_and(|r| r.values.get(col) == Some(&last.value)) {
                continue;
            }
            if shown(d, rec, Some(col)).is_some() {
                continue;
            }
            // Landed, then overwritten (or deleted) by someone else.
            let landed = writes.iter().rposition(|w| w.kind != WKind::Delete && wval(w, col) == Some(&last.value));
            // Lookup ids carry no author: a value only this device ever set is its own.
            let only_mine = |v: &Option<String>| {
                let setters: BTreeSet<u8> = model
                    .recs
                    .iter()
                    .filter(|((_, r), i)| {
                        r == rec && i.cols.get(col).is_some_and(|c| c.sets.iter().any(|s| s.value == *v))
                    })
                    .map(|((d, _), _)| *d)
                    .collect();
                setters.len() == 1 && setters.contains(dev)
            };
            let overwritten = landed.is_some_and(|i| {
                writes[i + 1..].iter().any(|w| {
                    w.kind == WKind::Delete
                        || wval(w, col).is_some_and(|v| {
                            if text_col {
                                author(v.as_deref()) != Author::Device(*dev)
                            } else {
                                !only_mine(v)
                            }
                        })
                })
            });
            if overwritten {
                continue;
            }
            // The table's policy lets the server win over a concurrent change. An edit with no
            // base version was made on this device's own create before the server had answered
            // it: every foreign write of the record is concurrent with it (long run of
            // 2026-12-04, seed 17998575137772257703: the create landed, the edit was refused,
            // retried, and lost to a newer server write by the `server_wins` policy — correct).
            if policy == Policy::ServerWins
                && landed.is_none()
                && writes.iter().any(|w| w.version > last.base_version.unwrap_or(0) && foreign(w, *dev))
            {
                continue;
            }
            if stale {
                continue; // reported above
            }
            let purged = model.purges.iter().any(|(pd, pt, t)| pd == dev && *pt == rec.0 && *t >= last.t);
            out.push(Violation {
                kind: if purged { VKind::LostByPurge } else { VKind::LostEdit },
                dev: Some(*dev),
                detail: format!(
                    "{}.{col} = {} (set by u{}{}): the server has {}, {}; it is not shown as a conflict or refused change; {}; history {}",
                    ctx.name(rec),
                    show(last.value.as_deref()),
                    last.uid,
                    if purged { ", then the table left the profile" } else { "" },
                    match row {
                        Some(r) => show(r.values.get(col).and_then(|v| v.as_deref())),
                        None => "no such row".into(),
                    },
                    if landed.is_some() { "it landed once and was overwritten by this device" } else { "it never landed" },
                    in_flight_text(d, rec),
                    history_text(writes, col)
                ),
            });
        }
        // The record's delete.
        if let Some(del) = intent.delete.as_ref().filter(|d| !d.discarded) {
            if row.is_none() || shown(d, rec, None).is_some() {
                continue;
            }
            if d.conflicts.iter().any(|c| c.rec == *rec) {
                continue;
            }
            let last_delete = writes.iter().rposition(|w| w.kind == WKind::Delete);
            if last_delete.is_some_and(|i| writes[i + 1..].iter().any(|w| w.kind == WKind::Insert)) {
                continue; // deleted, then created again by someone
            }
            if policy == Policy::ServerWins
                && del.base_version.is_some_and(|b| writes.iter().any(|w| w.version > b && foreign(w, *dev)))
            {
                continue;
            }
            out.push(Violation {
                kind: VKind::LostDelete,
                dev: Some(*dev),
                detail: format!(
                    "{} deleted by u{}: still on the server, not shown as a conflict or refused change; {}; history {}",
                    ctx.name(rec),
                    del.uid,
                    in_flight_text(d, rec),
                    history_text(writes, rec.0.text_columns()[0])
                ),
            });
        }
    }

    // (b) no record created twice.
    for (rec, writes) in &server.history {
        let counted = writes.iter().filter(|w| w.kind == WKind::Insert).count();
        let inserts = server.inserts.as_ref().and_then(|m| m.get(rec).copied()).unwrap_or(counted).max(counted);
        let mut allowed =
            usize::from(model.created.contains_key(rec)) + usize::from(model.server_created.contains_key(rec));
        allowed += model.recreates.get(rec).copied().unwrap_or(0) as usize;
        if ctx.policy(rec.0) == Policy::ClientWins {
            allowed += writes.iter().filter(|w| w.kind == WKind::Delete).count();
        }
        if inserts > allowed {
            let after_delete = writes
                .iter()
                .position(|w| w.kind == WKind::Delete)
                .is_some_and(|i| writes[i + 1..].iter().any(|w| w.kind == WKind::Insert));
            out.push(Violation {
                kind: VKind::Duplicate,
                dev: None,
                detail: format!(
                    "{} was inserted {inserts} times ({allowed} allowed){}; history {}",
                    ctx.name(rec),
                    if after_delete { ", re-created after a server delete" } else { "" },
                    history_text(writes, rec.0.text_columns()[0])
                ),
            });
        }
    }
    for (rec, (dev, uid)) in &model.created {
        let marker = Some(format!("d{dev}-u{uid}"));
        let col = rec.0.text_columns()[0];
        let holders: Vec<&Rec> = server
            .rows
            .iter()
            .filter(|(r, s)| r.0 == rec.0 && s.values.get(col) == Some(&marker))
            .map(|(r, _)| r)
            .collect();
        if holders.len() > 1 {
            out.push(Violation {
                kind: VKind::Duplicate,
                dev: Some(*dev),
                detail: format!(
                    "the create u{uid} ({col} = {}) is on the server {} times: {:?}",
                    show(marker.as_deref()),
                    holders.len(),
                    holders.iter().map(|r| &r.1).collect::<Vec<_>>()
                ),
            });
        }
    }

    // (c) synced rows equal the server's.
    for d in devices {
        let waiting: BTreeSet<&Rec> =
            d.outbox.iter().map(|e| &e.rec).chain(d.conflicts.iter().map(|c| &c.rec)).collect();
        for (rec, l) in d.rows.iter().filter(|(r, _)| d.tables.contains(&r.0)) {
            if waiting.contains(rec) {
                continue;
            }
            let problem = match (l.synced, server.rows.get(rec)) {
                (false, _) => {
                    Some(format!("is {} locally with nothing waiting in the outbox and no conflict", l.state))
                }
                (true, None) => Some("is synced locally but gone on the server (a ghost)".to_string()),
                (true, Some(s)) => {
                    let etag_ok = l.etag.as_deref() == Some(s.etag.as_str());
                    let diffs: Vec<String> = rec
                        .0
                        .checked_properties()
                        .iter()
                        .filter_map(|p| {
                            let a = l.values.get(*p).cloned().flatten();
                            let b = s.values.get(*p).cloned().flatten();
                            let same = match (&a, &b) {
                                (Some(x), Some(y)) if p.ends_with("_value") => x.eq_ignore_ascii_case(y),
                                _ => a == b,
                            };
                            (!same).then(|| format!("{p}: device {} server {}", show(a.as_deref()), show(b.as_deref())))
                        })
                        .collect();
                    if etag_ok && diffs.is_empty() {
                        None
                    } else {
                        Some(format!(
                            "differs from the server: etag device {:?} server {:?}{}{}",
                            l.etag,
                            s.etag,
                            if diffs.is_empty() { "" } else { "; " },
                            diffs.join("; ")
                        ))
                    }
                }
            };
            if let Some(p) = problem {
                out.push(Violation {
                    kind: VKind::Diverged,
                    dev: Some(d.dev),
                    detail: format!("{} {p}", ctx.name(rec)),
                });
            }
        }
        for (rec, _) in server.rows.iter().filter(|(r, _)| d.tables.contains(&r.0)) {
            if !d.rows.contains_key(rec) && !waiting.contains(rec) {
                out.push(Violation {
                    kind: VKind::Diverged,
                    dev: Some(d.dev),
                    detail: format!("{} is on the server but missing on the device", ctx.name(rec)),
                });
            }
        }
    }
    out
}
