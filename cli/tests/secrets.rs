//! Nothing leaked: a full `outpost demo --auto`, and the CLI's own command sequence against the
//! emulator, run with TRACE logging from every `tracing` target (`-vvv`), through a recording proxy
//! that captures the real secrets on the wire (access, refresh and ID tokens, authorization
//! codes, the PKCE verifier, the sign-in password and the MFA code). Every log line, standard
//! output, and every byte of every file the runs leave (vault database, `-wal`, `-shm`, keyslot
//! file, `cli.json`, any temp file) is then searched for those secrets, the offline passwords,
//! the data key (obtained through a recording platform-key provider) and a sample of record
//! values, each in raw, percent-encoded, base64/base64url (padded or not, any alignment) and
//! JSON-escaped forms. File modes are checked too.
//!
//! Positive controls keep it from passing vacuously: the proxy must have captured every kind of
//! secret, the record values must be found in the captured (plaintext) HTTP responses, and a
//! value planted into a copy of the database bytes and into a log line must be found.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::collections::BTreeSet;
use std::io::{Read as _, Write as _};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use assert_cmd::Command;
use outpost_core::{OpenOptions, PlatformKeyError, PlatformKeyProvider, Query, Value, Values, Vault};
use outpost_emulator::{defaults, Emulator, EmulatorConfig};
use zeroize::Zeroizing;

const OFFLINE_PASSWORD: &str = "secrets-test offline pw \"7/+=%&\\ Zq";
const NEW_OFFLINE_PASSWORD: &str = "rotated offline pw 9#kX/+==";
const DEMO_WRONG_PASSWORD: &str = "not the password"; // cli/src/demo.rs

// ---------------------------------------------------------------------------- recording proxy

/// One request and its response, as bytes on the wire.
struct Exchange {
    request: Vec<u8>,
    response: Vec<u8>,
}

/// A plain-HTTP forward proxy on loopback (`HTTP_PROXY`): one request per client connection,
/// forwarded to the host in its absolute-form target, everything recorded.
struct Proxy {
    url: String,
    log: Arc<Mutex<Vec<Exchange>>>,
}

impl Proxy {
    fn start() -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let log = Arc::new(Mutex::new(Vec::new()));
        let l = log.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let l = l.clone();
                std::thread::spawn(move || {
                    if let Some(x) = forward(conn) {
                        l.lock().unwrap().push(x);
                    }
                });
            }
        });
        Proxy { url, log }
    }

    fn exchanges(&self) -> std::sync::MutexGuard<'_, Vec<Exchange>> {
        self.log.lock().unwrap()
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || needle.len() > hay.len() {
        return None;
    }
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Splits an HTTP message into its head (text) and body (de-chunked).
fn split_message(msg: &[u8]) -> (String, Vec<u8>) {
    let Some(end) = find(msg, b"\r\n\r\n") else { return (String::from_utf8_lossy(msg).into_owned(), Vec::new()) };
    let head = String::from_utf8_lossy(&msg[..end]).into_owned();
    let raw = &msg[end + 4..];
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        let mut body = Vec::new();
        let mut rest = raw;
        while let Some(eol) = find(rest, b"\r\n") {
            let size =
                usize::from_str_radix(String::from_utf8_lossy(&rest[..eol]).split(';').next().unwrap().trim(), 16)
                    .unwrap_or(0);
            if size == 0 || eol + 2 + size > rest.len() {
                break;
            }
            body.extend_from_slice(&rest[eol + 2..eol + 2 + size]);
            rest = &rest[(eol + 4 + size).min(rest.len())..];
        }
        (head, body)
    } else {
        (head, raw.to_vec())
    }
}

fn forward(mut client: TcpStream) -> Option<Exchange> {
    client.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    let head_end = loop {
        if let Some(p) = find(&buf, b"\r\n\r\n") {
            break p;
        }
        let n = client.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let request_line = lines.next()?.to_string();
    let mut parts = request_line.splitn(3, ' ');
    let (method, target, version) = (parts.next()?, parts.next()?, parts.next()?);
    let url = url::Url::parse(target).ok()?;
    let mut out = format!("{method} {}", &url[url::Position::BeforePath..]);
    out.push_str(&format!(" {version}\r\n"));
    let mut content_length = 0usize;
    let mut chunked = false;
    for line in lines {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:")
            || lower.starts_with("proxy-connection:")
            || lower.starts_with("keep-alive:")
        {
            continue;
        }
        if let Some(v) = lower.strip_prefix("content-length:") {
            content_length = v.trim().parse().unwrap_or(0);
        }
        if lower.starts_with("transfer-encoding:") && lower.contains("chunked") {
            chunked = true;
        }
        out.push_str(line);
        out.push_str("\r\n");
    }
    out.push_str("Connection: close\r\n\r\n");
    let body_start = head_end + 4;
    loop {
        let have = buf.len() - body_start;
        let done = if chunked { buf[body_start..].ends_with(b"0\r\n\r\n") } else { have >= content_length };
        if done {
            break;
        }
        let n = client.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut request = out.into_bytes();
    request.extend_from_slice(&buf[body_start..]);
    let host = url.host_str()?.to_string();
    let port = url.port_or_known_default()?;
    let mut upstream = TcpStream::connect((host.as_str(), port)).ok()?;
    upstream.set_read_timeout(Some(Duration::from_secs(120))).ok()?;
    upstream.write_all(&request).ok()?;
    let mut response = Vec::new();
    let _ = upstream.read_to_end(&mut response);
    let _ = client.write_all(&response);
    let _ = client.flush();
    // The original request (absolute-form target) is what is recorded.
    Some(Exchange { request: buf, response })
}

/// What the proxy saw: each kind of secret, by kind.
#[derive(Default, Debug)]
struct Captured {
    access_tokens: BTreeSet<String>,
    refresh_tokens: BTreeSet<String>,
    id_tokens: BTreeSet<String>,
    codes: BTreeSet<String>,
    verifiers: BTreeSet<String>,
    passwords: BTreeSet<String>,
    mfa_codes: BTreeSet<String>,
    other: BTreeSet<String>,
}

impl Captured {
    fn from(exchanges: &[Exchange]) -> Captured {
        let mut c = Captured::default();
        for x in exchanges {
            let (head, body) = split_message(&x.request);
            let first = head.lines().next().unwrap_or_default().to_string();
            for line in head.lines().skip(1) {
                let lower = line.to_ascii_lowercase();
                if let Some(v) = lower.strip_prefix("authorization: bearer ") {
                    c.access_tokens.insert(line[line.len() - v.len()..].trim().to_string());
                }
            }
            let target = first.split(' ').nth(1).unwrap_or_default();
            let query = url::Url::parse(target).ok().and_then(|u| u.query().map(str::to_string)).unwrap_or_default();
            let form = if head.to_ascii_lowercase().contains("application/x-www-form-urlencoded") {
                String::from_utf8_lossy(&body).into_owned()
            } else {
                String::new()
            };
            for pairs in [query.as_str(), form.as_str()] {
                for (k, v) in url::form_urlencoded::parse(pairs.as_bytes()) {
                    let v = v.into_owned();
                    match k.as_ref() {
                        "code" => c.codes.insert(v),
                        "code_verifier" => c.verifiers.insert(v),
                        "refresh_token" => c.refresh_tokens.insert(v),
                        "password" | "passwd" => c.passwords.insert(v),
                        "otc" if v.len() == 6 && v.bytes().all(|b| b.is_ascii_digit()) => c.mfa_codes.insert(v),
                        "otc" | "device_code" | "client_assertion" | "assertion" => c.other.insert(v),
                        _ => false,
                    };
                }
            }
            let (rhead, rbody) = split_message(&x.response);
            for line in rhead.lines() {
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("location:") {
                    let loc = line[line.len() - v.len()..].trim();
                    if let Ok(u) = url::Url::parse(loc) {
                        for (k, v) in u.query_pairs() {
                            if k == "code" {
                                c.codes.insert(v.into_owned());
                            }
                        }
                    }
                }
            }
            if let Ok(j) = serde_json::from_slice::<serde_json::Value>(&rbody) {
                for (k, set) in [
                    ("access_token", &mut c.access_tokens),
                    ("refresh_token", &mut c.refresh_tokens),
                    ("id_token", &mut c.id_tokens),
                    ("device_code", &mut c.other),
                ] {
                    if let Some(v) = j.get(k).and_then(|v| v.as_str()) {
                        set.insert(v.to_string());
                    }
                }
            }
        }
        c
    }

    fn needles(&self) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        for (kind, set) in [
            ("access token", &self.access_tokens),
            ("refresh token", &self.refresh_tokens),
            ("ID token", &self.id_tokens),
            ("authorization code", &self.codes),
            ("PKCE verifier", &self.verifiers),
            ("sign-in password", &self.passwords),
            ("device code / assertion", &self.other),
        ] {
            for (i, v) in set.iter().enumerate() {
                out.push((format!("{kind} #{i}"), v.as_bytes().to_vec()));
            }
        }
        out
    }
}

// ------------------------------------------------------------------------------ the matcher

fn b64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut s = String::new();
    for c in bytes.chunks(3) {
        let n =
            (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..=c.len() {
            s.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
        if pad {
            for _ in c.len()..3 {
                s.push('=');
            }
        }
    }
    s
}

const STD: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const URL: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every form a secret is searched in: raw, percent-encoded (form style and every-byte style,
/// upper and lower hex), base64 and base64url (padded and not, and the alignment-independent
/// core of the encoding at each of the three byte offsets, so it is found inside a longer
/// encoded blob too), JSON-escaped, and hex for binary keys.
fn forms(secret: &[u8]) -> Vec<(&'static str, Vec<u8>)> {
    let mut f: Vec<(&'static str, Vec<u8>)> = vec![("raw", secret.to_vec())];
    let form: String = url::form_urlencoded::byte_serialize(secret).collect();
    f.push(("percent-encoded (form)", form.into_bytes()));
    let every: String = secret
        .iter()
        .map(|&b| if b.is_ascii_alphanumeric() { (b as char).to_string() } else { format!("%{b:02X}") })
        .collect();
    f.push(("percent-encoded", every.clone().into_bytes()));
    f.push(("percent-encoded (lower)", every.to_lowercase().into_bytes()));
    for (name, alphabet) in [("base64", STD), ("base64url", URL)] {
        f.push((name, b64(secret, alphabet, true).into_bytes()));
        f.push((name, b64(secret, alphabet, false).into_bytes()));
        if secret.len() >= 12 {
            for offset in 0..3 {
                let e = b64(&secret[offset..], alphabet, false);
                let keep = e.len().saturating_sub(3);
                f.push((name, e.as_bytes()[..keep].to_vec()));
            }
        }
    }
    if let Ok(s) = std::str::from_utf8(secret) {
        let json = serde_json::to_string(s).unwrap();
        f.push(("JSON-escaped", json.as_bytes()[1..json.len() - 1].to_vec()));
        let ascii: String = s
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c.to_string() } else { format!("\\u{:04x}", c as u32) })
            .collect();
        f.push(("JSON \\u-escaped", ascii.into_bytes()));
    } else {
        f.push(("hex", hex(secret).into_bytes()));
        f.push(("HEX", hex(secret).to_uppercase().into_bytes()));
    }
    f.retain(|(_, n)| n.len() >= 4);
    f.sort();
    f.dedup();
    f
}

/// The first offset of each pattern (all at least 4 bytes) in `hay`, in one pass: a bit table
/// over a hash of every 4-byte window rejects most positions, candidates are compared in full.
fn multi_find(hay: &[u8], patterns: &[&[u8]]) -> Vec<Option<usize>> {
    fn hash4(k: [u8; 4]) -> usize {
        (u32::from_le_bytes(k).wrapping_mul(0x9E37_79B1) >> 12) as usize
    }
    let mut by_prefix: std::collections::HashMap<[u8; 4], Vec<usize>> = std::collections::HashMap::new();
    let mut bits = vec![0u64; 1 << 14];
    for (i, p) in patterns.iter().enumerate() {
        assert!(p.len() >= 4, "patterns are at least 4 bytes");
        let k = [p[0], p[1], p[2], p[3]];
        by_prefix.entry(k).or_default().push(i);
        let h = hash4(k);
        bits[h >> 6] |= 1 << (h & 63);
    }
    let mut first = vec![None; patterns.len()];
    if hay.len() < 4 {
        return first;
    }
    for at in 0..=hay.len() - 4 {
        let k = [hay[at], hay[at + 1], hay[at + 2], hay[at + 3]];
        let h = hash4(k);
        if bits[h >> 6] & (1 << (h & 63)) == 0 {
            continue;
        }
        if let Some(list) = by_prefix.get(&k) {
            for &i in list {
                if first[i].is_none() && hay[at..].starts_with(patterns[i]) {
                    first[i] = Some(at);
                }
            }
        }
    }
    first
}

/// Where each needle (in any form) occurs in `hay`: `label (form) in what at offset`.
fn scan(what: &str, hay: &[u8], needles: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut labels = Vec::new();
    let mut patterns = Vec::new();
    for (label, secret) in needles {
        for (form, n) in forms(secret) {
            labels.push(format!("{label} ({form})"));
            patterns.push(n);
        }
    }
    let refs: Vec<&[u8]> = patterns.iter().map(Vec::as_slice).collect();
    let found = multi_find(hay, &refs);
    labels.iter().zip(found).filter_map(|(l, at)| at.map(|at| format!("{l} in {what} at byte {at}"))).collect()
}

/// Any 16-byte slice of a token, raw, in the text (the way a truncated log line would leak it).
fn scan_slices(what: &str, hay: &[u8], tokens: &[(String, Vec<u8>)]) -> Vec<String> {
    let mut labels = Vec::new();
    let mut patterns: Vec<&[u8]> = Vec::new();
    for (label, t) in tokens {
        if t.len() < 24 {
            continue;
        }
        for w in t.windows(16).step_by(4) {
            // JWT headers are alike across tokens: only the payload and signature are secret.
            if !w.starts_with(b"eyJ") {
                labels.push(label.as_str());
                patterns.push(w);
            }
        }
    }
    let found = multi_find(hay, &patterns);
    let mut hits: Vec<String> = labels
        .iter()
        .zip(found)
        .filter_map(|(l, at)| at.map(|at| format!("a 16-byte slice of {l} in {what} at byte {at}")))
        .collect();
    hits.dedup();
    hits
}

// ----------------------------------------------------------------------------- the vault side

/// A platform-key provider that records the data key it is asked to wrap (the legitimate way a
/// test learns the DEK).
#[derive(Default)]
struct RecordingKey(Mutex<Option<Zeroizing<Vec<u8>>>>);

impl PlatformKeyProvider for RecordingKey {
    fn wrap(&self, data_key: &[u8]) -> Result<Vec<u8>, PlatformKeyError> {
        *self.0.lock().unwrap() = Some(Zeroizing::new(data_key.to_vec()));
        Ok(data_key.iter().map(|b| b ^ 0x5a).collect())
    }

    fn unwrap(&self, blob: &[u8]) -> Result<Zeroizing<Vec<u8>>, PlatformKeyError> {
        Ok(Zeroizing::new(blob.iter().map(|b| b ^ 0x5a).collect()))
    }
}

/// Every regular file under `dir` (recursively), with its bytes.
fn files_under(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else { return out };
    for e in rd.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else if p.is_file() {
            out.push((p.clone(), std::fs::read(&p).unwrap()));
        }
    }
    out
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

/// The vault directory is 0700 and every file in it 0600, and only the expected files are there.
#[cfg(unix)]
fn check_modes(dir: &Path, allowed: &[&str]) -> Vec<String> {
    let mut bad = Vec::new();
    if mode(dir) != 0o700 {
        bad.push(format!("{} has mode {:o}, want 700", dir.display(), mode(dir)));
    }
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let m = mode(&e.path());
        if m != 0o600 {
            bad.push(format!("{name} has mode {m:o}, want 600"));
        }
        if !allowed.contains(&name.as_str()) {
            bad.push(format!("unexpected file {name} left in the vault directory"));
        }
    }
    bad
}

#[cfg(not(unix))]
fn check_modes(_: &Path, _: &[&str]) -> Vec<String> {
    Vec::new()
}

// `outpost.keys.lock`: the empty lock file of keyslot writes (issue 16), mode 0600 too.
const VAULT_FILES: &[&str] = &["outpost.db", "outpost.db-wal", "outpost.db-shm", "outpost.keys", "outpost.keys.lock"];

/// Distinctive record values from the vault (read through the core after unlock): names,
/// telephone numbers, e-mail addresses, descriptions.
fn record_sample(dir: &Path, password: &str) -> Vec<(String, Vec<u8>)> {
    let vault = Vault::unlock(dir, password.as_bytes(), &OpenOptions::default()).unwrap();
    let mut out = BTreeSet::new();
    for set in ["accounts", "contacts"] {
        let page = vault.store().query(set, &Query { limit: 40, ..Query::default() }).unwrap();
        for r in &page.records {
            for col in ["name", "telephone1", "emailaddress1", "fullname", "lastname", "address1_line1", "description"]
            {
                if let Some(v) = r.values.get(col).and_then(|v| v.as_str()) {
                    if v.len() >= 10 {
                        out.insert(v.to_string());
                    }
                }
            }
        }
    }
    vault.lock().unwrap();
    assert!(out.len() >= 20, "too few record values to sample: {out:?}");
    out.into_iter().map(|v| (format!("record value {v:?}"), v.into_bytes())).collect()
}

/// The data key, learnt by adding a (recording) platform slot, which is removed again.
fn data_key(dir: &Path, password: &str) -> Vec<u8> {
    let vault = Vault::unlock(dir, password.as_bytes(), &OpenOptions::default()).unwrap();
    let rec = RecordingKey::default();
    let slot = vault.add_platform_slot(&rec).unwrap();
    vault.remove_slot(slot).unwrap();
    vault.lock().unwrap();
    let dek = rec.0.lock().unwrap().as_ref().unwrap().to_vec();
    assert_eq!(dek.len(), 32);
    dek
}

fn outpost(proxy: &Proxy, tmp: &Path) -> Command {
    let mut c = Command::cargo_bin("outpost").unwrap();
    c.arg("-vvv");
    c.env("HTTP_PROXY", &proxy.url).env("http_proxy", &proxy.url);
    for v in ["NO_PROXY", "no_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy", "RUST_LOG"] {
        c.env_remove(v);
    }
    c.env_remove("OUTPOST_NEW_PASSWORD").env_remove("OUTPOST_SIGNIN_PASSWORD").env_remove("OUTPOST_DB");
    c.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    // Temp files of the process (SQLite's, if any) land where the test scans them.
    c.env("TMPDIR", tmp).env("SQLITE_TMPDIR", tmp);
    c.timeout(Duration::from_secs(240));
    c
}

struct Run {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

fn run(mut c: Command, args: &[&str], envs: &[(&str, &str)]) -> Run {
    c.args(args);
    for (k, v) in envs {
        c.env(k, v);
    }
    let t = std::time::Instant::now();
    let out = c.output().unwrap();
    eprintln!("outpost {args:?}: {:.2} s", t.elapsed().as_secs_f64());
    assert!(
        out.status.success(),
        "outpost {args:?}: {:?}\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr).lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
    Run { stdout: out.stdout, stderr: out.stderr }
}

fn assert_clean(hits: &[String]) {
    assert!(hits.is_empty(), "{} leak(s):\n{}", hits.len(), hits.join("\n"));
}

fn password_needles(extra: &[(&str, &str)]) -> Vec<(String, Vec<u8>)> {
    extra.iter().map(|(l, p)| ((*l).to_string(), p.as_bytes().to_vec())).collect()
}

/// Emulator TOTP codes are six digits: raw they would match any number in a log, so they are
/// searched as a form field or a quoted/delimited value only.
fn mfa_hits(what: &str, hay: &[u8], codes: &BTreeSet<String>) -> Vec<String> {
    let mut hits = Vec::new();
    for c in codes {
        for pat in [format!("otc={c}"), format!("\"{c}\""), format!("code={c}"), format!("code: {c}"), format!("'{c}'")]
        {
            if find(hay, pat.as_bytes()).is_some() {
                hits.push(format!("MFA code ({pat}) in {what}"));
            }
        }
    }
    hits
}

fn log_lines(stderr: &[u8]) -> usize {
    stderr.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count()
}

#[test]
fn the_demo_at_trace_leaks_no_secret_to_logs_or_files() {
    let proxy = Proxy::start();
    let root = tempfile::tempdir().unwrap();
    let tmp = root.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let dir = root.path().join("kept").join("vault");

    let demo = run(
        outpost(&proxy, &tmp),
        &["demo", "--auto", "--rows", "600", "--keep", dir.to_str().unwrap()],
        &[("OUTPOST_PASSWORD", OFFLINE_PASSWORD)],
    );
    let stdout = String::from_utf8_lossy(&demo.stdout);
    assert!(stdout.contains("  conflicts: 1") && stdout.contains("  passwords refused: 1"), "{stdout}");
    // TRACE from every target: the core's own events and the HTTP stack's.
    let err = String::from_utf8_lossy(&demo.stderr);
    assert!(log_lines(&demo.stderr) > 200, "too few log lines: {}", log_lines(&demo.stderr));
    // (reqwest's and rustls' records come through the `log` facade, bridged by the CLI.)
    for target in ["TRACE", "outpost::", "hyper_util", "reqwest::", "rustls_platform_verifier"] {
        assert!(err.contains(target), "no {target} events in the log");
    }

    // Positive control 1: the proxy saw every kind of secret of the sign-in.
    let exchanges = proxy.exchanges();
    let cap = Captured::from(&exchanges);
    assert!(!cap.access_tokens.is_empty(), "no access token captured: is the proxy used? {cap:?}");
    assert!(!cap.refresh_tokens.is_empty() && !cap.id_tokens.is_empty(), "{cap:?}");
    assert!(!cap.codes.is_empty() && !cap.verifiers.is_empty(), "{cap:?}");
    assert!(cap.passwords.contains(defaults::ALICE_PASSWORD), "{cap:?}");
    assert!(!cap.mfa_codes.is_empty(), "{cap:?}");

    // The files as the demo left them (locked), before this test opens the vault again.
    let left = files_under(root.path());
    let names: Vec<String> =
        left.iter().map(|(p, _)| p.strip_prefix(root.path()).unwrap().display().to_string()).collect();
    assert!(left.iter().any(|(p, b)| p.ends_with("outpost.db") && b.len() > 100_000), "{names:?}");
    assert!(left.iter().any(|(p, _)| p.ends_with("outpost.keys")), "{names:?}");
    assert_clean(&check_modes(&dir, VAULT_FILES));

    let records = record_sample(&dir, OFFLINE_PASSWORD);
    let dek = data_key(&dir, OFFLINE_PASSWORD);
    let dek_hex = hex(&dek);

    // Positive control 2: the sampled record values are real server values, found by the same
    // matcher in the plaintext HTTP responses the proxy captured.
    let wire: Vec<u8> = exchanges.iter().flat_map(|x| x.response.iter().copied()).collect();
    let on_wire = records.iter().filter(|(_, v)| find(&wire, v).is_some()).count();
    assert!(on_wire * 10 >= records.len() * 9, "only {on_wire} of {} record values seen on the wire", records.len());

    let mut secrets = cap.needles();
    secrets.extend(password_needles(&[
        ("offline password", OFFLINE_PASSWORD),
        ("the demo's wrong password", DEMO_WRONG_PASSWORD),
        ("sign-in password", defaults::ALICE_PASSWORD),
    ]));
    secrets.push(("data key".into(), dek.clone()));
    secrets.push(("data key (hex)".into(), dek_hex.clone().into_bytes()));
    let totp_secret = Emulator::start(EmulatorConfig::default().with_rows(1, 1, 1))
        .unwrap()
        .totp_secret(defaults::ALICE)
        .unwrap_or_default();
    if totp_secret.len() >= 8 {
        secrets.push(("TOTP secret".into(), totp_secret.into_bytes()));
    }
    let tokens: Vec<(String, Vec<u8>)> =
        cap.needles().into_iter().filter(|(l, _)| l.contains("token") || l.contains("code")).collect();

    let mut hits = Vec::new();
    // Logs and standard output: no secret; the log carries no record value either.
    hits.extend(scan("the TRACE log", &demo.stderr, &secrets));
    hits.extend(scan("the TRACE log", &demo.stderr, &records));
    hits.extend(scan_slices("the TRACE log", &demo.stderr, &tokens));
    hits.extend(mfa_hits("the TRACE log", &demo.stderr, &cap.mfa_codes));
    hits.extend(scan("standard output", &demo.stdout, &secrets));
    hits.extend(mfa_hits("standard output", &demo.stdout, &cap.mfa_codes));
    for marker in ["eyJ", "Bearer ", "PRAGMA key"] {
        if let Some(at) = find(&demo.stderr, marker.as_bytes()) {
            hits.push(format!("{marker:?} in the TRACE log at byte {at}"));
        }
    }
    // Files: neither secrets nor record values, in the vault nor in the temp directory.
    for (path, bytes) in &left {
        let what = path.strip_prefix(root.path()).unwrap().display().to_string();
        hits.extend(scan(&what, bytes, &secrets));
        hits.extend(scan(&what, bytes, &records));
    }
    eprintln!(
        "demo: {} log lines, {} files, {} secrets and {} record values searched; captured {} access, {} refresh, {} ID tokens, {} codes, {} verifiers",
        log_lines(&demo.stderr),
        left.len(),
        secrets.len(),
        records.len(),
        cap.access_tokens.len(),
        cap.refresh_tokens.len(),
        cap.id_tokens.len(),
        cap.codes.len(),
        cap.verifiers.len()
    );
    assert_clean(&hits);

    // Positive control 3: a value planted into a copy of the database and of the log is found.
    let (_, db) = left.iter().find(|(p, _)| p.ends_with("outpost.db")).unwrap();
    let (label, value) = &records[records.len() / 2];
    let mut planted = db.clone();
    let mid = planted.len() / 2;
    planted.splice(mid..mid, value.iter().copied());
    assert!(!scan("planted db", &planted, &records).is_empty(), "the scanner missed {label} planted in the db");
    let token = cap.access_tokens.iter().next().unwrap().as_bytes();
    for (form, f) in forms(token) {
        let mut log = demo.stderr.clone();
        log.extend_from_slice(b"TRACE planted: x=");
        log.extend_from_slice(&f);
        assert!(!scan("planted log", &log, &tokens).is_empty(), "the scanner missed a token planted {form}");
    }
    let mut log = demo.stderr.clone();
    log.extend_from_slice(format!("key={}", dek_hex.to_uppercase()).as_bytes());
    assert!(!scan("planted log", &log, &secrets).is_empty(), "the scanner missed the data key planted as HEX");
}

#[test]
fn the_cli_commands_at_trace_leak_no_secret_and_keep_files_private() {
    let proxy = Proxy::start();
    let emu = Emulator::start(EmulatorConfig::default().with_rows(60, 40, 20)).unwrap();
    let root = tempfile::tempdir().unwrap();
    let tmp = root.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let dir = root.path().join("cli").join("vault");
    let db = dir.to_str().unwrap().to_string();
    let authority = format!("{}/v2.0", emu.authority());
    let pw = [("OUTPOST_PASSWORD", OFFLINE_PASSWORD)];
    let mut runs = Vec::new();
    let cmd = |args: &[&str], envs: &[(&str, &str)]| {
        let mut all = vec!["--db", db.as_str()];
        all.extend_from_slice(args);
        run(outpost(&proxy, &tmp), &all, envs)
    };
    let client_id = emu.client_id();
    runs.push(cmd(&["init", "--org", emu.org_url(), "--client-id", &client_id, "--authority", &authority], &pw));
    // The password grant sends the account password; every later command refreshes (rotation).
    let bob = [("OUTPOST_PASSWORD", OFFLINE_PASSWORD), ("OUTPOST_SIGNIN_PASSWORD", defaults::BOB_PASSWORD)];
    runs.push(cmd(&["sign-in", "--flow", "password", "--username", defaults::BOB], &bob));
    runs.push(cmd(&["--json", "sync"], &pw));
    let rows: serde_json::Value = serde_json::from_slice(&cmd(&["--json", "query", "accounts"], &pw).stdout).unwrap();
    let id = rows[0]["accountid"].as_str().unwrap().to_string();
    runs.push(cmd(&["update", "accounts", &id, "telephone1=+1 555 0142", "description=secrets test visit note"], &pw));
    runs.push(cmd(&["--json", "sync"], &pw));
    runs.push(cmd(&["--json", "status"], &pw));
    runs.push(cmd(&["doctor"], &pw));
    runs.push(cmd(
        &["passwd"],
        &[("OUTPOST_PASSWORD", OFFLINE_PASSWORD), ("OUTPOST_NEW_PASSWORD", NEW_OFFLINE_PASSWORD)],
    ));
    let new_pw = [("OUTPOST_PASSWORD", NEW_OFFLINE_PASSWORD)];
    runs.push(cmd(&["--json", "sync"], &new_pw));
    runs.push(cmd(&["lock"], &new_pw));

    let cap = Captured::from(&proxy.exchanges());
    assert!(cap.access_tokens.len() >= 3, "one access token per signed-in process: {cap:?}");
    assert!(cap.refresh_tokens.len() >= 3, "rotated refresh tokens: {cap:?}");
    assert!(cap.passwords.contains(defaults::BOB_PASSWORD), "{cap:?}");

    let left = files_under(root.path());
    assert_clean(&check_modes(&dir, &[VAULT_FILES, &["cli.json"]].concat()));
    let records = record_sample(&dir, NEW_OFFLINE_PASSWORD);
    let dek = data_key(&dir, NEW_OFFLINE_PASSWORD);

    let mut secrets = cap.needles();
    secrets.extend(password_needles(&[
        ("offline password", OFFLINE_PASSWORD),
        ("new offline password", NEW_OFFLINE_PASSWORD),
        ("sign-in password", defaults::BOB_PASSWORD),
    ]));
    secrets.push(("data key".into(), dek.clone()));
    secrets.push(("data key (hex)".into(), hex(&dek).into_bytes()));
    let tokens: Vec<(String, Vec<u8>)> =
        cap.needles().into_iter().filter(|(l, _)| l.contains("token") || l.contains("code")).collect();

    let mut hits = Vec::new();
    // While a vault is open and has just written, its -wal and -shm exist: they are encrypted too.
    let open_value = "while-open telephone 555 0177 Quillfeather";
    {
        let vault = Vault::unlock(&dir, NEW_OFFLINE_PASSWORD.as_bytes(), &OpenOptions::default()).unwrap();
        let mut v = Values::new();
        v.insert("telephone1".into(), Value::text(open_value));
        vault.store().update("accounts", &id, v).unwrap();
        let open_files = files_under(&dir);
        assert!(open_files.iter().any(|(p, b)| p.ends_with("outpost.db-wal") && !b.is_empty()), "no -wal while open");
        hits.extend(check_modes(&dir, &[VAULT_FILES, &["cli.json"]].concat()));
        let mut open_needles = records.clone();
        open_needles.push(("record value written while open".into(), open_value.as_bytes().to_vec()));
        for (path, bytes) in &open_files {
            let what = format!("{} (vault open)", path.strip_prefix(root.path()).unwrap().display());
            hits.extend(scan(&what, bytes, &secrets));
            hits.extend(scan(&what, bytes, &open_needles));
        }
        vault.lock().unwrap();
    }
    let mut lines = 0;
    for (i, r) in runs.iter().enumerate() {
        let what = format!("the TRACE log of command #{i}");
        lines += log_lines(&r.stderr);
        hits.extend(scan(&what, &r.stderr, &secrets));
        hits.extend(scan(&what, &r.stderr, &records));
        hits.extend(scan_slices(&what, &r.stderr, &tokens));
        hits.extend(scan(&format!("standard output of command #{i}"), &r.stdout, &secrets));
        for marker in ["eyJ", "Bearer ", "PRAGMA key"] {
            if let Some(at) = find(&r.stderr, marker.as_bytes()) {
                hits.push(format!("{marker:?} in {what} at byte {at}"));
            }
        }
    }
    assert!(lines > 300, "too few log lines: {lines}");
    for (path, bytes) in &left {
        let what = path.strip_prefix(root.path()).unwrap().display().to_string();
        hits.extend(scan(&what, bytes, &secrets));
        hits.extend(scan(&what, bytes, &records));
    }
    eprintln!(
        "cli: {lines} log lines, {} files, {} secrets and {} record values searched; captured {} access, {} refresh, {} ID tokens",
        left.len(),
        secrets.len(),
        records.len(),
        cap.access_tokens.len(),
        cap.refresh_tokens.len(),
        cap.id_tokens.len()
    );
    assert_clean(&hits);
}

#[test]
fn the_matcher_finds_every_form() {
    let secret = b"0.AXsA-secret/token+with=odd&chars\"\\";
    let needles = vec![("s".to_string(), secret.to_vec())];
    for (form, f) in forms(secret) {
        let mut hay = b"prefix ".to_vec();
        hay.extend_from_slice(&f);
        hay.extend_from_slice(b" suffix");
        assert!(!scan("hay", &hay, &needles).is_empty(), "{form} not found");
    }
    // Inside a longer base64 blob, at every alignment.
    for pre in 0..3 {
        let mut blob = vec![b'x'; pre];
        blob.extend_from_slice(secret);
        blob.extend_from_slice(b"tail");
        for alphabet in [STD, URL] {
            let enc = b64(&blob, alphabet, true);
            assert!(!scan("blob", enc.as_bytes(), &needles).is_empty(), "offset {pre}");
        }
    }
    assert_eq!(b64(b"any carnal pleas", STD, true), "YW55IGNhcm5hbCBwbGVhcw==");
    assert_eq!(b64(b"\xfb\xff", URL, false), "-_8");
    assert!(scan("hay", b"nothing here", &needles).is_empty());
}
