//! `diagnose`: checks the local database's integrity, then a real org for what a sync needs and no
//! local test can reach — the org
//! answers, the tenant is found, sign-in works, and for every profile table: it exists, change
//! tracking and optimistic concurrency are on, the user may read it, and the server honours
//! paging and the change-tracking preference.

use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::SyncEngine;
use crate::auth::http::describe;
use crate::dataverse::{metadata, Client, ClientConfig, Request, ServerError};
use crate::error::{Error, Result};

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CheckStatus {
    /// Fine.
    Pass,
    /// Works, but something deserves attention.
    Warn,
    /// Sync will fail (for this table, or at all).
    Fail,
    /// Could not be checked (an earlier check failed).
    Skipped,
}

/// One check and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// What was checked, e.g. `change tracking`.
    pub name: String,
    /// The profile table, for per-table checks.
    pub table: Option<String>,
    /// Outcome.
    pub status: CheckStatus,
    /// What was found, and on failure what an administrator must do. Never holds tokens or
    /// record values.
    pub detail: String,
}

fn check(name: &str, table: Option<&str>, status: CheckStatus, detail: impl Into<String>) -> Check {
    Check { name: name.into(), table: table.map(str::to_string), status, detail: detail.into() }
}

fn refused(e: &ServerError) -> String {
    if e.code.is_empty() {
        format!("HTTP {}", e.status)
    } else {
        format!("HTTP {} {}", e.status, e.code)
    }
}

impl SyncEngine {
    /// Check the org against the profile (the `outpost doctor` command). Sends a handful of small
    /// requests per table; changes nothing on the server or in the store.
    ///
    /// # Errors
    /// Only `Internal` (the runtime); every finding, failures included, is a [`Check`].
    pub async fn diagnose(&self) -> Result<Vec<Check>> {
        let inner = self.inner.clone();
        let task = super::runtime()?.spawn(async move { diagnose(&inner).await });
        task.await.map_err(|e| Error::internal(format!("the diagnosis task failed: {e}")))
    }
}

async fn diagnose(inner: &super::Inner) -> Vec<Check> {
    use CheckStatus::{Fail, Pass, Skipped, Warn};
    let mut out = Vec::new();

    // 0. The local database: every page's HMAC and SQLite's structure (reads the whole file).
    let store = inner.store.clone();
    let integrity = match tokio::task::spawn_blocking(move || store.verify_integrity()).await {
        Ok(Ok(())) => check("local database", None, Pass, "every page verified (HMAC and structure)"),
        Ok(Err(e)) => check(
            "local database",
            None,
            Fail,
            format!("{e}: the vault cannot be trusted; wipe it and sync again (unsynced edits would be lost)"),
        ),
        Err(e) => check("local database", None, Fail, format!("the check did not run: {e}")),
    };
    out.push(integrity);

    // 1. The org answers an anonymous request with Dataverse's 401 challenge.
    match inner.http.get(&inner.api_root).send().await {
        Ok(r) if r.status().as_u16() == 401 => {
            let challenge = r
                .headers()
                .get_all("www-authenticate")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|v| v.to_ascii_lowercase().starts_with("bearer"))
                .map(|v| v.chars().take(300).collect::<String>());
            match challenge {
                Some(c) => out.push(check("organisation reachable", None, Pass, format!("401 challenge: {c}"))),
                None => out.push(check(
                    "organisation reachable",
                    None,
                    Warn,
                    "answers 401 without a Bearer challenge: give --authority or --tenant explicitly",
                )),
            }
        }
        Ok(r) => out.push(check(
            "organisation reachable",
            None,
            Warn,
            format!(
                "an anonymous request got HTTP {} instead of 401: is this a Dataverse environment URL?",
                r.status()
            ),
        )),
        Err(e) => {
            out.push(check(
                "organisation reachable",
                None,
                Fail,
                format!("{}: check the URL and network", describe(&e)),
            ));
            return out;
        }
    }

    // 2. The tenant / issuer, and a token for the org.
    match inner.auth.issuer().await {
        Ok(issuer) => out.push(check("tenant", None, Pass, format!("issuer {issuer}"))),
        Err(e) => {
            out.push(check("tenant", None, Fail, e.to_string()));
            return out;
        }
    }
    if let Err(e) = inner.auth.access_token().await {
        out.push(check("signed in", None, Fail, format!("{e}: run `outpost sign-in`")));
        return out;
    }
    out.push(check("signed in", None, Pass, "an access token for the org was obtained"));

    let client = match Client::new(
        inner.http.clone(),
        ClientConfig {
            api_root: inner.api_root.clone(),
            max_concurrency: 2,
            retry: inner.config.retry,
            max_body_bytes: 64 << 20,
        },
        inner.tokens.clone(),
        CancellationToken::new(),
    ) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            out.push(check("client", None, Fail, e.to_string()));
            return out;
        }
    };
    match client.execute_json(&Request::get(format!("{}WhoAmI", inner.api_root))).await {
        Ok(r) if r.status.is_success() => out.push(check("WhoAmI", None, Pass, "the user is known to Dataverse")),
        Ok(r) => out.push(check(
            "WhoAmI",
            None,
            Fail,
            format!(
                "{}: the user may have no Dataverse licence or security role",
                refused(&ServerError::from_response(r.status, &r.body))
            ),
        )),
        Err(e) => out.push(check("WhoAmI", None, Fail, e.to_string())),
    }

    // 3. Per profile table.
    for t in &inner.profile.tables {
        let set = t.entity_set.as_str();
        let meta = match metadata::fetch(&client, set).await {
            Ok(m) => {
                out.push(check("table exists", Some(set), Pass, format!("logical name {}", m.logical_name)));
                m
            }
            Err(e) => {
                out.push(check("table exists", Some(set), Fail, format!("{e}: fix the profile's entity_set")));
                for name in ["columns", "change tracking", "optimistic concurrency", "read privilege", "paging"] {
                    out.push(check(name, Some(set), Skipped, "the table's metadata could not be read"));
                }
                continue;
            }
        };
        let missing: Vec<&str> =
            t.columns.iter().filter(|c| meta.property_of(c).is_none()).map(String::as_str).collect();
        out.push(if missing.is_empty() {
            check("columns", Some(set), Pass, format!("{} profile columns readable", t.columns.len()))
        } else {
            check("columns", Some(set), Fail, format!("not readable: {}: fix the profile", missing.join(", ")))
        });
        out.push(if meta.change_tracking {
            check("change tracking", Some(set), Pass, "ChangeTrackingEnabled")
        } else {
            check(
                "change tracking",
                Some(set),
                Fail,
                "off: an admin must enable \"Track changes\" on the table (Power Apps → Tables → Properties → Advanced options)",
            )
        });
        out.push(if meta.optimistic_concurrency {
            check("optimistic concurrency", Some(set), Pass, "IsOptimisticConcurrencyEnabled")
        } else {
            check(
                "optimistic concurrency",
                Some(set),
                Warn,
                "off: local edits cannot be checked against server changes (the server's version may be overwritten)",
            )
        });
        let pk = &meta.primary_id;
        let read =
            Request::get(format!("{}{set}?$select={pk}", inner.api_root)).header("Prefer", "odata.maxpagesize=2");
        match client.execute_json(&read).await {
            Ok(r) if r.status.is_success() => {
                out.push(check("read privilege", Some(set), Pass, "the user can read the table"));
                #[derive(serde::Deserialize)]
                struct Page {
                    #[serde(default)]
                    value: Vec<serde::de::IgnoredAny>,
                    #[serde(rename = "@odata.nextLink", default)]
                    next: Option<String>,
                }
                let applied = r.header("preference-applied").unwrap_or_default().contains("odata.maxpagesize");
                match serde_json::from_slice::<Page>(&r.body) {
                    Ok(p) if p.value.len() <= 2 && (p.next.is_some() || p.value.len() < 2) && applied => out.push(
                        check("paging", Some(set), Pass, "odata.maxpagesize honoured (Preference-Applied, next link)"),
                    ),
                    Ok(p) if p.value.len() > 2 => out.push(check(
                        "paging",
                        Some(set),
                        Fail,
                        format!(
                            "asked for 2 rows per page, got {}: a proxy may strip the Prefer header",
                            p.value.len()
                        ),
                    )),
                    Ok(_) => out.push(check(
                        "paging",
                        Some(set),
                        Warn,
                        "pages are bounded but the server did not confirm odata.maxpagesize (Preference-Applied)",
                    )),
                    Err(_) => out.push(check("paging", Some(set), Fail, "the page is not OData JSON")),
                }
            }
            Ok(r) => {
                let e = ServerError::from_response(r.status, &r.body);
                out.push(check(
                    "read privilege",
                    Some(set),
                    Fail,
                    format!("{}: the user's security role needs Read on {}", refused(&e), meta.logical_name),
                ));
                out.push(check("paging", Some(set), Skipped, "the table cannot be read"));
                continue;
            }
            Err(e) => {
                out.push(check("read privilege", Some(set), Fail, e.to_string()));
                out.push(check("paging", Some(set), Skipped, "the table cannot be read"));
                continue;
            }
        }
        if meta.change_tracking {
            let tracked = Request::get(format!("{}{set}?$select={pk}", inner.api_root))
                .header("Prefer", "odata.track-changes,odata.maxpagesize=1");
            match client.execute_json(&tracked).await {
                Ok(r) if r.status.is_success() => {
                    let applied = r.header("preference-applied").unwrap_or_default().contains("odata.track-changes");
                    out.push(if applied {
                        check("change-tracked query", Some(set), Pass, "odata.track-changes applied")
                    } else {
                        check(
                            "change-tracked query",
                            Some(set),
                            Fail,
                            "the server ignored odata.track-changes: change tracking is not active for the table yet",
                        )
                    });
                }
                Ok(r) => out.push(check(
                    "change-tracked query",
                    Some(set),
                    Fail,
                    refused(&ServerError::from_response(r.status, &r.body)),
                )),
                Err(e) => out.push(check("change-tracked query", Some(set), Fail, e.to_string())),
            }
        }
    }
    out
}
