//! The headline benchmark: one command, one table of figures, each beside a baseline measured in
//! the same run (not a pass/fail test). `bash scripts/bench.sh` builds what it needs and runs it:
//!
//! ```sh
//! cargo build --release -p outpost-emulator          # the emulator, a separate process
//! cargo build --profile mobile -p outpost-ffi         # the bindings library, for its size
//! cargo bench -p outpost-core --features bench-internals --bench headline
//! ```
//!
//! The bench looks for `outpost-emulator` in the profile directory of its own executable
//! (`<target-dir>/release/outpost-emulator`; a bench cannot build another package itself) and
//! exits non-zero with a message when it is missing. It starts it with
//! `--port 0 --json --rows N --seed 42` and kills it at the end; the emulator's memory and CPU are
//! not the client's.
//!
//! What it measures, all in one run:
//! 1. **Initial sync** of the default profile (accounts, contacts, tasks) with the default
//!    `SyncConfig` (page size 1,000, concurrency 3), signed in as bob with the password grant, into
//!    a fresh vault (`KdfParams::FLOOR`): wall time and rows/s. **Raw-ingest floor:** the same
//!    tracked page bodies fetched into memory first, then replayed from memory through the pull's
//!    own parser and `Store::apply_page` with its checkpoints, into a fresh keyed vault, into an
//!    unkeyed store (SQLCipher's cost), and into a keyed vault whose full-text index is built after
//!    the load (the alternative the issue allows).
//! 2. **Peak RSS** (`VmHWM`) of the client: after the N-row sync in this process, and over an
//!    initial sync of 1,000,000 rows in a child process of its own (with its own emulator).
//! 3. **Incremental sync:** 10 rows changed on the server (as admin, over the three tables), then
//!    one `sync()` (push of an empty outbox included), 5 rounds: p50 and max. Then 5 syncs with
//!    nothing changed.
//! 4. **Push of 1,000 local updates:** requests and time, with `$batch` of 100 (the default), one
//!    row per request, and `$batch` of 10 four at a time.
//! 5. **The vault:** unlock at the default Argon2id parameters, `change_password`, the re-wrap
//!    alone (no KDF) at 1 MB and at 1 GB of data, and `PRAGMA rekey` of the same data.
//! 6. **Local reads** at N rows of ~1 KB (the store bench's data, with known term frequencies):
//!    get by id, a filtered page of 50, full-text search for a selective term, a prefix, two
//!    terms and a term in 12.5 % of rows; p50 and p95, warm and cold.
//! 7. **The bindings library's size** (stripped `mobile` profile, x86_64 Linux as a proxy).
//!
//! Options (env): `OUTPOST_BENCH_ROWS` (default 100000: 50 % accounts, 30 % contacts, 20 % tasks);
//! `OUTPOST_BENCH_RSS_ROWS` (default 1000000; 0 skips the child); `OUTPOST_BENCH_GB_ROWS` (rows of
//! the "1 GB" database, default 1000000; 0 skips it); `OUTPOST_BENCH_WRITE_DOCS=1` writes the table
//! into `docs/performance.md` (section "## Headline figures", one block per row count).

#![allow(clippy::unwrap_used, clippy::expect_used)] // benchmark code

#[allow(dead_code)] // its own `main` and figures are not used here
#[path = "store.rs"]
mod store_bench;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, ExitCode, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::store::Checkpoint;
use outpost_core::sync::{
    bench_parse_page, NoObserver, SyncConfig, SyncEngine, SyncOptions, SyncProfile, SyncSummary, TableProfile,
};
use outpost_core::{
    Auth, AuthConfig, CreateOptions, Filter, KdfParams, OpenOptions, OrgUrl, Query, Store, TableSpec, Value, Vault,
};

use store_bench::PASSWORD;
const SEED: u64 = 42;
const ROUNDS: usize = 5;
const BOB: &str = "bob@contoso.test";
const ADMIN: &str = "admin@contoso.test";
const LOOKUP_ANNOTATION: &str = "Microsoft.Dynamics.CRM.lookuplogicalname";
/// Goals of the sync issue.
const GOAL_FLOOR_RATIO: f64 = 0.7;
const GOAL_INCREMENTAL_MS: f64 = 50.0;
const GOAL_RSS_MIB: f64 = 100.0;
const GOAL_RSS_ROWS: usize = 1_000_000;
const GOAL_PUSH_REQUESTS: u64 = 20;
const GOAL_REWRAP_MS: f64 = 5.0;
const GOAL_FTS_SELECTIVE_MS: f64 = 5.0;
const GOAL_FTS_COMMON_MS: f64 = 20.0;
const GOAL_LIB_BYTES: u64 = 8_000_000;
const PUSH_ROWS: usize = 1_000;
/// (label, entries per `$batch`, `$batch` requests at once)
const PUSH_VARIANTS: [(&str, usize, usize); 3] = [
    ("$batch of 100 (default), 3 at once", 100, 3),
    ("one row per request, 1 at a time", 1, 1),
    ("$batch of 10, 4 at once", 10, 4),
];

struct Options {
    gb_rows: usize,
    rss_rows: usize,
}

/// The emulator process; killed when dropped (also on a panic).
struct Emulator {
    child: Child,
    _stdout: BufReader<ChildStdout>,
    info: serde_json::Value,
}

impl Emulator {
    fn start(bin: &Path, rows: usize) -> Emulator {
        let mut child = Command::new(bin)
            .args(["--port", "0", "--json", "--rows", &rows.to_string(), "--seed", &SEED.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let info: serde_json::Value = match serde_json::from_str(&line) {
            Ok(v) => v,
            Err(e) => {
                let _ = child.kill();
                panic!("the emulator did not print its JSON line ({e}): {line:?}");
            }
        };
        Emulator { child, _stdout: stdout, info }
    }

    fn get(&self, key: &str) -> String {
        self.info[key].as_str().unwrap_or_else(|| panic!("emulator JSON has no {key}")).to_string()
    }

    fn password(&self, upn: &str) -> String {
        let users = self.info["users"].as_array().unwrap();
        let u = users.iter().find(|u| u["upn"] == upn).unwrap_or_else(|| panic!("no user {upn}"));
        u["password"].as_str().unwrap().to_string()
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `<target-dir>/<profile>/outpost-emulator`, next to the `deps/` folder holding this bench.
fn emulator_binary() -> Option<PathBuf> {
    let exe = std::env::current_exe().ok()?;
    let profile_dir = exe.parent()?.parent()?;
    let bin = profile_dir.join(format!("outpost-emulator{}", std::env::consts::EXE_SUFFIX));
    bin.is_file().then_some(bin)
}

/// A `/proc/<pid>/status` field in KiB (`VmHWM`, `VmRSS`).
fn status_kib(pid: Option<u32>, key: &str) -> Option<u64> {
    let path = pid.map_or_else(|| "/proc/self/status".to_string(), |p| format!("/proc/{p}/status"));
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|l| l.strip_prefix(key)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
}

fn mib(kib: Option<u64>) -> f64 {
    kib.map_or(f64::NAN, |k| k as f64 / 1024.0)
}

async fn password_token(http: &reqwest::Client, emu: &Emulator, upn: &str) -> String {
    let password = emu.password(upn);
    let r: serde_json::Value = http
        .post(format!("{}/oauth2/v2.0/token", emu.get("authority")))
        .form(&[
            ("grant_type", "password"),
            ("client_id", &emu.get("client_id")),
            ("username", upn),
            ("password", &password),
            ("scope", &emu.get("scope")),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    r["access_token"].as_str().unwrap_or_else(|| panic!("no token for {upn}: {r}")).to_string()
}

/// The parts of the engine's cached `TableMetadata` (JSON) the pull uses.
#[derive(serde::Deserialize)]
struct Meta {
    primary_id: String,
    columns: BTreeMap<String, Column>,
}

#[derive(serde::Deserialize)]
struct Column {
    logical_name: String,
    property: String,
    attribute_type: String,
    #[serde(default)]
    targets: Vec<String>,
}

impl Meta {
    /// As `TableMetadata::property_of`.
    fn property_of(&self, name: &str) -> Option<&Column> {
        self.columns.get(name).or_else(|| self.columns.values().find(|c| c.logical_name == name))
    }
}

/// How the engine pulls one table.
struct Plan {
    spec: TableSpec,
    select: Vec<String>,
    annotations: bool,
}

/// Built from the metadata exactly as `sync::load_metadata` (the `TableSpec`) and
/// `pull::select_columns` / `pull::table` (the `$select`, whether annotations are asked) do.
fn plan(profile: &TableProfile, meta: &Meta, annotations_setting: bool) -> Plan {
    let mut select: Vec<String> = Vec::new();
    for c in &profile.columns {
        let col = meta.property_of(c).unwrap_or_else(|| panic!("{} has no column {c}", profile.entity_set));
        if !select.contains(&col.property) {
            select.push(col.property.clone());
        }
    }
    if !select.contains(&meta.primary_id) {
        select.push(meta.primary_id.clone());
    }
    let props = |cols: &[String]| -> Vec<String> {
        cols.iter().filter_map(|c| meta.property_of(c).map(|m| m.property.clone())).collect()
    };
    let spec = TableSpec {
        entity_set: profile.entity_set.clone(),
        primary_id: meta.primary_id.clone(),
        searchable: props(&profile.searchable),
        sortable: props(&profile.sortable),
    };
    let polymorphic = select
        .iter()
        .filter_map(|p| meta.columns.get(p))
        .any(|c| matches!(c.attribute_type.as_str(), "Lookup" | "Customer" | "Owner") && c.targets.len() > 1);
    Plan { spec, select, annotations: annotations_setting && polymorphic }
}

/// Every page of the initial tracked query, as the pull requests them.
async fn capture(http: &reqwest::Client, token: &str, api_root: &str, plan: &Plan, page_size: u32) -> Vec<Vec<u8>> {
    #[derive(serde::Deserialize)]
    struct Links {
        #[serde(rename = "@odata.nextLink")]
        next: Option<String>,
        #[serde(rename = "@odata.deltaLink")]
        delta: Option<String>,
    }
    let mut prefer = vec!["odata.track-changes".to_string(), format!("odata.maxpagesize={page_size}")];
    if plan.annotations {
        prefer.push(format!("odata.include-annotations=\"{LOOKUP_ANNOTATION}\""));
    }
    let prefer = prefer.join(",");
    // Property names are plain identifiers: the pull's `encode_query` leaves them as they are.
    let mut url = format!("{api_root}{}?$select={}", plan.spec.entity_set, plan.select.join(","));
    let mut bodies = Vec::new();
    loop {
        let r = http.get(&url).bearer_auth(token).header("Prefer", &prefer).send().await.unwrap();
        assert!(r.status().is_success(), "{url}: {}", r.status());
        let body = r.bytes().await.unwrap().to_vec();
        let links: Links = serde_json::from_slice(&body).unwrap();
        bodies.push(body);
        match links.next {
            Some(next) => url = next,
            None => {
                assert!(links.delta.is_some(), "{}: last page without a delta link", plan.spec.entity_set);
                return bodies;
            }
        }
    }
}

/// Replay captured pages through the pull's parser and `apply_page` with checkpoints, as one
/// full pass. Returns (total time, time in the parser, rows).
fn replay(store: &Store, plan: &Plan, bodies: &[Vec<u8>]) -> (Duration, Duration, u64) {
    let set = &plan.spec.entity_set;
    let keep: HashSet<String> = plan.select.iter().cloned().collect();
    let select = plan.select.join(",");
    let mut parsing = Duration::ZERO;
    let mut rows_n = 0u64;
    let start = Instant::now();
    let pass = store.begin_full_pass(set, &select).unwrap();
    for body in bodies {
        let p = Instant::now();
        let (rows, next, delta) = bench_parse_page(body, &plan.spec.primary_id, &keep).unwrap();
        parsing += p.elapsed();
        let checkpoint = match next {
            Some(n) => Checkpoint::Next(n),
            None => Checkpoint::Done { delta_link: delta },
        };
        rows_n += rows.len() as u64;
        store.apply_page(set, &rows, &[], Some((Some(pass), checkpoint))).unwrap();
    }
    (start.elapsed(), parsing, rows_n)
}

/// 10 changes as admin: 4 accounts, 3 contacts, 3 tasks, different rows each round.
async fn change_rows(
    http: &reqwest::Client,
    token: &str,
    web_api: &str,
    ids: &BTreeMap<&str, Vec<String>>,
    round: usize,
) {
    for (set, column, n) in [("accounts", "name", 4), ("contacts", "jobtitle", 3), ("tasks", "subject", 3)] {
        for k in 0..n {
            let id = &ids[set][round * n + k];
            let body = serde_json::json!({ column: format!("bench change {round}.{k}") });
            let r = http
                .patch(format!("{web_api}{set}({id})"))
                .bearer_auth(token)
                .header("If-Match", "*")
                .json(&body)
                .send()
                .await
                .unwrap();
            assert!(r.status().is_success(), "PATCH {set}({id}): {}", r.status());
        }
    }
}

async fn sync_once(engine: &SyncEngine) -> (Duration, SyncSummary) {
    let start = Instant::now();
    let s = engine.sync(SyncOptions::default(), Arc::new(NoObserver)).await.unwrap();
    let took = start.elapsed();
    for t in &s.tables {
        assert!(t.error.is_none(), "{}: {:?}", t.entity_set, t.error);
    }
    assert!(s.complete && s.push_error.is_none(), "sync incomplete: {s:?}");
    (took, s)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn p50_max(mut v: Vec<Duration>) -> (f64, f64) {
    v.sort();
    (ms(v[v.len() / 2]), ms(v[v.len() - 1]))
}

/// Thousands separators for row counts and rates.
fn grouped(n: f64) -> String {
    let s = format!("{:.0}", n);
    let (sign, digits) = s.strip_prefix('-').map_or(("", s.as_str()), |d| ("-", d));
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    format!("{sign}{out}")
}

struct Figure {
    name: String,
    value: String,
    baseline: String,
    ratio: String,
}

fn fig(name: impl Into<String>, value: String, baseline: impl Into<String>, ratio: impl Into<String>) -> Figure {
    Figure { name: name.into(), value, baseline: baseline.into(), ratio: ratio.into() }
}

/// The figures as a Markdown table.
fn render(figures: &[Figure]) -> String {
    let w = [
        figures.iter().map(|f| f.name.chars().count()).max().unwrap_or(6).max(6),
        figures.iter().map(|f| f.value.chars().count()).max().unwrap_or(5).max(5),
        figures.iter().map(|f| f.baseline.chars().count()).max().unwrap_or(8).max(8),
        8,
    ];
    let pad = |t: &str, n: usize, right: bool| {
        let fill = " ".repeat(n.saturating_sub(t.chars().count()));
        if right {
            format!("{fill}{t}")
        } else {
            format!("{t}{fill}")
        }
    };
    let mut out = format!(
        "| {} | {} | {} | {} |\n|{}|{}|{}|{}|\n",
        pad("figure", w[0], false),
        pad("value", w[1], true),
        pad("baseline", w[2], true),
        pad("ratio", w[3], true),
        "-".repeat(w[0] + 2),
        "-".repeat(w[1] + 2),
        "-".repeat(w[2] + 2),
        "-".repeat(w[3] + 2),
    );
    for f in figures {
        out.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            pad(&f.name, w[0], false),
            pad(&f.value, w[1], true),
            pad(&f.baseline, w[2], true),
            pad(&f.ratio, w[3], true)
        ));
    }
    out
}

fn today() -> String {
    // Civil date from Unix days (H. Hinnant's algorithm), UTC.
    let days = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() / 86_400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn command_out(cmd: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(cmd).args(args).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn machine() -> String {
    let cpus = command_out("nproc", &[])
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(0, |n| n.get()).to_string());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| c.lines().find_map(|l| Some(l.strip_prefix("model name")?.split_once(':')?.1.trim().to_string())))
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = command_out("uname", &["-r"]).unwrap_or_else(|| "unknown".into());
    let ram = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| {
        m.lines().find_map(|l| l.strip_prefix("MemTotal:")?.trim().strip_suffix("kB")?.trim().parse::<u64>().ok())
    });
    let rustc = command_out("rustc", &["--version"]).unwrap_or_default();
    let mut s = format!("{cpus} CPUs (`nproc`), {model}, kernel {kernel}");
    if let Some(kib) = ram {
        s.push_str(&format!(", {:.0} GiB RAM", kib as f64 / 1024.0 / 1024.0));
    }
    if !rustc.is_empty() {
        s.push_str(&format!(", {rustc}"));
    }
    s
}

/// Replace this row count's block in the "## Sync" section of `docs/performance.md`, or add it
/// (after the last block, or at the end of the section; the section is appended if missing).
/// Text outside the blocks (notes written by hand) is kept.
fn write_docs(rows: usize, block_body: &str) -> std::io::Result<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/performance.md");
    let doc = std::fs::read_to_string(&path)?;
    let begin = format!("<!-- headline-bench rows={rows} begin: written by the headline bench -->");
    let end = format!("<!-- headline-bench rows={rows} end -->");
    let block = format!("{begin}\n{block_body}{end}\n");
    let new_doc = if let (Some(b), Some(e)) = (doc.find(&begin), doc.find(&end)) {
        let e = e + end.len() + usize::from(doc[e + end.len()..].starts_with('\n'));
        format!("{}{block}{}", &doc[..b], &doc[e..])
    } else {
        // Byte offsets of the section: its heading line up to the next "## " heading.
        let mut offset = 0usize;
        let mut start = None;
        let mut stop = doc.len();
        for line in doc.split_inclusive('\n') {
            let t = line.trim_end();
            if start.is_none() && t == SECTION_HEADING {
                start = Some(offset);
            } else if start.is_some() && t.starts_with("## ") {
                stop = offset;
                break;
            }
            offset += line.len();
        }
        match start {
            None => format!("{}\n\n{SECTION_INTRO}\n{block}", doc.trim_end()),
            Some(start) => {
                let section = &doc[start..stop];
                // After the last block of the section, else at its end (before trailing blank lines).
                let at = match section.rfind("<!-- headline-bench rows=") {
                    Some(i) => start + i + section[i..].find("-->\n").map_or(section.len() - i, |k| k + 4),
                    None => start + section.trim_end().len(),
                };
                let (head, tail) = doc.split_at(at);
                let head = head.trim_end_matches('\n');
                let tail = tail.trim_start_matches('\n');
                let gap = if tail.is_empty() { "" } else { "\n" };
                format!("{head}\n\n{block}{gap}{tail}")
            }
        }
    };
    std::fs::write(&path, new_doc)?;
    Ok(path)
}

const SECTION_HEADING: &str = "## Headline figures";

const SECTION_INTRO: &str = "## Headline figures

`bash scripts/bench.sh` (issue 8): builds the emulator (release) and the bindings library
(`mobile` profile), then runs `cargo bench -p outpost-core --features bench-internals --bench
headline` with `OUTPOST_BENCH_WRITE_DOCS=1`, which rewrites the blocks below. What each row
measures is in the bench's header comment (`core/benches/headline.rs`); the sections after this
one are the earlier, separate benches that the headline bench grew out of.
";

fn env_usize(key: &str) -> Option<usize> {
    std::env::var(key).ok().and_then(|s| s.parse().ok())
}

fn main() -> ExitCode {
    let rows =
        env_usize("OUTPOST_BENCH_ROWS").or_else(|| env_usize("OUTPOST_BENCH_SYNC_ROWS")).unwrap_or(100_000).max(100);
    let opts = Options {
        gb_rows: env_usize("OUTPOST_BENCH_GB_ROWS").unwrap_or(1_000_000),
        rss_rows: env_usize("OUTPOST_BENCH_RSS_ROWS").unwrap_or(GOAL_RSS_ROWS),
    };
    let Some(bin) = emulator_binary() else {
        eprintln!(
            "bench: the emulator binary was not found next to this bench (expected {}).\n\
             Build it first, with the same target directory:\n    cargo build --release -p outpost-emulator\n\
             (scripts/bench.sh does this)",
            std::env::current_exe()
                .ok()
                .and_then(|e| Some(e.parent()?.parent()?.join("outpost-emulator")))
                .map_or_else(|| "<target-dir>/release/outpost-emulator".into(), |p| p.display().to_string())
        );
        return ExitCode::FAILURE;
    };
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    if let Some(n) = env_usize("OUTPOST_BENCH_RSS_CHILD") {
        rt.block_on(rss_child_main(&bin, n));
        return ExitCode::SUCCESS;
    }
    rt.block_on(run(&bin, rows, &opts));
    ExitCode::SUCCESS
}

async fn run(bin: &Path, rows: usize, opts: &Options) {
    let profile = SyncProfile::default_profile();
    let config = SyncConfig::default();
    eprintln!("sync bench: starting {} with {rows} rows", bin.display());
    let emu = Emulator::start(bin, rows);
    let emu_pid = emu.child.id();
    let org = OrgUrl::parse(&emu.get("org_url")).unwrap();
    let api_root = format!("{}/api/data/{}/", org.as_str().trim_end_matches('/'), config.api_version);

    // --- 1. Initial sync.
    let dir = tempfile::tempdir().unwrap();
    let fast = CreateOptions { kdf: KdfParams::FLOOR, ..CreateOptions::default() };
    let (vault, auth, engine) = signed_in(&emu, &org, dir.path(), &profile, &config).await;
    let rss_before = status_kib(None, "VmRSS");
    eprintln!("sync bench: initial sync");
    let (initial, summary) = sync_once(&engine).await;
    let hwm = status_kib(None, "VmHWM");
    let rss_after = status_kib(None, "VmRSS");
    let pulled = summary.rows_pulled();
    assert_eq!(pulled, rows as u64, "initial sync pulled {pulled} rows, expected {rows}");
    let sync_rate = pulled as f64 / initial.as_secs_f64();
    let bytes: u64 = summary.tables.iter().map(|t| t.bytes).sum();
    let pages: u64 = summary.tables.iter().map(|t| t.pages).sum();

    // --- 2. Raw-ingest floor, same bodies, replayed from memory.
    eprintln!("sync bench: raw-ingest floor (capture, then replay)");
    let store = vault.shared_store();
    let http = reqwest::Client::new();
    let bob_token = password_token(&http, &emu, BOB).await;
    let floor_dir = tempfile::tempdir().unwrap();
    let floor_vault = Vault::create(&floor_dir.path().join("vault"), PASSWORD, &fast).unwrap();
    let plain = Store::open_unkeyed_for_bench(&floor_dir.path().join("plain.db")).unwrap();
    let engine_specs = store.tables().unwrap();
    let late_dir = tempfile::tempdir().unwrap();
    let late_vault = Vault::create(late_dir.path(), PASSWORD, &fast).unwrap();
    let (mut keyed_t, mut plain_t, mut parse_t, mut floor_rows, mut captured) =
        (Duration::ZERO, Duration::ZERO, Duration::ZERO, 0u64, 0usize);
    let (mut late_ingest_t, mut late_index_t) = (Duration::ZERO, Duration::ZERO);
    for t in &profile.tables {
        let state = store.sync_state(&t.entity_set).unwrap();
        let meta: Meta = serde_json::from_str(state.metadata.as_deref().unwrap()).unwrap();
        let plan = plan(t, &meta, state.annotations);
        // The engine's own bookkeeping must agree with this plan.
        assert_eq!(state.select_columns.as_deref(), Some(plan.select.join(",").as_str()), "$select differs");
        assert!(engine_specs.contains(&plan.spec), "TableSpec differs: {:?} vs {engine_specs:?}", plan.spec);
        let bodies = capture(&http, &bob_token, &api_root, &plan, config.page_size).await;
        captured += bodies.iter().map(Vec::len).sum::<usize>();
        floor_vault.store().register_table(&plan.spec).unwrap();
        plain.register_table(&plan.spec).unwrap();
        let (k, p, n) = replay(floor_vault.store(), &plan, &bodies);
        keyed_t += k;
        parse_t += p;
        floor_rows += n;
        let (k, _, _) = replay(&plain, &plan, &bodies);
        plain_t += k;
        // The same ingest with the full-text index built afterwards, in one pass over the table.
        let without_fts = TableSpec { searchable: Vec::new(), ..plan.spec.clone() };
        late_vault.store().register_table(&without_fts).unwrap();
        let (k, _, _) = replay(late_vault.store(), &plan, &bodies);
        late_ingest_t += k;
        let started = Instant::now();
        late_vault.store().register_table(&plan.spec).unwrap();
        late_index_t += started.elapsed();
        drop(bodies);
        // Same rows as the engine stored (first 200 records of the table).
        let q = Query { limit: 200, ..Query::default() };
        let a: Vec<_> =
            store.query(&t.entity_set, &q).unwrap().records.into_iter().map(|r| (r.id, r.values, r.etag)).collect();
        let b: Vec<_> = floor_vault
            .store()
            .query(&t.entity_set, &q)
            .unwrap()
            .records
            .into_iter()
            .map(|r| (r.id, r.values, r.etag))
            .collect();
        assert!(a == b, "{}: replayed rows differ from the synced rows", t.entity_set);
    }
    assert_eq!(floor_rows, pulled);
    let floor_rate = floor_rows as f64 / keyed_t.as_secs_f64();
    let plain_rate = floor_rows as f64 / plain_t.as_secs_f64();
    let parse_rate = floor_rows as f64 / parse_t.as_secs_f64();
    let late_rate = floor_rows as f64 / (late_ingest_t + late_index_t).as_secs_f64();
    drop(plain);
    late_vault.lock().unwrap();
    floor_vault.lock().unwrap();

    // --- 3. Incremental sync: 10 server changes, then one sync; 5 rounds. Then unchanged syncs.
    eprintln!("sync bench: incremental syncs");
    let admin_token = password_token(&http, &emu, ADMIN).await;
    let web_api = emu.get("web_api");
    let control = emu.get("control");
    let mut ids: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for set in ["accounts", "contacts", "tasks"] {
        let r: serde_json::Value = http
            .get(format!("{control}/tables/{set}/ids?limit={}", ROUNDS * 4))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let list: Vec<String> = r["ids"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
        ids.insert(set, list);
    }
    let mut incremental = Vec::new();
    let mut incr_requests = 0;
    for round in 0..ROUNDS {
        change_rows(&http, &admin_token, &web_api, &ids, round).await;
        let (took, s) = sync_once(&engine).await;
        assert_eq!(s.rows_pulled(), 10, "round {round}: the incremental sync pulled {} rows", s.rows_pulled());
        incr_requests = s.requests;
        incremental.push(took);
    }
    let mut unchanged = Vec::new();
    let mut idle_requests = 0;
    for _ in 0..ROUNDS {
        let (took, s) = sync_once(&engine).await;
        assert_eq!(s.rows_pulled(), 0);
        idle_requests = s.requests;
        unchanged.push(took);
    }
    let rounds_ms: Vec<String> = incremental.iter().map(|d| format!("{:.1}", ms(*d))).collect();
    let idle_ms: Vec<String> = unchanged.iter().map(|d| format!("{:.1}", ms(*d))).collect();
    let (inc_p50, inc_max) = p50_max(incremental);
    let (idle_p50, idle_max) = p50_max(unchanged);

    // --- 4. Push of 1,000 local updates: batched (the default), one row per request, and
    //        10 per batch several at once (Microsoft's advice for bulk writes).
    eprintln!("bench: push of {PUSH_ROWS} local updates, three ways");
    let account_ids: Vec<String> = {
        let q = Query { limit: (PUSH_VARIANTS.len() * PUSH_ROWS) as u32, ..Query::default() };
        store.query("accounts", &q).unwrap().records.into_iter().map(|r| r.id).collect()
    };
    assert_eq!(account_ids.len(), PUSH_VARIANTS.len() * PUSH_ROWS, "not enough accounts for the push bench");
    let mut pushes = Vec::new();
    for (k, (label, batch, parallel)) in PUSH_VARIANTS.iter().enumerate() {
        let cfg = SyncConfig {
            push_batch_size: *batch,
            concurrency: *parallel,
            max_requests_in_flight: (*parallel).max(config.max_requests_in_flight),
            ..config.clone()
        };
        let e = SyncEngine::new(store.clone(), auth.clone(), &org, profile.clone(), cfg).unwrap();
        for id in &account_ids[k * PUSH_ROWS..(k + 1) * PUSH_ROWS] {
            let v = [("telephone1".to_string(), Value::text(format!("push bench {k}")))].into();
            store.update("accounts", id, v).unwrap();
        }
        // Same starting point for each variant: the WAL of the loads and edits before it folded
        // into the database first (else the first variant pays for that checkpoint).
        store.checkpoint().unwrap();
        let start = Instant::now();
        let s = e.sync(SyncOptions { pull: false, ..SyncOptions::default() }, Arc::new(NoObserver)).await.unwrap();
        let took = start.elapsed();
        assert_eq!(s.push.pushed, PUSH_ROWS as u64, "{label}: {s:?}");
        assert_eq!(store.pending_count().unwrap(), 0, "{label}");
        pushes.push((*label, s.requests, s.push.batches, took));
    }
    let emu_hwm = status_kib(Some(emu_pid), "VmHWM");
    drop(emu);
    vault.lock().unwrap();

    // --- 5 and 6. The vault (unlock, password change, re-wrap, rekey) and local reads.
    eprintln!("bench: vault and local reads");
    let vault_figs = vault_figures(opts.gb_rows);
    let read_figs = read_figures(rows);

    // --- 2. Peak RSS over an initial sync of 1,000,000 rows, in a child process of its own.
    let big = (opts.rss_rows > 0).then(|| rss_child(opts.rss_rows));

    // --- 7. The bindings library.
    let lib = library_size();

    // --- Report.
    let ratio = sync_rate / floor_rate;
    let hwm_mib = mib(hwm);
    let late_ratio = late_rate / floor_rate;
    let mut figures = vec![
        fig(
            format!("1. initial sync, {} rows, 3 tables", grouped(rows as f64)),
            format!("{:.2} s", initial.as_secs_f64()),
            format!("{pages} pages, {:.0} MB", bytes as f64 / 1e6),
            format!("{} req", summary.requests),
        ),
        fig(
            "   initial sync rate",
            format!("{} rows/s", grouped(sync_rate)),
            format!("floor {} rows/s", grouped(floor_rate)),
            format!("{ratio:.2}"),
        ),
        fig(
            "   raw-ingest floor, SQLCipher (parse + apply_page)",
            format!("{} rows/s", grouped(floor_rate)),
            format!("unkeyed {} rows/s", grouped(plain_rate)),
            format!("{:.2}", floor_rate / plain_rate),
        ),
        fig("   raw-ingest floor, unkeyed SQLite", format!("{} rows/s", grouped(plain_rate)), "-", "-"),
        fig(
            "   floor with the FTS index built after the load",
            format!("{} rows/s", grouped(late_rate)),
            format!("floor {} rows/s", grouped(floor_rate)),
            format!("{late_ratio:.2}"),
        ),
        fig(
            "     of which the index build",
            format!("{:.2} s", late_index_t.as_secs_f64()),
            format!("ingest {:.2} s", late_ingest_t.as_secs_f64()),
            "-",
        ),
        fig(
            "   parser alone (inside the SQLCipher floor)",
            format!("{} rows/s", grouped(parse_rate)),
            format!("{:.0} % of floor time", 100.0 * parse_t.as_secs_f64() / keyed_t.as_secs_f64()),
            "-",
        ),
        fig(
            format!("2. client peak RSS, initial sync of {} rows", grouped(rows as f64)),
            format!("{hwm_mib:.1} MiB"),
            format!("before {:.1}, after {:.1} MiB", mib(rss_before), mib(rss_after)),
            "-",
        ),
    ];
    if let Some(b) = &big {
        figures.push(fig(
            format!("   client peak RSS, initial sync of {} rows", grouped(b.rows as f64)),
            format!("{:.1} MiB", b.hwm_mib),
            format!("goal {GOAL_RSS_MIB:.0} MiB"),
            format!("{:.2}", b.hwm_mib / GOAL_RSS_MIB),
        ));
        figures.push(fig(
            format!("     (that sync: {} rows/s)", grouped(b.rate)),
            format!("{:.0} s", b.seconds),
            "own process and emulator",
            "-",
        ));
    }
    figures.push(fig("   emulator peak RSS (own process, not counted)", format!("{:.1} MiB", mib(emu_hwm)), "-", "-"));
    figures.extend([
        fig(
            "3. incremental sync, 10 changes, p50 of 5",
            format!("{inc_p50:.1} ms"),
            format!("goal {GOAL_INCREMENTAL_MS:.0} ms"),
            format!("{:.2}", inc_p50 / GOAL_INCREMENTAL_MS),
        ),
        fig(
            "   incremental sync, 10 changes, max of 5",
            format!("{inc_max:.1} ms"),
            format!("goal {GOAL_INCREMENTAL_MS:.0} ms"),
            format!("{:.2}", inc_max / GOAL_INCREMENTAL_MS),
        ),
        fig(
            "   sync with nothing changed, p50 / max of 5",
            format!("{idle_p50:.1} / {idle_max:.1} ms"),
            format!("10 changes p50 {inc_p50:.1} ms"),
            format!("{:.2}", idle_p50 / inc_p50),
        ),
    ]);
    let base_push = pushes[0].3.as_secs_f64();
    for (i, (label, requests, batches, took)) in pushes.iter().enumerate() {
        figures.push(fig(
            format!("{}push {PUSH_ROWS} updates: {label}", if i == 0 { "4. " } else { "   " }),
            format!("{requests} req, {:.2} s", took.as_secs_f64()),
            if i == 0 { format!("goal {GOAL_PUSH_REQUESTS} req") } else { format!("default {:.2} s", base_push) },
            if i == 0 {
                format!("{:.2}", *requests as f64 / GOAL_PUSH_REQUESTS as f64)
            } else {
                format!("{:.2}", took.as_secs_f64() / base_push)
            },
        ));
        let _ = batches;
    }
    figures.extend(vault_figs);
    figures.extend(read_figs);
    figures.push(match &lib {
        Some((bytes, _)) => fig(
            "7. bindings library, stripped (x86_64 Linux; arm64 unmeasured)",
            format!("{:.1} MiB", *bytes as f64 / 1024.0 / 1024.0),
            format!("goal {:.0} MB", GOAL_LIB_BYTES as f64 / 1e6),
            format!("{:.2}", *bytes as f64 / GOAL_LIB_BYTES as f64),
        ),
        None => fig("7. bindings library, stripped", "not built".into(), "scripts/bench.sh builds it".to_string(), "-"),
    });
    let table = render(&figures);
    println!();
    print!("{table}");
    let detail = format!(
        "Requests per sync: incremental {incr_requests}, unchanged {idle_requests}. Incremental rounds, in order: \
         {} ms; unchanged: {} ms. Push requests are `$batch` requests (the metadata probe included).",
        rounds_ms.join(", "),
        idle_ms.join(", ")
    );
    println!("{detail} (Captured {:.0} MB of bodies.)", captured as f64 / 1e6);

    let verdict = |ok: bool| if ok { "**met**" } else { "**missed**" };
    let mut goals = vec![
        format!(
            "initial sync ≥ {GOAL_FLOOR_RATIO} × raw-ingest floor: {} ({ratio:.2}; building the index after the load \
             would run at {late_ratio:.2} × the floor)",
            verdict(ratio >= GOAL_FLOOR_RATIO)
        ),
        format!(
            "incremental 10-change sync ≤ {GOAL_INCREMENTAL_MS:.0} ms: p50 {} ({inc_p50:.1} ms), max {} ({inc_max:.1} ms)",
            verdict(inc_p50 <= GOAL_INCREMENTAL_MS),
            verdict(inc_max <= GOAL_INCREMENTAL_MS)
        ),
        format!(
            "push of {PUSH_ROWS} updates in ≤ {GOAL_PUSH_REQUESTS} requests: {} ({})",
            verdict(pushes[0].1 <= GOAL_PUSH_REQUESTS),
            pushes[0].1
        ),
    ];
    match &big {
        Some(b) => goals.push(format!(
            "peak RSS ≤ {GOAL_RSS_MIB:.0} MiB at {} rows: {} ({:.1} MiB)",
            grouped(b.rows as f64),
            verdict(b.hwm_mib <= GOAL_RSS_MIB),
            b.hwm_mib
        )),
        None => goals.push("peak RSS at 1,000,000 rows: not measured in this run".into()),
    }
    if let Some((bytes, _)) = &lib {
        goals.push(format!(
            "library ≤ {:.0} MB stripped: {} ({:.1} MB)",
            GOAL_LIB_BYTES as f64 / 1e6,
            verdict(*bytes <= GOAL_LIB_BYTES),
            *bytes as f64 / 1e6
        ));
    }
    let goals = format!("Goals: {}. The vault and search goals are read off rows 5 and 6.", goals.join("; "));
    println!("{goals}");

    if std::env::var("OUTPOST_BENCH_WRITE_DOCS").is_ok_and(|v| v == "1") {
        let rows_env = if rows == 100_000 { String::new() } else { format!("OUTPOST_BENCH_ROWS={rows} ") };
        let data = format!(
            "emulator seed {SEED}, {} accounts / {} contacts / {} tasks, {:.0} MB of page bodies \
             ({:.0} bytes per row), {} requests; local reads and the vault on the synthetic ~1 KB rows of the \
             store bench",
            grouped((rows / 2) as f64),
            grouped((rows / 10 * 3) as f64),
            grouped((rows - rows / 2 - rows / 10 * 3) as f64),
            bytes as f64 / 1e6,
            bytes as f64 / rows as f64,
            summary.requests
        );
        let body = format!(
            "### {} rows\n\n\
             - **Command:** `{rows_env}bash scripts/bench.sh`\n\
             - **Machine:** {}. **Date:** {}.\n\
             - **Data:** {data}.\n\n\
             {table}\n{detail}\n\n{goals}\n",
            grouped(rows as f64),
            machine(),
            today(),
        );
        match write_docs(rows, &body) {
            Ok(p) => println!("wrote the headline section of {}", p.display()),
            Err(e) => eprintln!("bench: cannot write docs/performance.md: {e}"),
        }
    }
}

/// Unlock at the default parameters, change_password, the re-wrap alone at 1 MB and 1 GB, and
/// `PRAGMA rekey` of the same data (through `rotate_data_key`) for information.
fn vault_figures(gb_rows: usize) -> Vec<Figure> {
    let unlock_ms = store_bench::unlock_median_ms();
    let mut out =
        vec![fig("5. unlock, default params 64 MiB/t=3/p=4, median of 5", format!("{unlock_ms:.1} ms"), "-", "-")];
    let mut rewrap_small: Option<f64> = None;
    for (label, n) in [("1 MB", 1_000usize), ("1 GB", gb_rows)] {
        if n == 0 {
            continue;
        }
        let m = store_bench::password_change(n);
        out.push(fig(
            format!("   change_password, {label} db ({:.0} MB), median of 3", m.size_mb),
            format!("{:.1} ms", m.change_ms),
            format!("unlock {unlock_ms:.1} ms"),
            format!("{:.2}", m.change_ms / unlock_ms),
        ));
        let rewrap = m.rewrap_ms;
        let (base, ratio) = match rewrap_small {
            None => (format!("goal {GOAL_REWRAP_MS:.0} ms"), format!("{:.2}", rewrap / GOAL_REWRAP_MS)),
            Some(small) => (format!("1 MB db {small:.2} ms"), format!("{:.2}", rewrap / small)),
        };
        rewrap_small.get_or_insert(rewrap);
        out.push(fig(format!("   re-wrap + keyslot write alone, {label} db"), format!("{rewrap:.2} ms"), base, ratio));
        out.push(fig(
            format!("   PRAGMA rekey (rotate_data_key, KDF included), {label} db"),
            format!("{:.0} ms", m.rekey_ms),
            format!("re-wrap {rewrap:.2} ms"),
            "-",
        ));
    }
    out
}

/// Local reads at `rows` rows of ~1 KB (the store bench's data, with known term frequencies), warm
/// (the same connection, repeated) and cold (each sample on a freshly unlocked vault: SQLite's page
/// cache empty; the OS's page cache is dropped too when this process may, and the row says so).
fn read_figures(rows: usize) -> Vec<Figure> {
    let fast = CreateOptions { kdf: KdfParams::FLOOR, ..CreateOptions::default() };
    let d = tempfile::tempdir().unwrap();
    let v = Vault::create(d.path(), PASSWORD, &fast).unwrap();
    store_bench::fill(v.store(), rows, true);
    v.store().checkpoint().unwrap();
    v.lock().unwrap();
    let id = "00001092-0000-4000-8000-000000001092";
    let page = Query {
        filter: Some(Filter::And(vec![
            Filter::Contains("name".into(), "harbour".into()),
            Filter::Gt("numberofemployees".into(), Value::Int(100)),
        ])),
        limit: 50,
        ..Query::default()
    };
    type Probe = Box<dyn Fn(&Store)>;
    let mut probes: Vec<(String, Probe, f64)> = vec![
        (
            "get by id".into(),
            Box::new(move |s: &Store| {
                s.get("accounts", id).unwrap().unwrap();
            }),
            f64::NAN,
        ),
        (
            "filtered page of 50 (contains + gt)".into(),
            Box::new(move |s: &Store| assert_eq!(s.query("accounts", &page).unwrap().records.len(), 50)),
            f64::NAN,
        ),
    ];
    for (label, q, min, goal) in [
        ("FTS selective term \"zymurgy\", top 20", "zymurgy", 1, GOAL_FTS_SELECTIVE_MS),
        ("FTS prefix \"zymu*\", top 20", "zymu*", 1, GOAL_FTS_SELECTIVE_MS),
        ("FTS two terms \"copper willow\", top 20", "copper willow", 20, GOAL_FTS_COMMON_MS),
        ("FTS term in 12.5 % of rows \"frequent\", top 20", "frequent", 20, GOAL_FTS_COMMON_MS),
    ] {
        probes.push((
            label.into(),
            Box::new(move |s: &Store| assert!(s.search("accounts", q, 20).unwrap().len() >= min)),
            goal,
        ));
    }
    let opened = || Vault::unlock(d.path(), PASSWORD, &OpenOptions::default()).unwrap();
    let dropped_os_cache = drop_os_cache();
    let mut out = Vec::new();
    for (i, (label, probe, goal)) in probes.iter().enumerate() {
        let v = opened();
        let (w50, w95) = store_bench::time_n(100, || probe(v.store()));
        v.lock().unwrap();
        let mut cold = Vec::new();
        for _ in 0..15 {
            if dropped_os_cache {
                drop_os_cache();
            }
            let v = opened();
            let s = Instant::now();
            probe(v.store());
            cold.push(s.elapsed());
            v.lock().unwrap();
        }
        let (c50, c95) = store_bench::percentiles(cold);
        let (base, ratio) = if goal.is_nan() {
            ("-".to_string(), "-".to_string())
        } else {
            (format!("goal p50 {goal:.0} ms"), format!("{:.2}", w50 / goal))
        };
        let lead = if i == 0 { format!("6. {} rows: ", grouped(rows as f64)) } else { "   ".into() };
        out.push(fig(format!("{lead}{label}, warm p50 / p95"), format!("{w50:.3} / {w95:.3} ms"), base, ratio));
        out.push(fig(
            format!(
                "     cold ({}), p50 / p95",
                if dropped_os_cache { "new connection, OS cache dropped" } else { "new connection" }
            ),
            format!("{c50:.2} / {c95:.2} ms"),
            format!("warm p50 {w50:.3} ms"),
            format!("{:.1}", c50 / w50),
        ));
    }
    out
}

/// Drop the OS page cache (Linux, root only). Whether it worked.
fn drop_os_cache() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3\n").is_ok()
}

struct BigSync {
    rows: usize,
    hwm_mib: f64,
    rate: f64,
    seconds: f64,
}

/// Re-runs this bench as a child that does only an initial sync of `rows` rows (its own emulator
/// process) and reports its peak RSS: the 100,000-row run's buffers and caches do not count.
fn rss_child(rows: usize) -> BigSync {
    eprintln!("bench: initial sync of {rows} rows in a child process, for its peak RSS");
    let out = Command::new(std::env::current_exe().unwrap())
        .env("OUTPOST_BENCH_RSS_CHILD", rows.to_string())
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "the RSS child failed: {text}");
    let field = |k: &str| -> f64 {
        text.lines()
            .find_map(|l| l.strip_prefix(k)?.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {k} from the RSS child: {text}"))
    };
    BigSync { rows, hwm_mib: field("HWM_MIB="), rate: field("RATE="), seconds: field("SECONDS=") }
}

/// A fresh vault (`KdfParams::FLOOR`) in `dir`, signed in as bob with the password grant, and its
/// sync engine.
async fn signed_in(
    emu: &Emulator,
    org: &OrgUrl,
    dir: &Path,
    profile: &SyncProfile,
    config: &SyncConfig,
) -> (Vault, Arc<Auth>, SyncEngine) {
    let fast = CreateOptions { kdf: KdfParams::FLOOR, ..CreateOptions::default() };
    let vault = Vault::create(dir, PASSWORD, &fast).unwrap();
    let auth = Auth::new(
        AuthConfig {
            org: org.clone(),
            client_id: emu.get("client_id"),
            redirect_uri: "http://127.0.0.1:53682".into(),
            authority: Some(format!("{}/v2.0", emu.get("authority"))),
            tenant: None,
            allow_password_grant: true,
        },
        vault.shared_store(),
    )
    .unwrap();
    auth.sign_in_with_password(BOB, emu.password(BOB).as_bytes()).await.unwrap();
    let auth = Arc::new(auth);
    let engine = SyncEngine::new(vault.shared_store(), auth.clone(), org, profile.clone(), config.clone()).unwrap();
    (vault, auth, engine)
}

/// The child side of [`rss_child`].
async fn rss_child_main(bin: &Path, rows: usize) {
    let emu = Emulator::start(bin, rows);
    let org = OrgUrl::parse(&emu.get("org_url")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (vault, _auth, engine) =
        signed_in(&emu, &org, dir.path(), &SyncProfile::default_profile(), &SyncConfig::default()).await;
    let (took, s) = sync_once(&engine).await;
    assert_eq!(s.rows_pulled(), rows as u64);
    println!("HWM_MIB={:.1}", mib(status_kib(None, "VmHWM")));
    println!("RATE={:.0}", rows as f64 / took.as_secs_f64());
    println!("SECONDS={:.1}", took.as_secs_f64());
    drop(emu);
    vault.lock().unwrap();
}

/// The stripped mobile build of the bindings library, if built (`scripts/bench.sh` builds it).
fn library_size() -> Option<(u64, String)> {
    let target = std::env::current_exe().ok()?.parent()?.parent()?.parent()?.to_path_buf();
    let path = target.join("mobile").join(format!(
        "{}outpost_ffi{}",
        std::env::consts::DLL_PREFIX,
        std::env::consts::DLL_SUFFIX
    ));
    let len = std::fs::metadata(&path).ok()?.len();
    Some((len, "`cargo build --profile mobile -p outpost-ffi`".into()))
}
