//! The sign-in session of one vault: flows (authorization code + PKCE, password grant), the
//! access-token cache and single-flight refresh with rotation persisted in the vault.

use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use oauth2::basic::{BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, CsrfToken, EndpointNotSet, EndpointSet, PkceCodeChallenge, PkceCodeVerifier,
    RedirectUrl, RefreshToken, RequestTokenError, ResourceOwnerPassword, ResourceOwnerUsername, Scope,
    StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use url::Url;
use zeroize::Zeroizing;

use super::discovery::{challenge_authority_allowed, discover, get_json, normalise_authority, Jwks, ProviderMetadata};
use super::entra::{admin_consent_url, authority_from_challenge, bearer_challenge, classify, TokenErrorBody};
use super::http::{self, HttpError};
use super::id_token::{self, Expected, IdClaims};
use super::org::OrgUrl;
use crate::error::{Error, Result, ServerDetails};
use crate::store::Store;
use crate::vault::lockout::{system_clock, Clock};
use crate::vault::AccountBinding;

/// How long an interactive sign-in may stay in flight (the app may be killed meanwhile).
const INFLIGHT_LIFE_S: i64 = 600;
const KIND_REFRESH: &str = "refresh_token";
const KIND_INFLIGHT: &str = "sign_in_in_flight";
/// The `state` values of admin-consent links handed out, checked when the redirect comes back.
const KIND_ADMIN_CONSENT: &str = "admin_consent_in_flight";
/// The provider's discovery document and signing keys, kept between runs.
const KIND_PROVIDER: &str = "provider_metadata";
/// How long a kept discovery document is used before it is fetched again (MSAL caches instance
/// metadata for 24 hours). An older one is still used when the provider cannot be reached.
const PROVIDER_FRESH_S: i64 = 24 * 3600;
/// How long an admin-consent link's `state` is honoured (the link may be sent to an
/// administrator who opens it later).
const ADMIN_CONSENT_LIFE_S: i64 = 7 * 24 * 3600;
/// Admin-consent links remembered at once (the oldest are forgotten).
const ADMIN_CONSENT_KEEP: usize = 8;

/// Where and as what the app signs in.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The Dataverse environment.
    pub org: OrgUrl,
    /// The app registration's client id (a public client).
    pub client_id: String,
    /// Redirect URI registered for the app: a custom scheme (`msauth.…://auth`) on mobile,
    /// loopback `http://127.0.0.1[:port]` on desktop and CLI.
    pub redirect_uri: String,
    /// The issuer URL, e.g. `https://login.microsoftonline.com/{tenant}/v2.0`, or any OpenID
    /// provider's. `None`: discovered from the org's 401 challenge (Entra).
    pub authority: Option<String>,
    /// With no `authority`: the Entra tenant (id or domain) to sign in to, on the login host the
    /// org's 401 challenge names — so a sovereign-cloud org (`.us`, `.cn`, …) gets its own
    /// cloud's login host, never a hard-coded public one. `None`: the challenge's tenant too.
    pub tenant: Option<String>,
    /// Allow the password grant (ROPC) — opt-in, for service accounts without MFA only.
    pub allow_password_grant: bool,
}

/// The signed-in account (from the ID token).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// Directory (tenant) id.
    pub tenant_id: String,
    /// Object id of the user.
    pub account_id: String,
    /// Sign-in name.
    pub username: String,
}

/// Options for interactive sign-in.
#[derive(Debug, Clone, Default)]
pub struct SignInOptions {
    /// `login`, `consent`, `select_account` or `none`.
    pub prompt: Option<String>,
    /// Pre-fills the username.
    pub login_hint: Option<String>,
    /// Skips home-realm discovery (a domain or a tenant id).
    pub domain_hint: Option<String>,
    /// A claims request (from `MfaRequired` / `InteractionRequired`).
    pub claims: Option<String>,
    /// A redirect URI for this sign-in only (e.g. [`super::LoopbackRedirect::redirect_uri`] with
    /// its random port); the configured one otherwise.
    pub redirect_uri: Option<String>,
}

/// An interactive sign-in to open in the system browser (Custom Tabs,
/// ASWebAuthenticationSession). Hand the redirect URL back to [`Auth::complete_sign_in`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInRequest {
    /// The authorize URL.
    pub url: String,
    /// The `state` value the redirect must echo.
    pub state: String,
}

/// What Outpost asks a host token provider for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRequest {
    /// The scopes: the org's `{org}/user_impersonation`.
    pub scopes: Vec<String>,
    /// A claims challenge to satisfy (decoded JSON, from a 401's `WWW-Authenticate`): pass it to
    /// MSAL (`withClaims` / `claims`), which then usually needs the user.
    pub claims: Option<String>,
}

/// The host app's own token source, for tenants that require a managed or compliant device:
/// the app signs in with MSAL and its broker (Microsoft Authenticator, Company Portal), and
/// Outpost asks it for an access token for every request, and again after a 401 with the
/// challenge's claims. In this mode Outpost stores no refresh token and runs no sign-in flow.
///
/// Errors the provider returns reach the caller as they are: `InteractionRequired` (MSAL's
/// `MsalUiRequiredException`: the app signs in interactively), `Blocked`, `Network`, ….
pub trait TokenProvider: Send + Sync {
    /// An access token for `request.scopes`.
    fn token(&self, request: TokenRequest) -> TokenFuture<'_>;
}

/// The future a [`TokenProvider`] returns.
pub type TokenFuture<'a> = std::pin::Pin<Box<dyn std::future::Future<Output = Result<String>> + Send + 'a>>;

/// An administrator's consent for the whole tenant, as the admin-consent redirect reports it
/// (`admin_consent=True&tenant=…&scope=…`). The `tenant` is information only: Microsoft warns
/// never to trust it for authorization, so it binds nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdminConsent {
    /// The tenant the administrator consented for (as the redirect says).
    pub tenant_id: String,
    /// The scopes consented to, as the redirect lists them (`https://{org}/.default`).
    pub scope: Option<String>,
}

/// What the user needs to finish a device-code sign-in on another device. Show `message` (or
/// `verification_uri` and `user_code`) exactly as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceCodeInfo {
    /// The code the user types.
    pub user_code: String,
    /// Where to type it.
    pub verification_uri: String,
    /// The provider's instructions.
    pub message: String,
    /// Seconds until the code expires.
    pub expires_in_s: u64,
}

#[derive(Deserialize)]
struct DeviceAuthorization {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default = "default_expiry")]
    expires_in: u64,
    #[serde(default = "default_interval")]
    interval: u64,
}

fn default_expiry() -> u64 {
    900
}

fn default_interval() -> u64 {
    5
}

/// An access token: opaque, never decoded; printed as `AccessToken([redacted])`.
#[derive(Clone)]
pub struct AccessToken(Arc<Zeroizing<String>>);

impl AccessToken {
    /// The bearer value, for the `Authorization` header only.
    ///
    /// # Security
    /// Never log it or put it in an error.
    pub fn secret(&self) -> &str {
        self.0.as_str()
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken([redacted])")
    }
}

/// Extra token-response fields Entra sends.
#[derive(Clone, Deserialize, Serialize)]
struct Extra {
    #[serde(default)]
    id_token: Option<String>,
    #[serde(default)]
    refresh_in: Option<u64>,
}

impl std::fmt::Debug for Extra {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Extra {{ id_token: [redacted], refresh_in: {:?} }}", self.refresh_in)
    }
}

impl oauth2::ExtraTokenFields for Extra {}

type TokenResp = StandardTokenResponse<Extra, BasicTokenType>;
type OidcClient = oauth2::Client<
    TokenErrorBody,
    TokenResp,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// The in-flight interactive sign-in, persisted in the vault.
#[derive(Serialize, Deserialize, Default)]
struct ConsentStates {
    /// (state, expires at), oldest first.
    states: Vec<(String, i64)>,
}

#[derive(Serialize, Deserialize)]
struct InFlight {
    state: String,
    verifier: String,
    nonce: String,
    #[serde(default)]
    redirect_uri: Option<String>,
}

struct Provider {
    meta: ProviderMetadata,
    /// The tenant the authority names (`organizations`, a GUID, a domain, …).
    tenant: String,
}

/// What the vault keeps of the provider between runs (issue 15, defect 6): the authority found
/// (configured, or from the org's 401 challenge), its discovery document and its signing keys,
/// so a new process refreshes a token with one request to the token endpoint and nothing else.
#[derive(Serialize, Deserialize)]
struct SavedProvider {
    /// The configuration this was found for (configured authority or none, and the org).
    key: String,
    tenant: String,
    meta: ProviderMetadata,
    #[serde(default)]
    jwks: Option<Jwks>,
    /// Device time of the discovery.
    fetched_at: i64,
}

struct Cached {
    token: AccessToken,
    valid_until: Instant,
    refresh_on: Option<Instant>,
}

/// Sign-in for one vault: flows, token cache, silent refresh.
pub struct Auth {
    config: AuthConfig,
    store: Arc<Store>,
    http: reqwest::Client,
    clock: Arc<dyn Clock>,
    provider: tokio::sync::OnceCell<Arc<Provider>>,
    /// Single flight: whoever holds this lock refreshes; everyone else waits for the result.
    cache: tokio::sync::Mutex<Option<Cached>>,
    /// The host's token provider, when the app supplies the tokens (compliant-device tenants).
    host: std::sync::RwLock<Option<Arc<dyn TokenProvider>>>,
    /// The provider's signing keys: fetched when an ID token first needs them, and again once
    /// when a token names a key they lack (a key rollover).
    jwks: tokio::sync::Mutex<Option<Arc<Jwks>>>,
    /// Server time minus device time, in seconds, from the `Date` header of the last response of
    /// the identity provider (None: none seen, or it had no `Date`).
    skew: Arc<std::sync::Mutex<Option<i64>>>,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth").field("org", &self.config.org).finish_non_exhaustive()
    }
}

fn map_token_error(e: RequestTokenError<HttpError, TokenErrorBody>) -> Error {
    match e {
        RequestTokenError::ServerResponse(body) => classify(&body),
        RequestTokenError::Request(h) => h.into(),
        RequestTokenError::Parse(..) => Error::auth_failed("malformed token response"),
        RequestTokenError::Other(_) => Error::auth_failed("token request failed"),
    }
}

/// Remember how far the device clock is from the identity provider's (its `Date` header).
fn note_server_time(skew: &std::sync::Mutex<Option<i64>>, clock: &dyn Clock, headers: &::http::HeaderMap) {
    if let Some(server) = http::date(headers) {
        let s = server - clock.now_unix();
        if s.abs() > id_token::LEEWAY_S {
            tracing::debug!(target: "outpost::auth", skew_s = s, "the device clock is off from the identity provider's");
        }
        *skew.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(s);
    }
}

fn random_b64(n: usize) -> Result<String> {
    let mut b = vec![0u8; n];
    crate::vault::fill_random(&mut b)?;
    Ok(URL_SAFE_NO_PAD.encode(b))
}

/// Constant-time string comparison (for `state`).
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Cache lifetime: expiry from local receipt minus a skew of min(300 s, lifetime / 2), at
/// least 1 s, so five-minute providers and few-second test tokens still work.
pub(crate) fn usable_for(lifetime: Duration) -> Duration {
    let skew = (lifetime / 2).min(Duration::from_secs(300)).max(Duration::from_secs(1));
    lifetime.saturating_sub(skew)
}

impl Auth {
    /// A sign-in session for the vault whose store is `store`.
    ///
    /// # Errors
    /// `InvalidArgument` for a bad redirect URI or authority; `Internal` if TLS cannot be set up.
    pub fn new(config: AuthConfig, store: Arc<Store>) -> Result<Auth> {
        RedirectUrl::new(config.redirect_uri.clone()).map_err(|_| Error::invalid("redirect URI: not a URL"))?;
        if let Some(a) = &config.authority {
            Url::parse(a).map_err(|_| Error::invalid("authority: not a URL"))?;
        }
        if let Some(t) = &config.tenant {
            if t.is_empty() || !t.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.')) {
                return Err(Error::invalid("tenant: a tenant id (GUID) or a domain such as contoso.onmicrosoft.com"));
            }
        }
        Ok(Auth {
            config,
            store,
            http: http::client()?,
            clock: system_clock(),
            provider: tokio::sync::OnceCell::new(),
            cache: tokio::sync::Mutex::new(None),
            jwks: tokio::sync::Mutex::new(None),
            host: std::sync::RwLock::new(None),
            skew: Arc::new(std::sync::Mutex::new(None)),
        })
    }

    /// Use another clock (tests; devices with a trusted time source).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    async fn blocking<T: Send + 'static>(&self, f: impl FnOnce(&Store) -> Result<T> + Send + 'static) -> Result<T> {
        let store = self.store.clone();
        tokio::task::spawn_blocking(move || f(&store)).await.map_err(|_| Error::internal("a storage task panicked"))?
    }

    async fn provider(&self) -> Result<Arc<Provider>> {
        self.provider
            .get_or_try_init(|| async {
                let key = self.provider_key();
                let now = self.now();
                let saved = self.saved_provider().await.filter(|s| s.key == key);
                if let Some(s) = saved.as_ref().filter(|s| (0..PROVIDER_FRESH_S).contains(&(now - s.fetched_at))) {
                    *self.jwks.lock().await = s.jwks.clone().map(Arc::new);
                    return Ok(Arc::new(Provider { meta: s.meta.clone(), tenant: s.tenant.clone() }));
                }
                match self.find_provider().await {
                    Ok(p) => {
                        *self.jwks.lock().await = None;
                        self.save_provider(&p, None).await;
                        Ok(Arc::new(p))
                    }
                    // Offline with an older document: use it (the token endpoint is what matters,
                    // and it is unreachable too if the provider is).
                    Err(e @ (Error::Network { .. } | Error::Throttled { .. })) => match saved {
                        Some(s) => {
                            *self.jwks.lock().await = s.jwks.map(Arc::new);
                            Ok(Arc::new(Provider { meta: s.meta, tenant: s.tenant }))
                        }
                        None => Err(e),
                    },
                    Err(e) => Err(e),
                }
            })
            .await
            .cloned()
    }

    /// Discovery over the network: the authority (configured, or from the org's challenge), then
    /// its OpenID configuration.
    async fn find_provider(&self) -> Result<Provider> {
        let authority = match &self.config.authority {
            Some(a) => normalise_authority(Url::parse(a).map_err(|_| Error::invalid("authority: not a URL"))?),
            None => self.discover_tenant().await?,
        };
        let tenant = authority.path_segments().and_then(|mut s| s.next()).unwrap_or_default().to_string();
        let meta = discover(&self.http, &authority).await?;
        Ok(Provider { meta, tenant })
    }

    fn provider_key(&self) -> String {
        format!(
            "{}\n{}\n{}",
            self.config.authority.as_deref().unwrap_or(""),
            self.config.tenant.as_deref().unwrap_or(""),
            self.config.org
        )
    }

    async fn saved_provider(&self) -> Option<SavedProvider> {
        let now = self.now();
        let bytes = self.blocking(move |s| s.get_auth(KIND_PROVIDER, now)).await.ok()??;
        // Unreadable (an older format): discovered again.
        serde_json::from_slice(&bytes).ok()
    }

    /// Keep the provider (and its keys, once fetched) in the vault. Best effort: a vault that
    /// cannot write it only means discovery again next run.
    async fn save_provider(&self, p: &Provider, jwks: Option<&Jwks>) {
        let fetched_at = match (jwks, self.saved_provider().await) {
            (Some(_), Some(s)) if s.key == self.provider_key() => s.fetched_at,
            _ => self.now(),
        };
        let saved = SavedProvider {
            key: self.provider_key(),
            tenant: p.tenant.clone(),
            meta: p.meta.clone(),
            jwks: jwks.cloned(),
            fetched_at,
        };
        let Ok(json) = serde_json::to_vec(&saved) else { return };
        if let Err(e) = self.blocking(move |s| s.put_auth(KIND_PROVIDER, &json, None)).await {
            tracing::debug!(target: "outpost::auth", error = %e, "could not keep the provider's metadata");
        }
    }

    /// The signing keys for this ID token: the ones known, or fetched (once) when there are none
    /// yet or the token names a key they lack (the provider rolled its keys over).
    async fn signing_keys(&self, p: &Provider, id_token: &str) -> Result<Arc<Jwks>> {
        let mut keys = self.jwks.lock().await;
        if let Some(k) = keys.as_ref().filter(|k| id_token::names_a_known_key(id_token, k)) {
            return Ok(k.clone());
        }
        let fresh: Arc<Jwks> = Arc::new(get_json(&self.http, &p.meta.jwks_uri, "signing keys").await?);
        *keys = Some(fresh.clone());
        drop(keys);
        self.save_provider(p, Some(&fresh)).await;
        Ok(fresh)
    }

    /// Tenant discovery: an anonymous request to the Web API answers 401 with
    /// `WWW-Authenticate: Bearer authorization_uri=…/{tenant}/oauth2/authorize` (raw, unquoted).
    async fn discover_tenant(&self) -> Result<Url> {
        let resp = self
            .http
            .get(self.config.org.web_api())
            .send()
            .await
            .map_err(|e| Error::Network { reason: format!("tenant discovery: {}", http::describe(&e)) })?;
        let headers: Vec<&str> =
            resp.headers().get_all("www-authenticate").iter().filter_map(|v| v.to_str().ok()).collect();
        let (_, mut authority) =
            bearer_challenge(headers).as_ref().and_then(authority_from_challenge).ok_or_else(|| {
                Error::Configuration {
                    code: None,
                    details: ServerDetails {
                        error: "no tenant in the organisation's 401 challenge".into(),
                        ..Default::default()
                    },
                }
            })?;
        if let Some(t) = &self.config.tenant {
            authority.set_path(&format!("/{t}/v2.0"));
        }
        if !challenge_authority_allowed(&authority) {
            return Err(Error::Configuration {
                code: None,
                details: ServerDetails {
                    error: format!(
                        "the organisation's 401 challenge names an authority on {}, which is not a Microsoft login host: configure the authority yourself if you trust it",
                        authority.host_str().unwrap_or("?")
                    ),
                    ..Default::default()
                },
            });
        }
        Ok(authority)
    }

    fn oauth_client(&self, p: &Provider) -> Result<OidcClient> {
        Ok(oauth2::Client::new(ClientId::new(self.config.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(p.meta.authorization_endpoint.clone()))
            .set_token_uri(TokenUrl::from_url(p.meta.token_endpoint.clone()))
            .set_redirect_uri(
                RedirectUrl::new(self.config.redirect_uri.clone()).map_err(|_| Error::invalid("redirect URI"))?,
            ))
    }

    fn scopes(&self) -> Vec<Scope> {
        self.config.org.scopes().into_iter().map(Scope::new).collect()
    }

    /// Fill in the admin-consent URL of a `ConsentRequired`.
    async fn with_consent_url(&self, p: &Provider, e: Error, tenant: Option<&str>) -> Error {
        match e {
            Error::ConsentRequired { user_consent_possible, details, .. } => {
                let tenant = tenant.unwrap_or(&p.tenant).to_string();
                let url = match self.new_consent_state().await {
                    Ok(state) => Some(self.consent_link(p, &tenant, &self.config.redirect_uri, &state).to_string()),
                    // The vault could not keep the state: no link rather than one whose answer
                    // would be refused (the app can ask for one with `begin_admin_consent`).
                    Err(_) => None,
                };
                Error::ConsentRequired { admin_consent_url: url, user_consent_possible, details }
            }
            other => other,
        }
    }

    fn consent_link(&self, p: &Provider, tenant: &str, redirect_uri: &str, state: &str) -> Url {
        admin_consent_url(
            &p.meta.authorization_endpoint,
            tenant,
            &self.config.client_id,
            redirect_uri,
            &self.config.org,
            state,
        )
    }

    /// A new random `state` for an admin-consent link, remembered in the vault (with the last
    /// few others, for a week) so the redirect can be checked, in this process or a later one.
    async fn new_consent_state(&self) -> Result<String> {
        let state = random_b64(24)?;
        let now = self.now();
        let st = state.clone();
        self.blocking(move |s| {
            let mut list: ConsentStates = match s.get_auth(KIND_ADMIN_CONSENT, now)? {
                Some(v) => serde_json::from_slice(&v).unwrap_or_default(),
                None => ConsentStates::default(),
            };
            list.states.retain(|(_, exp)| *exp > now);
            list.states.push((st, now + ADMIN_CONSENT_LIFE_S));
            let excess = list.states.len().saturating_sub(ADMIN_CONSENT_KEEP);
            list.states.drain(..excess);
            let json = Zeroizing::new(serde_json::to_vec(&list).map_err(|e| Error::internal(e.to_string()))?);
            s.put_auth(KIND_ADMIN_CONSENT, &json, Some(now + ADMIN_CONSENT_LIFE_S))
        })
        .await?;
        Ok(state)
    }

    fn now(&self) -> i64 {
        self.clock.now_unix()
    }

    /// Validate the ID token, bind the vault to the account, persist the refresh token, then
    /// cache the access token.
    async fn accept(&self, p: &Provider, resp: TokenResp, nonce: Option<&str>) -> Result<Account> {
        let id_token =
            resp.extra_fields().id_token.as_deref().ok_or_else(|| Error::auth_failed("no ID token in the response"))?;
        let expected =
            Expected { client_id: &self.config.client_id, issuer: &p.meta.issuer, nonce, now: self.server_now() };
        let jwks = self.signing_keys(p, id_token).await?;
        let claims: IdClaims = id_token::validate(id_token, &jwks, &expected)?;
        let account = Account {
            tenant_id: claims.tid.clone().unwrap_or_default(),
            account_id: claims
                .oid
                .clone()
                .or(claims.sub.clone())
                .ok_or_else(|| Error::auth_failed("ID token without oid/sub"))?,
            username: claims.preferred_username.clone().unwrap_or_default(),
        };
        let binding = AccountBinding {
            tenant_id: account.tenant_id.clone(),
            account_id: account.account_id.clone(),
            username: account.username.clone(),
            org_url: self.config.org.to_string(),
        };
        self.blocking(move |s| s.bind_account(&binding)).await?;
        let mut cache = self.cache.lock().await;
        *cache = Some(self.store_tokens(resp).await?);
        tracing::debug!(target: "outpost::auth", "signed in; ID token valid; refresh token stored in the vault");
        Ok(account)
    }

    /// Persist a (rotated) refresh token first, then return the cache entry for the access token.
    async fn store_tokens(&self, resp: TokenResp) -> Result<Cached> {
        let received = Instant::now();
        if let Some(rt) = resp.refresh_token() {
            let bytes = Zeroizing::new(rt.secret().as_bytes().to_vec());
            self.blocking(move |s| s.put_auth(KIND_REFRESH, &bytes, None)).await?;
        }
        let lifetime = resp.expires_in().unwrap_or(Duration::from_secs(3600));
        Ok(Cached {
            token: AccessToken(Arc::new(Zeroizing::new(resp.access_token().secret().clone()))),
            valid_until: received + usable_for(lifetime),
            refresh_on: resp.extra_fields().refresh_in.map(|s| received + Duration::from_secs(s)),
        })
    }

    fn sender(&self) -> impl Fn(oauth2::HttpRequest) -> futures_send::SendFuture + '_ {
        let client = self.http.clone();
        move |req| {
            let (client, skew, clock) = (client.clone(), self.skew.clone(), self.clock.clone());
            Box::pin(async move {
                let resp = http::send(client, req).await;
                if let Ok(r) = &resp {
                    note_server_time(&skew, clock.as_ref(), r.headers());
                }
                resp
            })
        }
    }

    fn note_server_time(&self, headers: &::http::HeaderMap) {
        note_server_time(&self.skew, self.clock.as_ref(), headers);
    }

    /// The identity provider's time: the device clock corrected by the skew its last answer
    /// showed. Token times are judged against it, so a device clock that is hours off (wrong
    /// time zone, no network time) does not reject a token just issued (issue 15, defect 4).
    fn server_now(&self) -> i64 {
        let skew = self.skew.lock().unwrap_or_else(std::sync::PoisonError::into_inner).unwrap_or(0);
        self.now().saturating_add(skew)
    }

    /// Sign in with username and password (the OAuth password grant, "ROPC"): only for service
    /// accounts without MFA. An MFA user gets `MfaRequired`.
    ///
    /// # Errors
    /// `InvalidArgument` unless `allow_password_grant`; `MfaRequired`, `BadCredentials`,
    /// `ConsentRequired` (with the admin-consent URL), `Configuration`, `Blocked`,
    /// `AccountMismatch`, `Throttled`, `Network`.
    pub async fn sign_in_with_password(&self, username: &str, password: &[u8]) -> Result<Account> {
        self.no_host()?;
        if !self.config.allow_password_grant {
            return Err(Error::invalid("the password grant is off: set allow_password_grant (service accounts only)"));
        }
        let p = self.provider().await?;
        let password = Zeroizing::new(
            String::from_utf8(password.to_vec()).map_err(|_| Error::invalid("the password is not UTF-8"))?,
        );
        let client = self.oauth_client(&p)?;
        let user = ResourceOwnerUsername::new(username.to_string());
        let pass = ResourceOwnerPassword::new(password.to_string());
        let send = self.sender();
        let resp = match client.exchange_password(&user, &pass).add_scopes(self.scopes()).request_async(&send).await {
            Ok(r) => r,
            Err(e) => return Err(self.with_consent_url(&p, map_token_error(e), None).await),
        };
        self.accept(&p, resp, None).await
    }

    /// Sign in with the device-code flow: `on_code` receives the user code and the URL to show;
    /// the user finishes (including MFA) in a browser on any device while this polls.
    ///
    /// # Errors
    /// `DeviceCodeDeclined`, `DeviceCodeExpired`, `ConsentRequired`, `Configuration` (e.g. public
    /// client flows disabled), `AccountMismatch`, `Network`.
    pub async fn sign_in_with_device_code(&self, on_code: impl FnOnce(&DeviceCodeInfo) + Send) -> Result<Account> {
        self.no_host()?;
        let p = self.provider().await?;
        let endpoint = p.meta.device_authorization_endpoint.clone().ok_or_else(|| Error::Configuration {
            code: None,
            details: ServerDetails {
                error: "the provider has no device authorization endpoint".into(),
                ..Default::default()
            },
        })?;
        let scope = self.config.org.scopes().join(" ");
        let (status, retry_after, body) = self
            .post_form(&endpoint, &[("client_id", self.config.client_id.as_str()), ("scope", scope.as_str())])
            .await?;
        if !status.is_success() {
            return Err(self.with_consent_url(&p, http::error_response(status, retry_after, &body), None).await);
        }
        let auth: DeviceAuthorization =
            serde_json::from_slice(&body).map_err(|_| Error::auth_failed("malformed device authorization response"))?;
        let device_code = Zeroizing::new(auth.device_code);
        on_code(&DeviceCodeInfo {
            user_code: auth.user_code.clone(),
            verification_uri: auth.verification_uri.clone(),
            message: auth.message.clone().unwrap_or_else(|| {
                format!("To sign in, open {} and enter the code {}.", auth.verification_uri, auth.user_code)
            }),
            expires_in_s: auth.expires_in,
        });
        let deadline = Instant::now() + Duration::from_secs(auth.expires_in);
        let mut interval = Duration::from_secs(auth.interval.clamp(1, 60));
        loop {
            tokio::time::sleep(interval).await;
            if Instant::now() >= deadline {
                return Err(Error::DeviceCodeExpired {
                    details: ServerDetails { error: "expired_token".into(), ..Default::default() },
                });
            }
            let (status, retry_after, body) = self
                .post_form(
                    &p.meta.token_endpoint,
                    &[
                        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                        ("client_id", self.config.client_id.as_str()),
                        ("device_code", device_code.as_str()),
                    ],
                )
                .await?;
            if status.is_success() {
                let resp: TokenResp =
                    serde_json::from_slice(&body).map_err(|_| Error::auth_failed("malformed token response"))?;
                return self.accept(&p, resp, None).await;
            }
            let Ok(err) = serde_json::from_slice::<TokenErrorBody>(&body) else {
                return Err(http::error_response(status, retry_after, &body));
            };
            match super::entra::classify_device_poll(&err) {
                super::entra::DevicePoll::Pending => {}
                // RFC 8628: add 5 s (Entra does not document slow_down; handled anyway).
                super::entra::DevicePoll::SlowDown => interval += Duration::from_secs(5),
                super::entra::DevicePoll::Failed(e) => return Err(self.with_consent_url(&p, e, None).await),
            }
        }
    }

    /// POST a form; the status, `Retry-After` and body.
    async fn post_form(&self, url: &Url, form: &[(&str, &str)]) -> Result<(reqwest::StatusCode, Option<u64>, Vec<u8>)> {
        let resp = self
            .http
            .post(url.clone())
            .header("Accept", "application/json")
            .form(form)
            .send()
            .await
            .map_err(|e| Error::Network { reason: http::describe(&e).to_string() })?;
        let status = resp.status();
        let retry_after = http::retry_after(resp.headers());
        self.note_server_time(resp.headers());
        let body = resp.bytes().await.map_err(|e| Error::Network { reason: http::describe(&e).to_string() })?;
        Ok((status, retry_after, body.to_vec()))
    }

    /// Start an interactive sign-in (authorization code + PKCE S256). The PKCE verifier, state
    /// and nonce are kept in the vault for ten minutes, so the app being killed while the browser
    /// is open does not lose the sign-in.
    ///
    /// # Errors
    /// `Network`, `Configuration` (discovery failed), `Storage`.
    pub async fn begin_sign_in(&self, options: &SignInOptions) -> Result<SignInRequest> {
        self.no_host()?;
        if options.login_hint.is_some()
            && options.prompt.as_deref().is_some_and(|p| p.eq_ignore_ascii_case("select_account"))
        {
            // MSAL refuses the pair too: the hint picks an account, the prompt asks to pick one.
            return Err(Error::invalid("login_hint and prompt=select_account contradict each other: pass one"));
        }
        let p = self.provider().await?;
        let client = self.oauth_client(&p)?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let nonce = random_b64(24)?;
        let redirect = options
            .redirect_uri
            .as_ref()
            .map(|r| RedirectUrl::new(r.clone()).map_err(|_| Error::invalid("redirect URI: not a URL")))
            .transpose()?;
        let mut req = client
            .authorize_url(CsrfToken::new_random)
            .set_pkce_challenge(challenge)
            .add_scopes(self.scopes())
            .add_extra_param("nonce", nonce.clone());
        for (k, v) in [
            ("prompt", &options.prompt),
            ("login_hint", &options.login_hint),
            ("domain_hint", &options.domain_hint),
            ("claims", &options.claims),
        ] {
            if let Some(v) = v {
                req = req.add_extra_param(k, v.clone());
            }
        }
        if let Some(r) = &redirect {
            req = req.set_redirect_uri(std::borrow::Cow::Borrowed(r));
        }
        let (url, state) = req.url();
        let inflight = InFlight {
            state: state.secret().clone(),
            verifier: verifier.secret().clone(),
            nonce,
            redirect_uri: options.redirect_uri.clone(),
        };
        let json = Zeroizing::new(serde_json::to_vec(&inflight).map_err(|e| Error::internal(e.to_string()))?);
        let expires = self.now() + INFLIGHT_LIFE_S;
        self.blocking(move |s| s.put_auth(KIND_INFLIGHT, &json, Some(expires))).await?;
        Ok(SignInRequest { url: url.to_string(), state: inflight.state })
    }

    /// Finish an interactive sign-in with the URL the browser was redirected to. Works in a new
    /// process too (the in-flight request is in the vault).
    ///
    /// # Errors
    /// `UserCancelled`, `ConsentRequired` (with the admin-consent URL), `MfaRequired`,
    /// `InvalidArgument` (no sign-in in flight, or it expired), `AuthFailed` (state mismatch,
    /// invalid ID token), `AccountMismatch`, `Network`.
    pub async fn complete_sign_in(&self, redirect_url: &str) -> Result<Account> {
        let url = Url::parse(redirect_url).map_err(|_| Error::invalid("redirect URL: not a URL"))?;
        let params: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
        let now = self.now();
        let inflight = self
            .blocking(move |s| s.get_auth(KIND_INFLIGHT, now))
            .await?
            .ok_or_else(|| Error::invalid("no sign-in in progress (it expired or was aborted): begin again"))?;
        let inflight: InFlight = serde_json::from_slice(&inflight).map_err(|_| Error::corrupt("in-flight sign-in"))?;
        if !params.get("state").is_some_and(|s| same(s, &inflight.state)) {
            return Err(Error::auth_failed("state mismatch: this redirect does not belong to the sign-in in progress"));
        }
        self.blocking(|s| s.delete_auth(KIND_INFLIGHT)).await?;
        let p = self.provider().await?;
        if let Some(error) = params.get("error") {
            let body = TokenErrorBody::from_redirect(error, params.get("error_description").map(String::as_str));
            let e = classify(&body);
            return Err(self.with_consent_url(&p, e, None).await);
        }
        let code =
            params.get("code").ok_or_else(|| Error::auth_failed("the redirect has neither a code nor an error"))?;
        let client = self.oauth_client(&p)?;
        let send = self.sender();
        let redirect = inflight
            .redirect_uri
            .as_ref()
            .map(|r| RedirectUrl::new(r.clone()).map_err(|_| Error::corrupt("in-flight sign-in")))
            .transpose()?;
        let mut exchange = client
            .exchange_code(AuthorizationCode::new(code.clone()))
            .set_pkce_verifier(PkceCodeVerifier::new(inflight.verifier.clone()));
        if let Some(r) = &redirect {
            exchange = exchange.set_redirect_uri(std::borrow::Cow::Borrowed(r));
        }
        let resp = match exchange.request_async(&send).await {
            Ok(r) => r,
            Err(e) => return Err(self.with_consent_url(&p, map_token_error(e), None).await),
        };
        self.accept(&p, resp, Some(&inflight.nonce)).await
    }

    /// The link an administrator opens to consent to this app for the whole tenant (for
    /// `ConsentRequired` when users may not consent, or to set an org up ahead of time): the v2
    /// admin-consent endpoint with `scope=https://{org}/.default` and a random `state`, kept in the
    /// vault for a week so [`Auth::complete_admin_consent`] can check the redirect.
    /// `redirect_uri`: for this link only (e.g. a loopback listener's); the configured one
    /// otherwise.
    ///
    /// # Errors
    /// `Network`, `Configuration` (discovery failed), `Storage`.
    pub async fn begin_admin_consent(&self, redirect_uri: Option<&str>) -> Result<SignInRequest> {
        let p = self.provider().await?;
        let state = self.new_consent_state().await?;
        let redirect = redirect_uri.unwrap_or(&self.config.redirect_uri);
        Ok(SignInRequest { url: self.consent_link(&p, &p.tenant, redirect, &state).to_string(), state })
    }

    /// [`Auth::begin_admin_consent`] with the configured redirect URI: the link alone.
    ///
    /// # Errors
    /// As [`Auth::begin_admin_consent`].
    pub async fn admin_consent_url(&self) -> Result<String> {
        Ok(self.begin_admin_consent(None).await?.url)
    }

    /// Check the redirect an admin-consent link came back with: its `state` must be one this
    /// vault handed out (in a link from [`Auth::begin_admin_consent`] or a `ConsentRequired`),
    /// and it must say `admin_consent=True`. Each state is honoured once.
    ///
    /// # Errors
    /// `AuthFailed` (unknown or reused state, or neither consent nor an error in the redirect),
    /// `UserCancelled` (the administrator declined, AADSTS65004), `ConsentRequired` (whoever
    /// signed in is not an administrator: AADSTS90094 and kin), `InvalidArgument` (not a URL),
    /// `Storage`.
    pub async fn complete_admin_consent(&self, redirect_url: &str) -> Result<AdminConsent> {
        let url = Url::parse(redirect_url).map_err(|_| Error::invalid("redirect URL: not a URL"))?;
        let params: std::collections::HashMap<String, String> = url.query_pairs().into_owned().collect();
        let got = params.get("state").cloned().unwrap_or_default();
        let now = self.now();
        let known = self
            .blocking(move |s| {
                let Some(v) = s.get_auth(KIND_ADMIN_CONSENT, now)? else { return Ok(false) };
                let mut list: ConsentStates = serde_json::from_slice(&v).unwrap_or_default();
                let found = list.states.iter().any(|(st, exp)| *exp > now && same(st, &got));
                list.states.retain(|(st, exp)| *exp > now && !same(st, &got));
                let json = Zeroizing::new(serde_json::to_vec(&list).map_err(|e| Error::internal(e.to_string()))?);
                s.put_auth(KIND_ADMIN_CONSENT, &json, Some(now + ADMIN_CONSENT_LIFE_S))?;
                Ok(found)
            })
            .await?;
        if !known {
            return Err(Error::auth_failed(
                "state mismatch: this redirect does not belong to an admin-consent link of this vault (or it was used, or it is older than a week)",
            ));
        }
        if let Some(error) = params.get("error") {
            let body = TokenErrorBody::from_redirect(error, params.get("error_description").map(String::as_str));
            let p = self.provider().await?;
            return Err(self.with_consent_url(&p, classify(&body), None).await);
        }
        if !params.get("admin_consent").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Err(Error::auth_failed("the redirect has neither admin_consent=True nor an error"));
        }
        Ok(AdminConsent {
            tenant_id: params.get("tenant").cloned().unwrap_or_default(),
            scope: params.get("scope").cloned(),
        })
    }

    /// The issuer in use (configured, or discovered from the org's 401 challenge).
    ///
    /// # Errors
    /// `Network`, `Configuration` (discovery failed).
    pub async fn issuer(&self) -> Result<String> {
        Ok(self.provider().await?.meta.issuer.clone())
    }

    /// Forget the interactive sign-in in progress.
    ///
    /// # Errors
    /// `Storage`.
    pub async fn abort_sign_in(&self) -> Result<()> {
        self.blocking(|s| s.delete_auth(KIND_INFLIGHT)).await
    }

    /// A valid access token for the org: cached, or refreshed silently. Concurrent callers share
    /// one refresh. After a proactive refresh (`refresh_in`) fails, the still-valid token is
    /// returned.
    ///
    /// # Errors
    /// `InteractionRequired` when there is no sign-in; `ReauthRequired` (the refresh token is
    /// deleted), `MfaRequired`, `ConsentRequired` (kept), `Network`.
    pub async fn access_token(&self) -> Result<AccessToken> {
        self.token(None, false).await
    }

    /// After the resource answered 401: drop the cached token and refresh once, carrying the
    /// decoded claims of a CAE challenge if the `WWW-Authenticate` headers hold one. The caller
    /// retries its request once with the result, never more.
    ///
    /// # Errors
    /// As [`Auth::access_token`]; a claims challenge the refresh cannot satisfy becomes
    /// `InteractionRequired { claims }`.
    pub async fn after_unauthorized(&self, www_authenticate: &[&str]) -> Result<AccessToken> {
        self.reauthorize(bearer_challenge(www_authenticate.iter().copied()).and_then(|c| c.claims)).await
    }

    /// Drop the cached token and refresh once, carrying `claims` (a decoded claims challenge).
    async fn reauthorize(&self, claims: Option<String>) -> Result<AccessToken> {
        let had_claims = claims.is_some();
        match self.token(claims.clone(), true).await {
            Err(Error::MfaRequired { claims: c, details } | Error::InteractionRequired { claims: c, details })
                if had_claims =>
            {
                Err(Error::InteractionRequired { claims: c.or(claims), details })
            }
            other => other,
        }
    }

    /// Send a request to the org with the bearer token. On 401: refresh once (carrying the
    /// decoded claims of a CAE challenge) and retry once — never more, so a server that keeps
    /// refusing cannot cause a loop. A second 401 is `InteractionRequired` (with the claims).
    ///
    /// # Errors
    /// As [`Auth::access_token`]; `Network` for transport failures.
    pub async fn send_authorized(
        &self,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response> {
        let token = self.access_token().await?;
        let first = self.send_with(&build, &token).await?;
        if first.status() != reqwest::StatusCode::UNAUTHORIZED {
            return Ok(first);
        }
        let challenges = first.headers().get_all(reqwest::header::WWW_AUTHENTICATE);
        let claims = bearer_challenge(challenges.iter().filter_map(|v| v.to_str().ok())).and_then(|c| c.claims);
        let token = self.reauthorize(claims.clone()).await?;
        let second = self.send_with(&build, &token).await?;
        if second.status() == reqwest::StatusCode::UNAUTHORIZED {
            // Do not refresh again: the server refuses even a fresh token.
            let mut cache = self.cache.lock().await;
            *cache = None;
            return Err(Error::InteractionRequired {
                claims,
                details: ServerDetails { error: "unauthorized after refresh".into(), ..Default::default() },
            });
        }
        Ok(second)
    }

    async fn send_with(
        &self,
        build: &impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
        token: &AccessToken,
    ) -> Result<reqwest::Response> {
        build(&self.http)
            .bearer_auth(token.secret())
            .send()
            .await
            .map_err(|e| Error::Network { reason: http::describe(&e).to_string() })
    }

    /// Let the host app supply the access tokens (`Some`), or go back to Outpost's own sign-in
    /// (`None`). With a provider, every token comes from it (Outpost caches none: MSAL does),
    /// a 401 asks it again with the challenge's claims, the sign-in flows are refused with
    /// `InvalidArgument`, and no refresh token is stored or used (one stored before stays in
    /// the vault, unused, until `sign_out`).
    pub fn set_token_provider(&self, provider: Option<Arc<dyn TokenProvider>>) {
        *self.host.write().unwrap_or_else(std::sync::PoisonError::into_inner) = provider;
        if let Ok(mut cache) = self.cache.try_lock() {
            *cache = None;
        }
    }

    fn host(&self) -> Option<Arc<dyn TokenProvider>> {
        self.host.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// `InvalidArgument` when the host supplies the tokens (no sign-in flow runs then).
    fn no_host(&self) -> Result<()> {
        if self.host().is_some() {
            return Err(Error::invalid(
                "the app's token provider supplies the tokens: sign in with it (MSAL), not with Outpost",
            ));
        }
        Ok(())
    }

    async fn token(&self, claims: Option<String>, force: bool) -> Result<AccessToken> {
        if let Some(host) = self.host() {
            let request = TokenRequest { scopes: vec![self.config.org.resource_scope()], claims };
            let token = host.token(request).await?;
            if token.is_empty() {
                return Err(Error::auth_failed("the app's token provider returned an empty token"));
            }
            return Ok(AccessToken(Arc::new(Zeroizing::new(token))));
        }
        let mut cache = self.cache.lock().await;
        let now = Instant::now();
        if !force {
            if let Some(c) = cache.as_ref().filter(|c| now < c.valid_until) {
                if c.refresh_on.is_none_or(|r| now < r) {
                    return Ok(c.token.clone());
                }
                let still_valid = c.token.clone();
                return Ok(match self.refresh(None).await {
                    Ok(fresh) => {
                        let t = fresh.token.clone();
                        *cache = Some(fresh);
                        t
                    }
                    Err(_) => still_valid,
                });
            }
        }
        *cache = None;
        let fresh = self.refresh(claims).await?;
        let t = fresh.token.clone();
        *cache = Some(fresh);
        Ok(t)
    }

    async fn refresh(&self, claims: Option<String>) -> Result<Cached> {
        let p = self.provider().await?;
        let rt =
            self.blocking(|s| s.get_auth(KIND_REFRESH, i64::MIN)).await?.ok_or_else(|| Error::InteractionRequired {
                claims: None,
                details: ServerDetails { error: "not signed in".into(), ..Default::default() },
            })?;
        let rt = RefreshToken::new(String::from_utf8(rt.to_vec()).map_err(|_| Error::corrupt("refresh token"))?);
        let client = self.oauth_client(&p)?;
        let send = self.sender();
        let scopes = vec![Scope::new(self.config.org.resource_scope()), Scope::new("offline_access".into())];
        let mut req = client.exchange_refresh_token(&rt).add_scopes(scopes);
        if let Some(c) = &claims {
            req = req.add_extra_param("claims", c.clone());
        }
        tracing::debug!(target: "outpost::auth", with_claims = claims.is_some(), "refreshing the access token");
        match req.request_async(&send).await {
            Ok(resp) => {
                let cached = self.store_tokens(resp).await?;
                tracing::debug!(target: "outpost::auth", "refreshed; rotated refresh token stored before use");
                Ok(cached)
            }
            Err(e) => {
                let e = self.with_consent_url(&p, map_token_error(e), None).await;
                tracing::debug!(target: "outpost::auth", error = %e, "refresh failed");
                if matches!(e, Error::ReauthRequired { .. }) {
                    // The refresh token is dead: delete it. (MFA / consent errors keep it.)
                    self.blocking(|s| s.delete_auth(KIND_REFRESH)).await?;
                }
                Err(e)
            }
        }
    }

    /// Whether a refresh token is stored (the user signed in and has not signed out).
    ///
    /// # Errors
    /// `Storage`.
    pub async fn is_signed_in(&self) -> Result<bool> {
        if self.host().is_some() {
            return Ok(true);
        }
        Ok(self.blocking(|s| s.get_auth(KIND_REFRESH, i64::MIN)).await?.is_some())
    }

    /// Sign out: delete the tokens from the vault. With unsent local changes this refuses with
    /// `PendingChanges` unless `force`. Keeping or wiping the offline data is the caller's choice.
    ///
    /// # Errors
    /// `PendingChanges { count }`, `Storage`.
    pub async fn sign_out(&self, force: bool) -> Result<()> {
        let pending = self.blocking(|s| s.pending_count()).await?;
        if pending > 0 && !force {
            return Err(Error::PendingChanges { count: pending });
        }
        let mut cache = self.cache.lock().await;
        *cache = None;
        self.blocking(|s| s.clear_auth()).await
    }
}

/// The boxed future type of the HTTP adapter (named so `sender` can return it).
mod futures_send {
    use std::future::Future;
    use std::pin::Pin;

    pub type SendFuture = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, super::HttpError>> + Send>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_skew() {
        assert_eq!(usable_for(Duration::from_secs(3600)), Duration::from_secs(3300));
        assert_eq!(usable_for(Duration::from_secs(300)), Duration::from_secs(150));
        assert_eq!(usable_for(Duration::from_secs(8)), Duration::from_secs(4));
        assert_eq!(usable_for(Duration::from_secs(1)), Duration::ZERO);
    }

    /// Every form a secret could take in a log line.
    fn forms(secret: &str) -> Vec<String> {
        use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
        let mut f = vec![
            secret.to_string(),
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect(),
            serde_json::to_string(secret).unwrap().trim_matches('"').to_string(),
        ];
        for engine in [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD] {
            f.push(engine.encode(secret));
        }
        let chars: Vec<char> = secret.chars().collect();
        for w in chars.windows(16) {
            f.push(w.iter().collect());
        }
        f
    }

    #[derive(Clone, Default)]
    struct Capture(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A full interactive sign-in, a refresh and a password sign-in, with every tracing event of
    /// every target (ours, reqwest, hyper, h2, rustls; `log` records bridged) captured at TRACE:
    /// no token, code, PKCE verifier or password appears in any form, nor in errors.
    #[test]
    fn no_secret_reaches_trace_output_or_errors() {
        use outpost_emulator::{defaults, Emulator, EmulatorConfig};
        let _ = tracing_log::LogTracer::init();
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let emu = Emulator::start(EmulatorConfig::default().with_rows(2, 2, 2)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let opts = crate::CreateOptions { kdf: crate::KdfParams::FLOOR, ..crate::CreateOptions::default() };
        let vault = crate::Vault::create(dir.path(), b"offline pw of the test", &opts).unwrap();
        let config = AuthConfig {
            org: OrgUrl::parse(emu.org_url()).unwrap(),
            client_id: emu.client_id(),
            redirect_uri: "http://127.0.0.1:53682".into(),
            authority: Some(format!("{}/v2.0", emu.authority())),
            tenant: None,
            allow_password_grant: true,
        };
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let mut secrets: Vec<String> = vec![defaults::ALICE_PASSWORD.into(), defaults::BOB_PASSWORD.into()];
        let mut errors: Vec<Error> = Vec::new();
        rt.block_on(async {
            let auth = Auth::new(config, vault.shared_store()).unwrap();
            let req = auth.begin_sign_in(&SignInOptions::default()).await.unwrap();
            let inflight: InFlight =
                serde_json::from_slice(&vault.store().get_auth(KIND_INFLIGHT, 0).unwrap().unwrap()).unwrap();
            secrets.push(inflight.verifier.clone());
            // The person at the browser, on another thread (its own HTTP logging is not ours).
            let url = req.url.clone();
            let base = emu.base_url().to_string();
            let totp = emu.totp_code(defaults::ALICE).unwrap();
            let redirect = std::thread::spawn(move || person_signs_in(&base, &url, &totp)).join().unwrap();
            let code: String = url::Url::parse(&redirect)
                .unwrap()
                .query_pairs()
                .find(|(k, _)| k == "code")
                .map(|(_, v)| v.into_owned())
                .unwrap();
            secrets.push(code);
            auth.complete_sign_in(&redirect).await.unwrap();
            secrets.push(auth.access_token().await.unwrap().secret().to_string());
            let rt1 = vault.store().get_auth(KIND_REFRESH, 0).unwrap().unwrap();
            secrets.push(String::from_utf8(rt1.to_vec()).unwrap());
            emu.expire_access_tokens();
            secrets.push(auth.after_unauthorized(&[]).await.unwrap().secret().to_string());
            let rt2 = vault.store().get_auth(KIND_REFRESH, 0).unwrap().unwrap();
            secrets.push(String::from_utf8(rt2.to_vec()).unwrap());
            errors.push(
                auth.sign_in_with_password(defaults::ALICE, defaults::ALICE_PASSWORD.as_bytes()).await.unwrap_err(),
            );
            errors.push(auth.complete_sign_in(&redirect).await.unwrap_err());
            emu.expire_refresh_tokens();
            errors.push(auth.after_unauthorized(&[]).await.unwrap_err());
        });
        drop(_guard);
        let log = String::from_utf8_lossy(&capture.0.lock().unwrap()).into_owned();
        assert!(log.contains("outpost::auth"), "our own events are captured");
        assert!(log.lines().count() > 20, "library events are captured too ({} lines)", log.lines().count());
        let texts: Vec<String> = errors.iter().flat_map(|e| [e.to_string(), format!("{e:?}")]).collect();
        for secret in &secrets {
            assert!(secret.len() >= 12, "a realistic secret");
            for form in forms(secret) {
                assert!(!log.contains(&form), "a secret reached the trace output");
                for t in &texts {
                    assert!(!t.contains(&form), "a secret reached an error");
                }
            }
        }
    }

    /// Drives the emulator's sign-in pages like a browser would (password, TOTP, consent).
    fn person_signs_in(base: &str, authorize_url: &str, totp_code: &str) -> String {
        use outpost_emulator::defaults;
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let c = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
            let mut r = c.get(authorize_url).send().await.unwrap();
            loop {
                if r.status() == 302 {
                    return r.headers()["location"].to_str().unwrap().to_owned();
                }
                let page = r.text().await.unwrap();
                let field = |name: &str| {
                    let pat = format!("name=\"{name}\" value=\"");
                    let s = page.find(&pat).unwrap() + pat.len();
                    page[s..s + page[s..].find('"').unwrap()].to_string()
                };
                let a = page.find("action=\"").unwrap() + 8;
                let action = format!("{base}{}", &page[a..a + page[a..].find('"').unwrap()]);
                let txn = field("txn");
                let code = totp_code.to_string();
                let form: Vec<(&str, &str)> = if page.contains("idTxtBx_SAOTCC_OTC") {
                    vec![("txn", &txn), ("otc", &code)]
                } else if page.contains("idBtn_Accept") {
                    vec![("txn", &txn), ("decision", "accept")]
                } else {
                    vec![("txn", &txn), ("loginfmt", defaults::ALICE), ("passwd", defaults::ALICE_PASSWORD)]
                };
                r = c.post(action).form(&form).send().await.unwrap();
            }
        })
    }

    #[test]
    fn access_token_debug_is_redacted() {
        let t = AccessToken(Arc::new(Zeroizing::new("eyJ.secret.token".into())));
        assert_eq!(format!("{t:?}"), "AccessToken([redacted])");
    }
}
