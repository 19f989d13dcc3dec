//! Argon2id parameters: defaults, the floor enforced when a slot is written, the caps enforced
//! when a file is parsed, derivation and calibration.

use std::time::Instant;

use argon2::{Algorithm, Argon2, Block, Params, Version};
use zeroize::Zeroizing;

use crate::error::{Error, Result};

// Argon2id cost parameters, their floor, and the caps enforced when a keyslot file is parsed
// live with the file format in `outpost_wire::keyslot`.
pub use outpost_wire::keyslot::{KdfParams, MAX_M_KIB, MAX_P, MAX_T};

/// What the vault does with [`KdfParams`] beyond the file format: check them for a new slot,
/// and run Argon2id.
pub(crate) trait KdfParamsExt {
    /// Refuse parameters a new slot may not use.
    fn check_for_new_slot(&self) -> Result<()>;
    /// Derive a 32-byte key-encryption key from `password` and `salt`.
    fn derive(&self, password: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>>;
}

impl KdfParamsExt for KdfParams {
    fn check_for_new_slot(&self) -> Result<()> {
        if !self.within_caps() {
            return Err(Error::invalid(format!(
                "KDF parameters out of range (m ≤ {MAX_M_KIB} KiB, 1 ≤ t ≤ {MAX_T}, 1 ≤ p ≤ {MAX_P}, m ≥ 8p)"
            )));
        }
        if !self.meets_floor() {
            return Err(Error::invalid("KDF parameters below the floor (OWASP: 19 MiB, t=2, p=1 or an equal row)"));
        }
        Ok(())
    }

    fn derive(&self, password: &[u8], salt: &[u8]) -> Result<Zeroizing<[u8; 32]>> {
        let params = Params::new(self.m_kib, self.t, self.p, Some(32))
            .map_err(|e| Error::internal(format!("argon2 params: {e}")))?;
        // The working memory is ours, so it is wiped when dropped (on error too): argon2's own
        // `hash_password_into` frees its blocks without wiping them, and the last blocks are
        // enough to recompute the key (issue 16, defect 4).
        let mut memory: Zeroizing<Vec<Block>> = Zeroizing::new(vec![Block::new(); params.block_count()]);
        let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut out = Zeroizing::new([0u8; 32]);
        argon
            .hash_password_into_with_memory(password, salt, out.as_mut(), memory.as_mut_slice())
            .map_err(|e| Error::internal(format!("argon2: {e}")))?;
        Ok(out)
    }
}

/// The result of [`calibrate`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Calibration {
    /// The parameters chosen (never below [`KdfParams::FLOOR`]).
    pub params: KdfParams,
    /// How long one derivation took with them, in milliseconds, on this device.
    pub measured_ms: u64,
}

/// Pick Argon2id parameters that take about `target_ms` on this device, using at most
/// `max_memory_kib` of memory (clamped to the floor's memory and the cap).
///
/// Memory is the main cost: it starts at min(64 MiB, max) with p = 4 and adds passes until the
/// target is reached; on a device too slow for even one pass it lowers memory, never below the
/// floor. Takes a few times `target_ms`.
///
/// # Errors
/// `Internal` if Argon2 itself fails.
pub fn calibrate(target_ms: u64, max_memory_kib: u32) -> Result<Calibration> {
    let password = b"outpost-calibration";
    let salt = [0x5au8; 16];
    let time = |params: KdfParams| -> Result<u64> {
        let start = Instant::now();
        params.derive(password, &salt)?;
        Ok(start.elapsed().as_millis() as u64)
    };
    let max_m = max_memory_kib.clamp(KdfParams::FLOOR.m_kib, MAX_M_KIB);
    let mut params = KdfParams { m_kib: max_m.min(KdfParams::DEFAULT.m_kib), t: 1, p: 4 };
    let mut ms = time(params)?;
    // Too slow at one pass: shrink memory (keeping t at the floor's row for that memory).
    while ms > target_ms && params.m_kib > KdfParams::FLOOR.m_kib {
        params.m_kib = (params.m_kib / 2).max(KdfParams::FLOOR.m_kib);
        params.t = if params.m_kib >= 47_104 { 1 } else { 2 };
        ms = time(params)?;
    }
    // Fast enough: add passes (estimated linearly, then measured) up to the cap.
    if ms < target_ms && ms > 0 {
        let per_pass = (ms / u64::from(params.t)).max(1);
        let want = (target_ms / per_pass).clamp(u64::from(params.t), u64::from(MAX_T)) as u32;
        if want != params.t {
            params.t = want;
            ms = time(params)?;
        }
    }
    if !params.meets_floor() {
        params = KdfParams::FLOOR;
        ms = time(params)?;
    }
    Ok(Calibration { params, measured_ms: ms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floor_rows() {
        assert!(KdfParams::FLOOR.meets_floor());
        assert!(KdfParams::DEFAULT.meets_floor());
        assert!(KdfParams { m_kib: 7_168, t: 5, p: 1 }.meets_floor());
        assert!(!KdfParams { m_kib: 19_455, t: 2, p: 1 }.meets_floor());
        assert!(!KdfParams { m_kib: 8_192, t: 3, p: 1 }.meets_floor());
    }

    #[test]
    fn caps() {
        assert!(KdfParams::DEFAULT.within_caps());
        assert!(!KdfParams { m_kib: MAX_M_KIB + 1, t: 1, p: 1 }.within_caps());
        assert!(!KdfParams { m_kib: 65_536, t: 17, p: 1 }.within_caps());
        assert!(!KdfParams { m_kib: 65_536, t: 1, p: 0 }.within_caps());
        assert!(!KdfParams { m_kib: 16, t: 1, p: 4 }.within_caps());
    }

    #[test]
    fn derive_matches_rfc9106_vector_shape() {
        // Deterministic: same inputs, same output; different salt, different output.
        let p = KdfParams { m_kib: 64, t: 1, p: 1 };
        let a = p.derive(b"pw", &[1; 16]).unwrap();
        let b = p.derive(b"pw", &[1; 16]).unwrap();
        let c = p.derive(b"pw", &[2; 16]).unwrap();
        assert_eq!(*a, *b);
        assert_ne!(*a, *c);
    }

    #[test]
    fn calibrate_respects_floor() {
        let c = calibrate(1, 32 * 1024).unwrap();
        assert!(c.params.meets_floor());
        assert!(c.params.within_caps());
    }
}
