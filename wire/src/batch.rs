//! OData `$batch` (multipart/mixed) request encoding and response decoding for the Dataverse Web API.
//!
//! Pure code (the sync engine's push sends and reads the bodies); `tests/batch.rs` holds its
//! property tests, `fuzz/` its fuzz target.

use std::fmt;

/// One request inside a batch.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BatchRequest {
    /// HTTP method, e.g. "GET", "POST", "PATCH", "DELETE".
    pub method: String,
    /// URL exactly as written on the request line (absolute, server-relative or `$n`).
    pub url: String,
    /// Extra headers (e.g. If-Match, Prefer); Content-Type/Content-Length are owned by the encoder and skipped here.
    pub headers: Vec<(String, String)>,
    /// JSON body bytes, if any.
    pub body: Option<Vec<u8>>,
    /// Content-ID; the encoder assigns an unused number (1..) to changeset members that have none.
    pub content_id: Option<u32>,
}

/// A top-level batch entry: a standalone request or an atomic change set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchItem {
    /// A request outside any change set.
    Single(BatchRequest),
    /// An atomic change set of modifying requests (the push sends independent parts, ADR 0005;
    /// change sets stay for dependency groups).
    ChangeSet(Vec<BatchRequest>),
}

/// One decoded HTTP response from a batch part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartResponse {
    /// HTTP status code.
    pub status: u16,
    /// Inner HTTP headers; names lower-cased, values trimmed.
    pub headers: Vec<(String, String)>,
    /// Exact body bytes.
    pub body: Vec<u8>,
    /// Content-ID from the MIME part headers, if any.
    pub content_id: Option<String>,
}

impl PartResponse {
    /// Case-insensitive lookup of the first inner HTTP header with this name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find(&self.headers, name)
    }
}

/// A top-level batch response entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResponseItem {
    /// A plain `application/http` part.
    Single(PartResponse),
    /// A nested change set response.
    ChangeSet(Vec<PartResponse>),
}

/// Errors from decoding a batch response; messages never include body content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// The outer Content-Type has no boundary parameter.
    NoBoundary,
    /// The multipart structure or an inner HTTP response is malformed.
    Malformed(&'static str),
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::NoBoundary => f.write_str("batch response Content-Type has no multipart boundary"),
            BatchError::Malformed(what) => write!(f, "malformed batch response: {what}"),
        }
    }
}

impl std::error::Error for BatchError {}

/// Removes CR/LF so caller-supplied text cannot break the framing.
fn clean(s: &str) -> String {
    s.chars().filter(|c| *c != '\r' && *c != '\n').collect()
}

/// Writes the MIME part headers and the inner HTTP request (without the CRLF that precedes the next delimiter).
fn write_request(out: &mut Vec<u8>, req: &BatchRequest, content_id: Option<u32>) {
    out.extend_from_slice(b"Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n");
    if let Some(id) = content_id {
        out.extend_from_slice(format!("Content-ID: {id}\r\n").as_bytes());
    }
    out.extend_from_slice(format!("\r\n{} {} HTTP/1.1\r\n", clean(&req.method), clean(&req.url)).as_bytes());
    if let Some(body) = &req.body {
        out.extend_from_slice(
            format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()).as_bytes(),
        );
    }
    for (name, value) in &req.headers {
        let name = clean(name);
        let name = name.trim();
        let owned = name.eq_ignore_ascii_case("content-type") || name.eq_ignore_ascii_case("content-length");
        if !owned && !name.is_empty() {
            out.extend_from_slice(format!("{name}: {}\r\n", clean(value).trim()).as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
    if let Some(body) = &req.body {
        out.extend_from_slice(body);
    }
}

/// Returns (content_type_header_value, body) for a `$batch` POST; boundaries are `batch_<id>` / `changeset_<id>_<n>`.
pub fn encode(items: &[BatchItem], boundary_id: &str) -> (String, Vec<u8>) {
    let id: String =
        boundary_id.chars().filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')).take(40).collect();
    let batch = format!("batch_{id}");
    let explicit: Vec<u32> = items
        .iter()
        .flat_map(|item| match item {
            BatchItem::Single(req) => std::slice::from_ref(req),
            BatchItem::ChangeSet(reqs) => reqs.as_slice(),
        })
        .filter_map(|req| req.content_id)
        .collect();
    let mut next_id = 1u32;
    let mut changesets = 0usize;
    let mut out = Vec::new();
    for item in items {
        out.extend_from_slice(format!("--{batch}\r\n").as_bytes());
        match item {
            BatchItem::Single(req) => write_request(&mut out, req, req.content_id),
            BatchItem::ChangeSet(reqs) => {
                changesets = changesets.saturating_add(1);
                let cs = format!("changeset_{id}_{changesets}");
                out.extend_from_slice(format!("Content-Type: multipart/mixed; boundary=\"{cs}\"\r\n\r\n").as_bytes());
                for req in reqs {
                    let cid = req.content_id.unwrap_or_else(|| {
                        while explicit.contains(&next_id) && next_id < u32::MAX {
                            next_id += 1;
                        }
                        let assigned = next_id;
                        next_id = next_id.saturating_add(1);
                        assigned
                    });
                    out.extend_from_slice(format!("--{cs}\r\n").as_bytes());
                    write_request(&mut out, req, Some(cid));
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(format!("--{cs}--\r\n").as_bytes());
            }
        }
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(format!("--{batch}--\r\n").as_bytes());
    (format!("multipart/mixed; boundary=\"{batch}\""), out)
}

/// Extract the boundary parameter from a multipart Content-Type (quoted or not, any parameter order, case-insensitive name).
pub fn boundary_of(content_type: &str) -> Option<String> {
    let mut chars = content_type.chars().peekable();
    chars.by_ref().find(|c| *c == ';')?;
    loop {
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && *c != ';') {
            name.push(c);
        }
        if chars.next() == Some('=') {
            while chars.next_if(|c| c.is_whitespace()).is_some() {}
            let mut value = String::new();
            if chars.next_if_eq(&'"').is_some() {
                while let Some(c) = chars.next() {
                    match c {
                        '\\' => value.extend(chars.next()),
                        '"' => break,
                        c => value.push(c),
                    }
                }
                chars.by_ref().find(|c| *c == ';');
            } else {
                value.extend(chars.by_ref().take_while(|c| *c != ';'));
            }
            let value = value.trim();
            if name.trim().eq_ignore_ascii_case("boundary") && !value.is_empty() {
                return Some(value.to_owned());
            }
        }
        chars.peek()?;
    }
}

/// Case-insensitive header lookup.
fn find<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// A delimiter line: end of the preceding content (before the delimiter's CRLF/LF), index after the line, is-close.
struct Delim {
    content_end: usize,
    next: usize,
    close: bool,
}

/// Checks for `--boundary` (+ optional `--`, whitespace, line end) at `at`, which must be a line start.
fn delimiter_at(body: &[u8], dash: &[u8], at: usize) -> Option<Delim> {
    if !body.get(at..)?.starts_with(dash) {
        return None;
    }
    let mut j = at + dash.len();
    let close = body.get(j..j + 2) == Some(&b"--"[..]);
    if close {
        j += 2;
    }
    while matches!(body.get(j), Some(b' ' | b'\t')) {
        j += 1;
    }
    let next = match (body.get(j), body.get(j + 1)) {
        (None, _) => j,
        (Some(b'\n'), _) | (Some(b'\r'), None) => j + 1,
        (Some(b'\r'), Some(b'\n')) => j + 2,
        _ => return None,
    };
    let content_end = if at >= 2 && body.get(at - 2..at) == Some(&b"\r\n"[..]) { at - 2 } else { at.saturating_sub(1) };
    Some(Delim { content_end, next, close })
}

/// Splits a multipart body into its parts' raw bytes (headers + content), ignoring preamble and epilogue.
fn split_parts<'a>(body: &'a [u8], boundary: &str) -> Result<Vec<&'a [u8]>, BatchError> {
    let dash = [b"--", boundary.as_bytes()].concat();
    let mut parts = Vec::new();
    let mut start = None;
    let mut line = 0usize;
    loop {
        let at_line_start = line == 0 || body.get(line - 1) == Some(&b'\n');
        if let Some(d) = delimiter_at(body, &dash, line).filter(|_| at_line_start) {
            if let Some(s) = start {
                parts.push(body.get(s..d.content_end.max(s)).unwrap_or_default());
            }
            if d.close {
                return Ok(parts);
            }
            start = Some(d.next);
            line = d.next;
            continue;
        }
        let rest = body.get(line..).unwrap_or_default();
        let nl = rest.iter().position(|&b| b == b'\n').ok_or(BatchError::Malformed("missing close delimiter"))?;
        line += nl + 1;
    }
}

/// Parses header lines up to the first empty line (or the end); returns the headers and the remaining bytes.
fn split_head(data: &[u8]) -> (Vec<(String, String)>, &[u8]) {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        let rest = data.get(pos..).unwrap_or_default();
        let (line, next) = match rest.iter().position(|&b| b == b'\n') {
            Some(n) => (rest.get(..n).unwrap_or_default(), pos + n + 1),
            None => (rest, data.len()),
        };
        pos = next;
        let line = String::from_utf8_lossy(line.strip_suffix(b"\r").unwrap_or(line)).into_owned();
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some((_, value)) = headers.last_mut() {
                value.push(' ');
                value.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    (headers, data.get(pos..).unwrap_or_default())
}

/// Parses `HTTP/x.y NNN [reason]` into the status code.
fn parse_status(line: &[u8]) -> Result<u16, BatchError> {
    const BAD: BatchError = BatchError::Malformed("bad HTTP status line");
    let text = String::from_utf8_lossy(line);
    let mut words = text.split_whitespace();
    if !words.next().is_some_and(|v| v.starts_with("HTTP/")) {
        return Err(BAD);
    }
    let code = words.next().filter(|c| c.len() == 3 && c.bytes().all(|b| b.is_ascii_digit())).ok_or(BAD)?;
    code.parse::<u16>().ok().filter(|c| *c >= 100).ok_or(BAD)
}

/// Parses an `application/http` part's content as an HTTP response.
fn parse_response(mime: &[(String, String)], content: &[u8]) -> Result<PartResponse, BatchError> {
    let start = content
        .iter()
        .position(|&b| b != b'\r' && b != b'\n')
        .ok_or(BatchError::Malformed("part has no HTTP status line"))?;
    let content = content.get(start..).unwrap_or_default();
    let (line, rest) = match content.iter().position(|&b| b == b'\n') {
        Some(n) => (content.get(..n).unwrap_or_default(), content.get(n + 1..).unwrap_or_default()),
        None => (content, &[][..]),
    };
    let status = parse_status(line)?;
    let (headers, body) = split_head(rest);
    Ok(PartResponse { status, headers, body: body.to_vec(), content_id: find(mime, "content-id").map(str::to_owned) })
}

/// Whether MIME part headers declare a nested multipart (change set) body.
fn is_multipart(mime: &[(String, String)]) -> bool {
    find(mime, "content-type").and_then(|ct| ct.get(..10)).is_some_and(|p| p.eq_ignore_ascii_case("multipart/"))
}

/// Decodes a `$batch` response body; `content_type` is the outer response's Content-Type header value.
///
/// # Errors
/// [`BatchError::NoBoundary`] if `content_type` has no boundary, [`BatchError::Malformed`] if the
/// multipart framing or an inner HTTP response is broken. Messages never quote the body.
pub fn decode(content_type: &str, body: &[u8]) -> Result<Vec<ResponseItem>, BatchError> {
    let boundary = boundary_of(content_type).ok_or(BatchError::NoBoundary)?;
    let mut items = Vec::new();
    for part in split_parts(body, &boundary)? {
        let (mime, content) = split_head(part);
        if !is_multipart(&mime) {
            items.push(ResponseItem::Single(parse_response(&mime, content)?));
            continue;
        }
        let inner = find(&mime, "content-type")
            .and_then(boundary_of)
            .ok_or(BatchError::Malformed("change set part has no boundary"))?;
        let mut responses = Vec::new();
        for inner_part in split_parts(content, &inner)? {
            let (inner_mime, inner_content) = split_head(inner_part);
            if is_multipart(&inner_mime) {
                return Err(BatchError::Malformed("nested multipart inside a change set"));
            }
            responses.push(parse_response(&inner_mime, inner_content)?);
        }
        items.push(ResponseItem::ChangeSet(responses));
    }
    Ok(items)
}

#[cfg(test)]
#[allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    const CT: &str = "multipart/mixed; boundary=batchresponse_f27e";
    const FAIL: &str = "{\"error\":{\"code\":\"0x80044331\",\"message\":\"A validation error occurred.\"}}";

    /// Converts LF framing to CRLF.
    fn crlf(s: &str) -> Vec<u8> {
        s.replace('\n', "\r\n").into_bytes()
    }

    fn req(method: &str, url: &str, body: Option<&str>) -> BatchRequest {
        let body = body.map(|b| b.as_bytes().to_vec());
        BatchRequest { method: method.into(), url: url.into(), body, ..Default::default() }
    }

    fn single(item: &ResponseItem) -> &PartResponse {
        match item {
            ResponseItem::Single(p) => p,
            ResponseItem::ChangeSet(_) => panic!("expected single"),
        }
    }

    fn changeset(item: &ResponseItem) -> &[PartResponse] {
        match item {
            ResponseItem::ChangeSet(v) => v,
            ResponseItem::Single(_) => panic!("expected changeset"),
        }
    }

    fn docs_example() -> Vec<u8> {
        crlf(
            "--batchresponse_f27e\nContent-Type: multipart/mixed; boundary=changesetresponse_64cc\n\n\
            --changesetresponse_64cc\nContent-Type: application/http\nContent-Transfer-Encoding: binary\n\
            Content-ID: 1\n\nHTTP/1.1 204 No Content\nOData-Version: 4.0\n\
            Location: https://org/api/data/v9.2/tasks(e73f)\nOData-EntityId: https://org/api/data/v9.2/tasks(e73f)\n\n\
            --changesetresponse_64cc--\n--batchresponse_f27e\nContent-Type: application/http\n\
            Content-Transfer-Encoding: binary\n\nHTTP/1.1 200 OK\nContent-Type: application/json; odata.metadata=minimal\n\n\
            {\"value\":[]}\n--batchresponse_f27e--\n",
        )
    }

    #[test]
    fn encode_golden_small() {
        let mut get = req("GET", "/api/data/v9.2/accounts(1)?$select=name", None);
        get.headers = vec![("Accept".into(), "application/json".into())];
        let mut post = req("POST", "/api/data/v9.2/tasks", Some("{\"a\":1}"));
        post.headers = vec![(" content-TYPE".into(), "text/plain".into()), ("Prefer".into(), "return=\r\nx".into())];
        let (ct, body) = encode(&[BatchItem::ChangeSet(vec![post]), BatchItem::Single(get)], "ab\"c");
        assert_eq!(ct, "multipart/mixed; boundary=\"batch_abc\"");
        let expected = "--batch_abc\r\nContent-Type: multipart/mixed; boundary=\"changeset_abc_1\"\r\n\r\n\
            --changeset_abc_1\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\
            Content-ID: 1\r\n\r\nPOST /api/data/v9.2/tasks HTTP/1.1\r\nContent-Type: application/json\r\n\
            Content-Length: 7\r\nPrefer: return=x\r\n\r\n{\"a\":1}\r\n--changeset_abc_1--\r\n\r\n\
            --batch_abc\r\nContent-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n\r\n\
            GET /api/data/v9.2/accounts(1)?$select=name HTTP/1.1\r\nAccept: application/json\r\n\r\n\r\n\
            --batch_abc--\r\n";
        assert_eq!(String::from_utf8(body).unwrap(), expected);
    }

    #[test]
    fn encode_round_trip_shape() {
        let mut second = req("PATCH", "$1", Some("{\"description\":\"x\"}"));
        second.headers = vec![("If-Match".into(), "*".into())];
        let first = BatchRequest { content_id: Some(2), ..req("POST", "tasks", Some("{\"subject\":\"Task 1\"}")) };
        let items = [
            BatchItem::ChangeSet(vec![first, second]),
            BatchItem::Single(req("GET", "accounts", None)),
            BatchItem::ChangeSet(vec![req("DELETE", "tasks(1)", None)]),
        ];
        let (ct, body) = encode(&items, "x1");
        let parts = split_parts(&body, &boundary_of(&ct).unwrap()).unwrap();
        assert_eq!(parts.len(), 3);
        let (mime, content) = split_head(parts[0]);
        assert!(is_multipart(&mime));
        let inner = split_parts(content, &boundary_of(find(&mime, "content-type").unwrap()).unwrap()).unwrap();
        let ids: Vec<_> = inner.iter().map(|p| find(&split_head(p).0, "content-id").unwrap().to_owned()).collect();
        assert_eq!(ids, ["2", "1"]);
        let (_, http) = split_head(inner[1]);
        let (_, rest) = http.split_at(http.iter().position(|&b| b == b'\n').unwrap() + 1);
        let (headers, json) = split_head(rest);
        assert_eq!((find(&headers, "content-length"), find(&headers, "if-match")), (Some("19"), Some("*")));
        assert_eq!(json, b"{\"description\":\"x\"}");
        let (mime, content) = split_head(parts[2]);
        assert_eq!(find(&mime, "content-type"), Some("multipart/mixed; boundary=\"changeset_x1_2\""));
        let inner = split_parts(content, "changeset_x1_2").unwrap();
        assert_eq!(find(&split_head(inner[0]).0, "content-id"), Some("3"));
        assert!(!String::from_utf8_lossy(inner[0]).contains("Content-Length"));
    }

    #[test]
    fn decode_docs_example() {
        let items = decode(CT, &docs_example()).unwrap();
        assert_eq!(items.len(), 2);
        let cs = changeset(&items[0]);
        assert_eq!((cs.len(), cs[0].status, cs[0].content_id.as_deref()), (1, 204, Some("1")));
        assert_eq!(cs[0].header("odata-entityid"), Some("https://org/api/data/v9.2/tasks(e73f)"));
        assert_eq!((cs[0].header("OData-Version"), cs[0].body.len()), (Some("4.0"), 0));
        let get = single(&items[1]);
        assert_eq!((get.status, get.body.as_slice(), get.content_id.as_deref()), (200, &b"{\"value\":[]}"[..], None));
        assert_eq!(get.header("CONTENT-TYPE"), Some("application/json; odata.metadata=minimal"));
    }

    #[test]
    fn decode_lf_quoted_params_preamble_padding_no_reason() {
        let body = "preamble text\n--batchresponse_x  \t\ncontent-type: APPLICATION/HTTP\nX-Unknown: 1\n\n\
            HTTP/1.1 204\nodata-version:4.0\n\n--batchresponse_x\ncontent-id: 7\n\nHTTP/1.1 200 Totally Fine Thanks\n\
            \nnot json\n--batchresponse_x-- \nepilogue\n";
        let ct = "multipart/mixed; charset=utf-8; boundary=\"batchresponse_x\"; foo=bar";
        let items = decode(ct, body.as_bytes()).unwrap();
        assert_eq!(items.len(), 2);
        let (a, b) = (single(&items[0]), single(&items[1]));
        assert_eq!((a.status, a.header("OData-Version"), a.body.len()), (204, Some("4.0"), 0));
        assert_eq!((b.status, b.content_id.as_deref(), b.body.as_slice()), (200, Some("7"), &b"not json"[..]));
    }

    #[test]
    fn continue_on_error_statuses_and_error_body() {
        let part = |status: &str, body: &str| {
            let head = crlf(&format!("--batchresponse_f27e\nContent-Type: application/http\n\nHTTP/1.1 {status}\n\n"));
            [head, body.as_bytes().to_vec(), b"\r\n".to_vec()].concat()
        };
        let end = b"--batchresponse_f27e--\r\n".to_vec();
        let body =
            [part("204 No Content", ""), part("400 Bad Request", FAIL), part("204 No Content", ""), end].concat();
        let items = decode(CT, &body).unwrap();
        let statuses: Vec<u16> = items.iter().map(|i| single(i).status).collect();
        assert_eq!(statuses, [204, 400, 204]);
        assert_eq!(single(&items[1]).body, FAIL.as_bytes());
    }

    #[test]
    fn failed_changeset_as_nested_changeset_or_plain_part() {
        let nested = crlf(&format!(
            "--batchresponse_f27e\nContent-Type: multipart/mixed; boundary=changesetresponse_1\n\n\
            --changesetresponse_1\nContent-Type: application/http\nContent-ID: 2\n\nHTTP/1.1 400 Bad Request\n\n\
            {FAIL}\n--changesetresponse_1--\n--batchresponse_f27e--"
        ));
        let items = decode(CT, &nested).unwrap();
        let cs = changeset(&items[0]);
        assert_eq!((items.len(), cs.len(), cs[0].status, cs[0].content_id.as_deref()), (1, 1, 400, Some("2")));
        assert_eq!(cs[0].body, FAIL.as_bytes());
        let plain = crlf(&format!(
            "--batchresponse_f27e\nContent-Type: application/http\nContent-Transfer-Encoding: binary\n\n\
            HTTP/1.1 400 Bad Request\nREQ_ID: abc\n\n{FAIL}\n--batchresponse_f27e--"
        ));
        let items = decode(CT, &plain).unwrap();
        let p = single(&items[0]);
        assert_eq!(
            (items.len(), p.status, p.body.as_slice(), p.header("req_id")),
            (1, 400, FAIL.as_bytes(), Some("abc"))
        );
    }

    #[test]
    fn fake_boundaries_and_crlf_inside_body_are_kept() {
        let payload =
            "{\"t\":\"a\r\n--batchresponse_fake\r\n--batchresponse_f27eX\r\n--batchresponse_f27e-x\r\n\r\nb\"}\r\n";
        let head = crlf("--batchresponse_f27e\nContent-Type: application/http\n\nHTTP/1.1 200 OK\n\n");
        let body = [head.as_slice(), payload.as_bytes(), b"\r\n--batchresponse_f27e--"].concat();
        let items = decode(CT, &body).unwrap();
        assert_eq!(items.len(), 1);
        assert_eq!(single(&items[0]).body, payload.as_bytes());
    }

    #[test]
    fn boundary_of_variants() {
        assert_eq!(boundary_of("multipart/mixed; boundary=abc").as_deref(), Some("abc"));
        assert_eq!(boundary_of("multipart/mixed;BOUNDARY = \"a b;c\" ; x=1").as_deref(), Some("a b;c"));
        assert_eq!(boundary_of("multipart/mixed; x=\"boundary=no;\"; boundary=yes").as_deref(), Some("yes"));
        for none in
            ["multipart/mixed; charset=utf-8", "multipart/mixed; boundary=\"\"", "multipart/mixed", "a; boundary"]
        {
            assert_eq!(boundary_of(none), None);
        }
    }

    #[test]
    fn malformed_inputs() {
        let good = docs_example();
        assert_eq!(decode("multipart/mixed; charset=utf-8", &good), Err(BatchError::NoBoundary));
        assert_eq!(decode("application/json", &good), Err(BatchError::NoBoundary));
        let truncated = &good[..good.len() - 30];
        assert!(matches!(decode(CT, truncated), Err(BatchError::Malformed(_))));
        let text = String::from_utf8(good.clone()).unwrap();
        for bad in [text.replace("HTTP/1.1 200 OK", "HTTP/1.1 2x0 OK"), text.replace("HTTP/1.1 204", "garbage")] {
            assert!(matches!(decode(CT, bad.as_bytes()), Err(BatchError::Malformed(_))));
        }
        let msg = decode(CT, truncated).unwrap_err().to_string();
        assert!(!msg.contains("value") && !msg.contains("tasks"));
    }

    #[test]
    fn every_prefix_suffix_and_byte_flip_is_handled_without_panic() {
        let good = docs_example();
        for end in 0..=good.len() {
            let _ = decode(CT, &good[..end]);
            let _ = decode(CT, &good[good.len() - end..]);
        }
        for i in 0..good.len() {
            for b in [b'\n', b'-', b'\r', 0xff] {
                let mut bad = good.clone();
                bad[i] = b;
                let _ = decode(CT, &bad);
            }
        }
        assert_eq!(decode(CT, b"--batchresponse_f27e--"), Ok(vec![]));
    }
}
