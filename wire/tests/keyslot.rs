//! Property tests of the keyslot file: write → read round trips over every field, and
//! arbitrary or damaged files give `Corrupt` or `NewerFormat`, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use outpost_wire::keyslot::{
    seal, Counter, DbSettings, KdfParams, KeyslotFile, LockoutPolicy, OnLimit, Rotation, Slot, SlotKind,
    FORMAT_VERSION, MAGIC, MAX_M_KIB, MAX_P, MAX_T,
};
use outpost_wire::Error;
use proptest::prelude::*;

fn kdf() -> impl Strategy<Value = KdfParams> {
    (1..=MAX_T, 1..=MAX_P).prop_flat_map(|(t, p)| (8 * p..=MAX_M_KIB).prop_map(move |m_kib| KdfParams { m_kib, t, p }))
}

fn slot_kind() -> impl Strategy<Value = SlotKind> {
    prop_oneof![
        (any::<bool>(), kdf(), any::<[u8; 16]>(), any::<[u8; 24]>(), prop::collection::vec(any::<u8>(), 48)).prop_map(
            |(nfc, kdf, salt, nonce, w)| {
                let mut wrapped = [0u8; 48];
                wrapped.copy_from_slice(&w);
                SlotKind::Password { nfc, kdf, salt, nonce, wrapped }
            }
        ),
        prop_oneof![prop::collection::vec(any::<u8>(), 1..64), prop::collection::vec(any::<u8>(), 16 * 1024)]
            .prop_map(|blob| SlotKind::Platform { blob }),
    ]
}

/// `min..=max` slots with unique ids.
fn slots(min: usize, max: usize) -> impl Strategy<Value = Vec<Slot>> {
    prop::collection::btree_map(any::<u8>(), (any::<u32>(), slot_kind()), min..=max)
        .prop_map(|m| m.into_iter().map(|(id, (key_generation, kind))| Slot { id, key_generation, kind }).collect())
}

fn db() -> impl Strategy<Value = DbSettings> {
    (9u32..=16, any::<u32>(), 1u8..=3, 1u8..=3, 0u32..=64, any::<[u8; 16]>()).prop_map(
        |(page_shift, kdf_iter, hmac_algorithm, kdf_algorithm, header16, salt)| DbSettings {
            compatibility: 4,
            page_size: 1 << page_shift,
            kdf_iter,
            hmac_algorithm,
            kdf_algorithm,
            plaintext_header_size: header16 * 16,
            salt,
        },
    )
}

fn policy() -> impl Strategy<Value = LockoutPolicy> {
    (
        1u32..,
        prop_oneof![
            (any::<u32>(), any::<u32>()).prop_map(|(base_s, max_s)| OnLimit::Delay { base_s, max_s }),
            Just(OnLimit::Wipe)
        ],
        any::<u32>(),
    )
        .prop_map(|(max_attempts, on_limit, more)| LockoutPolicy {
            max_attempts,
            on_limit,
            refuse_after: max_attempts.saturating_add(more),
        })
}

fn file() -> impl Strategy<Value = KeyslotFile> {
    (
        (any::<[u8; 16]>(), any::<i64>(), any::<u32>(), any::<[u8; 16]>()),
        db(),
        policy(),
        kdf(),
        slots(1, 6),
        prop::option::of((any::<u32>(), any::<[u8; 16]>(), slots(0, 4))),
        (any::<u32>(), any::<i64>(), any::<i64>(), any::<u64>(), any::<u64>()),
        prop::option::of(any::<[u8; 32]>()),
    )
        .prop_map(
            |(
                (vault_id, created_unix, key_generation, dek_check),
                db,
                policy,
                target_kdf,
                slots,
                rotation,
                c,
                account_hash,
            )| {
                KeyslotFile {
                    vault_id,
                    created_unix,
                    key_generation,
                    dek_check,
                    db,
                    policy,
                    target_kdf,
                    slots,
                    rotation: rotation.map(|(to_generation, new_dek_check, entries)| Rotation {
                        to_generation,
                        new_dek_check,
                        entries,
                    }),
                    counter: Counter {
                        failed: c.0,
                        last_seen_unix: c.1,
                        locked_until_unix: c.2,
                        boot_seen_s: c.3,
                        wait_left_s: c.4,
                    },
                    account_hash,
                }
            },
        )
}

fn decode(bytes: &[u8]) -> Result<KeyslotFile, Error> {
    KeyslotFile::decode(bytes)
}

/// Replace the trailer with the right checksum, so that damage reaches the field parser.
fn reseal(bytes: Vec<u8>) -> Vec<u8> {
    seal(&bytes[..bytes.len().saturating_sub(32)])
}

fn typed(r: &Result<KeyslotFile, Error>) -> bool {
    match r {
        Ok(_) => true,
        Err(Error::Corrupt { what }) => what.starts_with("keyslot file: "),
        Err(Error::NewerFormat { supported, .. }) => *supported == u32::from(FORMAT_VERSION),
        Err(_) => false,
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn write_then_read_round_trips(f in file()) {
        prop_assert_eq!(decode(&f.encode()), Ok(f));
    }

    #[test]
    fn arbitrary_bytes_are_corrupt(bytes in prop::collection::vec(any::<u8>(), 0..600), magic in any::<bool>()) {
        let bytes = if magic { [MAGIC.as_slice(), &bytes].concat() } else { bytes };
        let r = decode(&bytes);
        prop_assert!(matches!(&r, Err(Error::Corrupt { .. })), "{:?}", r);
    }

    /// Damage with the checksum fixed up reaches every field check: a typed result, never a
    /// panic (the checksum alone would hide parser bugs).
    #[test]
    fn resealed_damage_is_typed(
        f in file(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in prop::option::of(any::<prop::sample::Index>()),
        extra in prop::collection::vec(any::<u8>(), 0..4),
    ) {
        let mut bytes = f.encode();
        let body = bytes.len() - 32;
        for (at, b) in &edits {
            let i = at.index(body);
            bytes[i] = *b;
        }
        if let Some(cut) = cut {
            let keep = 10 + cut.index(body - 10);
            bytes.truncate(keep);
            bytes.extend_from_slice(&[0; 32]);
        }
        bytes.splice(body.min(bytes.len() - 32)..body.min(bytes.len() - 32), extra);
        let r = decode(&reseal(bytes));
        prop_assert!(typed(&r), "{:?}", r);
    }

    /// Without resealing, any flipped bit or cut is `Corrupt`.
    #[test]
    fn unsealed_damage_is_corrupt(f in file(), at in any::<prop::sample::Index>(), bit in 0u8..8, cut in any::<bool>()) {
        let mut bytes = f.encode();
        let i = at.index(bytes.len());
        if cut { bytes.truncate(i) } else { bytes[i] ^= 1 << bit }
        let r = decode(&bytes);
        prop_assert!(matches!(&r, Err(Error::Corrupt { .. })), "{:?}", r);
    }
}
