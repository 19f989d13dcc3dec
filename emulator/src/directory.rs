//! The directory: tenants, users (passwords, MFA, TOTP secrets, privileges, consents) and apps.

use std::collections::{BTreeSet, HashMap};

use crate::codec;
use crate::config::{AppConfig, EmulatorConfig, PrivilegeConfig, ReadLevel};

/// A user.
#[derive(Clone, Debug)]
pub struct User {
    /// UPN.
    pub upn: String,
    /// Password.
    pub password: String,
    /// Display name.
    pub display_name: String,
    /// Entra object id.
    pub oid: u128,
    /// Dataverse systemuserid.
    pub systemuser_id: u128,
    /// MFA required.
    pub mfa: bool,
    /// TOTP secret bytes.
    pub totp_secret: Vec<u8>,
    /// TOTP secret, base32.
    pub totp_base32: String,
    /// Tenant admin.
    pub admin: bool,
    /// Privileges per table.
    pub privileges: Vec<PrivilegeConfig>,
    /// Permissions this user consented to, per app (client id → permissions; see [`permission`]).
    pub consents: Consents,
}

/// Consent per app: client id (lower case) → the permissions consented to.
pub type Consents = HashMap<String, BTreeSet<String>>;

/// The Graph permissions an OpenID sign-in asks for (Microsoft lists `openid`, `profile`, `email`
/// and `offline_access` as Microsoft Graph delegated permissions; an OIDC-only request is a token
/// for Graph's `User.Read`).
const GRAPH_STATIC: [&str; 5] = ["openid", "profile", "email", "offline_access", "user.read"];

/// Consent's name for Dataverse's one delegated permission (`{org}/user_impersonation`, which
/// `{org}/.default` also asks for). The emulator has one org, and a scope for any other resource
/// is refused at the token endpoint (AADSTS500011), so the org's URL is not part of the name.
pub const DATAVERSE_PERMISSION: &str = "dynamics crm/user_impersonation";

/// The permission a scope names, as consent records it: OIDC and Graph scopes in lower case
/// (`https://graph.microsoft.com/User.Read` as `user.read`), a Dataverse scope as
/// [`DATAVERSE_PERMISSION`].
#[must_use]
pub fn permission(scope: &str) -> String {
    let lower = scope.to_ascii_lowercase();
    if let Some(graph) = lower.strip_prefix("https://graph.microsoft.com/") {
        return graph.to_owned();
    }
    if lower.starts_with("https://") || lower.starts_with("http://") {
        return DATAVERSE_PERMISSION.to_owned();
    }
    lower
}

/// Every permission the app registration lists (its static permissions): the Graph ones of an
/// OpenID sign-in and Dataverse's `user_impersonation`. `/.default` consents to all of them.
#[must_use]
pub fn static_permissions() -> BTreeSet<String> {
    let mut p: BTreeSet<String> = GRAPH_STATIC.iter().map(|s| (*s).to_owned()).collect();
    p.insert(DATAVERSE_PERMISSION.to_owned());
    p
}

/// The permissions a consent to these scopes grants: `{resource}/.default` is static consent
/// (everything the app registration lists), other scopes grant themselves.
#[must_use]
pub fn granted_permissions(scopes: &[String]) -> BTreeSet<String> {
    let mut p = BTreeSet::new();
    for s in scopes {
        if s.to_ascii_lowercase().ends_with("/.default") {
            p.extend(static_permissions());
        } else {
            p.insert(permission(s));
        }
    }
    p
}

/// The permissions a request for these scopes needs consent for (`{org}/.default` needs the
/// org's static permission; an OIDC-only request is a Graph token, so it needs `User.Read` too).
#[must_use]
pub fn required_permissions(scopes: &[String]) -> BTreeSet<String> {
    let mut p: BTreeSet<String> = scopes.iter().map(|s| permission(s)).collect();
    if !p.is_empty() && p.iter().all(|x| GRAPH_STATIC.contains(&x.as_str())) {
        p.insert("user.read".to_owned());
    }
    p
}

/// A tenant.
#[derive(Clone, Debug)]
pub struct Tenant {
    /// Tenant id.
    pub id: u128,
    /// Display name.
    pub name: String,
    /// Verified domains.
    pub domains: Vec<String>,
    /// Users may consent.
    pub user_consent_allowed: bool,
    /// Admin (tenant-wide) consent, per app (client id → permissions; see [`permission`]).
    pub consented_apps: Consents,
    /// Users.
    pub users: Vec<User>,
}

/// An app registration.
#[derive(Clone, Debug)]
pub struct App {
    /// Configuration.
    pub cfg: AppConfig,
    /// Home tenant index.
    pub home: usize,
}

/// Reference to a user: (tenant index, user index).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserRef {
    /// Tenant index.
    pub t: usize,
    /// User index.
    pub u: usize,
}

/// How a `{tenant}` path segment resolved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TenantSel {
    /// A specific tenant.
    One(usize),
    /// `organizations`.
    Organizations,
    /// `common`.
    Common,
    /// `consumers`.
    Consumers,
}

/// Tenants and apps.
#[derive(Clone, Debug)]
pub struct Directory {
    /// Tenants; the first owns the Dataverse organization.
    pub tenants: Vec<Tenant>,
    /// Apps.
    pub apps: Vec<App>,
}

/// Invalid directory configuration.
#[derive(Debug, thiserror::Error)]
#[error("invalid directory configuration: {0}")]
pub struct DirectoryError(pub String);

impl Directory {
    /// Builds the directory, deriving missing ids and secrets from the seed.
    ///
    /// # Errors
    /// Invalid GUIDs, no tenant, bad TOTP secret.
    pub fn from_config(cfg: &EmulatorConfig) -> Result<Self, DirectoryError> {
        if cfg.tenants.is_empty() {
            return Err(DirectoryError("at least one tenant is required".into()));
        }
        let guid = |s: &str, what: &str| {
            codec::parse_guid(s).ok_or_else(|| DirectoryError(format!("{what}: '{s}' is not a GUID")))
        };
        let mut tenants = Vec::new();
        for t in &cfg.tenants {
            let mut users = Vec::new();
            for u in &t.users {
                let h = codec::hash_str(&u.upn.to_ascii_lowercase());
                let oid = match &u.object_id {
                    Some(s) => guid(s, "object_id")?,
                    None => codec::derived_guid(cfg.seed, 0x0071, h),
                };
                let systemuser_id = match &u.systemuser_id {
                    Some(s) => guid(s, "systemuser_id")?,
                    None => codec::derived_guid(cfg.seed, 0x5959, h),
                };
                let totp_secret = match &u.totp_secret {
                    Some(s) => codec::base32_decode(s)
                        .filter(|b| b.len() >= 10)
                        .ok_or_else(|| DirectoryError(format!("totp_secret of {}", u.upn)))?,
                    None => {
                        let mut v = Vec::with_capacity(20);
                        for i in 0..20u64 {
                            v.push((codec::mix(cfg.seed ^ h ^ (i << 40)) & 0xff) as u8);
                        }
                        v
                    }
                };
                users.push(User {
                    upn: u.upn.clone(),
                    password: u.password.clone(),
                    display_name: if u.display_name.is_empty() { u.upn.clone() } else { u.display_name.clone() },
                    oid,
                    systemuser_id,
                    mfa: u.mfa,
                    totp_base32: codec::base32_encode(&totp_secret),
                    totp_secret,
                    admin: u.admin,
                    privileges: u.privileges.clone(),
                    consents: Consents::new(),
                });
            }
            tenants.push(Tenant {
                id: guid(&t.id, "tenant id")?,
                name: t.name.clone(),
                domains: t.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
                user_consent_allowed: t.user_consent_allowed,
                consented_apps: t
                    .consented_apps
                    .iter()
                    .map(|c| (c.to_ascii_lowercase(), static_permissions()))
                    .collect(),
                users,
            });
        }
        let mut apps = Vec::new();
        for a in &cfg.apps {
            let home = if a.home_tenant.is_empty() {
                0
            } else {
                let id = guid(&a.home_tenant, "home_tenant")?;
                tenants
                    .iter()
                    .position(|t| t.id == id)
                    .ok_or_else(|| DirectoryError(format!("unknown home_tenant {}", a.home_tenant)))?
            };
            let mut cfg = a.clone();
            cfg.client_id = cfg.client_id.to_ascii_lowercase();
            apps.push(App { cfg, home });
        }
        Ok(Directory { tenants, apps })
    }

    /// Resolves a `{tenant}` path segment.
    pub fn tenant_sel(&self, seg: &str) -> Option<TenantSel> {
        match seg.to_ascii_lowercase().as_str() {
            "organizations" => Some(TenantSel::Organizations),
            "common" => Some(TenantSel::Common),
            "consumers" => Some(TenantSel::Consumers),
            s => {
                if let Some(g) = codec::parse_guid(s) {
                    self.tenants.iter().position(|t| t.id == g).map(TenantSel::One)
                } else {
                    self.tenants.iter().position(|t| t.domains.iter().any(|d| d == s)).map(TenantSel::One)
                }
            }
        }
    }

    /// A user by UPN (case-insensitive), optionally restricted to one tenant.
    pub fn find_user(&self, upn: &str, sel: Option<TenantSel>) -> Option<UserRef> {
        let upn = upn.trim().to_ascii_lowercase();
        self.tenants.iter().enumerate().find_map(|(t, tenant)| {
            if let Some(TenantSel::One(only)) = sel {
                if only != t {
                    return None;
                }
            }
            tenant.users.iter().position(|u| u.upn.to_ascii_lowercase() == upn).map(|u| UserRef { t, u })
        })
    }

    /// A user by object id.
    pub fn user_by_oid(&self, oid: u128) -> Option<UserRef> {
        self.tenants
            .iter()
            .enumerate()
            .find_map(|(t, tenant)| tenant.users.iter().position(|u| u.oid == oid).map(|u| UserRef { t, u }))
    }

    /// The user.
    pub fn user(&self, r: UserRef) -> Option<&User> {
        self.tenants.get(r.t).and_then(|t| t.users.get(r.u))
    }

    /// The user, mutable.
    pub fn user_mut(&mut self, r: UserRef) -> Option<&mut User> {
        self.tenants.get_mut(r.t).and_then(|t| t.users.get_mut(r.u))
    }

    /// An app by client id.
    pub fn app(&self, client_id: &str) -> Option<&App> {
        let c = client_id.trim().to_ascii_lowercase();
        self.apps.iter().find(|a| a.cfg.client_id == c)
    }

    /// Whether the app is usable in the tenant (registered there, or multi-tenant).
    pub fn app_in_tenant(&self, app: &App, t: usize) -> bool {
        app.home == t || app.cfg.multi_tenant
    }

    /// Whether the user and the tenant's admin together consented to every permission the scopes
    /// ask for. Entra checks consent per permission: an admin consent that named only Dataverse's
    /// `user_impersonation` still leaves the Graph permissions `openid profile offline_access` to
    /// consent to, which a tenant that blocks user consent refuses (AADSTS90093).
    pub fn consented(&self, r: UserRef, client_id: &str, scopes: &[String]) -> bool {
        let c = client_id.to_ascii_lowercase();
        let empty = BTreeSet::new();
        let admin = self.tenants.get(r.t).and_then(|t| t.consented_apps.get(&c)).unwrap_or(&empty);
        let user = self.user(r).and_then(|u| u.consents.get(&c)).unwrap_or(&empty);
        required_permissions(scopes).iter().all(|p| admin.contains(p) || user.contains(p))
    }

    /// Privileges of a user on an entity set.
    pub fn privileges(&self, r: UserRef, set: &str) -> PrivilegeConfig {
        self.user(r).and_then(|u| u.privileges.iter().find(|p| p.table == set).cloned()).unwrap_or_else(|| {
            PrivilegeConfig { table: set.to_owned(), read: ReadLevel::Organization, ..PrivilegeConfig::default() }
        })
    }
}
