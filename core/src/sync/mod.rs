//! The sync engine: push the outbox, then pull every profile table with change tracking.
//!
//! [`SyncEngine::sync`] is async, single-flight (a second call gets `SyncInProgress`),
//! cancellable ([`SyncEngine::cancel`]), bounded by an optional deadline (it stops at a page
//! boundary and reports itself incomplete), and runs on the core's own multi-thread runtime
//! whatever executor calls it. `docs/sync.md` explains the model.

mod columns;
mod doctor;
mod log;
pub(crate) mod profile;
pub(crate) mod pull;
pub(crate) mod push;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

pub use crate::dataverse::RetryPolicy;
pub use columns::{ColumnInfo, ColumnKind, TableColumns, LOOKUP_TARGET};
pub use doctor::{Check, CheckStatus};
pub use log::{sync_log, SyncLogEntry, TableLog, SYNC_LOG_ENTRIES};
pub use profile::{ConflictPolicy, SyncProfile, TableProfile, DEFAULT_PROFILE};
pub use push::{PushSummary, Unsent, UnsentReason};

use crate::auth::{Auth, OrgUrl};
use crate::dataverse::metadata::{self, TableMetadata};
use crate::dataverse::{Client, ClientConfig, Request, TokenSource};
use crate::error::{Error, Result};
use crate::store::{Store, TableSpec};

/// The core's multi-thread runtime: sync work runs here whatever executor awaits it (uniffi's
/// own tokio support polls spawned work on a single thread).
pub fn runtime() -> Result<&'static tokio::runtime::Runtime> {
    static RT: OnceLock<std::result::Result<tokio::runtime::Runtime, String>> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().clamp(2, 4)))
            .thread_name("outpost-sync")
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
    })
    .as_ref()
    .map_err(|e| Error::internal(format!("cannot start the sync runtime: {e}")))
}

/// Engine settings.
#[derive(Debug, Clone)]
pub struct SyncConfig {
    /// Web API version, e.g. `v9.2`.
    pub api_version: String,
    /// Tables pulled at once, and `$batch` requests pushed at once (default 3).
    pub concurrency: usize,
    /// HTTP requests in flight at once, all tables together (default 4; the service allows
    /// 52 per user per web server).
    pub max_requests_in_flight: usize,
    /// Rows per page (default 1,000; at most 5,000).
    pub page_size: u32,
    /// Outbox entries per `$batch` request (default 100; at most 1,000).
    pub push_batch_size: usize,
    /// Retries for network errors, 5xx and 429.
    pub retry: RetryPolicy,
    /// Per-request timeout.
    pub request_timeout: Duration,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            api_version: "v9.2".into(),
            concurrency: 3,
            max_requests_in_flight: 4,
            page_size: 1000,
            push_batch_size: 100,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(120),
        }
    }
}

/// What one sync does.
#[derive(Debug, Clone)]
pub struct SyncOptions {
    /// Push the outbox first (default true).
    pub push: bool,
    /// Pull (default true).
    pub pull: bool,
    /// Pull only these tables (entity sets); all profile tables when `None`. The push always
    /// sends the whole outbox.
    pub tables: Option<Vec<String>>,
    /// Stop at the next page boundary after this long; the summary says incomplete.
    pub deadline: Option<Duration>,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions { push: true, pull: true, tables: None, deadline: None }
    }
}

/// Phase of a table's sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Reading table metadata.
    Metadata,
    /// Full pull (first sync, or a resync).
    InitialPull,
    /// Incremental pull from the delta link.
    DeltaPull,
}

/// Progress of one table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableProgress {
    /// Entity set.
    pub entity_set: String,
    /// Phase.
    pub phase: Phase,
    /// Rows applied so far in this sync.
    pub rows: u64,
    /// Total rows when known.
    pub total: Option<u64>,
    /// Pages applied.
    pub pages: u64,
    /// Response bytes.
    pub bytes: u64,
}

/// Something the app may want to show.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncEvent {
    /// A page was applied.
    Progress(TableProgress),
    /// A table's full pull completed: it is usable offline.
    InitialSyncComplete {
        /// Entity set.
        entity_set: String,
    },
    /// Records changed (for UI refresh): ids of one page, at most 1,000 (beyond that, and for
    /// rows removed by a full pass's sweep, refresh the whole table).
    Changed {
        /// Entity set.
        entity_set: String,
        /// Primary ids.
        ids: Vec<String>,
    },
    /// Push progress.
    Pushed {
        /// Entries applied so far.
        done: u64,
        /// Entries of this round settled so far (not deferred to a later round).
        pending: u64,
    },
}

/// Receives sync events. Called from the sync's threads; keep it quick.
pub trait SyncObserver: Send + Sync {
    /// One event.
    fn on_event(&self, event: &SyncEvent);
}

/// An observer that ignores everything.
#[derive(Debug, Default)]
pub struct NoObserver;

impl SyncObserver for NoObserver {
    fn on_event(&self, _: &SyncEvent) {}
}

/// The outcome of one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TableSummary {
    /// Entity set.
    pub entity_set: String,
    /// Rows received (inserted or updated).
    pub pulled: u64,
    /// Rows removed locally.
    pub deleted: u64,
    /// Pages applied.
    pub pages: u64,
    /// Response bytes.
    pub bytes: u64,
    /// Whether this was a full pass.
    pub full: bool,
    /// Whether the table is up to date (false: stopped by the deadline or an error).
    pub complete: bool,
    /// What went wrong for this table, if anything (the others still synced).
    pub error: Option<Error>,
}

/// The outcome of a sync.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SyncSummary {
    /// Per table.
    pub tables: Vec<TableSummary>,
    /// The push phase.
    pub push: PushSummary,
    /// Push error, if the push phase stopped (the queue is kept).
    pub push_error: Option<Error>,
    /// Outbox entries still waiting.
    pub pending: u64,
    /// Open conflicts.
    pub open_conflicts: u64,
    /// Parked entries.
    pub parked: u64,
    /// Outbox entries left unsent that are not parked, each with the reason (behind a refused
    /// change, waiting for a refused create, not sent in this sync, …). A sync that leaves any
    /// is not `complete`.
    pub unsent: Vec<Unsent>,
    /// Wall time.
    pub duration: Duration,
    /// HTTP requests sent.
    pub requests: u64,
    /// Whether everything completed: every table is up to date and every local change was
    /// sent or is shown to the user (a conflict, a refused change). False while `unsent` is not
    /// empty.
    pub complete: bool,
}

impl SyncSummary {
    /// Rows received over all tables.
    pub fn rows_pulled(&self) -> u64 {
        self.tables.iter().map(|t| t.pulled).sum()
    }
}

/// Shared state of one running sync.
#[derive(Clone)]
pub(crate) struct Ctx {
    pub store: Arc<Store>,
    pub client: Arc<Client>,
    pub observer: Arc<dyn SyncObserver>,
    pub deadline: Option<Instant>,
    pub page_size: u32,
    pub push_batch_size: usize,
    pub concurrency: usize,
}

impl Ctx {
    pub(crate) fn past_deadline(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    pub(crate) fn emit(&self, e: &SyncEvent) {
        // An observer that panics must not take the sync down.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.observer.on_event(e)));
    }
}

/// Run store work off the async threads.
pub(crate) async fn blocking<T: Send + 'static>(
    store: &Arc<Store>,
    f: impl FnOnce(&Store) -> Result<T> + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(|e| Error::internal(format!("store task failed: {e}")))?
}

/// Benchmark hook (feature `bench-internals`, never in a shipped build): parse one page body
/// exactly as a pull does (same parser, same `Shape`: primary id plus the kept `$select` columns).
/// Returns the rows, the next link and the delta link.
///
/// # Errors
/// The parser's message for a malformed page.
#[cfg(feature = "bench-internals")]
#[doc(hidden)]
#[allow(clippy::type_complexity)]
pub fn bench_parse_page(
    body: &[u8],
    primary_id: &str,
    keep: &std::collections::HashSet<String>,
) -> std::result::Result<(Vec<crate::store::ServerRow>, Option<String>, Option<String>), String> {
    let page = crate::dataverse::page::parse(body, &crate::dataverse::page::Shape { primary_id, keep })?;
    Ok((page.rows, page.next_link, page.delta_link))
}

pub(crate) use crate::failpoint::failpoint;

struct Inner {
    store: Arc<Store>,
    auth: Arc<Auth>,
    tokens: Arc<dyn TokenSource>,
    api_root: String,
    profile: SyncProfile,
    config: SyncConfig,
    running: AtomicBool,
    cancel: Mutex<Option<CancellationToken>>,
    http: reqwest::Client,
}

/// The sync engine of one vault and one signed-in account.
#[derive(Clone)]
pub struct SyncEngine {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for SyncEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncEngine").field("api_root", &self.inner.api_root).finish_non_exhaustive()
    }
}

const SETTING_METADATA_VERSION: &str = "sync.globalmetadataversion";

struct RunningGuard<'a>(&'a AtomicBool);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl SyncEngine {
    /// An engine for `org`, tokens from `auth`, data in `store`.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad profile.
    pub fn new(
        store: Arc<Store>,
        auth: Arc<Auth>,
        org: &OrgUrl,
        profile: SyncProfile,
        config: SyncConfig,
    ) -> Result<SyncEngine> {
        profile.validate()?;
        let api_root = format!("{}/api/data/{}/", org.as_str().trim_end_matches('/'), config.api_version);
        let http = Client::http(config.request_timeout)?;
        Ok(SyncEngine {
            inner: Arc::new(Inner {
                store,
                tokens: auth.clone(),
                auth,
                api_root,
                profile,
                config,
                running: AtomicBool::new(false),
                cancel: Mutex::new(None),
                http,
            }),
        })
    }

    /// The profile.
    pub fn profile(&self) -> &SyncProfile {
        &self.inner.profile
    }

    /// Cancel the running sync, if any: no new request starts, requests in flight are dropped,
    /// and the store keeps every page and push result applied so far.
    pub fn cancel(&self) {
        if let Ok(g) = self.inner.cancel.lock() {
            if let Some(t) = g.as_ref() {
                t.cancel();
            }
        }
    }

    /// Whether a sync is running.
    pub fn is_running(&self) -> bool {
        self.inner.running.load(Ordering::SeqCst)
    }

    /// Push, then pull. Per-table failures are reported in the summary and do not stop the
    /// other tables.
    ///
    /// # Errors
    /// `SyncInProgress`; `Cancelled`; sign-in errors (`InteractionRequired`, …) that stop
    /// everything; `Storage`.
    pub async fn sync(&self, options: SyncOptions, observer: Arc<dyn SyncObserver>) -> Result<SyncSummary> {
        if self.inner.running.swap(true, Ordering::SeqCst) {
            return Err(Error::SyncInProgress);
        }
        let inner = self.inner.clone();
        let token = CancellationToken::new();
        if let Ok(mut g) = inner.cancel.lock() {
            *g = Some(token.clone());
        }
        let task = runtime()?.spawn(async move {
            let _guard = RunningGuard(&inner.running);
            let started = Instant::now();
            let started_unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let result = run(&inner, options, observer, token).await;
            let entry = log::SyncLogEntry::new(
                started_unix,
                &result,
                u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            );
            // The log is for support: failing to write it never fails the sync.
            if let Err(e) = blocking(&inner.store, move |s| log::append(s, &entry)).await {
                tracing::warn!(target: "outpost::sync", error = %e, "could not write the sync log");
            }
            result
        });
        match task.await {
            Ok(r) => r,
            Err(e) if e.is_panic() => {
                self.inner.running.store(false, Ordering::SeqCst);
                Err(Error::internal("the sync task panicked"))
            }
            Err(_) => Err(Error::Cancelled),
        }
    }
}

async fn run(
    inner: &Inner,
    options: SyncOptions,
    observer: Arc<dyn SyncObserver>,
    cancel: CancellationToken,
) -> Result<SyncSummary> {
    let started = Instant::now();
    let client = Arc::new(Client::new(
        inner.http.clone(),
        ClientConfig {
            api_root: inner.api_root.clone(),
            max_concurrency: inner.config.max_requests_in_flight,
            retry: inner.config.retry,
            max_body_bytes: 256 << 20,
        },
        inner.tokens.clone(),
        cancel,
    )?);
    let ctx = Ctx {
        store: inner.store.clone(),
        client: client.clone(),
        observer,
        deadline: options.deadline.map(|d| started + d),
        page_size: inner.config.page_size.clamp(1, 5000),
        push_batch_size: inner.config.push_batch_size.clamp(1, 1000),
        concurrency: inner.config.concurrency.max(1),
    };
    let wanted: Vec<TableProfile> = inner
        .profile
        .tables
        .iter()
        .filter(|t| options.tables.as_ref().is_none_or(|only| only.contains(&t.entity_set)))
        .cloned()
        .collect();
    let mut summary = SyncSummary::default();

    // Tables that left the profile: purged once nothing of theirs waits (their unsent edits are
    // pushed first, below; conflicts wait for the user).
    let mut known: HashMap<String, TableSpec> = HashMap::new();
    let mut departed: Vec<String> = Vec::new();
    for t in blocking(&ctx.store, |s| s.tables()).await? {
        if inner.profile.table(&t.entity_set).is_none() {
            departed.push(t.entity_set.clone());
        } else {
            known.insert(t.entity_set.clone(), t);
        }
    }

    // Metadata: from the cache, refreshed when the global metadata version moved.
    let (mut infos, meta_errors) = load_metadata(&ctx, &inner.profile.tables, known).await?;
    let profile_sets: Vec<String> = infos.keys().cloned().collect();
    for set in &departed {
        if let Some(info) = departed_info(&ctx, set).await? {
            infos.insert(set.clone(), Arc::new(info));
        }
    }
    for (set, e) in meta_errors {
        if wanted.iter().any(|t| t.entity_set == set) {
            summary.tables.push(TableSummary { entity_set: set, error: Some(e), ..TableSummary::default() });
        }
    }

    if options.push {
        verify_unknown_creates(&ctx, &infos, &profile_sets).await?;
        match push::run(&ctx, &infos).await {
            Ok(p) => summary.push = p,
            Err(e) if stops_the_sync(&e) => return Err(e),
            Err(e) => summary.push_error = Some(e),
        }
    }
    for set in &departed {
        let s2 = set.clone();
        let left = blocking(&ctx.store, move |s| s.table_pending(&s2)).await?;
        if left == 0 {
            tracing::info!(target: "outpost::sync", table = %set, "table left the profile: purging");
            let s2 = set.clone();
            blocking(&ctx.store, move |s| s.purge_table(&s2)).await?;
            infos.remove(set);
        } else {
            tracing::info!(target: "outpost::sync", table = %set, left, "table left the profile: kept until its changes are sent");
            summary.tables.push(TableSummary {
                entity_set: set.clone(),
                error: Some(Error::PendingChanges { count: left }),
                ..TableSummary::default()
            });
        }
    }
    let departed_infos: Vec<String> = departed.iter().filter(|s| infos.contains_key(*s)).cloned().collect();
    for set in &departed_infos {
        infos.remove(set);
    }

    if options.pull {
        let mut set = tokio::task::JoinSet::new();
        let limit = Arc::new(tokio::sync::Semaphore::new(ctx.concurrency));
        for t in wanted {
            let Some(info) = infos.get(&t.entity_set).cloned() else { continue };
            let ctx = ctx.clone();
            let limit = limit.clone();
            set.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let r = pull::table(&ctx, &info.profile, &info.meta).await;
                (t.entity_set.clone(), r)
            });
        }
        while let Some(joined) = set.join_next().await {
            let (entity_set, r) = joined.map_err(|e| Error::internal(format!("pull task failed: {e}")))?;
            match r {
                Ok(s) => summary.tables.push(s),
                Err(e) if stops_the_sync(&e) => {
                    set.abort_all();
                    return Err(e);
                }
                Err(e) => summary.tables.push(TableSummary { entity_set, error: Some(e), ..TableSummary::default() }),
            }
        }
        resolve_targets(&ctx, &infos).await?;
        let order: Vec<&str> = inner.profile.tables.iter().map(|t| t.entity_set.as_str()).collect();
        summary.tables.sort_by_key(|t| order.iter().position(|o| *o == t.entity_set));
    }

    let store = ctx.store.clone();
    let (pending, conflicts, parked) =
        blocking(&store, |s| Ok((s.pending_count()?, s.conflict_count()?, s.parked()?.len() as u64))).await?;
    summary.pending = pending;
    summary.open_conflicts = conflicts;
    summary.parked = parked;
    let profile_infos: Infos =
        infos.iter().filter(|(k, _)| profile_sets.contains(k)).map(|(k, v)| (k.clone(), v.clone())).collect();
    summary.unsent = push::unsent(&ctx, &profile_infos).await?;
    summary.push.blocked =
        summary.unsent.iter().filter(|u| matches!(u.reason, UnsentReason::WaitsForRefused { .. })).count() as u64;
    summary.duration = started.elapsed();
    summary.requests = client.stats.requests.load(Ordering::Relaxed);
    summary.complete = summary.push_error.is_none()
        && (summary.unsent.is_empty() || !options.push)
        && summary.tables.iter().all(|t| t.error.is_none() && (t.complete || !options.pull));
    tracing::info!(target: "outpost::sync", rows = summary.rows_pulled(), pushed = summary.push.pushed,
        requests = summary.requests, ms = summary.duration.as_millis() as u64, complete = summary.complete, "sync finished");
    Ok(summary)
}

type Infos = HashMap<String, Arc<push::TableInfo>>;

/// What the push needs of a table that left the profile, from what the vault cached (its
/// metadata and the `$select` of its last pull), so its unsent edits can still go out. `None`
/// when nothing of it waits, or nothing was cached.
async fn departed_info(ctx: &Ctx, set: &str) -> Result<Option<push::TableInfo>> {
    let s2 = set.to_string();
    if blocking(&ctx.store, move |s| s.table_pending(&s2)).await? == 0 {
        return Ok(None);
    }
    let s2 = set.to_string();
    let state = blocking(&ctx.store, move |s| s.sync_state(&s2)).await?;
    let Some(meta) = state.metadata.and_then(|j| serde_json::from_str::<TableMetadata>(&j).ok()) else {
        return Ok(None);
    };
    let mut select: Vec<String> = state
        .select_columns
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    if !select.contains(&meta.primary_id) {
        select.push(meta.primary_id.clone());
    }
    Ok(Some(push::TableInfo { profile: TableProfile::new(set, &[]), meta, select }))
}

/// Creates that were sent but whose answer never came (killed, connection lost) are not sent
/// again blindly: a create that landed and was deleted on the server since would be re-created.
/// Their tables are pulled first: the pull settles a create whose row it sees, and turns one
/// whose tombstone it sees into what a server delete means locally.
/// Errors that end the whole sync at once (the user cancelled, or must sign in again), rather
/// than being recorded against one table or phase while the others go on.
fn stops_the_sync(e: &Error) -> bool {
    matches!(
        e,
        Error::Cancelled | Error::InteractionRequired { .. } | Error::MfaRequired { .. } | Error::ReauthRequired { .. }
    )
}

async fn verify_unknown_creates(ctx: &Ctx, infos: &Infos, profile_sets: &[String]) -> Result<()> {
    let all = blocking(&ctx.store, |s| s.outbox()).await?;
    let mut sets: Vec<String> = all
        .iter()
        .filter(|e| e.op == crate::store::OutboxOp::Create && e.state == crate::store::OutboxState::InFlight)
        .map(|e| e.entity_set.clone())
        .collect();
    sets.sort();
    sets.dedup();
    for set in sets.into_iter().filter(|s| profile_sets.contains(s)) {
        let Some(info) = infos.get(&set) else { continue };
        let s2 = set.clone();
        let state = blocking(&ctx.store, move |s| s.sync_state(&s2)).await?;
        if state.delta_link.is_none() && state.next_link.is_none() {
            continue; // no change tracking position yet: the replay's conditional headers decide
        }
        match pull::table(ctx, &info.profile, &info.meta).await {
            Ok(_) => {}
            Err(e) if stops_the_sync(&e) => return Err(e),
            Err(e) => {
                tracing::info!(target: "outpost::sync", table = %set, error = %e, "could not verify unsettled creates first");
            }
        }
    }
    Ok(())
}

/// Tables pulled without lookup annotations: resolve unknown polymorphic targets against the
/// local tables once every table has been pulled (a page can refer to rows of a table that
/// arrives later). ADR 0004.
async fn resolve_targets(ctx: &Ctx, infos: &Infos) -> Result<()> {
    for info in infos.values() {
        let set = info.profile.entity_set.clone();
        let annotated = {
            let set = set.clone();
            blocking(&ctx.store, move |s| s.sync_state(&set)).await?.annotations
        };
        for p in &info.select {
            let Some(col) = info.meta.columns.get(p).filter(|c| c.is_lookup() && c.targets.len() > 1) else { continue };
            if annotated {
                continue;
            }
            let targets: Vec<(String, String)> = col
                .targets
                .iter()
                .filter_map(|t| info.meta.target_sets.get(t).map(|s| (t.clone(), s.clone())))
                .collect();
            let (set, prop) = (set.clone(), p.clone());
            blocking(&ctx.store, move |s| s.resolve_lookup_targets(&set, &prop, &targets)).await?;
        }
    }
    Ok(())
}

/// Metadata of every profile table: cached, with at most one probe of the global metadata
/// version per sync (a plain query, never a change-tracked one); refetched when it moved.
/// `known`: the tables the store declares now (profile tables only).
async fn load_metadata(
    ctx: &Ctx,
    tables: &[TableProfile],
    mut known: HashMap<String, TableSpec>,
) -> Result<(Infos, Vec<(String, Error)>)> {
    let mut cached: HashMap<String, TableMetadata> = HashMap::new();
    for t in known.values() {
        let set = t.entity_set.clone();
        let state = blocking(&ctx.store, move |s| s.sync_state(&set)).await?;
        if let Some(m) = state.metadata.and_then(|j| serde_json::from_str::<TableMetadata>(&j).ok()) {
            cached.insert(t.entity_set.clone(), m);
        }
    }
    let mut version: Option<String> = None;
    if let Some(first) = tables.first() {
        let select = cached.get(&first.entity_set).map(|m| format!("$select={}&", m.primary_id)).unwrap_or_default();
        let url = format!("{}{}?{select}$top=1", ctx.client.api_root(), first.entity_set);
        let req = Request::get(url)
            .header("Prefer", "odata.include-annotations=\"Microsoft.Dynamics.CRM.globalmetadataversion\"");
        match ctx.client.execute_json(&req).await {
            Ok(resp) if resp.status.is_success() => {
                #[derive(serde::Deserialize)]
                struct Probe {
                    #[serde(rename = "@Microsoft.Dynamics.CRM.globalmetadataversion")]
                    version: Option<serde_json::Value>,
                }
                version = serde_json::from_slice::<Probe>(&resp.body)
                    .ok()
                    .and_then(|p| p.version)
                    .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_string));
            }
            Ok(_) => {}
            Err(e) if stops_the_sync(&e) => return Err(e),
            Err(_) => {}
        }
    }
    let stored = blocking(&ctx.store, |s| s.setting(SETTING_METADATA_VERSION)).await?;
    let refetch_all = matches!((&version, &stored), (Some(v), Some(s)) if v != s);
    if refetch_all {
        tracing::info!(target: "outpost::sync", "the server's metadata version moved: refreshing table metadata");
    }
    let mut infos = HashMap::new();
    let mut errors = Vec::new();
    for t in tables {
        let meta = match cached.get(&t.entity_set).filter(|_| !refetch_all) {
            Some(m) => m.clone(),
            None => {
                ctx.emit(&SyncEvent::Progress(TableProgress {
                    entity_set: t.entity_set.clone(),
                    phase: Phase::Metadata,
                    rows: 0,
                    total: None,
                    pages: 0,
                    bytes: 0,
                }));
                match metadata::fetch(&ctx.client, &t.entity_set).await {
                    Ok(m) => {
                        let json = serde_json::to_string(&m).map_err(|e| Error::internal(e.to_string()))?;
                        let spec = TableSpec {
                            entity_set: t.entity_set.clone(),
                            primary_id: m.primary_id.clone(),
                            searchable: Vec::new(),
                            sortable: Vec::new(),
                        };
                        let logical = m.logical_name.clone();
                        let new = !known.contains_key(&spec.entity_set);
                        let declared = spec.clone();
                        blocking(&ctx.store, move |s| {
                            if new {
                                s.register_table(&spec)?;
                            }
                            s.set_table_metadata(&spec.entity_set, &logical, &json)
                        })
                        .await?;
                        known.entry(declared.entity_set.clone()).or_insert(declared);
                        m
                    }
                    Err(e) if stops_the_sync(&e) => return Err(e),
                    Err(e) => {
                        errors.push((t.entity_set.clone(), e));
                        continue;
                    }
                }
            }
        };
        let select = match pull::select_columns(t, &meta) {
            Ok(s) => s,
            Err(e) => {
                errors.push((t.entity_set.clone(), e));
                continue;
            }
        };
        // Keep the store's declaration (indexes, full-text columns) in step with the profile.
        let searchable: Vec<String> =
            t.searchable.iter().filter_map(|c| meta.property_of(c).map(|m| m.property.clone())).collect();
        let sortable: Vec<String> =
            t.sortable.iter().filter_map(|c| meta.property_of(c).map(|m| m.property.clone())).collect();
        let spec =
            TableSpec { entity_set: t.entity_set.clone(), primary_id: meta.primary_id.clone(), searchable, sortable };
        let (c, u, d) = (t.allow_create, t.allow_update, t.allow_delete);
        let changed = known.get(&spec.entity_set) != Some(&spec);
        blocking(&ctx.store, move |s| {
            if changed {
                s.register_table(&spec)?;
            }
            s.set_allowed_edits(&spec.entity_set, c, u, d)
        })
        .await?;
        infos.insert(t.entity_set.clone(), Arc::new(push::TableInfo { profile: t.clone(), meta, select }));
    }
    if let Some(v) = version.filter(|_| errors.is_empty()) {
        blocking(&ctx.store, move |s| s.set_setting(SETTING_METADATA_VERSION, &v)).await?;
    }
    Ok((infos, errors))
}
