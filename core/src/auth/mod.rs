//! Sign-in. Plain OpenID Connect / OAuth 2.0 against any issuer found through
//! `/.well-known/openid-configuration`; everything Entra-specific is in [`entra`].
//!
//! Landed so far: organisation URLs and scopes, and the Entra module (tenant discovery from a
//! 401 challenge, claims challenges, admin-consent URL, error classification). The flows, the
//! token cache and single-flight refresh follow (issue 4).

// Used by the sign-in flows that land next (issue 4); tested on its own meanwhile.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) mod entra;
pub mod org;

pub use org::OrgUrl;
