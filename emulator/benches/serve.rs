//! Serving benchmark: generates N rows (default 1,000,000) in `accounts`, then pages through the
//! tracked collection (`Prefer: odata.track-changes,odata.maxpagesize=5000`, all columns) with one
//! client that discards the bodies, and prints rows/s, MB/s and the process RSS.
//!
//! Run: `cargo bench -p outpost-emulator --bench serve`
//! (`OUTPOST_BENCH_ROWS=200000` for a shorter run).

#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark binary

use std::time::Instant;

use outpost_emulator::{defaults, Emulator, EmulatorConfig};

fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn main() {
    let rows: u32 = std::env::var("OUTPOST_BENCH_ROWS").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let page: u32 = std::env::var("OUTPOST_BENCH_PAGE").ok().and_then(|v| v.parse().ok()).unwrap_or(5000);
    let rss0 = rss_mib();
    let t0 = Instant::now();
    let h = Emulator::start(EmulatorConfig::default().with_rows(rows, 0, 0)).expect("start");
    let gen_secs = t0.elapsed().as_secs_f64();
    let rss_loaded = rss_mib();
    println!("generated {rows} accounts in {gen_secs:.2} s; RSS {rss0:.0} MiB before, {rss_loaded:.0} MiB after (+{:.0} MiB)", rss_loaded - rss0);

    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::new();
        let tok: serde_json::Value = client
            .post(format!("{}/organizations/oauth2/v2.0/token", h.base_url()))
            .form(&[
                ("client_id", defaults::CLIENT_ID),
                ("grant_type", "password"),
                ("username", defaults::BOB),
                ("password", defaults::BOB_PASSWORD),
                ("scope", h.scope().as_str()),
            ])
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = tok["access_token"].as_str().unwrap().to_owned();
        let mut url = format!("{}accounts", h.web_api_url());
        let mut total_rows = 0usize;
        let mut bytes = 0usize;
        let mut pages = 0usize;
        let t = Instant::now();
        loop {
            let body = client
                .get(&url)
                .bearer_auth(&token)
                .header("Prefer", format!("odata.track-changes,odata.maxpagesize={page}"))
                .send()
                .await
                .unwrap()
                .bytes()
                .await
                .unwrap();
            pages += 1;
            bytes += body.len();
            let text = std::str::from_utf8(&body).unwrap();
            total_rows += text.matches("{\"@odata.etag\"").count();
            // the links sit at the end of the body; the rest is discarded
            let tail = &text[text.len().saturating_sub(4096)..];
            match tail.find("\"@odata.nextLink\":\"") {
                Some(i) => {
                    let rest = &tail[i + 19..];
                    url = rest[..rest.find('"').unwrap()].to_owned();
                }
                None => {
                    assert!(tail.contains("@odata.deltaLink"));
                    break;
                }
            }
        }
        let secs = t.elapsed().as_secs_f64();
        assert_eq!(total_rows, rows as usize);
        println!(
            "served {total_rows} rows in {pages} tracked pages of {page} in {secs:.2} s: {:.0} rows/s, {:.1} MB/s, {:.0} bytes/row; RSS after serving {:.0} MiB",
            total_rows as f64 / secs,
            bytes as f64 / secs / 1e6,
            bytes as f64 / total_rows as f64,
            rss_mib()
        );
    });
    h.shutdown();
}
