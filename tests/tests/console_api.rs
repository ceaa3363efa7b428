//! The web console's server side, driven with curl (the browser tests in
//! `console_browser.rs` drive the pages): the page's security headers,
//! token sign-in into an `HttpOnly`, `SameSite=Strict` cookie, the REST API
//! with that cookie, the CSRF token every state change needs, sign-out, a
//! revoked token ending the console session, and the failed-sign-in budget.

use std::process::Command;

use vigil_e2e::config_with;
use vigil_e2e::{Gateway, assert_success};

/// One HTTP exchange: (status, headers, body).
struct Answer {
    status: u16,
    headers: String,
    body: String,
}

fn curl(gw: &Gateway, method: &str, path: &str, headers: &[&str], body: Option<&str>) -> Answer {
    let url = format!("{}{path}", gw.http_url());
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-i", "-X", method, &url]);
    for h in headers {
        cmd.args(["-H", h]);
    }
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json", "--data-binary", b]);
    }
    let out = cmd.output().expect("curl runs");
    let text = assert_success(&out, "curl");
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Answer {
        status,
        headers: head.to_string(),
        body: body.to_string(),
    }
}

/// The value of header `name` (lower case), as sent.
fn header<'a>(a: &'a Answer, name: &str) -> Option<&'a str> {
    a.headers.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then_some(v.trim())
    })
}

fn gateway() -> Gateway {
    Gateway::start(&config_with(""), &[])
}

/// Signs in with `token`: the cookie header to send back and the CSRF token.
fn sign_in(gw: &Gateway, token: &str) -> (String, String) {
    let a = curl(
        gw,
        "POST",
        "/console/api/login",
        &[],
        Some(&format!("{{\"token\": \"{token}\"}}")),
    );
    assert_eq!(a.status, 200, "{}{}", a.headers, a.body);
    let set = header(&a, "set-cookie").expect("a cookie");
    let cookie = set.split(';').next().unwrap_or_default().trim().to_string();
    let json: serde_json::Value = serde_json::from_str(&a.body).expect("json");
    let csrf = json["csrf"].as_str().expect("csrf").to_string();
    (format!("cookie: {cookie}"), csrf)
}

#[test]
fn the_page_allows_no_inline_script() {
    let gw = gateway();
    let a = curl(&gw, "GET", "/", &[], None);
    assert_eq!(a.status, 200);
    let csp = header(&a, "content-security-policy").expect("a CSP");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        !csp.contains("'unsafe-inline'") && !csp.contains("'unsafe-eval'"),
        "{csp}"
    );
    assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
    assert_eq!(header(&a, "x-content-type-options"), Some("nosniff"));
    assert!(a.body.contains("<html"), "{}", a.body);
    let config = curl(&gw, "GET", "/console/api/config", &[], None);
    assert_eq!(config.body.trim(), r#"{"sso":false}"#);
}

#[test]
fn a_token_signs_in_to_a_cookie_session_that_needs_csrf_for_changes() {
    let gw = gateway();
    let alice = gw.token("alice", &["admins", "dba"], "human");
    let a = curl(
        &gw,
        "POST",
        "/console/api/login",
        &[],
        Some(&format!("{{\"token\": \"{alice}\"}}")),
    );
    assert_eq!(a.status, 200, "{}", a.body);
    let set = header(&a, "set-cookie")
        .expect("a cookie")
        .to_ascii_lowercase();
    assert!(set.starts_with("vigil_console="), "{set}");
    assert!(
        set.contains("httponly") && set.contains("samesite=strict"),
        "{set}"
    );
    // Plain HTTP on loopback: not `Secure` (the browser would drop it).
    assert!(!set.contains("secure"), "{set}");
    // The token itself is never sent back.
    assert!(!a.body.contains(&alice) && !a.headers.contains(&alice));

    let (cookie, csrf) = sign_in(&gw, &alice);
    let me = curl(&gw, "GET", "/console/api/me", &[&cookie], None);
    assert_eq!(me.status, 200, "{}", me.body);
    let me: serde_json::Value = serde_json::from_str(&me.body).expect("json");
    assert_eq!(me["name"], "alice");
    assert_eq!(me["admin"], true);
    assert_eq!(me["csrf"], csrf.as_str());

    // The REST API takes the cookie.
    let sessions = curl(&gw, "GET", "/api/v1/sessions", &[&cookie], None);
    assert_eq!(sessions.status, 200, "{}", sessions.body);
    assert_eq!(header(&sessions, "cache-control"), Some("no-store"));
    let audit = curl(&gw, "GET", "/api/v1/audit", &[&cookie], None);
    assert_eq!(audit.status, 200, "{}", audit.body);
    assert!(audit.body.contains(r#""ok":true"#), "{}", audit.body);

    // A state change without the CSRF token (a forged form post) is refused
    // before anything else is looked at; with it, it reaches the handler.
    let forged = curl(
        &gw,
        "POST",
        "/api/v1/approvals/ap_x/deny",
        &[&cookie],
        Some("{}"),
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("X-CSRF-Token"), "{}", forged.body);
    let wrong = format!("x-csrf-token: {csrf}x");
    let forged = curl(
        &gw,
        "POST",
        "/api/v1/approvals/ap_x/deny",
        &[&cookie, &wrong],
        Some("{}"),
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    let right = format!("x-csrf-token: {csrf}");
    let real = curl(
        &gw,
        "POST",
        "/api/v1/approvals/ap_x/deny",
        &[&cookie, &right],
        Some("{}"),
    );
    assert_eq!(real.status, 404, "{}", real.body);

    // Sign-out needs the CSRF token too, then ends the session.
    let out = curl(&gw, "POST", "/console/api/logout", &[&cookie], None);
    assert_eq!(out.status, 403);
    let out = curl(&gw, "POST", "/console/api/logout", &[&cookie, &right], None);
    assert_eq!(out.status, 204);
    assert!(header(&out, "set-cookie").is_some_and(|c| c.contains("Max-Age=0")));
    let me = curl(&gw, "GET", "/console/api/me", &[&cookie], None);
    assert_eq!(me.status, 401);
}

#[test]
fn a_revoked_token_ends_its_console_session() {
    let gw = gateway();
    let bob = gw.token("bob", &["dba"], "human");
    let (cookie, _) = sign_in(&gw, &bob);
    assert_eq!(
        curl(&gw, "GET", "/console/api/me", &[&cookie], None).status,
        200
    );
    let out = gw.vigil_with_config(&["token", "revoke", "bob"]);
    assert_success(&out, "vigil token revoke");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert_eq!(
        curl(&gw, "GET", "/console/api/me", &[&cookie], None).status,
        401
    );
    // And stays ended.
    assert_eq!(
        curl(&gw, "GET", "/api/v1/approvals", &[&cookie], None).status,
        401
    );
}

#[test]
fn bad_tokens_are_refused_and_spend_the_sign_in_budget() {
    let gw = gateway();
    let bad = curl(
        &gw,
        "POST",
        "/console/api/login",
        &[],
        Some(r#"{"token": "nope"}"#),
    );
    assert_eq!(bad.status, 401);
    assert!(header(&bad, "set-cookie").is_none());
    let junk = curl(&gw, "POST", "/console/api/login", &[], Some("not json"));
    assert_eq!(junk.status, 400);
    // A forged cookie is no session.
    let me = curl(
        &gw,
        "GET",
        "/console/api/me",
        &["cookie: vigil_console=forged"],
        None,
    );
    assert_eq!(me.status, 401);
    let limited = (0..40)
        .map(|_| {
            curl(
                &gw,
                "POST",
                "/console/api/login",
                &[],
                Some(r#"{"token": "nope"}"#),
            )
            .status
        })
        .any(|s| s == 429);
    assert!(limited, "the failed sign-in budget never ran out");
}
