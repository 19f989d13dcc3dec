//! The Dataverse Web API as the sync engine uses it: one HTTP client with the headers every
//! request carries, bearer tokens from a [`TokenSource`] (one refresh on 401), retries with
//! exponential backoff and jitter for network errors, 5xx and 429 (honouring `Retry-After`
//! for every request of the user, not just the one refused), a cap on concurrent requests,
//! cancellation, and a retry budget. Page parsing, `$batch` and metadata live beside it.
//!
//! This module never touches the store; the sync engine moves data between the two.

pub(crate) mod batch;
pub(crate) mod metadata;
pub(crate) mod page;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, StatusCode};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::auth::AccessToken;
use crate::error::{Error, Result};

/// A boxed future, for the object-safe [`TokenSource`].
pub(crate) type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where bearer tokens come from (the sign-in code). Small on purpose: the Web API client knows
/// nothing else about auth.
pub(crate) trait TokenSource: Send + Sync {
    /// A valid access token (cached or silently refreshed).
    fn token(&self) -> BoxFuture<'_, Result<AccessToken>>;
    /// The resource answered 401 with these `WWW-Authenticate` values: refresh once.
    fn refresh(&self, challenges: Vec<String>) -> BoxFuture<'_, Result<AccessToken>>;
}

impl TokenSource for crate::auth::Auth {
    fn token(&self) -> BoxFuture<'_, Result<AccessToken>> {
        Box::pin(self.access_token())
    }

    fn refresh(&self, challenges: Vec<String>) -> BoxFuture<'_, Result<AccessToken>> {
        Box::pin(async move {
            let refs: Vec<&str> = challenges.iter().map(String::as_str).collect();
            self.after_unauthorized(&refs).await
        })
    }
}

/// Retry policy for transient failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub max_attempts: u32,
    /// First backoff delay; doubled per attempt; each wait is half fixed, half random (jitter).
    pub base_delay: Duration,
    /// Longest single wait (a longer `Retry-After` is still honoured, within the budget).
    pub max_delay: Duration,
    /// Total time a sync may spend waiting in retries before it gives up.
    pub budget: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 8,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(30),
            budget: Duration::from_secs(300),
        }
    }
}

/// Client settings.
#[derive(Debug, Clone)]
pub(crate) struct ClientConfig {
    /// Web API root, ending in `/`, e.g. `https://org.crm.dynamics.com/api/data/v9.2/`.
    pub api_root: String,
    /// Requests in flight at once (the service allows 52 per user per web server).
    pub max_concurrency: usize,
    /// Retries.
    pub retry: RetryPolicy,
    /// Largest response body accepted.
    pub max_body_bytes: usize,
}

/// A request to the Web API.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub method: Method,
    /// Absolute URL.
    pub url: String,
    pub headers: Vec<(&'static str, String)>,
    pub body: Option<(String, Vec<u8>)>,
}

impl Request {
    pub(crate) fn get(url: impl Into<String>) -> Request {
        Request { method: Method::GET, url: url.into(), headers: Vec::new(), body: None }
    }

    pub(crate) fn header(mut self, name: &'static str, value: impl Into<String>) -> Request {
        self.headers.push((name, value.into()));
        self
    }
}

/// A response, body read in full (bounded by `max_body_bytes`).
#[derive(Debug)]
pub(crate) struct Response {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Response {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A Dataverse error answer: `{"error":{"code":"0x…","message":"…"}}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct ServerError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ServerError {
    pub(crate) fn from_response(status: StatusCode, body: &[u8]) -> ServerError {
        #[derive(serde::Deserialize)]
        struct Outer {
            error: Option<Inner>,
        }
        #[derive(serde::Deserialize)]
        struct Inner {
            #[serde(default)]
            code: Option<String>,
            #[serde(default)]
            message: Option<String>,
        }
        let inner = serde_json::from_slice::<Outer>(body).ok().and_then(|o| o.error);
        ServerError {
            status: status.as_u16(),
            code: inner.as_ref().and_then(|i| i.code.clone()).unwrap_or_default(),
            message: inner.and_then(|i| i.message).unwrap_or_default(),
        }
    }

    /// The public error: status and code only (the message may name record values).
    pub(crate) fn to_error(&self) -> Error {
        Error::Server { status: self.status, code: self.code.clone() }
    }
}

/// Counters of one client (for summaries and benchmarks).
#[derive(Debug, Default)]
pub(crate) struct Stats {
    pub requests: AtomicU64,
    pub bytes: AtomicU64,
    pub retries: AtomicU64,
    pub waited_ms: AtomicU64,
}

/// The Web API client of one user.
pub(crate) struct Client {
    http: reqwest::Client,
    config: ClientConfig,
    tokens: Arc<dyn TokenSource>,
    limiter: Arc<Semaphore>,
    /// No request may leave before this instant (set by a 429's `Retry-After`).
    not_before: Mutex<Option<Instant>>,
    cancel: CancellationToken,
    pub stats: Stats,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("api_root", &self.config.api_root).finish_non_exhaustive()
    }
}

fn transport(e: &reqwest::Error) -> Error {
    Error::Network { reason: crate::auth::describe_http_error(e).to_string() }
}

/// Jittered exponential backoff for `attempt` (1-based).
pub(crate) fn backoff(policy: &RetryPolicy, attempt: u32) -> Duration {
    let exp = policy.base_delay.saturating_mul(1u32 << attempt.min(16).saturating_sub(1));
    let cap = exp.min(policy.max_delay);
    let mut b = [0u8; 4];
    let jitter = if crate::vault::fill_random(&mut b).is_ok() { u32::from_le_bytes(b) } else { u32::MAX / 2 };
    // Half fixed, half random: never zero, never more than the cap.
    cap / 2 + cap.mul_f64(f64::from(jitter) / f64::from(u32::MAX) / 2.0)
}

impl Client {
    /// The HTTP client a [`Client`] wraps. Building one loads the system's root certificates
    /// (milliseconds), so an engine builds it once and shares it across syncs.
    pub(crate) fn http(timeout: Duration) -> Result<reqwest::Client> {
        crate::install_tls_provider();
        reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(15))
            .build()
            .map_err(|e| transport(&e))
    }

    pub(crate) fn new(
        http: reqwest::Client,
        config: ClientConfig,
        tokens: Arc<dyn TokenSource>,
        cancel: CancellationToken,
    ) -> Result<Client> {
        let limiter = Arc::new(Semaphore::new(config.max_concurrency.max(1)));
        Ok(Client { http, config, tokens, limiter, not_before: Mutex::new(None), cancel, stats: Stats::default() })
    }

    pub(crate) fn api_root(&self) -> &str {
        &self.config.api_root
    }

    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.config.retry
    }

    /// Sleep, unless cancelled first.
    pub(crate) async fn pause(&self, d: Duration) -> Result<()> {
        tokio::select! {
            () = self.cancel.cancelled() => Err(Error::Cancelled),
            () = tokio::time::sleep(d) => Ok(()),
        }
    }

    /// Spend `d` of the retry budget waiting; `false` when the budget is spent.
    async fn wait_retry(&self, d: Duration) -> Result<bool> {
        let spent = self.stats.waited_ms.fetch_add(d.as_millis() as u64, Ordering::Relaxed);
        if Duration::from_millis(spent) + d > self.config.retry.budget {
            return Ok(false);
        }
        self.stats.retries.fetch_add(1, Ordering::Relaxed);
        self.pause(d).await?;
        Ok(true)
    }

    fn throttled_until(&self) -> Option<Instant> {
        self.not_before.lock().ok().and_then(|g| *g).filter(|t| *t > Instant::now())
    }

    fn throttle(&self, d: Duration) {
        if let Ok(mut g) = self.not_before.lock() {
            let until = Instant::now() + d;
            if g.is_none_or(|t| t < until) {
                *g = Some(until);
            }
        }
    }

    /// Send once: wait for any `Retry-After`, take a concurrency slot, send, read the body.
    async fn send_once(&self, req: &Request, token: &AccessToken) -> Result<Response> {
        loop {
            if let Some(until) = self.throttled_until() {
                self.pause(until.saturating_duration_since(Instant::now())).await?;
            }
            let permit = tokio::select! {
                () = self.cancel.cancelled() => return Err(Error::Cancelled),
                p = self.limiter.clone().acquire_owned() => p.map_err(|_| Error::Cancelled)?,
            };
            // A 429 may have arrived while this request waited for its slot.
            if self.throttled_until().is_some() {
                drop(permit);
                continue;
            }
            let mut b = self
                .http
                .request(req.method.clone(), &req.url)
                .bearer_auth(token.secret())
                .header("Accept", "application/json")
                .header("OData-MaxVersion", "4.0")
                .header("OData-Version", "4.0");
            for (k, v) in &req.headers {
                b = b.header(*k, v);
            }
            if let Some((ct, body)) = &req.body {
                b = b.header("Content-Type", ct).body(body.clone());
            }
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let fut = async {
                let mut resp = b.send().await.map_err(|e| transport(&e))?;
                let status = resp.status();
                let headers = std::mem::take(resp.headers_mut());
                let mut body = Vec::new();
                while let Some(chunk) = resp.chunk().await.map_err(|e| transport(&e))? {
                    if body.len() + chunk.len() > self.config.max_body_bytes {
                        return Err(Error::Network { reason: "response body too large".into() });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(Response { status, headers, body })
            };
            let out = tokio::select! {
                () = self.cancel.cancelled() => Err(Error::Cancelled),
                r = fut => r,
            };
            drop(permit);
            if let Ok(r) = &out {
                self.stats.bytes.fetch_add(r.body.len() as u64, Ordering::Relaxed);
            }
            return out;
        }
    }

    /// Send a request with the retry policy. Returns the first response that is not a
    /// transient failure (any 2xx, 3xx or 4xx other than 401/408/429); 401 refreshes the token
    /// once. `check`: a response body that fails it (malformed or truncated) is retried like a
    /// network error.
    ///
    /// # Errors
    /// `Cancelled`; `Network`, `Throttled` or `Server` when the retries or the budget run out;
    /// sign-in errors from the token source.
    pub(crate) async fn execute(&self, req: &Request, check: impl Fn(&Response) -> bool) -> Result<Response> {
        let mut token = self.tokens.token().await?;
        let mut refreshed = false;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let outcome = self.send_once(req, &token).await;
            let (wait, last_error) = match outcome {
                Err(Error::Cancelled) => return Err(Error::Cancelled),
                Err(e) => (backoff(&self.config.retry, attempt), e),
                Ok(resp) if resp.status == StatusCode::UNAUTHORIZED => {
                    if refreshed {
                        return Err(Error::InteractionRequired {
                            claims: None,
                            details: crate::error::ServerDetails {
                                error: "unauthorized after refresh".into(),
                                ..Default::default()
                            },
                        });
                    }
                    refreshed = true;
                    let challenges: Vec<String> = resp
                        .headers
                        .get_all(reqwest::header::WWW_AUTHENTICATE)
                        .iter()
                        .filter_map(|v: &HeaderValue| v.to_str().ok().map(str::to_owned))
                        .collect();
                    tracing::debug!(target: "outpost::dataverse", "401: refreshing the access token once");
                    token = self.tokens.refresh(challenges).await?;
                    attempt -= 1;
                    continue;
                }
                Ok(resp) if resp.status == StatusCode::TOO_MANY_REQUESTS => {
                    let after = crate::auth::retry_after_secs(&resp.headers);
                    let wait = after.map_or_else(|| backoff(&self.config.retry, attempt), Duration::from_secs);
                    // Every request of this user waits, not just this one.
                    self.throttle(wait);
                    tracing::debug!(target: "outpost::dataverse", wait_ms = wait.as_millis() as u64, "429: waiting");
                    let e = Error::Throttled { retry_after_s: wait.as_secs() };
                    (Duration::ZERO, e)
                }
                Ok(resp)
                    if resp.status == StatusCode::REQUEST_TIMEOUT
                        || (resp.status.is_server_error() && resp.status != StatusCode::NOT_IMPLEMENTED) =>
                {
                    let e = ServerError::from_response(resp.status, &resp.body).to_error();
                    let wait = crate::auth::retry_after_secs(&resp.headers)
                        .map_or_else(|| backoff(&self.config.retry, attempt), Duration::from_secs);
                    tracing::debug!(target: "outpost::dataverse", status = resp.status.as_u16(), "transient error");
                    (wait, e)
                }
                Ok(resp) if resp.status.is_success() && !check(&resp) => {
                    tracing::debug!(target: "outpost::dataverse", "malformed or truncated body: retrying");
                    (backoff(&self.config.retry, attempt), Error::Network { reason: "malformed response".into() })
                }
                Ok(resp) => return Ok(resp),
            };
            if attempt >= self.config.retry.max_attempts {
                return Err(last_error);
            }
            let total = wait.max(self.throttled_until().map_or(Duration::ZERO, |t| t - Instant::now()));
            if !self.wait_retry(total).await? {
                return Err(last_error);
            }
        }
    }

    /// `execute` for requests whose body must be a JSON document.
    pub(crate) async fn execute_json(&self, req: &Request) -> Result<Response> {
        self.execute(req, |r| serde_json::from_slice::<serde::de::IgnoredAny>(&r.body).is_ok()).await
    }
}

/// Quote an OData string literal (`'` doubled).
pub(crate) fn odata_string(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// Percent-encode a query value (RFC 3986 unreserved kept; `$`, `,` `(`, `)`, `=`, `'` and `/`
/// kept as Dataverse examples write them).
pub(crate) fn encode_query(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for b in s.bytes() {
        match b {
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b'$'
            | b','
            | b'('
            | b')'
            | b'\''
            | b'/'
            | b'=' => out.push(char::from(b)),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_capped() {
        let p = RetryPolicy::default();
        for attempt in 1..20 {
            let d = backoff(&p, attempt);
            assert!(d <= p.max_delay, "{d:?}");
            assert!(d >= p.base_delay.min(p.max_delay) / 2, "{d:?}");
        }
        assert!(backoff(&p, 6) > backoff(&p, 1));
    }

    #[test]
    fn server_error_ignores_extra_members() {
        let e = ServerError::from_response(
            StatusCode::BAD_REQUEST,
            br#"{"error":{"code":"0x80044331","message":"A validation error occurred.","innererror":{"x":1},"@Microsoft.PowerApps.CDS.HelpLink":"h"}}"#,
        );
        assert_eq!(e.code, "0x80044331");
        assert_eq!(e.status, 400);
        let e = ServerError::from_response(StatusCode::BAD_GATEWAY, b"<html>proxy</html>");
        assert_eq!(e.code, "");
    }

    #[test]
    fn query_encoding() {
        assert_eq!(encode_query("EntitySetName eq 'a b'"), "EntitySetName%20eq%20'a%20b'");
        assert_eq!(odata_string("O'Brien"), "'O''Brien'");
    }
}
