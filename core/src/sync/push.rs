//! Push the outbox: `$batch` requests with `Prefer: odata.continue-on-error`, each part an
//! independent conditional write with `Prefer: return=representation`, so one refused entry
//! never stalls the others and every success hands back the server's copy (etag included).
//!
//! Rounds: each round sends, per record, its oldest entry that is not parked. A record whose
//! lookup points at a record created locally waits until that create has landed (a later
//! round); if the create is parked, the dependant is held and reported as blocked.
//! Outcomes that are unknown (a crash after sending) are settled by the conditional headers:
//! a replayed create or update that meets 412 is compared with the server's copy; a replayed
//! delete that meets 404 is done.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use super::{blocking, failpoint, Ctx, SyncEvent};
use crate::dataverse::batch::{self, BatchItem, BatchRequest, PartResponse, ResponseItem};
use crate::dataverse::metadata::TableMetadata;
use crate::dataverse::page::{self, Shape, LOOKUP_LOGICAL_NAME};
use crate::dataverse::{Request, ServerError};
use crate::error::{Error, Result};
use crate::store::{
    value_json, ConflictKind, OutboxEntry, OutboxOp, OutboxState, PushError, RefusalReason, ServerRow, Value, Values,
};
use crate::sync::profile::{ConflictPolicy, TableProfile};

/// Counts of a push phase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushSummary {
    /// Entries the server applied.
    pub pushed: u64,
    /// Conflicts kept for the user.
    pub conflicts: u64,
    /// Conflicts settled by the table's policy.
    pub auto_resolved: u64,
    /// Entries parked with a server error.
    pub parked: u64,
    /// Entries held because a record they refer to is parked.
    pub blocked: u64,
    /// `$batch` requests sent.
    pub batches: u64,
}

/// Per-table facts the push needs.
pub(crate) struct TableInfo {
    pub profile: TableProfile,
    pub meta: TableMetadata,
    pub select: Vec<String>,
}

const MAX_ROUNDS: u32 = 16;

fn etag_header(etag: Option<&str>) -> String {
    match etag {
        Some(e) if e.starts_with("W/") || e.starts_with('"') => e.to_string(),
        Some(e) => format!("W/\"{e}\""),
        None => "*".to_string(),
    }
}

/// The JSON body of a create or update: writable columns, lookups as `@odata.bind`.
fn body_for(entry: &OutboxEntry, info: &TableInfo) -> Result<String> {
    let meta = &info.meta;
    let mut parts: Vec<String> = Vec::new();
    for (k, v) in &entry.changes {
        if k.contains('@') || *k == meta.primary_id {
            continue;
        }
        let Some(col) = meta.columns.get(k) else {
            tracing::warn!(target: "outpost::sync", column = %k, "not a column of the table; not pushed");
            continue;
        };
        let writable = if entry.op == OutboxOp::Create { col.valid_for_create } else { col.valid_for_update };
        if !writable {
            continue;
        }
        if col.is_lookup() {
            let target = match entry.changes.get(&format!("{k}{LOOKUP_LOGICAL_NAME}")) {
                Some(Value::Text(t)) => Some(t.clone()),
                _ => col.targets.first().filter(|_| col.targets.len() == 1).cloned(),
            };
            match v {
                Value::Null => {
                    let nav = target.as_ref().and_then(|t| col.navigation.get(t)).or(col.navigation.values().next());
                    if let Some(nav) = nav {
                        parts.push(format!("{}:null", serde_json::Value::String(format!("{nav}@odata.bind"))));
                    }
                }
                Value::Text(id) => {
                    let target = target.ok_or_else(|| {
                        Error::invalid(format!("lookup {k} needs its target table (set {k}{LOOKUP_LOGICAL_NAME})"))
                    })?;
                    let nav = col
                        .navigation
                        .get(&target)
                        .ok_or_else(|| Error::invalid(format!("lookup {k} cannot point at {target}")))?;
                    let set = meta
                        .target_sets
                        .get(&target)
                        .ok_or_else(|| Error::invalid(format!("no entity set known for {target}")))?;
                    parts.push(format!(
                        "{}:{}",
                        serde_json::Value::String(format!("{nav}@odata.bind")),
                        serde_json::Value::String(format!("/{set}({id})"))
                    ));
                }
                _ => return Err(Error::invalid(format!("lookup {k} must be an id or null"))),
            }
            continue;
        }
        parts.push(format!("{}:{}", serde_json::Value::String(k.clone()), value_json(v)));
    }
    Ok(format!("{{{}}}", parts.join(",")))
}

fn request_for(ctx: &Ctx, entry: &OutboxEntry, info: &TableInfo, content_id: u32) -> Result<BatchRequest> {
    let base = format!("{}{}({})", ctx.client.api_root(), entry.entity_set, entry.record_id);
    let select = format!("?$select={}", crate::dataverse::encode_query(&info.select.join(",")));
    let prefer = ("Prefer".to_string(), "return=representation".to_string());
    Ok(match entry.op {
        OutboxOp::Create => BatchRequest {
            method: "PATCH".into(),
            url: format!("{base}{select}"),
            headers: vec![prefer, ("If-None-Match".into(), "*".into())],
            body: Some(body_for(entry, info)?.into_bytes()),
            content_id: Some(content_id),
        },
        OutboxOp::Update => BatchRequest {
            method: "PATCH".into(),
            url: format!("{base}{select}"),
            headers: vec![prefer, ("If-Match".into(), etag_header(entry.base_etag.as_deref()))],
            body: Some(body_for(entry, info)?.into_bytes()),
            content_id: Some(content_id),
        },
        OutboxOp::Delete => BatchRequest {
            method: "DELETE".into(),
            url: base,
            headers: entry
                .base_etag
                .as_deref()
                .map(|e| ("If-Match".to_string(), etag_header(Some(e))))
                .into_iter()
                .collect(),
            body: None,
            content_id: Some(content_id),
        },
    })
}

/// Lookup references of an entry by column: (property, (entity set, id)).
fn lookup_refs(entry: &OutboxEntry, info: &TableInfo) -> Vec<(String, (String, String))> {
    let mut out = Vec::new();
    for (k, v) in &entry.changes {
        let (Some(col), Value::Text(id)) = (info.meta.columns.get(k), v) else { continue };
        if !col.is_lookup() {
            continue;
        }
        let target = match entry.changes.get(&format!("{k}{LOOKUP_LOGICAL_NAME}")) {
            Some(Value::Text(t)) => Some(t.clone()),
            _ => col.targets.first().cloned(),
        };
        if let Some(set) = target.and_then(|t| info.meta.target_sets.get(&t).cloned()) {
            out.push((k.clone(), (set, id.to_ascii_lowercase())));
        }
    }
    out
}

/// Parse a returned representation; lookup targets the response does not annotate are taken
/// from what we sent, or from metadata for single-target lookups.
fn representation(body: &[u8], etag_header: Option<&str>, info: &TableInfo, sent: &Values) -> Option<ServerRow> {
    if body.is_empty() {
        return None;
    }
    let keep: HashSet<String> = info.select.iter().cloned().collect();
    let wrapped = [b"{\"value\":[".as_slice(), body, b"]}".as_slice()].concat();
    let mut row = page::parse(&wrapped, &Shape { primary_id: &info.meta.primary_id, keep: &keep }).ok()?.rows.pop()?;
    if row.etag.is_none() {
        row.etag = etag_header.map(str::to_string);
    }
    for p in &info.select {
        let Some(col) = info.meta.columns.get(p).filter(|c| c.is_lookup()) else { continue };
        let key = format!("{p}{LOOKUP_LOGICAL_NAME}");
        if row.values.contains_key(&key) || !matches!(row.values.get(p), Some(Value::Text(_))) {
            continue;
        }
        let target = match (sent.get(p), sent.get(&key)) {
            (Some(v), Some(Value::Text(t))) if Some(v) == row.values.get(p) => Some(t.clone()),
            _ => col.targets.first().filter(|_| col.targets.len() == 1).cloned(),
        };
        if let Some(t) = target {
            row.values.insert(key, Value::Text(t));
        }
    }
    Some(row)
}

/// Whether two values are the same for conflict detection (numbers compared by value).
pub(crate) fn same_value(a: Option<&Value>, b: Option<&Value>) -> bool {
    let norm = |v: Option<&Value>| -> Option<String> {
        match v {
            None | Some(Value::Null) => None,
            Some(Value::Int(i)) => Some(i.to_string()),
            Some(Value::Decimal(d)) => {
                let d = d.trim();
                if d.contains(['e', 'E']) {
                    return Some(d.to_string());
                }
                let (neg, d) = d.strip_prefix('-').map_or((false, d), |r| (true, r));
                let d = if d.contains('.') { d.trim_end_matches('0').trim_end_matches('.') } else { d };
                let d = d.trim_start_matches('0');
                let d = if d.is_empty() || d.starts_with('.') { format!("0{d}") } else { d.to_string() };
                Some(if neg && d != "0" { format!("-{d}") } else { d })
            }
            Some(Value::Bool(b)) => Some(if *b { "1" } else { "0" }.to_string()),
            Some(Value::Text(t)) => Some(format!("t:{}", t)),
        }
    };
    match (a, b) {
        (Some(Value::Text(x)), Some(Value::Text(y))) => x == y || (x.len() == 36 && x.eq_ignore_ascii_case(y)),
        _ => norm(a) == norm(b),
    }
}

/// GET the server's current copy of a record (`None`: it is gone).
async fn fetch_current(ctx: &Ctx, entry: &OutboxEntry, info: &TableInfo) -> Result<Option<ServerRow>> {
    let url = format!(
        "{}{}({})?$select={}",
        ctx.client.api_root(),
        entry.entity_set,
        entry.record_id,
        crate::dataverse::encode_query(&info.select.join(","))
    );
    let resp = ctx.client.execute_json(&Request::get(url)).await?;
    if resp.status.as_u16() == 404 {
        return Ok(None);
    }
    if !resp.status.is_success() {
        return Err(ServerError::from_response(resp.status, &resp.body).to_error());
    }
    let etag = resp.header("etag").map(str::to_string);
    representation(&resp.body, etag.as_deref(), info, &entry.changes)
        .map(Some)
        .ok_or_else(|| Error::Network { reason: "malformed record response".into() })
}

enum Outcome {
    Done,
    Later,
}

/// Settle one part's answer that is neither a plain success nor a delete meeting 404 (those
/// are settled together by [`run`]).
async fn settle(
    ctx: &Ctx,
    entry: &OutboxEntry,
    info: &TableInfo,
    part: &PartResponse,
    sum: &mut PushSummary,
) -> Result<Outcome> {
    let status = part.status;
    let seq = entry.seq;
    let policy = info.profile.conflict_policy;
    let err = ServerError::from_response(
        http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_REQUEST),
        &part.body,
    );
    match status {
        404 => {
            // Not necessarily "deleted on the server": Dataverse answers a lookup that points at a
            // missing record with the same 404 (0x80040217). Read the record to tell.
            let current = fetch_current(ctx, entry, info).await?;
            match (entry.op, current) {
                (OutboxOp::Update, None) => server_deleted(ctx, entry, policy, sum).await?,
                (OutboxOp::Delete, _) => {
                    blocking(&ctx.store, move |s| s.push_succeeded(seq, None)).await?;
                    sum.pushed += 1;
                }
                _ => refuse_missing_target(ctx, entry, info, status, err, sum).await?,
            }
            Ok(Outcome::Done)
        }
        // UNVERIFIED whether a missing bind target can also come as a 400 with the same code
        // (ADR 0008): handle it the same way.
        400 if err.code.eq_ignore_ascii_case(OBJECT_DOES_NOT_EXIST) && entry.op != OutboxOp::Delete => {
            refuse_missing_target(ctx, entry, info, status, err, sum).await?;
            Ok(Outcome::Done)
        }
        412 => {
            let current = fetch_current(ctx, entry, info).await?;
            on_precondition_failed(ctx, entry, info, current, sum).await?;
            Ok(Outcome::Done)
        }
        408 | 429 | 500..=599 => Ok(Outcome::Later),
        _ => {
            tracing::info!(target: "outpost::sync", table = %entry.entity_set, status, code = %err.code, "push refused: parked");
            let pe = PushError { status, code: err.code, message: err.message, reason: RefusalReason::Server };
            blocking(&ctx.store, move |s| s.park(seq, &pe)).await?;
            sum.parked += 1;
            Ok(Outcome::Done)
        }
    }
}

/// Dataverse's `ObjectDoesNotExist`.
const OBJECT_DOES_NOT_EXIST: &str = "0x80040217";

/// The record exists (or is being created) but the server says an object does not exist: a
/// lookup points at a missing record. Park the entry with the column named.
async fn refuse_missing_target(
    ctx: &Ctx,
    entry: &OutboxEntry,
    info: &TableInfo,
    status: u16,
    err: ServerError,
    sum: &mut PushSummary,
) -> Result<()> {
    let column = missing_target_column(ctx, entry, info, &err.message).await;
    let reason = match column {
        Some(column) => RefusalReason::MissingLookupTarget { column },
        None => RefusalReason::Server,
    };
    tracing::info!(target: "outpost::sync", table = %entry.entity_set, status, "push refused: a lookup target does not exist");
    let pe = PushError { status, code: err.code, message: err.message, reason };
    let seq = entry.seq;
    blocking(&ctx.store, move |s| s.park(seq, &pe)).await?;
    sum.parked += 1;
    Ok(())
}

/// Which lookup of the entry points at a missing record: the one whose id the server's message
/// names, else the only lookup set, else the first whose target the server does not have.
async fn missing_target_column(ctx: &Ctx, entry: &OutboxEntry, info: &TableInfo, message: &str) -> Option<String> {
    let refs = lookup_refs(entry, info);
    let message = message.to_ascii_lowercase();
    if let Some((col, _)) = refs.iter().find(|(_, (_, id))| message.contains(id.as_str())) {
        return Some(col.clone());
    }
    if refs.len() == 1 {
        return refs.first().map(|(c, _)| c.clone());
    }
    for (col, (set, id)) in &refs {
        let url = format!("{}{set}({id})", ctx.client.api_root());
        if let Ok(resp) = ctx.client.execute_json(&Request::get(url)).await {
            if resp.status.as_u16() == 404 {
                return Some(col.clone());
            }
        }
    }
    None
}

/// Updated locally, deleted on the server.
async fn server_deleted(ctx: &Ctx, entry: &OutboxEntry, policy: ConflictPolicy, sum: &mut PushSummary) -> Result<()> {
    let seq = entry.seq;
    match policy {
        ConflictPolicy::ServerWins => {
            blocking(&ctx.store, move |s| s.take_server(seq, None)).await?;
            sum.auto_resolved += 1;
        }
        ConflictPolicy::ClientWins => {
            let (set, id) = (entry.entity_set.clone(), entry.record_id.clone());
            let view = blocking(&ctx.store, move |s| s.get(&set, &id)).await?.map(|r| r.values).unwrap_or_default();
            blocking(&ctx.store, move |s| s.recreate(seq, &view)).await?;
            sum.auto_resolved += 1;
        }
        ConflictPolicy::MergeFields | ConflictPolicy::Manual => {
            let cols: Vec<String> = entry.changes.keys().filter(|k| !k.contains('@')).cloned().collect();
            let (local, base) = (entry.changes.clone(), entry.base_values.clone());
            blocking(&ctx.store, move |s| {
                s.record_conflict(seq, ConflictKind::ServerDeleted, &cols, &local, &base, None)
            })
            .await?;
            sum.conflicts += 1;
        }
    }
    Ok(())
}

/// 412: the server's copy changed since the edit (or our own earlier attempt landed).
async fn on_precondition_failed(
    ctx: &Ctx,
    entry: &OutboxEntry,
    info: &TableInfo,
    current: Option<ServerRow>,
    sum: &mut PushSummary,
) -> Result<()> {
    let seq = entry.seq;
    let policy = info.profile.conflict_policy;
    let Some(server) = current else {
        return match entry.op {
            OutboxOp::Update => server_deleted(ctx, entry, policy, sum).await,
            _ => {
                blocking(&ctx.store, move |s| s.take_server(seq, None)).await?;
                sum.pushed += 1;
                Ok(())
            }
        };
    };
    match entry.op {
        OutboxOp::Create if entry.attempts > 1 => {
            // Sent before and the id exists: our create landed and its answer was lost (the id
            // is ours). Anything the server changed since is newer than the create; edits made
            // locally since wait in entries of their own and go out as updates.
            blocking(&ctx.store, move |s| s.push_succeeded(seq, Some(&server))).await?;
            sum.pushed += 1;
        }
        OutboxOp::Create => {
            // First attempt, yet the id exists: not our create. Send what differs as an update.
            let mut changes = Values::new();
            let mut base = Values::new();
            for (k, v) in &entry.changes {
                if k.contains('@') || *k == info.meta.primary_id || same_value(server.values.get(k), Some(v)) {
                    continue;
                }
                changes.insert(k.clone(), v.clone());
                let key = format!("{k}{LOOKUP_LOGICAL_NAME}");
                if let Some(t) = entry.changes.get(&key) {
                    changes.insert(key, t.clone());
                }
                base.insert(k.clone(), server.values.get(k).cloned().unwrap_or(Value::Null));
            }
            blocking(&ctx.store, move |s| s.create_as_update(seq, &changes, &base, &server)).await?;
        }
        OutboxOp::Delete => match policy {
            ConflictPolicy::ServerWins => {
                blocking(&ctx.store, move |s| s.take_server(seq, Some(&server))).await?;
                sum.auto_resolved += 1;
            }
            ConflictPolicy::ClientWins => {
                let etag = server.etag.clone();
                blocking(&ctx.store, move |s| s.rebase_delete(seq, etag.as_deref())).await?;
                sum.auto_resolved += 1;
            }
            ConflictPolicy::MergeFields | ConflictPolicy::Manual => {
                blocking(&ctx.store, move |s| {
                    s.record_conflict(
                        seq,
                        ConflictKind::LocalDeleted,
                        &[],
                        &Values::new(),
                        &Values::new(),
                        Some(&server),
                    )
                })
                .await?;
                sum.conflicts += 1;
            }
        },
        OutboxOp::Update => {
            let columns: Vec<&String> = entry.changes.keys().filter(|k| !k.contains('@')).collect();
            let mut conflicting = Vec::new();
            let mut remaining = Values::new();
            let mut rebased_base = Values::new();
            for c in &columns {
                let local = entry.changes.get(*c);
                let theirs = server.values.get(*c);
                if same_value(theirs, local) {
                    continue; // both sides agree: not a conflict, nothing to send
                }
                let base = entry.base_values.get(*c);
                if !same_value(theirs, base) {
                    conflicting.push((*c).clone());
                }
                remaining.insert((*c).clone(), local.cloned().unwrap_or(Value::Null));
                let key = format!("{c}{LOOKUP_LOGICAL_NAME}");
                if let Some(t) = entry.changes.get(&key) {
                    remaining.insert(key, t.clone());
                }
                rebased_base.insert((*c).clone(), theirs.cloned().unwrap_or(Value::Null));
            }
            if remaining.is_empty() {
                // Every pushed column already holds our value: done (e.g. a replay after the
                // server's acknowledgement was lost).
                blocking(&ctx.store, move |s| s.push_succeeded(seq, Some(&server))).await?;
                sum.pushed += 1;
                return Ok(());
            }
            if conflicting.is_empty() || policy == ConflictPolicy::ClientWins {
                if !conflicting.is_empty() {
                    sum.auto_resolved += 1;
                }
                blocking(&ctx.store, move |s| s.rebase(seq, &remaining, &rebased_base, &server)).await?;
                return Ok(());
            }
            match policy {
                ConflictPolicy::ServerWins => {
                    blocking(&ctx.store, move |s| s.take_server(seq, Some(&server))).await?;
                    sum.auto_resolved += 1;
                }
                ConflictPolicy::Manual => {
                    let base = entry.base_values.clone();
                    blocking(&ctx.store, move |s| {
                        s.record_conflict(seq, ConflictKind::Update, &conflicting, &remaining, &base, Some(&server))
                    })
                    .await?;
                    sum.conflicts += 1;
                }
                _ => {
                    // MergeFields: the columns only we changed go out again on the server's
                    // new etag; the columns both changed become one conflict.
                    let mut local = Values::new();
                    let mut base = Values::new();
                    for c in &conflicting {
                        local.insert(c.clone(), remaining.remove(c).unwrap_or(Value::Null));
                        rebased_base.remove(c);
                        base.insert(c.clone(), entry.base_values.get(c).cloned().unwrap_or(Value::Null));
                        let key = format!("{c}{LOOKUP_LOGICAL_NAME}");
                        if let Some(t) = remaining.remove(&key) {
                            local.insert(key, t);
                        }
                    }
                    blocking(&ctx.store, move |s| {
                        s.record_conflict_keeping(seq, &conflicting, &local, &base, &server, &remaining, &rebased_base)
                    })
                    .await?;
                    sum.conflicts += 1;
                }
            }
        }
    }
    Ok(())
}

/// Records created offline whose create has not been settled, and whether it is parked.
type Unlanded = HashMap<(String, String), OutboxState>;

fn unlanded(all: &[OutboxEntry]) -> Unlanded {
    all.iter()
        .filter(|e| e.op == OutboxOp::Create)
        .map(|e| ((e.entity_set.clone(), e.record_id.clone()), e.state))
        .collect()
}

/// The records an entry must wait for: offline creates it refers to that have not landed (not
/// counting the record itself).
fn waits_for<'a>(
    entry: &OutboxEntry,
    info: &TableInfo,
    creates: &'a Unlanded,
) -> Vec<((String, String), &'a OutboxState)> {
    lookup_refs(entry, info)
        .into_iter()
        .filter(|(_, r)| !(r.0 == entry.entity_set && r.1 == entry.record_id))
        .filter_map(|(_, r)| creates.get(&r).map(|st| (r, st)))
        .collect()
}

/// Run the push phase.
pub(crate) async fn run(ctx: &Ctx, tables: &HashMap<String, Arc<TableInfo>>) -> Result<PushSummary> {
    let mut sum = PushSummary::default();
    for _round in 0..MAX_ROUNDS {
        if ctx.past_deadline() {
            break;
        }
        let all = blocking(&ctx.store, |s| s.outbox()).await?;
        let candidates = blocking(&ctx.store, |s| s.push_candidates()).await?;
        let creates = unlanded(&all);
        let mut ready: Vec<i64> = Vec::new();
        let mut waiting: Vec<(OutboxEntry, Arc<TableInfo>)> = Vec::new();
        for e in candidates {
            let Some(info) = tables.get(&e.entity_set) else { continue };
            let waits = waits_for(&e, info, &creates);
            if waits.iter().any(|(_, s)| **s == OutboxState::Parked) {
                continue; // blocked: reported with its reason after the push
            }
            if waits.is_empty() {
                ready.push(e.seq);
            } else {
                waiting.push((e, info.clone())); // the parent goes first; this one in a later round
            }
        }
        if ready.is_empty() {
            // Offline creates that refer to each other wait for each other for ever: create one
            // without the lookups to the others, and set them in an update once they exist.
            if break_cycle(ctx, &waiting, &creates).await? {
                continue;
            }
            break;
        }
        // Claim what this round sends, as it is now; from here on a local edit of these records
        // goes into a new entry.
        let claimed = blocking(&ctx.store, move |s| s.claim(&ready)).await?;
        let all = blocking(&ctx.store, |s| s.outbox()).await?;
        let creates = unlanded(&all);
        let mut send: Vec<(OutboxEntry, Arc<TableInfo>)> = Vec::with_capacity(claimed.len());
        for e in claimed {
            let Some(info) = tables.get(&e.entity_set).cloned() else { continue };
            // An edit made since the snapshot may have added a lookup to an offline create.
            if !waits_for(&e, &info, &creates).is_empty() {
                let seq = e.seq;
                blocking(&ctx.store, move |s| s.release(seq)).await?;
                continue;
            }
            send.push((e, info));
        }
        if send.is_empty() {
            continue;
        }
        let total = send.len();
        let mut later = 0usize;
        let chunks: Vec<Vec<(OutboxEntry, Arc<TableInfo>)>> =
            send.chunks(ctx.push_batch_size.max(1)).map(<[_]>::to_vec).collect();
        // Batches go out up to the concurrency limit at once; each is settled as it returns.
        let mut pending = spawn_batches(ctx, chunks);
        while let Some(result) = pending.join_next().await {
            let (entries, answer) = result.map_err(|e| Error::internal(format!("push task failed: {e}")))?;
            sum.batches += 1;
            let answer = match answer {
                Ok(a) => a,
                Err(e) => {
                    // The entries stay in flight: the outcome is unknown (the request may have
                    // been applied); the next attempt finds out.
                    pending.abort_all();
                    return Err(e);
                }
            };
            failpoint("push.after_ack");
            sum.parked += answer.parked_locally;
            let flat: Vec<PartResponse> = answer
                .items
                .into_iter()
                .flat_map(|item| match item {
                    ResponseItem::Single(p) => vec![p],
                    ResponseItem::ChangeSet(ps) => ps,
                })
                .collect();
            let echoed = flat.iter().all(|p| p.content_id.is_some());
            // Plain successes are settled together, in order, in one transaction; anything else
            // first settles the successes before it, then goes its own way.
            let mut done: Vec<(i64, Option<ServerRow>)> = Vec::new();
            for (entry, info) in entries.iter().filter(|(e, _)| answer.seqs.contains(&e.seq)) {
                let cid = entry_cid(entry);
                // Content-ID when every part echoes it; otherwise parts answer in request order.
                let part = if echoed {
                    flat.iter()
                        .find(|p| p.content_id.as_deref().and_then(|c| c.trim().parse::<i64>().ok()) == Some(cid))
                } else if flat.len() == answer.seqs.len() {
                    answer.seqs.iter().position(|s| *s == entry.seq).and_then(|i| flat.get(i))
                } else {
                    None
                };
                match part {
                    Some(p) if (200..300).contains(&p.status) => {
                        done.push((entry.seq, representation(&p.body, p.header("etag"), info, &entry.changes)));
                        sum.pushed += 1;
                    }
                    Some(p) if p.status == 404 && entry.op == OutboxOp::Delete => {
                        // Already gone (or our replayed delete had landed).
                        done.push((entry.seq, None));
                        sum.pushed += 1;
                    }
                    Some(p) => {
                        settle_all(ctx, &mut done).await?;
                        if let Outcome::Later = settle(ctx, entry, info, p, &mut sum).await? {
                            later += 1;
                        }
                    }
                    None => {
                        // No answer for this part: it stays in flight, outcome unknown.
                        settle_all(ctx, &mut done).await?;
                        later += 1;
                    }
                }
            }
            settle_all(ctx, &mut done).await?;
            ctx.emit(&SyncEvent::Pushed { done: sum.pushed, pending: (total - later) as u64 });
        }
        if later == total && total > 0 {
            // Nothing moved this round (server errors, throttling): try again next sync.
            return Err(Error::Network { reason: "the server did not accept the queued changes; will retry".into() });
        }
        if later > 0 {
            ctx.client.pause(crate::dataverse::backoff(ctx.client.retry_policy(), 2)).await?;
        }
    }
    Ok(sum)
}

/// Break one cycle among waiting offline creates: the oldest pending create that waits only
/// for other waiting creates loses the lookups to them (a following update sets them).
async fn break_cycle(ctx: &Ctx, waiting: &[(OutboxEntry, Arc<TableInfo>)], creates: &Unlanded) -> Result<bool> {
    let waiting_records: HashSet<(String, String)> =
        waiting.iter().map(|(e, _)| (e.entity_set.clone(), e.record_id.clone())).collect();
    for (e, info) in waiting.iter().filter(|(e, _)| e.op == OutboxOp::Create && e.state == OutboxState::Pending) {
        let cyclic: Vec<String> = lookup_refs(e, info)
            .into_iter()
            .filter(|(_, r)| creates.contains_key(r) && waiting_records.contains(r))
            .map(|(c, _)| c)
            .collect();
        if cyclic.is_empty() {
            continue;
        }
        let seq = e.seq;
        tracing::info!(target: "outpost::sync", table = %e.entity_set, "offline creates refer to each other: creating one first without the lookups");
        if blocking(&ctx.store, move |s| s.split_lookups(seq, &cyclic)).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Why an entry the push left in the outbox was not sent, as an app can show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UnsentReason {
    /// A refused (parked) change of the same record comes first: fix and retry it, or discard it.
    BehindRefused {
        /// The parked entry.
        seq: i64,
    },
    /// It refers to a record created offline whose create the server refused (parked).
    WaitsForRefused {
        /// Entity set of that record.
        entity_set: String,
        /// Its id.
        record_id: String,
    },
    /// It refers to a record created offline that is not on the server yet.
    WaitsForCreate {
        /// Entity set of that record.
        entity_set: String,
        /// Its id.
        record_id: String,
    },
    /// Its table is not in the sync profile any more (the table stays until its changes are
    /// sent or discarded).
    TableNotInProfile,
    /// Not sent by this sync (made while it ran, or the push stopped: see `push_error` and the
    /// deadline): it goes out with the next sync.
    NotSent,
}

/// An outbox entry a sync left unsent, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsent {
    /// Outbox sequence number.
    pub seq: i64,
    /// Entity set.
    pub entity_set: String,
    /// Record id.
    pub record_id: String,
    /// Why.
    pub reason: UnsentReason,
}

/// Every outbox entry that is not parked, with the reason it is still there.
pub(crate) async fn unsent(ctx: &Ctx, tables: &HashMap<String, Arc<TableInfo>>) -> Result<Vec<Unsent>> {
    let all = blocking(&ctx.store, |s| s.outbox()).await?;
    let creates = unlanded(&all);
    let mut first_parked: HashMap<(String, String), i64> = HashMap::new();
    let mut out = Vec::new();
    for e in &all {
        let key = (e.entity_set.clone(), e.record_id.clone());
        if e.state == OutboxState::Parked {
            first_parked.entry(key).or_insert(e.seq);
            continue;
        }
        let reason = if let Some(p) = first_parked.get(&key) {
            UnsentReason::BehindRefused { seq: *p }
        } else if let Some(info) = tables.get(&e.entity_set) {
            let waits = waits_for(e, info, &creates);
            match waits.iter().find(|(_, s)| **s == OutboxState::Parked).or(waits.first()) {
                Some(((set, id), OutboxState::Parked)) => {
                    UnsentReason::WaitsForRefused { entity_set: set.clone(), record_id: id.clone() }
                }
                Some(((set, id), _)) => UnsentReason::WaitsForCreate { entity_set: set.clone(), record_id: id.clone() },
                None => UnsentReason::NotSent,
            }
        } else {
            UnsentReason::TableNotInProfile
        };
        out.push(Unsent { seq: e.seq, entity_set: e.entity_set.clone(), record_id: e.record_id.clone(), reason });
    }
    Ok(out)
}

/// Settle the accepted entries collected so far, in one transaction.
async fn settle_all(ctx: &Ctx, done: &mut Vec<(i64, Option<ServerRow>)>) -> Result<()> {
    if done.is_empty() {
        return Ok(());
    }
    let batch = std::mem::take(done);
    blocking(&ctx.store, move |s| s.push_succeeded_many(&batch)).await
}

/// Content-ID of an entry inside its batch: its outbox seq (unique, stable across replays).
fn entry_cid(entry: &OutboxEntry) -> i64 {
    entry.seq
}

type BatchAnswer = (Vec<(OutboxEntry, Arc<TableInfo>)>, Result<Sent>);

fn spawn_batches(ctx: &Ctx, chunks: Vec<Vec<(OutboxEntry, Arc<TableInfo>)>>) -> tokio::task::JoinSet<BatchAnswer> {
    let mut set = tokio::task::JoinSet::new();
    let limit = Arc::new(tokio::sync::Semaphore::new(ctx.concurrency.max(1)));
    for chunk in chunks {
        let ctx = ctx.clone();
        let limit = limit.clone();
        set.spawn(async move {
            let _permit = limit.acquire_owned().await;
            let answer = send_batch(&ctx, &chunk).await;
            (chunk, answer)
        });
    }
    set
}

/// What one `$batch` sent and got back.
struct Sent {
    /// Outbox seqs of the parts, in request order (positions matter when the server does not
    /// echo Content-ID outside changesets).
    seqs: Vec<i64>,
    /// Entries parked locally because no request could be built for them.
    parked_locally: u64,
    items: Vec<ResponseItem>,
}

async fn send_batch(ctx: &Ctx, chunk: &[(OutboxEntry, Arc<TableInfo>)]) -> Result<Sent> {
    let mut items = Vec::with_capacity(chunk.len());
    let mut seqs = Vec::with_capacity(chunk.len());
    let mut parked_locally = 0u64;
    for (entry, info) in chunk {
        let cid = u32::try_from(entry_cid(entry)).unwrap_or(u32::MAX);
        match request_for(ctx, entry, info, cid) {
            Ok(r) => {
                items.push(BatchItem::Single(r));
                seqs.push(entry.seq);
            }
            Err(e) => {
                let seq = entry.seq;
                let pe = PushError {
                    status: 0,
                    code: "invalid_local_change".into(),
                    message: e.to_string(),
                    reason: RefusalReason::InvalidLocalChange,
                };
                blocking(&ctx.store, move |s| s.park(seq, &pe)).await?;
                parked_locally += 1;
            }
        }
    }
    if items.is_empty() {
        return Ok(Sent { seqs, parked_locally, items: Vec::new() });
    }
    let mut id = [0u8; 8];
    crate::vault::fill_random(&mut id)?;
    let (content_type, body) = batch::encode(&items, &hex::encode(id));
    let req = Request {
        method: http::Method::POST,
        url: format!("{}$batch", ctx.client.api_root()),
        headers: vec![("Prefer", "odata.continue-on-error".into())],
        body: Some((content_type, body)),
    };
    let resp = ctx
        .client
        .execute(&req, |r| {
            let ct = r.header("content-type").unwrap_or_default();
            !r.status.is_success() || batch::decode(ct, &r.body).is_ok()
        })
        .await?;
    let ct = resp.header("content-type").unwrap_or_default().to_string();
    if !resp.status.is_success() && batch::boundary_of(&ct).is_none() {
        return Err(ServerError::from_response(resp.status, &resp.body).to_error());
    }
    let items =
        batch::decode(&ct, &resp.body).map_err(|_| Error::Network { reason: "malformed batch response".into() })?;
    Ok(Sent { seqs, parked_locally, items })
}
