//! Pull one table: change-tracked pages, each applied with its checkpoint in one transaction.
//!
//! Start: a saved next link resumes the pass it belongs to; else the saved delta link gives the
//! changes; else (or when the `$select` changed) a full pass runs the initial tracked query and,
//! at its end, removes local rows it did not see (rows with pending edits excepted).
//! An expired or refused delta token (400 `0x80044352` or another unexpected 4xx) starts a full
//! pass; 401/403/408/429/5xx and network errors never do.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::{blocking, failpoint, Ctx, SyncEvent, TableProgress, TableSummary};
use crate::dataverse::metadata::TableMetadata;
use crate::dataverse::page::{self, Shape, LOOKUP_LOGICAL_NAME};
use crate::dataverse::{encode_query, Request, ServerError};
use crate::error::{Error, Result};
use crate::store::{Checkpoint, PassKind, ServerRow, Value};
use crate::sync::profile::TableProfile;

/// Soft limit of one page's body: a larger page halves the page size for the next requests.
const PAGE_BYTES_SOFT: usize = 8 << 20;
const MIN_PAGE: u32 = 50;

/// The `$select` of a table: profile columns mapped to property names, plus the primary id.
pub(crate) fn select_columns(profile: &TableProfile, meta: &TableMetadata) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for c in &profile.columns {
        let col = meta.property_of(c).ok_or_else(|| {
            Error::invalid(format!("sync profile: {} has no readable column {c:?}", profile.entity_set))
        })?;
        if !out.contains(&col.property) {
            out.push(col.property.clone());
        }
    }
    if !out.contains(&meta.primary_id) {
        out.push(meta.primary_id.clone());
    }
    Ok(out)
}

/// Whether a 4xx from a delta link means "start over" (expired or refused token).
fn delta_refused(err: &ServerError) -> bool {
    matches!(err.status, 400..=499) && !matches!(err.status, 401 | 403 | 408 | 429)
}

enum Start {
    Full,
    Resume { url: String, pass: Option<i64> },
    Delta(String),
}

/// Pull one table.
pub(crate) async fn table(ctx: &Ctx, profile: &TableProfile, meta: &TableMetadata) -> Result<TableSummary> {
    let set = profile.entity_set.clone();
    let mut summary = TableSummary { entity_set: set.clone(), ..TableSummary::default() };
    if !meta.change_tracking {
        return Err(Error::ChangeTrackingUnavailable {
            table: set,
            reason: "change tracking is not enabled for the table (ChangeTrackingEnabled is false)".into(),
        });
    }
    let select = select_columns(profile, meta)?;
    let select_str = select.join(",");
    let keep: HashSet<String> = select.iter().cloned().collect();
    let shape = Shape { primary_id: &meta.primary_id, keep: &keep };
    let polymorphic: Vec<(String, Vec<String>)> = select
        .iter()
        .filter_map(|p| meta.columns.get(p))
        .filter(|c| c.is_lookup())
        .map(|c| (c.property.clone(), c.targets.clone()))
        .collect();
    let initial_url = format!("{}{set}?$select={}", ctx.client.api_root(), encode_query(&select_str));
    let mut page_size = profile.page_size.unwrap_or(ctx.page_size).clamp(1, 5000);

    let state = blocking(&ctx.store, {
        let set = set.clone();
        move |s| s.sync_state(&set)
    })
    .await?;
    let mut annotations = state.annotations && polymorphic.iter().any(|(_, t)| t.len() > 1);
    let start = if state.select_columns.as_deref() != Some(select_str.as_str()) {
        Start::Full
    } else if let (Some(url), Some(kind)) = (state.next_link.clone(), state.pass_kind) {
        Start::Resume { url, pass: (kind == PassKind::Full).then_some(state.pass) }
    } else if let Some(delta) = state.delta_link.clone() {
        Start::Delta(delta)
    } else {
        Start::Full
    };
    let (mut url, mut pass, mut resumed) = match start {
        Start::Full => (initial_url.clone(), Some(begin_full(ctx, &set, &select_str).await?), false),
        Start::Resume { url, pass } => (url, pass, true),
        Start::Delta(url) => (url, None, false),
    };
    summary.full = pass.is_some();
    let mut restarts = 0u32;
    loop {
        if ctx.past_deadline() {
            summary.complete = false;
            return Ok(summary);
        }
        let mut prefer = Vec::new();
        if pass.is_some() {
            prefer.push("odata.track-changes".to_string());
        }
        prefer.push(format!("odata.maxpagesize={page_size}"));
        if annotations {
            prefer.push(format!("odata.include-annotations=\"{}\"", &LOOKUP_LOGICAL_NAME[1..]));
        }
        let req = Request::get(url.clone()).header("Prefer", prefer.join(","));
        let started = Instant::now();
        // Parsed once; a malformed or truncated body is retried like a network error.
        let mut bad_bodies = 0u32;
        let (resp, parsed) = loop {
            let resp = ctx.client.execute(&req, |_| true).await?;
            if !resp.status.is_success() {
                break (resp, None);
            }
            match page::parse(&resp.body, &shape) {
                Ok(p) => break (resp, Some(p)),
                Err(reason) => {
                    bad_bodies += 1;
                    tracing::debug!(target: "outpost::sync", table = %set, %reason, "bad page body: retrying");
                    if bad_bodies >= ctx.client.retry_policy().max_attempts {
                        return Err(Error::Network { reason });
                    }
                    ctx.client.pause(crate::dataverse::backoff(ctx.client.retry_policy(), bad_bodies)).await?;
                }
            }
        };
        let Some(parsed) = parsed else {
            let err = ServerError::from_response(resp.status, &resp.body);
            // A refused delta token (or a stale resumed link): start a full pass. Never for
            // auth, permission, timeout, throttling or server errors.
            if delta_refused(&err) && (pass.is_none() || resumed) && restarts < 2 {
                tracing::info!(target: "outpost::sync", table = %set, status = err.status, code = %err.code,
                    "delta link refused: full resync");
                restarts += 1;
                resumed = false;
                pass = Some(begin_full(ctx, &set, &select_str).await?);
                summary.full = true;
                url = initial_url.clone();
                continue;
            }
            return Err(err.to_error());
        };
        if resp.body.len() > PAGE_BYTES_SOFT && page_size > MIN_PAGE {
            page_size = (page_size / 2).max(MIN_PAGE);
        }
        let bytes = resp.body.len() as u64;
        drop(resp);
        let checkpoint = match (&parsed.next_link, &parsed.delta_link) {
            (Some(next), _) => Checkpoint::Next(next.clone()),
            (None, delta) => Checkpoint::Done { delta_link: delta.clone() },
        };
        if matches!(checkpoint, Checkpoint::Done { delta_link: None }) && annotations && restarts < 2 {
            // ADR 0004: annotations on a tracked query are reported to lose the delta link.
            // Drop them for this table and run the pass again; targets then come from metadata
            // and the local tables.
            tracing::info!(target: "outpost::sync", table = %set, "no delta link with annotations: retrying without");
            annotations = false;
            restarts += 1;
            blocking(&ctx.store, {
                let set = set.clone();
                move |s| s.set_annotations(&set, false)
            })
            .await?;
            pass = Some(begin_full(ctx, &set, &select_str).await?);
            summary.full = true;
            url = initial_url.clone();
            continue;
        }
        let mut rows = parsed.rows;
        fill_lookup_targets(ctx, meta, &polymorphic, &mut rows).await?;
        let n_rows = rows.len() as u64;
        let deleted = parsed.deleted;
        let done = matches!(checkpoint, Checkpoint::Done { .. });
        let no_delta = matches!(checkpoint, Checkpoint::Done { delta_link: None });
        let applied = blocking(&ctx.store, {
            let set = set.clone();
            move |s| s.apply_page(&set, &rows, &deleted, Some((pass, checkpoint)))
        })
        .await?;
        failpoint("pull.after_page_commit");
        summary.pages += 1;
        summary.pulled += n_rows;
        summary.deleted += applied.deleted;
        summary.bytes += bytes;
        tracing::debug!(target: "outpost::sync", table = %set, rows = n_rows, ms = started.elapsed().as_millis() as u64, "page applied");
        ctx.emit(&SyncEvent::Progress(TableProgress {
            entity_set: set.clone(),
            phase: if pass.is_some() { super::Phase::InitialPull } else { super::Phase::DeltaPull },
            rows: summary.pulled,
            total: None,
            pages: summary.pages,
            bytes: summary.bytes,
        }));
        if !applied.changed_ids.is_empty() {
            ctx.emit(&SyncEvent::Changed { entity_set: set.clone(), ids: applied.changed_ids });
        }
        if done {
            if no_delta {
                return Err(Error::ChangeTrackingUnavailable {
                    table: set,
                    reason: "the server sent no delta link (change tracking ignored)".into(),
                });
            }
            if pass.is_some() {
                ctx.emit(&SyncEvent::InitialSyncComplete { entity_set: set.clone() });
            }
            summary.complete = true;
            return Ok(summary);
        }
        url = parsed.next_link.unwrap_or_default();
        resumed = false;
    }
}

async fn begin_full(ctx: &Ctx, set: &str, select: &str) -> Result<i64> {
    let (set, select) = (set.to_string(), select.to_string());
    blocking(&ctx.store, move |s| s.begin_full_pass(&set, &select)).await
}

/// Lookup targets for rows that came without the annotation: a single-target lookup's target
/// comes from metadata; a polymorphic one is found among the locally synced target tables
/// (ADR 0004). Unresolved targets stay unknown (the id is still kept).
async fn fill_lookup_targets(
    ctx: &Ctx,
    meta: &TableMetadata,
    lookups: &[(String, Vec<String>)],
    rows: &mut [ServerRow],
) -> Result<()> {
    let mut wanted: HashMap<String, Vec<String>> = HashMap::new();
    for (prop, targets) in lookups {
        let key = format!("{prop}{LOOKUP_LOGICAL_NAME}");
        for row in rows.iter_mut() {
            let Some(Value::Text(id)) = row.values.get(prop) else { continue };
            if row.values.contains_key(&key) {
                continue;
            }
            if let [only] = targets.as_slice() {
                row.values.insert(key.clone(), Value::Text(only.clone()));
            } else {
                wanted.entry(prop.clone()).or_default().push(id.to_ascii_lowercase());
            }
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    let mut found: HashMap<String, String> = HashMap::new();
    for (prop, targets) in lookups {
        let Some(ids) = wanted.get(prop) else { continue };
        for t in targets {
            let Some(target_set) = meta.target_sets.get(t) else { continue };
            let (target_set, ids) = (target_set.clone(), ids.clone());
            let present = blocking(&ctx.store, move |s| s.ids_present(&target_set, &ids)).await?;
            for id in present {
                found.entry(id).or_insert_with(|| t.clone());
            }
        }
    }
    for (prop, _) in lookups {
        let key = format!("{prop}{LOOKUP_LOGICAL_NAME}");
        for row in rows.iter_mut() {
            let target = match row.values.get(prop) {
                Some(Value::Text(id)) if !row.values.contains_key(&key) => found.get(&id.to_ascii_lowercase()).cloned(),
                _ => None,
            };
            if let Some(t) = target {
                row.values.insert(key.clone(), Value::Text(t));
            }
        }
    }
    Ok(())
}
