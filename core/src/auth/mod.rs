//! Sign-in. Plain OpenID Connect / OAuth 2.0 against any issuer found through
//! `/.well-known/openid-configuration`; everything Entra-specific is in `entra`.
//!
//! Landed: organisation URLs and scopes; discovery (configured authority, or the tenant from
//! the org's 401 challenge); authorization code + PKCE with the in-flight request persisted in
//! the vault; the password grant; ID-token validation (JWKS signature, aud, nonce, iss with the
//! `{tenantid}` template, time with leeway); the access-token cache with single-flight refresh
//! and rotation persisted before use; 401 / claims-challenge handling; sign-out.

mod discovery;
pub(crate) mod entra;
pub(crate) mod http;
mod id_token;
mod loopback;
pub mod org;
mod session;

pub use loopback::LoopbackRedirect;
pub use org::OrgUrl;
pub use session::{
    AccessToken, Account, AdminConsent, Auth, AuthConfig, DeviceCodeInfo, SignInOptions, SignInRequest, TokenFuture,
    TokenProvider, TokenRequest,
};

pub(crate) use http::{describe as describe_http_error, retry_after as retry_after_secs};
