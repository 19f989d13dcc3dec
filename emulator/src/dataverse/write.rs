//! Writes: POST (create), PATCH (upsert with If-Match / If-None-Match), DELETE, `@odata.bind` lookups,
//! value validation and privilege checks.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::Value as J;

use crate::clock;
use crate::codec::{self, guid};
use crate::dataverse::read;
use crate::dataverse::{privilege_error, Ctx, DvError, DvResponse, Query};
use crate::decimal::Decimal;
use crate::schema::{Kind, Role, TableDef, TableId, SYSTEMUSER};
use crate::store::{Store, Value};

/// Content-ID → (table, id) within a changeset.
pub type ContentIds = HashMap<String, (TableId, u128)>;

fn conv_err(v: &J, edm: &str) -> DvError {
    DvError::query(format!("Cannot convert the literal '{v}' to the expected type '{edm}'."))
}

fn validation(table: &TableDef, col: &str, max: u32) -> DvError {
    DvError::new(
        400,
        "0x80044331",
        format!(
            "A validation error occurred. The length of the '{col}' attribute of the '{}' entity exceeded the maximum allowed length of '{max}'.",
            table.logical
        ),
    )
}

/// Parses `/accounts(<guid>)`, `accounts(<guid>)`, an absolute URL, or `$n`.
fn parse_bind(ctx: &Ctx<'_>, s: &str, ids: &ContentIds) -> Result<(TableId, u128), DvError> {
    if let Some(r) = ids.get(s.trim_start_matches('$')).filter(|_| s.starts_with('$')) {
        return Ok(*r);
    }
    if s.starts_with('$') {
        return Err(DvError::query(format!("Content-ID Reference: '{s}' does not exist in the batch context.")));
    }
    let mut path = s;
    if let Some(i) = path.find("/api/data/") {
        path = &path[i + "/api/data/".len()..];
        path = path.split_once('/').map_or(path, |(_, rest)| rest);
    }
    let path = path.trim_start_matches('/');
    let bad = || DvError::query(format!("The URI '{s}' in the @odata.bind annotation is not valid."));
    let open = path.find('(').ok_or_else(bad)?;
    let set = &path[..open];
    let key = path[open + 1..].strip_suffix(')').ok_or_else(bad)?;
    let table = ctx.shared.schema.by_set(set).ok_or_else(bad)?;
    let id = codec::parse_guid(key.split_once('=').map_or(key, |(_, v)| v)).ok_or_else(bad)?;
    Ok((table.id, id))
}

/// Decimal places of [`Value::Dec`] (`store::DEC_SCALE` is 10^4, SQL Server's `money`).
const DEC_DIGITS: u32 = 4;

fn out_of_range(table: &TableDef, col: &str) -> DvError {
    DvError::new(
        400,
        "0x80044331",
        format!(
            "A validation error occurred. The value of '{col}' on record of type '{}' is outside the valid range.",
            table.logical
        ),
    )
}

/// `raw` is the value's JSON text, for money and decimals (read exactly, never through `f64`).
fn to_value(store: &Store, table: &TableDef, ci: usize, v: &J, raw: Option<&str>) -> Result<Value, DvError> {
    let col = &table.columns[ci];
    if v.is_null() {
        return Ok(Value::Null);
    }
    Ok(match &col.kind {
        Kind::String { .. } | Kind::Memo { .. } => {
            let s = v.as_str().ok_or_else(|| conv_err(v, "Edm.String"))?;
            if let Some(max) = store.max_len(table.id, ci) {
                if s.chars().count() > max as usize {
                    return Err(validation(table, col.name, max));
                }
            }
            Value::Str(s.into())
        }
        Kind::Integer { min, max } => {
            let i = v.as_i64().ok_or_else(|| conv_err(v, "Edm.Int32"))?;
            if i < *min || i > *max {
                return Err(out_of_range(table, col.name));
            }
            Value::Int(i)
        }
        Kind::BigInt => Value::Int(v.as_i64().ok_or_else(|| conv_err(v, "Edm.Int64"))?),
        Kind::Money | Kind::Decimal { .. } => {
            // Exact: the digits as sent. Money keeps 4 decimal places (SQL Server's `money`), a decimal
            // column its precision; more digits are rounded half away from zero (UNVERIFIED: whether
            // Dataverse rounds or refuses them). Only what `money` cannot hold (about ±9.2E14) is out of
            // range; Dataverse's narrower limits (MinValue/MaxValue in the metadata) are not enforced.
            let exact = raw.filter(|_| v.is_number()).and_then(|t| Decimal::parse(t.trim()));
            let d = exact.ok_or_else(|| conv_err(v, "Edm.Decimal"))?;
            let keep = match col.kind {
                Kind::Decimal { precision } => precision.min(DEC_DIGITS),
                _ => DEC_DIGITS,
            };
            let scaled = d.to_scaled(DEC_DIGITS, keep).and_then(|x| i64::try_from(x).ok());
            Value::Dec(scaled.ok_or_else(|| out_of_range(table, col.name))?)
        }
        Kind::DateOnly => {
            let s = v.as_str().ok_or_else(|| conv_err(v, "Edm.Date"))?;
            let d = clock::parse_date(s)
                .or_else(|| clock::parse_iso(s).map(|t| t.div_euclid(86_400)))
                .ok_or_else(|| conv_err(v, "Edm.Date"))?;
            Value::Date(d)
        }
        Kind::DateTime => {
            let s = v.as_str().ok_or_else(|| conv_err(v, "Edm.DateTimeOffset"))?;
            Value::Time(
                clock::parse_iso(s)
                    .or_else(|| clock::parse_date(s).map(|d| d * 86_400))
                    .ok_or_else(|| conv_err(v, "Edm.DateTimeOffset"))?,
            )
        }
        Kind::Picklist(opts) | Kind::State(opts) | Kind::Status(opts) => {
            let i = v.as_i64().ok_or_else(|| conv_err(v, "Edm.Int32"))?;
            if !opts.iter().any(|(k, _)| i64::from(*k) == i) {
                let accepted: Vec<String> = opts.iter().map(|(k, _)| k.to_string()).collect();
                return Err(DvError::new(
                    400,
                    "0x8004431a",
                    format!(
                        "A validation error occurred. The value {i} of '{}' on record of type '{}' is outside the valid range. Accepted Values: {}",
                        col.name,
                        table.logical,
                        accepted.join(",")
                    ),
                ));
            }
            Value::Int(i)
        }
        Kind::Boolean(..) => Value::Bool(v.as_bool().ok_or_else(|| conv_err(v, "Edm.Boolean"))?),
        Kind::PrimaryKey | Kind::Guid => {
            Value::Guid(v.as_str().and_then(codec::parse_guid).ok_or_else(|| conv_err(v, "Edm.Guid"))?)
        }
        Kind::Lookup(..) => {
            return Err(DvError::query(format!("Lookup '{}' must be set with '{}@odata.bind'.", col.name, col.name)))
        }
    })
}

/// Applies a JSON body to `values`. Returns the primary key given in the body, if any.
fn apply_body(
    ctx: &Ctx<'_>,
    store: &Store,
    table: &TableDef,
    values: &mut [Value],
    body: &[u8],
    creating: bool,
    ids: &ContentIds,
) -> Result<Option<u128>, DvError> {
    let parsed: J =
        serde_json::from_slice(body).map_err(|e| DvError::new(400, "0x80040216", format!("Invalid JSON. {e}")))?;
    let obj =
        parsed.as_object().ok_or_else(|| DvError::new(400, "0x80040216", "The request body must be a JSON object."))?;
    // the same members as written, for numbers that must not go through f64 (money, decimals)
    let raw: HashMap<String, &RawValue> = serde_json::from_slice(body).unwrap_or_default();
    let mut pk = None;
    for (k, v) in obj {
        if let Some(nav) = k.strip_suffix("@odata.bind") {
            let (ci, _) = table.nav(nav).ok_or_else(|| {
                DvError::query(format!("An undeclared property '{nav}' which only has property annotations in the payload but no property value was found in the payload."))
            })?;
            if v.is_null() {
                values[ci] = Value::Null;
                continue;
            }
            let s = v.as_str().ok_or_else(|| conv_err(v, "Edm.String"))?;
            let (target, id) = parse_bind(ctx, s, ids)?;
            let Kind::Lookup(_, targets) = &table.columns[ci].kind else { continue };
            // polymorphic navs carry the target in their name; owner accepts systemusers or teams
            let ok = targets.iter().any(|t| t.table == target && t.nav == nav);
            if !ok {
                return Err(DvError::query(format!(
                    "The navigation property '{nav}' cannot reference entity set '{}'.",
                    ctx.shared.schema.tables[target].set
                )));
            }
            if store.get(target, id).is_none() {
                // 404 0x80040217 "Entity 'account' With Id = <id> Does Not Exist", naming the *target*:
                // the same code as for a missing record being updated, so a client must look at the
                // message (or its own request) to tell them apart. UNVERIFIED for binds: the shape is
                // the live one of a request naming a missing record ([3P]: "Entity 'role' With Id = ...
                // Does Not Exist" for a missing role); reports of lookups by alternate key show "A record
                // with the specified key values does not exist in <entity> entity" instead
                // (AleksandrRogov/DynamicsWebApi#179).
                return Err(DvError::not_found(ctx.shared.schema.tables[target].logical, id));
            }
            values[ci] = Value::Ref(target, id);
            continue;
        }
        if k.contains('@') {
            continue; // instance annotations such as @odata.type
        }
        let Some(ci) = table.col(k) else {
            if let Some(ci) = table.col_by_wire(k).filter(|c| table.columns[*c].is_lookup()) {
                let _ = ci;
                return Err(DvError::query(format!(
                    "The property '{k}' is read-only; set the lookup with '<navigation>@odata.bind'."
                )));
            }
            return Err(DvError::query(format!(
                "The property '{k}' does not exist on type 'Microsoft.Dynamics.CRM.{}'. Make sure to only use property names that are defined by the type.",
                table.logical
            )));
        };
        let col = &table.columns[ci];
        if col.role == Role::Pk {
            let id = v.as_str().and_then(codec::parse_guid).ok_or_else(|| conv_err(v, "Edm.Guid"))?;
            pk = Some(id);
            continue;
        }
        if col.is_lookup() {
            if v.is_null() {
                values[ci] = Value::Null;
                continue;
            }
            return Err(DvError::query(format!("Lookup '{}' must be set with '<navigation>@odata.bind'.", col.name)));
        }
        let writable = if creating { col.create } else { col.update };
        if !writable || col.role != Role::Data {
            // UNVERIFIED: Dataverse ignores some read-only attributes silently; the emulator ignores them all.
            continue;
        }
        values[ci] = to_value(store, table, ci, v, raw.get(k).map(|r| r.get()))?;
    }
    Ok(pk)
}

fn entity_url(ctx: &Ctx<'_>, table: &TableDef, id: u128) -> String {
    format!("{}/{}({})", ctx.api, table.set, guid(id))
}

pub fn created_response(
    ctx: &Ctx<'_>,
    store: &Store,
    table: &TableDef,
    id: u128,
    q: &Query,
    status_repr: u16,
) -> Result<DvResponse, DvError> {
    let version = store.get(table.id, id).map_or(0, |r| r.version);
    if ctx.prefer.return_representation {
        let body = read::entity_body(ctx, store, table, id, q.get("$select"), None)?;
        Ok(DvResponse::json(status_repr, body)
            .with("ETag", format!("W/\"{version}\""))
            .with("Preference-Applied", "return=representation"))
    } else {
        Ok(DvResponse::empty(204).with("OData-EntityId", entity_url(ctx, table, id)))
    }
}

fn defaults(ctx: &Ctx<'_>, table: &TableDef) -> Vec<Value> {
    table
        .columns
        .iter()
        .map(|c| match (&c.kind, c.name) {
            (_, "ownerid" | "createdby" | "modifiedby") => Value::Ref(SYSTEMUSER, ctx.caller.systemuser_id),
            (Kind::State(o) | Kind::Status(o), _) => Value::Int(i64::from(o[0].0)),
            _ => Value::Null,
        })
        .collect()
}

fn privileges(ctx: &Ctx<'_>, table: &TableDef) -> crate::config::PrivilegeConfig {
    crate::state::read(&ctx.shared.directory).privileges(ctx.caller.user, table.set)
}

fn insert(ctx: &Ctx<'_>, store: &mut Store, table: &TableDef, id: u128, mut values: Vec<Value>) -> u64 {
    if let Some(ci) = table.col("modifiedby") {
        values[ci] = Value::Ref(SYSTEMUSER, ctx.caller.systemuser_id);
    }
    let now = clock::now_unix();
    let created = store.get(table.id, id).map_or(now, |r| r.created);
    store.put(table.id, id, values, created, now)
}

/// `POST {set}`.
pub fn create(
    ctx: &Ctx<'_>,
    store: &mut Store,
    t: TableId,
    q: &Query,
    body: &[u8],
    ids: &ContentIds,
) -> Result<DvResponse, DvError> {
    let id = create_row(ctx, store, t, body, ids)?;
    created_response(ctx, store, &ctx.shared.schema.tables[t], id, q, 201)
}

/// Creates a row; returns its id (used by `$batch` for Content-ID).
pub fn create_row(
    ctx: &Ctx<'_>,
    store: &mut Store,
    t: TableId,
    body: &[u8],
    ids: &ContentIds,
) -> Result<u128, DvError> {
    let table = &ctx.shared.schema.tables[t];
    if !privileges(ctx, table).create {
        return Err(privilege_error(ctx.caller, table, "Create"));
    }
    let mut values = defaults(ctx, table);
    let pk = apply_body(ctx, store, table, &mut values, body, true, ids)?;
    let id = pk.unwrap_or_else(codec::random_guid);
    if store.get(t, id).is_some() {
        // 412 DuplicateRecord. [3P] A live create that hit the primary key (microsoft/coe-starter-kit#3624,
        // #1334) answered `{"code":"0x80040237","message":"A record with matching key values already exists."}`
        // with ApiExceptionHttpStatusCode 412; the catalogue's text ("Operation failed due to a SQL
        // integrity violation.") is not what the Web API sends.
        return Err(duplicate());
    }
    insert(ctx, store, table, id, values);
    Ok(id)
}

/// 412 DuplicateRecord: a create (POST, or PATCH with `If-None-Match: *`) whose primary id exists.
fn duplicate() -> DvError {
    DvError::new(412, "0x80040237", "A record with matching key values already exists.")
}

fn etag_matches(header: &str, version: u64) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|e| e == "*" || e == format!("W/\"{version}\"") || e == format!("\"{version}\""))
}

/// `PATCH {set}({key})`: update or insert.
pub fn upsert(
    ctx: &Ctx<'_>,
    store: &mut Store,
    t: TableId,
    id: Option<u128>,
    q: &Query,
    body: &[u8],
    ids: &ContentIds,
) -> Result<DvResponse, DvError> {
    let table = &ctx.shared.schema.tables[t];
    let (status, id) = upsert_row(ctx, store, t, id, body, ids)?;
    created_response(ctx, store, table, id, q, status)
}

/// Upserts; returns (200 updated | 201 created, id).
pub fn upsert_row(
    ctx: &Ctx<'_>,
    store: &mut Store,
    t: TableId,
    id: Option<u128>,
    body: &[u8],
    ids: &ContentIds,
) -> Result<(u16, u128), DvError> {
    let table = &ctx.shared.schema.tables[t];
    let if_match = ctx.header("if-match");
    let if_none_match = ctx.header("if-none-match").filter(|v| *v != "null");
    let existing = id.and_then(|id| store.get(t, id).map(|r| (id, r.clone())));
    match (&existing, if_match, if_none_match) {
        (None, Some(_), _) => return Err(DvError::not_found(table.logical, id.unwrap_or(0))),
        (Some((_, row)), Some(m), _) if !etag_matches(m, row.version) => {
            return Err(DvError::new(
                412,
                "0x80060882",
                "The version of the existing record doesn't match the RowVersion property provided.",
            ));
        }
        (Some(_), _, Some("*")) => {
            // The message is the docs' (perform-conditional-operations-using-web-api.md), whose example
            // shows `"code": ""`; the code is UNVERIFIED: 0x80040237 (DuplicateRecord), as the create this
            // upsert would do hits the same duplicate key (an older docs version's innererror says
            // "Cannot insert duplicate key.").
            return Err(duplicate());
        }
        _ => {}
    }
    match existing {
        Some((id, row)) => {
            if !privileges(ctx, table).write {
                return Err(privilege_error(ctx.caller, table, "Write"));
            }
            let mut values = store.materialize(t, id, &row);
            let pk = apply_body(ctx, store, table, &mut values, body, false, ids)?;
            if pk.is_some_and(|p| p != id) {
                return Err(DvError::query("The primary key in the body does not match the key in the URL."));
            }
            insert(ctx, store, table, id, values);
            Ok((200, id))
        }
        None => {
            if !privileges(ctx, table).create {
                return Err(privilege_error(ctx.caller, table, "Create"));
            }
            let mut values = defaults(ctx, table);
            let pk = apply_body(ctx, store, table, &mut values, body, true, ids)?;
            let id = id.or(pk).unwrap_or_else(codec::random_guid);
            insert(ctx, store, table, id, values);
            Ok((201, id))
        }
    }
}

/// `DELETE {set}({key})`.
pub fn delete(ctx: &Ctx<'_>, store: &mut Store, t: TableId, id: Option<u128>) -> Result<DvResponse, DvError> {
    let table = &ctx.shared.schema.tables[t];
    let Some(id) = id else {
        return Err(DvError::new(
            404,
            "0x80040217",
            format!("A record with the specified key values does not exist in {} entity", table.logical),
        ));
    };
    let Some(row) = store.get(t, id) else { return Err(DvError::not_found(table.logical, id)) };
    if let Some(m) = ctx.header("if-match") {
        if !etag_matches(m, row.version) {
            return Err(DvError::new(
                412,
                "0x80060882",
                "The version of the existing record doesn't match the RowVersion property provided.",
            ));
        }
    }
    if !privileges(ctx, table).delete {
        return Err(privilege_error(ctx.caller, table, "Delete"));
    }
    store.delete(t, id);
    Ok(DvResponse::empty(204))
}
