//! `outpost-emulator`: runs the emulator until Ctrl-C.

use std::path::PathBuf;

use clap::Parser;
use outpost_emulator::{DataConfig, Emulator, EmulatorConfig};

/// Local emulator of Microsoft Entra ID and the Dataverse Web API.
#[derive(Parser, Debug)]
#[command(name = "outpost-emulator", version, about)]
struct Args {
    /// TCP port (0 = pick a free port).
    #[arg(long, default_value_t = 5155, env = "OUTPOST_EMULATOR_PORT")]
    port: u16,
    /// Address to bind (use 0.0.0.0 to accept connections from other machines).
    #[arg(long, default_value = "127.0.0.1")]
    bind: String,
    /// Seed of the data generator and derived secrets.
    #[arg(long)]
    seed: Option<u64>,
    /// Total generated rows (50 % accounts, 30 % contacts, 20 % tasks).
    #[arg(long)]
    rows: Option<u32>,
    /// Base URL written into links, issuer and audience (e.g. http://10.0.2.2:5155 for an Android emulator,
    /// or http://127.0.0.1:5155 with `adb reverse tcp:5155 tcp:5155`).
    #[arg(long)]
    public_url: Option<String>,
    /// JSON configuration file (tenants, users, apps, tables, settings).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Access-token lifetime in seconds.
    #[arg(long)]
    token_lifetime: Option<u64>,
    /// Print one JSON line with URLs, users and secrets instead of the human-readable banner.
    #[arg(long)]
    json: bool,
    /// Print the default configuration as JSON (a starting point for --config) and exit.
    #[arg(long)]
    print_default_config: bool,
}

fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if args.print_default_config {
        match serde_json::to_string_pretty(&EmulatorConfig::default()) {
            Ok(s) => println!("{s}"),
            Err(e) => eprintln!("outpost-emulator: {e}"),
        }
        return std::process::ExitCode::SUCCESS;
    }
    let mut config = match &args.config {
        Some(p) => match EmulatorConfig::from_json_file(p) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("outpost-emulator: {e}");
                return std::process::ExitCode::from(2);
            }
        },
        None => EmulatorConfig::default(),
    };
    config.port = args.port;
    config.bind = args.bind.clone();
    if let Some(s) = args.seed {
        config.seed = s;
    }
    if let Some(r) = args.rows {
        config.data = DataConfig::from_total(r);
    }
    if args.public_url.is_some() {
        config.public_url = args.public_url.clone();
    }
    if let Some(l) = args.token_lifetime {
        config.settings.access_token_lifetime_secs = l;
    }
    let handle = match Emulator::start(config) {
        Ok(h) => h,
        Err(e) => {
            eprintln!("outpost-emulator: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    if args.json {
        let users: Vec<serde_json::Value> = handle
            .users()
            .iter()
            .map(|u| serde_json::json!({"upn": u.upn, "password": u.password, "mfa": u.mfa, "totp_secret": u.totp_secret, "object_id": u.object_id}))
            .collect();
        println!(
            "{}",
            serde_json::json!({
                "base_url": handle.base_url(), "listen": handle.local_addr().to_string(), "org_url": handle.org_url(),
                "web_api": handle.web_api_url(), "authority": format!("{}/v2.0", handle.authority()), "tenant_id": handle.tenant_id(),
                "client_id": handle.client_id(), "redirect_uris": handle.redirect_uris(), "scope": handle.scope(),
                "users": users, "control": handle.control_url(),
            })
        );
    } else {
        println!("Outpost emulator listening on http://{}", handle.local_addr());
        println!("  Base URL (links, issuer, audience): {}", handle.base_url());
        println!("  Dataverse Web API:  {}", handle.web_api_url());
        println!("  Authority:          {}/v2.0", handle.authority());
        println!("  Discovery:          {}/v2.0/.well-known/openid-configuration", handle.authority());
        println!("  Device login:       {}/devicelogin", handle.base_url());
        println!("  Control API:        {}/", handle.control_url());
        println!("  Client id:          {}", handle.client_id());
        println!("  Redirect URIs:      {}", handle.redirect_uris().join(", "));
        println!("  Scope:              {} offline_access openid profile", handle.scope());
        println!("  Users:");
        for u in handle.users() {
            let mfa = if u.mfa { format!("MFA, TOTP secret {}", u.totp_secret) } else { "no MFA".to_owned() };
            println!("    {:<22} password {:<18} {mfa}", u.upn, u.password);
        }
        for t in ["accounts", "contacts", "tasks"] {
            println!("  {t}: {} rows", handle.row_count(t).unwrap_or(0));
        }
        println!("Press Ctrl-C to stop.");
    }
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("outpost-emulator: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    rt.block_on(async {
        let _ = tokio::signal::ctrl_c().await;
    });
    handle.shutdown();
    std::process::ExitCode::SUCCESS
}
