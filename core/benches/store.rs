//! Vault and store benchmark: prints one table of figures (not a pass/fail test).
//!
//! `cargo bench -p outpost-core --features bench-internals --bench store`
//! Options (env): `OUTPOST_BENCH_ROWS` (default 100000), `OUTPOST_BENCH_GB_ROWS` (rows for the
//! "1 GB" database, default 1000000; 0 skips it), `OUTPOST_BENCH_MEMSEC=1` (turn SQLCipher's
//! `cipher_memory_security` on for the whole process first, to measure its cost).

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

use std::path::Path;
use std::time::{Duration, Instant};

use outpost_core::{
    CreateOptions, Filter, KdfParams, OpenOptions, Query, ServerRow, Store, TableSpec, Value, Values, Vault,
};

pub(crate) const PASSWORD: &[u8] = b"benchmark password";
const WORDS: &[&str] = &[
    "service",
    "contract",
    "pump",
    "valve",
    "north",
    "south",
    "harbour",
    "meadow",
    "granite",
    "copper",
    "willow",
    "engine",
    "report",
    "visit",
    "quarterly",
    "renewal",
    "priority",
    "invoice",
    "warranty",
    "inspection",
    "delivery",
    "customer",
    "pipeline",
    "turbine",
    "ledger",
    "orchard",
    "summit",
    "bridge",
    "canyon",
    "delta",
];

/// Deterministic xorshift so runs are comparable.
pub(crate) struct Rng(u64);
impl Rng {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn word(&mut self) -> &'static str {
        WORDS[(self.next() % WORDS.len() as u64) as usize]
    }
}

/// ~1 KB rows. Row 4242 alone holds "zymurgy"; every 8th row holds "frequent" (12.5 %);
/// "copper" and "willow" are both common, their conjunction rarer.
pub(crate) fn row(i: usize, rng: &mut Rng) -> ServerRow {
    let mut name = format!("{} {} {}", rng.word(), rng.word(), i);
    if i == 4242 {
        name.push_str(" zymurgy");
    }
    let mut description = String::with_capacity(900);
    while description.len() < 880 {
        description.push_str(rng.word());
        description.push(' ');
    }
    if i.is_multiple_of(8) {
        description.push_str("frequent");
    }
    let id = format!("{:08x}-0000-4000-8000-{:012x}", i, i);
    let mut v = Values::new();
    v.insert("accountid".into(), Value::text(id.clone()));
    v.insert("name".into(), Value::text(name));
    v.insert("description".into(), Value::text(description));
    v.insert("revenue".into(), Value::decimal(format!("{}.{:04}", rng.next() % 10_000_000, i % 10_000)).unwrap());
    v.insert("numberofemployees".into(), Value::Int((rng.next() % 5000) as i64));
    v.insert("modifiedon".into(), Value::text("2026-11-01T10:00:00Z"));
    ServerRow { id, values: v, etag: Some(format!("W/\"{i}\"")) }
}

pub(crate) fn spec(searchable: bool) -> TableSpec {
    TableSpec {
        entity_set: "accounts".into(),
        primary_id: "accountid".into(),
        searchable: if searchable { vec!["name".into(), "description".into()] } else { vec![] },
        sortable: if searchable { vec!["name".into()] } else { vec![] },
    }
}

/// Insert `n` rows in 5,000-row transactions; rows/s.
pub(crate) fn fill(store: &Store, n: usize, searchable: bool) -> f64 {
    store.register_table(&spec(searchable)).unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let start = Instant::now();
    let mut i = 0;
    while i < n {
        let batch: Vec<ServerRow> = (i..(i + 5000).min(n)).map(|k| row(k, &mut rng)).collect();
        store.apply_server_rows("accounts", &batch).unwrap();
        i += batch.len();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

pub(crate) fn percentiles(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    (ms(v[v.len() / 2]), ms(v[(v.len() * 95 / 100).min(v.len() - 1)]))
}

pub(crate) fn time_n(n: usize, mut f: impl FnMut()) -> (f64, f64) {
    f(); // warm
    percentiles(
        (0..n)
            .map(|_| {
                let s = Instant::now();
                f();
                s.elapsed()
            })
            .collect(),
    )
}

pub(crate) fn dir_size(p: &Path) -> u64 {
    std::fs::read_dir(p).unwrap().flatten().map(|e| e.metadata().map(|m| m.len()).unwrap_or(0)).sum()
}

fn line(name: &str, value: String) {
    println!("| {name:<58} | {value:>28} |");
}

fn main() {
    let rows: usize = std::env::var("OUTPOST_BENCH_ROWS").ok().and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let gb_rows: usize = std::env::var("OUTPOST_BENCH_GB_ROWS").ok().and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    if std::env::var("OUTPOST_BENCH_MEMSEC").is_ok_and(|v| v == "1") {
        // Process-wide and irreversible once on: SQLCipher then wipes and mlocks its memory.
        let c = rusqlite::Connection::open_in_memory().unwrap();
        c.execute_batch("PRAGMA cipher_memory_security = ON;").unwrap();
        println!("(cipher_memory_security = ON for this run)");
    }
    let fast = CreateOptions { kdf: KdfParams::FLOOR, ..CreateOptions::default() };
    println!("| {:<58} | {:>28} |", "measure", "value");
    println!("|{}|{}|", "-".repeat(60), "-".repeat(30));

    // --- Unlock and password change at default parameters (64 MiB, t=3, p=4).
    let unlock_ms = unlock_median_ms();
    line("unlock, default params 64 MiB/t=3/p=4 (median of 5)", format!("{unlock_ms:.1} ms"));

    // --- Bulk insert: SQLCipher vs unkeyed, same store code, same run.
    let d_enc = tempfile::tempdir().unwrap();
    let venc = Vault::create(d_enc.path(), PASSWORD, &fast).unwrap();
    let enc_rate = fill(venc.store(), rows, true);
    let d_plain = tempfile::tempdir().unwrap();
    let plain = Store::open_unkeyed_for_bench(&d_plain.path().join("plain.db")).unwrap();
    let plain_rate = fill(&plain, rows, true);
    line(&format!("bulk insert {rows} rows ~1 KB + FTS, SQLCipher"), format!("{enc_rate:.0} rows/s"));
    line(&format!("bulk insert {rows} rows ~1 KB + FTS, unkeyed SQLite"), format!("{plain_rate:.0} rows/s"));
    line("  ratio SQLCipher / unkeyed", format!("{:.2}", enc_rate / plain_rate));
    drop(plain);

    // --- Local reads at `rows` rows (warm cache).
    let s = venc.store();
    let (p50, p95) = time_n(200, || {
        s.get("accounts", "00001092-0000-4000-8000-000000001092").unwrap().unwrap();
    });
    line("get by id, p50 / p95", format!("{p50:.3} / {p95:.3} ms"));
    let page = Query {
        filter: Some(Filter::And(vec![
            Filter::Contains("name".into(), "harbour".into()),
            Filter::Gt("numberofemployees".into(), Value::Int(100)),
        ])),
        limit: 50,
        ..Query::default()
    };
    let (p50, p95) = time_n(50, || {
        assert_eq!(s.query("accounts", &page).unwrap().records.len(), 50);
    });
    line("filtered page of 50 (contains + gt), p50 / p95", format!("{p50:.2} / {p95:.2} ms"));
    let ordered = Query {
        order_by: vec![outpost_core::OrderBy { column: "name".into(), descending: false }],
        limit: 50,
        ..page.clone()
    };
    let (p50, p95) = time_n(20, || {
        assert_eq!(s.query("accounts", &ordered).unwrap().records.len(), 50);
    });
    line("filtered page of 50 ordered by name, p50 / p95", format!("{p50:.2} / {p95:.2} ms"));
    for (label, q, expect_min) in [
        ("FTS selective term \"zymurgy\"", "zymurgy", 1),
        ("FTS prefix \"zymu*\"", "zymu*", 1),
        ("FTS two terms \"copper willow\"", "copper willow", 20),
        ("FTS term in 12.5 % of rows \"frequent\"", "frequent", 20),
    ] {
        let (p50, p95) = time_n(100, || {
            assert!(s.search("accounts", q, 20).unwrap().len() >= expect_min);
        });
        line(&format!("{label}, top 20, p50 / p95"), format!("{p50:.3} / {p95:.3} ms"));
    }
    venc.lock().unwrap();

    // --- change_password and the re-wrap alone vs database size; rekey for comparison.
    for (label, n) in [("1 MB", 1_000usize), ("1 GB", gb_rows)] {
        if n == 0 {
            continue;
        }
        let m = password_change(n);
        line(
            &format!("change_password, {label} db ({:.0} MB), median of 3", m.size_mb),
            format!("{:.1} ms ({:.2}x unlock)", m.change_ms, m.change_ms / unlock_ms),
        );
        line(&format!("  re-wrap + keyslot write alone, {label} db"), format!("{:.2} ms", m.rewrap_ms));
        line(&format!("rotate_data_key (KDF + PRAGMA rekey), {label} db"), format!("{:.0} ms", m.rekey_ms));
    }
}

/// Median of 5 unlocks at the default parameters (64 MiB, t=3, p=4), ms.
pub(crate) fn unlock_median_ms() -> f64 {
    let d = tempfile::tempdir().unwrap();
    let v = Vault::create(d.path(), PASSWORD, &CreateOptions::default()).unwrap();
    v.lock().unwrap();
    let mut unlocks = Vec::new();
    for _ in 0..5 {
        let s = Instant::now();
        let v = Vault::unlock(d.path(), PASSWORD, &OpenOptions::default()).unwrap();
        unlocks.push(s.elapsed());
        v.lock().unwrap();
    }
    percentiles(unlocks).0
}

/// A password change on a database of `n` rows.
pub(crate) struct PasswordChange {
    pub(crate) size_mb: f64,
    /// `change_password`, median of 3, ms.
    pub(crate) change_ms: f64,
    /// The re-wrap and keyslot write alone (no KDF), median of 3, ms.
    pub(crate) rewrap_ms: f64,
    /// `rotate_data_key` (KDF + `PRAGMA rekey`), ms.
    pub(crate) rekey_ms: f64,
}

pub(crate) fn password_change(n: usize) -> PasswordChange {
    let d = tempfile::tempdir().unwrap();
    let mut v = Vault::create(d.path(), PASSWORD, &CreateOptions::default()).unwrap();
    fill(v.store(), n, false);
    v.store().checkpoint().unwrap();
    let size_mb = dir_size(d.path()) as f64 / 1e6;
    // Steady state: flush the OS's dirty pages from the fill first, as a real password change
    // happens long after the data was written (otherwise the keyslot fsync waits on them).
    let _ = std::process::Command::new("sync").status();
    let mut changes = Vec::new();
    let mut rewraps = Vec::new();
    let mut current: &[u8] = PASSWORD;
    for new in [&b"new password 1"[..], b"new password 2", b"new benchmark password"] {
        let s = Instant::now();
        v.change_password(current, new).unwrap();
        changes.push(s.elapsed());
        rewraps.push(v.last_rewrap_duration().unwrap());
        current = new;
    }
    let s = Instant::now();
    v.rotate_data_key(b"new benchmark password", None).unwrap();
    let rekey_ms = s.elapsed().as_secs_f64() * 1000.0;
    PasswordChange { size_mb, change_ms: percentiles(changes).0, rewrap_ms: percentiles(rewraps).0, rekey_ms }
}
