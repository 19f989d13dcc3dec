//! A `$batch` response: the first line is the Content-Type header value, the rest the body.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_wire::batch::{boundary_of, decode};

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (head, body) = data.split_at(split);
    let content_type = String::from_utf8_lossy(head);
    let body = body.get(1..).unwrap_or_default();
    let _ = boundary_of(&content_type);
    let _ = decode(&content_type, body);
});
