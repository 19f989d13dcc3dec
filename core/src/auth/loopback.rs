//! The loopback redirect receiver for CLI and desktop sign-in: listens on 127.0.0.1 at a random
//! port (Entra ignores the port of loopback redirect URIs), receives the browser's redirect,
//! answers with a small "you can close this tab" page, and times out cleanly.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::error::{Error, Result};

const PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Outpost</title></head>\
<body style=\"font-family:sans-serif;margin:3em\"><h1>Signed in</h1><p>You can close this tab and return to the app.</p></body></html>";
const CONSENT_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Outpost</title></head>\
<body style=\"font-family:sans-serif;margin:3em\"><h1>Answer received</h1><p>You can close this tab and return to the app.</p></body></html>";

/// A one-shot HTTP listener on 127.0.0.1 for the redirect of an interactive sign-in.
#[derive(Debug)]
pub struct LoopbackRedirect {
    listener: TcpListener,
    port: u16,
}

impl LoopbackRedirect {
    /// Listen on 127.0.0.1 at a free port.
    ///
    /// # Errors
    /// `Storage` (I/O) if no port can be bound.
    pub async fn bind() -> Result<LoopbackRedirect> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let port = listener.local_addr()?.port();
        Ok(LoopbackRedirect { listener, port })
    }

    /// The redirect URI to sign in with: `http://127.0.0.1:{port}`.
    pub fn redirect_uri(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Wait for the redirect (a GET carrying `code` or `error`) and return its full URL, for
    /// [`super::Auth::complete_sign_in`]. Other requests (a favicon) get a 404 and are ignored.
    ///
    /// # Errors
    /// `UserCancelled` if nothing arrives within `timeout` (the user closed the browser).
    pub async fn receive(self, timeout: Duration) -> Result<String> {
        tokio::time::timeout(timeout, self.accept_redirect()).await.map_err(|_| Error::UserCancelled)?
    }

    async fn accept_redirect(&self) -> Result<String> {
        loop {
            let (mut stream, _) = self.listener.accept().await?;
            let mut buf = vec![0u8; 16 * 1024];
            let mut len = 0;
            // Read the request head (bounded; the redirect has no body).
            while len < buf.len() {
                let n = match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf[len..])).await {
                    Ok(Ok(n)) => n,
                    _ => 0,
                };
                if n == 0 {
                    break;
                }
                len += n;
                if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..len]);
            let target = head
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("GET "))
                .and_then(|l| l.split(' ').next())
                .unwrap_or("")
                .to_string();
            // A sign-in answers `code=` or `error=`, an admin consent `admin_consent=` (or `error=`).
            let is_consent = target.contains("admin_consent=");
            let is_redirect = target.contains("code=") || target.contains("error=") || is_consent;
            let response = if is_redirect {
                let page = if is_consent { CONSENT_PAGE } else { PAGE };
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\nCache-Control: no-store\r\n\r\n{page}",
                    page.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_string()
            };
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
            if is_redirect {
                return Ok(format!("http://127.0.0.1:{}{}", self.port, target));
            }
        }
    }
}
