//! Identity provider over real HTTP: discovery, JWKS, auth code + PKCE + MFA through the HTML forms,
//! device code, ROPC errors, refresh rotation in both reuse modes, consent.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] fns

mod common;

use common::*;
use outpost_emulator::{defaults, EmulatorConfig, RefreshReuse};
use serde_json::Value;

fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&outpost_emulator::codec::b64url_decode(payload).unwrap()).unwrap()
}

fn scope_full(h: &outpost_emulator::EmulatorHandle) -> String {
    format!("{} offline_access openid profile", h.scope())
}

#[tokio::test]
async fn discovery_and_jwks() {
    let h = small();
    let c = client();
    let tid = h.tenant_id();
    let d: Value = c
        .get(format!("{}/{tid}/v2.0/.well-known/openid-configuration", h.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], format!("{}/{tid}/v2.0", h.base_url()));
    assert_eq!(d["token_endpoint"], format!("{}/{tid}/oauth2/v2.0/token", h.base_url()));
    assert!(d["device_authorization_endpoint"].as_str().unwrap().ends_with("/oauth2/v2.0/devicecode"));
    for t in ["organizations", "common"] {
        let d: Value = c
            .get(format!("{}/{t}/v2.0/.well-known/openid-configuration", h.base_url()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(d["issuer"], format!("{}/{{tenantid}}/v2.0", h.base_url()), "literal template for {t}");
    }
    let d: Value = c
        .get(format!("{}/contoso.test/v2.0/.well-known/openid-configuration", h.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(d["issuer"], format!("{}/{tid}/v2.0", h.base_url()));
    let r = c
        .get(format!("{}/nosuchtenant.test/v2.0/.well-known/openid-configuration", h.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error_codes"][0], 90002);
    let jwks: Value = c.get(d["jwks_uri"].as_str().unwrap()).send().await.unwrap().json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");
    assert_eq!(jwks["keys"][0]["e"], "AQAB");
}

#[tokio::test]
async fn auth_code_pkce_mfa_through_html_forms() {
    let h = small();
    let a = authorize(&h, defaults::ALICE, &scope_full(&h), &[("nonce", "n-123")]).await;
    assert!(a.location.starts_with("http://127.0.0.1:53682"), "{}", a.location);
    assert_eq!(query_param(&a.location, "state").as_deref(), Some("st+/=ate"));
    let code = query_param(&a.location, "code").unwrap();
    assert!(code.contains('+') && code.contains('/') && code.contains('='));
    assert!(a.location.contains("%2B") && a.location.contains("%2F"), "encoded code differs from raw: {}", a.location);
    let r = redeem(&h, &a).await;
    assert_eq!(r.status(), 200);
    let t: Value = r.json().await.unwrap();
    assert_eq!(t["token_type"], "Bearer");
    assert!(t["refresh_token"].as_str().unwrap().contains('+'));
    let at = claims(t["access_token"].as_str().unwrap());
    assert_eq!(at["aud"], h.org_url());
    assert_eq!(at["scp"], "user_impersonation");
    assert_eq!(at["tid"], h.tenant_id());
    assert_eq!(at["amr"], serde_json::json!(["pwd", "mfa"]));
    let id = claims(t["id_token"].as_str().unwrap());
    assert_eq!(id["nonce"], "n-123");
    assert_eq!(id["preferred_username"], defaults::ALICE);
    assert_eq!(id["tid"], h.tenant_id());
    assert_eq!(id["aud"], defaults::CLIENT_ID);
    assert!(id["oid"].is_string());
    // the token works against Dataverse
    let (status, _, who) = get_json(t["access_token"].as_str().unwrap(), &api(&h, "WhoAmI"), None).await;
    assert_eq!(status, 200);
    assert_eq!(who["UserId"], h.users()[0].systemuser_id);
    // codes are one-time
    let again = redeem(&h, &a).await;
    assert_eq!(again.status(), 400);
    let e: Value = again.json().await.unwrap();
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(e["error_codes"][0], 54005);
    assert!(e["error_description"].as_str().unwrap().starts_with("AADSTS54005:"));
    for f in ["timestamp", "trace_id", "correlation_id"] {
        assert!(e[f].is_string(), "{f}");
    }
}

#[tokio::test]
async fn wrong_totp_and_wrong_password_rerender() {
    let h = small();
    let c = client();
    let (_, challenge) = pkce();
    let page = c
        .get(format!("{}/{}/oauth2/v2.0/authorize", h.base_url(), h.tenant_id()))
        .query(&[
            ("client_id", defaults::CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost:4000"),
            ("scope", h.scope().as_str()),
            ("code_challenge", challenge.as_str()),
            ("code_challenge_method", "S256"),
            ("login_hint", defaults::ALICE),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(defaults::ALICE), "login_hint prefilled");
    let txn = hidden(&page, "txn");
    let tenant = h.tenant_id();
    let p = c
        .post(format!("{}/{tenant}/login", h.base_url()))
        .form(&[("txn", txn.as_str()), ("loginfmt", defaults::ALICE), ("passwd", "nope")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(p.contains("Your account or password is incorrect"));
    let p = c
        .post(format!("{}/{tenant}/login", h.base_url()))
        .form(&[("txn", txn.as_str()), ("loginfmt", defaults::ALICE), ("passwd", defaults::ALICE_PASSWORD)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(p.contains("idTxtBx_SAOTCC_OTC"));
    let good = h.totp_code(defaults::ALICE).unwrap();
    let bad = if good == "000000" { "111111" } else { "000000" };
    let p = c
        .post(format!("{}/{tenant}/login/mfa", h.base_url()))
        .form(&[("txn", txn.as_str()), ("otc", bad)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(p.contains("enter the expected verification code"));
    let r = c
        .post(format!("{}/{tenant}/login/mfa", h.base_url()))
        .form(&[("txn", txn.as_str()), ("otc", good.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(r.headers()["location"].to_str().unwrap().starts_with("http://localhost:4000?code="));
}

#[tokio::test]
async fn authorize_rejects_plain_pkce_bad_redirect_and_unknown_app() {
    let h = small();
    let c = client();
    let url = format!("{}/organizations/oauth2/v2.0/authorize", h.base_url());
    let r = c
        .get(&url)
        .query(&[
            ("client_id", defaults::CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost"),
            ("scope", "openid"),
            ("state", "s1"),
            ("code_challenge", "abc"),
            ("code_challenge_method", "plain"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    let loc = r.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(query_param(&loc, "error").as_deref(), Some("invalid_request"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s1"));
    assert!(query_param(&loc, "error_description").unwrap().starts_with("AADSTS"));
    let r = c
        .get(&url)
        .query(&[
            ("client_id", defaults::CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", "http://evil.example/cb"),
            ("scope", "openid"),
            ("code_challenge", "abc"),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("AADSTS50011"));
    let r = c
        .get(&url)
        .query(&[
            ("client_id", "11111111-2222-3333-4444-555555555555"),
            ("response_type", "code"),
            ("redirect_uri", "http://localhost"),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert!(r.text().await.unwrap().contains("AADSTS700016"));
    // outpost://auth is registered and matched exactly
    let (_, ch) = pkce();
    let r = c
        .get(&url)
        .query(&[
            ("client_id", defaults::CLIENT_ID),
            ("response_type", "code"),
            ("redirect_uri", "outpost://auth"),
            ("scope", "openid"),
            ("code_challenge", ch.as_str()),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn pkce_verifier_mismatch_is_refused() {
    let h = small();
    let mut a = authorize(&h, defaults::BOB, &h.scope(), &[]).await;
    a.verifier = "wrong-verifier-wrong-verifier-wrong-verifier".into();
    let r = redeem(&h, &a).await;
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error_codes"][0], 501481);
}

#[tokio::test]
async fn ropc_errors_are_entra_shaped() {
    let h = small();
    let r = ropc(&h, defaults::ALICE, defaults::ALICE_PASSWORD, &h.scope()).await;
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "invalid_grant");
    assert_eq!(e["error_codes"], serde_json::json!([50076]));
    assert!(e["error_description"].as_str().unwrap().starts_with(
        "AADSTS50076: Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access"
    ));
    assert_eq!(e["suberror"], "basic_action");
    assert!(e["claims"].is_string());
    let e: Value = ropc(&h, defaults::BOB, "wrong", &h.scope()).await.json().await.unwrap();
    assert_eq!(e["error_codes"][0], 50126);
    assert!(e["error_description"].as_str().unwrap().starts_with("AADSTS50126:"));
    // no consent → 65001
    control(
        &h,
        reqwest::Method::POST,
        "/consent",
        serde_json::json!({"client_id": defaults::CLIENT_ID, "granted": false}),
    )
    .await;
    let e: Value = ropc(&h, defaults::BOB, defaults::BOB_PASSWORD, &h.scope()).await.json().await.unwrap();
    assert_eq!(e["error_codes"][0], 65001);
    assert_eq!(e["suberror"], "consent_required");
    // unknown app → 700016
    let r = client()
        .post(format!("{}/organizations/oauth2/v2.0/token", h.base_url()))
        .form(&[
            ("client_id", "99999999-0000-0000-0000-000000000000"),
            ("grant_type", "password"),
            ("username", defaults::BOB),
            ("password", defaults::BOB_PASSWORD),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "unauthorized_client");
    assert_eq!(e["error_codes"][0], 700016);
    // a public client must not send a secret → 401 invalid_client 700025
    let r = client()
        .post(format!("{}/organizations/oauth2/v2.0/token", h.base_url()))
        .form(&[
            ("client_id", defaults::CLIENT_ID),
            ("client_secret", "s3cr+t/="),
            ("grant_type", "password"),
            ("username", defaults::BOB),
            ("password", defaults::BOB_PASSWORD),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let e: Value = r.json().await.unwrap();
    assert_eq!((e["error"].as_str(), e["error_codes"][0].as_u64()), (Some("invalid_client"), Some(700025)));
    // ROPC is refused on /common
    let r = client()
        .post(format!("{}/common/oauth2/v2.0/token", h.base_url()))
        .form(&[
            ("client_id", defaults::CLIENT_ID),
            ("grant_type", "password"),
            ("username", defaults::BOB),
            ("password", defaults::BOB_PASSWORD),
            ("scope", "openid"),
        ])
        .send()
        .await
        .unwrap();
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error_codes"][0], 9001023);
    // MFA toggled off through the control API: alice can use ROPC
    control(
        &h,
        reqwest::Method::POST,
        "/consent",
        serde_json::json!({"client_id": defaults::CLIENT_ID, "granted": true}),
    )
    .await;
    control(
        &h,
        reqwest::Method::POST,
        &format!("/users/{}/mfa", defaults::ALICE),
        serde_json::json!({"enabled": false}),
    )
    .await;
    assert_eq!(ropc(&h, defaults::ALICE, defaults::ALICE_PASSWORD, &h.scope()).await.status(), 200);
}

async fn refresh(h: &outpost_emulator::EmulatorHandle, rt: &str) -> (u16, Value) {
    let r = client()
        .post(format!("{}/organizations/oauth2/v2.0/token", h.base_url()))
        .form(&[
            ("client_id", defaults::CLIENT_ID),
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("scope", h.scope().as_str()),
        ])
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn refresh_rotation_lax_mode_like_entra() {
    let h = small();
    let t: Value = ropc(&h, defaults::BOB, defaults::BOB_PASSWORD, &h.scope()).await.json().await.unwrap();
    assert!(t.get("refresh_token").is_none(), "no refresh token without offline_access");
    let t: Value = ropc(&h, defaults::BOB, defaults::BOB_PASSWORD, &scope_full(&h)).await.json().await.unwrap();
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let (s, t2) = refresh(&h, &rt1).await;
    assert_eq!(s, 200);
    let rt2 = t2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(rt1, rt2, "rotated on every use");
    // Entra does not revoke the rotated token: reuse still works
    let (s, _) = refresh(&h, &rt1).await;
    assert_eq!(s, 200);
    let (s, _) = refresh(&h, &rt2).await;
    assert_eq!(s, 200);
    // forced expiry → 700082
    control(&h, reqwest::Method::POST, "/tokens/expire", serde_json::json!({"kind": "refresh"})).await;
    let (s, e) = refresh(&h, &rt2).await;
    assert_eq!(s, 400);
    assert_eq!(e["error_codes"][0], 700082);
    assert!(e["error_description"].as_str().unwrap().starts_with("AADSTS700082:"));
}

#[tokio::test]
async fn refresh_rotation_strict_mode_revokes_family() {
    let mut cfg = EmulatorConfig::default().with_rows(5, 5, 5);
    cfg.settings.refresh_token_reuse = RefreshReuse::Strict;
    let h = start(cfg);
    let t: Value = ropc(&h, defaults::BOB, defaults::BOB_PASSWORD, &scope_full(&h)).await.json().await.unwrap();
    let rt1 = t["refresh_token"].as_str().unwrap().to_owned();
    let (_, t2) = refresh(&h, &rt1).await;
    let rt2 = t2["refresh_token"].as_str().unwrap().to_owned();
    let (s, e) = refresh(&h, &rt1).await;
    assert_eq!(s, 400);
    assert_eq!(e["error_codes"][0], 50173);
    // the whole family is gone, including the newest token
    let (s, e) = refresh(&h, &rt2).await;
    assert_eq!(s, 400);
    assert_eq!(e["error_codes"][0], 50173);
}

#[tokio::test]
async fn device_code_flow_with_polling_answers() {
    let mut cfg = EmulatorConfig::default().with_rows(5, 5, 5);
    cfg.settings.device_code_interval_secs = 1;
    cfg.settings.device_slow_down_increment_secs = 1;
    let h = start(cfg);
    let c = client();
    let d: Value = c
        .post(format!("{}/organizations/oauth2/v2.0/devicecode", h.base_url()))
        .form(&[("client_id", defaults::CLIENT_ID), ("scope", scope_full(&h).as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(d["message"].as_str().unwrap().contains(d["user_code"].as_str().unwrap()));
    assert_eq!(d["verification_uri"], format!("{}/devicelogin", h.base_url()));
    assert!(d.get("verification_uri_complete").is_none());
    let dc = d["device_code"].as_str().unwrap().to_owned();
    let poll = || async {
        let r = client()
            .post(format!("{}/organizations/oauth2/v2.0/token", h.base_url()))
            .form(&[
                ("client_id", defaults::CLIENT_ID),
                ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
                ("device_code", dc.as_str()),
            ])
            .send()
            .await
            .unwrap();
        let s = r.status().as_u16();
        let v: Value = r.json().await.unwrap();
        (s, v)
    };
    let (s, e) = poll().await;
    assert_eq!((s, e["error"].as_str()), (400, Some("authorization_pending")));
    let (_, e) = poll().await;
    assert_eq!(e["error"], "slow_down");
    // the user completes sign-in in the same pages (MFA user)
    let page = c
        .post(format!("{}/devicelogin", h.base_url()))
        .form(&[("otc", d["user_code"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let txn = hidden(&page, "txn");
    let p = c
        .post(format!("{}/organizations/login", h.base_url()))
        .form(&[("txn", txn.as_str()), ("loginfmt", defaults::ALICE), ("passwd", defaults::ALICE_PASSWORD)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(p.contains("idTxtBx_SAOTCC_OTC"));
    let code = h.totp_code(defaults::ALICE).unwrap();
    let p = c
        .post(format!("{}/organizations/login/mfa", h.base_url()))
        .form(&[("txn", txn.as_str()), ("otc", code.as_str())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(p.contains("Are you trying to sign in"));
    let p = c
        .post(format!("{}/organizations/login/device", h.base_url()))
        .form(&[("txn", txn.as_str()), ("decision", "continue")])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(p.contains("You have signed in"));
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (s, t) = poll().await;
    assert_eq!(s, 200, "{t}");
    assert!(t["access_token"].is_string() && t["refresh_token"].is_string());
    let (_, e) = poll().await;
    assert_eq!(e["error"], "expired_token");

    // declined
    let d: Value = c
        .post(format!("{}/organizations/oauth2/v2.0/devicecode", h.base_url()))
        .form(&[("client_id", defaults::CLIENT_ID), ("scope", h.scope().as_str())])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = c
        .post(format!("{}/devicelogin", h.base_url()))
        .form(&[("otc", d["user_code"].as_str().unwrap())])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let txn = hidden(&page, "txn");
    c.post(format!("{}/organizations/login", h.base_url()))
        .form(&[("txn", txn.as_str()), ("loginfmt", defaults::BOB), ("passwd", defaults::BOB_PASSWORD)])
        .send()
        .await
        .unwrap();
    c.post(format!("{}/organizations/login/device", h.base_url()))
        .form(&[("txn", txn.as_str()), ("decision", "cancel")])
        .send()
        .await
        .unwrap();
    let r = c
        .post(format!("{}/organizations/oauth2/v2.0/token", h.base_url()))
        .form(&[
            ("client_id", defaults::CLIENT_ID),
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", d["device_code"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    let e: Value = r.json().await.unwrap();
    assert_eq!(e["error"], "authorization_declined");
}

#[tokio::test]
async fn consent_page_and_blocked_user_consent() {
    let h = small();
    control(
        &h,
        reqwest::Method::POST,
        "/consent",
        serde_json::json!({"client_id": defaults::CLIENT_ID, "granted": false}),
    )
    .await;
    // user consent allowed: the consent page appears, accepting leads to the code
    let a = authorize(&h, defaults::BOB, &h.scope(), &[]).await;
    assert!(query_param(&a.location, "code").is_some(), "{}", a.location);
    assert_eq!(redeem(&h, &a).await.status(), 200);
    // blocked user consent: error redirect for a user who has not consented
    control(
        &h,
        reqwest::Method::POST,
        &format!("/tenants/{}/user-consent", h.tenant_id()),
        serde_json::json!({"allowed": false}),
    )
    .await;
    let a = authorize(&h, defaults::ADMIN, &h.scope(), &[]).await;
    assert_eq!(query_param(&a.location, "error").as_deref(), Some("consent_required"), "{}", a.location);
    assert!(query_param(&a.location, "error_description").unwrap().starts_with("AADSTS90093:"));
    assert_eq!(query_param(&a.location, "state").as_deref(), Some("st+/=ate"));
}

#[tokio::test]
async fn admin_consent_endpoint() {
    let h = small();
    control(
        &h,
        reqwest::Method::POST,
        "/consent",
        serde_json::json!({"client_id": defaults::CLIENT_ID, "granted": false}),
    )
    .await;
    let loc = admin_consents(&h, &h.scope()).await;
    let t = h.tenant_id();
    assert_eq!(query_param(&loc, "admin_consent").as_deref(), Some("True"));
    assert_eq!(query_param(&loc, "tenant").as_deref(), Some(t.as_str()));
    assert_eq!(ropc(&h, defaults::BOB, defaults::BOB_PASSWORD, &h.scope()).await.status(), 200);
}

/// The admin consents through the v2 admin-consent endpoint with `scope`; returns the redirect.
async fn admin_consents(h: &outpost_emulator::EmulatorHandle, scope: &str) -> String {
    let c = client();
    let page = c
        .get(format!("{}/{}/v2.0/adminconsent", h.base_url(), h.tenant_id()))
        .query(&[
            ("client_id", defaults::CLIENT_ID),
            ("scope", scope),
            ("redirect_uri", "http://localhost"),
            ("state", "s1"),
        ])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let txn = hidden(&page, "txn");
    let t = h.tenant_id();
    let consent_page = c
        .post(format!("{}/{t}/login", h.base_url()))
        .form(&[("txn", txn.as_str()), ("loginfmt", defaults::ADMIN), ("passwd", defaults::ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(consent_page.contains("idBtn_Accept"), "the admin is shown the consent page");
    let r = c
        .post(format!("{}/{t}/login/consent", h.base_url()))
        .form(&[("txn", txn.as_str()), ("decision", "accept")])
        .send()
        .await
        .unwrap();
    r.headers()["location"].to_str().unwrap().to_owned()
}

#[tokio::test]
async fn admin_consent_is_recorded_and_enforced_per_permission() {
    // Issue 15, defect 2: an admin consent naming only Dataverse's user_impersonation leaves the
    // Graph permissions of an OpenID sign-in unconsented; `.default` consents to everything the
    // app registration lists.
    let h = small();
    control(
        &h,
        reqwest::Method::POST,
        "/consent",
        serde_json::json!({"client_id": defaults::CLIENT_ID, "granted": false}),
    )
    .await;
    control(
        &h,
        reqwest::Method::POST,
        &format!("/tenants/{}/user-consent", h.tenant_id()),
        serde_json::json!({"allowed": false}),
    )
    .await;
    let oidc = format!("openid profile offline_access {}", h.scope());
    let loc = admin_consents(&h, &h.scope()).await;
    assert_eq!(query_param(&loc, "admin_consent").as_deref(), Some("True"));
    assert_eq!(query_param(&loc, "state").as_deref(), Some("s1"));
    // Dataverse alone is consented, the OpenID scopes are not.
    assert_eq!(ropc(&h, defaults::BOB, defaults::BOB_PASSWORD, &h.scope()).await.status(), 200);
    let r = ropc(&h, defaults::BOB, defaults::BOB_PASSWORD, &oidc).await;
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error_codes"][0], 65001, "{body}");
    let a = authorize(&h, defaults::BOB, &oidc, &[]).await;
    assert!(query_param(&a.location, "error_description").unwrap().starts_with("AADSTS90093:"), "{}", a.location);

    let default = h.scope().replace("user_impersonation", ".default");
    let loc = admin_consents(&h, &default).await;
    assert_eq!(query_param(&loc, "scope").as_deref(), Some(default.as_str()));
    assert_eq!(ropc(&h, defaults::BOB, defaults::BOB_PASSWORD, &oidc).await.status(), 200);
    let a = authorize(&h, defaults::BOB, &oidc, &[]).await;
    assert!(query_param(&a.location, "code").is_some(), "{}", a.location);
    let info = control(&h, reqwest::Method::GET, "/", serde_json::Value::Null).await;
    let perms = &info["tenants"][0]["consented_permissions"][defaults::CLIENT_ID.to_ascii_lowercase()];
    assert!(perms.as_array().unwrap().iter().any(|p| p == "offline_access"), "{perms}");

    // Revoking one permission takes it away again.
    control(
        &h,
        reqwest::Method::POST,
        "/consent",
        serde_json::json!({"client_id": defaults::CLIENT_ID, "granted": false, "scopes": ["offline_access"]}),
    )
    .await;
    assert_eq!(ropc(&h, defaults::BOB, defaults::BOB_PASSWORD, &oidc).await.status(), 400);
    assert_eq!(
        ropc(&h, defaults::BOB, defaults::BOB_PASSWORD, &format!("openid profile {}", h.scope())).await.status(),
        200
    );
}

#[tokio::test]
async fn form_post_client_info_userinfo_and_logout() {
    let h = small();
    let a = authorize(&h, defaults::BOB, "openid profile", &[("response_mode", "form_post")]).await;
    // form_post answers 200 with an auto-submitting form to the redirect URI
    assert!(a.location.contains("action=\"http://127.0.0.1:53682\""), "{}", a.location);
    assert!(a.location.contains("name=\"code\"") && a.location.contains("value=\"st+/=ate\""));
    let t: Value = ropc(&h, defaults::BOB, defaults::BOB_PASSWORD, "openid profile").await.json().await.unwrap();
    let at = t["access_token"].as_str().unwrap();
    assert_eq!(claims(at)["aud"], "00000003-0000-0000-c000-000000000000", "OIDC-only scopes give a Graph token");
    let info: Value = client()
        .get(format!("{}/oidc/userinfo", h.base_url()))
        .bearer_auth(at)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(info["preferred_username"], defaults::BOB);
    let r = client()
        .post(format!("{}/organizations/oauth2/v2.0/token", h.base_url()))
        .form(&[
            ("client_id", defaults::CLIENT_ID),
            ("grant_type", "password"),
            ("username", defaults::BOB),
            ("password", defaults::BOB_PASSWORD),
            ("scope", h.scope().as_str()),
            ("client_info", "1"),
        ])
        .send()
        .await
        .unwrap();
    let t: Value = r.json().await.unwrap();
    let ci: Value =
        serde_json::from_slice(&outpost_emulator::codec::b64url_decode(t["client_info"].as_str().unwrap()).unwrap())
            .unwrap();
    assert_eq!(ci["utid"], h.tenant_id());
    let r = client()
        .get(format!(
            "{}/organizations/oauth2/v2.0/logout?post_logout_redirect_uri=http%3A%2F%2Flocalhost%2Fbye",
            h.base_url()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert_eq!(r.headers()["location"], "http://localhost/bye");
}
