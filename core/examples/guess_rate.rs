//! How fast can someone holding a copy of the keyslot file guess offline passwords on this
//! machine? Runs Argon2id at the vault's default parameters (`KdfParams::DEFAULT`: 64 MiB, t=3,
//! p=4, 32-byte output, 16-byte salt) — exactly the work one guess costs — first one derivation
//! at a time (the latency an unlock sees), then on every core at once for the throughput an
//! attacker gets from this CPU. Figures go in `docs/security.md`.
//!
//! ```sh
//! cargo run --release -p outpost-core --example guess_rate [seconds per phase, default 15]
//! ```

#![allow(clippy::expect_used)] // a measuring tool: any failure is fatal

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::{Algorithm, Argon2, Params, Version};
use outpost_core::KdfParams;

fn derive(params: &KdfParams, guess: u64) -> [u8; 32] {
    let p = Params::new(params.m_kib, params.t, params.p, Some(32)).expect("params");
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, p);
    let mut out = [0u8; 32];
    let password = format!("guess-{guess:012}");
    argon.hash_password_into(password.as_bytes(), b"0123456789abcdef", &mut out).expect("argon2");
    out
}

fn main() {
    let seconds: u64 = std::env::args().nth(1).and_then(|s| s.parse().ok()).unwrap_or(15);
    let params = KdfParams::DEFAULT;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!(
        "Argon2id m={} KiB t={} p={}, {cores} hardware threads, {seconds} s per phase",
        params.m_kib, params.t, params.p
    );

    // Phase 1: one guess at a time (its lanes run in parallel, as in an unlock).
    let mut latencies = Vec::new();
    let start = Instant::now();
    let mut sink = 0u8;
    while start.elapsed() < Duration::from_secs(seconds) || latencies.len() < 5 {
        let t = Instant::now();
        sink ^= derive(&params, latencies.len() as u64)[0];
        latencies.push(t.elapsed());
    }
    latencies.sort();
    let median = latencies[latencies.len() / 2];
    let serial_rate = latencies.len() as f64 / start.elapsed().as_secs_f64();
    println!(
        "one at a time: {} guesses, median {:.0} ms, min {:.0} ms, {serial_rate:.2} guesses/s",
        latencies.len(),
        median.as_secs_f64() * 1e3,
        latencies[0].as_secs_f64() * 1e3
    );

    // Phase 2: one worker per hardware thread, as an attacker would run it.
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..cores)
        .map(|w| {
            let (done, stop) = (done.clone(), stop.clone());
            std::thread::spawn(move || {
                let mut i = 0u64;
                let mut sink = 0u8;
                while !stop.load(Ordering::Relaxed) {
                    sink ^= derive(&params, (w as u64) << 40 | i)[0];
                    i += 1;
                    done.fetch_add(1, Ordering::Relaxed);
                }
                sink
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        sink ^= w.join().expect("worker");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let n = done.load(Ordering::Relaxed);
    let rate = n as f64 / elapsed;
    println!(
        "all cores: {n} guesses in {elapsed:.1} s = {rate:.2} guesses/s ({} MiB per guess in flight)",
        params.m_kib / 1024
    );
    let day = rate * 86_400.0;
    println!("per day on this machine: {day:.0} guesses");
    for (what, space) in [
        ("4-digit PIN", 1e4),
        ("6-digit PIN", 1e6),
        ("8 lower-case letters", 26f64.powi(8)),
        ("8 printable ASCII", 95f64.powi(8)),
        ("4 diceware words (7776^4)", 7776f64.powi(4)),
    ] {
        let days = space / day;
        println!("  exhaust {what:<28} {space:>10.3e} in {days:>12.3e} days ({:.3e} years)", days / 365.25);
    }
    std::hint::black_box(sink);
}
