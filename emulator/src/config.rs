//! Emulator configuration: tenants, users, apps, data sizes and behaviour switches.
//!
//! Everything has a default (`EmulatorConfig::default()`), and a JSON file can override any part of it
//! (`EmulatorConfig::from_json_file`). Unknown keys are rejected so typos do not pass silently.

use std::path::Path;

use serde::{Deserialize, Serialize};

/// Fixed identifiers of the default configuration, so tests and docs can name them.
pub mod defaults {
    /// Tenant id (directory id) of the default `Contoso` tenant.
    pub const TENANT_ID: &str = "7c3d0f52-8a1e-4b6f-9e2d-5a4c1b0e9f37";
    /// Verified domain of the default tenant.
    pub const TENANT_DOMAIN: &str = "contoso.test";
    /// Client id of the default public-client app ("Outpost Sample").
    pub const CLIENT_ID: &str = "4c7f0a9e-5b1d-4e2a-8c3f-9d6b2e1a7f05";
    /// MFA user.
    pub const ALICE: &str = "alice@contoso.test";
    /// Password of [`ALICE`]. Contains `+`, `/` and `=` on purpose.
    pub const ALICE_PASSWORD: &str = "Alice+Secret/1=";
    /// User without MFA.
    pub const BOB: &str = "bob@contoso.test";
    /// Password of [`BOB`].
    pub const BOB_PASSWORD: &str = "Bob+Secret/2=";
    /// Tenant administrator (no MFA), able to grant admin consent.
    pub const ADMIN: &str = "admin@contoso.test";
    /// Password of [`ADMIN`].
    pub const ADMIN_PASSWORD: &str = "Admin+Secret/3=";
}

/// Whole emulator configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmulatorConfig {
    /// TCP port on 127.0.0.1; 0 picks a free port.
    pub port: u16,
    /// Address to bind (default `127.0.0.1`).
    pub bind: String,
    /// Base URL written into every link (nextLink, OData-EntityId, discovery, issuer...).
    /// Defaults to `http://127.0.0.1:<port>`.
    pub public_url: Option<String>,
    /// Seed of the deterministic data generator and of derived secrets.
    pub seed: u64,
    /// Generated row counts.
    pub data: DataConfig,
    /// Directory: tenants with their users. The first tenant owns the Dataverse organization.
    pub tenants: Vec<TenantConfig>,
    /// App registrations.
    pub apps: Vec<AppConfig>,
    /// Per-table switches.
    pub tables: Vec<TableConfig>,
    /// Behaviour switches (also changeable at run time through the control API).
    pub settings: Settings,
    /// Worker threads of the emulator's own tokio runtime.
    pub worker_threads: usize,
}

/// Generated row counts per table.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataConfig {
    /// Rows in `accounts`.
    pub accounts: u32,
    /// Rows in `contacts`.
    pub contacts: u32,
    /// Rows in `tasks`.
    pub tasks: u32,
}

impl DataConfig {
    /// Splits a total row count: half accounts, 30 % contacts, the rest tasks.
    #[must_use]
    pub fn from_total(rows: u32) -> Self {
        let accounts = rows / 2;
        let contacts = rows / 10 * 3;
        DataConfig { accounts, contacts, tasks: rows - accounts - contacts }
    }
}

impl Default for DataConfig {
    fn default() -> Self {
        DataConfig { accounts: 50, contacts: 30, tasks: 20 }
    }
}

/// A tenant (directory).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantConfig {
    /// Tenant GUID.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Verified domains (usable as `{tenant}` in URLs and as UPN suffixes).
    pub domains: Vec<String>,
    /// Whether users may consent to apps themselves. When false, sign-in to an app without admin consent
    /// ends in an error redirect.
    pub user_consent_allowed: bool,
    /// Client ids with tenant-wide (admin) consent.
    pub consented_apps: Vec<String>,
    /// Users.
    pub users: Vec<UserConfig>,
}

impl Default for TenantConfig {
    fn default() -> Self {
        TenantConfig {
            id: defaults::TENANT_ID.to_owned(),
            name: "Contoso".to_owned(),
            domains: vec![defaults::TENANT_DOMAIN.to_owned(), "contoso.onmicrosoft.com".to_owned()],
            user_consent_allowed: true,
            consented_apps: vec![defaults::CLIENT_ID.to_owned()],
            users: Vec::new(),
        }
    }
}

/// Read privilege depth on a table.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ReadLevel {
    /// Organization-level read: all rows, change tracking allowed.
    Organization,
    /// User-level read: only rows the user owns; change tracking refused (403).
    User,
    /// No read privilege: 403 on every read.
    None,
}

/// Privileges of a user on one table (entity set name). Tables not listed get full privileges.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PrivilegeConfig {
    /// Entity set name, e.g. `accounts`.
    pub table: String,
    /// Read depth.
    pub read: ReadLevel,
    /// May create rows.
    pub create: bool,
    /// May update rows.
    pub write: bool,
    /// May delete rows.
    pub delete: bool,
}

impl Default for PrivilegeConfig {
    fn default() -> Self {
        PrivilegeConfig { table: String::new(), read: ReadLevel::Organization, create: true, write: true, delete: true }
    }
}

/// A user of a tenant.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UserConfig {
    /// User principal name, e.g. `alice@contoso.test`.
    pub upn: String,
    /// Password.
    pub password: String,
    /// Display name.
    pub display_name: String,
    /// Entra object id (`oid`); derived from the seed when absent.
    pub object_id: Option<String>,
    /// Dataverse `systemuserid`; derived from the seed when absent.
    pub systemuser_id: Option<String>,
    /// Whether sign-in requires a TOTP code.
    pub mfa: bool,
    /// Base32 TOTP secret; derived from the seed when absent.
    pub totp_secret: Option<String>,
    /// Tenant administrator (may grant admin consent).
    pub admin: bool,
    /// Per-table privileges (tables not listed: full privileges).
    pub privileges: Vec<PrivilegeConfig>,
}

/// An app registration (public client).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// Application (client) id.
    pub client_id: String,
    /// Display name (shown on the consent page and in AADSTS65001).
    pub name: String,
    /// Registered redirect URIs. `http://localhost` and `http://127.0.0.1` match any port.
    pub redirect_uris: Vec<String>,
    /// "Allow public client flows" (device code, ROPC). Off → AADSTS7000218.
    pub allow_public_client_flows: bool,
    /// Multi-tenant app (`AzureADMultipleOrgs`); otherwise only usable in `home_tenant`.
    pub multi_tenant: bool,
    /// Home tenant id; empty means the first tenant.
    pub home_tenant: String,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            client_id: defaults::CLIENT_ID.to_owned(),
            name: "Outpost Sample".to_owned(),
            redirect_uris: vec![
                "http://localhost".to_owned(),
                "http://127.0.0.1".to_owned(),
                "outpost://auth".to_owned(),
            ],
            allow_public_client_flows: true,
            multi_tenant: true,
            home_tenant: String::new(),
        }
    }
}

/// Per-table switches.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TableConfig {
    /// Entity set name, e.g. `tasks`.
    pub table: String,
    /// Change tracking enabled (default true for every table).
    pub change_tracking: bool,
}

impl Default for TableConfig {
    fn default() -> Self {
        TableConfig { table: String::new(), change_tracking: true }
    }
}

/// What happens when a rotated (already used) refresh token is presented again.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum RefreshReuse {
    /// Entra's behaviour: the old token keeps working.
    Lax,
    /// Reuse revokes the whole token family (AADSTS50173 from then on). Not Entra's behaviour.
    Strict,
}

/// Behaviour switches. All can be changed at run time with `POST /_emulator/settings`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Add fields, annotations and headers the client did not ask for.
    pub noise: bool,
    /// Refresh-token reuse mode.
    pub refresh_token_reuse: RefreshReuse,
    /// Access-token lifetime in seconds.
    pub access_token_lifetime_secs: u64,
    /// Refresh-token inactivity lifetime in seconds (90 days).
    pub refresh_token_lifetime_secs: u64,
    /// Authorization-code lifetime in seconds.
    pub auth_code_lifetime_secs: u64,
    /// Device-code lifetime in seconds.
    pub device_code_lifetime_secs: u64,
    /// Device-code polling interval in seconds.
    pub device_code_interval_secs: u64,
    /// Seconds added to the required polling interval after each `slow_down` (RFC 8628 says 5).
    pub device_slow_down_increment_secs: u64,
    /// Maximum age of a delta token in seconds before 0x80044352.
    pub delta_token_ttl_secs: u64,
    /// Service protection: requests per user per window.
    pub requests_per_window: u32,
    /// Service protection: window length in seconds.
    pub window_secs: u64,
    /// Service protection: concurrent requests per user.
    pub concurrency_limit: u32,
    /// `Retry-After` sent with the concurrency 429.
    pub concurrency_retry_after_secs: u64,
    /// Reproduces a reported real behaviour (powerapps-docs#439, 2019, v8.2; UNVERIFIED on current Dataverse):
    /// a change-tracked read (initial pages or a delta request) whose `Prefer` asks for any annotation
    /// (`odata.include-annotations=...`) gets no `@odata.deltaLink` on its last page. Off by default.
    pub annotations_drop_delta_link: bool,
    /// Echo a part's `Content-ID` in `$batch` answers to parts outside changesets too. Off by default:
    /// the Dataverse docs show Content-ID echoed in changeset answers only and say nothing of other
    /// parts, and ODataLib's multipart batch writer (the OData library the Web API runs on) writes the
    /// header only inside a changeset (UNVERIFIED on a live org). A client must cope with both shapes;
    /// turn this on to test the other one.
    pub echo_content_id_outside_changesets: bool,
    /// Seconds the emulator's clock runs ahead of the machine's (negative: behind), as seen from
    /// the device: the identity provider's token times (`iat`, `nbf`, `exp`, expiry checks) and
    /// the `Date` header of every response follow it, so a device clock that is off is tested
    /// (issue 15, defect 4). Dataverse row times (`modifiedon`) keep the machine's clock. 0 by
    /// default.
    pub clock_offset_secs: i64,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            noise: true,
            refresh_token_reuse: RefreshReuse::Lax,
            access_token_lifetime_secs: 3600,
            refresh_token_lifetime_secs: 90 * 86_400,
            auth_code_lifetime_secs: 600,
            device_code_lifetime_secs: 900,
            device_code_interval_secs: 5,
            device_slow_down_increment_secs: 5,
            delta_token_ttl_secs: 7 * 86_400,
            requests_per_window: 6000,
            window_secs: 300,
            concurrency_limit: 52,
            concurrency_retry_after_secs: 1,
            annotations_drop_delta_link: false,
            echo_content_id_outside_changesets: false,
            clock_offset_secs: 0,
        }
    }
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        let users = vec![
            UserConfig {
                upn: defaults::ALICE.to_owned(),
                password: defaults::ALICE_PASSWORD.to_owned(),
                display_name: "Alice Anders".to_owned(),
                mfa: true,
                ..UserConfig::default()
            },
            UserConfig {
                upn: defaults::BOB.to_owned(),
                password: defaults::BOB_PASSWORD.to_owned(),
                display_name: "Bob Berg".to_owned(),
                ..UserConfig::default()
            },
            UserConfig {
                upn: defaults::ADMIN.to_owned(),
                password: defaults::ADMIN_PASSWORD.to_owned(),
                display_name: "Contoso Admin".to_owned(),
                admin: true,
                ..UserConfig::default()
            },
        ];
        let tenant = TenantConfig { users, ..TenantConfig::default() };
        EmulatorConfig {
            port: 0,
            bind: "127.0.0.1".to_owned(),
            public_url: None,
            seed: 42,
            data: DataConfig::default(),
            tenants: vec![tenant],
            apps: vec![AppConfig::default()],
            tables: Vec::new(),
            settings: Settings::default(),
            worker_threads: 2,
        }
    }
}

/// Error reading a configuration file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read config file: {0}")]
    Io(#[from] std::io::Error),
    /// The JSON is invalid or has unknown keys.
    #[error("invalid config JSON: {0}")]
    Json(#[from] serde_json::Error),
}

impl EmulatorConfig {
    /// Reads a JSON configuration file. Missing keys take their defaults.
    ///
    /// # Errors
    /// I/O errors and invalid JSON (including unknown keys).
    pub fn from_json_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)?;
        Self::from_json(&text)
    }

    /// Parses a JSON configuration. Missing keys take their defaults.
    ///
    /// # Errors
    /// Invalid JSON, including unknown keys.
    pub fn from_json(text: &str) -> Result<Self, ConfigError> {
        Ok(serde_json::from_str(text)?)
    }

    /// Sets the generated row counts.
    #[must_use]
    pub fn with_rows(mut self, accounts: u32, contacts: u32, tasks: u32) -> Self {
        self.data = DataConfig { accounts, contacts, tasks };
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_example_parses() {
        let readme = include_str!("../README.md");
        let start = readme.find("```json\n").unwrap() + 8;
        let end = readme[start..].find("```").unwrap() + start;
        let cfg = EmulatorConfig::from_json(&readme[start..end]).unwrap();
        assert_eq!(cfg.seed, 7);
        assert_eq!(cfg.settings.refresh_token_reuse, RefreshReuse::Strict);
        assert_eq!(cfg.tenants[0].users[0].privileges[0].read, ReadLevel::User);
        assert!(EmulatorConfig::from_json("{\"sede\": 1}").is_err(), "unknown keys are rejected");
    }

    #[test]
    fn row_split() {
        let d = DataConfig::from_total(1000);
        assert_eq!((d.accounts, d.contacts, d.tasks), (500, 300, 200));
    }
}
