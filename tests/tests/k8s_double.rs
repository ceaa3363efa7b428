//! The Kubernetes API double itself, checked with the real kubectl (and raw HTTP where
//! kubectl cannot go): if these pass, the Kubernetes front-end's tests fail only for
//! Vigil's reasons.
//!
//! kubectl 1.32 sends no bearer token over plain `http://`, so kubectl talks to a double
//! that asks for no credential ([`KubeApi::start_open`]); the token check is tested with
//! raw requests.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use vigil_e2e::k8s_double::KubeApi;
use vigil_e2e::{assert_failure, assert_success};

/// kubectl with a kubeconfig for `server` with no user, its home and cache in `dir`.
fn kubectl_cmd(dir: &Path, server: &str, args: &[&str]) -> Command {
    let config = dir.join("kubeconfig");
    std::fs::write(
        &config,
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: double\n  cluster:\n    server: {server}\n\
             users:\n- name: nobody\n  user: {{}}\ncontexts:\n- name: double\n  context:\n    \
             cluster: double\n    user: nobody\ncurrent-context: double\n"
        ),
    )
    .unwrap();
    let mut cmd = Command::new(std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".into()));
    cmd.env("HOME", dir)
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(&config)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .args(args)
        .stdin(Stdio::null());
    cmd
}

fn kubectl(dir: &Path, server: &str, args: &[&str]) -> Output {
    kubectl_cmd(dir, server, args)
        .output()
        .expect("could not run kubectl")
}

fn setup() -> (KubeApi, tempfile::TempDir) {
    (KubeApi::start_open(), tempfile::tempdir().unwrap())
}

#[test]
fn kubectl_lists_pods_through_legacy_discovery_and_tables() {
    let (api, dir) = setup();
    let out = kubectl(dir.path(), &api.url(), &["get", "pods"]);
    let text = assert_success(&out, "kubectl get pods");
    assert!(text.starts_with("NAME"), "{text}");
    assert!(text.contains("web-1") && text.contains("web-2"), "{text}");
    assert!(text.contains("Running"), "{text}");
    // kubectl asked for aggregated discovery first, then for tables.
    let api_doc = api.received_matching("GET", "/api?");
    assert!(
        api_doc[0].header("accept")[0].contains("as=APIGroupDiscoveryList"),
        "{:?}",
        api_doc[0].headers
    );
    let list = api.received_matching("GET", "/api/v1/namespaces/default/pods?");
    assert!(list[0].header("accept")[0].contains("as=Table"));
}

#[test]
fn kubectl_reads_the_secret_and_configmap_as_json() {
    let (api, dir) = setup();
    let out = kubectl(
        dir.path(),
        &api.url(),
        &["get", "secret", "db-creds", "-o", "json"],
    );
    let secret: serde_json::Value =
        serde_json::from_str(&assert_success(&out, "kubectl get secret")).unwrap();
    assert_eq!(secret["data"]["password"], "aHVudGVyMg==");
    assert_eq!(secret["data"]["user"], "YWRtaW4=");
    let applied =
        secret["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"]
            .as_str()
            .unwrap();
    assert!(applied.contains("aHVudGVyMg=="), "{applied}");
    let out = kubectl(dir.path(), &api.url(), &["get", "configmaps", "-o", "json"]);
    let list: serde_json::Value =
        serde_json::from_str(&assert_success(&out, "kubectl get configmaps")).unwrap();
    assert_eq!(list["items"][0]["data"]["mode"], "fast");
}

#[test]
fn kubectl_deletes_a_pod_and_waits_for_it_to_go() {
    let (api, dir) = setup();
    let out = kubectl(dir.path(), &api.url(), &["delete", "pod", "web-2"]);
    let text = assert_success(&out, "kubectl delete pod");
    assert!(text.contains("pod \"web-2\" deleted"), "{text}");
    assert_eq!(api.pods(), vec!["web-1".to_string()]);
    assert_eq!(api.received_matching("DELETE", "/pods/web-2").len(), 1);
}

#[test]
fn kubectl_execs_over_websocket_v5() {
    let (api, dir) = setup();
    let url = api.url();
    let out = kubectl(
        dir.path(),
        &url,
        &["exec", "web-1", "--", "echo", "hi", "there"],
    );
    assert_eq!(assert_success(&out, "kubectl exec echo"), "hi there");
    let exec = api.exec_requests();
    assert_eq!(exec.len(), 1);
    assert_eq!(exec[0].method, "GET");
    assert_eq!(
        exec[0].target,
        "/api/v1/namespaces/default/pods/web-1/exec?command=echo&command=hi&command=there\
         &container=web&stderr=true&stdout=true"
    );
    assert_eq!(
        exec[0].header("sec-websocket-protocol"),
        vec!["v5.channel.k8s.io"]
    );
    assert_eq!(exec[0].header("upgrade"), vec!["websocket"]);

    let out = kubectl(dir.path(), &url, &["exec", "web-2", "--", "hostname"]);
    assert_eq!(assert_success(&out, "kubectl exec hostname"), "web-2");
    let out = kubectl(
        dir.path(),
        &url,
        &["exec", "web-1", "--", "sh", "-c", "ls /"],
    );
    assert_eq!(assert_success(&out, "kubectl exec sh -c"), "sh ran: ls /");
    let out = kubectl(dir.path(), &url, &["exec", "web-1", "--", "false"]);
    assert_eq!(out.status.code(), Some(1), "{}", vigil_e2e::stderr(&out));
    let out = kubectl(
        dir.path(),
        &url,
        &["exec", "web-1", "--", "cat", "/etc/passwd"],
    );
    assert_eq!(out.status.code(), Some(127));
    assert!(vigil_e2e::stderr(&out).contains("command not found"));
}

#[test]
fn kubectl_exec_cat_echoes_stdin_until_it_closes() {
    let (api, dir) = setup();
    let mut child = kubectl_cmd(
        dir.path(),
        &api.url(),
        &["exec", "-i", "web-1", "--", "cat"],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"line one\nline two\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        assert_success(&out, "kubectl exec -i cat"),
        "line one\nline two"
    );
}

#[test]
fn kubectl_watches_until_the_stream_ends() {
    let (api, dir) = setup();
    let out = kubectl(
        dir.path(),
        &api.url(),
        &["get", "configmaps", "-w", "--request-timeout=3s"],
    );
    let text = assert_success(&out, "kubectl get -w");
    assert!(text.contains("settings"), "{text}");
    let watch = api.received_matching("GET", "watch=true");
    assert_eq!(watch.len(), 1, "{:?}", api.received());
    // The raw watch stream: newline-delimited events with full objects.
    let (_, body) = raw(
        api.port(),
        "/api/v1/namespaces/default/secrets?watch=1",
        None,
    );
    let first = body.lines().find(|l| l.starts_with('{')).unwrap();
    let event: serde_json::Value = serde_json::from_str(first).unwrap();
    assert_eq!(event["type"], "ADDED");
    assert_eq!(event["object"]["kind"], "Secret");
}

#[test]
fn kubectl_create_is_refused_as_protobuf_and_spdy_gets_400() {
    let (api, dir) = setup();
    let out = kubectl(
        dir.path(),
        &api.url(),
        &["create", "configmap", "x", "--from-literal=a=b"],
    );
    assert_failure(&out, "kubectl create configmap");
    let post = api.received_matching("POST", "/configmaps");
    assert_eq!(
        post[0].header("content-type"),
        vec!["application/vnd.kubernetes.protobuf"]
    );
    let (status, _) = raw_request(
        api.port(),
        "POST /api/v1/namespaces/default/pods/web-1/exec?command=ls HTTP/1.1\r\nHost: x\r\n\
         Connection: Upgrade\r\nUpgrade: SPDY/3.1\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(status, 400);
}

#[test]
fn requests_without_the_bearer_get_401_and_are_logged() {
    let api = KubeApi::start("the-token");
    let (status, body) = raw(api.port(), "/api/v1/namespaces/default/pods", None);
    assert_eq!(status, 401);
    assert!(body.contains("\"kind\":\"Status\""), "{body}");
    let (status, _) = raw(api.port(), "/api/v1/namespaces/default/pods", Some("wrong"));
    assert_eq!(status, 401);
    let (status, body) = raw(
        api.port(),
        "/api/v1/namespaces/default/pods",
        Some("the-token"),
    );
    assert_eq!(status, 200);
    assert!(body.contains("\"PodList\""), "{body}");
    let received = api.received();
    assert_eq!(received.len(), 3);
    assert_eq!(
        received[2].header("authorization"),
        vec!["Bearer the-token"]
    );
}

#[test]
fn exec_with_the_bearer_over_a_websocket_client() {
    use tungstenite::client::IntoClientRequest;
    let api = KubeApi::start("the-token");
    let url = format!(
        "ws://127.0.0.1:{}/api/v1/namespaces/default/pods/web-1/exec?command=echo&command=ok&stdout=true",
        api.port()
    );
    let mut request = url.into_client_request().unwrap();
    let headers = request.headers_mut();
    headers.insert("authorization", "Bearer the-token".parse().unwrap());
    headers.insert(
        "sec-websocket-protocol",
        "v4.channel.k8s.io, channel.k8s.io".parse().unwrap(),
    );
    let (mut ws, response) = tungstenite::connect(request).unwrap();
    assert_eq!(
        response.headers()["sec-websocket-protocol"],
        "v4.channel.k8s.io"
    );
    let mut frames = Vec::new();
    while let Ok(msg) = ws.read() {
        if let tungstenite::Message::Binary(b) = msg {
            frames.push(b.to_vec());
        }
    }
    assert_eq!(frames[0], b"\x01ok\n");
    assert_eq!(frames[1][0], 3);
    assert!(String::from_utf8_lossy(&frames[1]).contains("Success"));
}

/// `GET path` with an optional bearer; returns the status and the body (chunks as sent).
fn raw(port: u16, path: &str, bearer: Option<&str>) -> (u16, String) {
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    raw_request(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: x\r\n{auth}Connection: close\r\n\r\n"),
    )
}

fn raw_request(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = Vec::new();
    let _ = s.read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text).to_string();
    let status = text.split_whitespace().nth(1).unwrap().parse().unwrap();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_string());
    (status, body.unwrap_or_default())
}
