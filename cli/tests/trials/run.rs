//! Running one trial: one in-process emulator with small tables, 2–3 devices (each a real vault
//! in a temp dir, signed in with the password grant, with its own sync engine), the operations
//! in order, the heal (faults cleared, every device synced until a round changes nothing), and
//! the checks. Child `outpost sync` processes (the real CLI) are SIGKILLed on some devices.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::sync::{NoObserver, RetryPolicy, SyncConfig, SyncEngine, SyncOptions, SyncProfile, SyncSummary};
use outpost_core::{
    Auth, AuthConfig, ConflictKind, CreateOptions, Error, KdfParams, LockoutPolicy, OpenOptions, OrgUrl, OutboxOp,
    OutboxState, PasswordPolicy, Query, RecordState, Resolution, Store, SystemClock, Value, Values, Vault,
};
use outpost_emulator::{defaults, Emulator, EmulatorConfig, EmulatorHandle, Fault};
use serde_json::json;

use super::check::{
    check_after_complete_sync, check_final, CKind, ConflictView, Ctx, DeviceView, EOp, EState, Entry, HWrite, LocalRow,
    ServerRow, ServerView, VKind, Vals, Violation, WKind,
};
use super::gen::{
    column_name, splitmix, FaultOp, How, KillHow, MidEdit, MidWait, Op, Spec, Step, Table, Target, TABLES,
};
use super::model::{etag_version, Model, Rec};

const PASSWORD: &str = "trial offline password";
const LOOKUP: &str = "@Microsoft.Dynamics.CRM.lookuplogicalname";
const REDIRECT: &str = "http://127.0.0.1:53682";

/// What the emulator in this build can do (the lost-acknowledgement fault is being added).
#[derive(Clone, Copy, Debug)]
pub struct Caps {
    pub lost_ack: bool,
    pub lost_ack_after_parts: bool,
}

impl Caps {
    pub fn probe() -> Caps {
        let ok = |j: serde_json::Value| serde_json::from_value::<Fault>(j).is_ok();
        Caps {
            lost_ack: ok(json!({"lost_ack": true})),
            lost_ack_after_parts: ok(json!({"lost_ack": true, "lost_ack_after_parts": 1})),
        }
    }
}

/// The result of one trial.
#[derive(Debug, Default)]
pub struct Outcome {
    pub violations: Vec<Violation>,
    /// Operation kind → [applied, skipped].
    pub mix: BTreeMap<&'static str, [u32; 2]>,
    pub notes: Vec<String>,
    pub elapsed: Duration,
    /// Kills that hit a running child, and children that finished first.
    pub kills: [u32; 2],
    /// Syncs run (heal included) and their total time.
    pub syncs: (u32, Duration),
}

impl Outcome {
    pub fn failed(&self) -> bool {
        !self.violations.is_empty()
    }

    pub fn kinds(&self) -> Vec<VKind> {
        let mut k: Vec<VKind> = self.violations.iter().map(|v| v.kind).collect();
        k.sort();
        k.dedup();
        k
    }
}

struct Open {
    vault: Vault,
    auth: Arc<Auth>,
    engine: SyncEngine,
}

struct Device {
    n: u8,
    db: PathBuf,
    without: Option<Table>,
    open: Option<Open>,
}

impl Device {
    fn store(&self) -> Option<Arc<Store>> {
        self.open.as_ref().map(|o| o.vault.shared_store())
    }

    fn tables(&self) -> Vec<Table> {
        TABLES.into_iter().filter(|t| Some(*t) != self.without).collect()
    }
}

struct Trial<'a> {
    spec: &'a Spec,
    caps: Caps,
    emu: EmulatorHandle,
    rt: tokio::runtime::Runtime,
    http: reqwest::Client,
    ids: [Vec<String>; 3],
    devices: Vec<Device>,
    model: Model,
    ctx: Ctx,
    /// Record of each create that ran, by the create's uid.
    local_ids: BTreeMap<u32, Rec>,
    /// The server's checked values after the first syncs, before any operation.
    initial: BTreeMap<Rec, Vals>,
    out: Outcome,
    t: u64,
    _root: tempfile::TempDir,
}

fn profile_toml(spec: &Spec, without: Option<Table>) -> String {
    let mut s = String::new();
    for t in TABLES.into_iter().filter(|t| Some(*t) != without) {
        let cols: Vec<String> = t.profile_columns().iter().map(|c| format!("{c:?}")).collect();
        s.push_str(&format!(
            "[[tables]]\nentity_set = \"{}\"\ncolumns = [{}]\nconflict_policy = \"{}\"\npage_size = 8\n\n",
            t.set(),
            cols.join(", "),
            spec.policy(t).toml()
        ));
    }
    s
}

fn sync_config(spec: &Spec) -> SyncConfig {
    SyncConfig {
        concurrency: spec.concurrency,
        push_batch_size: spec.push_batch_size,
        retry: RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(100),
            budget: Duration::from_secs(5),
        },
        request_timeout: Duration::from_secs(20),
        ..SyncConfig::default()
    }
}

/// A record id chosen by the trial (creates name their records), lower-case GUID text.
pub fn new_id(seed: u64, uid: u32, salt: u64) -> String {
    let a = splitmix(seed ^ (u64::from(uid) << 24) ^ salt.wrapping_mul(0x51_7CC1_B727_220A));
    let b = splitmix(a);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Text(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Decimal(d) => Some(d.clone()),
        Value::Bool(b) => Some(b.to_string()),
    }
}

/// Checked properties of a record's values (lookups lower-cased), annotations left out.
fn vals(table: Option<Table>, v: &Values) -> Vals {
    v.iter()
        .filter(|(k, _)| !k.contains('@'))
        .filter(|(k, _)| table.is_none_or(|t| t.checked_properties().contains(&k.as_str())))
        .map(|(k, v)| {
            let t = text(v);
            (k.clone(), if k.ends_with("_value") { t.map(|s| s.to_ascii_lowercase()) } else { t })
        })
        .collect()
}

fn lookup_values(prop: &str, target: Option<&Rec>) -> Values {
    let mut v = Values::new();
    match target {
        Some((t, id)) => {
            v.insert(prop.to_string(), Value::Text(id.clone()));
            v.insert(format!("{prop}{LOOKUP}"), Value::Text(t.logical().to_string()));
        }
        None => {
            v.insert(prop.to_string(), Value::Null);
        }
    }
    v
}

fn is_core_failure(e: &Error) -> bool {
    matches!(e, Error::Internal { .. } | Error::Storage { .. } | Error::Corrupt { .. })
}

/// The base version of the newest outbox entry of a record (what an edit was based on).
fn newest_base(store: &Store, rec: &Rec) -> Option<u64> {
    let ob = store.outbox().ok()?;
    let e = ob.iter().rev().find(|e| e.entity_set == rec.0.set() && e.record_id.eq_ignore_ascii_case(&rec.1))?;
    etag_version(e.base_etag.as_deref())
}

/// The concurrent edit of a sync with a mid-sync edit; returns (record, column, value, base,
/// whether it landed while the sync ran).
fn mid_edit(
    store: Arc<Store>,
    m: MidEdit,
    fallback: Option<Rec>,
    value: String,
    done: Arc<AtomicBool>,
) -> Option<(Rec, Option<String>, Option<u64>, bool)> {
    let start = Instant::now();
    let in_flight = |store: &Store| -> Option<Option<Rec>> {
        let ob = store.outbox().ok()?;
        let e = ob.iter().find(|e| e.state == OutboxState::InFlight)?;
        Some(Table::from_set(&e.entity_set).map(|t| (t, e.record_id.to_ascii_lowercase())))
    };
    let mut target = None;
    let mut during = true;
    match m.wait {
        MidWait::InFlight { .. } => loop {
            if let Some(r) = in_flight(&store) {
                target = r;
                break;
            }
            if done.load(Ordering::SeqCst) || start.elapsed() > Duration::from_secs(5) {
                during = false;
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        },
        MidWait::AfterMs(ms) => {
            std::thread::sleep(Duration::from_millis(u64::from(ms)));
            during = !done.load(Ordering::SeqCst);
            target = in_flight(&store).flatten();
        }
    }
    let rec = if m.in_flight_record { target.or(fallback) } else { fallback }?;
    let r = store.get(rec.0.set(), &rec.1).ok()??;
    if m.delete {
        store.delete(rec.0.set(), &rec.1).ok()?;
        return Some((rec, None, etag_version(r.etag.as_deref()), during));
    }
    let col = column_name(rec.0, m.column);
    store.update(rec.0.set(), &rec.1, [(col.to_string(), Value::Text(value))].into()).ok()?;
    let base = newest_base(&store, &rec);
    Some((rec, Some(col.to_string()), base, during))
}

/// Run one trial: `steps` (a sub-list of `spec.steps` when shrinking).
pub fn run(spec: &Spec, steps: &[Step], caps: Caps) -> Outcome {
    let started = Instant::now();
    let mut trial = match Trial::new(spec, caps) {
        Ok(t) => t,
        Err(e) => {
            return Outcome {
                violations: vec![Violation { kind: VKind::CoreError, dev: None, detail: format!("setup failed: {e}") }],
                elapsed: started.elapsed(),
                ..Outcome::default()
            }
        }
    };
    for s in steps {
        trial.t += 1;
        let applied = trial.step(s);
        let e = trial.out.mix.entry(s.op.kind()).or_default();
        e[usize::from(!applied)] += 1;
    }
    trial.heal_and_check();
    let mut out = std::mem::take(&mut trial.out);
    drop(trial);
    out.elapsed = started.elapsed();
    out
}

impl<'a> Trial<'a> {
    fn new(spec: &'a Spec, caps: Caps) -> Result<Trial<'a>, String> {
        let [a, c, t] = spec.rows;
        let emu = Emulator::start(EmulatorConfig::default().with_rows(a, c, t)).map_err(|e| e.to_string())?;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let http = reqwest::Client::new();
        let mut ids: [Vec<String>; 3] = Default::default();
        let mut ctx = Ctx::default();
        for table in TABLES {
            let url = format!("{}/tables/{}/ids?limit=100000", emu.control_url(), table.set());
            let body: serde_json::Value = rt
                .block_on(async { http.get(url).send().await?.json().await })
                .map_err(|e| format!("ids of {}: {e}", table.set()))?;
            let list: Vec<String> = body["ids"]
                .as_array()
                .map(|a| a.iter().filter_map(|v| v.as_str()).map(str::to_ascii_lowercase).collect())
                .unwrap_or_default();
            for (i, id) in list.iter().enumerate() {
                ctx.names.insert((table, id.clone()), format!("{}[{i}]", table.short()));
            }
            ctx.policies.insert(table, spec.policy(table));
            ids[table.index()] = list;
        }
        let root = tempfile::tempdir().map_err(|e| e.to_string())?;
        let base = root.path().to_path_buf();
        let mut trial = Trial {
            spec,
            caps,
            emu,
            rt,
            http,
            ids,
            devices: Vec::new(),
            model: Model::default(),
            ctx,
            local_ids: BTreeMap::new(),
            initial: BTreeMap::new(),
            out: Outcome::default(),
            t: 0,
            _root: root,
        };
        for n in 0..spec.devices {
            let db = base.join(format!("d{n}"));
            let vault = Vault::create(
                &db,
                PASSWORD.as_bytes(),
                &CreateOptions {
                    kdf: KdfParams::FLOOR,
                    lockout: LockoutPolicy::default(),
                    password_policy: PasswordPolicy::default(),
                    plaintext_header: false,
                    clock: Arc::new(SystemClock),
                },
            )
            .map_err(|e| format!("vault: {e}"))?;
            let auth = Arc::new(Auth::new(trial.auth_config(), vault.shared_store()).map_err(|e| e.to_string())?);
            trial
                .rt
                .block_on(auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()))
                .map_err(|e| format!("sign-in: {e}"))?;
            let engine = trial.engine(&vault, auth.clone(), None)?;
            trial.devices.push(Device { n, db, without: None, open: Some(Open { vault, auth, engine }) });
            trial.write_settings(usize::from(n));
        }
        for n in 0..spec.devices {
            if trial.sync(n, 0, None).is_none() {
                return Err(format!("d{n}: the first sync failed: {:?}", trial.out.violations));
            }
        }
        trial.initial = trial.server_view()?.rows.into_iter().map(|(rec, row)| (rec, row.values)).collect();
        Ok(trial)
    }

    fn auth_config(&self) -> AuthConfig {
        AuthConfig {
            org: OrgUrl::parse(self.emu.org_url()).unwrap_or_else(|_| unreachable!("the emulator's URL parses")),
            client_id: self.emu.client_id(),
            redirect_uri: REDIRECT.into(),
            authority: Some(format!("{}/v2.0", self.emu.authority())),
            tenant: None,
            allow_password_grant: true,
        }
    }

    fn engine(&self, vault: &Vault, auth: Arc<Auth>, without: Option<Table>) -> Result<SyncEngine, String> {
        let profile = SyncProfile::from_toml(&profile_toml(self.spec, without)).map_err(|e| e.to_string())?;
        let org = OrgUrl::parse(self.emu.org_url()).map_err(|e| e.to_string())?;
        SyncEngine::new(vault.shared_store(), auth, &org, profile, sync_config(self.spec)).map_err(|e| e.to_string())
    }

    /// The CLI's settings beside the vault (so a child `outpost sync` uses the same profile).
    fn write_settings(&mut self, d: usize) {
        let d = &self.devices[d];
        let s = outpost_cli::app::Settings {
            version: 1,
            org: self.emu.org_url().to_string(),
            client_id: self.emu.client_id(),
            authority: Some(format!("{}/v2.0", self.emu.authority())),
            tenant: None,
            redirect_uri: REDIRECT.into(),
            profile: profile_toml(self.spec, d.without),
        };
        if s.save(&d.db).is_err() {
            let n = d.n;
            self.violation(VKind::CoreError, Some(n), "could not write cli.json".into());
        }
    }

    fn violation(&mut self, kind: VKind, dev: Option<u8>, detail: String) {
        self.out.violations.push(Violation { kind, dev, detail });
    }

    fn rec_of(&self, t: Target) -> Option<Rec> {
        match t {
            Target::Server(table, i) => {
                let ids = &self.ids[table.index()];
                (!ids.is_empty()).then(|| (table, ids[i as usize % ids.len()].clone()))
            }
            Target::Local(table, uid) => self.local_ids.get(&uid).filter(|r| r.0 == table).cloned(),
        }
    }

    fn hist_len(&self) -> u64 {
        TABLES
            .iter()
            .filter_map(|t| self.emu.table_write_history(t.set()).last().map(|(_, w)| w.seq))
            .max()
            .unwrap_or(0)
    }

    fn server_has(&self, rec: &Rec) -> bool {
        self.emu.write_history(rec.0.set(), &rec.1).last().map_or_else(
            || self.ids[rec.0.index()].contains(&rec.1),
            |w| w.kind != outpost_emulator::history::WriteKind::Delete,
        )
    }

    fn inject(&self, j: serde_json::Value) {
        match serde_json::from_value::<Fault>(j) {
            Ok(f) => {
                self.emu.inject_fault(f);
            }
            Err(e) => unreachable!("fault: {e}"),
        }
    }

    /// Run one operation; false when it did not apply (its record was not there, …).
    fn step(&mut self, s: &Step) -> bool {
        let uid = s.uid;
        let t = self.t;
        match s.op {
            Op::Create { dev, table, lookup } => {
                let Some(store) = self.devices[usize::from(dev)].store() else { return false };
                let id = new_id(self.spec.seed, uid, table.index() as u64);
                let rec = (table, id.clone());
                let mut v = Values::new();
                v.insert(table.primary_id().to_string(), Value::Text(id.clone()));
                let cols = table.text_columns();
                v.insert(cols[0].to_string(), Value::Text(format!("d{dev}-u{uid}")));
                if cols.len() > 1 && cols.contains(&"description") {
                    v.insert("description".into(), Value::Text(format!("d{dev}-u{uid}c")));
                }
                let target =
                    lookup.and_then(|l| self.rec_of(l)).filter(|r| store.get(r.0.set(), &r.1).ok().flatten().is_some());
                if let Some(r) = &target {
                    v.extend(lookup_values(table.lookups()[0].property, Some(r)));
                }
                if store.create(table.set(), v.clone()).is_err() {
                    return false;
                }
                self.local_ids.insert(uid, rec.clone());
                self.ctx.names.insert(rec.clone(), format!("{}#u{uid}", table.short()));
                self.model.created.insert(rec.clone(), (dev, uid));
                for (k, val) in vals(Some(table), &v) {
                    self.model.set(dev, &rec, &k, val, t, None, uid);
                }
                true
            }
            Op::Update { dev, target, column, long } => {
                let Some(store) = self.devices[usize::from(dev)].store() else { return false };
                let Some(rec) = self.rec_of(target) else { return false };
                if store.get(rec.0.set(), &rec.1).ok().flatten().is_none() {
                    return false;
                }
                let col = column_name(rec.0, column);
                let value = if long {
                    format!("d{dev}-u{uid}-{}", "x".repeat(rec.0.max_length(col) + 1))
                } else {
                    format!("d{dev}-u{uid}")
                };
                if store.update(rec.0.set(), &rec.1, [(col.to_string(), Value::Text(value.clone()))].into()).is_err() {
                    return false;
                }
                let base = newest_base(&store, &rec);
                self.model.set(dev, &rec, col, Some(value), t, base, uid);
                true
            }
            Op::SetLookup { dev, target, to } => {
                let Some(store) = self.devices[usize::from(dev)].store() else { return false };
                let Some(rec) = self.rec_of(target) else { return false };
                if store.get(rec.0.set(), &rec.1).ok().flatten().is_none() {
                    return false;
                }
                let to = match to {
                    Some(to) => match self.rec_of(to) {
                        Some(r) if store.get(r.0.set(), &r.1).ok().flatten().is_some() => Some(r),
                        _ => return false,
                    },
                    None => None,
                };
                let prop = rec.0.lookups()[0].property;
                if to.as_ref().is_some_and(|r| !rec.0.lookups()[0].targets.contains(&r.0)) {
                    return false;
                }
                if store.update(rec.0.set(), &rec.1, lookup_values(prop, to.as_ref())).is_err() {
                    return false;
                }
                let base = newest_base(&store, &rec);
                self.model.set(dev, &rec, prop, to.map(|r| r.1), t, base, uid);
                true
            }
            Op::Delete { dev, target } => {
                let Some(store) = self.devices[usize::from(dev)].store() else { return false };
                let Some(rec) = self.rec_of(target) else { return false };
                let Some(r) = store.get(rec.0.set(), &rec.1).ok().flatten() else { return false };
                if store.delete(rec.0.set(), &rec.1).is_err() {
                    return false;
                }
                self.model.delete(dev, &rec, t, etag_version(r.etag.as_deref()), uid);
                true
            }
            Op::ServerUpdate { target, column } => {
                let Some(rec) = self.rec_of(target) else { return false };
                if !self.server_has(&rec) {
                    return false;
                }
                let col = column_name(rec.0, column);
                let body = json!({ col: format!("srv-u{uid}") });
                self.emu.patch_rows(rec.0.set(), defaults::ADMIN, &[(rec.1.clone(), body)]).is_ok()
            }
            Op::ServerDelete { target } => {
                let Some(rec) = self.rec_of(target) else { return false };
                if !self.server_has(&rec) {
                    return false;
                }
                let url = format!("{}/tables/{}/rows/{}", self.emu.control_url(), rec.0.set(), rec.1);
                let http = self.http.clone();
                self.rt
                    .block_on(async move { http.delete(url).send().await.map(|r| r.status().is_success()) })
                    .unwrap_or(false)
            }
            Op::ServerCreate { table } => {
                let id = new_id(self.spec.seed, uid, 7 + table.index() as u64);
                let body = json!({ table.text_columns()[0]: format!("srv-u{uid}") });
                let ok = self.emu.patch_rows(table.set(), defaults::ADMIN, &[(id.clone(), body)]).is_ok();
                if ok {
                    let rec = (table, id);
                    self.ctx.names.insert(rec.clone(), format!("{}#srv-u{uid}", table.short()));
                    self.model.server_created.insert(rec, uid);
                }
                ok
            }
            Op::Sync { dev, mid } => self.sync(dev, uid, mid).is_some(),
            Op::SyncAll => {
                let mut all = true;
                for dev in 0..self.spec.devices {
                    all &= self.sync(dev, uid, None).is_some();
                }
                all
            }
            Op::Fault(f) => {
                self.fault(f);
                true
            }
            Op::Kill { dev, delay_ms, how } => self.kill(dev, delay_ms, how, uid),
            Op::Profile { dev, without } => {
                let (spec_without, d) = (without, usize::from(dev));
                if self.devices[d].without == spec_without {
                    return false;
                }
                self.devices[d].without = spec_without;
                if let Some(open) = self.devices[d].open.take() {
                    match self.engine(&open.vault, open.auth.clone(), spec_without) {
                        Ok(engine) => self.devices[d].open = Some(Open { engine, ..open }),
                        Err(e) => {
                            self.violation(VKind::CoreError, Some(dev), format!("u{uid}: engine: {e}"));
                            self.devices[d].open = Some(open);
                        }
                    }
                }
                self.write_settings(d);
                true
            }
            Op::Resolve { dev, pick, how } => self.resolve(dev, pick, how, uid),
            Op::Parked { dev, pick, retry } => self.parked(dev, pick, retry),
            Op::Privilege { table, write } => self.privilege(table, write),
        }
    }

    fn fault(&self, f: FaultOp) {
        match f {
            FaultOp::Drop { on, count } => {
                self.inject(json!({"path_contains": on.path(), "count": count, "drop_connection": true}));
            }
            FaultOp::Status { on, status, count } => {
                self.inject(json!({"path_contains": on.path(), "count": count, "status": status}));
            }
            FaultOp::Throttle => {
                self.inject(json!({"path_contains": "/api/data/", "count": 1, "status": 429, "retry_after": 1}));
            }
            FaultOp::LostAck { after_parts } => {
                let mut j = json!({"path_contains": "$batch", "method": "POST", "count": 1});
                match (after_parts, self.caps.lost_ack, self.caps.lost_ack_after_parts) {
                    (Some(n), true, true) => {
                        j["lost_ack"] = json!(true);
                        j["lost_ack_after_parts"] = json!(n);
                    }
                    (_, true, _) => j["lost_ack"] = json!(true),
                    // Without the emulator's lost_ack: the batch is applied and its answer cut
                    // halfway (drop_connection), which loses the acknowledgement as well.
                    _ => j["drop_connection"] = json!(true),
                }
                self.inject(j);
            }
            FaultOp::ExpireAccess => self.emu.expire_access_tokens(),
            FaultOp::ExpireDelta => self.emu.expire_delta_tokens(),
        }
    }

    /// One sync of a device (`uid` 0: not an operation); the summary, or `None` when it failed.
    fn sync(&mut self, dev: u8, uid: u32, mid: Option<MidEdit>) -> Option<SyncSummary> {
        let d = usize::from(dev);
        let store = self.devices[d].store()?;
        let engine = self.devices[d].open.as_ref()?.engine.clone();
        let done = Arc::new(AtomicBool::new(false));
        let edit = mid.map(|m| {
            if let MidWait::InFlight { batch_delay_ms } = m.wait {
                self.inject(
                    json!({"path_contains": "$batch", "method": "POST", "count": 1, "delay_ms": batch_delay_ms}),
                );
            }
            let fallback = self.rec_of(m.fallback);
            let value = format!("d{dev}-u{uid}m");
            let (store, done) = (store.clone(), done.clone());
            std::thread::spawn(move || mid_edit(store, m, fallback, value, done))
        });
        let started = Instant::now();
        let r = self.rt.block_on(engine.sync(SyncOptions::default(), Arc::new(NoObserver)));
        self.out.syncs.0 += 1;
        self.out.syncs.1 += started.elapsed();
        done.store(true, Ordering::SeqCst);
        let mut exempt = Vec::new();
        if let Some(h) = edit {
            match h.join() {
                Ok(Some((rec, Some(col), base, _during))) => {
                    self.model.set(dev, &rec, &col, Some(format!("d{dev}-u{uid}m")), self.t, base, uid);
                    exempt.push(rec);
                }
                Ok(Some((rec, None, base, _during))) => {
                    self.model.delete(dev, &rec, self.t, base, uid);
                    exempt.push(rec);
                }
                _ => {}
            }
        }
        match r {
            Ok(s) => {
                let p = &s.push;
                self.out.notes.push(format!(
                    "d{dev} sync u{uid}: pushed {}, conflicts {}, by policy {}, refused {}, pulled {}, complete {}; open conflicts {}, parked {}, pending {}{}",
                    p.pushed,
                    p.conflicts,
                    p.auto_resolved,
                    p.parked,
                    s.rows_pulled(),
                    s.complete,
                    s.open_conflicts,
                    s.parked,
                    s.pending,
                    s.push_error.as_ref().map_or(String::new(), |e| format!("; push error: {e}"))
                ));
                if s.complete {
                    let view = self.device_view(dev);
                    let when = if uid == 0 { "the first sync".to_string() } else { format!("after the sync u{uid}") };
                    let v = check_after_complete_sync(&self.ctx, &view, &exempt, &when);
                    self.out.violations.extend(v);
                }
                if let Some(t) = self.devices[d].without {
                    let registered =
                        store.tables().map(|ts| ts.iter().any(|x| x.entity_set == t.set())).unwrap_or(true);
                    if !registered && !self.model.purges.iter().any(|(pd, pt, _)| *pd == dev && *pt == t) {
                        self.model.purges.push((dev, t, self.t));
                    }
                }
                Some(s)
            }
            Err(e) => {
                if is_core_failure(&e) {
                    self.violation(VKind::CoreError, Some(dev), format!("sync u{uid} failed: {e:?}"));
                } else {
                    self.out.notes.push(format!("d{dev} sync u{uid}: {e}"));
                }
                None
            }
        }
    }

    fn kill(&mut self, dev: u8, delay_ms: u32, how: KillHow, uid: u32) -> bool {
        let d = usize::from(dev);
        let Some(open) = self.devices[d].open.take() else { return false };
        let Open { vault, auth, engine } = open;
        drop(engine);
        drop(auth);
        if let Err(e) = vault.lock() {
            self.violation(VKind::CoreError, Some(dev), format!("u{uid}: lock before the child sync: {e}"));
        }
        let from = self.emu.requests().last().map_or(0, |e| e.seq);
        let mut c = Command::new(env!("CARGO_BIN_EXE_outpost"));
        c.arg("--db").arg(&self.devices[d].db).arg("--json").arg("sync").env("OUTPOST_PASSWORD", PASSWORD);
        c.env_remove("OUTPOST_NEW_PASSWORD").env_remove("OUTPOST_SIGNIN_PASSWORD").env_remove("OUTPOST_DB");
        c.env_remove("OUTPOST_FAILPOINT").env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::null());
        let failpoint = match how {
            KillHow::AfterAck(n) => Some(format!("push.after_ack:{n}")),
            KillHow::AfterPage(n) => Some(format!("pull.after_page_commit:{n}")),
            KillHow::Timed | KillHow::HoldBatch => None,
        };
        if let Some(fp) = &failpoint {
            c.env("OUTPOST_FAILPOINT", fp);
        }
        if how == KillHow::HoldBatch {
            self.inject(json!({"path_contains": "$batch", "method": "POST", "count": 1, "delay_ms": 200}));
        }
        // The child's summary when it finished on its own.
        let mut finished_json: Option<serde_json::Value> = None;
        match c.spawn() {
            Err(e) => self.violation(VKind::CoreError, Some(dev), format!("u{uid}: cannot start outpost: {e}")),
            Ok(mut child) => {
                let deadline = Instant::now() + Duration::from_secs(30);
                let mut exited = None;
                loop {
                    if let Ok(Some(status)) = child.try_wait() {
                        exited = Some(status);
                        break;
                    }
                    let started = self.emu.requests_since(from).iter().any(|e| e.path.contains("/api/data/"));
                    if (started && failpoint.is_none()) || Instant::now() > deadline {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                if exited.is_none() && failpoint.is_none() {
                    std::thread::sleep(Duration::from_millis(u64::from(delay_ms)));
                    exited = child.try_wait().ok().flatten();
                }
                match exited {
                    Some(status) if status.success() => {
                        self.out.kills[1] += 1;
                        if let Ok(o) = child.wait_with_output() {
                            finished_json = serde_json::from_slice(&o.stdout).ok();
                        }
                    }
                    // Aborted at its failpoint (or failed: the vault is checked below).
                    Some(_) => self.out.kills[0] += 1,
                    None => {
                        let _ = child.kill(); // SIGKILL
                        let _ = child.wait();
                        self.out.kills[0] += 1;
                    }
                }
            }
        }
        match Vault::unlock(&self.devices[d].db, PASSWORD.as_bytes(), &OpenOptions::default()) {
            Ok(vault) => {
                let opened = Auth::new(self.auth_config(), vault.shared_store())
                    .map_err(|e| e.to_string())
                    .map(Arc::new)
                    .and_then(|auth| {
                        let engine = self.engine(&vault, auth.clone(), self.devices[d].without)?;
                        Ok((auth, engine))
                    });
                match opened {
                    Ok((auth, engine)) => self.devices[d].open = Some(Open { vault, auth, engine }),
                    Err(e) => self.violation(VKind::CoreError, Some(dev), format!("u{uid}: after the kill: {e}")),
                }
            }
            Err(e) => self.violation(
                VKind::CoreError,
                Some(dev),
                format!("u{uid}: the vault does not open after the kill: {e}"),
            ),
        }
        if finished_json.as_ref().is_some_and(|j| j["complete"] == json!(true)) && self.devices[d].open.is_some() {
            let view = self.device_view(dev);
            let when = format!("after the child sync u{uid} (it finished before the kill)");
            let v = check_after_complete_sync(&self.ctx, &view, &[], &when);
            self.out.violations.extend(v);
        }
        true
    }

    fn resolve(&mut self, dev: u8, pick: u32, how: How, uid: u32) -> bool {
        let Some(store) = self.devices[usize::from(dev)].store() else { return false };
        let Ok(cs) = store.conflicts() else { return false };
        if cs.is_empty() {
            return false;
        }
        let c = &cs[pick as usize % cs.len()];
        let Some(table) = Table::from_set(&c.entity_set) else { return false };
        let rec = (table, c.record_id.to_ascii_lowercase());
        let local = vals(Some(table), &c.local);
        let base = etag_version(c.server_etag.as_deref());
        let mut new_values = Values::new();
        if how == How::Values {
            let mut cols: Vec<&str> = c
                .columns
                .iter()
                .filter_map(|x| table.text_columns().iter().find(|t| **t == x.as_str()).copied())
                .collect();
            if cols.is_empty() {
                cols.push(table.text_columns()[0]);
            }
            for (i, col) in cols.iter().enumerate() {
                new_values.insert(col.to_string(), Value::Text(format!("d{dev}-u{uid}r{i}")));
            }
        }
        let resolution = match how {
            How::TakeLocal => Resolution::TakeLocal,
            How::TakeServer => Resolution::TakeServer,
            How::Values => Resolution::Values(new_values.clone()),
        };
        let hist = self.hist_len();
        if let Err(e) = store.resolve_conflict(c.id, &resolution) {
            self.out.notes.push(format!("u{uid}: resolve: {e}"));
            return false;
        }
        let (t, m) = (self.t, &mut self.model);
        let nv = vals(Some(table), &new_values);
        match (c.kind, how) {
            (ConflictKind::Update, How::TakeLocal) => {
                for (k, v) in local {
                    m.set(dev, &rec, &k, v, t, base, uid);
                }
            }
            (ConflictKind::Update, How::TakeServer) => {
                for (k, v) in local {
                    m.discard_col(dev, &rec, &k, v.as_deref(), t, hist);
                }
            }
            (ConflictKind::Update, How::Values) => {
                for (k, v) in &local {
                    if !nv.contains_key(k) {
                        m.discard_col(dev, &rec, k, v.as_deref(), t, hist);
                    }
                }
                for (k, v) in nv {
                    m.set(dev, &rec, &k, v, t, base, uid);
                }
            }
            (ConflictKind::LocalDeleted, How::TakeLocal) => m.delete(dev, &rec, t, base, uid),
            (ConflictKind::LocalDeleted, How::TakeServer) => m.discard_delete(dev, &rec),
            (ConflictKind::LocalDeleted, How::Values) => {
                m.discard_delete(dev, &rec);
                for (k, v) in nv {
                    m.set(dev, &rec, &k, v, t, base, uid);
                }
            }
            (ConflictKind::ServerDeleted, How::TakeServer) => m.discard_record(dev, &rec, t, hist),
            (ConflictKind::ServerDeleted, _) => {
                *m.recreates.entry(rec.clone()).or_default() += 1;
                let mut all = local;
                all.extend(nv);
                for (k, v) in all {
                    m.set(dev, &rec, &k, v, t, None, uid);
                }
            }
        }
        true
    }

    fn parked(&mut self, dev: u8, pick: u32, retry: bool) -> bool {
        let Some(store) = self.devices[usize::from(dev)].store() else { return false };
        let Ok(ps) = store.parked() else { return false };
        if ps.is_empty() {
            return false;
        }
        let e = &ps[pick as usize % ps.len()];
        if retry {
            return store.retry_parked(e.seq).is_ok();
        }
        let Some(table) = Table::from_set(&e.entity_set) else { return false };
        let rec = (table, e.record_id.to_ascii_lowercase());
        let hist = self.hist_len();
        let Ok(shown) = store.discard_parked(e.seq) else { return false };
        let t = self.t;
        match e.op {
            OutboxOp::Create => self.model.discard_record(dev, &rec, t, hist),
            OutboxOp::Update => {
                // What the record shows after the discard: a value another unsent entry still
                // holds (a conflict resolution that kept it) is still the user's; they gave up
                // the refused entry, not that value (second full run, seed 2631655419561844704).
                let still = shown.as_ref().map(|r| vals(Some(table), &r.values)).unwrap_or_default();
                let queued = store.outbox().unwrap_or_default();
                for (k, v) in vals(Some(table), &e.changes) {
                    let held = still.get(&k) == Some(&v)
                        && queued.iter().any(|o| {
                            o.entity_set == e.entity_set
                                && o.record_id.eq_ignore_ascii_case(&e.record_id)
                                && vals(Some(table), &o.changes).get(&k) == Some(&v)
                        });
                    if !held {
                        self.model.discard_col(dev, &rec, &k, v.as_deref(), t, hist);
                    }
                }
            }
            OutboxOp::Delete => self.model.discard_delete(dev, &rec),
        }
        true
    }

    fn privilege(&self, table: Table, write: bool) -> bool {
        let url = format!("{}/users/{}/privileges", self.emu.control_url(), defaults::BOB);
        let body =
            json!({"table": table.set(), "read": "organization", "create": true, "write": write, "delete": true});
        let http = self.http.clone();
        self.rt
            .block_on(async move { http.post(url).json(&body).send().await.map(|r| r.status().is_success()) })
            .unwrap_or(false)
    }

    fn device_view(&self, dev: u8) -> DeviceView {
        let d = &self.devices[usize::from(dev)];
        let mut view = DeviceView { dev, tables: d.tables(), ..DeviceView::default() };
        let Some(store) = d.store() else { return view };
        let registered: Vec<String> =
            store.tables().map(|ts| ts.into_iter().map(|t| t.entity_set).collect()).unwrap_or_default();
        for table in d.tables() {
            if !registered.iter().any(|s| s == table.set()) {
                continue;
            }
            let mut q = Query { limit: 5000, ..Query::default() };
            while let Ok(page) = store.query(table.set(), &q) {
                for r in page.records {
                    view.rows.insert(
                        (table, r.id.to_ascii_lowercase()),
                        LocalRow {
                            etag: r.etag.clone(),
                            synced: r.state == RecordState::Synced,
                            state: format!("{:?}", r.state),
                            values: vals(Some(table), &r.values),
                        },
                    );
                }
                match page.next {
                    Some(c) => q.after = Some(c),
                    None => break,
                }
            }
        }
        for e in store.outbox().unwrap_or_default() {
            let Some(table) = Table::from_set(&e.entity_set) else { continue };
            view.outbox.push(Entry {
                seq: e.seq,
                rec: (table, e.record_id.to_ascii_lowercase()),
                op: match e.op {
                    OutboxOp::Create => EOp::Create,
                    OutboxOp::Update => EOp::Update,
                    OutboxOp::Delete => EOp::Delete,
                },
                state: match e.state {
                    OutboxState::Pending => EState::Pending,
                    OutboxState::InFlight => EState::InFlight,
                    OutboxState::Parked => EState::Parked,
                },
                changes: vals(None, &e.changes),
            });
        }
        for c in store.conflicts().unwrap_or_default() {
            let Some(table) = Table::from_set(&c.entity_set) else { continue };
            view.conflicts.push(ConflictView {
                rec: (table, c.record_id.to_ascii_lowercase()),
                kind: match c.kind {
                    ConflictKind::Update => CKind::Update,
                    ConflictKind::ServerDeleted => CKind::ServerDeleted,
                    ConflictKind::LocalDeleted => CKind::LocalDeleted,
                },
                columns: c.columns.clone(),
                local: vals(None, &c.local),
            });
        }
        view
    }

    fn server_view(&self) -> Result<ServerView, String> {
        let mut view = ServerView::default();
        let token = self.rt.block_on(async {
            let r: serde_json::Value = self
                .http
                .post(format!("{}/oauth2/v2.0/token", self.emu.authority()))
                .form(&[
                    ("grant_type", "password"),
                    ("client_id", &self.emu.client_id()),
                    ("username", defaults::ADMIN),
                    ("password", defaults::ADMIN_PASSWORD),
                    ("scope", &self.emu.scope()),
                ])
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            r["access_token"].as_str().map(str::to_string).ok_or_else(|| "no admin token".to_string())
        })?;
        for table in TABLES {
            let props = table.checked_properties();
            let mut url =
                format!("{}{}?$select={},{}", self.emu.web_api_url(), table.set(), props.join(","), table.primary_id());
            loop {
                let page: serde_json::Value = self.rt.block_on(async {
                    self.http
                        .get(&url)
                        .bearer_auth(&token)
                        .header("Prefer", "odata.maxpagesize=5000")
                        .send()
                        .await
                        .map_err(|e| e.to_string())?
                        .json()
                        .await
                        .map_err(|e| e.to_string())
                })?;
                for row in page["value"].as_array().ok_or("no rows")? {
                    let Some(id) = row[table.primary_id()].as_str() else { continue };
                    let values: Vals = props
                        .iter()
                        .map(|p| {
                            let v = match &row[*p] {
                                serde_json::Value::Null => None,
                                serde_json::Value::String(s) => Some(s.clone()),
                                other => Some(other.to_string()),
                            };
                            (p.to_string(), if p.ends_with("_value") { v.map(|s| s.to_ascii_lowercase()) } else { v })
                        })
                        .collect();
                    let etag = row["@odata.etag"].as_str().unwrap_or_default().to_string();
                    view.rows.insert((table, id.to_ascii_lowercase()), ServerRow { etag, values });
                }
                match page["@odata.nextLink"].as_str() {
                    Some(n) => url = n.to_string(),
                    None => break,
                }
            }
            let inserts = view.inserts.get_or_insert_with(BTreeMap::new);
            for (id, n) in self.emu.insert_counts(table.set()) {
                inserts.insert((table, id.to_ascii_lowercase()), n);
            }
            let props = table.checked_properties();
            for (id, w) in self.emu.table_write_history(table.set()) {
                use outpost_emulator::history::WriteKind as K;
                let cols: Vals = w.columns.into_iter().filter(|(c, _)| props.contains(&c.as_str())).collect();
                let kind = match w.kind {
                    K::Insert => WKind::Insert,
                    K::Update => WKind::Update,
                    K::Delete => WKind::Delete,
                };
                view.history.entry((table, id.to_ascii_lowercase())).or_default().push(HWrite {
                    seq: w.seq,
                    version: w.version,
                    kind,
                    cols,
                });
            }
        }
        Ok(view)
    }

    /// Clear the faults, give the privileges back, sync every device until a round changes
    /// nothing; then the final checks.
    fn heal_and_check(&mut self) {
        self.emu.clear_faults();
        for table in TABLES {
            self.privilege(table, true);
        }
        for d in 0..self.devices.len() {
            if self.devices[d].open.is_none() {
                self.violation(VKind::Heal, Some(d as u8), "the device could not be opened".into());
                return;
            }
        }
        let mut converged = false;
        for _round in 0..8 {
            let mut changed = false;
            for dev in 0..self.spec.devices {
                let before = self.devices[usize::from(dev)].store().and_then(|s| s.outbox().ok()).map(|o| o.len());
                let Some(s) = self.sync(dev, 0, None) else {
                    self.violation(VKind::Heal, Some(dev), "a heal sync failed (see the notes)".into());
                    return;
                };
                let after = self.devices[usize::from(dev)].store().and_then(|s| s.outbox().ok()).map(|o| o.len());
                let p = &s.push;
                if p.pushed + p.conflicts + p.auto_resolved + p.parked > 0
                    || s.rows_pulled() > 0
                    || s.tables.iter().any(|t| t.deleted > 0)
                    || before != after
                {
                    changed = true;
                }
            }
            if !changed {
                converged = true;
                break;
            }
        }
        if !converged {
            self.violation(VKind::Heal, None, "8 rounds of syncs on every device still changed something".into());
        }
        let server = match self.server_view() {
            Ok(s) => ServerView { initial: self.initial.clone(), ..s },
            Err(e) => {
                self.violation(VKind::Heal, None, format!("cannot read the server: {e}"));
                return;
            }
        };
        let devices: Vec<DeviceView> = (0..self.spec.devices).map(|d| self.device_view(d)).collect();
        let v = check_final(&self.ctx, &self.model, &server, &devices);
        self.out.violations.extend(v);
    }
}

impl Drop for Trial<'_> {
    fn drop(&mut self) {
        for d in &mut self.devices {
            if let Some(o) = d.open.take() {
                drop(o.engine);
                drop(o.auth);
                let _ = o.vault.lock();
            }
        }
    }
}
