//! Sign-in against the emulator over loopback HTTP, with real vaults.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::sync::Arc;

use common::*;
use outpost_core::{Auth, AuthConfig, Error, OpenOptions, OrgUrl, SignInOptions, Vault};
use outpost_emulator::{defaults, Emulator, EmulatorConfig, EmulatorHandle, RefreshReuse};

fn emulator(configure: impl FnOnce(&mut EmulatorConfig)) -> EmulatorHandle {
    let mut cfg = EmulatorConfig::default().with_rows(5, 5, 5);
    configure(&mut cfg);
    Emulator::start(cfg).unwrap()
}

fn config(emu: &EmulatorHandle, authority: Option<String>) -> AuthConfig {
    AuthConfig {
        org: OrgUrl::parse(emu.org_url()).unwrap(),
        client_id: emu.client_id(),
        redirect_uri: "http://127.0.0.1:53682".into(),
        authority,
        tenant: None,
        allow_password_grant: true,
    }
}

fn tenant_authority(emu: &EmulatorHandle) -> Option<String> {
    Some(format!("{}/v2.0", emu.authority()))
}

async fn whoami(emu: &EmulatorHandle, token: &str) -> u16 {
    reqwest::Client::new()
        .get(format!("{}WhoAmI", emu.web_api_url()))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn control(emu: &EmulatorHandle, path: &str, body: serde_json::Value) {
    let r = reqwest::Client::new().post(format!("{}{}", emu.control_url(), path)).json(&body).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.text().await.unwrap());
}

fn hidden(html: &str, name: &str) -> String {
    let pat = format!("name=\"{name}\" value=\"");
    let start = html.find(&pat).unwrap_or_else(|| panic!("no {name} in page")) + pat.len();
    let end = html[start..].find('"').unwrap() + start;
    html[start..end].to_owned()
}

fn form_action(page: &str) -> String {
    let start = page.find("action=\"").expect("a form") + "action=\"".len();
    let end = page[start..].find('"').unwrap() + start;
    page[start..end].replace("&amp;", "&")
}

/// A person at the browser: answers each page the identity provider shows (credentials, the
/// TOTP code, consent, device confirmation) by submitting its form, until a redirect (returned)
/// or the "signed in" page of the device flow (`None`).
async fn answer_pages(
    emu: &EmulatorHandle,
    c: &reqwest::Client,
    mut r: reqwest::Response,
    upn: &str,
    password: &str,
) -> Option<String> {
    loop {
        if r.status() == 302 {
            return Some(r.headers()["location"].to_str().unwrap().to_owned());
        }
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        if page.contains("You have signed in") {
            return None;
        }
        let url = format!("{}{}", emu.base_url(), form_action(&page));
        let txn = hidden(&page, "txn");
        let code;
        let form: Vec<(&str, &str)> = if page.contains("idTxtBx_SAOTCC_OTC") {
            code = emu.totp_code(upn).unwrap();
            vec![("txn", &txn), ("otc", &code)]
        } else if page.contains("idBtn_Accept") {
            vec![("txn", &txn), ("decision", "accept")]
        } else if page.contains("deviceconfirm") {
            vec![("txn", &txn), ("decision", "continue")]
        } else if page.contains("name=\"passwd\"") {
            vec![("txn", &txn), ("loginfmt", upn), ("passwd", password)]
        } else {
            panic!("unexpected page");
        };
        r = c.post(url).form(&form).send().await.unwrap();
    }
}

fn browser_client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// Open the authorize URL and sign in; returns the URL the browser is redirected to.
async fn browser(emu: &EmulatorHandle, authorize_url: &str, upn: &str, password: &str) -> String {
    let c = browser_client();
    let r = c.get(authorize_url).send().await.unwrap();
    answer_pages(emu, &c, r, upn, password).await.expect("a redirect")
}

fn token_requests(emu: &EmulatorHandle, after_seq: u64) -> usize {
    emu.requests().iter().filter(|e| e.seq > after_seq && e.method == "POST" && e.path.contains("/token")).count()
}

fn last_seq(emu: &EmulatorHandle) -> u64 {
    emu.requests().last().map(|e| e.seq).unwrap_or(0)
}

#[tokio::test]
async fn password_grant_signs_in_a_user_without_mfa() {
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    let account = auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    assert_eq!(account.username, defaults::BOB);
    assert_eq!(account.tenant_id, emu.tenant_id());
    let token = auth.access_token().await.unwrap();
    assert_eq!(whoami(&emu, token.secret()).await, 200);
    let bound = vault.account().unwrap().unwrap();
    assert_eq!(bound.account_id, account.account_id);
    assert_eq!(bound.org_url, emu.org_url());
}

#[tokio::test]
async fn password_grant_errors_are_typed() {
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    match auth.sign_in_with_password(defaults::ALICE, defaults::ALICE_PASSWORD.as_bytes()).await {
        Err(Error::MfaRequired { details, .. }) => {
            assert_eq!(details.error_codes, vec![50076]);
            assert!(details.correlation_id.is_some());
        }
        other => panic!("expected MfaRequired, got {other:?}"),
    }
    assert!(matches!(
        auth.sign_in_with_password(defaults::BOB, b"wrong password").await,
        Err(Error::BadCredentials { .. })
    ));
    let mut unknown = config(&emu, tenant_authority(&emu));
    unknown.client_id = "00000000-0000-0000-0000-00000000dead".into();
    let auth = Auth::new(unknown, vault.shared_store()).unwrap();
    assert!(matches!(
        auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await,
        Err(Error::Configuration { code: Some(700016), .. })
    ));
    assert!(!auth.is_signed_in().await.unwrap());
}

#[tokio::test]
async fn interactive_mfa_sign_in_survives_a_restart_between_begin_and_complete() {
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    // `organizations`: discovery gives the `{tenantid}` issuer template.
    let organizations = Some(format!("{}/organizations/v2.0", emu.base_url()));
    let auth = Auth::new(config(&emu, organizations.clone()), vault.shared_store()).unwrap();
    let request = auth
        .begin_sign_in(&SignInOptions { login_hint: Some(defaults::ALICE.into()), ..SignInOptions::default() })
        .await
        .unwrap();
    assert!(request.url.contains("code_challenge_method=S256"));
    // The app is killed while the browser is open.
    drop(auth);
    vault.lock().unwrap();
    let redirect = browser(&emu, &request.url, defaults::ALICE, defaults::ALICE_PASSWORD).await;

    let vault = Vault::unlock(dir.path(), PASSWORD, &OpenOptions::default()).unwrap();
    let auth = Auth::new(config(&emu, organizations), vault.shared_store()).unwrap();
    let account = auth.complete_sign_in(&redirect).await.unwrap();
    assert_eq!(account.username, defaults::ALICE);
    assert_eq!(account.tenant_id, emu.tenant_id());
    assert_eq!(whoami(&emu, auth.access_token().await.unwrap().secret()).await, 200);
    // The redirect cannot be replayed: the in-flight request is gone.
    assert!(matches!(auth.complete_sign_in(&redirect).await, Err(Error::InvalidArgument { .. })));
}

#[tokio::test]
async fn a_redirect_with_another_state_is_refused() {
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    let request = auth.begin_sign_in(&SignInOptions::default()).await.unwrap();
    let forged = format!("http://127.0.0.1:53682/?code=abc&state=not-{}", request.state);
    assert!(matches!(auth.complete_sign_in(&forged).await, Err(Error::AuthFailed { .. })));
    auth.abort_sign_in().await.unwrap();
    let cancelled = format!("http://127.0.0.1:53682/?error=access_denied&state={}", request.state);
    assert!(matches!(auth.complete_sign_in(&cancelled).await, Err(Error::InvalidArgument { .. })));
}

#[tokio::test]
async fn tenant_is_discovered_from_the_401_challenge() {
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, None), vault.shared_store()).unwrap();
    let account = auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    assert_eq!(account.tenant_id, emu.tenant_id());
}

#[tokio::test]
async fn an_entra_v1_authority_is_refused_with_the_v2_authority_to_enter() {
    // Issue 15, defect 1: `{login host}/{tenant}` without `/v2.0` finds Entra's v1 document
    // (issuer sts.windows.net, /oauth2/token). Before: the client went on and failed at the v1
    // token endpoint ("sign-in failed (HTTP 404)" here, "malformed token response" at Entra).
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let v1 = emu.authority();
    for authority in [v1.clone(), format!("{v1}/")] {
        let auth = Auth::new(config(&emu, Some(authority)), vault.shared_store()).unwrap();
        let seq = last_seq(&emu);
        let err = auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap_err();
        match &err {
            Error::Configuration { details, .. } => {
                assert!(details.error.contains(&format!("{v1}/v2.0")), "says what to enter: {err}");
                assert!(details.error.contains("v1"), "{err}");
            }
            other => panic!("expected Configuration, got {other:?}"),
        }
        assert_eq!(token_requests(&emu, seq), 0, "no request reaches a token endpoint");
    }
    assert!(vault.account().unwrap().is_none());
}

#[tokio::test]
async fn the_authority_the_emulator_prints_signs_in() {
    // Issue 15 acceptance: the emulator's printed authority works when pasted (it used to be the
    // v1 form, `{base}/{tenant}`).
    let emu = emulator(|_| {});
    let index: serde_json::Value = reqwest::get(format!("{}/", emu.base_url())).await.unwrap().json().await.unwrap();
    let authority = index["authority"].as_str().unwrap().to_owned();
    let info: serde_json::Value = reqwest::get(format!("{}/", emu.control_url())).await.unwrap().json().await.unwrap();
    assert_eq!(info["tenants"][0]["authority"].as_str(), Some(authority.as_str()));
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, Some(authority)), vault.shared_store()).unwrap();
    let account = auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    assert_eq!(account.tenant_id, emu.tenant_id());
}

async fn rotation_is_persisted(mode: RefreshReuse) {
    let emu = emulator(|c| c.settings.refresh_token_reuse = mode);
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    // Two forced refreshes: each rotates the refresh token.
    for _ in 0..2 {
        emu.expire_access_tokens();
        let t = auth.after_unauthorized(&[]).await.unwrap();
        assert_eq!(whoami(&emu, t.secret()).await, 200);
    }
    drop(auth);
    vault.lock().unwrap();
    // Reopen: the newest refresh token was persisted (in strict mode an older one would revoke
    // the whole family).
    let vault = Vault::unlock(dir.path(), PASSWORD, &OpenOptions::default()).unwrap();
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    let t = auth.access_token().await.unwrap();
    assert_eq!(whoami(&emu, t.secret()).await, 200);
}

#[tokio::test]
async fn refresh_rotation_persisted_entra_lax_mode() {
    rotation_is_persisted(RefreshReuse::Lax).await;
}

#[tokio::test]
async fn refresh_rotation_persisted_strict_mode() {
    rotation_is_persisted(RefreshReuse::Strict).await;
}

#[tokio::test]
async fn concurrent_callers_share_one_refresh() {
    let emu = emulator(|c| c.settings.access_token_lifetime_secs = 8);
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Arc::new(Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap());
    auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    // 8-second tokens are used for 4 s (skew = lifetime / 2). Wait past that, then ten callers.
    tokio::time::sleep(std::time::Duration::from_millis(4200)).await;
    let mark = last_seq(&emu);
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let a = auth.clone();
            tokio::spawn(async move { a.access_token().await })
        })
        .collect();
    let mut tokens = Vec::new();
    for c in calls {
        tokens.push(c.await.unwrap().unwrap().secret().to_string());
    }
    assert_eq!(token_requests(&emu, mark), 1, "exactly one refresh for ten concurrent callers");
    assert!(tokens.windows(2).all(|w| w[0] == w[1]));
    assert_eq!(whoami(&emu, &tokens[0]).await, 200);
}

#[tokio::test]
async fn conditional_access_on_refresh_is_blocked_and_keeps_the_refresh_token() {
    // Issue 15, defect 3: Entra answers a refresh in a tenant with a device or Conditional Access
    // policy with invalid_grant and one of these codes. Before: every unknown invalid_grant code
    // deleted the refresh token and asked for a sign-in, which meets the same policy (a loop).
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    let answer = |code: u32| {
        serde_json::json!({
            "method": "POST", "path_contains": "/oauth2/v2.0/token", "status": 400,
            "body": {
                "error": "invalid_grant",
                "error_description": format!("AADSTS{code}: Access has been blocked by Conditional Access policies.\r\nTrace ID: 0\r\nCorrelation ID: 0\r\nTimestamp: 2026-12-04 00:00:00Z"),
                "error_codes": [code], "timestamp": "2026-12-04 00:00:00Z",
                "trace_id": "00000000-0000-0000-0000-000000000001",
                "correlation_id": "00000000-0000-0000-0000-000000000002",
                "error_uri": "https://login.microsoftonline.com/error?code={code}",
                "suberror": "unknown_extra_field_is_ignored"
            }
        })
    };
    for code in [530003, 530033, 50097, 53004, 50131] {
        control(&emu, "/faults", answer(code)).await;
        match auth.after_unauthorized(&[]).await {
            Err(Error::Blocked { code: c, details }) => {
                assert_eq!(c, code);
                assert_eq!(details.error_codes, vec![code]);
            }
            other => panic!("AADSTS{code}: expected Blocked, got {other:?}"),
        }
        assert!(auth.is_signed_in().await.unwrap(), "AADSTS{code}: the refresh token is kept");
    }
    // An Entra code not known to mean a dead token: interactive, the token kept.
    control(&emu, "/faults", answer(7_654_321)).await;
    assert!(matches!(auth.after_unauthorized(&[]).await, Err(Error::InteractionRequired { .. })));
    assert!(auth.is_signed_in().await.unwrap());
    // Once the policy is met, the same refresh token works.
    auth.after_unauthorized(&[]).await.unwrap();
    let token = auth.access_token().await.unwrap();
    assert_eq!(whoami(&emu, token.secret()).await, 200);
    // A code that means the token is dead still deletes it.
    control(&emu, "/faults", answer(70008)).await;
    assert!(matches!(auth.after_unauthorized(&[]).await, Err(Error::ReauthRequired { .. })));
    assert!(!auth.is_signed_in().await.unwrap());
}

#[tokio::test]
async fn forced_refresh_token_expiry_is_reauth_and_deletes_the_token() {
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    emu.expire_refresh_tokens();
    match auth.after_unauthorized(&[]).await {
        Err(Error::ReauthRequired { details }) => assert_eq!(details.error_codes, vec![700082]),
        other => panic!("expected ReauthRequired, got {other:?}"),
    }
    assert!(!auth.is_signed_in().await.unwrap(), "the dead refresh token is deleted");
    // A second 401 does not loop: no token to try.
    let mark = last_seq(&emu);
    assert!(matches!(auth.after_unauthorized(&[]).await, Err(Error::InteractionRequired { .. })));
    assert_eq!(token_requests(&emu, mark), 0);
}

#[tokio::test]
async fn consent_missing_then_prompt_consent_then_admin_only() {
    let emu = emulator(|_| {});
    control(&emu, "/consent", serde_json::json!({"client_id": defaults::CLIENT_ID, "granted": false})).await;
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    // The password grant cannot show a consent page.
    match auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await {
        Err(Error::ConsentRequired { user_consent_possible: true, admin_consent_url: Some(url), .. }) => {
            assert!(url.starts_with(&format!("{}/{}/v2.0/adminconsent?", emu.base_url(), emu.tenant_id())), "{url}");
            assert!(url.contains(&format!("client_id={}", defaults::CLIENT_ID)));
            assert!(url.contains(".default") && url.contains("state="), "{url}");
        }
        other => panic!("expected ConsentRequired, got {other:?}"),
    }
    // Interactive with prompt=consent: the user consents in the browser.
    let req = auth
        .begin_sign_in(&SignInOptions { prompt: Some("consent".into()), ..SignInOptions::default() })
        .await
        .unwrap();
    let redirect = browser(&emu, &req.url, defaults::BOB, defaults::BOB_PASSWORD).await;
    auth.complete_sign_in(&redirect).await.unwrap();

    // A tenant that blocks user consent: only an administrator can.
    let emu = emulator(|_| {});
    control(&emu, "/consent", serde_json::json!({"client_id": defaults::CLIENT_ID, "granted": false})).await;
    control(&emu, &format!("/tenants/{}/user-consent", emu.tenant_id()), serde_json::json!({"allowed": false})).await;
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    let req = auth.begin_sign_in(&SignInOptions::default()).await.unwrap();
    let redirect = browser(&emu, &req.url, defaults::BOB, defaults::BOB_PASSWORD).await;
    match auth.complete_sign_in(&redirect).await {
        Err(Error::ConsentRequired { user_consent_possible: false, admin_consent_url: Some(url), details }) => {
            // AADSTS90093, as Entra answers a tenant policy that stops users consenting (issue 15,
            // defect 5; the emulator used 90094)
            assert_eq!(details.error_codes, vec![90093]);
            assert!(url.contains("/adminconsent?"));
        }
        other => panic!("expected admin-only ConsentRequired, got {other:?}"),
    }
}

#[tokio::test]
async fn the_admin_consent_link_consents_to_every_permission_and_its_answer_is_checked() {
    // Issue 15, defect 2: in a tenant that blocks user consent, the link must ask for
    // `https://{org}/.default` (the Graph permissions of the sign-in included; the emulator
    // enforces consent per permission, as Entra does) and carry a `state` checked on return.
    let emu = emulator(|_| {});
    control(&emu, "/consent", serde_json::json!({"client_id": defaults::CLIENT_ID, "granted": false})).await;
    control(&emu, &format!("/tenants/{}/user-consent", emu.tenant_id()), serde_json::json!({"allowed": false})).await;
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    let req = auth.begin_sign_in(&SignInOptions::default()).await.unwrap();
    let redirect = browser(&emu, &req.url, defaults::BOB, defaults::BOB_PASSWORD).await;
    let link = match auth.complete_sign_in(&redirect).await {
        Err(Error::ConsentRequired { user_consent_possible: false, admin_consent_url: Some(url), .. }) => url,
        other => panic!("expected admin-only ConsentRequired, got {other:?}"),
    };
    let u = url::Url::parse(&link).unwrap();
    let q: std::collections::HashMap<String, String> = u.query_pairs().into_owned().collect();
    assert_eq!(q["scope"], format!("{}/.default", emu.org_url()), "{link}");
    assert!(q["state"].len() >= 24, "{link}");

    // Someone who is not an administrator opens it: refused, and said so.
    let answer = browser(&emu, &link, defaults::BOB, defaults::BOB_PASSWORD).await;
    match auth.complete_admin_consent(&answer).await {
        Err(Error::ConsentRequired { user_consent_possible: false, details, .. }) => {
            assert_eq!(details.error_codes, vec![90094]);
        }
        other => panic!("expected ConsentRequired, got {other:?}"),
    }
    // The administrator opens a fresh link (the state of the first was used).
    let again = auth.begin_admin_consent(None).await.unwrap();
    let answer = browser(&emu, &again.url, defaults::ADMIN, defaults::ADMIN_PASSWORD).await;
    let consent = auth.complete_admin_consent(&answer).await.unwrap();
    assert_eq!(consent.tenant_id, emu.tenant_id());
    assert_eq!(consent.scope.as_deref(), Some(format!("{}/.default", emu.org_url()).as_str()));
    // The same answer again, or one with a state this vault never gave out, is refused.
    assert!(matches!(auth.complete_admin_consent(&answer).await, Err(Error::AuthFailed { .. })));
    let forged = answer.replace(&format!("state={}", again.state), "state=forged");
    assert!(matches!(auth.complete_admin_consent(&forged).await, Err(Error::AuthFailed { .. })));

    // Users now sign in: the OpenID scopes were consented too (with `user_impersonation` alone
    // this meets AADSTS90093 again).
    let req = auth.begin_sign_in(&SignInOptions::default()).await.unwrap();
    let redirect = browser(&emu, &req.url, defaults::BOB, defaults::BOB_PASSWORD).await;
    auth.complete_sign_in(&redirect).await.unwrap();
    assert_eq!(whoami(&emu, auth.access_token().await.unwrap().secret()).await, 200);
}

#[tokio::test]
async fn a_device_clock_hours_off_still_signs_in_and_refreshes() {
    // Issue 15, defect 4: field devices have clocks hours off (wrong time zone, no network time).
    // The ID token's times are judged against the identity provider's clock, learnt from the
    // `Date` header of its answers, never against the device's alone.
    for offset in [3 * 3600_i64, -3 * 3600, 26 * 3600] {
        let emu = emulator(|c| c.settings.clock_offset_secs = offset);
        let dir = tempfile::tempdir().unwrap();
        let vault = create(dir.path());
        let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
        let account = auth
            .sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("clock {offset:+} s: {e:?}"));
        assert_eq!(account.username, defaults::BOB);
        assert_eq!(whoami(&emu, auth.access_token().await.unwrap().secret()).await, 200);
        // Interactive too, and a refresh (its ID token is checked the same way).
        let req = auth.begin_sign_in(&SignInOptions::default()).await.unwrap();
        let redirect = browser(&emu, &req.url, defaults::BOB, defaults::BOB_PASSWORD).await;
        auth.complete_sign_in(&redirect).await.unwrap_or_else(|e| panic!("clock {offset:+} s: {e:?}"));
        let fresh = auth.after_unauthorized(&[]).await.unwrap();
        assert_eq!(whoami(&emu, fresh.secret()).await, 200);
    }
}

#[tokio::test]
async fn a_device_clock_days_off_learns_the_servers_time_from_its_answers() {
    // The same from the device's side: its own clock (the injected one) is 2 days behind or 5 h
    // ahead of a provider whose clock is right.
    let sys = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    for off in [-2 * 86_400_i64, 5 * 3600] {
        let emu = emulator(|_| {});
        let dir = tempfile::tempdir().unwrap();
        let vault = create(dir.path());
        let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store())
            .unwrap()
            .with_clock(TestClock::at(sys + off));
        auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes())
            .await
            .unwrap_or_else(|e| panic!("device clock {off:+} s: {e:?}"));
        assert_eq!(whoami(&emu, auth.access_token().await.unwrap().secret()).await, 200);
    }
}

/// The requests after `mark`, as "METHOD path".
fn requests_after(emu: &EmulatorHandle, mark: u64) -> Vec<String> {
    emu.requests().iter().filter(|e| e.seq > mark).map(|e| format!("{} {}", e.method, e.path)).collect()
}

#[tokio::test]
async fn a_new_process_refreshes_with_nothing_but_the_token_endpoint() {
    // Issue 15, defect 6: the authority found from the org's challenge, its discovery document
    // and its keys are kept in the vault; a new process's first refresh is one token request (it
    // was an anonymous probe, discovery and the keys first). After a day the document is
    // fetched again.
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let sys = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64;
    let clock = TestClock::at(sys);
    let first = Auth::new(config(&emu, None), vault.shared_store()).unwrap().with_clock(clock.clone());
    first.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    drop(first);

    let mark = last_seq(&emu);
    let second = Auth::new(config(&emu, None), vault.shared_store()).unwrap().with_clock(clock.clone());
    let token = second.access_token().await.unwrap();
    assert_eq!(whoami(&emu, token.secret()).await, 200);
    let seen = requests_after(&emu, mark);
    assert_eq!(seen.iter().filter(|r| !r.contains("WhoAmI")).count(), 1, "{seen:?}");
    assert!(seen[0].starts_with("POST ") && seen[0].ends_with("/oauth2/v2.0/token"), "{seen:?}");

    clock.advance(25 * 3600);
    let mark = last_seq(&emu);
    let third = Auth::new(config(&emu, None), vault.shared_store()).unwrap().with_clock(clock.clone());
    third.access_token().await.unwrap();
    let seen = requests_after(&emu, mark);
    assert!(seen.iter().any(|r| r.contains("/.well-known/openid-configuration")), "a day later: {seen:?}");
}

#[tokio::test]
async fn a_signing_key_rollover_fetches_the_keys_once() {
    // Issue 15, defect 6: the signing keys were fetched once per process, so an ID token signed
    // with a key rolled over since failed with "invalid_id_token: signature". Now a `kid` the
    // known keys lack fetches them again, once.
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    let rolled = reqwest::Client::new()
        .post(format!("{}/keys/rollover", emu.control_url()))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap();
    assert_ne!(rolled["kid"], rolled["previous_kid"]);
    let key_fetches = |mark| requests_after(&emu, mark).iter().filter(|r| r.contains("/discovery/v2.0/keys")).count();
    let mark = last_seq(&emu);
    auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    assert_eq!(key_fetches(mark), 1);
    let mark = last_seq(&emu);
    auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    assert_eq!(key_fetches(mark), 0, "the new keys are known now");
    // A new process has them from the vault.
    let again = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    let mark = last_seq(&emu);
    again.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    assert_eq!(key_fetches(mark), 0);
}

#[tokio::test]
async fn the_smaller_entra_answers_of_issue_15() {
    // Issue 15, defect 7. A login hint with prompt=select_account contradicts itself (MSAL
    // refuses it too): refused before any request.
    let emu = emulator(|c| c.settings.device_code_interval_secs = 1);
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    let mark = last_seq(&emu);
    let opts = SignInOptions {
        login_hint: Some(defaults::BOB.into()),
        prompt: Some("select_account".into()),
        ..SignInOptions::default()
    };
    assert!(matches!(auth.begin_sign_in(&opts).await, Err(Error::InvalidArgument { .. })));
    assert_eq!(requests_after(&emu, mark).len(), 0);

    // A device code the provider does not know (bad_verification_code): the code is dead, start
    // again (it was a generic failure).
    control(
        &emu,
        "/faults",
        serde_json::json!({
            "method": "POST", "path_contains": "/oauth2/v2.0/token", "status": 400,
            "body": {"error": "bad_verification_code", "error_description": "AADSTS70000: The device code was not recognized.", "error_codes": [70000]}
        }),
    )
    .await;
    let r = auth.sign_in_with_device_code(|_| {}).await;
    assert!(matches!(r, Err(Error::DeviceCodeExpired { .. })), "{r:?}");

    // `tenant` with no authority: that tenant, on the login host the org's challenge names (a
    // sovereign cloud's own; here the emulator's).
    let mut by_tenant = config(&emu, None);
    by_tenant.tenant = Some(defaults::TENANT_DOMAIN.into());
    let dir2 = tempfile::tempdir().unwrap();
    let vault2 = create(dir2.path());
    let t = Auth::new(by_tenant, vault2.shared_store()).unwrap();
    let account = t.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    assert_eq!(account.tenant_id, emu.tenant_id());
    assert!(t.issuer().await.unwrap().starts_with(emu.base_url()));

    // The org is not a resource of the tenant (AADSTS500011): the configuration is wrong.
    let mut wrong = config(&emu, tenant_authority(&emu));
    wrong.org = OrgUrl::parse("http://127.0.0.1:9").unwrap();
    let auth = Auth::new(wrong, vault.shared_store()).unwrap();
    match auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await {
        Err(Error::Configuration { code: Some(500011), .. }) => {}
        other => panic!("expected Configuration 500011, got {other:?}"),
    }
}

/// A host app's token provider (MSAL with its broker, in a real app) that gets its tokens from
/// the emulator's password grant, and records what it was asked.
struct HostTokens {
    emu: Arc<EmulatorHandle>,
    asked: std::sync::Mutex<Vec<outpost_core::TokenRequest>>,
    refuse: std::sync::atomic::AtomicBool,
}

impl outpost_core::TokenProvider for HostTokens {
    fn token(&self, request: outpost_core::TokenRequest) -> outpost_core::TokenFuture<'_> {
        Box::pin(async move {
            self.asked.lock().unwrap().push(request);
            if self.refuse.load(std::sync::atomic::Ordering::SeqCst) {
                return Err(Error::InteractionRequired { claims: None, details: Default::default() });
            }
            Ok(password_token(&self.emu, defaults::BOB, defaults::BOB_PASSWORD).await)
        })
    }
}

#[tokio::test]
async fn a_host_token_provider_supplies_every_token_and_no_refresh_token_is_kept() {
    // Issue 15, compliant-device tenants: the app supplies the tokens (MSAL + broker).
    let emu = Arc::new(emulator(|_| {}));
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    let host = Arc::new(HostTokens {
        emu: emu.clone(),
        asked: std::sync::Mutex::new(Vec::new()),
        refuse: std::sync::atomic::AtomicBool::new(false),
    });
    auth.set_token_provider(Some(host.clone()));
    assert!(auth.is_signed_in().await.unwrap());
    for _ in 0..2 {
        let token = auth.access_token().await.unwrap();
        assert_eq!(whoami(&emu, token.secret()).await, 200);
    }
    // Asked every time (MSAL caches, not Outpost), for the org's scope.
    {
        let asked = host.asked.lock().unwrap();
        assert_eq!(asked.len(), 2);
        assert_eq!(asked[0].scopes, vec![format!("{}/user_impersonation", emu.org_url())]);
        assert_eq!(asked[0].claims, None);
    }
    // A 401 with a claims challenge asks again, with the claims.
    let json = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;
    let b64 = base64_standard(json);
    let challenge = format!("Bearer authorization_uri=\"x\", error=\"insufficient_claims\", claims=\"{b64}\"");
    auth.after_unauthorized(&[challenge.as_str()]).await.unwrap();
    assert_eq!(host.asked.lock().unwrap().last().unwrap().claims.as_deref(), Some(json));
    // The provider's errors reach the caller as they are.
    host.refuse.store(true, std::sync::atomic::Ordering::SeqCst);
    assert!(matches!(auth.access_token().await, Err(Error::InteractionRequired { .. })));
    // Outpost's own flows are refused in this mode, and no refresh token was stored.
    assert!(matches!(
        auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await,
        Err(Error::InvalidArgument { .. })
    ));
    assert!(matches!(auth.begin_sign_in(&SignInOptions::default()).await, Err(Error::InvalidArgument { .. })));
    let own = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    assert!(!own.is_signed_in().await.unwrap(), "no refresh token in the vault");
    assert!(!emu
        .requests()
        .iter()
        .any(|e| e.path.contains("/oauth2/v2.0/token") && e.grant_type.as_deref() == Some("refresh_token")));
    // Back to Outpost's own sign-in.
    auth.set_token_provider(None);
    assert!(!auth.is_signed_in().await.unwrap());
}

fn base64_standard(s: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[tokio::test]
async fn another_account_on_the_same_vault_is_refused() {
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    assert_eq!(
        auth.sign_in_with_password(defaults::ADMIN, defaults::ADMIN_PASSWORD.as_bytes()).await.unwrap_err(),
        Error::AccountMismatch { field: "account".into() }
    );
}

#[tokio::test]
async fn device_code_sign_in_with_mfa() {
    let emu = emulator(|c| {
        c.settings.device_code_interval_secs = 1;
        c.settings.device_slow_down_increment_secs = 1;
    });
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let emu = Arc::new(emu);
    let user_side = emu.clone();
    // The user, on another device.
    let user = tokio::spawn(async move {
        let user_code = rx.await.unwrap();
        let c = browser_client();
        let r = c
            .post(format!("{}/devicelogin", user_side.base_url()))
            .form(&[("otc", user_code.as_str())])
            .send()
            .await
            .unwrap();
        assert_eq!(answer_pages(&user_side, &c, r, defaults::ALICE, defaults::ALICE_PASSWORD).await, None);
    });
    let mut shown = None;
    let account = auth
        .sign_in_with_device_code(|info| {
            shown = Some(info.clone());
            tx.send(info.user_code.clone()).unwrap();
        })
        .await
        .unwrap();
    user.await.unwrap();
    let shown = shown.unwrap();
    assert!(shown.message.contains(&shown.user_code));
    assert_eq!(account.username, defaults::ALICE);
}

#[tokio::test]
async fn sign_out_refuses_with_pending_changes_unless_forced() {
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    vault.store().register_table(&accounts_spec()).unwrap();
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    let mut v = outpost_core::Values::new();
    v.insert("name".into(), outpost_core::Value::text("offline"));
    vault.store().create("accounts", v).unwrap();
    assert_eq!(auth.sign_out(false).await.unwrap_err(), Error::PendingChanges { count: 1 });
    assert!(auth.is_signed_in().await.unwrap());
    auth.sign_out(true).await.unwrap();
    assert!(!auth.is_signed_in().await.unwrap());
    assert_eq!(vault.store().pending_count().unwrap(), 1, "offline data is the caller's choice");
}

fn count_path(emu: &EmulatorHandle, after_seq: u64, needle: &str) -> usize {
    emu.requests().iter().filter(|e| e.seq > after_seq && e.path.contains(needle)).count()
}

async fn signed_in_bob(emu: &EmulatorHandle, vault: &Vault) -> Auth {
    let auth = Auth::new(config(emu, tenant_authority(emu)), vault.shared_store()).unwrap();
    auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap();
    auth
}

#[tokio::test]
async fn unauthorized_refreshes_once_and_retries_once_never_loops() {
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = signed_in_bob(&emu, &vault).await;
    let url = format!("{}WhoAmI", emu.web_api_url());

    // One 401: refresh, retry, success.
    emu.inject_fault(outpost_emulator::Fault {
        path_contains: Some("WhoAmI".into()),
        status: Some(401),
        count: 1,
        ..Default::default()
    });
    let mark = last_seq(&emu);
    let r = auth.send_authorized(|c| c.get(&url)).await.unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(token_requests(&emu, mark), 1);
    assert_eq!(count_path(&emu, mark, "WhoAmI"), 2);

    // The server keeps answering 401: one refresh, one retry, then an error — no loop.
    emu.inject_fault(outpost_emulator::Fault {
        path_contains: Some("WhoAmI".into()),
        status: Some(401),
        count: 10,
        ..Default::default()
    });
    let mark = last_seq(&emu);
    assert!(matches!(auth.send_authorized(|c| c.get(&url)).await, Err(Error::InteractionRequired { .. })));
    assert_eq!(token_requests(&emu, mark), 1);
    assert_eq!(count_path(&emu, mark, "WhoAmI"), 2);
}

#[tokio::test]
async fn claims_challenge_refresh_carries_exactly_the_decoded_claims() {
    use base64::Engine;
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = signed_in_bob(&emu, &vault).await;
    let url = format!("{}WhoAmI", emu.web_api_url());
    let claims = r#"{"access_token":{"acrs":{"essential":true,"value":"cp1"}}}"#;
    let b64 = base64::engine::general_purpose::STANDARD.encode(claims);
    emu.inject_fault(outpost_emulator::Fault {
        path_contains: Some("WhoAmI".into()),
        status: Some(401),
        count: 2,
        www_authenticate: Some(format!(
            "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", error=\"insufficient_claims\", claims=\"{b64}\""
        )),
        ..Default::default()
    });
    let mark = last_seq(&emu);
    match auth.send_authorized(|c| c.get(&url)).await {
        Err(Error::InteractionRequired { claims: Some(c), .. }) => assert_eq!(c, claims),
        other => panic!("expected InteractionRequired with claims, got {other:?}"),
    }
    let refreshes: Vec<_> = emu
        .requests()
        .into_iter()
        .filter(|e| e.seq > mark && e.grant_type.as_deref() == Some("refresh_token"))
        .collect();
    assert_eq!(refreshes.len(), 1, "one silent refresh");
    assert_eq!(refreshes[0].claims.as_deref(), Some(claims), "carrying exactly the decoded claims");
    assert_eq!(count_path(&emu, mark, "WhoAmI"), 2, "one retry");
    // The next interactive sign-in carries the claims.
    let req =
        auth.begin_sign_in(&SignInOptions { claims: Some(claims.into()), ..SignInOptions::default() }).await.unwrap();
    let carried =
        url::Url::parse(&req.url).unwrap().query_pairs().find(|(k, _)| k == "claims").map(|(_, v)| v.into_owned());
    assert_eq!(carried.as_deref(), Some(claims));
}

#[tokio::test]
async fn requests_spanning_several_token_expiries_succeed() {
    let emu = emulator(|c| c.settings.access_token_lifetime_secs = 3);
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = signed_in_bob(&emu, &vault).await;
    let url = format!("{}WhoAmI", emu.web_api_url());
    let mark = last_seq(&emu);
    let start = std::time::Instant::now();
    while start.elapsed() < std::time::Duration::from_secs(7) {
        assert_eq!(auth.send_authorized(|c| c.get(&url)).await.unwrap().status(), 200);
        tokio::time::sleep(std::time::Duration::from_millis(250)).await;
    }
    let refreshes = token_requests(&emu, mark);
    assert!((2..=7).contains(&refreshes), "silent refreshes across expiries: {refreshes}");
    assert!(emu.requests().iter().filter(|e| e.seq > mark && e.path.contains("WhoAmI")).all(|e| e.status == 200));
}

#[tokio::test]
async fn loopback_redirect_for_cli_and_desktop() {
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    let loopback = outpost_core::LoopbackRedirect::bind().await.unwrap();
    let redirect_uri = loopback.redirect_uri();
    let req = auth
        .begin_sign_in(&SignInOptions { redirect_uri: Some(redirect_uri.clone()), ..SignInOptions::default() })
        .await
        .unwrap();
    let waiting = tokio::spawn(loopback.receive(std::time::Duration::from_secs(30)));
    // The browser signs in and follows the redirect to the loopback listener.
    let location = browser(&emu, &req.url, defaults::BOB, defaults::BOB_PASSWORD).await;
    assert!(location.starts_with(&redirect_uri), "{location}");
    let c = reqwest::Client::new();
    assert_eq!(c.get(format!("{redirect_uri}/favicon.ico")).send().await.unwrap().status(), 404);
    let page = c.get(&location).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("close this tab"));
    let received = waiting.await.unwrap().unwrap();
    let account = auth.complete_sign_in(&received).await.unwrap();
    assert_eq!(account.username, defaults::BOB);

    // Nobody comes: a clean timeout.
    let idle = outpost_core::LoopbackRedirect::bind().await.unwrap();
    assert_eq!(idle.receive(std::time::Duration::from_millis(200)).await.unwrap_err(), Error::UserCancelled);
}

#[tokio::test]
async fn password_grant_is_opt_in_and_throttling_is_typed() {
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let mut cfg = config(&emu, tenant_authority(&emu));
    cfg.allow_password_grant = false;
    let auth = Auth::new(cfg, vault.shared_store()).unwrap();
    assert!(matches!(
        auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await,
        Err(Error::InvalidArgument { .. })
    ));
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    emu.inject_fault(outpost_emulator::Fault {
        path_contains: Some("/token".into()),
        status: Some(429),
        retry_after: Some(7),
        ..Default::default()
    });
    assert_eq!(
        auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await.unwrap_err(),
        Error::Throttled { retry_after_s: 7 }
    );
}

/// Runs in a child process (see below): begins an interactive sign-in, writes the URL, exits.
#[tokio::test]
async fn child_begins_sign_in() {
    let (Ok(dir), Ok(authority), Ok(org), Ok(out)) = (
        std::env::var("OUTPOST_CHILD_VAULT"),
        std::env::var("OUTPOST_CHILD_AUTHORITY"),
        std::env::var("OUTPOST_CHILD_ORG"),
        std::env::var("OUTPOST_CHILD_OUT"),
    ) else {
        return;
    };
    let vault = Vault::unlock(std::path::Path::new(&dir), PASSWORD, &OpenOptions::default()).unwrap();
    let cfg = AuthConfig {
        org: OrgUrl::parse(&org).unwrap(),
        client_id: defaults::CLIENT_ID.into(),
        redirect_uri: "http://127.0.0.1:53682".into(),
        authority: Some(authority),
        tenant: None,
        allow_password_grant: false,
    };
    let auth = Auth::new(cfg, vault.shared_store()).unwrap();
    let req = auth.begin_sign_in(&SignInOptions::default()).await.unwrap();
    std::fs::write(out, req.url).unwrap();
    std::process::exit(0); // killed before completing, as Android does
}

#[tokio::test]
async fn interactive_sign_in_completes_in_another_process() {
    let emu = emulator(|_| {});
    let dir = tempfile::tempdir().unwrap();
    create(dir.path()).lock().unwrap();
    let out = dir.path().join("authorize-url.txt");
    let status = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "child_begins_sign_in", "--nocapture", "--test-threads=1"])
        .env("OUTPOST_CHILD_VAULT", dir.path())
        .env("OUTPOST_CHILD_AUTHORITY", tenant_authority(&emu).unwrap())
        .env("OUTPOST_CHILD_ORG", emu.org_url())
        .env("OUTPOST_CHILD_OUT", &out)
        .status()
        .unwrap();
    assert!(status.success());
    let url = std::fs::read_to_string(&out).unwrap();
    let redirect = browser(&emu, &url, defaults::ALICE, defaults::ALICE_PASSWORD).await;
    let vault = Vault::unlock(dir.path(), PASSWORD, &OpenOptions::default()).unwrap();
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();
    let account = auth.complete_sign_in(&redirect).await.unwrap();
    assert_eq!(account.username, defaults::ALICE);
}

#[tokio::test]
async fn declined_blocked_unknown_tenant_and_unreachable_are_typed() {
    let emu = emulator(|c| c.settings.device_code_interval_secs = 1);
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let auth = Auth::new(config(&emu, tenant_authority(&emu)), vault.shared_store()).unwrap();

    // The user declines the device-code request on the confirmation page.
    let emu = Arc::new(emu);
    let user_side = emu.clone();
    let (tx, rx) = tokio::sync::oneshot::channel::<String>();
    let user = tokio::spawn(async move {
        let user_code = rx.await.unwrap();
        let c = browser_client();
        let mut r = c
            .post(format!("{}/devicelogin", user_side.base_url()))
            .form(&[("otc", user_code.as_str())])
            .send()
            .await
            .unwrap();
        loop {
            let page = r.text().await.unwrap();
            let url = format!("{}{}", user_side.base_url(), form_action(&page));
            let txn = hidden(&page, "txn");
            if page.contains("deviceconfirm") {
                c.post(url).form(&[("txn", txn.as_str()), ("decision", "decline")]).send().await.unwrap();
                return;
            }
            r = c
                .post(url)
                .form(&[("txn", txn.as_str()), ("loginfmt", defaults::BOB), ("passwd", defaults::BOB_PASSWORD)])
                .send()
                .await
                .unwrap();
        }
    });
    let result = auth.sign_in_with_device_code(|info| tx.send(info.user_code.clone()).unwrap()).await;
    user.await.unwrap();
    assert!(matches!(result, Err(Error::DeviceCodeDeclined { .. })), "{result:?}");

    // Conditional access blocks the sign-in (Entra's body, injected as-is).
    emu.inject_fault(outpost_emulator::Fault {
        path_contains: Some("/token".into()),
        status: Some(400),
        body: Some(serde_json::json!({
            "error": "invalid_grant",
            "error_description": "AADSTS53003: Access has been blocked by Conditional Access policies.",
            "error_codes": [53003],
            "timestamp": "2026-11-23 10:00:00Z",
            "trace_id": "t-1",
            "correlation_id": "c-1"
        })),
        ..Default::default()
    });
    match auth.sign_in_with_password(defaults::BOB, defaults::BOB_PASSWORD.as_bytes()).await {
        Err(Error::Blocked { code: 53003, details }) => assert_eq!(details.correlation_id.as_deref(), Some("c-1")),
        other => panic!("expected Blocked, got {other:?}"),
    }

    // A tenant that does not exist: discovery fails with AADSTS90002.
    let mut cfg = config(&emu, Some(format!("{}/no-such-tenant.example/v2.0", emu.base_url())));
    cfg.client_id = defaults::CLIENT_ID.into();
    let auth = Auth::new(cfg, vault.shared_store()).unwrap();
    assert!(matches!(
        auth.begin_sign_in(&SignInOptions::default()).await,
        Err(Error::Configuration { code: Some(90002), .. })
    ));

    // Nothing listens there: a network error, not a panic or a hang.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut cfg = config(&emu, Some(format!("http://127.0.0.1:{port}/tenant/v2.0")));
    cfg.client_id = defaults::CLIENT_ID.into();
    let auth = Auth::new(cfg, vault.shared_store()).unwrap();
    assert!(matches!(auth.begin_sign_in(&SignInOptions::default()).await, Err(Error::Network { .. })));
}
