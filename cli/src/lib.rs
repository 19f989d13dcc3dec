#![doc = include_str!("../README.md")]

pub mod app;
pub mod commands;
pub mod demo;
pub mod fail;
pub mod output;
pub mod pages;
pub mod progress;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand, ValueEnum};

const EXIT_CODES: &str = "Exit codes: 0 ok · 1 internal error (report it) · 2 usage, invalid argument or not found · \
3 wrong offline password, locked out or wiped · 4 no vault, vault exists or another account's vault · \
5 sign-in needed or failed · 6 network unavailable or throttled (retry; nothing is lost) · \
7 the server refused, change tracking unavailable, or doctor checks failed · 8 unsent changes would be lost · \
9 damaged files, newer format or storage error · 10 cancelled · \
11 the sync left local changes unsent (see its summary and `outpost errors`).\n\
Environment: OUTPOST_PASSWORD (offline password), OUTPOST_NEW_PASSWORD (passwd), \
OUTPOST_SIGNIN_PASSWORD (sign-in --flow password), OUTPOST_DB (--db). Guide: docs/getting-started.md";

/// Offline-first sync of Dataverse tables into an encrypted local vault.
#[derive(Parser, Debug)]
#[command(name = "outpost", version, about, long_about = None, after_help = EXIT_CODES)]
pub struct Cli {
    /// Vault directory (default: the platform's data directory).
    #[arg(long, global = true, env = "OUTPOST_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,
    /// Machine-readable JSON on standard output (stable field names).
    #[arg(long, global = true)]
    pub json: bool,
    /// Redacted tracing logs on standard error (-v info, -vv debug, -vvv trace).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Walk the whole story on an embedded emulator (no tenant needed).
    Demo(DemoArgs),
    /// Create a vault for an org (asks for a new offline password twice, or reads OUTPOST_PASSWORD).
    Init(InitArgs),
    /// Sign in to the org.
    SignIn(SignInArgs),
    /// Push local changes, then pull the profile's tables.
    Sync(SyncArgs),
    /// Account, last sync per table, pending changes, conflicts and parked errors.
    Status,
    /// Check the org for what sync needs (reachability, tenant, change tracking, privileges, paging).
    Doctor,
    /// Query a table offline.
    Query(QueryArgs),
    /// Show one record.
    Get {
        /// Entity set, e.g. accounts.
        entity_set: String,
        /// Primary id.
        id: String,
    },
    /// Create a record locally (pushed by the next sync).
    Create(CreateArgs),
    /// Update a record locally (pushed by the next sync).
    Update(UpdateArgs),
    /// Delete a record locally (pushed by the next sync).
    Delete {
        /// Entity set.
        entity_set: String,
        /// Primary id.
        id: String,
    },
    /// List or resolve conflicts kept for you.
    Conflicts {
        #[command(subcommand)]
        action: Option<ConflictAction>,
    },
    /// List, retry or discard local changes the server refused.
    Errors {
        #[command(subcommand)]
        action: Option<ErrorAction>,
    },
    /// Lock the vault (the CLI never keeps it open between commands) and show its lockout state.
    Lock,
    /// Check the offline password and show the vault's state.
    Unlock,
    /// Change the offline password (the database is not re-encrypted).
    Passwd,
    /// Delete the sign-in (refuses while local changes are unsent, unless --force).
    SignOut {
        /// Sign out even though local changes have not been sent (they stay in the vault).
        #[arg(long)]
        force: bool,
    },
    /// Delete the vault and its settings.
    Wipe {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Print the link an administrator opens to consent to the app for the whole tenant.
    ConsentUrl,
    /// Consent to the app for the whole tenant here, as an administrator: opens the admin-consent
    /// link (scope `{org}/.default`), waits for the answer on loopback and checks its state.
    AdminConsent(AdminConsentArgs),
    /// Export the redacted log of recent syncs, for support.
    Log {
        /// Write to this file instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Run the emulator standalone until Ctrl-C.
    Emulator(EmulatorArgs),
}

/// `outpost demo`.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Non-interactive: no prompts; the emulator's sign-in pages are completed automatically.
    #[arg(long)]
    pub auto: bool,
    /// Rows the emulator generates (50 % accounts, 30 % contacts, 20 % tasks).
    #[arg(long, default_value_t = 20_000)]
    pub rows: u32,
    /// Print the sign-in URL instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Keep the demo's vault in this directory (default: a temporary directory, removed at the end).
    #[arg(long, value_name = "DIR")]
    pub keep: Option<PathBuf>,
}

/// `outpost init`.
#[derive(Args, Debug)]
pub struct InitArgs {
    /// The Dataverse environment URL, e.g. https://contoso.crm.dynamics.com.
    #[arg(long)]
    pub org: String,
    /// Issuer URL of the identity provider (default: discovered from the org's 401 challenge).
    /// For Entra: https://login.microsoftonline.com/<tenant>/v2.0 (the form without /v2.0 is
    /// taken as that on Microsoft's login hosts; Entra's v1 endpoints are refused). Another
    /// OpenID provider: its issuer, where /.well-known/openid-configuration is found.
    #[arg(long, conflicts_with = "tenant")]
    pub authority: Option<String>,
    /// Entra tenant id or domain, on the login host the org's 401 challenge names at sign-in
    /// (so sovereign clouds get their own host: login.microsoftonline.us, login.chinacloudapi.cn, …).
    #[arg(long)]
    pub tenant: Option<String>,
    /// Client id of the app registration (a public client).
    #[arg(long)]
    pub client_id: String,
    /// Redirect URI registered for the app (loopback; the port is chosen at sign-in).
    #[arg(long, default_value = "http://localhost")]
    pub redirect_uri: String,
    /// Sync profile (TOML); the shipped default syncs accounts, contacts and tasks.
    #[arg(long, value_name = "FILE")]
    pub profile: Option<PathBuf>,
}

/// Sign-in flows.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    /// Authorization code + PKCE in the system browser (MFA happens there).
    Browser,
    /// Device code: sign in on any device with a browser.
    DeviceCode,
    /// Password grant: service accounts without MFA only.
    Password,
}

/// `outpost sign-in`.
#[derive(Args, Debug)]
pub struct SignInArgs {
    /// Which flow.
    #[arg(long, value_enum, default_value_t = Flow::Browser)]
    pub flow: Flow,
    /// Account name (required for --flow password; a login hint otherwise).
    #[arg(long)]
    pub username: Option<String>,
    /// Print the sign-in URL instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Seconds to wait for the browser or device sign-in.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// `outpost admin-consent`.
#[derive(Args, Debug)]
pub struct AdminConsentArgs {
    /// Print the link instead of opening a browser.
    #[arg(long)]
    pub no_browser: bool,
    /// Seconds to wait for the administrator's answer.
    #[arg(long, default_value_t = 300)]
    pub timeout: u64,
}

/// `outpost sync`.
#[derive(Args, Debug)]
pub struct SyncArgs {
    /// Pull only these tables (comma-separated entity sets); the push always sends everything.
    #[arg(long, value_delimiter = ',')]
    pub tables: Option<Vec<String>>,
}

/// `outpost query`.
#[derive(Args, Debug)]
pub struct QueryArgs {
    /// Entity set, e.g. accounts.
    pub entity_set: String,
    /// OData $filter subset (docs/filter.md), e.g. "statecode eq 0 and startswith(name,'Contoso')".
    #[arg(long)]
    pub filter: Option<String>,
    /// Full-text search (best matches first; a trailing * makes a prefix).
    #[arg(long)]
    pub search: Option<String>,
    /// Columns to show (comma-separated profile column names).
    #[arg(long, value_delimiter = ',')]
    pub select: Option<Vec<String>>,
    /// Ordering: "column [desc]", comma-separated.
    #[arg(long)]
    pub order: Option<String>,
    /// At most this many rows (default: all with --json, 50 in a table).
    #[arg(long)]
    pub limit: Option<u32>,
}

/// `outpost create`.
#[derive(Args, Debug)]
pub struct CreateArgs {
    /// Entity set.
    pub entity_set: String,
    /// Values as column=value (lookups as column=<set>(<id>)).
    pub values: Vec<String>,
    /// Values as one JSON object instead.
    #[arg(long, value_name = "JSON")]
    pub json_body: Option<String>,
}

/// `outpost update`.
#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// Entity set.
    pub entity_set: String,
    /// Primary id.
    pub id: String,
    /// Values as column=value (lookups as column=<set>(<id>)).
    pub values: Vec<String>,
    /// Values as one JSON object instead.
    #[arg(long, value_name = "JSON")]
    pub json_body: Option<String>,
}

/// `outpost conflicts …`.
#[derive(Subcommand, Debug)]
pub enum ConflictAction {
    /// List open conflicts (the default).
    List,
    /// Resolve one conflict.
    Resolve {
        /// Conflict id (from the list).
        id: i64,
        /// Which side to keep.
        #[arg(long, value_enum)]
        take: Side,
    },
}

/// A conflict side.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// This device's values.
    Local,
    /// The server's values.
    Server,
}

/// `outpost errors …`.
#[derive(Subcommand, Debug)]
pub enum ErrorAction {
    /// List parked changes (the default).
    List,
    /// Queue a parked change again (after fixing its values with `update`).
    Retry {
        /// Outbox sequence number (from the list).
        seq: i64,
    },
    /// Drop a parked change; the record returns to the server's version.
    Discard {
        /// Outbox sequence number (from the list).
        seq: i64,
    },
}

/// `outpost emulator`.
#[derive(Args, Debug)]
pub struct EmulatorArgs {
    /// TCP port (0 = any free port).
    #[arg(long, default_value_t = 5155)]
    pub port: u16,
    /// Address to bind.
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: String,
    /// Rows to generate (50 % accounts, 30 % contacts, 20 % tasks).
    #[arg(long, default_value_t = 20_000)]
    pub rows: u32,
    /// Seed of the data generator.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Base URL written into links, issuer and audience (for phones and Android emulators).
    #[arg(long)]
    pub public_url: Option<String>,
}

/// The `outpost` program: parse the command line, run the command, return its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    app::init_tracing(cli.verbose);
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("outpost: cannot start the runtime: {e}");
            return ExitCode::from(fail::INTERNAL);
        }
    };
    let code = runtime.block_on(commands::run(cli));
    // Work still running on the runtime (a sign-in page server, a cancelled request) is dropped.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    ExitCode::from(code)
}
