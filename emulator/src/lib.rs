#![doc = include_str!("../README.md")]

pub mod clock;
pub mod codec;
pub mod config;
pub mod control;
pub mod dataverse;
pub mod decimal;
pub mod directory;
pub mod history;
pub mod identity;
pub mod jwt;
pub mod odata;
pub mod schema;
pub mod service;
pub mod state;
pub mod store;
pub mod totp;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

pub use config::{defaults, DataConfig, EmulatorConfig, RefreshReuse, Settings};
pub use control::{Fault, LogEntry};

use crate::codec::guid;
use crate::schema::{Schema, SYSTEMUSER, TEAM};
use crate::state::Shared;
use crate::store::{GenCtx, Store, Value};

/// Why the emulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// Binding the port or starting the runtime failed.
    #[error("I/O error starting the emulator: {0}")]
    Io(#[from] std::io::Error),
    /// The directory configuration is invalid.
    #[error(transparent)]
    Directory(#[from] directory::DirectoryError),
    /// The signing key could not be generated.
    #[error("cannot generate the signing key: {0}")]
    Key(#[from] rsa::Error),
    /// The server thread failed before it was ready.
    #[error("the emulator thread failed to start: {0}")]
    Thread(String),
}

/// A user of the emulated directory, as tests need it.
#[derive(Clone, Debug)]
pub struct TestUser {
    /// UPN.
    pub upn: String,
    /// Password.
    pub password: String,
    /// Whether sign-in asks for a TOTP code.
    pub mfa: bool,
    /// Base32 TOTP secret.
    pub totp_secret: String,
    /// Entra object id.
    pub object_id: String,
    /// Dataverse `systemuserid`.
    pub systemuser_id: String,
}

/// Entry point.
#[derive(Debug)]
pub struct Emulator;

impl Emulator {
    /// Starts the emulator on its own thread and tokio runtime, listening on `config.bind:config.port`
    /// (127.0.0.1 and a free port by default). Works from sync code and from inside any async runtime.
    ///
    /// # Errors
    /// [`StartError`].
    pub fn start(config: EmulatorConfig) -> Result<EmulatorHandle, StartError> {
        let listener = std::net::TcpListener::bind((config.bind.as_str(), config.port))?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let host = if addr.ip().is_unspecified() { format!("127.0.0.1:{}", addr.port()) } else { addr.to_string() };
        let base =
            config.public_url.clone().unwrap_or_else(|| format!("http://{host}")).trim_end_matches('/').to_owned();
        let shared = Arc::new(build_shared(&config, &base)?);

        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<(), String>>();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let app = service::router(shared.clone());
        let workers = config.worker_threads.max(1);
        let thread = std::thread::Builder::new().name("outpost-emulator".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(workers)
                .enable_all()
                .thread_name("outpost-emulator-worker")
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            rt.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                tokio::select! {
                    _ = axum::serve(listener, app) => {}
                    _ = stop_rx => {}
                }
            });
            rt.shutdown_timeout(Duration::from_secs(1));
        })?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(StartError::Thread(e)),
            Err(e) => return Err(StartError::Thread(e.to_string())),
        }
        Ok(EmulatorHandle { base, addr, shared, stop: Some(stop_tx), thread: Some(thread) })
    }
}

fn build_shared(config: &EmulatorConfig, base: &str) -> Result<Shared, StartError> {
    let directory = directory::Directory::from_config(config)?;
    let schema = Arc::new(Schema::new());
    let keys = jwt::Keys::shared()?;
    // system users for the organization's tenant, plus two teams
    let mut seeded = Vec::new();
    let su = &schema.tables[SYSTEMUSER];
    let mut user_ids = Vec::new();
    if let Some(t) = directory.tenants.first() {
        for u in &t.users {
            let mut v = vec![Value::Null; su.columns.len()];
            let set = |v: &mut Vec<Value>, name: &str, val: Value| {
                if let Some(ci) = su.col(name) {
                    v[ci] = val;
                }
            };
            set(&mut v, "fullname", Value::Str(u.display_name.clone().into()));
            set(&mut v, "domainname", Value::Str(u.upn.clone().into()));
            set(&mut v, "internalemailaddress", Value::Str(u.upn.clone().into()));
            set(&mut v, "azureactivedirectoryobjectid", Value::Guid(u.oid));
            set(&mut v, "isdisabled", Value::Bool(false));
            user_ids.push(u.systemuser_id);
            seeded.push((SYSTEMUSER, u.systemuser_id, v));
        }
    }
    let tm = &schema.tables[TEAM];
    let mut team_ids = Vec::new();
    for (i, name) in ["Contoso Sales", "Contoso Support"].iter().enumerate() {
        let id = codec::derived_guid(config.seed, 0x7ea3, i as u64);
        let mut v = vec![Value::Null; tm.columns.len()];
        if let Some(ci) = tm.col("name") {
            v[ci] = Value::Str((*name).into());
        }
        if let Some(ci) = tm.col("teamtype") {
            v[ci] = Value::Int(0);
        }
        team_ids.push(id);
        seeded.push((TEAM, id, v));
    }
    // createdby/modifiedby/owner of seeded rows
    for (table, _, v) in &mut seeded {
        let def = &schema.tables[*table];
        for name in ["createdby", "modifiedby"] {
            if let (Some(ci), Some(first)) = (def.col(name), user_ids.first()) {
                v[ci] = Value::Ref(SYSTEMUSER, *first);
            }
        }
    }
    let gen = GenCtx {
        seed: config.seed,
        counts: [config.data.accounts, config.data.contacts, config.data.tasks, 0, 0],
        users: user_ids,
        teams: team_ids,
    };
    let untracked: Vec<usize> = config
        .tables
        .iter()
        .filter(|t| !t.change_tracking)
        .filter_map(|t| schema.by_set(&t.table).map(|d| d.id))
        .collect();
    let store = Store::new(schema.clone(), gen, seeded, &untracked);
    Ok(Shared {
        base: base.to_owned(),
        org_url: base.to_owned(),
        schema,
        settings: RwLock::new(config.settings.clone()),
        directory: RwLock::new(directory),
        store: RwLock::new(store),
        auth: Mutex::new(identity::AuthState::default()),
        keys: jwt::KeySet::new(keys),
        log: Mutex::new(control::RequestLog::default()),
        faults: Mutex::new(Vec::new()),
        throttle: Mutex::new(service::Throttle::default()),
        org_id: codec::derived_guid(config.seed, 0x0e9, 1),
        business_unit_id: codec::derived_guid(config.seed, 0xb0, 1),
        business_unit_guid: guid(codec::derived_guid(config.seed, 0xb0, 1)),
        started: Instant::now(),
    })
}

/// A running emulator. Dropping it stops the server.
#[derive(Debug)]
pub struct EmulatorHandle {
    base: String,
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EmulatorHandle {
    /// Base URL, e.g. `http://127.0.0.1:54321` (no trailing slash). Also the authority host.
    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// The socket the server listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Dataverse organization URL (= base URL): the token audience and the scope prefix.
    pub fn org_url(&self) -> &str {
        &self.shared.org_url
    }

    /// `{org}/api/data/v9.2/`.
    pub fn web_api_url(&self) -> String {
        format!("{}/api/data/v9.2/", self.shared.org_url)
    }

    /// The delegated scope: `{org}/user_impersonation`.
    pub fn scope(&self) -> String {
        format!("{}/user_impersonation", self.shared.org_url)
    }

    /// Tenant id of the organization's tenant.
    pub fn tenant_id(&self) -> String {
        guid(state::read(&self.shared.directory).tenants.first().map_or(0, |t| t.id))
    }

    /// The tenant's base, `{base}/{tenant id}`: Entra's v1 authority form. The v2.0 authority a
    /// client enters is this with `/v2.0` (what `--json` and `GET /` print as `authority`).
    pub fn authority(&self) -> String {
        format!("{}/{}", self.base, self.tenant_id())
    }

    /// Client id of the first app.
    pub fn client_id(&self) -> String {
        state::read(&self.shared.directory).apps.first().map(|a| a.cfg.client_id.clone()).unwrap_or_default()
    }

    /// Redirect URIs of the first app.
    pub fn redirect_uris(&self) -> Vec<String> {
        state::read(&self.shared.directory).apps.first().map(|a| a.cfg.redirect_uris.clone()).unwrap_or_default()
    }

    /// Users of the organization's tenant.
    pub fn users(&self) -> Vec<TestUser> {
        let dir = state::read(&self.shared.directory);
        dir.tenants
            .first()
            .map(|t| {
                t.users
                    .iter()
                    .map(|u| TestUser {
                        upn: u.upn.clone(),
                        password: u.password.clone(),
                        mfa: u.mfa,
                        totp_secret: u.totp_base32.clone(),
                        object_id: guid(u.oid),
                        systemuser_id: guid(u.systemuser_id),
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Base32 TOTP secret of a user.
    pub fn totp_secret(&self, upn: &str) -> Option<String> {
        let dir = state::read(&self.shared.directory);
        dir.find_user(upn, None).and_then(|r| dir.user(r)).map(|u| u.totp_base32.clone())
    }

    /// The user's current TOTP code.
    pub fn totp_code(&self, upn: &str) -> Option<String> {
        let dir = state::read(&self.shared.directory);
        dir.find_user(upn, None).and_then(|r| dir.user(r)).map(|u| totp::code_at(&u.totp_secret, clock::now_unix()))
    }

    /// Control API base: `{base}/_emulator`.
    pub fn control_url(&self) -> String {
        format!("{}/_emulator", self.base)
    }

    /// Number of rows currently in an entity set.
    pub fn row_count(&self, entity_set: &str) -> Option<usize> {
        let t = self.shared.schema.by_set(entity_set)?;
        Some(state::read(&self.shared.store).tables[t.id].rows.len())
    }

    /// Current behaviour switches.
    pub fn settings(&self) -> Settings {
        state::read(&self.shared.settings).clone()
    }

    /// Changes behaviour switches at run time (same as `POST /_emulator/settings`).
    pub fn update_settings(&self, f: impl FnOnce(&mut Settings)) {
        f(&mut state::write(&self.shared.settings));
    }

    /// Expires every access token issued so far (the Web API answers 401).
    pub fn expire_access_tokens(&self) {
        let mut auth = state::lock(&self.shared.auth);
        auth.access_valid_from = auth.access_seq() + 1;
    }

    /// Expires every refresh token issued so far (AADSTS700082).
    pub fn expire_refresh_tokens(&self) {
        state::lock(&self.shared.auth).refresh_valid_from = crate::identity::now(&self.shared) + 1;
    }

    /// Expires every delta token issued so far (400 `0x80044352`).
    pub fn expire_delta_tokens(&self) {
        let mut store = state::write(&self.shared.store);
        let v = store.bump();
        store.delta_min_version = v;
    }

    /// Turns change tracking on or off for an entity set. Returns false for an unknown set.
    pub fn set_change_tracking(&self, entity_set: &str, enabled: bool) -> bool {
        let Some(t) = self.shared.schema.by_set(entity_set) else { return false };
        state::write(&self.shared.store).tables[t.id].change_tracking = enabled;
        true
    }

    /// Injects a fault into the next `fault.count` matching requests (same as `POST /_emulator/faults`);
    /// returns its id. Example: `Fault { path_contains: Some("/accounts".into()), status: Some(503),
    /// retry_after: Some(2), ..Fault::default() }`.
    pub fn inject_fault(&self, mut fault: control::Fault) -> u64 {
        let mut faults = state::lock(&self.shared.faults);
        fault.id = faults.iter().map(|f| f.id).max().unwrap_or(0) + 1;
        let id = fault.id;
        faults.push(fault);
        id
    }

    /// Removes every pending fault; returns how many were left.
    pub fn clear_faults(&self) -> usize {
        let mut faults = state::lock(&self.shared.faults);
        let n = faults.len();
        faults.clear();
        n
    }

    /// Updates rows as `upn` without going through HTTP (bulk server-side changes for tests):
    /// each `(id, body)` is an upsert with the Web API's JSON body.
    ///
    /// # Errors
    /// The first row that fails, with its HTTP status.
    pub fn patch_rows(&self, entity_set: &str, upn: &str, rows: &[(String, serde_json::Value)]) -> Result<(), String> {
        control::patch_rows(&self.shared, entity_set, upn, rows)
    }

    /// How many times each row of an entity set was inserted, for "no record is created twice"
    /// checks: primary id (lower case) → inserts (a POST, an upsert PATCH that created the row, a
    /// control-API create; a re-creation after a delete counts as another insert; writes of
    /// rolled-back changesets do not count). Rows never inserted since start-up (generated rows)
    /// are absent. Empty for an unknown entity set. Same as `GET /_emulator/tables/{set}/insert-counts`.
    pub fn insert_counts(&self, entity_set: &str) -> std::collections::HashMap<String, usize> {
        control::insert_counts(&self.shared, entity_set).unwrap_or_default()
    }

    /// Deletes rows server-side as the admin, exactly as a Web API `DELETE` does (a tombstone each,
    /// so change tracking reports them). Rows that do not exist are skipped. Returns how many rows
    /// were deleted. Same as `POST /_emulator/tables/{set}/delete-rows` `{"ids": [...]}`.
    ///
    /// # Errors
    /// An unknown entity set, an id that is not a GUID, or a refused delete (with its HTTP status).
    pub fn delete_rows(&self, entity_set: &str, ids: &[String]) -> Result<usize, String> {
        control::delete_rows(&self.shared, entity_set, ids)
    }

    /// Every accepted write of one row, oldest first (inserts, updates, deletes; `$batch` parts and
    /// control-API edits included; writes of rolled-back changesets left out). Empty for an
    /// unknown entity set or id, or a row never written since start-up (`history.rs`).
    pub fn write_history(&self, entity_set: &str, id: &str) -> Vec<history::Write> {
        let (Some(t), Some(id)) = (self.shared.schema.by_set(entity_set), codec::parse_guid(id)) else {
            return Vec::new();
        };
        state::read(&self.shared.store).history.of(t.id, id)
    }

    /// Every accepted write of an entity set since start-up: (row id, write), oldest first.
    pub fn table_write_history(&self, entity_set: &str) -> Vec<(String, history::Write)> {
        let Some(t) = self.shared.schema.by_set(entity_set) else { return Vec::new() };
        state::read(&self.shared.store).history.of_table(t.id).into_iter().map(|(id, w)| (guid(id), w)).collect()
    }

    /// Requests logged after sequence number `seq` (cheap: reads from the newest end).
    pub fn requests_since(&self, seq: u64) -> Vec<control::LogEntry> {
        let log = state::lock(&self.shared.log);
        let mut out: Vec<control::LogEntry> = log.entries.iter().rev().take_while(|e| e.seq > seq).cloned().collect();
        out.reverse();
        out
    }

    /// The request log (newest 100,000 requests).
    pub fn requests(&self) -> Vec<control::LogEntry> {
        state::lock(&self.shared.log).entries.iter().cloned().collect()
    }

    /// Stops the server and waits for its thread.
    pub fn shutdown(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for EmulatorHandle {
    fn drop(&mut self) {
        self.stop_now();
    }
}
