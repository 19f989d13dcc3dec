//! The trial generator: a seeded xorshift RNG, the operations a trial is made of, and a seed →
//! trial function. Operations refer to records symbolically (a server row by index, a record
//! created offline by the uid of the operation that created it), so any sub-list of a trial is a
//! trial too: the shrinker removes operations freely, and an operation whose record is not there
//! when it runs is skipped.

use std::fmt;

/// xorshift64*: small, seeded, reproducible.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(splitmix(seed) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            return 0;
        }
        self.next() % n
    }

    /// True with `percent` % probability.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len() as u64) as usize]
    }
}

/// A good 64-bit mix (seed → trial seeds, and the RNG's start state).
pub fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The tables of a trial.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Table {
    Accounts,
    Contacts,
    Tasks,
}

pub const TABLES: [Table; 3] = [Table::Accounts, Table::Contacts, Table::Tasks];

/// A lookup column: its property, its profile name and the tables it may point at.
pub struct Lookup {
    pub property: &'static str,
    pub targets: &'static [Table],
}

impl Table {
    pub fn set(self) -> &'static str {
        match self {
            Table::Accounts => "accounts",
            Table::Contacts => "contacts",
            Table::Tasks => "tasks",
        }
    }

    pub fn logical(self) -> &'static str {
        match self {
            Table::Accounts => "account",
            Table::Contacts => "contact",
            Table::Tasks => "task",
        }
    }

    pub fn from_set(set: &str) -> Option<Table> {
        TABLES.into_iter().find(|t| t.set() == set)
    }

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn primary_id(self) -> &'static str {
        match self {
            Table::Accounts => "accountid",
            Table::Contacts => "contactid",
            Table::Tasks => "activityid",
        }
    }

    /// Text columns the user edits; the first one is set by every create.
    pub fn text_columns(self) -> &'static [&'static str] {
        match self {
            Table::Accounts => &["name", "telephone1", "description"],
            Table::Contacts => &["lastname", "jobtitle", "telephone1", "description"],
            Table::Tasks => &["subject", "description"],
        }
    }

    /// The longest text a column takes (a longer one is refused by the server: a parked edit).
    pub fn max_length(self, column: &str) -> usize {
        match (self, column) {
            (_, "telephone1") => 50,
            (Table::Contacts, "lastname") => 50,
            (Table::Contacts, "jobtitle") => 100,
            (Table::Accounts, "name") => 160,
            (Table::Tasks, "subject") => 200,
            _ => 2000,
        }
    }

    pub fn lookups(self) -> &'static [Lookup] {
        match self {
            Table::Accounts => &[Lookup { property: "_primarycontactid_value", targets: &[Table::Contacts] }],
            Table::Contacts => {
                &[Lookup { property: "_parentcustomerid_value", targets: &[Table::Accounts, Table::Contacts] }]
            }
            Table::Tasks => {
                &[Lookup { property: "_regardingobjectid_value", targets: &[Table::Accounts, Table::Contacts] }]
            }
        }
    }

    /// Profile column names (logical names; lookups without `_…_value`).
    pub fn profile_columns(self) -> Vec<String> {
        let mut c: Vec<String> = self.text_columns().iter().map(|s| s.to_string()).collect();
        for l in self.lookups() {
            c.push(l.property.trim_start_matches('_').trim_end_matches("_value").to_string());
        }
        c
    }

    /// The properties a trial compares between devices and the server (text columns and lookups).
    pub fn checked_properties(self) -> Vec<&'static str> {
        let mut c: Vec<&'static str> = self.text_columns().to_vec();
        c.extend(self.lookups().iter().map(|l| l.property));
        c
    }

    pub fn short(self) -> &'static str {
        match self {
            Table::Accounts => "acc",
            Table::Contacts => "con",
            Table::Tasks => "task",
        }
    }
}

/// A record, symbolically.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// The n-th generated row of a table (modulo the table's row count).
    Server(Table, u32),
    /// The record created offline by the operation with this uid.
    Local(Table, u32),
}

impl Target {
    pub fn table(self) -> Table {
        match self {
            Target::Server(t, _) | Target::Local(t, _) => t,
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Server(t, i) => write!(f, "{}[{i}]", t.short()),
            Target::Local(t, u) => write!(f, "{}#u{u}", t.short()),
        }
    }
}

/// Conflict policies a trial gives its tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    MergeFields,
    Manual,
    ClientWins,
    ServerWins,
}

impl Policy {
    pub fn toml(self) -> &'static str {
        match self {
            Policy::MergeFields => "merge_fields",
            Policy::Manual => "manual",
            Policy::ClientWins => "client_wins",
            Policy::ServerWins => "server_wins",
        }
    }
}

/// Requests a fault applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum On {
    Batch,
    Delta,
    AnyData,
}

impl On {
    pub fn path(self) -> &'static str {
        match self {
            On::Batch => "$batch",
            On::Delta => "deltatoken",
            On::AnyData => "/api/data/",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultOp {
    /// The connection drops after the headers and half the body (the request was handled).
    Drop { on: On, count: u32 },
    /// A 5xx answer instead of handling the request.
    Status { on: On, status: u16, count: u32 },
    /// 429 with `Retry-After: 1`.
    Throttle,
    /// The write is applied, then the connection drops before the answer (`lost_ack`; for a
    /// `$batch`, optionally after the first n parts only).
    LostAck { after_parts: Option<u32> },
    /// Every access token issued so far expires.
    ExpireAccess,
    /// Every delta token issued so far expires.
    ExpireDelta,
}

/// When the concurrent edit of a sync with a mid-sync edit lands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MidWait {
    /// Once an outbox entry is in flight, the `$batch` being held by a delay fault.
    InFlight { batch_delay_ms: u32 },
    /// This long after the sync started.
    AfterMs(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MidEdit {
    /// `None`: a record of the entries in flight (or the first text column of `fallback`).
    pub in_flight_record: bool,
    pub fallback: Target,
    pub column: u8,
    pub wait: MidWait,
    /// Delete the record instead of editing it.
    pub delete: bool,
}

/// How a child `outpost sync` dies.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KillHow {
    /// SIGKILL after the delay.
    Timed,
    /// SIGKILL after the delay, while its `$batch` is held 200 ms by the emulator.
    HoldBatch,
    /// Aborts at the n-th `push.after_ack` (the server applied a `$batch`; nothing settled).
    AfterAck(u32),
    /// Aborts at the n-th `pull.after_page_commit`.
    AfterPage(u32),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum How {
    TakeLocal,
    TakeServer,
    Values,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// A local create; its first text column (and description) get unique values; optionally a
    /// lookup to another record (often another offline create).
    Create {
        dev: u8,
        table: Table,
        lookup: Option<Target>,
    },
    /// A local update of one text column; `long`: a value the server refuses (too long).
    Update {
        dev: u8,
        target: Target,
        column: u8,
        long: bool,
    },
    /// A local update of the table's lookup (`None`: clear it).
    SetLookup {
        dev: u8,
        target: Target,
        to: Option<Target>,
    },
    Delete {
        dev: u8,
        target: Target,
    },
    /// Another user updates a text column on the server.
    ServerUpdate {
        target: Target,
        column: u8,
    },
    ServerDelete {
        target: Target,
    },
    ServerCreate {
        table: Table,
    },
    Sync {
        dev: u8,
        mid: Option<MidEdit>,
    },
    /// Every device syncs once, in order (faults stay).
    SyncAll,
    Fault(FaultOp),
    /// `outpost sync` in a child process, killed: SIGKILLed this long after its first request is
    /// answered, or aborted at a failpoint.
    Kill {
        dev: u8,
        delay_ms: u32,
        how: KillHow,
    },
    /// The device's engine is rebuilt with the profile without `without` (or the whole profile).
    Profile {
        dev: u8,
        without: Option<Table>,
    },
    /// The user resolves the n-th open conflict.
    Resolve {
        dev: u8,
        pick: u32,
        how: How,
    },
    /// The user retries or discards the n-th refused change.
    Parked {
        dev: u8,
        pick: u32,
        retry: bool,
    },
    /// The user's write privilege on a table is taken away or given back.
    Privilege {
        table: Table,
        write: bool,
    },
}

impl Op {
    /// The name used in the operation mix.
    pub fn kind(&self) -> &'static str {
        match self {
            Op::Create { lookup: Some(_), .. } => "create (with lookup)",
            Op::Create { .. } => "create",
            Op::Update { long: true, .. } => "update (refused value)",
            Op::Update { .. } => "update",
            Op::SetLookup { .. } => "set lookup",
            Op::Delete { target: Target::Local(..), .. } => "delete (offline create)",
            Op::Delete { .. } => "delete",
            Op::ServerUpdate { .. } => "server update",
            Op::ServerDelete { .. } => "server delete",
            Op::ServerCreate { .. } => "server create",
            Op::Sync { mid: Some(MidEdit { delete: true, .. }), .. } => "sync + delete mid-sync",
            Op::Sync { mid: Some(MidEdit { wait: MidWait::InFlight { .. }, .. }), .. } => "sync + edit mid-push",
            Op::Sync { mid: Some(_), .. } => "sync + edit mid-sync",
            Op::Sync { .. } => "sync",
            Op::SyncAll => "sync of every device",
            Op::Fault(FaultOp::Drop { .. }) => "fault: dropped connection",
            Op::Fault(FaultOp::Status { .. }) => "fault: 5xx",
            Op::Fault(FaultOp::Throttle) => "fault: 429",
            Op::Fault(FaultOp::LostAck { after_parts: None }) => "fault: lost ack",
            Op::Fault(FaultOp::LostAck { .. }) => "fault: lost ack after n parts",
            Op::Fault(FaultOp::ExpireAccess) => "fault: access tokens expire",
            Op::Fault(FaultOp::ExpireDelta) => "fault: delta tokens expire",
            Op::Kill { how: KillHow::Timed | KillHow::HoldBatch, .. } => "kill -9 of outpost sync",
            Op::Kill { how: KillHow::AfterAck(_), .. } => "outpost sync dies after a $batch ack",
            Op::Kill { how: KillHow::AfterPage(_), .. } => "outpost sync dies after a page",
            Op::Profile { without: Some(_), .. } => "profile without a table",
            Op::Profile { .. } => "profile complete again",
            Op::Resolve { how: How::TakeLocal, .. } => "resolve: take local",
            Op::Resolve { how: How::TakeServer, .. } => "resolve: take server",
            Op::Resolve { .. } => "resolve: new values",
            Op::Parked { retry: true, .. } => "refused: retry",
            Op::Parked { .. } => "refused: discard",
            Op::Privilege { write: false, .. } => "privilege: write revoked",
            Op::Privilege { .. } => "privilege: write restored",
        }
    }
}

/// One operation with its uid (stable under shrinking: it names values and records).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub uid: u32,
    pub op: Op,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let u = self.uid;
        match self.op {
            Op::Create { dev, table, lookup } => {
                write!(f, "u{u}: d{dev} create {}#u{u}", table.short())?;
                if let Some(t) = lookup {
                    write!(f, " {}→{t}", table.lookups()[0].property)?;
                }
                Ok(())
            }
            Op::Update { dev, target, column, long } => {
                let c = column_name(target.table(), column);
                write!(f, "u{u}: d{dev} update {target}.{c}{}", if long { " (too long: refused)" } else { "" })
            }
            Op::SetLookup { dev, target, to } => match to {
                Some(to) => write!(f, "u{u}: d{dev} set {target}.{}→{to}", target.table().lookups()[0].property),
                None => write!(f, "u{u}: d{dev} clear {target}.{}", target.table().lookups()[0].property),
            },
            Op::Delete { dev, target } => write!(f, "u{u}: d{dev} delete {target}"),
            Op::ServerUpdate { target, column } => {
                write!(f, "u{u}: server update {target}.{}", column_name(target.table(), column))
            }
            Op::ServerDelete { target } => write!(f, "u{u}: server delete {target}"),
            Op::ServerCreate { table } => write!(f, "u{u}: server create {}#u{u}", table.short()),
            Op::Sync { dev, mid: None } => write!(f, "u{u}: d{dev} sync"),
            Op::SyncAll => write!(f, "u{u}: every device syncs"),
            Op::Sync { dev, mid: Some(m) } => {
                let what = if m.in_flight_record { "a record in flight".to_string() } else { m.fallback.to_string() };
                let when = match m.wait {
                    MidWait::InFlight { batch_delay_ms } => {
                        format!("while in flight ($batch held {batch_delay_ms} ms)")
                    }
                    MidWait::AfterMs(ms) => format!("{ms} ms after the start"),
                };
                if m.delete {
                    write!(f, "u{u}: d{dev} sync, deleting {what} {when}")
                } else {
                    write!(f, "u{u}: d{dev} sync, editing {what} (column {}) {when}", m.column)
                }
            }
            Op::Fault(fault) => match fault {
                FaultOp::Drop { on, count } => write!(f, "u{u}: fault: drop the connection of the next {count} {on:?}"),
                FaultOp::Status { on, status, count } => write!(f, "u{u}: fault: {status} for the next {count} {on:?}"),
                FaultOp::Throttle => write!(f, "u{u}: fault: 429 Retry-After 1 for the next data request"),
                FaultOp::LostAck { after_parts: None } => write!(f, "u{u}: fault: lost ack of the next $batch"),
                FaultOp::LostAck { after_parts: Some(n) } => {
                    write!(f, "u{u}: fault: lost ack of the next $batch after {n} parts")
                }
                FaultOp::ExpireAccess => write!(f, "u{u}: fault: expire access tokens"),
                FaultOp::ExpireDelta => write!(f, "u{u}: fault: expire delta tokens"),
            },
            Op::Kill { dev, delay_ms, how } => match how {
                KillHow::Timed => write!(f, "u{u}: d{dev} outpost sync, kill -9 {delay_ms} ms in"),
                KillHow::HoldBatch => write!(f, "u{u}: d{dev} outpost sync, $batch held, kill -9 {delay_ms} ms in"),
                KillHow::AfterAck(n) => write!(f, "u{u}: d{dev} outpost sync, abort at push.after_ack #{n}"),
                KillHow::AfterPage(n) => write!(f, "u{u}: d{dev} outpost sync, abort at pull.after_page_commit #{n}"),
            },
            Op::Profile { dev, without: Some(t) } => write!(f, "u{u}: d{dev} profile without {}", t.set()),
            Op::Profile { dev, without: None } => write!(f, "u{u}: d{dev} profile complete"),
            Op::Resolve { dev, pick, how } => write!(f, "u{u}: d{dev} resolve conflict #{pick} {how:?}"),
            Op::Parked { dev, pick, retry } => {
                write!(f, "u{u}: d{dev} {} refused change #{pick}", if retry { "retry" } else { "discard" })
            }
            Op::Privilege { table, write } => {
                write!(f, "u{u}: server {} write on {}", if write { "grants" } else { "revokes" }, table.set())
            }
        }
    }
}

/// Mostly the first column (so edits of devices and the server meet), sometimes any.
fn hot_column(rng: &mut Rng) -> u8 {
    if rng.chance(55) {
        0
    } else {
        rng.below(4) as u8
    }
}

pub fn column_name(table: Table, column: u8) -> &'static str {
    let cols = table.text_columns();
    cols[column as usize % cols.len()]
}

/// A whole trial: the world and the operations.
#[derive(Clone, Debug)]
pub struct Spec {
    pub seed: u64,
    pub devices: u8,
    pub rows: [u32; 3],
    pub policies: [Policy; 3],
    pub push_batch_size: usize,
    pub concurrency: usize,
    pub steps: Vec<Step>,
}

impl Spec {
    pub fn policy(&self, t: Table) -> Policy {
        self.policies[t.index()]
    }
}

/// Knobs of the generator (the script's modes set them through the environment).
#[derive(Clone, Copy, Debug)]
pub struct Knobs {
    /// Percentage of trials with kills of a child `outpost sync`.
    pub kill_percent: u64,
    pub min_ops: u64,
    pub max_ops: u64,
}

impl Default for Knobs {
    fn default() -> Self {
        Knobs { kill_percent: 10, min_ops: 16, max_ops: 40 }
    }
}

pub fn generate(seed: u64, knobs: Knobs) -> Spec {
    let mut rng = Rng::new(seed);
    let devices = if rng.chance(50) { 2 } else { 3 };
    let rows = [10 + rng.below(21) as u32, 10 + rng.below(21) as u32, 10 + rng.below(21) as u32];
    let mut policies = [Policy::MergeFields; 3];
    for p in &mut policies {
        let r = rng.below(100);
        *p = match r {
            0..=59 => Policy::MergeFields,
            60..=74 => Policy::Manual,
            75..=89 => Policy::ClientWins,
            _ => Policy::ServerWins,
        };
    }
    let push_batch_size = rng.pick(&[1, 3, 100]);
    let concurrency = 1 + rng.below(3) as usize;
    let kills = rng.chance(knobs.kill_percent);
    let n = knobs.min_ops + rng.below(knobs.max_ops.saturating_sub(knobs.min_ops) + 1);
    // Offline creates so far: (table, uid, device).
    let mut created: Vec<(Table, u32, u8)> = Vec::new();
    let mut kill_count = 0;
    let mut steps = Vec::new();
    let mut uid = 0u32;
    // (weight, kind)
    let weights: &[(u64, u8)] = &[
        (14, 0),                        // create
        (20, 1),                        // update
        (7, 2),                         // set lookup
        (6, 3),                         // delete
        (9, 4),                         // server update
        (3, 5),                         // server delete
        (2, 6),                         // server create
        (18, 7),                        // sync
        (9, 8),                         // fault
        (if kills { 5 } else { 0 }, 9), // kill
        (2, 10),                        // profile
        (7, 11),                        // resolve
        (5, 12),                        // parked
        (2, 13),                        // privilege
        (5, 14),                        // sync all, then answers
        (7, 15),                        // a clash: two actors edit the same column
    ];
    let total: u64 = weights.iter().map(|w| w.0).sum();
    let mut revoked: Option<Table> = None;
    let mut profiles: [Option<Table>; 3] = [None; 3];
    let mut real = 0u64;
    while real < n {
        real += 1;
        uid += 1;
        let dev = rng.below(u64::from(devices)) as u8;
        let mut r = rng.below(total);
        let mut kind = 0;
        for (w, k) in weights {
            if r < *w {
                kind = *k;
                break;
            }
            r -= w;
        }
        let target = |rng: &mut Rng, table: Option<Table>, dev: u8| -> Target {
            let mine: Vec<(Table, u32, u8)> =
                created.iter().copied().filter(|c| table.is_none_or(|t| c.0 == t)).collect();
            if !mine.is_empty() && rng.chance(50) {
                let same: Vec<(Table, u32, u8)> = mine.iter().copied().filter(|c| c.2 == dev).collect();
                let pool = if !same.is_empty() && rng.chance(75) { same } else { mine };
                let (t, u, _) = pool[rng.below(pool.len() as u64) as usize];
                return Target::Local(t, u);
            }
            let t = table.unwrap_or_else(|| rng.pick(&TABLES));
            // Two rows get most of the edits, so devices and the server meet on them (conflicts).
            let i = if rng.chance(70) { rng.below(2) } else { rng.below(u64::from(rows[t.index()])) };
            Target::Server(t, i as u32)
        };
        let op = match kind {
            0 => {
                let table = rng.pick(&TABLES);
                let lookup = if rng.chance(55) {
                    let to = rng.pick(table.lookups()[0].targets);
                    Some(target(&mut rng, Some(to), dev))
                } else {
                    None
                };
                created.push((table, uid, dev));
                Op::Create { dev, table, lookup }
            }
            1 => {
                let t = target(&mut rng, None, dev);
                Op::Update { dev, target: t, column: hot_column(&mut rng), long: rng.chance(10) }
            }
            2 => {
                let t = target(&mut rng, None, dev);
                let to_table = rng.pick(t.table().lookups()[0].targets);
                let to = if rng.chance(85) { Some(target(&mut rng, Some(to_table), dev)) } else { None };
                Op::SetLookup { dev, target: t, to }
            }
            3 => Op::Delete { dev, target: target(&mut rng, None, dev) },
            4 => Op::ServerUpdate { target: target(&mut rng, None, dev), column: hot_column(&mut rng) },
            5 => Op::ServerDelete { target: target(&mut rng, None, dev) },
            6 => Op::ServerCreate { table: rng.pick(&TABLES) },
            7 => {
                let mid = if rng.chance(30) {
                    let wait = if rng.chance(70) {
                        MidWait::InFlight { batch_delay_ms: 60 + rng.below(140) as u32 }
                    } else {
                        MidWait::AfterMs(rng.below(40) as u32)
                    };
                    Some(MidEdit {
                        in_flight_record: rng.chance(75),
                        fallback: target(&mut rng, None, dev),
                        column: hot_column(&mut rng),
                        wait,
                        delete: rng.chance(15),
                    })
                } else {
                    None
                };
                Op::Sync { dev, mid }
            }
            8 => {
                let on = |rng: &mut Rng| if rng.chance(60) { On::Batch } else { rng.pick(&[On::Delta, On::AnyData]) };
                let f = match rng.below(100) {
                    0..=17 => FaultOp::Drop { on: on(&mut rng), count: 1 + rng.below(4) as u32 },
                    18..=33 => FaultOp::Status {
                        on: on(&mut rng),
                        status: rng.pick(&[500, 503]),
                        count: 1 + rng.below(4) as u32,
                    },
                    34..=37 => FaultOp::Throttle,
                    38..=59 => FaultOp::LostAck { after_parts: None },
                    60..=71 => FaultOp::LostAck { after_parts: Some(rng.below(3) as u32) },
                    72..=85 => FaultOp::ExpireAccess,
                    _ => FaultOp::ExpireDelta,
                };
                Op::Fault(f)
            }
            9 if kill_count < 2 => {
                kill_count += 1;
                let how = match rng.below(10) {
                    0..=2 => KillHow::Timed,
                    3..=5 => KillHow::HoldBatch,
                    6..=8 => KillHow::AfterAck(1 + rng.below(2) as u32),
                    _ => KillHow::AfterPage(1 + rng.below(4) as u32),
                };
                Op::Kill { dev, delay_ms: rng.below(80) as u32, how }
            }
            9 => Op::Sync { dev, mid: None },
            10 => {
                // Drop a table, or bring the dropped one back.
                let without = match profiles[usize::from(dev)] {
                    Some(_) => None,
                    None => Some(rng.pick(&TABLES)),
                };
                profiles[usize::from(dev)] = without;
                Op::Profile { dev, without }
            }
            11 => {
                let how = rng.pick(&[How::TakeLocal, How::TakeLocal, How::TakeServer, How::Values]);
                Op::Resolve { dev, pick: rng.below(4) as u32, how }
            }
            12 => Op::Parked { dev, pick: rng.below(3) as u32, retry: rng.chance(50) },
            14 => Op::SyncAll,
            15 => {
                // The device edits a column that the other user, or another device, edits too
                // before the device pushes: the conflict paths.
                let t = rng.pick(&TABLES);
                let target = Target::Server(t, rng.below(3) as u32);
                let column = hot_column(&mut rng);
                steps.push(Step { uid, op: Op::Update { dev, target, column, long: false } });
                uid += 1;
                if rng.chance(60) || devices < 2 {
                    Op::ServerUpdate { target, column }
                } else {
                    let other = (dev + 1 + rng.below(u64::from(devices) - 1) as u8) % devices;
                    Op::Update { dev: other, target, column, long: false }
                }
            }
            _ => match revoked.take() {
                Some(table) => Op::Privilege { table, write: true },
                None => {
                    let table = rng.pick(&TABLES);
                    revoked = Some(table);
                    Op::Privilege { table, write: false }
                }
            },
        };
        let answering: Vec<u8> = match op {
            Op::Sync { .. } | Op::Kill { .. } => vec![dev],
            Op::SyncAll => (0..devices).collect(),
            _ => Vec::new(),
        };
        steps.push(Step { uid, op });
        // The user often answers what a sync showed right after it.
        for dev in answering {
            if rng.chance(55) {
                uid += 1;
                let how = rng.pick(&[How::TakeLocal, How::TakeLocal, How::TakeServer, How::Values]);
                steps.push(Step { uid, op: Op::Resolve { dev, pick: rng.below(4) as u32, how } });
            }
            if rng.chance(35) {
                uid += 1;
                steps.push(Step { uid, op: Op::Parked { dev, pick: rng.below(3) as u32, retry: rng.chance(50) } });
            }
        }
    }
    Spec { seed, devices, rows, policies, push_batch_size, concurrency, steps }
}

/// Parse `0,3,5-7` into a set of indexes.
pub fn parse_keep(text: &str) -> Option<Vec<usize>> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
                out.extend(a..=b);
            }
            None => out.push(part.parse().ok()?),
        }
    }
    Some(out)
}

/// The inverse of [`parse_keep`], compact: `0,3,5-7`.
pub fn format_keep(indexes: &[usize]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < indexes.len() {
        let start = indexes[i];
        let mut end = start;
        while i + 1 < indexes.len() && indexes[i + 1] == end + 1 {
            i += 1;
            end = indexes[i];
        }
        out.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
        i += 1;
    }
    out.join(",")
}
