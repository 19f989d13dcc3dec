//! The HTTP service: routes, the request-log / fault-injection middleware, bearer authentication with
//! Dataverse's 401 challenge, and service protection (429).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::clock;
use crate::codec::{self, guid};
use crate::control::{self, Fault, LogEntry};
use crate::dataverse::{self, Caller, DvRequest};
use crate::identity::{self, BearerError};
use crate::state::{self, Shared};

/// Per-user service protection state.
#[derive(Debug, Default)]
pub struct Throttle {
    windows: HashMap<u128, VecDeque<Instant>>,
    inflight: HashMap<u128, u32>,
    /// Recent 429s per user: each one sent while the window is still full adds a second to Retry-After
    /// ("Retry-After grows if the client keeps hammering"). A client that honours Retry-After sees no growth.
    rejected: HashMap<u128, VecDeque<Instant>>,
}

/// Builds the router.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/{tenant}/v2.0/.well-known/openid-configuration", get(identity::discovery))
        .route("/{tenant}/.well-known/openid-configuration", get(identity::discovery_v1))
        .route("/{tenant}/discovery/v2.0/keys", get(identity::jwks))
        .route("/{tenant}/oauth2/v2.0/authorize", get(identity::authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(identity::token))
        .route("/{tenant}/oauth2/v2.0/devicecode", post(identity::devicecode))
        .route("/{tenant}/v2.0/adminconsent", get(identity::admin_consent))
        .route("/{tenant}/login", post(identity::login))
        .route("/{tenant}/login/mfa", post(identity::mfa))
        .route("/{tenant}/login/consent", post(identity::consent))
        .route("/{tenant}/login/device", post(identity::device_confirm))
        .route("/devicelogin", get(identity::devicelogin_get).post(identity::devicelogin_post))
        .route("/{tenant}/oauth2/v2.0/logout", get(identity::logout))
        .route("/oidc/userinfo", get(identity::userinfo))
        .route("/api/data/{*rest}", axum::routing::any(dataverse_handler))
        .route("/_emulator", get(control::info))
        .route("/_emulator/", get(control::info))
        .route("/_emulator/users/{upn}/totp", get(control::totp_info))
        .route("/_emulator/users/{upn}/mfa", post(control::set_mfa))
        .route("/_emulator/users/{upn}/privileges", post(control::set_privileges))
        .route("/_emulator/consent", post(control::set_consent))
        .route("/_emulator/keys/rollover", post(control::roll_over_keys))
        .route("/_emulator/tenants/{tenant}/user-consent", post(control::set_user_consent))
        .route("/_emulator/tables/{set}/change-tracking", post(control::set_change_tracking))
        .route("/_emulator/tables/{set}/max-length", post(control::set_max_length))
        .route("/_emulator/tables/{set}/rows", post(control::create_row))
        .route(
            "/_emulator/tables/{set}/rows/{id}",
            axum::routing::patch(control::update_row).delete(control::delete_row),
        )
        .route("/_emulator/tables/{set}/ids", get(control::row_ids))
        .route("/_emulator/tables/{set}/insert-counts", get(control::get_insert_counts))
        .route("/_emulator/tables/{set}/delete-rows", post(control::post_delete_rows))
        .route("/_emulator/faults", post(control::add_fault).get(control::list_faults).delete(control::clear_faults))
        .route("/_emulator/tokens/expire", post(control::expire))
        .route("/_emulator/settings", get(control::get_settings).post(control::set_settings))
        .route("/_emulator/requests", get(control::requests).delete(control::clear_requests))
        .route("/_emulator/counters", get(control::counters))
        .layer(middleware::from_fn_with_state(shared.clone(), observe))
        .with_state(shared)
}

async fn index(State(s): State<Arc<Shared>>) -> Response {
    let tid = guid(state::read(&s.directory).tenants.first().map_or(0, |t| t.id));
    axum::Json(serde_json::json!({
        "name": "outpost-emulator",
        "web_api": format!("{}/api/data/v9.2/", s.org_url),
        "authority": format!("{}/{tid}/v2.0", s.base),
        "discovery": format!("{}/{tid}/v2.0/.well-known/openid-configuration", s.base),
        "device_login": format!("{}/devicelogin", s.base),
        "control": format!("{}/_emulator/", s.base),
    }))
    .into_response()
}

/// Operations of a `$batch` request, for the request log.
#[derive(Clone, Copy, Debug)]
struct BatchParts(u32);

/// The status of an answer a `lost_ack` fault withheld, for the request log.
#[derive(Clone, Copy, Debug)]
struct Withheld(u16);

/// Marks the authenticated user on a response, for the request log.
#[derive(Clone, Debug)]
struct LoggedUser(String);

/// What a token request carried, for the request log (set by the token endpoint).
#[derive(Clone)]
pub(crate) struct LoggedGrant {
    pub grant_type: Option<String>,
    pub claims: Option<String>,
}

fn take_fault(s: &Shared, method: &str, path: &str) -> Option<Fault> {
    let mut faults = state::lock(&s.faults);
    let f = faults.iter_mut().find(|f| f.matches(method, path))?;
    f.count -= 1;
    let out = f.clone();
    faults.retain(|f| f.count > 0);
    Some(out)
}

fn injected(f: &Fault, status: u16) -> Response {
    let code = StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
    let body = match &f.body {
        Some(b) => b.to_string(),
        None => {
            let (dcode, dmsg) = match status {
                429 => ("0x80072322", "Number of requests exceeded the limit of 6000 over time window of 300 seconds."),
                401 => ("0x80041d52", "The OAuth token has expired"),
                503 => ("0x80040216", "The service is temporarily unavailable."),
                500 => ("0x80040216", "An unexpected error occurred."),
                _ => ("0x80040216", "Injected fault."),
            };
            serde_json::json!({"error": {"code": f.code.as_deref().unwrap_or(dcode), "message": f.message.as_deref().unwrap_or(dmsg)}}).to_string()
        }
    };
    let mut r = (code, [(header::CONTENT_TYPE, "application/json; odata.metadata=minimal")], body).into_response();
    if let Some(ra) = f.retry_after {
        if let Ok(v) = HeaderValue::from_str(&ra.to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    if let Some(v) = f.www_authenticate.as_deref().and_then(|w| HeaderValue::from_str(w).ok()) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

/// A lost acknowledgement: the request ran, but not one byte of its answer leaves the emulator.
///
/// The body fails on its first poll, before hyper has flushed the head it buffered, so hyper drops
/// the connection with nothing written (the client sees the connection close before a status line).
/// The status becomes 200 because hyper never polls the body of a 204 or 304 (it would send the
/// head); no byte of it leaves anyway, and the request log keeps the real one ([`Withheld`]).
fn withhold(resp: Response) -> Response {
    let (mut parts, _) = resp.into_parts();
    parts.extensions.insert(Withheld(parts.status.as_u16()));
    parts.status = StatusCode::OK;
    parts.headers.remove(header::CONTENT_LENGTH);
    let stream = futures_util::stream::once(async {
        Err::<Bytes, _>(std::io::Error::new(
            std::io::ErrorKind::ConnectionAborted,
            "emulator: acknowledgement lost (fault lost_ack)",
        ))
    });
    Response::from_parts(parts, Body::from_stream(stream))
}

async fn mangle(f: &Fault, resp: Response) -> Response {
    if f.loses_ack() {
        return withhold(resp);
    }
    let (mut parts, body) = resp.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(b) => b,
        Err(_) => Bytes::new(),
    };
    parts.headers.remove(header::CONTENT_LENGTH);
    let half = bytes.len() / 2;
    if f.drop_connection {
        let first = bytes.slice(..half);
        use futures_util::StreamExt as _;
        let stream = futures_util::stream::iter(vec![Ok::<Bytes, std::io::Error>(first)]).chain(
            futures_util::stream::once(async {
                // let the headers and the first half reach the client before the connection is cut
                tokio::time::sleep(Duration::from_millis(50)).await;
                Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "emulator: connection dropped mid-body"))
            }),
        );
        // Advertise the full length so the client sees a short body, not a clean end.
        if let Ok(v) = HeaderValue::from_str(&bytes.len().to_string()) {
            parts.headers.insert(header::CONTENT_LENGTH, v);
        }
        return Response::from_parts(parts, Body::from_stream(stream));
    }
    if f.truncate_body {
        return Response::from_parts(parts, Body::from(bytes.slice(..half)));
    }
    if f.malformed_json {
        let mut v = bytes.to_vec();
        for b in v.iter_mut().skip(half) {
            if *b == b'"' {
                *b = b'\'';
            }
        }
        if let Some(b) = v.get_mut(0) {
            if *b == b'{' {
                *b = b'[';
            }
        }
        return Response::from_parts(parts, Body::from(v));
    }
    Response::from_parts(parts, Body::from(bytes))
}

async fn observe(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let at = clock::now_millis();
    let since_start = s.started.elapsed().as_millis() as u64;
    let method = req.method().to_string();
    let path = req.uri().path_and_query().map_or_else(|| req.uri().path().to_owned(), |p| p.as_str().to_owned());
    let fault = if path.starts_with("/_emulator") { None } else { take_fault(&s, &method, &path) };
    let mut req = req;
    let mut resp = match &fault {
        Some(f) => {
            if let Some(ms) = f.delay_ms {
                if path.starts_with("/api/data/") && f.status.is_none() {
                    // Dataverse: the delay happens after admission, so a slow request holds a concurrency slot.
                    req.extensions_mut().insert(Delay(ms));
                } else {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                }
            }
            if let (Some(n), None) = (f.lost_ack_after_parts, f.status) {
                // `$batch`: only the first n operations run (see `dataverse::batch`)
                req.extensions_mut().insert(PartLimit(n));
            }
            match f.status {
                Some(st) => injected(f, st),
                None => {
                    let r = next.run(req).await;
                    if f.drop_connection || f.truncate_body || f.malformed_json || f.loses_ack() {
                        mangle(f, r).await
                    } else {
                        r
                    }
                }
            }
        }
        None => next.run(req).await,
    };
    let user = resp.extensions_mut().remove::<LoggedUser>().map(|u| u.0);
    let grant = resp.extensions_mut().remove::<LoggedGrant>();
    let entry = LogEntry {
        seq: 0,
        at_unix_ms: at,
        since_start_ms: since_start,
        method,
        path,
        status: resp.extensions().get::<Withheld>().map_or(resp.status().as_u16(), |w| w.0),
        user,
        grant_type: grant.as_ref().and_then(|g| g.grant_type.clone()),
        claims: grant.and_then(|g| g.claims),
        duration_ms: started.elapsed().as_millis() as u64,
        fault: fault.map(|f| f.id),
        inner_parts: resp.extensions_mut().remove::<BatchParts>().map_or(0, |b| b.0),
    };
    state::lock(&s.log).record(entry);
    // Every answer says the emulator's time (hyper would write the machine's): a device whose clock
    // is off learns the skew from it, as from Entra's token responses.
    let offset = state::read(&s.settings).clock_offset_secs;
    let at = if offset >= 0 {
        std::time::SystemTime::now() + Duration::from_secs(offset.unsigned_abs())
    } else {
        std::time::SystemTime::now() - Duration::from_secs(offset.unsigned_abs())
    };
    if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(at)) {
        resp.headers_mut().insert(header::DATE, v);
    }
    resp
}

fn unauthorized(s: &Shared, e: BearerError) -> Response {
    let tid = guid(state::read(&s.directory).tenants.first().map_or(0, |t| t.id));
    // Unquoted values, as the real service sends them.
    let challenge = format!("Bearer authorization_uri={}/{tid}/oauth2/authorize, resource_id={}/", s.base, s.org_url);
    let body = match e {
        BearerError::Missing => String::new(),
        // UNVERIFIED: the real 401 body; clients must cope with an empty body or this JSON.
        BearerError::Expired => serde_json::json!({"error": {"code": "0x80041d52", "message": "The OAuth token has expired"}}).to_string(),
        BearerError::Invalid => serde_json::json!({"error": {"code": "", "message": "The bearer token is not valid for this organization."}}).to_string(),
    };
    let mut r = (StatusCode::UNAUTHORIZED, body).into_response();
    if let Ok(v) = HeaderValue::from_str(&challenge) {
        r.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    r
}

fn too_many(code: &str, message: String, retry_after: u64) -> Response {
    let body = serde_json::json!({"error": {"code": code, "message": message}}).to_string();
    let mut r =
        (StatusCode::TOO_MANY_REQUESTS, [(header::CONTENT_TYPE, "application/json; odata.metadata=minimal")], body)
            .into_response();
    if let Ok(v) = HeaderValue::from_str(&retry_after.max(1).to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

struct InflightGuard {
    shared: Arc<Shared>,
    oid: u128,
}

impl Drop for InflightGuard {
    fn drop(&mut self) {
        let mut t = state::lock(&self.shared.throttle);
        if let Some(n) = t.inflight.get_mut(&self.oid) {
            *n = n.saturating_sub(1);
        }
    }
}

/// Applies service protection; returns a guard to hold while the request runs, or the 429.
#[allow(clippy::result_large_err)] // an axum Response is the natural error of a handler helper
fn admit(s: &Arc<Shared>, oid: u128) -> Result<(InflightGuard, u32), Response> {
    let settings = state::read(&s.settings).clone();
    let mut t = state::lock(&s.throttle);
    let now = Instant::now();
    let window = Duration::from_secs(settings.window_secs.max(1));
    let q = t.windows.entry(oid).or_default();
    while q.front().is_some_and(|f| now.duration_since(*f) >= window) {
        q.pop_front();
    }
    if q.len() >= settings.requests_per_window as usize {
        let oldest = q.front().copied().unwrap_or(now);
        let wait = window.saturating_sub(now.duration_since(oldest));
        let r = t.rejected.entry(oid).or_default();
        while r.front().is_some_and(|f| now.duration_since(*f) >= window) {
            r.pop_front();
        }
        let penalty = r.len() as u64;
        r.push_back(now);
        let secs = (wait.as_secs() + u64::from(wait.subsec_nanos() > 0) + penalty).min(settings.window_secs.max(1));
        return Err(too_many(
            "0x80072322",
            format!(
                "Number of requests exceeded the limit of {} over time window of {} seconds.",
                settings.requests_per_window, settings.window_secs
            ),
            secs,
        ));
    }
    let inflight = t.inflight.get(&oid).copied().unwrap_or(0);
    if inflight >= settings.concurrency_limit {
        return Err(too_many(
            "0x80072326",
            format!("Number of concurrent requests exceeded the limit of {}.", settings.concurrency_limit),
            settings.concurrency_retry_after_secs,
        ));
    }
    if let Some(q) = t.windows.get_mut(&oid) {
        q.push_back(now);
    }
    let remaining = settings.requests_per_window.saturating_sub(t.windows.get(&oid).map_or(0, |q| q.len() as u32));
    *t.inflight.entry(oid).or_default() += 1;
    Ok((InflightGuard { shared: s.clone(), oid }, remaining))
}

/// A fault delay to apply inside the Dataverse handler.
#[derive(Clone, Copy, Debug)]
struct Delay(u64);

/// `lost_ack_after_parts`: a `$batch` runs only this many operations.
#[derive(Clone, Copy, Debug)]
struct PartLimit(u32);

async fn dataverse_handler(State(s): State<Arc<Shared>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let delay = parts.extensions.get::<Delay>().copied();
    let part_limit = parts.extensions.get::<PartLimit>().map(|p| p.0);
    let (method, uri, headers): (Method, Uri, HeaderMap) = (parts.method, parts.uri, parts.headers);
    let body = match axum::body::to_bytes(body, 256 * 1024 * 1024).await {
        Ok(b) => b,
        Err(_) => return (StatusCode::PAYLOAD_TOO_LARGE, "").into_response(),
    };
    let path = uri.path();
    let rest = path.strip_prefix("/api/data/").unwrap_or("");
    let (version, rel) = rest.split_once('/').unwrap_or((rest, ""));
    if !matches!(version, "v9.0" | "v9.1" | "v9.2") {
        return (StatusCode::NOT_FOUND, "").into_response();
    }
    let verified = match identity::verify_bearer(&s, &headers) {
        Ok(v) => v,
        Err(e) => return unauthorized(&s, e),
    };
    let (caller, oid) = {
        let dir = state::read(&s.directory);
        let Some(u) = dir.user(verified.user) else { return unauthorized(&s, BearerError::Invalid) };
        (Caller { user: verified.user, systemuser_id: u.systemuser_id, upn: u.upn.clone() }, u.oid)
    };
    let logged = LoggedUser(caller.upn.clone());
    let (guard, remaining) = match admit(&s, oid) {
        Ok(g) => g,
        Err(mut r) => {
            r.extensions_mut().insert(logged);
            return r;
        }
    };
    if let Some(Delay(ms)) = delay {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let req = DvRequest {
        method,
        version: version.to_owned(),
        path: rel.to_owned(),
        query: uri.query().unwrap_or("").to_owned(),
        headers,
        body: body.to_vec(),
        part_limit,
    };
    let shared = s.clone();
    let dv = tokio::task::spawn_blocking(move || {
        let r = dataverse::dispatch(&shared, &caller, &req);
        drop(guard);
        r
    })
    .await;
    let dv = match dv {
        Ok(r) => r,
        Err(_) => dataverse::DvError::new(500, "0x80040216", "An unexpected error occurred.").response(),
    };
    let noise = state::read(&s.settings).noise;
    let inner_parts = dv.inner_parts;
    let mut r = Response::new(Body::from(dv.body));
    *r.status_mut() = StatusCode::from_u16(dv.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert("OData-Version", HeaderValue::from_static("4.0"));
    for (k, v) in dv.headers {
        if let (Ok(k), Ok(v)) = (axum::http::HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&v)) {
            h.append(k, v);
        }
    }
    if noise {
        let id = guid(codec::random_guid());
        if let Ok(v) = HeaderValue::from_str(&id) {
            h.insert("REQ_ID", v.clone());
            h.insert("x-ms-service-request-id", v);
        }
        if let Ok(v) = HeaderValue::from_str(&remaining.to_string()) {
            h.insert("x-ms-ratelimit-burst-remaining-xrm-requests", v);
        }
        h.insert("x-ms-ratelimit-time-remaining-xrm-requests", HeaderValue::from_static("1,199.98"));
        h.insert(header::SET_COOKIE, HeaderValue::from_static("ARRAffinity=0b1c2d3e4f; path=/; secure; HttpOnly"));
    }
    r.extensions_mut().insert(logged);
    if inner_parts > 0 {
        r.extensions_mut().insert(BatchParts(inner_parts));
    }
    r
}
