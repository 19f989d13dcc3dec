//! Everything specific to Microsoft Entra ID lives here, and only here: tenant discovery from a
//! Dataverse 401 challenge, claims challenges, the admin-consent URL, and the classification of
//! token-endpoint errors (AADSTS codes) into the public error. The rest of `auth` speaks plain
//! OpenID Connect / OAuth 2.0 to any provider.
//!
//! Classification branches on `error` and `error_codes`, never on `error_description` text
//! (Microsoft changes it, and 50076 arrives both as `invalid_grant` and `interaction_required`).

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use url::Url;

use super::org::OrgUrl;
use crate::error::{Error, ServerDetails};

/// A token-endpoint error body, as Entra sends it (unknown fields ignored).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
pub(crate) struct TokenErrorBody {
    pub error: String,
    #[serde(default)]
    pub error_codes: Vec<u32>,
    #[serde(default)]
    pub suberror: Option<String>,
    /// A JSON *string* to pass back on the next `/authorize` (or refresh) request.
    #[serde(default)]
    pub claims: Option<String>,
    #[serde(default)]
    pub correlation_id: Option<String>,
    #[serde(default)]
    pub trace_id: Option<String>,
}

impl std::fmt::Display for TokenErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {:?}", self.error, self.error_codes)
    }
}

impl oauth2::ErrorResponse for TokenErrorBody {}

impl TokenErrorBody {
    /// An error that arrived on a redirect (`error`, `error_description`): the AADSTS code is
    /// the description's structured prefix `AADSTSnnnnn:`, the only part read.
    pub(crate) fn from_redirect(error: &str, description: Option<&str>) -> Self {
        let code = description
            .and_then(|d| d.strip_prefix("AADSTS"))
            .map(|d| d.chars().take_while(char::is_ascii_digit).collect::<String>())
            .and_then(|d| d.parse().ok());
        TokenErrorBody { error: error.to_string(), error_codes: code.into_iter().collect(), ..Default::default() }
    }

    fn details(&self) -> ServerDetails {
        ServerDetails {
            error: self.error.clone(),
            error_codes: self.error_codes.clone(),
            correlation_id: self.correlation_id.clone(),
            trace_id: self.trace_id.clone(),
        }
    }

    fn has(&self, codes: &[u32]) -> Option<u32> {
        self.error_codes.iter().copied().find(|c| codes.contains(c))
    }
}

/// Step-up: multi-factor authentication (or enrolment, or an external challenge) is needed.
const MFA: &[u32] = &[50076, 50079, 50074, 50072, 50078, 50158];
/// Consent missing: the user (if allowed) or an admin must consent.
const CONSENT: &[u32] = &[65001];
/// Consent missing and only an administrator can give it: 90093 (the permissions are ones the
/// user may not grant, or a tenant policy stops users consenting), 90094 (admin-only
/// permissions), 90095 (the admin-consent workflow), 900941 (administrator consent required).
/// Source: learn.microsoft.com/entra/identity/enterprise-apps/application-sign-in-unexpected-user-consent-error
/// and the AADSTS error-code reference (learn.microsoft.com/entra/identity-platform/reference-error-codes).
const ADMIN_CONSENT: &[u32] = &[90093, 90094, 90095, 900941];
/// The refresh token is dead: delete it and sign in again (MSAL's list: expired, expired by
/// inactivity or maximum age, revoked, session expired or revoked by a password change, issued to
/// another client, malformed). Every other Entra code keeps the token (see [`classify`]).
const REAUTH: &[u32] = &[70008, 700081, 700082, 50173, 70043, 50089, 50132, 50133, 700084, 70000, 9002313];
/// Start the interactive flow again (code redeemed, PKCE mismatch, password expired, another
/// account needed, no SSO session).
const INTERACTIVE: &[u32] = &[54005, 501481, 50055, 50144, 50020, 50034, 16000, 50058];
/// Terminal for this client: locked, disabled, blocked by policy or device requirements. A new
/// sign-in meets the same policy, so these keep the refresh token and ask for no sign-in:
/// 53000 device not compliant, 53001 not domain-joined, 53002 app not approved, 53003 blocked by
/// Conditional Access, 53004 MFA registration required first, 530003 the device must be
/// managed, 530032/530033/530035 blocked by security defaults or policy, 50097 device
/// authentication required, 50131 Conditional Access failed, 50053/50057 locked/disabled.
/// Remedies: `docs/auth.md`.
const BLOCKED: &[u32] =
    &[50053, 50057, 53003, 53000, 53001, 53002, 53004, 530003, 530032, 530033, 530035, 50097, 50131];
/// The app registration, tenant or authority is wrong. 50194: a single-tenant app signed in
/// through `common`/`organizations`; 500011: the resource (the org) is not in the tenant;
/// 650056: the app is misconfigured (no permission to the resource, or a bad identifier);
/// 650057: the resource is not in the app's requested permissions.
const CONFIGURATION: &[u32] =
    &[700016, 90002, 50011, 70004, 7000218, 700025, 9001023, 90124, 90130, 50194, 500011, 650056, 650057];

/// What a device-code poll answered, when it is not a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DevicePoll {
    Pending,
    SlowDown,
    Failed(Error),
}

/// Classify a device-code polling error: keep polling, slow down, or stop with an error.
pub(crate) fn classify_device_poll(body: &TokenErrorBody) -> DevicePoll {
    match body.error.as_str() {
        "authorization_pending" => DevicePoll::Pending,
        // RFC 8628; Entra does not document it, but handling it costs nothing.
        "slow_down" => DevicePoll::SlowDown,
        "authorization_declined" | "access_denied" => {
            DevicePoll::Failed(Error::DeviceCodeDeclined { details: body.details() })
        }
        "expired_token" | "code_expired" => DevicePoll::Failed(Error::DeviceCodeExpired { details: body.details() }),
        // The provider does not know the device code (RFC 8628 §3.5; Entra: "wasn't
        // recognized"): this code is dead, like an expired one, and the answer is the same —
        // start the flow again with a new code.
        "bad_verification_code" => DevicePoll::Failed(Error::DeviceCodeExpired { details: body.details() }),
        _ if body.has(&[70019]).is_some() => DevicePoll::Failed(Error::DeviceCodeExpired { details: body.details() }),
        _ => DevicePoll::Failed(classify(body)),
    }
}

/// Classify a token-endpoint (or authorize-redirect) error into the public error.
/// `ConsentRequired` comes back without an admin-consent URL; the caller adds it.
pub(crate) fn classify(body: &TokenErrorBody) -> Error {
    let details = body.details();
    let claims = body.claims.clone().filter(|c| !c.is_empty());
    if body.has(MFA).is_some() {
        return Error::MfaRequired { claims, details };
    }
    if body.has(&[65004]).is_some() {
        return Error::UserCancelled;
    }
    if body.has(ADMIN_CONSENT).is_some() {
        return Error::ConsentRequired { admin_consent_url: None, user_consent_possible: false, details };
    }
    if body.has(CONSENT).is_some() {
        return Error::ConsentRequired { admin_consent_url: None, user_consent_possible: true, details };
    }
    if body.has(REAUTH).is_some() {
        return Error::ReauthRequired { details };
    }
    if body.has(&[50126]).is_some() {
        return Error::BadCredentials { details };
    }
    if let Some(code) = body.has(BLOCKED) {
        return Error::Blocked { code, details };
    }
    if let Some(code) = body.has(CONFIGURATION) {
        return Error::Configuration { code: Some(code), details };
    }
    if body.has(INTERACTIVE).is_some() {
        return Error::InteractionRequired { claims, details };
    }
    if body.has(&[50196]).is_some() {
        // LoopDetected: Entra's own throttling of identical requests.
        return Error::Throttled { retry_after_s: 60 };
    }
    match body.error.as_str() {
        "interaction_required" | "login_required" => Error::InteractionRequired { claims, details },
        "consent_required" => Error::ConsentRequired { admin_consent_url: None, user_consent_possible: true, details },
        "access_denied" => Error::UserCancelled,
        "invalid_grant" => match body.suberror.as_deref() {
            Some("basic_action" | "additional_action" | "message_only" | "user_password_expired") => {
                Error::InteractionRequired { claims, details }
            }
            Some("consent_required") => {
                Error::ConsentRequired { admin_consent_url: None, user_consent_possible: true, details }
            }
            // MSAL removes the refresh token for these suberrors
            Some("bad_token" | "client_mismatch") => Error::ReauthRequired { details },
            // A provider without Entra's codes: RFC 6749 §5.2, the grant is invalid, expired or
            // revoked
            _ if body.error_codes.is_empty() => Error::ReauthRequired { details },
            // An Entra code not known to mean a dead token (Conditional Access and kin): keep the
            // token and go interactive, as MSAL does; a loop of new sign-ins is not a remedy
            _ => Error::InteractionRequired { claims, details },
        },
        "temporarily_unavailable" | "server_error" => {
            Error::Network { reason: format!("identity provider: {}", body.error) }
        }
        "invalid_client"
        | "unauthorized_client"
        | "unsupported_grant_type"
        | "invalid_scope"
        | "invalid_resource"
        | "unsupported_response_type" => Error::Configuration { code: body.error_codes.first().copied(), details },
        _ => Error::AuthFailed { details },
    }
}

/// Split a `WWW-Authenticate` challenge into its scheme and parameters. Accepts the quoted form
/// (`key="value"`) and the raw unquoted form Dataverse sends
/// (`Bearer authorization_uri=https://…/authorize, resource_id=https://…/`).
pub(crate) fn parse_challenge(header: &str) -> Option<(String, Vec<(String, String)>)> {
    let header = header.trim();
    let (scheme, rest) = match header.split_once(char::is_whitespace) {
        Some((s, r)) => (s, r),
        None => (header, ""),
    };
    if scheme.is_empty() {
        return None;
    }
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect::<String>().trim().to_string();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            value.push(n);
                        }
                    }
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
            value = value.trim().to_string();
        }
        params.push((key.to_ascii_lowercase(), value));
    }
    Some((scheme.to_string(), params))
}

fn param<'a>(params: &'a [(String, String)], key: &str) -> Option<&'a str> {
    params.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// What a Dataverse 401 says.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct BearerChallenge {
    /// `authorization_uri`, naming the tenant (tenant discovery).
    pub authorization_uri: Option<String>,
    /// `resource_id`.
    pub resource_id: Option<String>,
    /// A CAE / conditional-access claims challenge, already base64-decoded to its JSON.
    pub claims: Option<String>,
}

/// Read every `WWW-Authenticate` header of a 401 (there may be several; the Bearer one counts).
pub(crate) fn bearer_challenge<'a>(headers: impl IntoIterator<Item = &'a str>) -> Option<BearerChallenge> {
    for h in headers {
        let Some((scheme, params)) = parse_challenge(h) else { continue };
        if !scheme.eq_ignore_ascii_case("bearer") {
            continue;
        }
        let claims = match (param(&params, "error"), param(&params, "claims")) {
            (Some("insufficient_claims"), Some(c)) => decode_claims(c),
            _ => None,
        };
        return Some(BearerChallenge {
            authorization_uri: param(&params, "authorization_uri").map(str::to_string),
            resource_id: param(&params, "resource_id").map(str::to_string),
            claims,
        });
    }
    None
}

/// A claims challenge's `claims` value is base64 (standard or URL-safe, padded or not) of JSON.
fn decode_claims(b64: &str) -> Option<String> {
    let trimmed = b64.trim().trim_end_matches('=');
    let bytes = STANDARD
        .decode(b64.trim())
        .ok()
        .or_else(|| URL_SAFE_NO_PAD.decode(trimmed).ok())
        .or_else(|| base64::engine::general_purpose::STANDARD_NO_PAD.decode(trimmed).ok())?;
    let json = String::from_utf8(bytes).ok()?;
    serde_json::from_str::<serde_json::Value>(&json).ok().filter(serde_json::Value::is_object)?;
    Some(json)
}

/// The tenant named by a challenge's `authorization_uri`
/// (`https://login.microsoftonline.com/{tenant}/oauth2/authorize`), and the authority
/// (`https://login.microsoftonline.com/{tenant}/v2.0`) to discover.
///
/// `common` becomes `organizations`, as Microsoft's Dataverse ServiceClient does: Dataverse is
/// work or school only, and `common` would offer personal accounts.
pub(crate) fn authority_from_challenge(challenge: &BearerChallenge) -> Option<(String, Url)> {
    let uri = Url::parse(challenge.authorization_uri.as_deref()?).ok()?;
    let tenant = uri.path_segments()?.find(|s| !s.is_empty())?.to_string();
    let tenant = if tenant.eq_ignore_ascii_case("common") { "organizations".to_string() } else { tenant };
    let mut authority = uri.clone();
    authority.set_query(None);
    authority.set_fragment(None);
    authority.set_path(&format!("/{tenant}/v2.0"));
    Some((tenant, authority))
}

/// The admin-consent URL for this app and org, derived from the tenant's authorize endpoint
/// (`…/{tenant}/oauth2/v2.0/authorize` → `…/{tenant}/v2.0/adminconsent`). Admin consent must not
/// use `common`: that is replaced with `organizations`.
///
/// The scope is `https://{org}/.default`: static consent to every permission the app
/// registration lists, the Graph ones of an OpenID sign-in (`openid profile offline_access`)
/// included. A list naming only `user_impersonation` leaves users of a tenant that blocks user
/// consent facing "Need admin approval" for the Graph permissions (issue 15, defect 2;
/// Microsoft: v2-admin-consent, "Request the permissions from a directory admin").
///
/// The v1 form Microsoft also documents grants the same static set:
/// `…/common/oauth2/authorize?response_type=id_token&response_mode=form_post&client_id=…&redirect_uri=…&prompt=admin_consent`
/// (`docs/auth.md`); Outpost builds the v2 form only.
pub(crate) fn admin_consent_url(
    authorize_endpoint: &Url,
    tenant: &str,
    client_id: &str,
    redirect_uri: &str,
    org: &OrgUrl,
    state: &str,
) -> Url {
    let tenant = if tenant.eq_ignore_ascii_case("common") || tenant.is_empty() { "organizations" } else { tenant };
    let mut url = authorize_endpoint.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.set_path(&format!("/{tenant}/v2.0/adminconsent"));
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("scope", &format!("{}/.default", org.as_str()))
        .append_pair("redirect_uri", redirect_uri)
        .append_pair("state", state);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error: &str, codes: &[u32]) -> TokenErrorBody {
        TokenErrorBody {
            error: error.into(),
            error_codes: codes.to_vec(),
            correlation_id: Some("corr".into()),
            trace_id: Some("trace".into()),
            ..Default::default()
        }
    }

    #[test]
    fn mfa_in_both_shapes() {
        for error in ["invalid_grant", "interaction_required"] {
            let mut b = body(error, &[50076]);
            b.claims = Some(r#"{"access_token":{"capolids":{"essential":true}}}"#.into());
            match classify(&b) {
                Error::MfaRequired { claims, details } => {
                    assert!(claims.unwrap().contains("capolids"));
                    assert_eq!(details.error_codes, vec![50076]);
                    assert_eq!(details.correlation_id.as_deref(), Some("corr"));
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(matches!(classify(&body("invalid_grant", &[50079])), Error::MfaRequired { .. }));
    }

    #[test]
    fn classes() {
        assert!(matches!(
            classify(&body("invalid_grant", &[65001])),
            Error::ConsentRequired { user_consent_possible: true, .. }
        ));
        let blocked = TokenErrorBody::from_redirect(
            "consent_required",
            Some("AADSTS90094: The grant requires admin permission."),
        );
        assert_eq!(blocked.error_codes, vec![90094]);
        assert!(matches!(classify(&blocked), Error::ConsentRequired { user_consent_possible: false, .. }));
        // Issue 15, defect 5: a policy that stops users consenting (90093), and 900941, are
        // admin-only too (they were taken as "the user can consent", a prompt that cannot succeed)
        for code in [90093, 900941] {
            let d = format!("AADSTS{code}: Administrator consent is required.");
            let b = TokenErrorBody::from_redirect("consent_required", Some(&d));
            assert!(matches!(classify(&b), Error::ConsentRequired { user_consent_possible: false, .. }), "{code}");
            let b = body("invalid_grant", &[code]);
            assert!(matches!(classify(&b), Error::ConsentRequired { user_consent_possible: false, .. }), "{code}");
        }
        assert!(matches!(classify(&body("invalid_grant", &[700082])), Error::ReauthRequired { .. }));
        assert!(matches!(classify(&body("invalid_grant", &[70008])), Error::ReauthRequired { .. }));
        assert!(matches!(classify(&body("invalid_grant", &[50126])), Error::BadCredentials { .. }));
        assert!(matches!(classify(&body("invalid_grant", &[53003])), Error::Blocked { code: 53003, .. }));
        // Issue 15, defect 3: device and Conditional Access answers are Blocked, unknown Entra
        // codes interactive (both keep the token), a generic provider's bare invalid_grant dead
        for code in [530003, 530033, 50097, 53004, 50131] {
            assert!(matches!(classify(&body("invalid_grant", &[code])), Error::Blocked { code: c, .. } if c == code));
        }
        assert!(matches!(classify(&body("invalid_grant", &[7_654_321])), Error::InteractionRequired { .. }));
        assert!(matches!(classify(&body("invalid_grant", &[])), Error::ReauthRequired { .. }));
        let mut bad = body("invalid_grant", &[7_654_321]);
        bad.suberror = Some("bad_token".into());
        assert!(matches!(classify(&bad), Error::ReauthRequired { .. }));
        assert!(matches!(
            classify(&body("unauthorized_client", &[700016])),
            Error::Configuration { code: Some(700016), .. }
        ));
        assert!(matches!(classify(&body("invalid_request", &[90002])), Error::Configuration { .. }));
        assert!(matches!(classify(&body("invalid_grant", &[])), Error::ReauthRequired { .. }));
        assert!(matches!(classify(&body("interaction_required", &[])), Error::InteractionRequired { .. }));
        assert!(matches!(classify(&body("temporarily_unavailable", &[])), Error::Network { .. }));
        assert!(matches!(classify(&body("whatever", &[])), Error::AuthFailed { .. }));
        assert_eq!(classify(&body("access_denied", &[65004])), Error::UserCancelled);
    }

    #[test]
    fn device_poll_states() {
        assert_eq!(classify_device_poll(&body("authorization_pending", &[70016])), DevicePoll::Pending);
        assert_eq!(classify_device_poll(&body("slow_down", &[])), DevicePoll::SlowDown);
        assert!(matches!(
            classify_device_poll(&body("authorization_declined", &[])),
            DevicePoll::Failed(Error::DeviceCodeDeclined { .. })
        ));
        assert!(matches!(
            classify_device_poll(&body("expired_token", &[70019])),
            DevicePoll::Failed(Error::DeviceCodeExpired { .. })
        ));
    }

    #[test]
    fn parses_the_raw_unquoted_dataverse_header() {
        let h = "Bearer authorization_uri=https://login.microsoftonline.com/4a1b2c3d-0000-4000-8000-000000000001/oauth2/authorize, resource_id=https://contoso.crm.dynamics.com/";
        let c = bearer_challenge([h]).unwrap();
        assert_eq!(c.resource_id.as_deref(), Some("https://contoso.crm.dynamics.com/"));
        let (tenant, authority) = authority_from_challenge(&c).unwrap();
        assert_eq!(tenant, "4a1b2c3d-0000-4000-8000-000000000001");
        assert_eq!(authority.as_str(), "https://login.microsoftonline.com/4a1b2c3d-0000-4000-8000-000000000001/v2.0");
    }

    #[test]
    fn a_common_challenge_becomes_organizations() {
        let c =
            bearer_challenge(["Bearer authorization_uri=https://login.microsoftonline.com/common/oauth2/authorize"])
                .unwrap();
        let (tenant, authority) = authority_from_challenge(&c).unwrap();
        assert_eq!(tenant, "organizations");
        assert_eq!(authority.as_str(), "https://login.microsoftonline.com/organizations/v2.0");
    }

    #[test]
    fn configuration_codes_and_a_dead_device_code() {
        for code in [50194, 500011, 650056, 650057] {
            assert!(
                matches!(classify(&body("invalid_request", &[code])), Error::Configuration { code: Some(c), .. } if c == code)
            );
        }
        assert!(matches!(
            classify_device_poll(&body("bad_verification_code", &[])),
            DevicePoll::Failed(Error::DeviceCodeExpired { .. })
        ));
    }

    #[test]
    fn parses_a_cae_claims_challenge_among_several_headers() {
        let json = r#"{"access_token":{"acrs":{"essential":true,"value":"cp1"}}}"#;
        let b64 = STANDARD.encode(json);
        let headers = [
            "Basic realm=\"x\"".to_string(),
            format!("Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", error=\"insufficient_claims\", claims=\"{b64}\""),
        ];
        let c = bearer_challenge(headers.iter().map(String::as_str)).unwrap();
        assert_eq!(c.claims.as_deref(), Some(json));
        // Not a claims challenge: no claims.
        let c = bearer_challenge(["Bearer error=\"invalid_token\", claims=\"e30=\""]).unwrap();
        assert_eq!(c.claims, None);
        // Garbage claims are ignored, not fatal.
        let c = bearer_challenge(["Bearer error=\"insufficient_claims\", claims=\"!!!\""]).unwrap();
        assert_eq!(c.claims, None);
    }

    #[test]
    fn admin_consent_url_shape() {
        let authorize = Url::parse("https://login.microsoftonline.com/common/oauth2/v2.0/authorize").unwrap();
        let org = OrgUrl::parse("https://contoso.crm.dynamics.com").unwrap();
        let u = admin_consent_url(&authorize, "tid-1", "client-1", "http://localhost", &org, "st-1");
        assert_eq!(
            u.as_str(),
            "https://login.microsoftonline.com/tid-1/v2.0/adminconsent?client_id=client-1&scope=https%3A%2F%2Fcontoso.crm.dynamics.com%2F.default&redirect_uri=http%3A%2F%2Flocalhost&state=st-1"
        );
        let u = admin_consent_url(&authorize, "common", "c", "r", &org, "s");
        assert!(u.path().starts_with("/organizations/"));
    }
}
