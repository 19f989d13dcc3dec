//! The host app's token provider as a foreign trait (compliant-device tenants: the app signs in
//! with MSAL and its broker and hands Outpost access tokens).

use std::sync::Arc;

use outpost_core::{Error, ServerDetails, TokenFuture, TokenRequest};

/// Why the host could not give a token.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, uniffi::Error)]
pub enum HostTokenError {
    /// The user must sign in interactively (MSAL's `MsalUiRequiredException`, or a claims
    /// challenge that needs the broker's UI). Outpost reports `InteractionRequired` with these
    /// claims.
    #[error("interaction required")]
    InteractionRequired {
        /// The claims the sign-in must carry, if any.
        claims: Option<String>,
    },
    /// No token now, try later (no network, the broker is busy): reported as `Network`.
    #[error("token unavailable: {reason}")]
    Unavailable {
        /// Description (never a token).
        reason: String,
    },
    /// Anything else: reported as `AuthFailed`.
    #[error("token provider failed: {reason}")]
    Failed {
        /// Description (never a token).
        reason: String,
    },
}

impl From<uniffi::UnexpectedUniFFICallbackError> for HostTokenError {
    fn from(e: uniffi::UnexpectedUniFFICallbackError) -> Self {
        HostTokenError::Failed { reason: format!("the provider failed: {}", e.reason) }
    }
}

/// The app's token source (MSAL `acquireTokenSilent` with the broker, in a real app). Outpost
/// calls `token` for every request to the org, and again after a 401 with the challenge's
/// `claims`; it caches nothing and stores no refresh token.
#[uniffi::export(with_foreign)]
#[async_trait::async_trait]
pub trait HostTokenProvider: Send + Sync {
    /// An access token for `scopes` (the org's `{org}/user_impersonation`), satisfying `claims`
    /// (a decoded claims challenge) when given.
    async fn token(&self, scopes: Vec<String>, claims: Option<String>) -> Result<String, HostTokenError>;
}

/// The foreign provider seen as the core's.
pub(crate) struct Host(pub Arc<dyn HostTokenProvider>);

impl outpost_core::TokenProvider for Host {
    fn token(&self, request: TokenRequest) -> TokenFuture<'_> {
        Box::pin(async move {
            self.0.token(request.scopes, request.claims.clone()).await.map_err(|e| match e {
                HostTokenError::InteractionRequired { claims } => Error::InteractionRequired {
                    claims: claims.or(request.claims),
                    details: ServerDetails {
                        error: "the app's token provider needs the user".into(),
                        ..Default::default()
                    },
                },
                HostTokenError::Unavailable { reason } => {
                    Error::Network { reason: format!("the app's token provider: {reason}") }
                }
                HostTokenError::Failed { reason } => Error::AuthFailed {
                    details: ServerDetails {
                        error: format!("the app's token provider: {reason}"),
                        ..Default::default()
                    },
                },
            })
        })
    }
}
