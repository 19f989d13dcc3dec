//! A keyslot file body: the target appends the SHA-256 trailer (`seal`), so that the fuzzer's
//! bytes reach the field checks instead of stopping at the checksum. Whatever decodes must
//! encode and decode back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_wire::keyslot::{seal, KeyslotFile};
use outpost_wire::Error;

fuzz_target!(|data: &[u8]| {
    if let Ok(file) = KeyslotFile::decode::<Error>(&seal(data)) {
        assert_eq!(KeyslotFile::decode::<Error>(&file.encode()).as_ref(), Ok(&file));
    }
});
