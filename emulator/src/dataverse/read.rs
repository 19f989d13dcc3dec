//! Reads: collections with `$select/$filter/$orderby/$top/$count`, paging with the XML paging cookie,
//! change tracking (initial pages, delta pages, tombstones), single rows, `$count`, WhoAmI, and the row
//! JSON writer.

use std::fmt::Write as _;

use crate::clock;
use crate::codec::{self, guid, json_str};
use crate::config::{ReadLevel, Settings};
use crate::dataverse::{Ctx, DvError, DvResponse, Query};
use crate::decimal::Decimal;
use crate::odata::{self, wants_annotation, Expr, FValue};
use crate::schema::{Kind, Role, TableDef, TableId, SYSTEMUSER};
use crate::store::{Row, Store, Value, DEC_SCALE};

const MAX_PAGE: u32 = 5000;
const FORMATTED: &str = "OData.Community.Display.V1.FormattedValue";
const NAVPROP: &str = "Microsoft.Dynamics.CRM.associatednavigationproperty";
const LOGICAL: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";

/// Fixed transaction currency id (US Dollar) written next to money columns.
pub const CURRENCY_ID: u128 = 0x3f7c_1a2b_9d0e_4f51_8a6b_2c3d_4e5f_6071;

/// Converts a stored value for filtering and sorting.
pub fn fvalue(v: Value) -> FValue<'static> {
    match v {
        Value::Null => FValue::Null,
        Value::Str(s) => FValue::Str(String::from(s).into()),
        Value::Int(i) => FValue::Num(Decimal::from_int(i)),
        // exact: `DEC_SCALE` is 10^4
        Value::Dec(d) => FValue::Num(Decimal::from_scaled(i128::from(d), 4)),
        Value::Bool(b) => FValue::Bool(b),
        Value::Date(d) => FValue::Date(d),
        Value::Time(t) => FValue::Time(t),
        Value::Ref(_, id) | Value::Guid(id) => FValue::Guid(id),
    }
}

fn resolve_col<'t>(table: &'t TableDef) -> impl Fn(&str) -> Result<usize, String> + 't {
    move |name: &str| {
        table.col_by_wire(name).ok_or_else(|| {
            format!("Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{}'.", table.logical)
        })
    }
}

/// Parses `$select` into column indexes (primary key excluded; it is always written last).
pub fn parse_select(table: &TableDef, select: Option<&str>) -> Result<Vec<usize>, DvError> {
    match select {
        None => Ok((1..table.columns.len()).collect()),
        Some(s) => {
            let mut out = Vec::new();
            for name in s.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let ci = table.col_by_wire(name).ok_or_else(|| {
                    DvError::query(format!(
                        "Could not find a property named '{name}' on type 'Microsoft.Dynamics.CRM.{}'.",
                        table.logical
                    ))
                })?;
                if ci != 0 && !out.contains(&ci) {
                    out.push(ci);
                }
            }
            Ok(out)
        }
    }
}

fn group_thousands(n: i64) -> String {
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    if n < 0 {
        format!("-{out}")
    } else {
        out
    }
}

fn fmt_dec(v: i64, digits: u32) -> String {
    let neg = v < 0;
    let a = v.unsigned_abs();
    let whole = a / DEC_SCALE as u64;
    let frac = a % DEC_SCALE as u64;
    let frac_s = format!("{frac:04}");
    let s = if digits == 0 { whole.to_string() } else { format!("{whole}.{}", &frac_s[..digits.min(4) as usize]) };
    if neg {
        format!("-{s}")
    } else {
        s
    }
}

fn formatted(store: &Store, table: &TableDef, ci: usize, v: &Value) -> Option<String> {
    let col = &table.columns[ci];
    match (&col.kind, v) {
        (Kind::Picklist(o) | Kind::State(o) | Kind::Status(o), Value::Int(i)) => {
            o.iter().find(|(k, _)| i64::from(*k) == *i).map(|(_, l)| (*l).to_owned())
        }
        (Kind::Boolean(f, t), Value::Bool(b)) => Some(if *b { (*t).to_owned() } else { (*f).to_owned() }),
        (Kind::Money, Value::Dec(d)) => {
            let whole = d / DEC_SCALE;
            let cents = (d.abs() % DEC_SCALE) / 100;
            Some(format!("${}.{cents:02}", group_thousands(whole)))
        }
        (Kind::Decimal { precision }, Value::Dec(d)) => Some(fmt_dec(*d, *precision)),
        (Kind::Integer { .. }, Value::Int(i)) => Some(group_thousands(*i)),
        (Kind::BigInt, Value::Int(i)) => Some(group_thousands(*i)),
        (Kind::DateOnly, Value::Date(d)) => Some(clock::fmt_us_date(*d)),
        (Kind::DateOnly, Value::Time(t)) => Some(clock::fmt_us_date(t.div_euclid(86_400))),
        (Kind::DateTime, Value::Time(t)) => Some(clock::fmt_us(*t)),
        (Kind::Lookup(..), Value::Ref(t, id)) => store.primary_name(*t, *id),
        _ => None,
    }
}

/// Writes a value as JSON.
pub fn write_value(out: &mut String, table: &TableDef, ci: usize, v: &Value) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Str(s) => json_str(out, s),
        Value::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Dec(d) => {
            let digits = match table.columns[ci].kind {
                Kind::Decimal { precision } => precision.max(1),
                _ => 4,
            };
            out.push_str(&fmt_dec(*d, digits));
        }
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        // UNVERIFIED: date-only values as `YYYY-MM-DD` (Edm.Date).
        Value::Date(d) => json_str(out, &clock::fmt_date(*d)),
        Value::Time(t) => json_str(out, &clock::fmt_iso(*t)),
        Value::Ref(_, id) | Value::Guid(id) => {
            out.push('"');
            codec::push_guid(out, *id);
            out.push('"');
        }
    }
}

/// One single-valued `$expand` item.
#[derive(Debug, Clone)]
pub struct ExpandSpec {
    /// Navigation property name (the JSON key of the nested object).
    pub nav: String,
    /// Lookup column.
    pub ci: usize,
    /// Columns to write per possible target table.
    pub cols: Vec<(TableId, Vec<usize>)>,
}

/// Parses `$expand` for single-valued (N:1) navigation properties.
///
/// # Errors
/// Collection-valued navigations, unknown names, and options other than `$select`/`$filter`.
pub fn parse_expands(
    schema: &crate::schema::Schema,
    table: &TableDef,
    s: Option<&str>,
) -> Result<Vec<ExpandSpec>, DvError> {
    let Some(s) = s else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for (nav, opts) in odata::parse_expand(s) {
        let Some((ci, _)) = table.nav(&nav) else {
            let collection = schema.tables.iter().any(|t| {
                t.columns.iter().any(|c| matches!(&c.kind, Kind::Lookup(_, targets) if targets.iter().any(|x| x.relationship == nav && x.table == table.id)))
            });
            return Err(DvError::query(if collection {
                format!("The emulator supports $expand only on single-valued navigation properties; '{nav}' is collection-valued.")
            } else {
                format!("Could not find a property named '{nav}' on type 'Microsoft.Dynamics.CRM.{}'.", table.logical)
            }));
        };
        let mut select = None;
        for (k, v) in &opts {
            match k.as_str() {
                "$select" => select = Some(v.as_str()),
                "$filter" => {}
                _ => {
                    return Err(DvError::query(
                        "Only $select and $filter clause can be provided while doing $expand on many-to-one relationship or nested one-to-many relationship.",
                    ))
                }
            }
        }
        let Kind::Lookup(_, targets) = &table.columns[ci].kind else { continue };
        let navs: Vec<&crate::schema::Target> = targets.iter().filter(|t| t.nav == nav).collect();
        let mut cols = Vec::new();
        if navs.len() == 1 {
            cols.push((navs[0].table, parse_select(&schema.tables[navs[0].table], select)?));
        } else {
            // ownerid: systemuser or team; each target gets the selected columns it has
            if let Some(sel) = select {
                for name in sel.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                    if !navs.iter().any(|t| schema.tables[t.table].col_by_wire(name).is_some()) {
                        return Err(DvError::query(format!(
                            "Could not find a property named '{name}' on the targets of '{nav}'."
                        )));
                    }
                }
            }
            for t in navs {
                let def = &schema.tables[t.table];
                let own: Option<String> = select.map(|sel| {
                    sel.split(',').map(str::trim).filter(|n| def.col_by_wire(n).is_some()).collect::<Vec<_>>().join(",")
                });
                cols.push((t.table, parse_select(def, own.as_deref())?));
            }
        }
        out.push(ExpandSpec { nav, ci, cols });
    }
    Ok(out)
}

/// Options for writing rows.
pub struct RowOpts<'a> {
    /// Columns to write.
    pub cols: &'a [usize],
    /// `include-annotations` preference.
    pub annotations: Option<&'a str>,
    /// Noise switch.
    pub noise: bool,
    /// Owning business unit (noise).
    pub business_unit: &'a str,
    /// Single-valued expansions.
    pub expand: &'a [ExpandSpec],
}

/// Writes one row object.
pub fn write_row(out: &mut String, store: &Store, table: &TableDef, id: u128, row: &Row, o: &RowOpts<'_>) {
    let want_fmt = wants_annotation(o.annotations, FORMATTED);
    let want_nav = wants_annotation(o.annotations, NAVPROP);
    let want_logical = wants_annotation(o.annotations, LOGICAL);
    out.push_str("{\"@odata.etag\":\"W/\\\"");
    let _ = write!(out, "{}", row.version);
    out.push_str("\\\"\"");
    let mut money = false;
    for &ci in o.cols {
        let col = &table.columns[ci];
        let v = store.value(table.id, id, row, ci);
        let wire = col.wire_name();
        if want_fmt {
            if let Some(f) = formatted(store, table, ci, &v) {
                out.push(',');
                json_str(out, &format!("{wire}@{FORMATTED}"));
                out.push(':');
                json_str(out, &f);
            }
        }
        if let (Kind::Lookup(_, targets), Value::Ref(t, _)) = (&col.kind, &v) {
            let target = &store.schema.tables[*t];
            let nav = targets.iter().find(|x| x.table == *t).map(|x| x.nav).unwrap_or(col.name);
            if want_nav {
                let _ = write!(out, ",\"{wire}@{NAVPROP}\":\"{nav}\"");
            }
            if want_logical || (o.noise && col.name == "ownerid") {
                let _ = write!(out, ",\"{wire}@{LOGICAL}\":\"{}\"", target.logical);
            }
        }
        if matches!(col.kind, Kind::Money) {
            money = true;
        }
        out.push(',');
        json_str(out, wire);
        out.push(':');
        write_value(out, table, ci, &v);
    }
    for e in o.expand {
        out.push(',');
        json_str(out, &e.nav);
        out.push(':');
        let target = match store.value(table.id, id, row, e.ci) {
            Value::Ref(t, rid) => e
                .cols
                .iter()
                .find(|(tt, _)| *tt == t)
                .and_then(|(_, cols)| store.get(t, rid).map(|r| (t, rid, r, cols))),
            _ => None,
        };
        match target {
            Some((t, rid, trow, cols)) => {
                let nested = RowOpts {
                    cols,
                    annotations: o.annotations,
                    noise: false,
                    business_unit: o.business_unit,
                    expand: &[],
                };
                write_row(out, store, &store.schema.tables[t], rid, trow, &nested);
            }
            None => out.push_str("null"),
        }
    }
    if money {
        out.push_str(",\"_transactioncurrencyid_value\":\"");
        codec::push_guid(out, CURRENCY_ID);
        out.push('"');
    }
    if o.noise && table.ownership == "UserOwned" {
        out.push_str(",\"_owningbusinessunit_value\":\"");
        out.push_str(o.business_unit);
        out.push_str("\",\"timezoneruleversionnumber\":4,\"utcconversiontimezonecode\":null");
    }
    out.push_str(",\"");
    out.push_str(table.pk());
    out.push_str("\":\"");
    codec::push_guid(out, id);
    out.push_str("\"}");
}

fn context(ctx: &Ctx<'_>, table: &TableDef, q: &Query) -> String {
    match q.get("$select") {
        Some(s) => format!("{}/$metadata#{}({})", ctx.api, table.set, s),
        None => format!("{}/$metadata#{}", ctx.api, table.set),
    }
}

fn noise_top(out: &mut String, ctx: &Ctx<'_>) {
    if ctx.noise {
        out.push_str(",\"@Microsoft.Dynamics.CRM.totalrecordcount\":-1,\"@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded\":false");
        let _ = write!(out, ",\"@Microsoft.Dynamics.CRM.globalmetadataversion\":\"{}\"", 7_340_017);
    }
}

/// Position carried in a `$skiptoken`.
#[derive(Debug, Default, Clone)]
struct Cookie {
    page: u32,
    last: Option<u128>,
    first: Option<u128>,
    tracking: bool,
    /// Snapshot version (tracking).
    max_version: Option<u64>,
    /// Delta phase: 0 changes, 1 deletes.
    phase: u8,
    /// Delta position: last version returned.
    last_version: u64,
}

fn attr(xml: &str, name: &str) -> Option<String> {
    let pat = format!("{name}=\"");
    let start = xml.find(&pat)? + pat.len();
    let end = xml[start..].find('"')? + start;
    Some(xml[start..end].to_owned())
}

fn encode_cookie(c: &Cookie, pk: &str) -> String {
    let mut inner = format!("<cookie page=\"{}\"", c.page);
    if let Some(m) = c.max_version {
        let _ = write!(inner, " maxversion=\"{m}\" phase=\"{}\" lastversion=\"{}\"", c.phase, c.last_version);
    }
    inner.push('>');
    if let (Some(l), Some(f)) = (c.last, c.first) {
        let _ = write!(
            inner,
            "<{pk} last=\"{}\" first=\"{}\" />",
            codec::guid_braced_upper(l),
            codec::guid_braced_upper(f)
        );
    }
    inner.push_str("</cookie>");
    let outer = format!(
        "<cookie pagenumber=\"{}\" pagingcookie=\"{}\" istracking=\"{}\" />",
        c.page + 1,
        codec::pct_lower(&inner),
        if c.tracking { "True" } else { "False" }
    );
    codec::pct_outer(&outer)
}

fn decode_cookie(token: &str) -> Result<Cookie, DvError> {
    let bad = || DvError::new(400, "0x80040203", "Invalid paging cookie: the $skiptoken could not be parsed.");
    let pagenumber: u32 = attr(token, "pagenumber").and_then(|p| p.parse().ok()).ok_or_else(bad)?;
    let inner = codec::pct_decode(&attr(token, "pagingcookie").ok_or_else(bad)?);
    Ok(Cookie {
        page: pagenumber.saturating_sub(1).max(1),
        last: attr(&inner, "last").and_then(|g| codec::parse_guid(&g)),
        first: attr(&inner, "first").and_then(|g| codec::parse_guid(&g)),
        tracking: attr(token, "istracking").as_deref() == Some("True"),
        max_version: attr(&inner, "maxversion").and_then(|v| v.parse().ok()),
        phase: attr(&inner, "phase").and_then(|v| v.parse().ok()).unwrap_or(0),
        last_version: attr(&inner, "lastversion").and_then(|v| v.parse().ok()).unwrap_or(0),
    })
}

/// The delta token text: `919042!08/22/2017 08:10:44`.
pub fn delta_token(version: u64) -> String {
    format!("{version}!{}", clock::fmt_delta(clock::now_unix()))
}

/// UNVERIFIED: a requested page size above 5000 is clamped silently (not rejected).
fn page_size(ctx: &Ctx<'_>) -> u32 {
    match ctx.prefer.max_page_size {
        Some(n) if n > 0 => n.min(MAX_PAGE),
        _ => MAX_PAGE,
    }
}

fn preference_applied(ctx: &Ctx<'_>, tracking: bool) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(n) = ctx.prefer.max_page_size {
        parts.push(format!("odata.maxpagesize={}", n.clamp(1, MAX_PAGE)));
    }
    if tracking {
        parts.push("odata.track-changes".to_owned());
    }
    if let Some(a) = &ctx.prefer.annotations {
        parts.push(format!("odata.include-annotations=\"{a}\""));
    }
    if parts.is_empty() {
        None
    } else {
        Some(parts.join(","))
    }
}

fn finish(ctx: &Ctx<'_>, body: String, tracking: bool) -> DvResponse {
    let mut r = DvResponse::json(200, body);
    if let Some(p) = preference_applied(ctx, tracking) {
        r = r.with("Preference-Applied", p);
    }
    r
}

/// GET on an entity set.
pub fn collection(ctx: &Ctx<'_>, t: TableId, q: &Query, settings: &Settings) -> Result<DvResponse, DvError> {
    let table = &ctx.shared.schema.tables[t];
    // UNVERIFIED: the docs say these options are unsupported; the real status is assumed to be 400.
    for bad in ["$skip", "$search", "$format", "$apply"] {
        if q.get(bad).is_some() {
            return Err(DvError::query(format!("The query parameter {bad} is not supported")));
        }
    }
    let level = ctx.read_level(table)?;
    if let Some(token) = q.get("$deltatoken") {
        return delta(ctx, table, q, token, level, settings);
    }
    let tracked_table = crate::state::read(&ctx.shared.store).tables[t].change_tracking;
    let cookie_tracking = q.get("$skiptoken").is_some_and(|tok| tok.contains("istracking=\"True\""));
    // Later pages are tracked because their cookie says so, even if the client drops the preference.
    // UNVERIFIED: for a table without change tracking the preference is ignored (no deltaLink, no
    // Preference-Applied), as drasi's troubleshooting notes suggest.
    let tracking = (ctx.prefer.track_changes || cookie_tracking) && tracked_table;
    if tracking {
        for opt in ["$filter", "$orderby", "$expand", "$top"] {
            if q.get(opt).is_some() {
                // UNVERIFIED status and code (the docs give only the message): 400 0x80060888.
                return Err(DvError::query(format!(
                    "The \"{opt}\" query parameter isn't supported when Change Tracking is enabled."
                )));
            }
        }
        if level != ReadLevel::Organization {
            return Err(crate::dataverse::privilege_error(ctx.caller, table, "Read"));
        }
    }
    let cols = parse_select(table, q.get("$select"))?;
    let expand = parse_expands(&ctx.shared.schema, table, q.get("$expand"))?;
    let filter: Option<Expr<usize>> = match q.get("$filter") {
        Some(f) => Some(odata::parse_filter(f, &resolve_col(table)).map_err(DvError::query)?),
        None => None,
    };
    let orderby = match q.get("$orderby") {
        Some(o) => odata::parse_orderby(o, &resolve_col(table)).map_err(DvError::query)?,
        None => Vec::new(),
    };
    let top: Option<u32> = match q.get("$top") {
        Some(v) => Some(v.trim().parse().map_err(|_| DvError::query(format!("Invalid $top value '{v}'")))?),
        None => None,
    };
    let paged = ctx.prefer.max_page_size.is_some();
    let size = if !paged { top.map_or(MAX_PAGE, |t| t.min(MAX_PAGE)) } else { page_size(ctx) };
    let cookie = match q.get("$skiptoken") {
        Some(tok) => Some(decode_cookie(tok)?),
        None => None,
    };
    let store = crate::state::read(&ctx.shared.store);
    let max_version = cookie.as_ref().and_then(|c| c.max_version).unwrap_or(store.version);
    let owner_ci = table.col("ownerid");
    let me = ctx.caller.systemuser_id;
    let matches = |id: u128, row: &Row| -> bool {
        if level == ReadLevel::User {
            if let Some(oc) = owner_ci {
                if store.value(t, id, row, oc) != Value::Ref(SYSTEMUSER, me) {
                    return false;
                }
            }
        }
        match &filter {
            Some(f) => odata::eval(f, &mut |ci: &usize| fvalue(store.value(t, id, row, *ci))),
            None => true,
        }
    };
    let rows = &store.tables[t].rows;
    let mut selected: Vec<(u128, &Row)> = Vec::with_capacity(size as usize + 1);
    let page_no = cookie.as_ref().map_or(1, |c| c.page + 1);
    let count = if q.get("$count") == Some("true") {
        Some(rows.iter().filter(|(id, r)| matches(**id, r)).count().min(5000))
    } else {
        None
    };
    if orderby.is_empty() {
        let start = cookie.as_ref().and_then(|c| c.last);
        let iter: Box<dyn Iterator<Item = (&u128, &Row)>> = match start {
            Some(last) => Box::new(rows.range((std::ops::Bound::Excluded(last), std::ops::Bound::Unbounded))),
            None => Box::new(rows.iter()),
        };
        for (id, row) in iter {
            if matches(*id, row) {
                selected.push((*id, row));
                if selected.len() > size as usize {
                    break;
                }
            }
        }
    } else {
        let mut all: Vec<(u128, &Row, Vec<FValue<'static>>)> = rows
            .iter()
            .filter(|(id, r)| matches(**id, r))
            .map(|(id, r)| (*id, r, orderby.iter().map(|(ci, _)| fvalue(store.value(t, *id, r, *ci))).collect()))
            .collect();
        all.sort_by(|a, b| {
            for (i, (_, desc)) in orderby.iter().enumerate() {
                let o = odata::order(&a.2[i], &b.2[i]);
                let o = if *desc { o.reverse() } else { o };
                if o != std::cmp::Ordering::Equal {
                    return o;
                }
            }
            a.0.cmp(&b.0)
        });
        let skip = (page_no as usize - 1) * size as usize;
        selected.extend(all.into_iter().skip(skip).take(size as usize + 1).map(|(id, r, _)| (id, r)));
    }
    let more = selected.len() > size as usize && (paged || top.is_none());
    selected.truncate(size as usize);

    let mut out = String::with_capacity(selected.len() * 1100 + 512);
    out.push_str("{\"@odata.context\":");
    json_str(&mut out, &context(ctx, table, q));
    noise_top(&mut out, ctx);
    if let Some(c) = count {
        let _ = write!(out, ",\"@odata.count\":{c}");
    }
    out.push_str(",\"value\":[");
    let opts = RowOpts {
        cols: &cols,
        annotations: ctx.prefer.annotations.as_deref(),
        noise: ctx.noise,
        business_unit: &ctx.shared.business_unit_guid,
        expand: &expand,
    };
    for (i, (id, row)) in selected.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_row(&mut out, &store, table, *id, row, &opts);
    }
    out.push(']');
    if more {
        let c = Cookie {
            page: page_no,
            last: selected.last().map(|x| x.0),
            first: selected.first().map(|x| x.0),
            tracking,
            max_version: if tracking { Some(max_version) } else { None },
            ..Cookie::default()
        };
        let rest = q.encode_without(&["$skiptoken"]);
        let sep = if rest.is_empty() { "" } else { "&" };
        let link = format!("{}/{}?{rest}{sep}$skiptoken={}", ctx.api, table.set, encode_cookie(&c, table.pk()));
        out.push_str(",\"@odata.nextLink\":");
        json_str(&mut out, &link);
    } else if tracking && !drops_delta_link(ctx, settings) {
        out.push_str(",\"@odata.deltaLink\":");
        json_str(&mut out, &delta_link(ctx, table, q, max_version));
    }
    out.push('}');
    Ok(finish(ctx, out, tracking))
}

/// `annotations_drop_delta_link`: reproduces the reported loss of the last page's deltaLink when the request asks
/// for annotations (powerapps-docs#439; UNVERIFIED on current Dataverse). `Preference-Applied` is unchanged.
fn drops_delta_link(ctx: &Ctx<'_>, settings: &Settings) -> bool {
    settings.annotations_drop_delta_link && odata::asks_for_annotations(ctx.prefer.annotations.as_deref())
}

fn delta_link(ctx: &Ctx<'_>, table: &TableDef, q: &Query, version: u64) -> String {
    let mut link = format!("{}/{}?", ctx.api, table.set);
    if let Some(s) = q.get("$select") {
        link.push_str("$select=");
        link.push_str(&codec::pct_query(s));
        link.push('&');
    }
    link.push_str("$deltatoken=");
    link.push_str(&codec::pct_lower(&delta_token(version)));
    link
}

fn delta(
    ctx: &Ctx<'_>,
    table: &TableDef,
    q: &Query,
    token: &str,
    level: ReadLevel,
    settings: &Settings,
) -> Result<DvResponse, DvError> {
    let store = crate::state::read(&ctx.shared.store);
    let t = table.id;
    if !store.tables[t].change_tracking {
        return Err(DvError::new(
            400,
            "0x80072491",
            format!("Entity {} isn't enabled for change tracking.", table.logical),
        ));
    }
    if level != ReadLevel::Organization {
        return Err(crate::dataverse::privilege_error(ctx.caller, table, "Read"));
    }
    // UNVERIFIED status: 400 with ExpiredVersionStamp 0x80044352, the docs' most likely answer.
    let expired = || {
        DvError::new(
            400,
            "0x80044352",
            "Version stamp associated with the client has expired. Please perform a full sync.",
        )
    };
    let (v, when) = token.split_once('!').ok_or_else(|| DvError::new(400, "0x80044183", "Invalid version stamp"))?;
    let since: u64 = v.parse().map_err(|_| DvError::new(400, "0x80044183", "Invalid version stamp"))?;
    let issued = clock::parse_delta(when).ok_or_else(|| DvError::new(400, "0x80044183", "Invalid version stamp"))?;
    if since < store.delta_min_version
        || clock::now_unix() - issued > settings.delta_token_ttl_secs as i64
        || since > store.version
    {
        return Err(expired());
    }
    let cols = parse_select(table, q.get("$select"))?;
    let expand: Vec<ExpandSpec> = Vec::new();
    let cookie = match q.get("$skiptoken") {
        Some(tok) => Some(decode_cookie(tok)?),
        None => None,
    };
    let max = cookie.as_ref().and_then(|c| c.max_version).unwrap_or(store.version);
    let (mut phase, mut after) = cookie.as_ref().map_or((0, since), |c| (c.phase, c.last_version.max(since)));
    let size = page_size(ctx) as usize;
    let td = &store.tables[t];
    let mut out = String::with_capacity(4096);
    out.push_str("{\"@odata.context\":");
    let ctx_url = match q.get("$select") {
        Some(s) => format!("{}/$metadata#{}({})/$delta", ctx.api, table.set, s),
        None => format!("{}/$metadata#{}/$delta", ctx.api, table.set),
    };
    json_str(&mut out, &ctx_url);
    noise_top(&mut out, ctx);
    out.push_str(",\"value\":[");
    let opts = RowOpts {
        cols: &cols,
        annotations: ctx.prefer.annotations.as_deref(),
        noise: ctx.noise,
        business_unit: &ctx.shared.business_unit_guid,
        expand: &expand,
    };
    let mut n = 0usize;
    let mut more = false;
    let empty_changes = std::collections::BTreeMap::new();
    let empty_tombs = std::collections::BTreeMap::new();
    if phase == 0 {
        let range = if after < max { td.changed.range(after + 1..=max) } else { empty_changes.range(..) };
        for (ver, id) in range {
            if n == size {
                more = true;
                break;
            }
            if let Some(row) = td.rows.get(id) {
                if n > 0 {
                    out.push(',');
                }
                write_row(&mut out, &store, table, *id, row, &opts);
                n += 1;
            }
            after = *ver;
        }
        if !more {
            phase = 1;
            after = since;
        }
    }
    if phase == 1 && !more {
        let tomb_ctx = format!("{}/$metadata#{}/$deletedEntity", ctx.api, table.set);
        let range = if after < max { td.tombs.range(after + 1..=max) } else { empty_tombs.range(..) };
        for (ver, tomb) in range {
            if n == size {
                more = true;
                break;
            }
            if n > 0 {
                out.push(',');
            }
            out.push_str("{\"@odata.context\":");
            json_str(&mut out, &tomb_ctx);
            let _ = write!(out, ",\"id\":\"{}\",\"reason\":\"deleted\"}}", guid(tomb.id));
            n += 1;
            after = *ver;
        }
    }
    out.push(']');
    if more {
        let page = cookie.as_ref().map_or(1, |c| c.page + 1);
        let c =
            Cookie { page, tracking: true, max_version: Some(max), phase, last_version: after, ..Cookie::default() };
        let rest = q.encode_without(&["$skiptoken"]);
        let link = format!("{}/{}?{rest}&$skiptoken={}", ctx.api, table.set, encode_cookie(&c, table.pk()));
        out.push_str(",\"@odata.nextLink\":");
        json_str(&mut out, &link);
    } else if !drops_delta_link(ctx, settings) {
        out.push_str(",\"@odata.deltaLink\":");
        json_str(&mut out, &delta_link(ctx, table, q, max));
    }
    out.push('}');
    Ok(finish(ctx, out, false))
}

/// `GET {set}/$count`.
pub fn count(ctx: &Ctx<'_>, t: TableId, q: &Query) -> Result<DvResponse, DvError> {
    let table = &ctx.shared.schema.tables[t];
    ctx.read_level(table)?;
    let filter: Option<Expr<usize>> = match q.get("$filter") {
        Some(f) => Some(odata::parse_filter(f, &resolve_col(table)).map_err(DvError::query)?),
        None => None,
    };
    let store = crate::state::read(&ctx.shared.store);
    let n = store.tables[t]
        .rows
        .iter()
        .filter(|(id, row)| {
            filter.as_ref().is_none_or(|f| odata::eval(f, &mut |ci: &usize| fvalue(store.value(t, **id, row, *ci))))
        })
        .count()
        .min(5000);
    Ok(DvResponse {
        status: 200,
        headers: vec![("Content-Type".into(), "text/plain".into())],
        body: n.to_string().into_bytes(),
        inner_parts: 0,
    })
}

/// Writes a single row with its `$entity` context.
pub fn entity_body(
    ctx: &Ctx<'_>,
    store: &Store,
    table: &TableDef,
    id: u128,
    select: Option<&str>,
    expand: Option<&str>,
) -> Result<String, DvError> {
    let Some(row) = store.get(table.id, id) else { return Err(DvError::not_found(table.logical, id)) };
    let cols = parse_select(table, select)?;
    let expand = parse_expands(&ctx.shared.schema, table, expand)?;
    let mut row_json = String::with_capacity(1500);
    let opts = RowOpts {
        cols: &cols,
        annotations: ctx.prefer.annotations.as_deref(),
        noise: ctx.noise,
        business_unit: &ctx.shared.business_unit_guid,
        expand: &expand,
    };
    write_row(&mut row_json, store, table, id, row, &opts);
    let context = match select {
        Some(s) => format!("{}/$metadata#{}({})/$entity", ctx.api, table.set, s),
        None => format!("{}/$metadata#{}/$entity", ctx.api, table.set),
    };
    let mut out = String::with_capacity(row_json.len() + 200);
    out.push_str("{\"@odata.context\":");
    json_str(&mut out, &context);
    out.push(',');
    out.push_str(&row_json[1..]);
    Ok(out)
}

/// `GET {set}({key})`.
pub fn single(ctx: &Ctx<'_>, t: TableId, key: &str, q: &Query) -> Result<DvResponse, DvError> {
    let table = &ctx.shared.schema.tables[t];
    let level = ctx.read_level(table)?;
    let id = crate::dataverse::resolve_key(ctx, table, key)?;
    let store = crate::state::read(&ctx.shared.store);
    let Some(id) = id else {
        return Err(DvError::new(
            404,
            "0x80040217",
            format!("A record with the specified key values does not exist in {} entity", table.logical),
        ));
    };
    let Some(row) = store.get(t, id) else { return Err(DvError::not_found(table.logical, id)) };
    if level == ReadLevel::User {
        if let Some(oc) = table.col("ownerid") {
            if store.value(t, id, row, oc) != Value::Ref(SYSTEMUSER, ctx.caller.systemuser_id) {
                return Err(crate::dataverse::privilege_error(ctx.caller, table, "Read"));
            }
        }
    }
    let etag = format!("W/\"{}\"", row.version);
    if ctx.prefer.annotations.is_none() && ctx.header("if-none-match") == Some(etag.as_str()) {
        return Ok(DvResponse::empty(304).with("ETag", etag));
    }
    let body = entity_body(ctx, &store, table, id, q.get("$select"), q.get("$expand"))?;
    Ok(finish(ctx, body, false).with("ETag", etag))
}

/// `GET WhoAmI`.
pub fn whoami(ctx: &Ctx<'_>) -> DvResponse {
    let body = serde_json::json!({
        "@odata.context": format!("{}/$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse", ctx.api),
        "BusinessUnitId": guid(ctx.shared.business_unit_id),
        "UserId": guid(ctx.caller.systemuser_id),
        "OrganizationId": guid(ctx.shared.org_id),
    });
    DvResponse::json(200, body.to_string())
}

/// Role-aware check used by writes: a row's owner.
pub fn owner_of(store: &Store, table: &TableDef, id: u128, row: &Row) -> Option<Value> {
    table
        .columns
        .iter()
        .position(|c| c.name == "ownerid" && c.role == Role::Data)
        .map(|ci| store.value(table.id, id, row, ci))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookie_round_trip() {
        let c = Cookie { page: 1, last: Some(5), first: Some(1), tracking: false, ..Cookie::default() };
        let enc = encode_cookie(&c, "accountid");
        assert!(enc.starts_with("%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%253caccountid%2520last%253d%2522%257b"));
        assert!(enc.ends_with("istracking=%22False%22%20/%3E"));
        let once = codec::pct_decode(&enc);
        let d = decode_cookie(&once).unwrap();
        assert_eq!(d.last, Some(5));
        assert_eq!(d.page, 1);
    }

    #[test]
    fn decimals() {
        assert_eq!(fmt_dec(123_4500, 2), "123.45");
        assert_eq!(fmt_dec(-5, 4), "-0.0005");
        assert_eq!(group_thousands(1_234_567), "1,234,567");
    }
}
