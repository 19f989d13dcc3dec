//! `OutpostClient`: one vault at a path, its sign-in and its sync engine.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use outpost_core::sync::{SyncConfig, SyncEngine, SyncProfile, TableColumns};
use outpost_core::{Auth, AuthConfig, OpenOptions, OrgUrl, Store, Vault};
use zeroize::Zeroizing;

use crate::error::OutpostError;
use crate::platform::{Blocking, PlatformKeyProvider};
use crate::sync::{Observer, SyncObserver, SyncOptions, SyncSummary};
use crate::types::{
    core_values, i64_of, record, Account, AdminConsent, Conflict, DeviceCodeInfo, Page, ParkedChange, Query, Record,
    Resolution, SignInOptions, SignInRequest, Status, TableStatus, Value, VaultOptions, VaultStatus,
};
use crate::{blocking, guarded, on_core};

/// Where and as what the app signs in and syncs.
#[derive(Debug, Clone, PartialEq, Eq, uniffi::Record)]
pub struct ClientConfig {
    /// The Dataverse environment URL, e.g. `https://contoso.crm.dynamics.com`.
    pub org_url: String,
    /// The app registration's client id (a public client).
    pub client_id: String,
    /// The redirect URI registered for the app (a custom scheme on mobile).
    pub redirect_uri: String,
    /// The issuer URL (`None`: discovered from the org's 401 challenge).
    #[uniffi(default = None)]
    pub authority: Option<String>,
    /// With no `authority`: the Entra tenant (id or domain) on the login host the org's 401
    /// challenge names (sovereign clouds get their own). `None`: the challenge's tenant.
    #[uniffi(default = None)]
    pub tenant: Option<String>,
    /// Allow the password grant (service accounts without MFA only).
    #[uniffi(default = false)]
    pub allow_password_grant: bool,
    /// The sync profile as TOML (`None`: the shipped default, accounts/contacts/tasks).
    #[uniffi(default = None)]
    pub profile_toml: Option<String>,
}

/// The host's device-code display.
#[uniffi::export(with_foreign)]
pub trait DeviceCodeCallback: Send + Sync {
    /// Show the code and where to enter it.
    fn on_code(&self, info: DeviceCodeInfo);
}

struct Open {
    vault: Vault,
    store: Arc<Store>,
    auth: Arc<Auth>,
    engine: SyncEngine,
}

/// One vault at a path, with its sign-in and sync. Create it once per vault and keep it; every
/// call that runs Argon2, SQLite or the network is async.
#[derive(uniffi::Object)]
pub struct OutpostClient {
    dir: PathBuf,
    config: ClientConfig,
    profile: SyncProfile,
    auth_config: AuthConfig,
    open: Mutex<Option<Arc<Open>>>,
    /// The app's token provider (compliant-device tenants), applied to every unlock.
    host_tokens: Mutex<Option<Arc<dyn outpost_core::TokenProvider>>>,
}

impl std::fmt::Debug for OutpostClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutpostClient").field("dir", &self.dir).finish_non_exhaustive()
    }
}

fn bytes_password(p: Vec<u8>) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(p)
}

impl OutpostClient {
    fn opened(&self) -> Result<Arc<Open>, OutpostError> {
        self.open
            .lock()
            .map_err(|_| OutpostError::internal("client state poisoned"))?
            .clone()
            .ok_or(OutpostError::Locked)
    }

    fn set_open(&self, vault: Vault) -> Result<(), OutpostError> {
        let store = vault.shared_store();
        let auth = Arc::new(Auth::new(self.auth_config.clone(), store.clone())?);
        auth.set_token_provider(
            self.host_tokens.lock().map_err(|_| OutpostError::internal("client state poisoned"))?.clone(),
        );
        let org = OrgUrl::parse(&self.config.org_url)?;
        let engine = SyncEngine::new(store.clone(), auth.clone(), &org, self.profile.clone(), SyncConfig::default())?;
        let open = Arc::new(Open { vault, store, auth, engine });
        let previous = self.open.lock().map_err(|_| OutpostError::internal("client state poisoned"))?.replace(open);
        drop(previous);
        Ok(())
    }

    fn columns(&self, open: &Open, entity_set: &str) -> Result<TableColumns, OutpostError> {
        let table = self
            .profile
            .table(entity_set)
            .ok_or_else(|| OutpostError::invalid(format!("{entity_set} is not in the sync profile")))?;
        Ok(TableColumns::load(&open.store, table)?)
    }
}

#[uniffi::export]
impl OutpostClient {
    /// A client for the vault in directory `path` (created by `create_vault`). Cheap: nothing
    /// is opened until `create_vault` or `unlock`.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad org URL or profile.
    #[uniffi::constructor]
    pub fn new(path: String, config: ClientConfig) -> Result<Arc<OutpostClient>, OutpostError> {
        guarded(|| {
            let profile = match &config.profile_toml {
                Some(t) => SyncProfile::from_toml(t)?,
                None => SyncProfile::default_profile(),
            };
            let auth_config = AuthConfig {
                org: OrgUrl::parse(&config.org_url)?,
                client_id: config.client_id.clone(),
                redirect_uri: config.redirect_uri.clone(),
                authority: config.authority.clone(),
                tenant: config.tenant.clone(),
                allow_password_grant: config.allow_password_grant,
            };
            Ok(Arc::new(OutpostClient {
                dir: PathBuf::from(path),
                config,
                profile,
                auth_config,
                open: Mutex::new(None),
                host_tokens: Mutex::new(None),
            }))
        })
    }

    /// Let the app supply the access tokens (`Some`: tenants that require a managed or
    /// compliant device, where only MSAL with its broker may sign in), or go back to Outpost's
    /// own sign-in (`None`). With a provider, every request to the org asks it for a token, a
    /// 401 asks again with the challenge's claims, the sign-in methods answer `InvalidArgument`,
    /// and no refresh token is stored. Kept across `lock` / `unlock`.
    pub fn set_token_provider(&self, provider: Option<Arc<dyn crate::HostTokenProvider>>) {
        let core: Option<Arc<dyn outpost_core::TokenProvider>> =
            provider.map(|p| Arc::new(crate::host_tokens::Host(p)) as Arc<dyn outpost_core::TokenProvider>);
        if let Ok(mut g) = self.host_tokens.lock() {
            g.clone_from(&core);
        }
        if let Ok(open) = self.opened() {
            open.auth.set_token_provider(core);
        }
    }

    /// Whether a vault exists at the path.
    pub fn vault_exists(&self) -> bool {
        Vault::exists(&self.dir)
    }

    /// Whether the vault is unlocked in this client.
    pub fn is_unlocked(&self) -> bool {
        self.open.lock().map(|g| g.is_some()).unwrap_or(false)
    }

    /// Attempts left, lockout, whether biometric unlock is enrolled — without unlocking.
    ///
    /// # Errors
    /// `NoVault`, `Corrupt`, `NewerFormat`.
    pub fn vault_status(&self) -> Result<VaultStatus, OutpostError> {
        guarded(|| {
            let s = Vault::status(&self.dir, &OpenOptions::default())?;
            Ok(VaultStatus {
                attempts_left: i32::try_from(s.attempts_left).unwrap_or(i32::MAX),
                retry_after_s: s.retry_after_s.map(i64_of),
                has_platform_slot: s.has_platform_slot,
                password_refused: s.password_refused,
            })
        })
    }

    /// Cancel the running sync, if any (the explicit handle for Swift, whose generated code
    /// does not pass `Task.cancel()` to Rust). Everything applied so far is kept.
    pub fn cancel_sync(&self) {
        if let Ok(open) = self.opened() {
            open.engine.cancel();
        }
    }

    /// Lock: stop any sync, close the database and wipe the key from memory (once calls in
    /// flight have finished). Later calls get `Locked` until `unlock`.
    pub fn lock(&self) {
        let taken = self.open.lock().ok().and_then(|mut g| g.take());
        if let Some(open) = taken {
            open.engine.cancel();
            if let Ok(open) = Arc::try_unwrap(open) {
                let Open { vault, .. } = open;
                let _ = vault.lock();
            }
        }
    }
}

#[uniffi::export]
impl OutpostClient {
    /// Create the vault with the offline password (as bytes, wiped after use) and unlock it.
    ///
    /// # Errors
    /// `VaultExists`, `InvalidArgument` (empty password, KDF below the floor), `Storage`.
    pub async fn create_vault(self: Arc<Self>, password: Vec<u8>, options: VaultOptions) -> Result<(), OutpostError> {
        let password = bytes_password(password);
        on_core(async move {
            let opts = options.to_core()?;
            let dir = self.dir.clone();
            let vault = blocking(move || Ok(Vault::create(&dir, &password, &opts)?)).await?;
            self.set_open(vault)
        })
        .await
    }

    /// Unlock with the offline password.
    ///
    /// # Errors
    /// `WrongPassword { attempts_left }`, `LockedOut`, `Wiped`, `NoVault`, `Corrupt`, `NewerFormat`.
    pub async fn unlock(self: Arc<Self>, password: Vec<u8>) -> Result<(), OutpostError> {
        let password = bytes_password(password);
        on_core(async move {
            let dir = self.dir.clone();
            let vault = blocking(move || Ok(Vault::unlock(&dir, &password, &OpenOptions::default())?)).await?;
            self.set_open(vault)
        })
        .await
    }

    /// Unlock through the platform key (biometric prompt on the host side).
    ///
    /// # Errors
    /// `PlatformKeyInvalidated` (unlock with the password and enrol again), `PlatformKey`,
    /// `InvalidArgument` (no platform slot).
    pub async fn unlock_with_platform(
        self: Arc<Self>,
        provider: Arc<dyn PlatformKeyProvider>,
    ) -> Result<(), OutpostError> {
        let (alive, watch) = tokio::sync::watch::channel(());
        on_core(async move {
            let _alive = alive; // dropped with this task when the call is cancelled
            let dir = self.dir.clone();
            let handle = tokio::runtime::Handle::current();
            let vault = blocking(move || {
                let bridge = Blocking { provider, handle, alive: watch };
                Ok(Vault::unlock_with_platform(&dir, &bridge, &OpenOptions::default())?)
            })
            .await?;
            self.set_open(vault)
        })
        .await
    }

    /// Enrol the platform key (a second slot beside the password). Returns the slot id.
    ///
    /// # Errors
    /// `Locked`, `PlatformKey`, `Storage`.
    pub async fn add_platform_slot(
        self: Arc<Self>,
        provider: Arc<dyn PlatformKeyProvider>,
    ) -> Result<i32, OutpostError> {
        let (alive, watch) = tokio::sync::watch::channel(());
        on_core(async move {
            let _alive = alive; // dropped with this task when the call is cancelled
            let open = self.opened()?;
            let handle = tokio::runtime::Handle::current();
            blocking(move || {
                let bridge = Blocking { provider, handle, alive: watch };
                Ok(i32::from(open.vault.add_platform_slot(&bridge)?))
            })
            .await
        })
        .await
    }

    /// Change the offline password: re-wraps the data key only (the database is not re-encrypted).
    ///
    /// # Errors
    /// `Locked`, `WrongPassword` (old), `InvalidArgument` (empty new password).
    pub async fn change_password(self: Arc<Self>, old: Vec<u8>, new: Vec<u8>) -> Result<(), OutpostError> {
        let (old, new) = (bytes_password(old), bytes_password(new));
        on_core(async move {
            let open = self.opened()?;
            blocking(move || Ok(open.vault.change_password(&old, &new)?)).await
        })
        .await
    }

    /// Delete the vault's files (locks first). Works whether or not it is unlocked.
    ///
    /// # Errors
    /// `Storage` if a file cannot be removed.
    pub async fn wipe(self: Arc<Self>) -> Result<(), OutpostError> {
        on_core(async move {
            self.lock();
            let dir = self.dir.clone();
            blocking(move || Ok(Vault::wipe_at(&dir)?)).await
        })
        .await
    }

    /// Checkpoint the WAL (call when the app goes to the background).
    ///
    /// # Errors
    /// `Locked`, `Storage`.
    pub async fn checkpoint(self: Arc<Self>) -> Result<(), OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            blocking(move || Ok(open.store.checkpoint()?)).await
        })
        .await
    }

    // ------------------------------------------------------------------------------- sign-in

    /// Start an interactive sign-in: open `url` in Custom Tabs / ASWebAuthenticationSession and
    /// pass the redirect to `complete_sign_in`. Survives the app being killed meanwhile.
    ///
    /// # Errors
    /// `Locked`, `Network`, `Configuration`.
    pub async fn begin_sign_in(self: Arc<Self>, options: SignInOptions) -> Result<SignInRequest, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            let r = open.auth.begin_sign_in(&options.into()).await?;
            Ok(SignInRequest { url: r.url, state: r.state })
        })
        .await
    }

    /// The admin-consent link (`{org}/.default`, with a `state` the vault keeps for a week) for an
    /// administrator to open; `redirect_uri` for this link only, the configured one if None. Hand
    /// the redirect to `complete_admin_consent`.
    ///
    /// # Errors
    /// `Locked`, `Network`, `Configuration`, `Storage`.
    pub async fn begin_admin_consent(
        self: Arc<Self>,
        redirect_uri: Option<String>,
    ) -> Result<SignInRequest, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            let r = open.auth.begin_admin_consent(redirect_uri.as_deref()).await?;
            Ok(SignInRequest { url: r.url, state: r.state })
        })
        .await
    }

    /// Check the redirect an admin-consent link (from `begin_admin_consent` or a
    /// `ConsentRequired` error) came back with.
    ///
    /// # Errors
    /// `AuthFailed` (unknown or reused state), `UserCancelled` (declined), `ConsentRequired`
    /// (not an administrator), `InvalidArgument`, `Locked`.
    pub async fn complete_admin_consent(self: Arc<Self>, redirect_url: String) -> Result<AdminConsent, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            Ok(open.auth.complete_admin_consent(&redirect_url).await?.into())
        })
        .await
    }

    /// Finish the interactive sign-in with the URL the browser was redirected to.
    ///
    /// # Errors
    /// `UserCancelled`, `ConsentRequired`, `MfaRequired`, `InvalidArgument` (nothing in
    /// flight), `AuthFailed`, `AccountMismatch`, `Network`.
    pub async fn complete_sign_in(self: Arc<Self>, redirect_url: String) -> Result<Account, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            Ok(open.auth.complete_sign_in(&redirect_url).await?.into())
        })
        .await
    }

    /// Device-code sign-in: `callback` receives the code to show; returns once the user has
    /// signed in on another device.
    ///
    /// # Errors
    /// `DeviceCodeDeclined`, `DeviceCodeExpired`, `ConsentRequired`, `Configuration`, `Network`.
    pub async fn sign_in_with_device_code(
        self: Arc<Self>,
        callback: Arc<dyn DeviceCodeCallback>,
    ) -> Result<Account, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            let account = open
                .auth
                .sign_in_with_device_code(move |info| {
                    callback.on_code(DeviceCodeInfo {
                        user_code: info.user_code.clone(),
                        verification_uri: info.verification_uri.clone(),
                        message: info.message.clone(),
                        expires_in_s: i64_of(info.expires_in_s),
                    });
                })
                .await?;
            Ok(account.into())
        })
        .await
    }

    /// Password grant (service accounts without MFA; needs `allow_password_grant`).
    ///
    /// # Errors
    /// `MfaRequired`, `BadCredentials`, `ConsentRequired`, `InvalidArgument`, `Network`.
    pub async fn sign_in_with_password(
        self: Arc<Self>,
        username: String,
        password: Vec<u8>,
    ) -> Result<Account, OutpostError> {
        let password = bytes_password(password);
        on_core(async move {
            let open = self.opened()?;
            Ok(open.auth.sign_in_with_password(&username, &password).await?.into())
        })
        .await
    }

    /// Sign out (delete the tokens; the offline data stays). Refuses with `PendingChanges`
    /// while local changes are unsent, unless `force`.
    ///
    /// # Errors
    /// `PendingChanges`, `Locked`, `Storage`.
    pub async fn sign_out(self: Arc<Self>, force: bool) -> Result<(), OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            Ok(open.auth.sign_out(force).await?)
        })
        .await
    }

    /// The account the vault belongs to, if any.
    ///
    /// # Errors
    /// `Locked`, `Storage`.
    pub async fn account(self: Arc<Self>) -> Result<Option<Account>, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            blocking(move || {
                Ok(open.vault.account()?.map(|a| Account {
                    tenant_id: a.tenant_id,
                    account_id: a.account_id,
                    username: a.username,
                }))
            })
            .await
        })
        .await
    }

    // ---------------------------------------------------------------------------------- sync

    /// Push the outbox, then pull. `observer` receives progress and change events. Cancel by
    /// cancelling the call (Kotlin, Python) or with `cancel_sync` (Swift).
    ///
    /// # Errors
    /// `SyncInProgress`, `Cancelled`, sign-in errors that stop everything, `Locked`, `Storage`.
    /// Per-table failures are in the summary.
    pub async fn sync(
        self: Arc<Self>,
        options: SyncOptions,
        observer: Option<Arc<dyn SyncObserver>>,
    ) -> Result<SyncSummary, OutpostError> {
        let open = self.opened()?;
        // Dropping this future (the caller cancelled) cancels the sync itself.
        struct CancelOnDrop(Option<SyncEngine>);
        impl Drop for CancelOnDrop {
            fn drop(&mut self) {
                if let Some(e) = self.0.take() {
                    e.cancel();
                }
            }
        }
        let mut guard = CancelOnDrop(Some(open.engine.clone()));
        let result = on_core(async move {
            let summary = open.engine.sync(options.to_core(), Arc::new(Observer(observer))).await?;
            Ok(SyncSummary::from(summary))
        })
        .await;
        guard.0 = None;
        result
    }

    // ---------------------------------------------------------------------------- local data

    /// One record, or `None`.
    ///
    /// # Errors
    /// `Locked`, `InvalidArgument` (not a profile table), `Storage`.
    pub async fn get(self: Arc<Self>, entity_set: String, id: String) -> Result<Option<Record>, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            let cols = self.columns(&open, &entity_set)?;
            blocking(move || Ok(open.store.get(&entity_set, &id)?.map(|r| record(&cols, &r)))).await
        })
        .await
    }

    /// One page of a local query (sees local edits at once).
    ///
    /// # Errors
    /// `Locked`, `InvalidArgument` (unknown column, bad filter text, bad cursor), `Storage`.
    pub async fn query(self: Arc<Self>, entity_set: String, query: Query) -> Result<Page, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            let cols = self.columns(&open, &entity_set)?;
            let q = query.to_core(&cols)?;
            blocking(move || {
                let page = open.store.query(&entity_set, &q)?;
                Ok(Page {
                    records: page.records.iter().map(|r| record(&cols, r)).collect(),
                    next: page.next.map(|c| c.0),
                })
            })
            .await
        })
        .await
    }

    /// Full-text search: the best `limit` (1 to 500) matches, best first. A trailing `*` on a
    /// term makes it a prefix.
    ///
    /// # Errors
    /// `Locked`, `InvalidArgument`, `Storage`.
    pub async fn search(
        self: Arc<Self>,
        entity_set: String,
        text: String,
        limit: i32,
    ) -> Result<Vec<Record>, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            let cols = self.columns(&open, &entity_set)?;
            let limit = crate::types::u32_of(limit, "limit")?;
            blocking(move || {
                Ok(open.store.search(&entity_set, &text, limit)?.iter().map(|h| record(&cols, &h.record)).collect())
            })
            .await
        })
        .await
    }

    /// Create a record locally (pushed by the next sync). Returns its id.
    ///
    /// # Errors
    /// `Locked`, `InvalidArgument` (unknown column, bad lookup, edits not allowed), `Storage`.
    pub async fn create(
        self: Arc<Self>,
        entity_set: String,
        values: HashMap<String, Value>,
    ) -> Result<String, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            let cols = self.columns(&open, &entity_set)?;
            let values = core_values(&cols, values)?;
            blocking(move || Ok(open.store.create(&entity_set, values)?)).await
        })
        .await
    }

    /// Update a record locally (changed columns only).
    ///
    /// # Errors
    /// `Locked`, `NotFound`, `InvalidArgument`, `Storage`.
    pub async fn update(
        self: Arc<Self>,
        entity_set: String,
        id: String,
        values: HashMap<String, Value>,
    ) -> Result<(), OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            let cols = self.columns(&open, &entity_set)?;
            let values = core_values(&cols, values)?;
            blocking(move || Ok(open.store.update(&entity_set, &id, values)?)).await
        })
        .await
    }

    /// Delete a record locally.
    ///
    /// # Errors
    /// `Locked`, `NotFound`, `InvalidArgument`, `Storage`.
    pub async fn delete(self: Arc<Self>, entity_set: String, id: String) -> Result<(), OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            blocking(move || Ok(open.store.delete(&entity_set, &id)?)).await
        })
        .await
    }

    /// Open conflicts.
    ///
    /// # Errors
    /// `Locked`, `Storage`.
    pub async fn conflicts(self: Arc<Self>) -> Result<Vec<Conflict>, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            blocking(move || Ok(open.store.conflicts()?.into_iter().map(Into::into).collect())).await
        })
        .await
    }

    /// Resolve a conflict; the result is pushed by the next sync.
    ///
    /// # Errors
    /// `Locked`, `NotFound`, `InvalidArgument`, `Storage`.
    pub async fn resolve_conflict(self: Arc<Self>, id: i64, resolution: Resolution) -> Result<(), OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            let r = resolution.to_core()?;
            blocking(move || Ok(open.store.resolve_conflict(id, &r)?)).await
        })
        .await
    }

    /// Local changes the server refused.
    ///
    /// # Errors
    /// `Locked`, `Storage`.
    pub async fn parked_changes(self: Arc<Self>) -> Result<Vec<ParkedChange>, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            blocking(move || Ok(open.store.parked()?.into_iter().map(Into::into).collect())).await
        })
        .await
    }

    /// Queue a parked change again (after fixing the record with `update`).
    ///
    /// # Errors
    /// `Locked`, `NotFound`, `Storage`.
    pub async fn retry_parked(self: Arc<Self>, seq: i64) -> Result<(), OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            blocking(move || Ok(open.store.retry_parked(seq)?)).await
        })
        .await
    }

    /// Drop a parked change: its local edit is undone. The record shows the server's version
    /// unless other edits or a conflict of it still wait (read it with `get` to show it).
    ///
    /// # Errors
    /// `Locked`, `NotFound`, `Storage`.
    pub async fn discard_parked(self: Arc<Self>, seq: i64) -> Result<(), OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            blocking(move || Ok(open.store.discard_parked(seq).map(|_| ())?)).await
        })
        .await
    }

    /// Account, sync state per table, pending changes, conflicts, parked changes.
    ///
    /// # Errors
    /// `Locked`, `Storage`.
    pub async fn status(self: Arc<Self>) -> Result<Status, OutpostError> {
        on_core(async move {
            let open = self.opened()?;
            let signed_in = open.auth.is_signed_in().await?;
            let profile = self.profile.clone();
            blocking(move || {
                let store = &open.store;
                let known: Vec<String> = store.tables()?.into_iter().map(|t| t.entity_set).collect();
                let mut tables = Vec::new();
                for t in &profile.tables {
                    if known.contains(&t.entity_set) {
                        let st = store.sync_state(&t.entity_set)?;
                        tables.push(TableStatus {
                            entity_set: t.entity_set.clone(),
                            rows: i64_of(store.count(&t.entity_set)?),
                            last_sync: st.last_sync,
                            initial_sync_done: st.initial_done,
                        });
                    } else {
                        tables.push(TableStatus {
                            entity_set: t.entity_set.clone(),
                            rows: 0,
                            last_sync: None,
                            initial_sync_done: false,
                        });
                    }
                }
                let account = open.vault.account()?.map(|a| Account {
                    tenant_id: a.tenant_id,
                    account_id: a.account_id,
                    username: a.username,
                });
                Ok(Status {
                    account,
                    signed_in,
                    tables,
                    pending: i64_of(store.pending_count()?),
                    conflicts: i64_of(store.conflict_count()?),
                    parked: i64::try_from(store.parked()?.len()).unwrap_or(i64::MAX),
                })
            })
            .await
        })
        .await
    }
}

#[cfg(feature = "test-hooks")]
#[uniffi::export]
impl OutpostClient {
    /// Test hook (feature `test-hooks`, never shipped): panic `where` — `call` (in this exported
    /// call), `writer` (inside a store write transaction), `task` (in a task spawned on the
    /// core's runtime). Each must come back as `OutpostError.Internal`, and the client must keep
    /// working.
    ///
    /// # Errors
    /// `Internal`, always; `InvalidArgument` for an unknown `where`.
    pub async fn debug_panic(self: Arc<Self>, site: String) -> Result<(), OutpostError> {
        match site.as_str() {
            "call" => guarded(|| -> Result<(), OutpostError> { panic!("test hook: a panic in an exported call") }),
            "writer" => {
                on_core(async move {
                    let open = self.opened()?;
                    blocking(move || Ok(open.store.debug_panic_in_writer()?)).await
                })
                .await
            }
            "task" => on_core(async move { panic!("test hook: a panic in a spawned task") }).await,
            _ => Err(OutpostError::invalid("site is call, writer or task")),
        }
    }
}
