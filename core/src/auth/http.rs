//! The HTTP client sign-in uses: reqwest with rustls, no redirects (token requests must never
//! follow one), bounded timeouts, and an adapter so the `oauth2` crate can use it.
//!
//! Errors never carry a URL or a body: token endpoints receive codes and refresh tokens in
//! request bodies, and responses carry tokens.

use std::time::Duration;

use crate::error::{Error, Result};

/// The user agent sent with every request.
const USER_AGENT: &str = concat!("outpost/", env!("CARGO_PKG_VERSION"));

/// A transport failure, described without URLs or bodies.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct HttpError(pub &'static str);

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
        Error::Network { reason: e.0.to_string() }
    }
}

/// Build the client.
pub(crate) fn client() -> Result<reqwest::Client> {
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
    let req = reqwest::Request::try_from(req).map_err(|_| HttpError("malformed request"))?;
    let resp = client.execute(req).await.map_err(|e| HttpError(describe(&e)))?;
    let mut builder = http::Response::builder().status(resp.status());
    for (name, value) in resp.headers() {
        builder = builder.header(name, value);
    }
    let body = resp.bytes().await.map_err(|e| HttpError(describe(&e)))?;
    builder.body(body.to_vec()).map_err(|_| HttpError("malformed response"))
}
