//! The directory: tenants, users (passwords, MFA, TOTP secrets, privileges, consents) and apps.

use std::collections::HashSet;

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
    /// Apps this user consented to.
    pub consents: HashSet<String>,
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
    /// Admin-consented apps.
    pub consented_apps: HashSet<String>,
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
                    consents: HashSet::new(),
                });
            }
            tenants.push(Tenant {
                id: guid(&t.id, "tenant id")?,
                name: t.name.clone(),
                domains: t.domains.iter().map(|d| d.to_ascii_lowercase()).collect(),
                user_consent_allowed: t.user_consent_allowed,
                consented_apps: t.consented_apps.iter().map(|s| s.to_ascii_lowercase()).collect(),
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

    /// Whether the user (or the tenant's admin) consented to the app.
    pub fn consented(&self, r: UserRef, client_id: &str) -> bool {
        let c = client_id.to_ascii_lowercase();
        let tenant_ok = self.tenants.get(r.t).is_some_and(|t| t.consented_apps.contains(&c));
        tenant_ok || self.user(r).is_some_and(|u| u.consents.contains(&c))
    }

    /// Privileges of a user on an entity set.
    pub fn privileges(&self, r: UserRef, set: &str) -> PrivilegeConfig {
        self.user(r).and_then(|u| u.privileges.iter().find(|p| p.table == set).cloned()).unwrap_or_else(|| {
            PrivilegeConfig { table: set.to_owned(), read: ReadLevel::Organization, ..PrivilegeConfig::default() }
        })
    }
}
