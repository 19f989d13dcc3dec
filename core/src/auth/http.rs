//! The HTTP client sign-in uses: reqwest with rustls, no redirects (token requests must never
//! follow one), bounded timeouts, and an adapter so the `oauth2` crate can use it.
//!
//! Errors never carry a URL or a body: token endpoints receive codes and refresh tokens in
//! request bodies, and responses carry tokens.

use std::time::Duration;

use crate::error::{Error, Result};

/// The user agent sent with every request.
const USER_AGENT: &str = concat!("outpost/", env!("CARGO_PKG_VERSION"));

/// A transport failure, described without URLs or bodies, or throttling.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    /// The request could not be completed.
    #[error("{0}")]
    Transport(&'static str),
    /// HTTP 429, with `Retry-After` in seconds when given.
    #[error("throttled")]
    Throttled(Option<u64>),
}

pub(crate) fn describe(e: &reqwest::Error) -> &'static str {
    if e.is_timeout() {
        "the request timed out"
    } else if e.is_connect() {
        "cannot connect to the server"
    } else if e.is_body() || e.is_decode() {
        "the response was cut off or unreadable"
    } else {
        "the request failed"
    }
}

impl From<HttpError> for Error {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Transport(reason) => Error::Network { reason: reason.to_string() },
            HttpError::Throttled(after) => Error::Throttled { retry_after_s: after.unwrap_or(5) },
        }
    }
}

/// `Retry-After` in seconds (the delta-seconds form; an HTTP date counts as unknown).
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<u64> {
    headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim().parse().ok()
}

/// The server's time from a response's `Date` header (RFC 9110 §6.6.1), in Unix seconds.
pub(crate) fn date(headers: &http::HeaderMap) -> Option<i64> {
    let t = httpdate::parse_http_date(headers.get(http::header::DATE)?.to_str().ok()?).ok()?;
    let secs = t.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs();
    i64::try_from(secs).ok()
}

/// The error for a provider response that is not a success: 429 → `Throttled`, 5xx →
/// `Network`, an OAuth error body → classified (`entra::classify`), anything else `AuthFailed`.
pub(crate) fn error_response(status: reqwest::StatusCode, retry_after: Option<u64>, body: &[u8]) -> Error {
    if status == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Error::Throttled { retry_after_s: retry_after.unwrap_or(5) };
    }
    if status.is_server_error() {
        return Error::Network { reason: format!("identity provider answered HTTP {}", status.as_u16()) };
    }
    match serde_json::from_slice::<super::entra::TokenErrorBody>(body) {
        Ok(e) if !e.error.is_empty() => super::entra::classify(&e),
        _ => Error::auth_failed(format!("HTTP {}", status.as_u16())),
    }
}

/// Build the client.
pub(crate) fn client() -> Result<reqwest::Client> {
    crate::install_tls_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(60))
        .user_agent(USER_AGENT)
        .build()
        .map_err(|_| Error::internal("cannot build the HTTP client (TLS setup failed)"))
}

/// Send an `http::Request` built by the `oauth2` crate.
pub(crate) async fn send(client: reqwest::Client, req: oauth2::HttpRequest) -> Result<oauth2::HttpResponse, HttpError> {
    let req = reqwest::Request::try_from(req).map_err(|_| HttpError::Transport("malformed request"))?;
    let resp = client.execute(req).await.map_err(|e| HttpError::Transport(describe(&e)))?;
    if resp.status() == reqwest::StatusCode::TOO_MANY_REQUESTS {
        return Err(HttpError::Throttled(retry_after(resp.headers())));
    }
    let mut builder = http::Response::builder().status(resp.status());
    for (name, value) in resp.headers() {
        builder = builder.header(name, value);
    }
    let body = resp.bytes().await.map_err(|e| HttpError::Transport(describe(&e)))?;
    builder.body(body.to_vec()).map_err(|_| HttpError::Transport("malformed response"))
}
