//! `outpost demo`: the whole story on an embedded emulator — an encrypted vault, sign-in with
//! MFA, the initial sync, offline edits, a change by another user on the server, a sync with a
//! conflict, going offline, lock and unlock, offline query and search, and a summary.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use outpost_core::sync::{SyncConfig, SyncEngine, SyncOptions, SyncProfile, TableColumns};
use outpost_core::{
    Auth, AuthConfig, CreateOptions, Error, OpenOptions, OrgUrl, RecordState, Resolution, Value, Values, Vault,
};
use outpost_emulator::{defaults, Emulator, EmulatorConfig};
use zeroize::Zeroizing;

use crate::app::{self, ENV_PASSWORD};
use crate::commands::{conflicts_table, print_rows, run_sync, select_rows, summary_lines};
use crate::fail::{usage, Failure};
use crate::output::count;
use crate::pages::{self, Person};
use crate::DemoArgs;

/// The password `--auto` uses when `OUTPOST_PASSWORD` is not set (the demo's vault is temporary).
const AUTO_PASSWORD: &str = "demo: correct horse battery staple";
const WRONG_PASSWORD: &str = "not the password";

struct Step {
    n: u32,
    started: Instant,
    timings: Vec<(String, Duration)>,
}

impl Step {
    fn begin(&mut self, title: &str) {
        self.n += 1;
        self.started = Instant::now();
        println!("\n[{}/9] {title}", self.n);
        let _ = std::io::stdout().flush();
    }

    fn end(&mut self, label: &str) {
        self.timings.push((label.to_string(), self.started.elapsed()));
    }
}

fn say(s: &str) {
    println!("      {s}");
    let _ = std::io::stdout().flush();
}

fn values(pairs: &[(&str, Value)]) -> Values {
    pairs.iter().map(|(k, v)| ((*k).to_string(), v.clone())).collect()
}

fn fail(reason: impl std::fmt::Display) -> Failure {
    Error::Internal { reason: format!("demo: {reason}") }.into()
}

/// The demo.
pub async fn run(a: DemoArgs, json: bool) -> Result<(), Failure> {
    let auto = a.auto || !app::interactive();
    let started = Instant::now();
    let mut step = Step { n: 0, started, timings: Vec::new() };
    println!("Outpost demo: an offline-first field app against an embedded Dataverse + Entra emulator.");
    if auto {
        println!("(non-interactive: the emulator's sign-in pages are filled in automatically)");
    }

    // 1 ------------------------------------------------------------------------- the emulator
    step.begin("Starting the emulator (Dataverse Web API + Entra-shaped sign-in with MFA)");
    let data = outpost_emulator::DataConfig::from_total(a.rows.max(10));
    let config = EmulatorConfig { data, ..EmulatorConfig::default() };
    let emu = Emulator::start(config).map_err(|e| fail(format!("the emulator could not start: {e}")))?;
    let server_rows: HashMap<String, u64> = ["accounts", "contacts", "tasks"]
        .iter()
        .map(|s| ((*s).to_string(), emu.row_count(s).unwrap_or(0) as u64))
        .collect();
    let server_total: u64 = server_rows.values().sum();
    say(&format!(
        "listening on {}: {} rows ({} accounts, {} contacts, {} tasks)",
        emu.base_url(),
        count(server_total),
        count(server_rows["accounts"]),
        count(server_rows["contacts"]),
        count(server_rows["tasks"])
    ));
    step.end("emulator start");

    // 2 ----------------------------------------------------------------------------- the vault
    step.begin("Creating the encrypted vault with an offline password");
    let tmp;
    let dir: PathBuf = match &a.keep {
        Some(d) => {
            if Vault::exists(d) {
                return Err(usage(format!(
                    "--keep {}: a vault is already there; choose an empty directory",
                    d.display()
                )));
            }
            d.clone()
        }
        None => {
            tmp = tempfile::tempdir().map_err(|e| fail(format!("no temporary directory: {e}")))?;
            tmp.path().join("vault")
        }
    };
    let password: Zeroizing<String> = match std::env::var(ENV_PASSWORD) {
        Ok(p) if !p.is_empty() => Zeroizing::new(p),
        _ if auto => Zeroizing::new(AUTO_PASSWORD.to_string()),
        _ => app::password(ENV_PASSWORD, "choose an offline password for the demo vault", true)?,
    };
    let t = Instant::now();
    let vault = Vault::create(&dir, password.as_bytes(), &CreateOptions::default())?;
    let kdf = CreateOptions::default().kdf;
    say(&format!(
        "vault at {} — SQLCipher database, data key wrapped by Argon2id ({} MiB, {} passes, {} lanes) in {} ms",
        dir.display(),
        kdf.m_kib / 1024,
        kdf.t,
        kdf.p,
        t.elapsed().as_millis()
    ));
    step.end("vault create");

    // 3 ------------------------------------------------------------------------------ sign-in
    step.begin("Signing in as alice@contoso.test in the browser (password, then an MFA code)");
    let auth = Arc::new(Auth::new(
        AuthConfig {
            org: OrgUrl::parse(emu.org_url())?,
            client_id: emu.client_id(),
            redirect_uri: "http://127.0.0.1".into(),
            authority: Some(format!("{}/v2.0", emu.authority())),
            tenant: None,
            allow_password_grant: false,
        },
        vault.shared_store(),
    )?);
    let listener = outpost_core::LoopbackRedirect::bind().await?;
    let redirect = listener.redirect_uri();
    let request = auth
        .begin_sign_in(&outpost_core::SignInOptions {
            login_hint: Some(defaults::ALICE.into()),
            redirect_uri: Some(redirect.clone()),
            ..Default::default()
        })
        .await?;
    let redirect_url = url::Url::parse(&redirect).map_err(|_| fail("loopback URL"))?;
    let totp = || emu.totp_code(defaults::ALICE);
    let narrate = |s: &str| say(s);
    let person = Person { upn: defaults::ALICE, password: defaults::ALICE_PASSWORD, totp: &totp, say: &narrate };
    let wait = Duration::from_secs(if auto { 60 } else { 600 });
    let received = if auto {
        let (driven, received) =
            tokio::join!(pages::sign_in(&request.url, &redirect_url, &person), listener.receive(wait));
        driven.map_err(|e| fail(format!("the sign-in pages: {e}")))?;
        received
    } else {
        say(&format!("user alice@contoso.test, password {}", defaults::ALICE_PASSWORD));
        say(&format!(
            "MFA: the authenticator code right now is {} (TOTP secret {})",
            emu.totp_code(defaults::ALICE).unwrap_or_default(),
            emu.totp_secret(defaults::ALICE).unwrap_or_default()
        ));
        if !a.no_browser && crate::commands::has_display() && webbrowser::open(&request.url).is_ok() {
            say("opened the sign-in page in your browser; if nothing appeared, open:");
        } else {
            say("open this URL in a browser:");
        }
        say(&request.url);
        say("(the browser must run on this machine: the page redirects to 127.0.0.1; no browser here? use --auto)");
        listener.receive(wait).await
    };
    let account = auth.complete_sign_in(&received?).await?;
    say(&format!(
        "signed in as {} (tenant {}); the refresh token is kept inside the vault",
        account.username, account.tenant_id
    ));
    step.end("sign-in");

    // 4 ------------------------------------------------------------------------- initial sync
    step.begin("Initial sync: every profile table, paged, with change tracking");
    let profile = SyncProfile::default_profile();
    let org = OrgUrl::parse(emu.org_url())?;
    let engine = SyncEngine::new(vault.shared_store(), auth.clone(), &org, profile.clone(), SyncConfig::default())?;
    let first = run_sync(&engine, SyncOptions::default(), server_rows.clone(), json).await?;
    println!("{}", indent(&summary_lines(&first)));
    let store = vault.shared_store();
    for set in ["accounts", "contacts", "tasks"] {
        let local = store.count(set)?;
        if local != server_rows[set] {
            return Err(fail(format!("{set}: {local} rows locally, {} on the server", server_rows[set])));
        }
    }
    say(&format!("local copy checked: {} rows, the same as the server's, table by table", count(server_total)));
    step.end("initial sync");
    let rows_synced = first.rows_pulled();

    // 5 ------------------------------------------------------------------------ offline edits
    step.begin("Working offline: one edit and one new contact, queued in the outbox");
    let accounts_profile = profile.table("accounts").ok_or_else(|| fail("no accounts in the profile"))?;
    let contacts_profile = profile.table("contacts").ok_or_else(|| fail("no contacts in the profile"))?;
    let acols = TableColumns::load(&store, accounts_profile)?;
    let ccols = TableColumns::load(&store, contacts_profile)?;
    let (picked, _) = select_rows(&store, &acols, Some("startswith(name,'Contoso')"), None, Some("name"), Some(1))?;
    let account_id = picked
        .first()
        .and_then(|r| r.first())
        .and_then(|(_, v)| v.as_str().map(str::to_string))
        .ok_or_else(|| fail("no Contoso account"))?;
    let before = store.get("accounts", &account_id)?.ok_or_else(|| fail("the account vanished"))?;
    let name = before.values.get("name").and_then(Value::as_str).unwrap_or("?").to_string();
    say(&format!(
        "{name}: telephone1 {} → +1 555 0100, a visit note in description",
        before.values.get("telephone1").and_then(Value::as_str).unwrap_or("")
    ));
    store.update(
        "accounts",
        &account_id,
        values(&[
            ("telephone1", Value::text("+1 555 0100")),
            ("description", Value::text("Visited on site: the new warehouse opens in March.")),
        ]),
    )?;
    let mut contact = ccols.values_from_text("parentcustomerid", &format!("accounts({account_id})"))?;
    contact.extend(values(&[
        ("firstname", Value::text("Dana")),
        ("lastname", Value::text("Whitfield")),
        ("jobtitle", Value::text("Site manager")),
        ("emailaddress1", Value::text("dana.whitfield@example.com")),
    ]));
    let contact_id = store.create("contacts", contact)?;
    say(&format!("new contact Dana Whitfield ({contact_id}) at {name}"));
    let state = |set: &str, id: &str| -> Result<RecordState, Failure> {
        Ok(store.get(set, id)?.ok_or_else(|| fail("record vanished"))?.state)
    };
    say(&format!(
        "pending: {} changes in the outbox (account: {:?}, contact: {:?})",
        store.pending_count()?,
        state("accounts", &account_id)?,
        state("contacts", &contact_id)?
    ));
    step.end("offline edits");

    // 6 ----------------------------------------------------- someone else changes the server
    step.begin("Meanwhile, on the server: bob@contoso.test edits the same account");
    outpost_core::install_tls_provider();
    let http = reqwest::Client::new();
    let resp = http
        .patch(format!("{}/tables/accounts/rows/{account_id}?as={}", emu.control_url(), defaults::BOB))
        .json(&serde_json::json!({"telephone1": "+1 555 0199", "numberofemployees": 250}))
        .send()
        .await
        .map_err(|e| fail(format!("the server-side change: {e}")))?;
    if !resp.status().is_success() {
        return Err(fail(format!("the server-side change: HTTP {}", resp.status())));
    }
    say("bob sets telephone1 = +1 555 0199 and numberofemployees = 250");
    step.end("server change");

    // 7 --------------------------------------------------------------------- sync with conflict
    step.begin("Sync again: push the outbox (ETag concurrency), then pull the changes");
    let second = run_sync(&engine, SyncOptions::default(), HashMap::new(), true).await?;
    println!("{}", indent(&summary_lines(&second)));
    let conflicts = store.conflicts()?;
    say(&format!(
        "the default policy (merge_fields) kept this device's description and bob's numberofemployees; telephone1 \
         was changed on both sides, so it is a conflict for the user ({} open):",
        conflicts.len()
    ));
    println!("{}", indent(&conflicts_table(&store)?));
    let conflict = conflicts.first().ok_or_else(|| fail("the expected conflict did not appear"))?;
    store.resolve_conflict(conflict.id, &Resolution::TakeLocal)?;
    say("the field worker keeps the number from the visit (take local); one more sync sends it");
    let third = run_sync(&engine, SyncOptions::default(), HashMap::new(), true).await?;
    println!("{}", indent(&summary_lines(&third)));
    let after = store.get("accounts", &account_id)?.ok_or_else(|| fail("the account vanished"))?;
    say(&format!(
        "{name} now: telephone1 {}, numberofemployees {}, state {:?}; the contact is on the server: {}",
        after.values.get("telephone1").map(crate::output::cell).unwrap_or_default(),
        after.values.get("numberofemployees").map(crate::output::cell).unwrap_or_default(),
        after.state,
        state("contacts", &contact_id)? == RecordState::Synced
    ));
    step.end("sync with conflict");
    let conflicts_shown = conflicts.len();

    // 8 ----------------------------------------------------------------- offline, lock, unlock
    step.begin("Going offline: the emulator stops; lock, a wrong password, unlock");
    drop(engine);
    drop(auth);
    emu.shutdown();
    say("now offline: the server is gone");
    drop(store);
    vault.lock()?;
    say("locked: the database is closed and the key is wiped from memory");
    let mut refused = 0u32;
    match Vault::unlock(&dir, WRONG_PASSWORD.as_bytes(), &OpenOptions::default()) {
        Err(Error::WrongPassword { attempts_left }) => {
            refused += 1;
            say(&format!("a wrong password is refused ({attempts_left} attempts left before the lockout policy)"));
        }
        Ok(_) => return Err(fail("a wrong password opened the vault")),
        Err(e) => return Err(e.into()),
    }
    let t = Instant::now();
    let vault = Vault::unlock(&dir, password.as_bytes(), &OpenOptions::default())?;
    say(&format!("the right password unlocks it in {} ms", t.elapsed().as_millis()));
    step.end("lock and unlock");

    // 9 ------------------------------------------------------------------ offline query, search
    step.begin("Offline query and full-text search");
    let store = vault.shared_store();
    let filter = "startswith(name,'Contoso') and numberofemployees ge 100";
    let (rows, more) = select_rows(&store, &acols, Some(filter), None, Some("name"), Some(5))?;
    say(&format!("accounts where {filter}, by name (first 5):"));
    let select: Vec<String> =
        ["name", "telephone1", "numberofemployees", "revenue"].iter().map(|s| (*s).to_string()).collect();
    println!("{}", indent(&print_rows(&rows, &select)));
    if more {
        say("(more rows match)");
    }
    let t = Instant::now();
    let (hits, _) = select_rows(&store, &ccols, None, Some("site manager"), None, Some(5))?;
    say(&format!("contacts matching \"site manager\" (full-text, {} µs):", t.elapsed().as_micros()));
    let select: Vec<String> = ["fullname", "jobtitle", "emailaddress1"].iter().map(|s| (*s).to_string()).collect();
    println!("{}", indent(&print_rows(&hits, &select)));
    step.end("offline query");

    // summary ---------------------------------------------------------------------------------
    let local_total: u64 = ["accounts", "contacts", "tasks"].iter().map(|s| store.count(s).unwrap_or(0)).sum();
    drop(store);
    vault.lock()?;
    println!("\nSummary");
    println!("  rows synced: {rows_synced} of {server_total} on the server");
    println!("  rows offline now: {local_total} (including the new contact)");
    println!("  changes pushed: {}", second.push.pushed + third.push.pushed);
    println!("  conflicts: {conflicts_shown}");
    println!("  passwords refused: {refused}");
    for (label, d) in &step.timings {
        println!("  {label:<20} {:>8.2} s", d.as_secs_f64());
    }
    println!("  total: {:.1} s", started.elapsed().as_secs_f64());
    if json {
        println!(
            "{}",
            serde_json::json!({"rows_synced": rows_synced, "server_rows": server_total, "conflicts": conflicts_shown,
                               "passwords_refused": refused, "seconds": started.elapsed().as_secs_f64()})
        );
    }
    if a.keep.is_some() {
        println!("The vault was kept at {} (offline password: the one you chose).", dir.display());
    }
    Ok(())
}

fn indent(s: &str) -> String {
    s.trim_end().lines().map(|l| format!("      {l}")).collect::<Vec<_>>().join("\n")
}
