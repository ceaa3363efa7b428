//! The Kubernetes proxy against requests a client crafts by hand (curl, a raw WebSocket):
//! paths, queries and methods the API server could read differently are refused with 400 before policy
//! and never reach it; SPDY and port-forward get a clear refusal; Secret values stay masked
//! whatever the client asks for (protobuf, a table with whole objects, the legacy watch path)
//! unless the principal's policy says `k8s_secrets = "reveal"`; an exec is decided on what its
//! argv provably runs.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

mod k8s_common;
use k8s_common::*;

use std::process::Command;

/// `curl` through the gateway's plaintext loopback port: (status, body).
fn curl(env: &Env, token: &str, method: &str, path: &str, extra: &[&str]) -> (u16, String) {
    let url = format!("{}/k8s/kube{path}", env.gw.http_url());
    let out = Command::new("curl")
        .args([
            "-sS",
            "--path-as-is",
            "-X",
            method,
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
        ])
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .args(extra)
        .arg(&url)
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn ambiguous_requests_are_refused_before_the_api_server() {
    let env = start();
    let agent = env.agent.clone();
    for (method, path) in [
        ("GET", "/api/v1/namespaces/default/pods/%2e%2e/secrets"),
        ("GET", "/api/v1/namespaces/default/pods/web-1%2Fexec"),
        ("GET", "/api/v1/namespaces/default/pods/./web-1"),
        ("GET", "/api/v1/namespaces/default//secrets"),
        ("GET", "/api/v1/namespaces/default/pods;x=1"),
        (
            "GET",
            "/api/v1/namespaces/default/pods?watch=1;labelSelector=x",
        ),
        ("GET", "/api/v1/namespaces/default/pods?labelSelector=%zz"),
        ("PROPFIND", "/api/v1/namespaces/default/pods"),
    ] {
        let (status, body) = curl(&env, &agent, method, path, &[]);
        assert_eq!(status, 400, "{method} {path}: {body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
        assert_eq!(v["kind"], "Status", "{method} {path}: {body}");
        assert_eq!(v["reason"], "BadRequest", "{body}");
    }
    assert!(
        env.api.received().is_empty(),
        "nothing may reach the API server: {:?}",
        env.api.received()
    );
}

#[test]
fn spdy_and_port_forward_get_a_clear_refusal() {
    let env = start();
    let agent = env.agent.clone();
    let (status, body) = curl(
        &env,
        &agent,
        "POST",
        "/api/v1/namespaces/default/pods/web-1/exec?command=echo&command=hi&stdout=true",
        &["-H", "Connection: Upgrade", "-H", "Upgrade: SPDY/3.1"],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("SPDY"), "{body}");
    let (status, body) = curl(
        &env,
        &agent,
        "GET",
        "/api/v1/namespaces/default/pods/web-1/portforward?ports=80",
        &[],
    );
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("port-forward"), "{body}");
    // exec without a WebSocket is not relayed either.
    let (status, body) = curl(
        &env,
        &agent,
        "POST",
        "/api/v1/namespaces/default/pods/web-1/exec?command=echo&stdout=true",
        &[],
    );
    assert_eq!(status, 400, "{body}");
    assert!(env.api.exec_requests().is_empty());
}

/// Every form a Secret's values could come back in.
const SECRET_READS: &[(&str, &[&str])] = &[
    (
        "/api/v1/namespaces/default/secrets/db-creds",
        &["-H", "Accept: application/vnd.kubernetes.protobuf"],
    ),
    (
        "/api/v1/namespaces/default/secrets",
        &["-H", "Accept: application/json"],
    ),
    ("/api/v1/secrets", &[]),
    (
        "/api/v1/namespaces/default/secrets?includeObject=Object",
        &["-H", "Accept: application/json;as=Table;v=v1;g=meta.k8s.io"],
    ),
    (
        "/api/v1/namespaces/default/secrets?watch=1&timeoutSeconds=1",
        &[],
    ),
    (
        "/api/v1/watch/namespaces/default/secrets?timeoutSeconds=1",
        &[],
    ),
];

#[test]
fn secret_values_stay_masked_whatever_the_client_asks_for() {
    let env = start();
    let agent = env.agent.clone();
    for (path, extra) in SECRET_READS {
        let (status, body) = curl(&env, &agent, "GET", path, extra);
        assert_eq!(status, 200, "{path}: {body}");
        for value in ["aHVudGVyMg==", "YWRtaW4=", "hunter2"] {
            assert!(!body.contains(value), "{path}: {value} leaked: {body}");
        }
        if !body.contains("\"kind\":\"Table\"") {
            assert!(body.contains("password"), "{path}: the keys stay: {body}");
        }
    }
    // Vigil asked for JSON, never protobuf.
    for r in env.api.received() {
        for accept in r.header("accept") {
            assert!(!accept.contains("protobuf"), "{} asked {accept}", r.target);
        }
    }
}

#[test]
fn a_policy_that_reveals_secrets_shows_them() {
    let env = start();
    let ops = env.gw.token("opal", &["ops"], "human");
    let (status, body) = curl(
        &env,
        &ops,
        "GET",
        "/api/v1/namespaces/default/secrets/db-creds",
        &[],
    );
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("aHVudGVyMg=="), "{body}");
}

#[test]
fn an_exec_is_decided_on_what_its_argv_provably_runs() {
    let env = start();
    let ops = env.gw.token("opal", &["ops"], "human");
    let home = env.dir.path().join("ops");
    std::fs::create_dir_all(&home).unwrap();
    let out = env.vigil_as(&ops, &["kubeconfig", "kube"]);
    let yaml = vigil_e2e::assert_success(&out, "vigil kubeconfig");
    let kubeconfig = home.join("kubeconfig");
    std::fs::write(&kubeconfig, format!("{yaml}\n")).unwrap();
    let run = |args: &[&str]| kubectl_command(&home, &kubeconfig, args).output().unwrap();
    // `sh -c 'echo hi'` provably runs echo.
    let out = run(&["exec", "web-1", "--", "sh", "-c", "echo hi"]);
    assert!(out.status.success(), "{}", all_output(&out));
    // Two commands behind `sh -c` are opaque: denied, nothing reaches the API server.
    env.api.clear();
    let out = run(&[
        "exec",
        "web-1",
        "--",
        "sh",
        "-c",
        "echo hi; cat /etc/shadow",
    ]);
    assert_denied(&out, "an opaque exec");
    assert!(env.api.exec_requests().is_empty());
}

#[test]
fn impersonation_is_sent_only_when_a_rule_allows_it() {
    let env = start();
    let ops = env.gw.token("opal", &["ops"], "human");
    let pods = "/api/v1/namespaces/default/pods";
    let (status, body) = curl(&env, &ops, "GET", pods, &["-H", "Impersonate-User: viewer"]);
    assert_eq!(status, 200, "{body}");
    // Not allowed: stripped, and the request runs as Vigil's own credential.
    let (status, body) = curl(
        &env,
        &ops,
        "GET",
        pods,
        &[
            "-H",
            "Impersonate-User: admin",
            "-H",
            "Impersonate-Group: system:masters",
        ],
    );
    assert_eq!(status, 200, "{body}");
    let got = env.api.received_matching("GET", pods);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].header("impersonate-user"), ["viewer"]);
    assert!(got[1].header("impersonate-user").is_empty(), "{:?}", got[1]);
    assert!(
        got[1].header("impersonate-group").is_empty(),
        "{:?}",
        got[1]
    );
    // The agent's policy allows no impersonation at all.
    let agent = env.agent.clone();
    let (status, _) = curl(
        &env,
        &agent,
        "GET",
        pods,
        &["-H", "Impersonate-User: viewer"],
    );
    assert_eq!(status, 200);
    let got = env.api.received_matching("GET", pods);
    assert!(got[2].header("impersonate-user").is_empty(), "{:?}", got[2]);
}
