//! OData `$batch` (multipart/mixed) request encoding and response decoding: `outpost_wire::batch`
//! (pure code, property-tested and fuzzed there), re-exported for the push.

pub(crate) use outpost_wire::batch::{
    boundary_of, decode, encode, BatchItem, BatchRequest, PartResponse, ResponseItem,
};
