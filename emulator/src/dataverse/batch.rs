//! `$batch`: multipart/mixed parsing, atomic changesets with Content-ID references, stop at the first
//! error (400 for the whole batch) by default, or `Prefer: odata.continue-on-error` (200, every part
//! answered).

use axum::http::{HeaderMap, HeaderName, HeaderValue, Method};

use crate::codec;
use crate::dataverse::write::{self, ContentIds};
use crate::dataverse::{dispatch, Ctx, DvError, DvRequest, DvResponse, Query};
use crate::odata::Prefer;

const MAX_PARTS: usize = 1000;

#[derive(Debug)]
struct Op {
    method: Method,
    url: String,
    headers: HeaderMap,
    body: Vec<u8>,
    content_id: Option<String>,
}

#[derive(Debug)]
enum Item {
    Single(Op),
    Changeset(Vec<Op>),
}

fn boundary(content_type: &str) -> Option<String> {
    content_type.split(';').find_map(|p| p.trim().strip_prefix("boundary=").map(|b| b.trim_matches('"').to_owned()))
}

/// Splits a multipart body into (headers, body) parts.
fn split_parts(body: &str, boundary: &str) -> Vec<(Vec<(String, String)>, String)> {
    let delim = format!("--{boundary}");
    let mut out = Vec::new();
    for chunk in body.split(&delim).skip(1) {
        if chunk.starts_with("--") {
            break;
        }
        let chunk = chunk.strip_prefix("\r\n").or_else(|| chunk.strip_prefix('\n')).unwrap_or(chunk);
        let (head, rest) = split_head(chunk);
        out.push((parse_headers(head), rest.to_owned()));
    }
    out
}

fn split_head(s: &str) -> (&str, &str) {
    if let Some(i) = s.find("\r\n\r\n") {
        (&s[..i], &s[i + 4..])
    } else if let Some(i) = s.find("\n\n") {
        (&s[..i], &s[i + 2..])
    } else {
        (s, "")
    }
}

fn parse_headers(head: &str) -> Vec<(String, String)> {
    head.lines()
        .filter_map(|l| l.split_once(':').map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned())))
        .collect()
}

fn header<'a>(h: &'a [(String, String)], name: &str) -> Option<&'a str> {
    h.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn parse_op(part_headers: &[(String, String)], text: &str) -> Result<Op, DvError> {
    let text = text.strip_prefix("\r\n").unwrap_or(text);
    let (head, body) = split_head(text);
    let mut lines = head.lines();
    let request_line = lines.next().unwrap_or("");
    // METHOD URL HTTP/1.1 (lenient: a URL with unencoded spaces is kept whole)
    let line = request_line.trim();
    let line = line.strip_suffix("HTTP/1.1").or_else(|| line.strip_suffix("HTTP/1.0")).unwrap_or(line).trim_end();
    let (Some(method), Some(url)) =
        (line.split_whitespace().next(), line.split_once(char::is_whitespace).map(|(_, u)| u.trim()))
    else {
        return Err(DvError::new(400, "0x80048d19", format!("Invalid request line in batch part: '{request_line}'")));
    };
    let url = url.replace(' ', "%20");
    let url = url.as_str();
    let method = Method::from_bytes(method.as_bytes())
        .map_err(|_| DvError::new(400, "0x80048d19", "Invalid method in batch part"))?;
    let mut headers = HeaderMap::new();
    for (k, v) in parse_headers(&lines.collect::<Vec<_>>().join("\n")) {
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(&v)) {
            headers.append(n, v);
        }
    }
    let body = body.trim_end_matches(['\r', '\n']).as_bytes().to_vec();
    Ok(Op {
        method,
        url: url.to_owned(),
        headers,
        body,
        content_id: header(part_headers, "content-id").map(str::to_owned),
    })
}

fn parse_items(content_type: &str, body: &str) -> Result<Vec<Item>, DvError> {
    let b = boundary(content_type).ok_or_else(|| {
        DvError::new(400, "0x80048d19", "The batch request must have a multipart/mixed Content-Type with a boundary.")
    })?;
    let mut items = Vec::new();
    for (h, text) in split_parts(body, &b) {
        let ct = header(&h, "content-type").unwrap_or("");
        if ct.starts_with("multipart/mixed") {
            let cb = boundary(ct).ok_or_else(|| DvError::new(400, "0x80048d19", "Changeset without boundary"))?;
            let mut ops = Vec::new();
            for (ph, ptext) in split_parts(&text, &cb) {
                ops.push(parse_op(&ph, &ptext)?);
            }
            items.push(Item::Changeset(ops));
        } else {
            items.push(Item::Single(parse_op(&h, &text)?));
        }
    }
    Ok(items)
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        304 => "Not Modified",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        412 => "Precondition Failed",
        429 => "Too Many Requests",
        501 => "Not Implemented",
        _ => "Error",
    }
}

fn render(out: &mut String, r: &DvResponse, content_id: Option<&str>) {
    out.push_str("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = content_id {
        out.push_str(&format!("Content-ID: {id}\r\n"));
    }
    out.push_str(&format!("\r\nHTTP/1.1 {} {}\r\n", r.status, reason(r.status)));
    let mut has_ct = false;
    for (k, v) in &r.headers {
        if k.eq_ignore_ascii_case("content-type") {
            has_ct = true;
        }
        out.push_str(&format!("{k}: {v}\r\n"));
        if k == "OData-EntityId" {
            out.push_str(&format!("Location: {v}\r\n"));
        }
    }
    let _ = has_ct;
    out.push_str("OData-Version: 4.0\r\n\r\n");
    if !r.body.is_empty() {
        out.push_str(&String::from_utf8_lossy(&r.body));
        out.push_str("\r\n");
    }
}

/// Splits an inner URL into (version, path, query) relative to `/api/data/vX/`.
fn relative(url: &str, default_version: &str) -> (String, String, String) {
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    if let Some(i) = path.find("/api/data/") {
        let rest = &path[i + "/api/data/".len()..];
        let (v, p) = rest.split_once('/').unwrap_or((rest, ""));
        return (v.to_owned(), p.to_owned(), query.to_owned());
    }
    (default_version.to_owned(), path.trim_start_matches('/').to_owned(), query.to_owned())
}

fn changeset_op(
    ctx: &Ctx<'_>,
    store: &mut crate::store::Store,
    op: &Op,
    ids: &ContentIds,
) -> Result<(DvResponse, Option<(usize, u128)>), DvError> {
    let (_, path, query) = relative(&op.url, "v9.2");
    let q = Query::parse(&query);
    let inner = Ctx {
        shared: ctx.shared,
        caller: ctx.caller,
        api: ctx.api.clone(),
        prefer: Prefer::parse(op.headers.get_all("prefer").iter().filter_map(|v| v.to_str().ok())),
        noise: ctx.noise,
        headers: &op.headers,
    };
    let path = codec::pct_decode(&path);
    let (table, key): (usize, Option<Option<u128>>) = if let Some(r) = path.strip_prefix('$') {
        let (t, id) = *ids.get(r).ok_or_else(|| {
            DvError::query(format!("Content-ID Reference: '{path}' does not exist in the batch context."))
        })?;
        (t, Some(Some(id)))
    } else {
        let (set, key) = match path.find('(') {
            Some(i) => (&path[..i], Some(path[i + 1..].trim_end_matches(')'))),
            None => (path.as_str(), None),
        };
        let t =
            ctx.shared.schema.by_set(set).ok_or_else(|| {
                DvError::new(404, "0x80060888", format!("Resource not found for the segment '{set}'."))
            })?;
        let key = match key {
            // alternate keys need a store read, which would deadlock under the changeset's write lock
            Some(k) => Some(Some(codec::parse_guid(k.split_once('=').map_or(k, |(_, v)| v)).ok_or_else(|| {
                DvError::query("Only primary keys are supported inside changesets by the emulator.")
            })?)),
            None => None,
        };
        (t.id, key)
    };
    let def = &ctx.shared.schema.tables[table];
    match (&op.method, key) {
        (m, None) if m == Method::POST => {
            let id = write::create_row(&inner, store, table, &op.body, ids)?;
            Ok((write::created_response(&inner, store, def, id, &q, 201)?, Some((table, id))))
        }
        (m, Some(id)) if m == Method::PATCH => {
            let (status, id) = write::upsert_row(&inner, store, table, id, &op.body, ids)?;
            Ok((write::created_response(&inner, store, def, id, &q, status)?, Some((table, id))))
        }
        (m, Some(id)) if m == Method::DELETE => Ok((write::delete(&inner, store, table, id)?, None)),
        (m, _) if m == Method::GET => Err(DvError::query("GET requests are not allowed inside a changeset.")),
        (m, _) => Err(DvError::new(
            405,
            "0x80060888",
            format!("The HTTP method '{m}' is not allowed for this resource in a changeset."),
        )),
    }
}

/// Handles `POST $batch`.
pub fn handle(ctx: &Ctx<'_>, req: &DvRequest) -> DvResponse {
    let ct = ctx.header("content-type").unwrap_or("");
    let body = String::from_utf8_lossy(&req.body);
    let items = match parse_items(ct, &body) {
        Ok(i) => i,
        Err(e) => return e.response(),
    };
    let total: usize = items.iter().map(|i| if let Item::Changeset(ops) = i { ops.len() } else { 1 }).sum();
    let inner_parts = u32::try_from(total).unwrap_or(u32::MAX);
    if total > MAX_PARTS {
        let mut r = DvError::new(
            400,
            "0x80048d19",
            format!("The number of requests in the batch ({total}) exceeds the limit of {MAX_PARTS}."),
        )
        .response();
        r.inner_parts = inner_parts;
        return r;
    }
    let continue_on_error = ctx.prefer.continue_on_error;
    // OData's multipart writer (ODataLib, which Dataverse's Web API is built on) writes Content-ID only
    // inside changesets; the switch lets tests get the other shape too (README, "Fidelity notes").
    let echo_outside = crate::state::read(&ctx.shared.settings).echo_content_id_outside_changesets;
    // fault `lost_ack_after_parts`: the connection is lost after this many operations
    let limit = req.part_limit.map(|n| n as usize);
    let mut started = 0usize;
    let batch_b = format!("batchresponse_{}", codec::guid(codec::random_guid()));
    let mut out = String::new();
    let mut failed: Option<String> = None;
    for item in &items {
        let size = if let Item::Changeset(ops) = item { ops.len() } else { 1 };
        if limit.is_some_and(|n| started + size > n) {
            // Nothing from here on runs; a changeset the limit cuts through never commits.
            break;
        }
        started += size;
        match item {
            Item::Single(op) => {
                let (version, path, query) = relative(&op.url, &req.version);
                let inner = DvRequest {
                    method: op.method.clone(),
                    version,
                    path,
                    query,
                    headers: op.headers.clone(),
                    body: op.body.clone(),
                    part_limit: None,
                };
                let r = dispatch(ctx.shared, ctx.caller, &inner);
                let mut part = format!("--{batch_b}\r\n");
                render(&mut part, &r, op.content_id.as_deref().filter(|_| echo_outside));
                if r.status >= 400 && !continue_on_error {
                    failed = Some(part);
                    break;
                }
                out.push_str(&part);
            }
            Item::Changeset(ops) => {
                let cs_b = format!("changesetresponse_{}", codec::guid(codec::random_guid()));
                let mut store = crate::state::write(&ctx.shared.store);
                store.begin();
                let mut ids = ContentIds::new();
                let mut parts = String::new();
                let mut error: Option<(DvResponse, Option<String>)> = None;
                for op in ops {
                    match changeset_op(ctx, &mut store, op, &ids) {
                        Ok((r, created)) => {
                            if let (Some(cid), Some(target)) = (&op.content_id, created) {
                                ids.insert(cid.clone(), target);
                            }
                            parts.push_str(&format!("--{cs_b}\r\n"));
                            render(&mut parts, &r, op.content_id.as_deref());
                        }
                        Err(e) => {
                            error = Some((e.response(), op.content_id.clone()));
                            break;
                        }
                    }
                }
                match error {
                    Some((r, cid)) => {
                        store.rollback();
                        drop(store);
                        // UNVERIFIED framing: a failed changeset is answered by one application/http part.
                        let mut part = format!("--{batch_b}\r\n");
                        render(&mut part, &r, cid.as_deref());
                        if !continue_on_error {
                            failed = Some(part);
                            break;
                        }
                        out.push_str(&part);
                    }
                    None => {
                        store.commit();
                        drop(store);
                        out.push_str(&format!("--{batch_b}\r\nContent-Type: multipart/mixed; boundary={cs_b}\r\n\r\n{parts}--{cs_b}--\r\n"));
                    }
                }
            }
        }
    }
    let (status, body) = match failed {
        Some(part) => (400, format!("{part}--{batch_b}--\r\n")),
        None => (200, format!("{out}--{batch_b}--\r\n")),
    };
    let mut r = DvResponse {
        status,
        headers: vec![("Content-Type".into(), format!("multipart/mixed; boundary={batch_b}"))],
        body: body.into_bytes(),
        inner_parts,
    };
    if continue_on_error {
        r = r.with("Preference-Applied", "odata.continue-on-error");
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_changesets() {
        let body = "--batch_1\r\nContent-Type: multipart/mixed; boundary=changeset_2\r\n\r\n--changeset_2\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\nContent-ID: 1\r\n\r\nPOST /api/data/v9.2/tasks HTTP/1.1\r\nContent-Type: application/json\r\n\r\n{\"subject\":\"a\"}\r\n--changeset_2--\r\n\r\n--batch_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\nGET /api/data/v9.2/accounts?$top=1 HTTP/1.1\r\nAccept: application/json\r\n\r\n--batch_1--\r\n";
        let items = parse_items("multipart/mixed; boundary=\"batch_1\"", body).unwrap();
        assert_eq!(items.len(), 2);
        let Item::Changeset(ops) = &items[0] else { panic!() };
        assert_eq!(ops[0].content_id.as_deref(), Some("1"));
        assert_eq!(ops[0].body, b"{\"subject\":\"a\"}");
        let Item::Single(op) = &items[1] else { panic!() };
        assert_eq!(op.method, Method::GET);
        assert_eq!(relative(&op.url, "v9.2").2, "$top=1");
    }
}
