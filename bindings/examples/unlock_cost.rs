//! Unlock cost at the default Argon2id parameters in the build it is compiled with — to measure
//! what the `mobile` profile's `opt-level = "z"` costs Argon2 (`docs/performance.md`):
//!
//! ```sh
//! cargo run --release --example unlock_cost -p outpost-ffi -- release
//! cargo run --profile mobile --example unlock_cost -p outpost-ffi -- mobile
//! cargo run --profile mobile-all-z --example unlock_cost -p outpost-ffi -- mobile-all-z
//! ```
#![allow(clippy::unwrap_used, clippy::expect_used)] // a measuring tool, not library code

use std::time::Instant;

use outpost_core::{CreateOptions, KdfParams, OpenOptions, Vault};

fn main() {
    let label = std::env::args().nth(1).unwrap_or_else(|| "this build".into());
    let dir = tempfile_dir();
    let options = CreateOptions { kdf: KdfParams::DEFAULT, ..CreateOptions::default() };
    let vault = Vault::create(&dir, b"measure", &options).expect("create");
    vault.lock().expect("lock");
    let mut times = Vec::new();
    for _ in 0..7 {
        let t = Instant::now();
        let v = Vault::unlock(&dir, b"measure", &OpenOptions::default()).expect("unlock");
        times.push(t.elapsed().as_secs_f64() * 1000.0);
        v.lock().expect("lock");
    }
    times.sort_by(f64::total_cmp);
    let k = KdfParams::DEFAULT;
    println!(
        "| {label} | {} MiB, t={}, p={} | {:.1} ms | {:.1} ms | {:.1} ms |",
        k.m_kib / 1024,
        k.t,
        k.p,
        times[0],
        times[times.len() / 2],
        times[times.len() - 1]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir() -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("outpost-unlock-cost-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}
