//! The keyslot file: the byte format, its parameter types and the AEAD wrap are
//! `outpost_wire::keyslot` (pure code, property-tested and fuzzed there; `docs/keyslot-format.md`
//! is the normative description). This module adds the vault's [`DataKey`] type on top.

use outpost_wire::keyslot::WRAPPED_LEN;
pub(crate) use outpost_wire::keyslot::{slot_aad, DbSettings, KeyslotFile, Rotation, Slot, SlotKind, MAX_FILE_LEN};

use super::DataKey;
use crate::error::Result;

/// First 16 bytes of SHA-256("outpost/dek-check/v1" ‖ vault_id ‖ DEK): detects a platform
/// provider that hands back the wrong key without touching the database.
pub(crate) fn dek_check(vault_id: &[u8; 16], dek: &DataKey) -> [u8; 16] {
    outpost_wire::keyslot::dek_check(vault_id, dek.bytes())
}

/// AEAD-wrap the data key under a KEK.
pub(crate) fn wrap(kek: &[u8; 32], nonce: &[u8; 24], aad: &[u8], dek: &DataKey) -> Result<[u8; WRAPPED_LEN]> {
    Ok(outpost_wire::keyslot::wrap(kek, nonce, aad, dek.bytes())?)
}

/// AEAD-unwrap; `None` when the tag does not verify (wrong password, or tampered slot).
pub(crate) fn unwrap(kek: &[u8; 32], nonce: &[u8; 24], aad: &[u8], wrapped: &[u8; WRAPPED_LEN]) -> Option<DataKey> {
    DataKey::from_slice(&outpost_wire::keyslot::unwrap(kek, nonce, aad, wrapped)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    /// The wire errors keep their core variants and messages.
    #[test]
    fn decode_errors_map_to_corrupt_and_newer_format() {
        let r: Result<KeyslotFile> = KeyslotFile::decode(b"OUTPOSTK");
        assert_eq!(r, Err(Error::Corrupt { what: "keyslot file: not an Outpost keyslot file, or truncated".into() }));
        let mut bytes = b"OUTPOSTK\x03\x00".to_vec();
        let sum = <sha2::Sha256 as sha2::Digest>::digest(&bytes);
        bytes.extend_from_slice(&sum);
        let r: Result<KeyslotFile> = KeyslotFile::decode(&bytes);
        assert_eq!(r, Err(Error::NewerFormat { found: 3, supported: 2 }));
    }

    #[test]
    fn wrap_unwrap() {
        let dek = DataKey::from_slice(&[7; 32]).unwrap();
        let w = wrap(&[1; 32], &[2; 24], b"aad", &dek).unwrap();
        assert_eq!(unwrap(&[1; 32], &[2; 24], b"aad", &w).map(|k| k.bytes().to_vec()), Some(vec![7; 32]));
        assert!(unwrap(&[1; 32], &[2; 24], b"other", &w).is_none());
        assert_eq!(dek_check(&[0; 16], &dek), outpost_wire::keyslot::dek_check(&[0; 16], &[7; 32]));
    }
}
