//! The commands. Each returns `Ok(())` or a [`Failure`] that [`run`] prints with its exit code.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use outpost_core::sync::{sync_log, CheckStatus, SyncOptions, SyncSummary, TableColumns};
use outpost_core::{
    parse_filter, ConflictKind, Error, LoopbackRedirect, OpenOptions, OrderBy, OrgUrl, OutboxOp, Query, RecordState,
    Resolution, SignInOptions, Values, Vault,
};
use url::Url;

use crate::app::{self, Session, Settings, ENV_NEW_PASSWORD, ENV_PASSWORD, ENV_SIGNIN_PASSWORD, SETTINGS_FILE};
use crate::fail::{self, usage, Doing, Failure};
use crate::output::{cell, count, json_object, table};
use crate::progress::Bars;
use crate::{Cli, Command, ConflictAction, ErrorAction, Flow, Side};

type Res = Result<(), Failure>;

/// Run one command line; returns the exit code.
pub async fn run(cli: Cli) -> u8 {
    let dir = match app::vault_dir(cli.db.as_deref()) {
        Ok(d) => d,
        Err(f) => return report(&f, Path::new("."), cli.json),
    };
    let json = cli.json;
    let result = match cli.command {
        Command::Demo(a) => crate::demo::run(a, json).await,
        Command::Init(a) => init(&dir, a, json),
        Command::SignIn(a) => sign_in(&dir, a, json).await,
        Command::Sync(a) => sync(&dir, a.tables, json).await,
        Command::Status => status(&dir, json).await,
        Command::Doctor => doctor(&dir, json).await,
        Command::Query(a) => query(&dir, a, json),
        Command::Get { entity_set, id } => get(&dir, &entity_set, &id, json),
        Command::Create(a) => create(&dir, &a.entity_set, &a.values, a.json_body.as_deref(), json),
        Command::Update(a) => update(&dir, &a.entity_set, &a.id, &a.values, a.json_body.as_deref(), json),
        Command::Delete { entity_set, id } => delete(&dir, &entity_set, &id, json),
        Command::Conflicts { action } => conflicts(&dir, action.unwrap_or(ConflictAction::List), json),
        Command::Errors { action } => errors(&dir, action.unwrap_or(ErrorAction::List), json),
        Command::Lock => lock(&dir, json),
        Command::Unlock => unlock(&dir, json),
        Command::Passwd => passwd(&dir, json),
        Command::SignOut { force } => sign_out(&dir, force, json).await,
        Command::Wipe { yes } => wipe(&dir, yes, json),
        Command::ConsentUrl => consent_url(&dir, json).await,
        Command::AdminConsent(a) => admin_consent(&dir, &a, json).await,
        Command::Log { out } => log(&dir, out.as_deref()),
        Command::Emulator(a) => emulator(a).await,
    };
    match result {
        Ok(()) => fail::OK,
        Err(f) => report(&f, &dir, json),
    }
}

fn report(f: &Failure, dir: &Path, json: bool) -> u8 {
    let code = fail::failure_code(f);
    let message = fail::message(f, dir);
    if json {
        let kind = format!("{:?}", f.error);
        let kind = kind.split([' ', '{', '(']).next().unwrap_or("Error").to_string();
        println!("{}", serde_json::json!({"error": kind, "exit_code": code, "message": message}));
    }
    eprintln!("outpost: {message}");
    code
}

/// Print a JSON value (for `--json`) or the human text.
fn emit(json: bool, value: serde_json::Value, human: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        let text = human();
        if !text.is_empty() {
            println!("{}", text.trim_end());
        }
    }
}

// ---------------------------------------------------------------------------------------- init

fn is_loopback_host(u: &Url) -> bool {
    matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

fn check_url(what: &str, text: &str) -> Result<Url, Failure> {
    let u = Url::parse(text).map_err(|_| usage(format!("{what}: not a URL")))?;
    match u.scheme() {
        "https" => Ok(u),
        "http" if is_loopback_host(&u) => Ok(u),
        "http" => Err(usage(format!("{what}: plain http is allowed only for loopback hosts; use https"))),
        _ => Err(usage(format!("{what}: must be an https URL"))),
    }
}

fn init(dir: &Path, a: crate::InitArgs, json: bool) -> Res {
    let org = OrgUrl::parse(&a.org)?;
    let authority = match &a.authority {
        Some(auth) => {
            Some(check_url("--authority", auth.trim_end_matches('/'))?.as_str().trim_end_matches('/').to_string())
        }
        None => None,
    };
    // `--tenant`: that tenant on the login host the org's 401 challenge names at sign-in (a
    // sovereign-cloud org gets its own cloud's host; it was always the public cloud's).
    if let Some(t) = &a.tenant {
        if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')) {
            return Err(usage("--tenant: give a tenant id (GUID) or a domain such as contoso.onmicrosoft.com"));
        }
    }
    let redirect = check_url("--redirect-uri", &a.redirect_uri)?;
    if redirect.scheme() != "http" || !is_loopback_host(&redirect) {
        return Err(usage(
            "--redirect-uri: the CLI receives the sign-in on loopback: use http://localhost or http://127.0.0.1",
        ));
    }
    if a.client_id.trim().is_empty() {
        return Err(usage("--client-id is empty"));
    }
    let profile = match &a.profile {
        Some(p) => {
            std::fs::read_to_string(p).map_err(|e| usage(format!("--profile: cannot read the file ({})", e.kind())))?
        }
        None => outpost_core::sync::DEFAULT_PROFILE.trim_start().to_string(),
    };
    outpost_core::sync::SyncProfile::from_toml(&profile)?;
    if Vault::exists(dir) {
        return Err(Error::VaultExists.into());
    }
    let settings = Settings {
        version: 1,
        org: org.as_str().to_string(),
        client_id: a.client_id.trim().to_string(),
        authority,
        tenant: a.tenant.clone(),
        redirect_uri: a.redirect_uri.trim_end_matches('/').to_string(),
        profile,
    };
    let pw = app::password(ENV_PASSWORD, "new offline password", true)?;
    let started = std::time::Instant::now();
    let vault = Vault::create(dir, pw.as_bytes(), &outpost_core::CreateOptions::default())?;
    let took = started.elapsed();
    if let Err(e) = settings.save(dir) {
        let _ = vault.wipe();
        return Err(e);
    }
    vault.lock()?;
    emit(
        json,
        serde_json::json!({"vault": dir.display().to_string(), "org": settings.org, "authority": settings.authority,
                           "client_id": settings.client_id, "redirect_uri": settings.redirect_uri}),
        || {
            format!(
                "Created an encrypted vault at {} for {} ({} ms to derive the key).\nNext: outpost sign-in",
                dir.display(),
                settings.org,
                took.as_millis()
            )
        },
    );
    Ok(())
}

// ------------------------------------------------------------------------------------- sign-in

/// Whether a browser can be opened here.
pub fn has_display() -> bool {
    if cfg!(any(target_os = "macos", target_os = "windows")) {
        return true;
    }
    std::env::var_os("DISPLAY").is_some_and(|v| !v.is_empty())
        || std::env::var_os("WAYLAND_DISPLAY").is_some_and(|v| !v.is_empty())
}

/// The loopback redirect for this sign-in: the registered host (`localhost` or `127.0.0.1`)
/// with the listener's port.
pub fn loopback_uri(registered: &str, listener: &LoopbackRedirect) -> String {
    let port = Url::parse(&listener.redirect_uri()).ok().and_then(|u| u.port()).unwrap_or(0);
    let host = Url::parse(registered).ok().and_then(|u| u.host_str().map(str::to_string));
    match host.as_deref() {
        Some("localhost") => format!("http://localhost:{port}"),
        _ => format!("http://127.0.0.1:{port}"),
    }
}

/// Browser sign-in through the loopback listener: open (or print) the URL, wait for the redirect.
pub async fn browser_sign_in(
    session: &Session,
    login_hint: Option<String>,
    open_browser: bool,
    timeout: Duration,
    on_url: impl FnOnce(&str, &Url),
) -> Result<outpost_core::Account, Failure> {
    let listener = LoopbackRedirect::bind().await?;
    let redirect = loopback_uri(&session.settings.redirect_uri, &listener);
    let redirect_url = Url::parse(&redirect).map_err(|_| Error::Internal { reason: "loopback URL".into() })?;
    let request = session
        .auth
        .begin_sign_in(&SignInOptions { login_hint, redirect_uri: Some(redirect.clone()), ..Default::default() })
        .await?;
    let mut opened = false;
    if open_browser && has_display() {
        opened = webbrowser::open(&request.url).is_ok();
    }
    if opened {
        eprintln!("Opened the sign-in page in your browser. If it did not appear, open:\n  {}", request.url);
    } else {
        eprintln!("Open this URL in a browser to sign in:\n  {}", request.url);
    }
    eprintln!("Waiting for the browser (up to {} s)…", timeout.as_secs());
    on_url(&request.url, &redirect_url);
    let received = listener.receive(timeout).await;
    let url = match received {
        Ok(u) => u,
        Err(e) => {
            let _ = session.auth.abort_sign_in().await;
            return Err(e.into());
        }
    };
    Ok(session.auth.complete_sign_in(&url).await?)
}

async fn sign_in(dir: &Path, a: crate::SignInArgs, json: bool) -> Res {
    let session = Session::open(dir, a.flow == Flow::Password)?;
    let timeout = Duration::from_secs(a.timeout.max(1));
    let account = match a.flow {
        Flow::Browser => {
            browser_sign_in(&session, a.username.clone(), !a.no_browser, timeout, |url, _| {
                // A line on standard output too, for scripts that drive the browser themselves.
                if json {
                    println!("{}", serde_json::json!({"sign_in_url": url}));
                }
                let _ = std::io::stdout().flush();
            })
            .await?
        }
        Flow::DeviceCode => {
            let fut = session.auth.sign_in_with_device_code(|info| {
                eprintln!("{}", info.message);
                if json {
                    println!(
                        "{}",
                        serde_json::json!({"user_code": info.user_code, "verification_uri": info.verification_uri})
                    );
                    let _ = std::io::stdout().flush();
                }
            });
            match tokio::time::timeout(timeout, fut).await {
                Ok(r) => r?,
                Err(_) => return Err(Error::UserCancelled.into()),
            }
        }
        Flow::Password => {
            let user = a.username.as_deref().ok_or_else(|| usage("--flow password needs --username"))?;
            let pw = app::password(ENV_SIGNIN_PASSWORD, &format!("password for {user}"), false)?;
            session
                .auth
                .sign_in_with_password(user, pw.as_bytes())
                .await
                .map_err(|error| Failure { error: Box::new(error), doing: Doing::PasswordSignIn })?
        }
    };
    emit(
        json,
        serde_json::json!({"username": account.username, "tenant_id": account.tenant_id, "account_id": account.account_id}),
        || format!("Signed in as {} (tenant {}).", account.username, account.tenant_id),
    );
    Ok(())
}

// ---------------------------------------------------------------------------------------- sync

/// The human lines of a sync summary.
pub fn summary_lines(s: &SyncSummary) -> String {
    let mut out = String::new();
    if s.push.pushed + s.push.conflicts + s.push.auto_resolved + s.push.parked > 0 {
        out.push_str(&format!(
            "  push: {} sent, {} merged by policy, {} conflicts kept for you, {} refused by the server\n",
            s.push.pushed, s.push.auto_resolved, s.push.conflicts, s.push.parked
        ));
    }
    if let Some(e) = &s.push_error {
        out.push_str(&format!("  push stopped: {e} (the changes stay queued)\n"));
    }
    for t in &s.tables {
        match &t.error {
            Some(e) => out.push_str(&format!("  {:<10} failed: {e}\n", t.entity_set)),
            None => out.push_str(&format!(
                "  {:<10} {} {} rows, {} removed, {} pages{}\n",
                t.entity_set,
                if t.full { "full pull:" } else { "changes:  " },
                count(t.pulled),
                count(t.deleted),
                t.pages,
                if t.complete { "" } else { " (incomplete: resumes next time)" }
            )),
        }
    }
    if !s.unsent.is_empty() {
        out.push_str(&format!("  not sent: {} local changes (`outpost errors` explains each)\n", s.unsent.len()));
        for u in s.unsent.iter().take(10) {
            out.push_str(&format!("    {}({}): {}\n", u.entity_set, u.record_id, unsent_reason(&u.reason)));
        }
    }
    out.push_str(&format!(
        "Synced {} rows in {:.1} s with {} requests; {} changes pending, {} conflicts open, {} refused.",
        count(s.rows_pulled()),
        s.duration.as_secs_f64(),
        s.requests,
        s.pending,
        s.open_conflicts,
        s.parked
    ));
    out
}

fn unsent_reason(r: &outpost_core::sync::UnsentReason) -> String {
    use outpost_core::sync::UnsentReason as R;
    match r {
        R::BehindRefused { seq } => format!("waits behind refused change {seq}: fix and retry it, or discard it"),
        R::WaitsForRefused { entity_set, record_id } => {
            format!("refers to {entity_set}({record_id}), whose creation the server refused")
        }
        R::WaitsForCreate { entity_set, record_id } => {
            format!("refers to {entity_set}({record_id}), created here and not on the server yet")
        }
        R::TableNotInProfile => "its table left the sync profile: add it back and sync, to send it".into(),
        R::NotSent => "not sent by this sync: the next sync sends it".into(),
    }
}

fn summary_json(s: &SyncSummary) -> serde_json::Value {
    serde_json::json!({
        "complete": s.complete,
        "rows_pulled": s.rows_pulled(),
        "requests": s.requests,
        "duration_ms": u64::try_from(s.duration.as_millis()).unwrap_or(u64::MAX),
        "pending": s.pending,
        "open_conflicts": s.open_conflicts,
        "parked": s.parked,
        "unsent": s.unsent.iter().map(|u| serde_json::json!({"seq": u.seq, "entity_set": u.entity_set,
            "record_id": u.record_id, "reason": unsent_reason(&u.reason)})).collect::<Vec<_>>(),
        "push": {"pushed": s.push.pushed, "conflicts": s.push.conflicts, "auto_resolved": s.push.auto_resolved,
                 "parked": s.push.parked, "batches": s.push.batches,
                 "error": s.push_error.as_ref().map(ToString::to_string)},
        "tables": s.tables.iter().map(|t| serde_json::json!({
            "entity_set": t.entity_set, "pulled": t.pulled, "deleted": t.deleted, "pages": t.pages,
            "bytes": t.bytes, "full": t.full, "complete": t.complete,
            "error": t.error.as_ref().map(ToString::to_string)})).collect::<Vec<_>>(),
    })
}

/// Run a sync with progress bars; Ctrl-C cancels it cleanly.
pub async fn run_sync(
    engine: &outpost_core::sync::SyncEngine,
    options: SyncOptions,
    totals: HashMap<String, u64>,
    hide_bars: bool,
) -> Result<SyncSummary, Failure> {
    let bars = Arc::new(Bars::new(totals, hide_bars));
    let canceller = engine.clone();
    let ctrl_c = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ncancelling… (everything applied so far is kept)");
            canceller.cancel();
        }
    });
    let result = engine.sync(options, bars.clone()).await;
    ctrl_c.abort();
    bars.finish();
    Ok(result?)
}

async fn sync(dir: &Path, tables: Option<Vec<String>>, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    if let Some(t) = &tables {
        for set in t {
            if session.profile.table(set).is_none() {
                return Err(usage(format!("{set} is not in the sync profile")));
            }
        }
    }
    let engine = session.engine()?;
    let s = run_sync(&engine, SyncOptions { tables, ..Default::default() }, HashMap::new(), json).await?;
    emit(json, summary_json(&s), || summary_lines(&s));
    // A table that failed decides the exit code (after the summary was shown), then changes
    // left unsent for a reason the user must act on.
    match s.tables.iter().find_map(|t| t.error.clone()).or(s.push_error.clone()) {
        Some(e) => Err(e.into()),
        None if !s.unsent.is_empty() => Err(Failure {
            error: Box::new(outpost_core::Error::PendingChanges { count: s.unsent.len() as u64 }),
            doing: Doing::Unsent,
        }),
        None => Ok(()),
    }
}

// -------------------------------------------------------------------------------------- status

async fn status(dir: &Path, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    let store = session.vault.store();
    let account = session.vault.account()?;
    let signed_in = session.auth.is_signed_in().await?;
    let known: Vec<String> = store.tables()?.into_iter().map(|t| t.entity_set).collect();
    let mut tables = Vec::new();
    for t in &session.profile.tables {
        if known.contains(&t.entity_set) {
            let st = store.sync_state(&t.entity_set)?;
            tables.push((t.entity_set.clone(), Some(store.count(&t.entity_set)?), st.last_sync, st.initial_done));
        } else {
            tables.push((t.entity_set.clone(), None, None, false));
        }
    }
    let pending = store.pending_count()?;
    let conflicts = store.conflict_count()?;
    let parked = store.parked()?.len();
    let vault_status = Vault::status(dir, &OpenOptions::default())?;
    let value = serde_json::json!({
        "vault": dir.display().to_string(),
        "org": session.settings.org,
        "signed_in": signed_in,
        "account": account.as_ref().map(|a| serde_json::json!({"username": a.username, "tenant_id": a.tenant_id,
                                                                  "account_id": a.account_id, "org_url": a.org_url})),
        "tables": tables.iter().map(|(set, rows, last, done)| serde_json::json!({
            "entity_set": set, "rows": rows, "last_sync_unix": last, "initial_sync_done": done})).collect::<Vec<_>>(),
        "pending_changes": pending,
        "open_conflicts": conflicts,
        "parked_errors": parked,
        "password_attempts_left": vault_status.attempts_left,
    });
    emit(json, value, || {
        let who = match (&account, signed_in) {
            (Some(a), true) => format!("{} (signed in)", a.username),
            (Some(a), false) => format!("{} (signed out: run `outpost sign-in`)", a.username),
            (None, _) => "nobody yet: run `outpost sign-in`".into(),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(0));
        let rows: Vec<Vec<String>> = tables
            .iter()
            .map(|(set, rows, last, done)| {
                vec![
                    set.clone(),
                    rows.map_or_else(|| "-".into(), count),
                    match last {
                        Some(t) => format!("{} ago", ago(now - t)),
                        None => "never".into(),
                    },
                    if *done { "yes".into() } else { "no".into() },
                ]
            })
            .collect();
        format!(
            "Vault:    {}\nOrg:      {}\nAccount:  {who}\n\n{}\nPending changes: {pending}   Open conflicts: {conflicts}   Parked errors: {parked}",
            dir.display(),
            session.settings.org,
            table(&["table".into(), "rows".into(), "last sync".into(), "offline ready".into()], &rows, 40)
        )
    });
    Ok(())
}

fn ago(s: i64) -> String {
    let s = s.max(0);
    match s {
        0..=119 => format!("{s} s"),
        120..=7199 => format!("{} min", s / 60),
        7200..=172_799 => format!("{} h", s / 3600),
        _ => format!("{} days", s / 86400),
    }
}

// -------------------------------------------------------------------------------------- doctor

async fn doctor(dir: &Path, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    let engine = session.engine()?;
    let checks = engine.diagnose().await?;
    let failed = checks.iter().filter(|c| c.status == CheckStatus::Fail).count();
    let label = |s: CheckStatus| match s {
        CheckStatus::Pass => "ok",
        CheckStatus::Warn => "warn",
        CheckStatus::Fail => "FAIL",
        CheckStatus::Skipped => "skipped",
    };
    emit(
        json,
        serde_json::json!({"ok": failed == 0, "checks": checks.iter().map(|c| serde_json::json!({
            "check": c.name, "table": c.table, "status": label(c.status), "detail": c.detail})).collect::<Vec<_>>()}),
        || {
            let rows: Vec<Vec<String>> = checks
                .iter()
                .map(|c| {
                    vec![label(c.status).into(), c.table.clone().unwrap_or_default(), c.name.clone(), c.detail.clone()]
                })
                .collect();
            format!(
                "{}\n{}",
                table(&["".into(), "table".into(), "check".into(), "finding".into()], &rows, 110),
                if failed == 0 { "All checks passed.".to_string() } else { format!("{failed} checks failed.") }
            )
        },
    );
    if failed > 0 {
        return Err(Failure {
            error: Box::new(Error::Internal { reason: "doctor".into() }),
            doing: Doing::Doctor(failed),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------------------------- local data

fn columns(session: &Session, entity_set: &str) -> Result<TableColumns, Failure> {
    let t =
        session.profile.table(entity_set).ok_or_else(|| usage(format!("{entity_set} is not in the sync profile")))?;
    TableColumns::load(session.vault.store(), t).map_err(|e| match e {
        Error::InvalidArgument { .. } => usage(format!("{entity_set} has not been synced yet: run `outpost sync`")),
        other => other.into(),
    })
}

fn parse_order(text: &str, cols: &TableColumns) -> Result<Vec<OrderBy>, Failure> {
    text.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|part| {
            let mut words = part.split_whitespace();
            let name = words.next().unwrap_or_default();
            let descending = match words.next() {
                None | Some("asc") => false,
                Some("desc") => true,
                Some(_) => return Err(usage("--order: write \"column\" or \"column desc\", comma-separated")),
            };
            let column = cols.column(name).map_or_else(|| name.to_string(), |c| c.property.clone());
            if name == cols.primary_id {
                return Ok(OrderBy { column: name.to_string(), descending });
            }
            if cols.column(name).is_none() {
                return Err(usage(format!("--order: {} has no column {name:?} in the profile", cols.entity_set)));
            }
            Ok(OrderBy { column, descending })
        })
        .collect()
}

/// Map the filter's column names (profile names) to the store's properties.
fn map_filter(f: outpost_core::Filter, cols: &TableColumns) -> outpost_core::Filter {
    use outpost_core::Filter as F;
    let p = |c: String| cols.column(&c).map_or(c, |i| i.property.clone());
    match f {
        F::Eq(c, v) => F::Eq(p(c), v),
        F::Ne(c, v) => F::Ne(p(c), v),
        F::Lt(c, v) => F::Lt(p(c), v),
        F::Le(c, v) => F::Le(p(c), v),
        F::Gt(c, v) => F::Gt(p(c), v),
        F::Ge(c, v) => F::Ge(p(c), v),
        F::Contains(c, t) => F::Contains(p(c), t),
        F::StartsWith(c, t) => F::StartsWith(p(c), t),
        F::In(c, v) => F::In(p(c), v),
        F::IsNull(c) => F::IsNull(p(c)),
        F::And(v) => F::And(v.into_iter().map(|f| map_filter(f, cols)).collect()),
        F::Or(v) => F::Or(v.into_iter().map(|f| map_filter(f, cols)).collect()),
        F::Not(b) => F::Not(Box::new(map_filter(*b, cols))),
    }
}

/// A record as (profile column, value) pairs.
pub type Row = Vec<(String, outpost_core::Value)>;

/// Rows of a query (or a search) as profile-named pairs, and whether more rows matched.
pub fn select_rows(
    store: &outpost_core::Store,
    cols: &TableColumns,
    filter: Option<&str>,
    search: Option<&str>,
    order: Option<&str>,
    limit: Option<u32>,
) -> Result<(Vec<Row>, bool), Failure> {
    let mut rows = Vec::new();
    if let Some(text) = search {
        if filter.is_some() || order.is_some() {
            return Err(usage("--search ranks by relevance: it cannot be combined with --filter or --order"));
        }
        let want = limit.unwrap_or(500).clamp(1, 500);
        let hits = store.search(&cols.entity_set, text, want)?;
        let more = limit.is_none() && hits.len() == 500;
        rows.extend(hits.iter().map(|h| cols.view(&h.record)));
        return Ok((rows, more));
    }
    let filter = match filter {
        Some(f) => Some(map_filter(parse_filter(f)?, cols)),
        None => None,
    };
    let order_by = order.map(|o| parse_order(o, cols)).transpose()?.unwrap_or_default();
    let mut after = None;
    loop {
        let remaining = limit.map_or(5000, |l| l.saturating_sub(u32::try_from(rows.len()).unwrap_or(u32::MAX)));
        if remaining == 0 {
            // One more row tells whether the limit cut the result.
            let peek = store.query(
                &cols.entity_set,
                &Query { filter: filter.clone(), order_by: order_by.clone(), limit: 1, after: after.clone() },
            )?;
            return Ok((rows, !peek.records.is_empty()));
        }
        let page = store.query(
            &cols.entity_set,
            &Query { filter: filter.clone(), order_by: order_by.clone(), limit: remaining.min(5000), after },
        )?;
        rows.extend(page.records.iter().map(|r| cols.view(r)));
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok((rows, false)),
        }
    }
}

/// Print rows as a table of the chosen columns.
pub fn print_rows(rows: &[Row], select: &[String]) -> String {
    let headers: Vec<String> = select.to_vec();
    let cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            select.iter().map(|c| r.iter().find(|(k, _)| k == c).map(|(_, v)| cell(v)).unwrap_or_default()).collect()
        })
        .collect();
    table(&headers, &cells, 36)
}

fn default_select(cols: &TableColumns) -> Vec<String> {
    let mut s = vec![cols.primary_id.clone()];
    s.extend(
        cols.columns
            .iter()
            .filter(|c| !matches!(c.name.as_str(), "description" | "ownerid" | "modifiedon"))
            .take(4)
            .map(|c| c.name.clone()),
    );
    s
}

fn query(dir: &Path, a: crate::QueryArgs, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    let cols = columns(&session, &a.entity_set)?;
    let select = match &a.select {
        Some(s) => {
            for c in s {
                if *c != cols.primary_id && cols.columns.iter().all(|k| k.name != *c) {
                    return Err(usage(format!("--select: {} has no column {c:?} in the profile", a.entity_set)));
                }
            }
            let mut v = s.clone();
            if !v.contains(&cols.primary_id) {
                v.insert(0, cols.primary_id.clone());
            }
            v
        }
        None => default_select(&cols),
    };
    let limit = if json { a.limit } else { Some(a.limit.unwrap_or(50)) };
    let (rows, more) =
        select_rows(session.vault.store(), &cols, a.filter.as_deref(), a.search.as_deref(), a.order.as_deref(), limit)?;
    if json {
        let keep = |r: &Vec<(String, outpost_core::Value)>| -> Vec<(String, outpost_core::Value)> {
            match &a.select {
                Some(_) => r.iter().filter(|(k, _)| select.contains(k)).cloned().collect(),
                None => r.clone(),
            }
        };
        let body: Vec<String> = rows.iter().map(|r| json_object(&keep(r))).collect();
        println!("[{}]", body.join(","));
    } else {
        print!("{}", print_rows(&rows, &select));
        if more {
            println!("(more rows: raise --limit, or use --json for all)");
        } else {
            println!("({} rows)", rows.len());
        }
    }
    Ok(())
}

fn state_name(s: RecordState) -> &'static str {
    match s {
        RecordState::Synced => "synced",
        RecordState::Modified => "modified (pending)",
        RecordState::Created => "created (pending)",
        RecordState::Deleted => "deleted (pending)",
    }
}

fn get(dir: &Path, entity_set: &str, id: &str, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    let cols = columns(&session, entity_set)?;
    let record = session
        .vault
        .store()
        .get(entity_set, id)?
        .ok_or_else(|| Error::NotFound { what: format!("{entity_set}({id})") })?;
    let view = cols.view(&record);
    if json {
        println!(
            "{{\"record\":{},\"state\":\"{}\",\"etag\":{}}}",
            json_object(&view),
            state_name(record.state).split(' ').next().unwrap_or("synced"),
            serde_json::Value::from(record.etag.clone()),
        );
    } else {
        let rows: Vec<Vec<String>> = view.iter().map(|(k, v)| vec![k.clone(), cell(v)]).collect();
        print!("{}", table(&["column".into(), "value".into()], &rows, 100));
        println!("state: {}", state_name(record.state));
    }
    Ok(())
}

fn values_of(cols: &TableColumns, pairs: &[String], body: Option<&str>) -> Result<Values, Failure> {
    let mut values = Values::new();
    if let Some(b) = body {
        if !pairs.is_empty() {
            return Err(usage("give column=value pairs or --json-body, not both"));
        }
        // Read from the text itself: numbers keep every digit (Money, Decimal), never an f64.
        if serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(b).is_err() {
            return Err(usage("--json-body: not a JSON object"));
        }
        values.extend(cols.values_from_json_text(b)?);
    }
    for p in pairs {
        let (k, v) = p.split_once('=').ok_or_else(|| usage("values are column=value pairs"))?;
        values.extend(cols.values_from_text(k.trim(), v)?);
    }
    if values.is_empty() {
        return Err(usage("no values given"));
    }
    Ok(values)
}

fn create(dir: &Path, entity_set: &str, pairs: &[String], body: Option<&str>, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    let cols = columns(&session, entity_set)?;
    let values = values_of(&cols, pairs, body)?;
    let id = session.vault.store().create(entity_set, values)?;
    emit(json, serde_json::json!({"id": id, "state": "created"}), || {
        format!("Created {entity_set}({id}) locally; the next `outpost sync` sends it.")
    });
    Ok(())
}

fn update(dir: &Path, entity_set: &str, id: &str, pairs: &[String], body: Option<&str>, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    let cols = columns(&session, entity_set)?;
    let values = values_of(&cols, pairs, body)?;
    session.vault.store().update(entity_set, id, values)?;
    emit(json, serde_json::json!({"id": id, "state": "modified"}), || {
        format!("Updated {entity_set}({id}) locally; the next `outpost sync` sends it.")
    });
    Ok(())
}

fn delete(dir: &Path, entity_set: &str, id: &str, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    columns(&session, entity_set)?;
    session.vault.store().delete(entity_set, id)?;
    emit(json, serde_json::json!({"id": id, "state": "deleted"}), || {
        format!("Deleted {entity_set}({id}) locally; the next `outpost sync` sends it.")
    });
    Ok(())
}

fn kind_name(k: ConflictKind) -> &'static str {
    match k {
        ConflictKind::Update => "both changed",
        ConflictKind::ServerDeleted => "deleted on the server",
        ConflictKind::LocalDeleted => "deleted here, changed on the server",
    }
}

fn values_text(v: &Values, columns: &[String]) -> String {
    columns.iter().map(|c| format!("{c}={}", v.get(c).map(cell).unwrap_or_default())).collect::<Vec<_>>().join(", ")
}

/// The open conflicts as a table.
pub fn conflicts_table(store: &outpost_core::Store) -> Result<String, Failure> {
    let list = store.conflicts()?;
    let rows: Vec<Vec<String>> = list
        .iter()
        .map(|c| {
            vec![
                c.id.to_string(),
                format!("{}({})", c.entity_set, c.record_id),
                kind_name(c.kind).into(),
                values_text(&c.local, &c.columns),
                c.server.as_ref().map(|s| values_text(s, &c.columns)).unwrap_or_else(|| "(deleted)".into()),
            ]
        })
        .collect();
    Ok(table(&["id".into(), "record".into(), "kind".into(), "this device".into(), "server".into()], &rows, 60))
}

fn conflicts(dir: &Path, action: ConflictAction, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    let store = session.vault.store();
    match action {
        ConflictAction::List => {
            let list = store.conflicts()?;
            if json {
                let items: Vec<String> = list
                    .iter()
                    .map(|c| {
                        let pairs = |v: &Values| -> Vec<(String, outpost_core::Value)> {
                            v.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
                        };
                        format!(
                            "{{\"id\":{},\"entity_set\":{},\"record_id\":{},\"kind\":\"{}\",\"columns\":{},\"local\":{},\"server\":{}}}",
                            c.id,
                            serde_json::Value::from(c.entity_set.clone()),
                            serde_json::Value::from(c.record_id.clone()),
                            match c.kind {
                                ConflictKind::Update => "update",
                                ConflictKind::ServerDeleted => "server_deleted",
                                ConflictKind::LocalDeleted => "local_deleted",
                            },
                            serde_json::Value::from(c.columns.clone()),
                            json_object(&pairs(&c.local)),
                            c.server.as_ref().map_or_else(|| "null".to_string(), |s| json_object(&pairs(s))),
                        )
                    })
                    .collect();
                println!("[{}]", items.join(","));
            } else if list.is_empty() {
                println!("No open conflicts.");
            } else {
                print!("{}", conflicts_table(store)?);
                println!("Resolve with: outpost conflicts resolve <id> --take local|server");
            }
        }
        ConflictAction::Resolve { id, take } => {
            let r = match take {
                Side::Local => Resolution::TakeLocal,
                Side::Server => Resolution::TakeServer,
            };
            store.resolve_conflict(id, &r)?;
            emit(json, serde_json::json!({"resolved": id}), || {
                format!(
                    "Conflict {id} resolved ({}); the next `outpost sync` sends the result.",
                    if take == Side::Local { "this device's values kept" } else { "the server's values kept" }
                )
            });
        }
    }
    Ok(())
}

fn refusal(r: &outpost_core::RefusalReason) -> String {
    match r {
        outpost_core::RefusalReason::Server => "server".into(),
        outpost_core::RefusalReason::MissingLookupTarget { column } => format!("missing_lookup_target:{column}"),
        outpost_core::RefusalReason::InvalidLocalChange => "invalid_local_change".into(),
    }
}

fn errors(dir: &Path, action: ErrorAction, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    let store = session.vault.store();
    match action {
        ErrorAction::List => {
            let list = store.parked()?;
            let op = |o: OutboxOp| match o {
                OutboxOp::Create => "create",
                OutboxOp::Update => "update",
                OutboxOp::Delete => "delete",
            };
            emit(
                json,
                serde_json::Value::Array(
                    list.iter()
                        .map(|e| {
                            serde_json::json!({"seq": e.seq, "entity_set": e.entity_set, "record_id": e.record_id,
                                "op": op(e.op), "status": e.error.as_ref().map(|x| x.status),
                                "code": e.error.as_ref().map(|x| x.code.clone()),
                                "message": e.error.as_ref().map(|x| x.message.clone()),
                                "reason": e.error.as_ref().map(|x| refusal(&x.reason))})
                        })
                        .collect(),
                ),
                || {
                    if list.is_empty() {
                        return "No parked changes.".into();
                    }
                    let rows: Vec<Vec<String>> = list
                        .iter()
                        .map(|e| {
                            vec![
                                e.seq.to_string(),
                                format!("{} {}({})", op(e.op), e.entity_set, e.record_id),
                                e.error
                                    .as_ref()
                                    .map(|x| match &x.reason {
                                        outpost_core::RefusalReason::MissingLookupTarget { column } => {
                                            format!("HTTP {} {}: {column} points at a missing record", x.status, x.code)
                                        }
                                        _ => format!("HTTP {} {}", x.status, x.code),
                                    })
                                    .unwrap_or_default(),
                                e.error.as_ref().map(|x| x.message.clone()).unwrap_or_default(),
                            ]
                        })
                        .collect();
                    format!(
                        "{}Fix the values with `outpost update`, then `outpost errors retry <seq>`; or `outpost errors discard <seq>`.",
                        table(&["seq".into(), "change".into(), "refused".into(), "server's message".into()], &rows, 80)
                    )
                },
            );
        }
        ErrorAction::Retry { seq } => {
            store.retry_parked(seq)?;
            emit(json, serde_json::json!({"retried": seq}), || {
                format!("Change {seq} is queued again; the next `outpost sync` sends it.")
            });
        }
        ErrorAction::Discard { seq } => {
            let now = store.discard_parked(seq)?;
            let shows = match &now {
                None => "gone",
                Some(r) if r.state == outpost_core::RecordState::Synced => "server",
                Some(_) => "local",
            };
            emit(json, serde_json::json!({"discarded": seq, "record_shows": shows}), || match shows {
                "gone" => format!("Change {seq} was dropped; the record, created here, is gone."),
                "server" => format!("Change {seq} was dropped; the record shows the server's version."),
                _ => format!(
                    "Change {seq} was dropped; the record still shows other local edits or a conflict of yours \
                     (`outpost get`, `outpost conflicts`)."
                ),
            });
        }
    }
    Ok(())
}

// ------------------------------------------------------------------------------ vault commands

fn lock(dir: &Path, json: bool) -> Res {
    let st = Vault::status(dir, &OpenOptions::default())?;
    emit(
        json,
        serde_json::json!({
            "locked": true,
            "attempts_left": st.attempts_left,
            "retry_after_s": st.retry_after_s,
            "password_refused": st.password_refused,
        }),
        || {
            format!(
                "The vault is locked. The CLI opens it only for the duration of a command, so nothing stays unlocked.\n\
                 Wrong passwords left before the lockout policy applies: {}{}{}",
                st.attempts_left,
                st.retry_after_s.map(|s| format!(" (locked out for {s} s)")).unwrap_or_default(),
                if st.password_refused {
                    " (too many wrong passwords: the offline password is disabled; wipe the vault, or unlock it \
                     with its platform key in the app)"
                } else {
                    ""
                }
            )
        },
    );
    Ok(())
}

fn unlock(dir: &Path, json: bool) -> Res {
    let vault = app::unlock(dir)?;
    let account = vault.account()?;
    let slots = vault.slots()?.len();
    vault.lock()?;
    emit(
        json,
        serde_json::json!({"password_ok": true, "account": account.as_ref().map(|a| a.username.clone()), "slots": slots}),
        || {
            format!(
                "The password is correct (account: {}). The vault was opened and locked again: every command \
                 unlocks it for its own duration (OUTPOST_PASSWORD, or a prompt).",
                account.as_ref().map_or("none yet", |a| a.username.as_str())
            )
        },
    );
    Ok(())
}

fn passwd(dir: &Path, json: bool) -> Res {
    if !Vault::exists(dir) {
        return Err(Error::NoVault.into());
    }
    let old = app::password(ENV_PASSWORD, "current offline password", false)?;
    let vault = Vault::unlock(dir, old.as_bytes(), &OpenOptions::default())?;
    let new = app::password(ENV_NEW_PASSWORD, "new offline password", true)?;
    let started = std::time::Instant::now();
    vault.change_password(old.as_bytes(), new.as_bytes())?;
    let took = started.elapsed();
    let rewrap = vault.last_rewrap_duration();
    vault.lock()?;
    emit(
        json,
        serde_json::json!({"changed": true, "ms": u64::try_from(took.as_millis()).unwrap_or(0),
                           "rewrap_us": rewrap.map(|d| u64::try_from(d.as_micros()).unwrap_or(0))}),
        || {
            format!(
                "Offline password changed in {} ms; the database was not re-encrypted (only the key slot was re-wrapped).",
                took.as_millis()
            )
        },
    );
    Ok(())
}

async fn sign_out(dir: &Path, force: bool, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    session.auth.sign_out(force).await?;
    emit(json, serde_json::json!({"signed_out": true}), || {
        "Signed out: the tokens were deleted from the vault; the offline data stays (use `outpost wipe` to delete it)."
            .into()
    });
    Ok(())
}

fn wipe(dir: &Path, yes: bool, json: bool) -> Res {
    if !Vault::exists(dir) && !dir.join(SETTINGS_FILE).exists() {
        return Err(Error::NoVault.into());
    }
    if !yes {
        if !app::interactive() {
            return Err(usage("wipe deletes the vault and every unsent change: pass --yes to confirm"));
        }
        eprint!("This deletes the vault at {} and every unsent change. Type \"wipe\" to confirm: ", dir.display());
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map_err(Error::from)?;
        if line.trim() != "wipe" {
            return Err(Error::Cancelled.into());
        }
    }
    Vault::wipe_at(dir)?;
    match std::fs::remove_file(dir.join(SETTINGS_FILE)) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::from(e).into()),
    }
    emit(json, serde_json::json!({"wiped": true}), || format!("Wiped the vault at {}.", dir.display()));
    Ok(())
}

async fn consent_url(dir: &Path, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    let url = session.auth.admin_consent_url().await?;
    emit(json, serde_json::json!({"admin_consent_url": url}), || {
        format!("An administrator of the tenant opens this link to consent for every user:\n{url}")
    });
    Ok(())
}

/// The administrator's consent through the loopback listener: open (or print) the link, wait for
/// the redirect, check it.
async fn admin_consent(dir: &Path, a: &crate::AdminConsentArgs, json: bool) -> Res {
    let session = Session::open(dir, false)?;
    let listener = LoopbackRedirect::bind().await?;
    let redirect = loopback_uri(&session.settings.redirect_uri, &listener);
    let request = session.auth.begin_admin_consent(Some(&redirect)).await?;
    let opened = !a.no_browser && has_display() && webbrowser::open(&request.url).is_ok();
    if opened {
        eprintln!("Opened the admin-consent page in your browser. If it did not appear, open:\n  {}", request.url);
    } else {
        eprintln!("Open this link in a browser and sign in as an administrator of the tenant:\n  {}", request.url);
    }
    if json {
        println!("{}", serde_json::json!({"admin_consent_url": request.url}));
        let _ = std::io::stdout().flush();
    }
    let timeout = Duration::from_secs(a.timeout.max(1));
    eprintln!("Waiting for the browser (up to {} s)…", timeout.as_secs());
    let url = listener.receive(timeout).await?;
    let consent = session.auth.complete_admin_consent(&url).await?;
    emit(
        json,
        serde_json::json!({"admin_consent": true, "tenant_id": consent.tenant_id, "scope": consent.scope}),
        || {
            format!(
                "An administrator consented to the app for tenant {} ({}): users can sign in now.",
                consent.tenant_id,
                consent.scope.as_deref().unwrap_or("every permission the app registration lists")
            )
        },
    );
    Ok(())
}

fn log(dir: &Path, out: Option<&Path>) -> Res {
    let vault = app::unlock(dir)?;
    let entries = sync_log(vault.store())?;
    let mut text = String::new();
    for e in &entries {
        text.push_str(&serde_json::to_string(e).map_err(|e| Error::Internal { reason: e.to_string() })?);
        text.push('\n');
    }
    match out {
        Some(p) => {
            app::write_private(p, text.as_bytes())?;
            eprintln!(
                "Wrote {} sync log entries to {} (counts, timings and error codes; no record values or tokens).",
                entries.len(),
                p.display()
            );
        }
        None => print!("{text}"),
    }
    Ok(())
}

// ------------------------------------------------------------------------------------ emulator

async fn emulator(a: crate::EmulatorArgs) -> Res {
    let defaults = outpost_emulator::EmulatorConfig::default();
    let config = outpost_emulator::EmulatorConfig {
        port: a.port,
        bind: a.bind.clone(),
        seed: a.seed.unwrap_or(defaults.seed),
        data: outpost_emulator::DataConfig::from_total(a.rows),
        public_url: a.public_url.clone(),
        ..defaults
    };
    let handle = outpost_emulator::Emulator::start(config)
        .map_err(|e| Error::Network { reason: format!("the emulator could not start: {e}") })?;
    println!("Outpost emulator on http://{} (base URL {})", handle.local_addr(), handle.base_url());
    println!("  org URL:     {}", handle.org_url());
    println!("  authority:   {}/v2.0", handle.authority());
    println!("  client id:   {}", handle.client_id());
    for u in handle.users() {
        let mfa = if u.mfa { format!("MFA, TOTP secret {}", u.totp_secret) } else { "no MFA".into() };
        println!("  user:        {:<22} password {:<18} {mfa}", u.upn, u.password);
    }
    println!(
        "Try: outpost --db /tmp/outpost-emu init --org {} --authority {}/v2.0 --client-id {}",
        handle.org_url(),
        handle.authority(),
        handle.client_id()
    );
    println!("Press Ctrl-C to stop.");
    let _ = std::io::stdout().flush();
    let _ = tokio::signal::ctrl_c().await;
    handle.shutdown();
    Ok(())
}
