//! The HTTP proxy (`/proxy/<connection>/<path>`) in front of a real origin
//! that logs every request it receives, driven with curl and a raw Rust
//! client: what policy allows reaches the origin with Vigil's credential
//! and without the caller's; what it denies, what is ambiguous and what is
//! too large never reaches it; a held request runs once after approval;
//! masked answers are in `http_proxy_answers.rs`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use std::process::Command;
use std::time::{Duration, Instant};

use vigil_e2e::assert_success;

mod http_common;
use http_common::*;

#[test]
fn an_allowed_get_reaches_the_origin_with_vigils_credential_and_not_the_callers() {
    let env = start();
    let (status, head, body) = env.curl(
        "/proxy/api/v1/items/42?tag=a&tag=b",
        &[
            "-H",
            "Cookie: session=caller-cookie",
            "-H",
            "X-Forwarded-For: 10.9.9.9",
            "-H",
            "Accept: text/plain",
        ],
    );
    assert_eq!(status, 200, "{head}{body}");
    assert_eq!(body, "ok GET /v1/items/42?tag=a&tag=b");
    // The origin's session cookie stays with Vigil.
    assert!(!head.contains("set-cookie"), "{head}");
    let got = env.origin.received();
    assert_eq!(got.len(), 1, "{got:?}");
    let r = &got[0];
    assert_eq!(
        r.header("authorization"),
        vec![format!("Bearer {API_TOKEN}")]
    );
    assert!(r.header("cookie").is_empty(), "{r:?}");
    assert!(r.header("x-forwarded-for").is_empty(), "{r:?}");
    assert_eq!(r.header("accept"), vec!["text/plain"]);
    assert!(
        !format!("{r:?}").contains(&env.agent),
        "the caller's token reached the origin: {r:?}"
    );

    // Basic with the token as the password, and Proxy-Authorization.
    let basic = format!("bot:{}", env.agent);
    let (status, _, body) = curl(&env.url("/proxy/api/basic"), &["-u", &basic]);
    assert_eq!(status, 200, "{body}");
    let proxy_auth = format!("Proxy-Authorization: Bearer {}", env.agent);
    let (status, _, body) = curl(
        &env.url("/proxy/api/proxied"),
        &["-H", &proxy_auth, "-H", "Authorization: Bearer caller-own"],
    );
    assert_eq!(status, 200, "{body}");
    let last = env.origin.received().pop().unwrap();
    assert_eq!(
        last.header("authorization"),
        vec![format!("Bearer {API_TOKEN}")]
    );
    assert!(last.header("proxy-authorization").is_empty());
}

#[test]
fn no_or_a_bad_token_is_401_and_nothing_reaches_the_origin() {
    let env = start();
    let (status, head, _) = curl(&env.url("/proxy/api/x"), &[]);
    assert_eq!(status, 401);
    assert!(head.contains("www-authenticate: bearer"), "{head}");
    let (status, _, _) = curl(
        &env.url("/proxy/api/x"),
        &["-H", "Authorization: Bearer vgl_not_a_token"],
    );
    assert_eq!(status, 401);
    let (status, _, body) = env.curl("/proxy/nosuch/x", &[]);
    assert_eq!(status, 404, "{body}");
    // Without a token, an unknown connection is not told apart from a known one.
    let (status, _, _) = curl(&env.url("/proxy/nosuch/x"), &[]);
    assert_eq!(status, 401);
    assert!(env.origin.received().is_empty());
}

#[test]
fn a_denied_delete_is_403_and_never_reaches_the_origin() {
    let env = start();
    let (status, _, body) = env.curl("/proxy/api/v1/items/42", &["-X", "DELETE"]);
    assert_eq!(status, 403, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["error"], "denied");
    assert_eq!(v["rule"], "no-deletes");
    assert_eq!(v["reason"], "nothing is deleted through the proxy");
    // A method no rule allows: default deny.
    let (status, _, body) = env.curl("/proxy/api/v1/items", &["-X", "PATCH"]);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("default-deny"), "{body}");
    assert!(
        env.origin.received().is_empty(),
        "{:?}",
        env.origin.received()
    );
}

#[test]
fn ambiguous_paths_are_400_before_policy_and_never_reach_the_origin() {
    let env = start();
    for path in [
        "/proxy/api/a%2Fb",
        "/proxy/api/a%5cb",
        "/proxy/api/a/../b",
        "/proxy/api/a/%2e%2e/b",
        "/proxy/api/a/.%2E/admin",
        "/proxy/api/./a",
        "/proxy/api//a",
        "/proxy/api/a//b",
        "/proxy/api/a;jsessionid=1",
        "/proxy/api/a%3bx",
        "/proxy/api/a%252fb",
        "/proxy/api/a%00b",
        "/proxy/api/a%zz",
        "/proxy/api/a%c0%af",
        "/proxy/api/a?x=1;y=2",
    ] {
        let (status, _, body) = env.curl(path, &["--path-as-is"]);
        assert_eq!(status, 400, "{path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["error"], "bad_request", "{path}: {body}");
    }
    // A lower-case method is another method to HTTP but not to every server.
    let (status, _, body) = env.curl("/proxy/api/x", &["-X", "delete"]);
    assert_eq!(status, 400, "{body}");
    // TRACE would echo the request, Vigil's credential with it.
    let (status, _, body) = env.curl("/proxy/api/x", &["-X", "TRACE"]);
    assert_eq!(status, 400, "{body}");
    // Fields some frameworks read as the method or the path instead of the request line's.
    for field in [
        "X-HTTP-Method-Override: DELETE",
        "X-Method-Override: DELETE",
        "X-Original-URL: /admin",
    ] {
        let (status, _, body) = env.curl("/proxy/api/x", &["-H", field]);
        assert_eq!(status, 400, "{field}: {body}");
    }
    assert!(
        env.origin.received().is_empty(),
        "{:?}",
        env.origin.received()
    );
}

/// The listener's HTTP/1 parser (hyper) settles the framing first, as RFC
/// 9112 §6.3 says: with both Content-Length and Transfer-Encoding it reads
/// the body as chunked, drops the length and closes the connection
/// afterwards; two different lengths are a 400. Vigil then forwards the
/// body it read with a Content-Length of its own, so no framing the client
/// chose reaches the origin, and a request hidden after the body is a
/// request to Vigil, decided on its own.
#[test]
fn smuggling_framing_cannot_desync_the_origin() {
    let env = start();
    let port = env.gw.http_port();
    let body = r#"{"amount":1}"#;
    let smuggled = format!(
        "PUT /proxy/api/v1/limits HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nContent-Length: 60\r\nTransfer-Encoding: chunked\r\n\r\n{len:x}\r\n{body}\r\n0\r\n\r\nDELETE /proxy/api/smuggled HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {token}\r\n\r\n",
        token = env.agent,
        len = body.len(),
    );
    let (status, text) = raw(port, &smuggled);
    assert_eq!(status, 200, "{text}");
    assert!(!text.contains("smuggled"), "{text}");
    let got = env.origin.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body, body.as_bytes());
    assert_eq!(
        got[0].header("content-length"),
        vec![body.len().to_string()]
    );
    assert!(got[0].header("transfer-encoding").is_empty(), "{got:?}");

    let twice = format!(
        "PUT /proxy/api/v1/limits HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer {}\r\nContent-Length: 2\r\nContent-Length: 3\r\nConnection: close\r\n\r\n{{}}",
        env.agent
    );
    let (status, text) = raw(port, &twice);
    assert_eq!(status, 400, "{text}");
    assert_eq!(env.origin.received().len(), 1);
}

/// An absolute-form target names its host twice: when the two disagree,
/// which one was meant is ambiguous.
#[test]
fn an_absolute_form_target_that_disagrees_with_host_is_400() {
    let env = start();
    let port = env.gw.http_port();
    let request = format!(
        "GET http://evil.example/proxy/api/x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        env.agent
    );
    let (status, text) = raw(port, &request);
    assert_eq!(status, 400, "{text}");
    let agreeing = format!(
        "GET http://127.0.0.1:{port}/proxy/api/x HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {}\r\nConnection: close\r\n\r\n",
        env.agent
    );
    let (status, text) = raw(port, &agreeing);
    assert_eq!(status, 200, "{text}");
    let got = env.origin.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].target, "/x");
}

#[test]
fn a_rule_on_the_json_body_decides_and_a_duplicate_key_is_refused() {
    let env = start();
    let json = [
        "-X",
        "PUT",
        "-H",
        "Content-Type: application/json",
        "--data",
    ];
    let put = |body: &str| {
        let mut args = json.to_vec();
        args.push(body);
        env.curl("/proxy/api/v1/limits", &args)
    };
    let (status, _, body) = put(r#"{"amount": 50}"#);
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = put(r#"{"amount": 500}"#);
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = put(r#"{"amount": 50, "amount": 500}"#);
    assert_eq!(status, 400, "{body}");
    let got = env.origin.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body, br#"{"amount": 50}"#);
}

#[test]
fn an_oversize_body_is_413_and_never_reaches_the_origin() {
    let env = start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("big.json");
    std::fs::write(&file, vec![b' '; 17 * 1024 * 1024]).unwrap();
    let data = format!("@{}", file.display());
    let (status, _, body) = env.curl(
        "/proxy/api/v1/limits",
        &["-X", "PUT", "--data-binary", &data],
    );
    assert_eq!(status, 413, "{body}");
    assert!(env.origin.received().is_empty());
}

#[test]
fn a_held_post_runs_once_after_approval_with_the_cli() {
    let env = start();
    let auth = format!("Authorization: Bearer {}", env.agent);
    let url = env.url("/proxy/api/orders?priority=high");
    let post = std::thread::spawn(move || {
        curl(
            &url,
            &[
                "-H",
                &auth,
                "-H",
                "Content-Type: application/json",
                "--data",
                r#"{"item":"widget","qty":3}"#,
            ],
        )
    });
    let id = pending_approval(&env);
    assert!(
        env.origin.received().is_empty(),
        "forwarded before approval"
    );
    let out = env.gw.vigil_env(
        &["approvals", "approve", &id],
        &[("VIGIL_TOKEN", &env.reviewer)],
    );
    assert_success(&out, "vigil approvals approve");
    let (status, _, body) = post.join().unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body, "ok POST /orders?priority=high");
    let got = env.origin.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].method, "POST");
    assert_eq!(got[0].body, br#"{"item":"widget","qty":3}"#);

    // The approval ran that request once: the same request is held again.
    let again = Command::new("curl")
        .args(["-s", "--max-time", "3", "-H"])
        .arg(format!("Authorization: Bearer {}", env.agent))
        .args(["--data", r#"{"item":"widget","qty":3}"#])
        .arg(env.url("/proxy/api/orders?priority=high"))
        .output()
        .expect("curl");
    // 28: curl's "operation timed out": still waiting for a reviewer.
    assert_eq!(again.status.code(), Some(28), "{again:?}");
    assert_eq!(env.origin.received().len(), 1);
    // The client that gave up is not left with an open session in the ledger.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let events = ledger_text(&env);
        let starts = events.matches("\"session_start\"").count();
        let ends = events.matches("\"session_end\"").count();
        if starts > 0 && starts == ends {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "{starts} sessions, {ends} ended:\n{events}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_denied_held_post_is_403_and_never_reaches_the_origin() {
    let env = start();
    let auth = format!("Authorization: Bearer {}", env.agent);
    let url = env.url("/proxy/api/orders");
    let post = std::thread::spawn(move || curl(&url, &["-H", &auth, "--data", "{}"]));
    let id = pending_approval(&env);
    let out = env.gw.vigil_env(
        &["approvals", "deny", &id, "--reason", "not today"],
        &[("VIGIL_TOKEN", &env.reviewer)],
    );
    assert_success(&out, "vigil approvals deny");
    let (status, _, body) = post.join().unwrap();
    assert_eq!(status, 403, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["rule"], "orders-need-review");
    assert!(
        v["reason"].as_str().unwrap().contains("not today"),
        "{body}"
    );
    assert!(env.origin.received().is_empty());
}

#[test]
fn graphql_rules_see_the_most_powerful_operation() {
    let env = start();
    let post = |doc: &str| {
        let body = serde_json::json!({ "query": doc }).to_string();
        env.curl(
            "/proxy/graph/graphql",
            &["-H", "Content-Type: application/json", "--data", &body],
        )
    };
    let (status, _, body) = post("query Q { invoices { id } }");
    assert_eq!(status, 200, "{body}");
    let (status, _, body) = post("mutation { deleteInvoice(id: 1) { id } }");
    assert_eq!(status, 403, "{body}");
    // A mutation beside a query, chosen with operationName: still a mutation.
    let (status, _, body) = post("query A { a } mutation B { deleteAll }");
    assert_eq!(status, 403, "{body}");
    let (status, _, body) = env.curl("/proxy/graph/graphql?query=%7B%20a%20%7D", &[]);
    assert_eq!(status, 200, "{body}");
    let got = env.origin.received();
    assert_eq!(got.len(), 2, "{got:?}");
}
