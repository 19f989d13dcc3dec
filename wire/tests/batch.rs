//! Property tests of `$batch`: the encoder's framing read back by the decoder, generated
//! responses decoded back, and arbitrary or damaged bodies giving a `BatchError`, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use outpost_wire::batch::{
    boundary_of, decode, encode, BatchError, BatchItem, BatchRequest, PartResponse, ResponseItem,
};
use proptest::prelude::*;

/// Bodies: JSON-ish text with line breaks and dashes (never a real delimiter line: the encoder
/// relies on its boundary being unique, as the push's random boundary id makes it).
fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        "[ -~]{0,40}".prop_map(String::into_bytes),
        prop::collection::vec(
            prop::sample::select(vec!["{", "}", "\"a\":1", "\r\n", "\n", "--", "-", "batch", "\r", "é"]),
            0..12
        )
        .prop_map(|v| v.concat().into_bytes()),
        prop::collection::vec(any::<u8>(), 0..40),
    ]
    .prop_filter("no delimiter inside", |b| {
        !String::from_utf8_lossy(b).contains("--batch_") && !String::from_utf8_lossy(b).contains("--changeset_")
    })
}

/// A request whose request line reads as a status line (`HTTP/1.1 <status> HTTP/1.1`), so the
/// response decoder can read the encoder's framing back.
fn request() -> impl Strategy<Value = BatchRequest> {
    (
        200u16..600,
        prop::collection::vec(("[A-Za-z][A-Za-z0-9-]{0,10}", "[!-~]([ -~]{0,18}[!-~])?"), 0..3),
        prop::option::of(body()),
        prop::option::of(1u32..50),
    )
        .prop_map(|(status, headers, body, content_id)| BatchRequest {
            method: "HTTP/1.1".into(),
            url: status.to_string(),
            headers: headers
                .into_iter()
                .filter(|(n, _)| !n.eq_ignore_ascii_case("content-type") && !n.eq_ignore_ascii_case("content-length"))
                .collect(),
            body,
            content_id,
        })
}

fn item() -> impl Strategy<Value = BatchItem> {
    prop_oneof![
        3 => request().prop_map(BatchItem::Single),
        1 => prop::collection::vec(request(), 1..4).prop_map(BatchItem::ChangeSet),
    ]
}

/// What the decoder must see for one encoded request.
fn expected(req: &BatchRequest, content_id: Option<String>) -> PartResponse {
    let mut headers = Vec::new();
    if let Some(b) = &req.body {
        headers.push(("content-type".to_string(), "application/json".to_string()));
        headers.push(("content-length".to_string(), b.len().to_string()));
    }
    headers.extend(req.headers.iter().map(|(n, v)| (n.to_ascii_lowercase(), v.clone())));
    PartResponse {
        status: req.url.parse().unwrap_or_default(),
        headers,
        body: req.body.clone().unwrap_or_default(),
        content_id,
    }
}

/// Write responses as a server would: CRLF or LF line ends, preamble and epilogue.
fn render(items: &[ResponseItem], boundary: &str, nl: &str) -> Vec<u8> {
    fn part(out: &mut Vec<u8>, p: &PartResponse, nl: &str) {
        out.extend_from_slice(
            format!("Content-Type: application/http{nl}Content-Transfer-Encoding: binary{nl}").as_bytes(),
        );
        if let Some(id) = &p.content_id {
            out.extend_from_slice(format!("Content-ID: {id}{nl}").as_bytes());
        }
        out.extend_from_slice(format!("{nl}HTTP/1.1 {} Whatever{nl}", p.status).as_bytes());
        for (n, v) in &p.headers {
            out.extend_from_slice(format!("{n}: {v}{nl}").as_bytes());
        }
        out.extend_from_slice(nl.as_bytes());
        out.extend_from_slice(&p.body);
        out.extend_from_slice(nl.as_bytes());
    }
    let mut out = format!("preamble{nl}").into_bytes();
    for (i, item) in items.iter().enumerate() {
        out.extend_from_slice(format!("--{boundary}{nl}").as_bytes());
        match item {
            ResponseItem::Single(p) => part(&mut out, p, nl),
            ResponseItem::ChangeSet(ps) => {
                let cs = format!("changesetresponse_{i}");
                out.extend_from_slice(format!("Content-Type: multipart/mixed; boundary={cs}{nl}{nl}").as_bytes());
                for p in ps {
                    out.extend_from_slice(format!("--{cs}{nl}").as_bytes());
                    part(&mut out, p, nl);
                }
                out.extend_from_slice(format!("--{cs}--{nl}").as_bytes());
            }
        }
    }
    out.extend_from_slice(format!("--{boundary}--{nl}epilogue").as_bytes());
    out
}

fn response() -> impl Strategy<Value = PartResponse> {
    (
        100u16..600,
        prop::collection::vec(("[a-z][a-z0-9-]{0,10}", "[!-~]([ -~]{0,18}[!-~])?"), 0..3),
        body(),
        prop::option::of("[0-9]{1,3}"),
    )
        .prop_map(|(status, headers, body, content_id)| PartResponse { status, headers, body, content_id })
}

fn response_item() -> impl Strategy<Value = ResponseItem> {
    prop_oneof![
        3 => response().prop_map(ResponseItem::Single),
        1 => prop::collection::vec(response(), 1..4).prop_map(ResponseItem::ChangeSet),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn encoded_framing_decodes_back(items in prop::collection::vec(item(), 0..5), id in "[a-z0-9]{1,12}") {
        let (content_type, bytes) = encode(&items, &id);
        prop_assert_eq!(boundary_of(&content_type), Some(format!("batch_{id}")));
        let decoded = decode(&content_type, &bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(decoded.len(), items.len());
        let explicit: Vec<String> = items
            .iter()
            .flat_map(|i| match i {
                BatchItem::Single(r) => vec![r.clone()],
                BatchItem::ChangeSet(rs) => rs.clone(),
            })
            .filter_map(|r| r.content_id.map(|c| c.to_string()))
            .collect();
        let mut assigned = Vec::new();
        for (item, got) in items.iter().zip(&decoded) {
            match (item, got) {
                (BatchItem::Single(req), ResponseItem::Single(p)) => {
                    prop_assert_eq!(p, &expected(req, req.content_id.map(|c| c.to_string())));
                }
                (BatchItem::ChangeSet(reqs), ResponseItem::ChangeSet(ps)) => {
                    prop_assert_eq!(reqs.len(), ps.len());
                    for (req, p) in reqs.iter().zip(ps) {
                        // Every change-set member has a Content-ID: its own, or one not used elsewhere.
                        let cid = p.content_id.clone();
                        prop_assert!(cid.is_some());
                        if let Some(own) = req.content_id {
                            prop_assert_eq!(cid.clone(), Some(own.to_string()));
                        } else {
                            let c = cid.clone().unwrap_or_default();
                            prop_assert!(!explicit.contains(&c) && !assigned.contains(&c), "{} reused", c);
                            assigned.push(c);
                        }
                        prop_assert_eq!(p, &expected(req, cid));
                    }
                }
                _ => prop_assert!(false, "item kinds differ"),
            }
        }
    }

    /// Caller text with CR/LF cannot add parts or headers: the framing stays one part per item.
    #[test]
    fn hostile_text_cannot_break_the_framing(
        method in "[A-Z\r\n]{0,8}", url in "[ -~\r\n]{0,30}",
        headers in prop::collection::vec(("[ -~\r\n]{0,12}", "[ -~\r\n]{0,20}"), 0..4),
        id in any::<String>(),
    ) {
        let req = BatchRequest { method, url, headers, body: Some(b"{}".to_vec()), content_id: None };
        let (content_type, bytes) = encode(&[BatchItem::Single(req.clone()), BatchItem::ChangeSet(vec![req])], &id);
        let boundary = boundary_of(&content_type).unwrap_or_default();
        prop_assert!(boundary.starts_with("batch_") && boundary.len() <= 46);
        let text = String::from_utf8_lossy(&bytes);
        prop_assert_eq!(text.matches(&format!("\r\n--{boundary}")).count() + 1, 3, "{}", text);
        prop_assert_eq!(text.lines().filter(|l| l.starts_with("Content-Length")).count(), 2);
    }

    #[test]
    fn generated_responses_decode_back(items in prop::collection::vec(response_item(), 0..5), crlf in any::<bool>()) {
        let nl = if crlf { "\r\n" } else { "\n" };
        // With bare LF line ends, a body ending in CR is ambiguous (CR LF before the delimiter).
        let bodies_end_in_cr = items.iter().any(|i| match i {
            ResponseItem::Single(p) => p.body.ends_with(b"\r"),
            ResponseItem::ChangeSet(ps) => ps.iter().any(|p| p.body.ends_with(b"\r")),
        });
        prop_assume!(crlf || !bodies_end_in_cr);
        let bytes = render(&items, "batchresponse_1a2b", nl);
        let decoded = decode("multipart/mixed; boundary=batchresponse_1a2b", &bytes);
        prop_assert_eq!(decoded, Ok(items));
    }

    #[test]
    fn arbitrary_bytes_never_panic(content_type in any::<String>(), bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        let _: Result<Vec<ResponseItem>, BatchError> = decode(&content_type, &bytes);
        let _ = boundary_of(&content_type);
    }

    /// Damaged responses (a byte replaced by a framing-significant one, or cut short) decode or
    /// give a typed error whose message quotes nothing from the body.
    #[test]
    fn damaged_responses_give_typed_errors(
        items in prop::collection::vec(response_item(), 1..4),
        at in any::<prop::sample::Index>(),
        b in prop::sample::select(b"\r\n-: H0".to_vec()),
        cut in any::<bool>(),
    ) {
        let mut bytes = render(&items, "b", "\r\n");
        let i = at.index(bytes.len());
        if cut { bytes.truncate(i) } else { bytes[i] = b }
        match decode("multipart/mixed; boundary=b", &bytes) {
            Ok(_) | Err(BatchError::NoBoundary) => {}
            Err(BatchError::Malformed(what)) => prop_assert!(!what.is_empty()),
        }
    }
}
