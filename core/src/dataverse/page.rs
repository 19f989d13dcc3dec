//! One page of a collection or delta response, parsed in a single streaming pass straight into
//! the rows the store writes. The parser is `outpost_wire::page` (pure code, property-tested and
//! fuzzed there); the sync engine takes its error as the text of a `Network` error.

pub(crate) use outpost_wire::page::{Page, Shape, LOOKUP_LOGICAL_NAME};

/// Parse a page body.
///
/// # Errors
/// A message naming what was wrong (`malformed page: truncated`, …), never the body's content.
pub(crate) fn parse(body: &[u8], shape: &Shape<'_>) -> Result<Page, String> {
    outpost_wire::page::parse(body, shape).map_err(|e| e.to_string())
}
