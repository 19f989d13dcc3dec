//! The `outpost` binary end to end: each command's happy path and its main failures, against
//! the emulator over loopback HTTP, with real SQLCipher vaults in temp dirs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::Stdio;

use assert_cmd::Command;
use outpost_emulator::{defaults, Emulator, EmulatorConfig, EmulatorHandle};
use serde_json::Value as Json;

const PASSWORD: &str = "offline pass+/=word";

struct Env {
    emu: EmulatorHandle,
    dir: tempfile::TempDir,
}

impl Env {
    fn new() -> Env {
        Env::with(EmulatorConfig::default().with_rows(40, 30, 20))
    }

    fn with(config: EmulatorConfig) -> Env {
        Env { emu: Emulator::start(config).unwrap(), dir: tempfile::tempdir().unwrap() }
    }

    fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("vault")
    }

    /// `outpost --db <vault>` with the offline password in the environment.
    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("outpost").unwrap();
        c.arg("--db").arg(self.db());
        c.env("OUTPOST_PASSWORD", PASSWORD);
        c.env_remove("OUTPOST_NEW_PASSWORD").env_remove("OUTPOST_SIGNIN_PASSWORD").env_remove("OUTPOST_DB");
        c.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
        c.timeout(std::time::Duration::from_secs(120));
        c
    }

    fn init(&self) {
        self.cmd()
            .args(["init", "--org", self.emu.org_url(), "--client-id", &self.emu.client_id()])
            .args(["--authority", &format!("{}/v2.0", self.emu.authority())])
            .assert()
            .success();
    }

    fn sign_in_bob(&self) {
        self.cmd()
            .args(["sign-in", "--flow", "password", "--username", defaults::BOB])
            .env("OUTPOST_SIGNIN_PASSWORD", defaults::BOB_PASSWORD)
            .assert()
            .success();
    }

    fn ready(&self) {
        self.init();
        self.sign_in_bob();
        self.json(&["sync"]);
    }

    /// Run with `--json`, expect success, parse standard output.
    fn json(&self, args: &[&str]) -> Json {
        let out = self.cmd().arg("--json").args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {:?}\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
    }

    /// Run, expect exit `code`, return standard error.
    fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.cmd().args(args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert_eq!(out.status.code(), Some(code), "{args:?}: {err}");
        err
    }

    async fn control(&self, method: reqwest::Method, path: &str, body: Json) -> Json {
        let r = reqwest::Client::new()
            .request(method, format!("{}{path}", self.emu.control_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{}", r.status());
        r.json().await.unwrap_or(Json::Null)
    }
}

#[test]
fn init_sign_in_sync_query_edit_push_and_the_vault_commands() {
    let env = Env::new();
    env.init();
    let mode = std::fs::metadata(env.db().join("cli.json")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        assert_eq!(mode.permissions().mode() & 0o077, 0, "cli.json is private");
    }
    env.sign_in_bob();

    let s = env.json(&["sync"]);
    assert_eq!(s["rows_pulled"], 90);
    assert_eq!(s["complete"], true);
    let st = env.json(&["status"]);
    assert_eq!(st["signed_in"], true);
    assert_eq!(st["account"]["username"], defaults::BOB);
    assert_eq!(st["tables"][0]["entity_set"], "accounts");
    assert_eq!(st["tables"][0]["rows"], 40);
    assert!(st["tables"][0]["last_sync_unix"].as_i64().is_some());

    // query: every row with --json, keyed by profile column names, the primary key included
    let rows = env.json(&["query", "accounts"]);
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 40);
    assert!(rows[0]["accountid"].is_string() && rows[0].get("name").is_some());
    assert!(rows[0].get("parentaccountid").is_some(), "lookups under the profile's name: {}", rows[0]);
    let first_name = rows[0]["name"].as_str().unwrap().to_string();
    let word = first_name.split(' ').next().unwrap().to_string();
    let filtered =
        env.json(&["query", "accounts", "--filter", &format!("startswith(name,'{word}')"), "--order", "name desc"]);
    let filtered = filtered.as_array().unwrap();
    assert!(!filtered.is_empty() && filtered.iter().all(|r| r["name"].as_str().unwrap().starts_with(&word)));
    let names: Vec<&str> = filtered.iter().map(|r| r["name"].as_str().unwrap()).collect();
    let mut sorted = names.clone();
    sorted.sort_by_key(|n| std::cmp::Reverse(n.to_lowercase()));
    assert_eq!(names, sorted);
    let found = env.json(&["query", "accounts", "--search", &first_name, "--limit", "3"]);
    assert_eq!(found[0]["name"], first_name.as_str());
    let selected = env.json(&["query", "accounts", "--select", "name", "--limit", "2"]);
    assert_eq!(selected.as_array().unwrap().len(), 2);
    assert_eq!(selected[0].as_object().unwrap().len(), 2, "accountid + name: {}", selected[0]);
    // table output: the first rows and a note
    let out = env.cmd().args(["query", "accounts", "--limit", "5"]).assert().success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("accountid") && text.contains("more rows"), "{text}");

    // get, create (with a lookup), update, delete
    let id = rows[0]["accountid"].as_str().unwrap().to_string();
    let got = env.json(&["get", "accounts", &id]);
    assert_eq!(got["record"]["name"], first_name.as_str());
    assert_eq!(got["state"], "synced");
    let created = env.json(&[
        "create",
        "contacts",
        "firstname=Dana",
        "lastname=Whitfield",
        &format!("parentcustomerid=accounts({id})"),
    ]);
    let contact = created["id"].as_str().unwrap().to_string();
    env.json(&["update", "accounts", &id, "telephone1=+1 555 0100", "numberofemployees=12"]);
    env.json(&["update", "accounts", &id, "--json-body", r#"{"description": "visited"}"#]);
    let doomed = rows[1]["accountid"].as_str().unwrap().to_string();
    env.json(&["delete", "accounts", &doomed]);
    assert_eq!(env.json(&["status"])["pending_changes"], 3);
    assert_eq!(env.json(&["get", "accounts", &id])["state"], "modified");

    let s = env.json(&["sync"]);
    assert_eq!(s["push"]["pushed"], 3, "{s}");
    assert_eq!(env.json(&["status"])["pending_changes"], 0);
    let c = env.json(&["get", "contacts", &contact]);
    assert_eq!(c["state"], "synced");
    assert_eq!(c["record"]["parentcustomerid"], id.as_str());
    env.fails(&["get", "accounts", &doomed], 2);
    assert!(env.json(&["conflicts"]).as_array().unwrap().is_empty());
    assert!(env.json(&["errors"]).as_array().unwrap().is_empty());

    // the sync log: entries with counts, no values
    let log = env.cmd().arg("log").assert().success().get_output().stdout.clone();
    let log = String::from_utf8(log).unwrap();
    assert_eq!(log.lines().count(), 2, "two syncs: {log}");
    assert!(!log.contains("Whitfield") && !log.contains("555 0100"));
    let file = env.dir.path().join("support.jsonl");
    env.cmd().args(["log", "--out"]).arg(&file).assert().success();
    assert_eq!(std::fs::read_to_string(&file).unwrap(), log);

    let url = env.json(&["consent-url"]);
    assert!(url["admin_consent_url"].as_str().unwrap().contains("/v2.0/adminconsent?client_id="));

    // lock / unlock / passwd
    assert_eq!(env.json(&["lock"])["locked"], true);
    assert_eq!(env.json(&["unlock"])["password_ok"], true);
    env.cmd().args(["--json", "passwd"]).env("OUTPOST_NEW_PASSWORD", "a new one").assert().success();
    env.fails(&["unlock"], 3);
    env.cmd().arg("unlock").env("OUTPOST_PASSWORD", "a new one").assert().success();

    // sign-out, then wipe
    env.cmd().env("OUTPOST_PASSWORD", "a new one").args(["sign-out"]).assert().success();
    let st: Json = serde_json::from_slice(
        &env.cmd().env("OUTPOST_PASSWORD", "a new one").args(["--json", "status"]).output().unwrap().stdout,
    )
    .unwrap();
    assert_eq!(st["signed_in"], false);
    env.fails(&["wipe"], 2); // no terminal to confirm: --yes is required
    env.cmd().args(["wipe", "--yes"]).assert().success();
    assert!(!env.db().join("outpost.keys").exists() && !env.db().join("cli.json").exists());
    let err = env.fails(&["status"], 4);
    assert!(err.contains("run `outpost init"), "{err}");
}

#[test]
fn wrong_password_is_refused_and_counted() {
    let env = Env::new();
    env.init();
    let err = env.cmd().env("OUTPOST_PASSWORD", "wrong").arg("status").output().unwrap();
    assert_eq!(err.status.code(), Some(3));
    let text = String::from_utf8_lossy(&err.stderr);
    assert!(text.contains("wrong offline password (9 attempts left"), "{text}");
    assert!(!text.contains("wrong\n") && !text.contains(PASSWORD));
    // --json errors are machine-readable
    let out = env.cmd().env("OUTPOST_PASSWORD", "wrong").args(["--json", "status"]).output().unwrap();
    let j: Json = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["error"], "WrongPassword");
    assert_eq!(j["exit_code"], 3);
    assert_eq!(env.json(&["lock"])["attempts_left"], 8);
    // no password anywhere and no terminal: a clear usage error
    let out = env.cmd().env_remove("OUTPOST_PASSWORD").arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("set OUTPOST_PASSWORD"));
}

#[test]
fn not_signed_in_mfa_on_the_password_flow_and_missing_consent() {
    let env = Env::new();
    env.init();
    let err = env.fails(&["sync"], 5);
    assert!(err.contains("not signed in: run `outpost sign-in`"), "{err}");
    let out = env
        .cmd()
        .args(["sign-in", "--flow", "password", "--username", defaults::ALICE])
        .env("OUTPOST_SIGNIN_PASSWORD", defaults::ALICE_PASSWORD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("this account needs MFA: use --flow browser or --flow device-code"), "{err}");
    assert!(err.contains("AADSTS50076"), "{err}");
    assert!(!err.contains(defaults::ALICE_PASSWORD));

    // the sign-in password never comes from the offline-password variable
    let out = env.cmd().args(["sign-in", "--flow", "password", "--username", defaults::BOB]).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("OUTPOST_SIGNIN_PASSWORD"));
}

#[tokio::test(flavor = "multi_thread")]
async fn consent_missing_prints_the_admin_consent_link() {
    let env = Env::new();
    env.init();
    env.control(
        reqwest::Method::POST,
        "/consent",
        serde_json::json!({"client_id": env.emu.client_id(), "granted": false}),
    )
    .await;
    let out = env
        .cmd()
        .args(["sign-in", "--flow", "password", "--username", defaults::BOB])
        .env("OUTPOST_SIGNIN_PASSWORD", defaults::BOB_PASSWORD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no consent") && err.contains("/v2.0/adminconsent?client_id="), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn admin_consent_opens_the_link_and_checks_the_answer() {
    // Issue 15, defect 2: `outpost admin-consent` asks for `{org}/.default` with a state, receives
    // the answer on loopback and checks it; users of a tenant that blocks user consent can then
    // sign in (the emulator enforces consent per permission).
    let env = Env::new();
    env.init();
    env.control(
        reqwest::Method::POST,
        "/consent",
        serde_json::json!({"client_id": env.emu.client_id(), "granted": false}),
    )
    .await;
    env.control(
        reqwest::Method::POST,
        &format!("/tenants/{}/user-consent", env.emu.tenant_id()),
        serde_json::json!({"allowed": false}),
    )
    .await;
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("outpost"))
        .arg("--db")
        .arg(env.db())
        .args(["--json", "admin-consent", "--no-browser", "--timeout", "60"])
        .env("OUTPOST_PASSWORD", PASSWORD)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    let link: Json = serde_json::from_str(&line).unwrap();
    let link = link["admin_consent_url"].as_str().unwrap().to_owned();
    assert!(link.contains("%2F.default") && link.contains("&state="), "{link}");

    // The administrator at the browser: the CLI's own page driver signs in, consents and
    // delivers the redirect to the loopback listener.
    let q: std::collections::HashMap<String, String> =
        url::Url::parse(&link).unwrap().query_pairs().into_owned().collect();
    let loopback = url::Url::parse(&q["redirect_uri"]).unwrap();
    let (say, totp) = (|_: &str| {}, || None);
    let admin =
        outpost_cli::pages::Person { upn: defaults::ADMIN, password: defaults::ADMIN_PASSWORD, totp: &totp, say: &say };
    outpost_cli::pages::sign_in(&link, &loopback, &admin).await.unwrap();
    let status = child.wait().unwrap();
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    assert!(status.success(), "{rest}");
    let out: Json = serde_json::from_str(rest.trim()).unwrap();
    assert_eq!(out["admin_consent"], true);
    assert_eq!(out["tenant_id"], env.emu.tenant_id().as_str());

    // Users sign in now (the OpenID scopes were consented too).
    env.sign_in_bob();
}

#[test]
fn bad_org_urls_and_an_unreachable_server() {
    let env = Env::new();
    for (org, why) in [
        ("not a url", "not a URL"),
        ("http://contoso.example.com", "https"),
        ("https://contoso.crm.dynamics.com/main.aspx", "environment URL only"),
    ] {
        let err = env.fails(&["init", "--org", org, "--client-id", "x"], 2);
        assert!(err.contains(why), "{org}: {err}");
    }
    assert!(!env.db().join("outpost.keys").exists(), "nothing was created");
    let err = env.fails(
        &[
            "init",
            "--org",
            "https://x.crm.dynamics.com",
            "--client-id",
            "x",
            "--redirect-uri",
            "https://app.example/cb",
        ],
        2,
    );
    assert!(err.contains("loopback"), "{err}");

    // a closed port: the sign-in reports the network, typed
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let org = format!("http://127.0.0.1:{port}");
    env.cmd()
        .args(["init", "--org", &org, "--client-id", "x", "--authority", &format!("{org}/tenant/v2.0")])
        .assert()
        .success();
    let out = env
        .cmd()
        .args(["sign-in", "--flow", "password", "--username", "u@x"])
        .env("OUTPOST_SIGNIN_PASSWORD", "p")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot reach the server"));
    // and so does doctor, as a failed check
    let out = env.cmd().args(["doctor"]).output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    assert!(String::from_utf8_lossy(&out.stdout).contains("organisation reachable"));
    env.fails(
        &["init", "--org", &org, "--client-id", "x"],
        4, // a vault exists already
    );
}

#[test]
fn damaged_keyslot_files_give_typed_errors() {
    let env = Env::new();
    env.init();
    let keys = env.db().join("outpost.keys");
    let good = std::fs::read(&keys).unwrap();
    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    for (what, bytes) in [("truncated", good[..good.len() / 3].to_vec()), ("flipped", flipped), ("empty", Vec::new())] {
        std::fs::write(&keys, &bytes).unwrap();
        let out = env.cmd().arg("status").output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(9), "{what}: {err}");
        assert!(err.contains("damaged") && !err.contains("panicked"), "{what}: {err}");
    }
    std::fs::write(&keys, &good).unwrap();
    env.cmd().arg("status").assert().success();
    // a missing settings file beside a vault is reported as damage, not as "no vault"
    std::fs::remove_file(env.db().join("cli.json")).unwrap();
    assert!(env.fails(&["status"], 9).contains("cli.json"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_out_refuses_with_pending_changes_unless_forced() {
    let env = Env::new();
    env.ready();
    let rows = env.json(&["query", "tasks", "--limit", "1"]);
    let id = rows[0]["activityid"].as_str().unwrap().to_string();
    env.json(&["update", "tasks", &id, "subject=Call back"]);
    let err = env.fails(&["sign-out"], 8);
    assert!(err.contains("1 local changes have not been sent") && err.contains("--force"), "{err}");
    assert_eq!(env.json(&["status"])["signed_in"], true);
    env.cmd().args(["sign-out", "--force"]).assert().success();
    assert_eq!(env.json(&["status"])["pending_changes"], 1, "the change stays in the vault");
    assert!(env.fails(&["sync"], 5).contains("sign-in"));
}

#[tokio::test(flavor = "multi_thread")]
async fn conflicts_and_parked_errors_are_listed_and_resolved() {
    let env = Env::new();
    env.ready();
    let rows = env.json(&["query", "accounts", "--limit", "2"]);
    let (a, b) =
        (rows[0]["accountid"].as_str().unwrap().to_string(), rows[1]["accountid"].as_str().unwrap().to_string());
    // a conflict: both sides change telephone1
    env.json(&["update", "accounts", &a, "telephone1=local"]);
    env.control(
        reqwest::Method::PATCH,
        &format!("/tables/accounts/rows/{a}?as={}", defaults::ADMIN),
        serde_json::json!({"telephone1": "server"}),
    )
    .await;
    // a refused change: the server's column is shorter than the value
    env.control(
        reqwest::Method::POST,
        "/tables/accounts/max-length",
        serde_json::json!({"column": "accountnumber", "max_length": 4}),
    )
    .await;
    env.json(&["update", "accounts", &b, "accountnumber=TOO-LONG-NUMBER"]);
    let s = env.json(&["sync"]);
    assert_eq!(s["open_conflicts"], 1, "{s}");
    assert_eq!(s["parked"], 1, "{s}");

    let conflicts = env.json(&["conflicts"]);
    assert_eq!(conflicts[0]["record_id"], a.as_str());
    assert_eq!(conflicts[0]["local"]["telephone1"], "local");
    assert_eq!(conflicts[0]["server"]["telephone1"], "server");
    let text = String::from_utf8(env.cmd().arg("conflicts").output().unwrap().stdout).unwrap();
    assert!(text.contains("both changed") && text.contains("conflicts resolve"), "{text}");
    let cid = conflicts[0]["id"].as_i64().unwrap().to_string();
    env.json(&["conflicts", "resolve", &cid, "--take", "server"]);
    assert!(env.json(&["conflicts"]).as_array().unwrap().is_empty());
    assert_eq!(env.json(&["get", "accounts", &a])["record"]["telephone1"], "server");

    let errors = env.json(&["errors"]);
    assert_eq!(errors[0]["code"], "0x80044331");
    assert_eq!(errors[0]["record_id"], b.as_str());
    let seq = errors[0]["seq"].as_i64().unwrap().to_string();
    env.fails(&["errors", "retry", "999999"], 2);
    env.json(&["errors", "retry", &seq]);
    let s = env.json(&["sync"]);
    assert_eq!(s["parked"], 1, "still too long: parked again: {s}");
    let seq = env.json(&["errors"])[0]["seq"].as_i64().unwrap().to_string();
    env.json(&["errors", "discard", &seq]);
    assert!(env.json(&["errors"]).as_array().unwrap().is_empty());
    assert_eq!(env.json(&["status"])["pending_changes"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn doctor_and_sync_name_a_table_without_change_tracking() {
    let env = Env::new();
    env.init();
    env.sign_in_bob();
    let d = env.json(&["doctor"]);
    assert_eq!(d["ok"], true, "{d}");
    let checks = d["checks"].as_array().unwrap();
    for name in [
        "local database",
        "organisation reachable",
        "tenant",
        "signed in",
        "change tracking",
        "read privilege",
        "paging",
    ] {
        assert!(checks.iter().any(|c| c["check"] == name && c["status"] == "ok"), "{name}: {d}");
    }
    env.control(reqwest::Method::POST, "/tables/tasks/change-tracking", serde_json::json!({"enabled": false})).await;
    let out = env.cmd().arg("doctor").output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("FAIL") && text.contains("Track changes"), "{text}");
    let out = env.cmd().arg("sync").output().unwrap();
    assert_eq!(out.status.code(), Some(7));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("change tracking is unavailable for tasks") && err.contains("administrator"), "{err}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("accounts"), "the other tables synced");
}

#[tokio::test(flavor = "multi_thread")]
async fn device_code_sign_in() {
    let env = Env::new();
    env.init();
    let mut child = std::process::Command::new(assert_cmd::cargo::cargo_bin("outpost"))
        .arg("--db")
        .arg(env.db())
        .args(["--json", "sign-in", "--flow", "device-code", "--timeout", "60"])
        .env("OUTPOST_PASSWORD", PASSWORD)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first: Json = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let code = first["user_code"].as_str().unwrap().to_string();
    let uri = first["verification_uri"].as_str().unwrap().to_string();
    let totp = || None;
    let say = |_: &str| {};
    let person =
        outpost_cli::pages::Person { upn: defaults::BOB, password: defaults::BOB_PASSWORD, totp: &totp, say: &say };
    outpost_cli::pages::device_sign_in(&uri, &code, &person).await.unwrap();
    let done: Json = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    assert_eq!(done["username"], defaults::BOB);
    assert!(child.wait().unwrap().success());
    assert_eq!(env.json(&["status"])["account"]["username"], defaults::BOB);
}

#[test]
fn a_profile_file_and_sync_of_some_tables() {
    let env = Env::new();
    let profile = env.dir.path().join("profile.toml");
    std::fs::write(&profile, "[[tables]]\nentity_set = \"contacts\"\ncolumns = [\"fullname\", \"emailaddress1\"]\nsearchable = [\"fullname\"]\n").unwrap();
    env.cmd()
        .args(["init", "--org", env.emu.org_url(), "--client-id", &env.emu.client_id()])
        .args(["--authority", &format!("{}/v2.0", env.emu.authority())])
        .arg("--profile")
        .arg(&profile)
        .assert()
        .success();
    env.sign_in_bob();
    let s = env.json(&["sync", "--tables", "contacts"]);
    assert_eq!(s["rows_pulled"], 30);
    env.fails(&["sync", "--tables", "accounts"], 2);
    env.fails(&["query", "accounts"], 2);
    let rows = env.json(&["query", "contacts", "--limit", "1"]);
    assert_eq!(rows[0].as_object().unwrap().len(), 3, "contactid, fullname, emailaddress1: {}", rows[0]);
    // a bad filter is a usage error that names the problem
    let err = env.fails(&["query", "contacts", "--filter", "fullname eq"], 2);
    assert!(err.contains("$filter"), "{err}");
    let bad = env.dir.path().join("bad.toml");
    std::fs::write(&bad, "[[tables]]\nentity_set = \"contacts\"\n").unwrap();
    let other = tempfile::tempdir().unwrap();
    let out = Command::cargo_bin("outpost")
        .unwrap()
        .arg("--db")
        .arg(other.path())
        .args(["init", "--org", env.emu.org_url(), "--client-id", "x", "--profile"])
        .arg(&bad)
        .env("OUTPOST_PASSWORD", PASSWORD)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("sync profile"));
    assert!(!Path::new(&other.path().join("outpost.keys")).exists());
}

#[test]
fn the_demo_runs_to_the_end() {
    let out = Command::cargo_bin("outpost")
        .unwrap()
        .args(["demo", "--auto", "--rows", "2000"])
        .env_remove("OUTPOST_PASSWORD")
        .timeout(std::time::Duration::from_secs(180))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("rows synced: 2000 of 2000"), "{text}");
    assert!(text.contains("conflicts: 1") && text.contains("passwords refused: 1"), "{text}");
}
