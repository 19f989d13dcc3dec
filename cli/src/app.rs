//! What every command needs: where the vault is, the CLI's settings beside it, the offline
//! password, and the core objects (vault, sign-in, sync engine) built from them.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use outpost_core::sync::{SyncConfig, SyncEngine, SyncProfile};
use outpost_core::{Auth, AuthConfig, Error, OpenOptions, OrgUrl, Vault};
use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::fail::{usage, Failure};

/// The offline password (`outpost init`, every command that opens the vault).
pub const ENV_PASSWORD: &str = "OUTPOST_PASSWORD";
/// The new offline password for `outpost passwd`, when not prompted.
pub const ENV_NEW_PASSWORD: &str = "OUTPOST_NEW_PASSWORD";
/// The account password for `sign-in --flow password` (never the offline password).
pub const ENV_SIGNIN_PASSWORD: &str = "OUTPOST_SIGNIN_PASSWORD";

/// The CLI's settings file, beside the vault. It holds no secrets.
pub const SETTINGS_FILE: &str = "cli.json";

/// The CLI's settings for one vault.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Format of this file.
    pub version: u32,
    /// Dataverse environment URL.
    pub org: String,
    /// App registration.
    pub client_id: String,
    /// Issuer URL; `None`: discovered from the org's 401 challenge.
    pub authority: Option<String>,
    /// Entra tenant (`--tenant`) on the login host the org's challenge names (`None`: the
    /// challenge's tenant).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    /// Registered redirect URI (loopback for the CLI).
    pub redirect_uri: String,
    /// Sync profile as TOML.
    pub profile: String,
}

impl Settings {
    /// Read the settings of the vault in `dir`.
    ///
    /// # Errors
    /// `NoVault` when there is no vault; `Corrupt` for an unreadable file.
    pub fn load(dir: &Path) -> Result<Settings, Failure> {
        let path = dir.join(SETTINGS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(if Vault::exists(dir) {
                    Error::Corrupt { what: format!("{SETTINGS_FILE} is missing (run `outpost init` again after wipe)") }
                } else {
                    Error::NoVault
                }
                .into())
            }
            Err(e) => return Err(Error::from(e).into()),
        };
        let s: Settings =
            serde_json::from_str(&text).map_err(|_| Error::Corrupt { what: SETTINGS_FILE.to_string() })?;
        if s.version != 1 {
            return Err(Error::NewerFormat { found: s.version, supported: 1 }.into());
        }
        Ok(s)
    }

    /// Write the settings (owner-only permissions), atomically.
    ///
    /// # Errors
    /// `Storage`.
    pub fn save(&self, dir: &Path) -> Result<(), Failure> {
        let json = serde_json::to_string_pretty(self).map_err(|e| Error::Internal { reason: e.to_string() })?;
        let tmp = dir.join(format!("{SETTINGS_FILE}.tmp"));
        write_private(&tmp, json.as_bytes())?;
        std::fs::rename(&tmp, dir.join(SETTINGS_FILE)).map_err(Error::from)?;
        Ok(())
    }

    /// The sync profile.
    ///
    /// # Errors
    /// `InvalidArgument` when it does not parse.
    pub fn sync_profile(&self) -> Result<SyncProfile, Failure> {
        Ok(SyncProfile::from_toml(&self.profile)?)
    }

    /// Sign-in settings; `password_grant` enables ROPC for this run.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad org URL.
    pub fn auth_config(&self, password_grant: bool) -> Result<AuthConfig, Failure> {
        Ok(AuthConfig {
            org: OrgUrl::parse(&self.org)?,
            client_id: self.client_id.clone(),
            redirect_uri: self.redirect_uri.clone(),
            authority: self.authority.clone(),
            tenant: self.tenant.clone(),
            allow_password_grant: password_grant,
        })
    }
}

/// Write a file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(path).map_err(Error::from)?;
    f.write_all(bytes).map_err(Error::from)?;
    f.sync_all().map_err(Error::from)?;
    Ok(())
}

/// The vault directory: `--db`, or the platform's data directory.
pub fn vault_dir(db: Option<&Path>) -> Result<PathBuf, Failure> {
    if let Some(p) = db {
        return Ok(p.to_path_buf());
    }
    directories::ProjectDirs::from("io", "Outpost", "outpost")
        .map(|d| d.data_dir().to_path_buf())
        .ok_or_else(|| usage("no home directory: pass --db PATH"))
}

/// Whether we may prompt (standard input and error are terminals).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn prompt(label: &str) -> Result<Zeroizing<String>, Failure> {
    rpassword::prompt_password(label).map(Zeroizing::new).map_err(|e| {
        Failure::from(Error::Storage { reason: format!("cannot read the password from the terminal ({})", e.kind()) })
    })
}

/// A password from `env`, or prompted (twice when `confirm`).
///
/// # Errors
/// `InvalidArgument` when neither is possible, when the two entries differ, or when empty.
pub fn password(env: &str, label: &str, confirm: bool) -> Result<Zeroizing<String>, Failure> {
    if let Ok(p) = std::env::var(env) {
        let p = Zeroizing::new(p);
        if p.is_empty() {
            return Err(usage(format!("{env} is empty")));
        }
        return Ok(p);
    }
    if !interactive() {
        return Err(usage(format!("no terminal to ask for the {label}: set {env}")));
    }
    let first = prompt(&format!("{label}: "))?;
    if first.is_empty() {
        return Err(usage(format!("the {label} is empty")));
    }
    if confirm {
        let second = prompt(&format!("{label} (again): "))?;
        if *first != *second {
            return Err(usage("the two passwords differ"));
        }
    }
    Ok(first)
}

/// Unlock the vault in `dir` with the offline password (prompted again after a wrong one,
/// while attempts are left and a terminal is there).
///
/// # Errors
/// `NoVault`, `WrongPassword`, `LockedOut`, `Wiped`, `Corrupt`, `NewerFormat`.
pub fn unlock(dir: &Path) -> Result<Vault, Failure> {
    if !Vault::exists(dir) {
        return Err(Error::NoVault.into());
    }
    let from_env = std::env::var_os(ENV_PASSWORD).is_some();
    let mut tries = 0;
    loop {
        let pw = password(ENV_PASSWORD, "offline password", false)?;
        match Vault::unlock(dir, pw.as_bytes(), &OpenOptions::default()) {
            Err(Error::WrongPassword { attempts_left }) if !from_env && attempts_left > 0 && tries < 2 => {
                tries += 1;
                eprintln!("wrong password ({attempts_left} attempts left)");
            }
            other => return Ok(other?),
        }
    }
}

/// Everything a signed-in command needs.
pub struct Session {
    pub vault: Vault,
    pub settings: Settings,
    pub auth: Arc<Auth>,
    pub profile: SyncProfile,
}

impl Session {
    /// Unlock and build the sign-in session.
    ///
    /// # Errors
    /// As [`unlock`] and [`Settings::load`].
    pub fn open(dir: &Path, password_grant: bool) -> Result<Session, Failure> {
        let settings = Settings::load(dir)?;
        let profile = settings.sync_profile()?;
        let vault = unlock(dir)?;
        let auth = Arc::new(Auth::new(settings.auth_config(password_grant)?, vault.shared_store())?);
        Ok(Session { vault, settings, auth, profile })
    }

    /// The sync engine.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad profile.
    pub fn engine(&self) -> Result<SyncEngine, Failure> {
        let org = OrgUrl::parse(&self.settings.org)?;
        Ok(SyncEngine::new(
            self.vault.shared_store(),
            self.auth.clone(),
            &org,
            self.profile.clone(),
            SyncConfig::default(),
        )?)
    }
}

/// Redacted tracing to standard error: the core's events never carry secrets.
pub fn init_tracing(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => tracing::Level::INFO,
        2 => tracing::Level::DEBUG,
        _ => tracing::Level::TRACE,
    };
    let _ = tracing_subscriber::fmt().with_max_level(level).with_writer(std::io::stderr).with_target(true).try_init();
    // Records of the `log` facade (reqwest, hyper-util, rustls) too, at the same level: every
    // target's lines are shown, and the secret scan (cli/tests/secrets.rs) reads them all.
    let filter = match level {
        tracing::Level::INFO => tracing_log::log::LevelFilter::Info,
        tracing::Level::DEBUG => tracing_log::log::LevelFilter::Debug,
        _ => tracing_log::log::LevelFilter::Trace,
    };
    let _ = tracing_log::LogTracer::init_with_filter(filter);
}
