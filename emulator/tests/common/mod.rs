//! Helpers shared by the integration tests: start an emulator, drive the sign-in pages, get tokens.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // test support code

use outpost_emulator::{defaults, Emulator, EmulatorConfig, EmulatorHandle};
use sha2::Digest as _;

pub fn start(config: EmulatorConfig) -> EmulatorHandle {
    Emulator::start(config).expect("emulator starts")
}

pub fn small() -> EmulatorHandle {
    start(EmulatorConfig::default().with_rows(40, 30, 20))
}

pub fn client() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

pub fn pkce() -> (String, String) {
    let verifier = outpost_emulator::codec::b64url(&outpost_emulator::codec::random_bytes(32));
    let challenge = outpost_emulator::codec::b64url(&sha2::Sha256::digest(verifier.as_bytes()));
    (verifier, challenge)
}

pub fn hidden(html: &str, name: &str) -> String {
    let pat = format!("name=\"{name}\" value=\"");
    let start = html.find(&pat).unwrap_or_else(|| panic!("no {name} in page: {html}")) + pat.len();
    let end = html[start..].find('"').expect("end quote") + start;
    html[start..end].to_owned()
}

pub fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    let q = q.split('#').next().unwrap_or(q);
    form_urlencoded::parse(q.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

pub fn password_of(upn: &str) -> &'static str {
    match upn {
        defaults::ALICE => defaults::ALICE_PASSWORD,
        defaults::BOB => defaults::BOB_PASSWORD,
        _ => defaults::ADMIN_PASSWORD,
    }
}

/// Result of driving the authorize pages.
pub struct Authorized {
    pub location: String,
    pub verifier: String,
    pub redirect_uri: String,
}

/// Drives authorize → credentials → (MFA) → (consent) → redirect. Returns the final Location.
pub async fn authorize(h: &EmulatorHandle, upn: &str, scope: &str, extra: &[(&str, &str)]) -> Authorized {
    let c = client();
    let (verifier, challenge) = pkce();
    let redirect_uri = "http://127.0.0.1:53682/callback-unused".replace("/callback-unused", "");
    let mut params: Vec<(&str, &str)> = vec![
        ("client_id", defaults::CLIENT_ID),
        ("response_type", "code"),
        ("redirect_uri", &redirect_uri),
        ("scope", scope),
        ("state", "st+/=ate"),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ];
    params.extend_from_slice(extra);
    let r = c.get(format!("{}/organizations/oauth2/v2.0/authorize", h.base_url())).query(&params).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"i0116\"") && page.contains("id=\"i0118\""), "{page}");
    let txn = hidden(&page, "txn");
    let mut r = c
        .post(format!("{}/organizations/login", h.base_url()))
        .form(&[("txn", txn.as_str()), ("loginfmt", upn), ("passwd", password_of(upn))])
        .send()
        .await
        .unwrap();
    loop {
        if r.status() == 302 {
            let location = r.headers()["location"].to_str().unwrap().to_owned();
            return Authorized { location, verifier, redirect_uri };
        }
        assert_eq!(r.status(), 200);
        let page = r.text().await.unwrap();
        if page.contains("idTxtBx_SAOTCC_OTC") {
            let code = h.totp_code(upn).unwrap();
            r = c
                .post(format!("{}/organizations/login/mfa", h.base_url()))
                .form(&[("txn", txn.as_str()), ("otc", code.as_str())])
                .send()
                .await
                .unwrap();
        } else if page.contains("idBtn_Accept") {
            r = c
                .post(format!("{}/organizations/login/consent", h.base_url()))
                .form(&[("txn", txn.as_str()), ("decision", "accept")])
                .send()
                .await
                .unwrap();
        } else if page.contains("name=\"hiddenform\"") {
            // response_mode=form_post: the page itself is the result
            return Authorized { location: page, verifier, redirect_uri };
        } else {
            panic!("unexpected page: {page}");
        }
    }
}

pub async fn redeem(h: &EmulatorHandle, a: &Authorized) -> reqwest::Response {
    let code = query_param(&a.location, "code").expect("code in redirect");
    client()
        .post(format!("{}/organizations/oauth2/v2.0/token", h.base_url()))
        .form(&[
            ("client_id", defaults::CLIENT_ID),
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", a.redirect_uri.as_str()),
            ("code_verifier", a.verifier.as_str()),
        ])
        .send()
        .await
        .unwrap()
}

pub async fn ropc(h: &EmulatorHandle, upn: &str, password: &str, scope: &str) -> reqwest::Response {
    client()
        .post(format!("{}/organizations/oauth2/v2.0/token", h.base_url()))
        .form(&[
            ("client_id", defaults::CLIENT_ID),
            ("grant_type", "password"),
            ("username", upn),
            ("password", password),
            ("scope", scope),
        ])
        .send()
        .await
        .unwrap()
}

/// An access token for bob (no MFA) via ROPC.
pub async fn bob_token(h: &EmulatorHandle) -> String {
    let r = ropc(h, defaults::BOB, defaults::BOB_PASSWORD, &h.scope()).await;
    assert_eq!(r.status(), 200);
    let j: serde_json::Value = r.json().await.unwrap();
    j["access_token"].as_str().unwrap().to_owned()
}

pub async fn admin_token(h: &EmulatorHandle) -> String {
    let r = ropc(h, defaults::ADMIN, defaults::ADMIN_PASSWORD, &h.scope()).await;
    assert_eq!(r.status(), 200);
    let j: serde_json::Value = r.json().await.unwrap();
    j["access_token"].as_str().unwrap().to_owned()
}

pub fn api(h: &EmulatorHandle, rel: &str) -> String {
    format!("{}{}", h.web_api_url(), rel)
}

pub async fn get_json(
    token: &str,
    url: &str,
    prefer: Option<&str>,
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut rb =
        client().get(url).bearer_auth(token).header("OData-Version", "4.0").header("Accept", "application/json");
    if let Some(p) = prefer {
        rb = rb.header("Prefer", p);
    }
    let r = rb.send().await.unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    (status, headers, v)
}

/// Any Web API request with extra headers and an optional JSON body; returns (status, headers, JSON or text).
pub async fn send(
    token: &str,
    method: reqwest::Method,
    url: &str,
    body: Option<serde_json::Value>,
    headers: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, serde_json::Value) {
    let mut rb = client().request(method, url).bearer_auth(token).header("OData-Version", "4.0");
    for (k, v) in headers {
        rb = rb.header(*k, *v);
    }
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    let r = rb.send().await.unwrap();
    let s = r.status().as_u16();
    let h = r.headers().clone();
    let text = r.text().await.unwrap();
    let v = if text.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
    };
    (s, h, v)
}

pub async fn control(
    h: &EmulatorHandle,
    method: reqwest::Method,
    path: &str,
    body: serde_json::Value,
) -> serde_json::Value {
    let r = client().request(method, format!("{}{}", h.control_url(), path)).json(&body).send().await.unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    assert!(status.is_success(), "{status} {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"))
}
