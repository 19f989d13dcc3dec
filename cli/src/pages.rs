//! The demo's stand-in for a person at the browser (`outpost demo --auto`): fills the
//! emulator's sign-in pages (username and password, the authenticator code, consent) over HTTP
//! and follows the final redirect to the CLI's loopback listener, as a browser would. Real
//! sign-ins never use this: they open the system browser.

use url::Url;

/// One HTML form: where it posts and its hidden fields.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Form {
    action: String,
    hidden: Vec<(String, String)>,
}

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

fn attr(tag: &str, name: &str) -> Option<String> {
    let pat = format!("{name}=\"");
    let start = tag.find(&pat)? + pat.len();
    let end = tag[start..].find('"')? + start;
    Some(unescape(&tag[start..end]))
}

fn first_form(html: &str) -> Option<Form> {
    let start = html.find("<form")?;
    let end = html[start..].find("</form>").map_or(html.len(), |e| start + e);
    let body = &html[start..end];
    let head_end = body.find('>')?;
    let action = attr(&body[..head_end], "action")?;
    let mut hidden = Vec::new();
    let mut rest = body;
    while let Some(i) = rest.find("<input") {
        let tag_end = rest[i..].find('>').map_or(rest.len(), |e| i + e);
        let tag = &rest[i..tag_end];
        if attr(tag, "type").as_deref() == Some("hidden") {
            if let (Some(n), Some(v)) = (attr(tag, "name"), attr(tag, "value")) {
                hidden.push((n, v));
            }
        }
        rest = &rest[tag_end..];
    }
    Some(Form { action, hidden })
}

/// Who signs in, and how the pages are narrated.
pub struct Person<'a> {
    /// Sign-in name.
    pub upn: &'a str,
    /// Account password (the emulator's published test password).
    pub password: &'a str,
    /// The current authenticator code.
    pub totp: &'a (dyn Fn() -> Option<String> + Send + Sync),
    /// Narration of each step.
    pub say: &'a (dyn Fn(&str) + Send + Sync),
}

fn is_loopback(u: &Url) -> bool {
    matches!(u.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"))
}

/// Open `authorize_url`, complete every page, and deliver the redirect to `redirect_base`.
///
/// # Errors
/// A description of the page or request that failed.
pub async fn sign_in(authorize_url: &str, redirect_base: &Url, person: &Person<'_>) -> Result<(), String> {
    drive(authorize_url, Some(redirect_base), None, person).await
}

/// Open the device-login page, enter `user_code`, sign in and confirm.
///
/// # Errors
/// A description of the page or request that failed.
pub async fn device_sign_in(verification_uri: &str, user_code: &str, person: &Person<'_>) -> Result<(), String> {
    drive(verification_uri, None, Some(user_code), person).await
}

async fn drive(
    start: &str,
    redirect_base: Option<&Url>,
    user_code: Option<&str>,
    person: &Person<'_>,
) -> Result<(), String> {
    outpost_core::install_tls_provider();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("HTTP client: {}", e.without_url()))?;
    let mut url = Url::parse(start).map_err(|_| "the sign-in URL is not a URL".to_string())?;
    let mut resp = http.get(url.clone()).send().await.map_err(|e| format!("sign-in page: {}", e.without_url()))?;
    let mut confirmed = false;
    for _ in 0..12 {
        if resp.status().is_redirection() {
            let location = resp
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| "a redirect without a location".to_string())?;
            let next = url.join(location).map_err(|_| "a redirect to a bad URL".to_string())?;
            if let Some(base) = redirect_base {
                if is_loopback(&next) && next.port() == base.port() {
                    (person.say)("browser: redirected back to the CLI's loopback listener");
                    http.get(next).send().await.map_err(|e| format!("loopback redirect: {}", e.without_url()))?;
                    return Ok(());
                }
            }
            url = next;
            resp = http.get(url.clone()).send().await.map_err(|e| format!("redirect: {}", e.without_url()))?;
            continue;
        }
        let status = resp.status();
        let page = resp.text().await.map_err(|e| format!("sign-in page: {}", e.without_url()))?;
        let Some(form) = first_form(&page) else {
            if confirmed && status.is_success() {
                (person.say)("browser: the device sign-in is confirmed");
                return Ok(());
            }
            return Err(format!("a sign-in page without a form (HTTP {status})"));
        };
        let mut fields = form.hidden.clone();
        if page.contains("id=\"i0116\"") {
            (person.say)(&format!("browser: {} enters the account password", person.upn));
            fields.push(("loginfmt".into(), person.upn.into()));
            fields.push(("passwd".into(), person.password.into()));
        } else if page.contains("idTxtBx_SAOTCC_OTC") {
            (person.say)("browser: MFA — the 6-digit code from the authenticator app");
            let code = (person.totp)().ok_or_else(|| "no authenticator code for this user".to_string())?;
            fields.push(("otc".into(), code));
        } else if page.contains("idBtn_Accept") {
            (person.say)("browser: accepts the app's permission request");
            fields.push(("decision".into(), "accept".into()));
        } else if page.contains("id=\"deviceconfirm\"") {
            (person.say)("browser: confirms the sign-in on the device");
            fields.push(("decision".into(), "continue".into()));
            confirmed = true;
        } else if let (Some(code), true) = (user_code, page.contains("id=\"devicecode\"")) {
            (person.say)("browser: enters the device code");
            fields.push(("otc".into(), code.to_string()));
        } else {
            return Err(format!("an unexpected sign-in page (HTTP {status})"));
        }
        url = url.join(&form.action).map_err(|_| "a form with a bad action".to_string())?;
        resp = http
            .post(url.clone())
            .form(&fields)
            .send()
            .await
            .map_err(|e| format!("sign-in form: {}", e.without_url()))?;
    }
    Err("too many sign-in pages".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_are_read() {
        let html = r#"<p>x</p><form method="post" action="/t/login" id="credentials"><input type="hidden" name="txn" value="a&amp;b">
<input type="email" name="loginfmt" id="i0116" value=""><input type="password" name="passwd"></form>"#;
        let f = first_form(html).unwrap_or_else(|| Form { action: String::new(), hidden: Vec::new() });
        assert_eq!(f.action, "/t/login");
        assert_eq!(f.hidden, vec![("txn".to_string(), "a&b".to_string())]);
        assert!(first_form("<p>no form</p>").is_none());
    }
}
