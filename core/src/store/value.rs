//! Column values, kept losslessly: the types and their JSON encoding live in `outpost-wire`
//! (pure code, fuzzed); this module re-exports them with the store's error type.

pub use outpost_wire::value::{Value, Values};

use crate::error::Result;

/// One value as JSON text (numbers exactly as kept).
pub(crate) use outpost_wire::value::value_json;

/// Encode a record as a JSON object.
pub(crate) use outpost_wire::value::to_json;

/// Decode a JSON object into values, numbers kept as text.
///
/// # Errors
/// `Corrupt` if the stored text is not a JSON object of values.
pub(crate) fn from_json(text: &str) -> Result<Values> {
    Ok(outpost_wire::value::from_json(text)?)
}
