//! The control API under `/_emulator/` (JSON): directory switches, server-side row edits, fault
//! injection, token and delta-token expiry, settings, request log and counters.

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::Arc;

use axum::extract::{Path, Query as AxQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value as J};

use crate::clock;
use crate::codec::{self, guid};
use crate::config::{PrivilegeConfig, Settings};
use crate::dataverse::{write, Caller, Ctx, DvError};
use crate::directory::UserRef;
use crate::odata::Prefer;
use crate::state::{self, Shared};
use crate::totp;

/// One logged request.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    /// Sequence number (starts at 1).
    pub seq: u64,
    /// Arrival time, Unix milliseconds.
    pub at_unix_ms: u64,
    /// Arrival time, milliseconds since the emulator started.
    pub since_start_ms: u64,
    /// Method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// Authenticated user (UPN), for Dataverse requests.
    pub user: Option<String>,
    /// Token requests only: the `grant_type`, and the `claims` request it carried (a claims
    /// challenge's JSON), so tests can check what a client sent. Never a secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grant_type: Option<String>,
    /// See `grant_type`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub claims: Option<String>,
    /// Handling time in milliseconds.
    pub duration_ms: u64,
    /// Fault applied, if any.
    pub fault: Option<u64>,
    /// `$batch` requests: operations in the batch (changeset members counted one by one); 0 for other requests.
    /// The inner parts are not logged as requests of their own.
    #[serde(default)]
    pub inner_parts: u32,
}

/// Request log and counters.
#[derive(Debug, Default)]
pub struct RequestLog {
    /// Entries (the newest 100,000).
    pub entries: VecDeque<LogEntry>,
    /// Last sequence number.
    pub seq: u64,
    /// Counters.
    pub counters: BTreeMap<String, u64>,
}

impl RequestLog {
    /// Records an entry and bumps counters.
    pub fn record(&mut self, mut e: LogEntry) {
        self.seq += 1;
        e.seq = self.seq;
        let family = if e.path.starts_with("/api/data/") {
            "dataverse"
        } else if e.path.starts_with("/_emulator") {
            "control"
        } else {
            "identity"
        };
        *self.counters.entry("requests_total".into()).or_default() += 1;
        *self.counters.entry(format!("{family}_requests")).or_default() += 1;
        *self.counters.entry(format!("status_{}", e.status)).or_default() += 1;
        if e.fault.is_some() {
            *self.counters.entry("faults_applied".into()).or_default() += 1;
        }
        if self.entries.len() >= 100_000 {
            self.entries.pop_front();
        }
        self.entries.push_back(e);
    }
}

fn one() -> u32 {
    1
}

/// A fault to inject into the next `count` matching requests.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Fault {
    /// Assigned id.
    #[serde(default)]
    pub id: u64,
    /// Match this method only (e.g. `GET`).
    #[serde(default)]
    pub method: Option<String>,
    /// Match paths (with query) containing this text.
    #[serde(default)]
    pub path_contains: Option<String>,
    /// How many requests to affect.
    #[serde(default = "one")]
    pub count: u32,
    /// Answer with this status instead of handling the request.
    #[serde(default)]
    pub status: Option<u16>,
    /// `Retry-After` header (seconds) on the injected answer.
    #[serde(default)]
    pub retry_after: Option<u64>,
    /// Delay before answering.
    #[serde(default)]
    pub delay_ms: Option<u64>,
    /// Send the headers and half of the real body, then cut the connection.
    #[serde(default)]
    pub drop_connection: bool,
    /// Send only the first half of the real body (valid HTTP, invalid JSON).
    #[serde(default)]
    pub truncate_body: bool,
    /// Corrupt the real body (same length, invalid JSON).
    #[serde(default)]
    pub malformed_json: bool,
    /// Lost acknowledgement: the request is handled normally (its write happens, once; a `$batch`
    /// runs every part), then the connection is closed before any byte of the answer is sent, so the
    /// client sees a connection error and cannot tell whether the write happened. Ignored when
    /// `status` is set (an injected answer never runs the request).
    #[serde(default)]
    pub lost_ack: bool,
    /// Connection lost mid-`$batch`: only the first N operations run (changeset members counted one
    /// by one; a changeset the limit cuts through is rolled back as a unit, as a changeset is atomic),
    /// the rest are not applied, and the connection is closed before any byte of the answer, as with
    /// `lost_ack` (implied). On a request other than `$batch` it acts as `lost_ack`.
    #[serde(default)]
    pub lost_ack_after_parts: Option<u32>,
    /// Error code for the injected answer (default by status).
    #[serde(default)]
    pub code: Option<String>,
    /// Error message for the injected answer.
    #[serde(default)]
    pub message: Option<String>,
    /// Complete JSON body for the injected answer.
    #[serde(default)]
    pub body: Option<J>,
    /// `WWW-Authenticate` header on the injected answer, e.g. a CAE claims challenge
    /// `Bearer realm="", error="insufficient_claims", claims="<base64 JSON>"` with status 401.
    #[serde(default)]
    pub www_authenticate: Option<String>,
}

impl Default for Fault {
    fn default() -> Self {
        Fault {
            id: 0,
            method: None,
            path_contains: None,
            count: 1,
            status: None,
            retry_after: None,
            delay_ms: None,
            drop_connection: false,
            truncate_body: false,
            malformed_json: false,
            lost_ack: false,
            lost_ack_after_parts: None,
            code: None,
            message: None,
            body: None,
            www_authenticate: None,
        }
    }
}

impl Fault {
    /// Whether the answer is withheld: the connection closes before any byte of it.
    pub fn loses_ack(&self) -> bool {
        self.status.is_none() && (self.lost_ack || self.lost_ack_after_parts.is_some())
    }

    /// Whether the fault applies to a request.
    pub fn matches(&self, method: &str, path: &str) -> bool {
        self.count > 0
            && self.method.as_deref().is_none_or(|m| m.eq_ignore_ascii_case(method))
            && self.path_contains.as_deref().is_none_or(|p| path.contains(p))
    }
}

fn ok(v: J) -> Response {
    Json(v).into_response()
}

fn bad(status: StatusCode, msg: impl Into<String>) -> Response {
    (status, Json(json!({"error": msg.into()}))).into_response()
}

#[allow(clippy::result_large_err)] // an axum Response is the natural error of a handler helper
fn find_user(s: &Shared, upn: &str) -> Result<UserRef, Response> {
    state::read(&s.directory)
        .find_user(upn, None)
        .ok_or_else(|| bad(StatusCode::NOT_FOUND, format!("unknown user {upn}")))
}

/// `GET /_emulator/`: URLs, tenants, users (with passwords and TOTP secrets), apps, settings.
pub async fn info(State(s): State<Arc<Shared>>) -> Response {
    let dir = state::read(&s.directory);
    let tenants: Vec<J> = dir
        .tenants
        .iter()
        .map(|t| {
            json!({
                "id": guid(t.id), "name": t.name, "domains": t.domains, "user_consent_allowed": t.user_consent_allowed,
                "consented_apps": t.consented_apps.iter().filter(|(_, p)| !p.is_empty()).map(|(c, _)| c).collect::<Vec<_>>(),
                "consented_permissions": t.consented_apps,
                "authority": format!("{}/{}/v2.0", s.base, guid(t.id)),
                "users": t.users.iter().map(|u| json!({
                    "upn": u.upn, "password": u.password, "display_name": u.display_name, "mfa": u.mfa, "admin": u.admin,
                    "object_id": guid(u.oid), "systemuser_id": guid(u.systemuser_id), "totp_secret": u.totp_base32,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let apps: Vec<J> = dir
        .apps
        .iter()
        .map(|a| json!({"client_id": a.cfg.client_id, "name": a.cfg.name, "redirect_uris": a.cfg.redirect_uris, "allow_public_client_flows": a.cfg.allow_public_client_flows, "multi_tenant": a.cfg.multi_tenant}))
        .collect();
    let store = state::read(&s.store);
    let tables: Vec<J> = s
        .schema
        .tables
        .iter()
        .map(|t| json!({"entity_set": t.set, "logical_name": t.logical, "rows": store.tables[t.id].rows.len(), "change_tracking": store.tables[t.id].change_tracking}))
        .collect();
    ok(json!({
        "base_url": s.base,
        "org_url": s.org_url,
        "web_api": format!("{}/api/data/v9.2/", s.org_url),
        "scope": format!("{}/user_impersonation", s.org_url),
        "device_login": format!("{}/devicelogin", s.base),
        "tenants": tenants,
        "apps": apps,
        "tables": tables,
        "row_version": store.version,
        "settings": *state::read(&s.settings),
    }))
}

/// `GET /_emulator/users/{upn}/totp`.
pub async fn totp_info(State(s): State<Arc<Shared>>, Path(upn): Path<String>) -> Response {
    let r = match find_user(&s, &upn) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let dir = state::read(&s.directory);
    let Some(u) = dir.user(r) else { return bad(StatusCode::NOT_FOUND, "unknown user") };
    let now = clock::now_unix();
    ok(json!({
        "upn": u.upn, "secret": u.totp_base32, "algorithm": "SHA1", "digits": 6, "period": totp::STEP,
        "otpauth_uri": format!("otpauth://totp/Outpost%20Emulator:{}?secret={}&issuer=Outpost%20Emulator&algorithm=SHA1&digits=6&period=30", codec::pct_component(&u.upn), u.totp_base32),
        "code": totp::code_at(&u.totp_secret, now),
        "seconds_remaining": totp::STEP - now.rem_euclid(totp::STEP),
    }))
}

#[derive(Deserialize)]
/// `{"enabled": bool}`
pub struct Enabled {
    enabled: bool,
}

/// `POST /_emulator/users/{upn}/mfa`.
pub async fn set_mfa(State(s): State<Arc<Shared>>, Path(upn): Path<String>, Json(b): Json<Enabled>) -> Response {
    let r = match find_user(&s, &upn) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if let Some(u) = state::write(&s.directory).user_mut(r) {
        u.mfa = b.enabled;
    }
    ok(json!({"upn": upn, "mfa": b.enabled}))
}

/// `POST /_emulator/users/{upn}/privileges` with a [`PrivilegeConfig`].
pub async fn set_privileges(
    State(s): State<Arc<Shared>>,
    Path(upn): Path<String>,
    Json(p): Json<PrivilegeConfig>,
) -> Response {
    let r = match find_user(&s, &upn) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if s.schema.by_set(&p.table).is_none() {
        return bad(StatusCode::BAD_REQUEST, format!("unknown table {}", p.table));
    }
    if let Some(u) = state::write(&s.directory).user_mut(r) {
        u.privileges.retain(|x| x.table != p.table);
        u.privileges.push(p.clone());
    }
    ok(json!({"upn": upn, "privileges": p}))
}

/// Body of `POST /_emulator/consent`.
#[derive(Deserialize)]
pub struct ConsentBody {
    client_id: String,
    granted: bool,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    tenant: Option<String>,
    /// The scopes granted or revoked (as a request names them; `…/.default` is every permission
    /// the app registration lists). None: all of them.
    #[serde(default)]
    scopes: Option<Vec<String>>,
}

/// Grant (`granted`) or revoke the permissions (None: all) of one app in a consent record.
fn apply_consent(c: &mut crate::directory::Consents, client: &str, granted: bool, perms: Option<&BTreeSet<String>>) {
    match (granted, perms) {
        (true, Some(p)) => c.entry(client.to_owned()).or_default().extend(p.iter().cloned()),
        (true, None) => c.entry(client.to_owned()).or_default().extend(crate::directory::static_permissions()),
        (false, Some(p)) => {
            if let Some(have) = c.get_mut(client) {
                have.retain(|x| !p.contains(x));
            }
        }
        (false, None) => {
            c.remove(client);
        }
    }
}

/// `POST /_emulator/consent`: grant or revoke tenant-wide (admin) or one user's consent, to all
/// of the app's permissions or to the `scopes` named.
pub async fn set_consent(State(s): State<Arc<Shared>>, Json(b): Json<ConsentBody>) -> Response {
    let client = b.client_id.to_ascii_lowercase();
    let perms = b.scopes.as_deref().map(crate::directory::granted_permissions);
    let mut dir = state::write(&s.directory);
    if let Some(upn) = &b.user {
        let Some(r) = dir.find_user(upn, None) else {
            return bad(StatusCode::NOT_FOUND, format!("unknown user {upn}"));
        };
        if let Some(u) = dir.user_mut(r) {
            apply_consent(&mut u.consents, &client, b.granted, perms.as_ref());
        }
    } else {
        let t = match &b.tenant {
            Some(seg) => match dir.tenant_sel(seg) {
                Some(crate::directory::TenantSel::One(t)) => t,
                _ => return bad(StatusCode::NOT_FOUND, format!("unknown tenant {seg}")),
            },
            None => 0,
        };
        let tenant = &mut dir.tenants[t];
        apply_consent(&mut tenant.consented_apps, &client, b.granted, perms.as_ref());
        if !b.granted {
            for u in &mut tenant.users {
                apply_consent(&mut u.consents, &client, false, perms.as_ref());
            }
        }
    }
    ok(json!({"client_id": client, "granted": b.granted}))
}

/// `POST /_emulator/keys/rollover`: sign with the other key from now on; both stay in the JWKS
/// document (Entra rolls its signing keys over every few weeks, and at short notice after an
/// incident: a client must fetch the keys again when a token names a `kid` it does not know).
pub async fn roll_over_keys(State(s): State<Arc<Shared>>) -> Response {
    let current = s.keys.kid();
    let next = match if current == crate::jwt::Keys::shared().map(|k| k.kid.clone()).unwrap_or_default() {
        crate::jwt::Keys::shared_next()
    } else {
        crate::jwt::Keys::shared()
    } {
        Ok(k) => k,
        Err(e) => return bad(StatusCode::INTERNAL_SERVER_ERROR, format!("key generation: {e}")),
    };
    ok(json!({"kid": s.keys.roll_over(next), "previous_kid": current}))
}

/// Body of `POST /_emulator/tenants/{tenant}/user-consent`.
#[derive(Deserialize)]
pub struct Allowed {
    allowed: bool,
}

/// `POST /_emulator/tenants/{tenant}/user-consent`: allow or block user consent.
pub async fn set_user_consent(
    State(s): State<Arc<Shared>>,
    Path(tenant): Path<String>,
    Json(b): Json<Allowed>,
) -> Response {
    let mut dir = state::write(&s.directory);
    let Some(crate::directory::TenantSel::One(t)) = dir.tenant_sel(&tenant) else {
        return bad(StatusCode::NOT_FOUND, format!("unknown tenant {tenant}"));
    };
    dir.tenants[t].user_consent_allowed = b.allowed;
    ok(json!({"tenant": tenant, "user_consent_allowed": b.allowed}))
}

/// `POST /_emulator/tables/{set}/change-tracking`.
pub async fn set_change_tracking(
    State(s): State<Arc<Shared>>,
    Path(set): Path<String>,
    Json(b): Json<Enabled>,
) -> Response {
    let Some(t) = s.schema.by_set(&set) else { return bad(StatusCode::NOT_FOUND, format!("unknown table {set}")) };
    state::write(&s.store).tables[t.id].change_tracking = b.enabled;
    ok(json!({"table": set, "change_tracking": b.enabled}))
}

/// Body of `POST /_emulator/tables/{set}/max-length`.
#[derive(Deserialize)]
pub struct MaxLen {
    column: String,
    max_length: u32,
}

/// `POST /_emulator/tables/{set}/max-length`: lower a text column's maximum (validation errors).
pub async fn set_max_length(State(s): State<Arc<Shared>>, Path(set): Path<String>, Json(b): Json<MaxLen>) -> Response {
    let Some(t) = s.schema.by_set(&set) else { return bad(StatusCode::NOT_FOUND, format!("unknown table {set}")) };
    let Some(ci) = t.col(&b.column) else { return bad(StatusCode::NOT_FOUND, format!("unknown column {}", b.column)) };
    state::write(&s.store).tables[t.id].max_len.insert(ci, b.max_length);
    ok(json!({"table": set, "column": b.column, "max_length": b.max_length}))
}

/// `?as=<upn>`
#[derive(Deserialize)]
pub struct AsUser {
    #[serde(rename = "as", default)]
    as_user: Option<String>,
}

#[allow(clippy::result_large_err)] // an axum Response is the natural error of a handler helper
fn caller_for(s: &Shared, upn: Option<&str>) -> Result<Caller, Response> {
    let dir = state::read(&s.directory);
    let r = match upn {
        Some(u) => dir.find_user(u, None).ok_or_else(|| bad(StatusCode::NOT_FOUND, format!("unknown user {u}")))?,
        None => dir
            .tenants
            .first()
            .and_then(|t| t.users.iter().position(|u| u.admin).or(if t.users.is_empty() { None } else { Some(0) }))
            .map(|u| UserRef { t: 0, u })
            .ok_or_else(|| bad(StatusCode::BAD_REQUEST, "no user to act as"))?,
    };
    let u = dir.user(r).ok_or_else(|| bad(StatusCode::NOT_FOUND, "unknown user"))?;
    Ok(Caller { user: r, systemuser_id: u.systemuser_id, upn: u.upn.clone() })
}

fn row_edit(s: &Shared, set: &str, id: Option<&str>, upn: Option<&str>, body: &[u8], delete: bool) -> Response {
    let Some(table) = s.schema.by_set(set) else { return bad(StatusCode::NOT_FOUND, format!("unknown table {set}")) };
    let caller = match caller_for(s, upn) {
        Ok(c) => c,
        Err(e) => return e,
    };
    let id = match id.map(codec::parse_guid) {
        Some(None) => return bad(StatusCode::BAD_REQUEST, "bad id"),
        Some(Some(g)) => Some(g),
        None => None,
    };
    let headers = HeaderMap::new();
    let ctx = Ctx {
        shared: s,
        caller: &caller,
        api: format!("{}/api/data/v9.2", s.org_url),
        prefer: Prefer::default(),
        noise: false,
        headers: &headers,
    };
    let mut store = state::write(&s.store);
    let ids = write::ContentIds::new();
    let result: Result<(u16, u128), DvError> = match (id, delete) {
        (Some(id), true) => write::delete(&ctx, &mut store, table.id, Some(id)).map(|_| (200, id)),
        (Some(id), false) => write::upsert_row(&ctx, &mut store, table.id, Some(id), body, &ids),
        (None, _) => write::create_row(&ctx, &mut store, table.id, body, &ids).map(|id| (201, id)),
    };
    match result {
        Ok((status, id)) => {
            let version = store.version;
            (
                StatusCode::from_u16(status).unwrap_or(StatusCode::OK),
                Json(json!({"id": guid(id), "row_version": version, "as": caller.upn})),
            )
                .into_response()
        }
        Err(e) => (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            Json(json!({"error": {"code": e.code, "message": e.message}})),
        )
            .into_response(),
    }
}

/// Updates rows as `upn` in-process (what `PATCH /_emulator/tables/{set}/rows/{id}` does, without
/// HTTP): each `(id, body)` is an upsert. Returns the first failure's status and body.
pub(crate) fn patch_rows(s: &Shared, set: &str, upn: &str, rows: &[(String, J)]) -> Result<(), String> {
    for (id, body) in rows {
        let r = row_edit(s, set, Some(id), Some(upn), body.to_string().as_bytes(), false);
        if !r.status().is_success() {
            return Err(format!("{set}({id}): HTTP {}", r.status()));
        }
    }
    Ok(())
}

/// Inserts per row of an entity set: primary id (lower case) → how many times a row with that id
/// was inserted (a POST, an upsert that created it, a control-API create; a re-creation after a
/// delete counts again; writes of rolled-back changesets do not count). Generated rows that were
/// never re-created are not listed. `None` for an unknown entity set. Read from the write history.
pub(crate) fn insert_counts(s: &Shared, set: &str) -> Option<HashMap<String, usize>> {
    let table = s.schema.by_set(set)?;
    let mut counts = HashMap::new();
    for (id, w) in state::read(&s.store).history.of_table(table.id) {
        if w.kind == crate::history::WriteKind::Insert {
            *counts.entry(guid(id)).or_insert(0) += 1;
        }
    }
    Some(counts)
}

/// Deletes rows as the admin, as a Web API `DELETE` does (tombstones for change tracking, a new row
/// version each). Rows that do not exist are skipped. Returns how many were deleted.
pub(crate) fn delete_rows(s: &Shared, set: &str, ids: &[String]) -> Result<usize, String> {
    let table = s.schema.by_set(set).ok_or_else(|| format!("unknown table {set}"))?;
    let caller = caller_for(s, None).map_err(|r| format!("no user to act as ({})", r.status()))?;
    let keys = ids
        .iter()
        .map(|id| codec::parse_guid(id).ok_or_else(|| format!("{set}({id}): not a GUID")))
        .collect::<Result<Vec<u128>, String>>()?;
    let headers = HeaderMap::new();
    let ctx = Ctx {
        shared: s,
        caller: &caller,
        api: format!("{}/api/data/v9.2", s.org_url),
        prefer: Prefer::default(),
        noise: false,
        headers: &headers,
    };
    let mut store = state::write(&s.store);
    let mut deleted = 0;
    for id in keys {
        match write::delete(&ctx, &mut store, table.id, Some(id)) {
            Ok(_) => deleted += 1,
            Err(e) if e.status == 404 => {}
            Err(e) => return Err(format!("{set}({}): HTTP {} {}", guid(id), e.status, e.message)),
        }
    }
    Ok(deleted)
}

/// `GET /_emulator/tables/{set}/insert-counts`: `{"table", "counts": {id: n}}` (see [`insert_counts`]).
pub async fn get_insert_counts(State(s): State<Arc<Shared>>, Path(set): Path<String>) -> Response {
    match insert_counts(&s, &set) {
        Some(counts) => ok(json!({"table": set, "counts": counts})),
        None => bad(StatusCode::NOT_FOUND, format!("unknown table {set}")),
    }
}

/// Body of `POST /_emulator/tables/{set}/delete-rows`.
#[derive(Deserialize)]
pub struct Ids {
    ids: Vec<String>,
}

/// `POST /_emulator/tables/{set}/delete-rows` `{"ids": [...]}`: delete rows server-side (tombstones as
/// a Web API DELETE leaves them); `{"deleted": n}`, missing rows skipped.
pub async fn post_delete_rows(State(s): State<Arc<Shared>>, Path(set): Path<String>, Json(b): Json<Ids>) -> Response {
    match delete_rows(&s, &set, &b.ids) {
        Ok(n) => ok(json!({"table": set, "deleted": n})),
        Err(e) if s.schema.by_set(&set).is_none() => bad(StatusCode::NOT_FOUND, e),
        Err(e) => bad(StatusCode::BAD_REQUEST, e),
    }
}

/// `POST /_emulator/tables/{set}/rows?as=<upn>`: create a row as another user.
pub async fn create_row(
    State(s): State<Arc<Shared>>,
    Path(set): Path<String>,
    AxQuery(a): AxQuery<AsUser>,
    body: axum::body::Bytes,
) -> Response {
    row_edit(&s, &set, None, a.as_user.as_deref(), &body, false)
}

/// `PATCH /_emulator/tables/{set}/rows/{id}?as=<upn>`: update (or insert) a row as another user.
pub async fn update_row(
    State(s): State<Arc<Shared>>,
    Path((set, id)): Path<(String, String)>,
    AxQuery(a): AxQuery<AsUser>,
    body: axum::body::Bytes,
) -> Response {
    row_edit(&s, &set, Some(&id), a.as_user.as_deref(), &body, false)
}

/// `DELETE /_emulator/tables/{set}/rows/{id}?as=<upn>`: delete a row as another user.
pub async fn delete_row(
    State(s): State<Arc<Shared>>,
    Path((set, id)): Path<(String, String)>,
    AxQuery(a): AxQuery<AsUser>,
) -> Response {
    row_edit(&s, &set, Some(&id), a.as_user.as_deref(), b"", true)
}

/// `GET /_emulator/tables/{set}/ids?limit=N`: the first N primary keys (for tests).
pub async fn row_ids(
    State(s): State<Arc<Shared>>,
    Path(set): Path<String>,
    AxQuery(q): AxQuery<HashMap<String, String>>,
) -> Response {
    let Some(table) = s.schema.by_set(&set) else { return bad(StatusCode::NOT_FOUND, format!("unknown table {set}")) };
    let limit: usize = q.get("limit").and_then(|l| l.parse().ok()).unwrap_or(10);
    let store = state::read(&s.store);
    let ids: Vec<String> = store.tables[table.id].rows.keys().take(limit).map(|id| guid(*id)).collect();
    ok(json!({"table": set, "ids": ids, "count": store.tables[table.id].rows.len()}))
}

/// `POST /_emulator/faults`.
pub async fn add_fault(State(s): State<Arc<Shared>>, Json(mut f): Json<Fault>) -> Response {
    let mut faults = state::lock(&s.faults);
    f.id = faults.iter().map(|x| x.id).max().unwrap_or(0) + 1;
    let id = f.id;
    faults.push(f);
    ok(json!({"id": id}))
}

/// `GET /_emulator/faults`.
pub async fn list_faults(State(s): State<Arc<Shared>>) -> Response {
    ok(json!({"faults": *state::lock(&s.faults)}))
}

/// `DELETE /_emulator/faults`.
pub async fn clear_faults(State(s): State<Arc<Shared>>) -> Response {
    state::lock(&s.faults).clear();
    ok(json!({"cleared": true}))
}

/// Body of `POST /_emulator/tokens/expire`.
#[derive(Deserialize)]
pub struct Expire {
    /// `access`, `refresh` or `delta`.
    kind: String,
    /// Only this user's tokens (access/refresh).
    #[serde(default)]
    user: Option<String>,
}

/// `POST /_emulator/tokens/expire`: expire access tokens (401), refresh tokens (700082) or delta
/// tokens (0x80044352) issued so far.
pub async fn expire(State(s): State<Arc<Shared>>, Json(b): Json<Expire>) -> Response {
    let oid = match &b.user {
        Some(upn) => match find_user(&s, upn) {
            Ok(r) => state::read(&s.directory).user(r).map(|u| u.oid),
            Err(e) => return e,
        },
        None => None,
    };
    match b.kind.as_str() {
        "access" => {
            let mut auth = state::lock(&s.auth);
            let cut = auth.access_seq() + 1;
            match oid {
                Some(o) => {
                    auth.access_valid_from_user.insert(o, cut);
                }
                None => auth.access_valid_from = cut,
            }
        }
        "refresh" => {
            let mut auth = state::lock(&s.auth);
            let cut = crate::identity::now(&s) + 1;
            match oid {
                Some(o) => {
                    auth.refresh_valid_from_user.insert(o, cut);
                }
                None => auth.refresh_valid_from = cut,
            }
        }
        "delta" => {
            let mut store = state::write(&s.store);
            let v = store.bump();
            store.delta_min_version = v;
        }
        other => return bad(StatusCode::BAD_REQUEST, format!("unknown kind {other}; use access, refresh or delta")),
    }
    ok(json!({"expired": b.kind}))
}

/// `GET /_emulator/settings`.
pub async fn get_settings(State(s): State<Arc<Shared>>) -> Response {
    ok(json!(*state::read(&s.settings)))
}

/// `POST /_emulator/settings`: merge a partial settings object.
pub async fn set_settings(State(s): State<Arc<Shared>>, Json(patch): Json<J>) -> Response {
    let mut settings = state::write(&s.settings);
    let mut cur = json!(*settings);
    let (Some(obj), Some(p)) = (cur.as_object_mut(), patch.as_object()) else {
        return bad(StatusCode::BAD_REQUEST, "expected a JSON object");
    };
    for (k, v) in p {
        obj.insert(k.clone(), v.clone());
    }
    match serde_json::from_value::<Settings>(cur) {
        Ok(new) => {
            *settings = new;
            ok(json!(*settings))
        }
        Err(e) => bad(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

/// `GET /_emulator/requests?since=<seq>&path_contains=<text>`.
pub async fn requests(State(s): State<Arc<Shared>>, AxQuery(q): AxQuery<HashMap<String, String>>) -> Response {
    let since: u64 = q.get("since").and_then(|v| v.parse().ok()).unwrap_or(0);
    let contains = q.get("path_contains");
    let log = state::lock(&s.log);
    let entries: Vec<&LogEntry> =
        log.entries.iter().filter(|e| e.seq > since && contains.is_none_or(|c| e.path.contains(c.as_str()))).collect();
    ok(json!({"last_seq": log.seq, "requests": entries}))
}

/// `DELETE /_emulator/requests`.
pub async fn clear_requests(State(s): State<Arc<Shared>>) -> Response {
    let mut log = state::lock(&s.log);
    log.entries.clear();
    log.counters.clear();
    ok(json!({"cleared": true, "last_seq": log.seq}))
}

/// `GET /_emulator/counters`.
pub async fn counters(State(s): State<Arc<Shared>>) -> Response {
    let log = state::lock(&s.log);
    ok(json!({"counters": log.counters, "last_seq": log.seq, "row_version": state::read(&s.store).version}))
}
