//! The real kubectl 1.32 through Vigil's Kubernetes front-end (`/k8s/kube/...`), with the
//! kubeconfig `vigil kubeconfig kube` prints, against the API server double: reads pass
//! with Vigil's credential only, a delete waits for a reviewer, exec is decided on its
//! command (allowed, denied, held), Secret values never reach kubectl, and a create is
//! refused before the API server sees it.

mod k8s_common;

use k8s_common::{Env, KUBE_TOKEN, all_output, assert_denied, start};
use vigil_e2e::{assert_success, stderr, stdout};

/// What must never reach kubectl: the password and user of `db-creds`, plain and base64
/// (`aHVudGVyMg==` is base64 of `hunter2`; `aGVudGVyMg==` is kept from the brief's list).
const SECRET_FORMS: &[&str] = &["hunter2", "aHVudGVyMg==", "aGVudGVyMg==", "YWRtaW4="];

#[track_caller]
fn assert_no_secret_value(text: &str, what: &str) {
    for form in SECRET_FORMS {
        assert!(
            !text.contains(form),
            "{what}: {form} reached kubectl:\n{text}"
        );
    }
}

#[test]
fn get_pods_lists_them_with_vigils_credential_only() {
    let env = start();
    let out = env.kubectl(&["get", "pods"]);
    let text = assert_success(&out, "kubectl get pods");
    assert!(text.contains("web-1") && text.contains("web-2"), "{text}");
    // Paths and queries arrive as kubectl sent them, under the connection's URL.
    let lists = env
        .api
        .received_matching("GET", "/api/v1/namespaces/default/pods?limit=500");
    assert_eq!(lists.len(), 1, "{:?}", env.api.received());
    env.assert_only_vigils_credential_arrived();
}

#[test]
fn logs_are_a_read() {
    let env = start();
    let out = env.kubectl(&["logs", "web-1"]);
    let text = assert_success(&out, "kubectl logs web-1");
    assert!(text.contains("log line 1 from web-1"), "{text}");
    assert_eq!(
        env.api
            .received_matching("GET", "/api/v1/namespaces/default/pods/web-1/log")
            .len(),
        1
    );
}

#[test]
fn a_connection_the_agent_is_not_granted_is_refused_before_the_api_server() {
    let env = start();
    // The agent's own kubeconfig, pointed at `other-kube` (granted to nobody).
    let yaml = std::fs::read_to_string(&env.kubeconfig).unwrap();
    let other = env.dir.path().join("other-kubeconfig");
    std::fs::write(&other, yaml.replace("/k8s/kube\"", "/k8s/other-kube\"")).unwrap();
    let out = k8s_common::kubectl_command(env.dir.path(), &other, &["get", "pods"])
        .output()
        .unwrap();
    vigil_e2e::assert_failure(&out, "kubectl get pods on other-kube");
    assert!(env.api.received().is_empty(), "{:?}", env.api.received());
}

#[test]
fn impersonation_never_reaches_the_api_server() {
    let env = start();
    // Refused or stripped: either way the API server sees no Impersonate-* field.
    let _ = env.kubectl(&[
        "get",
        "pods",
        "--as=system:admin",
        "--as-group=system:masters",
    ]);
    env.assert_only_vigils_credential_arrived();
}

#[test]
fn held_delete_runs_after_approval() {
    let env = start();
    // Discovery first, so the held request is the only thing in flight.
    assert_success(&env.kubectl(&["get", "pods"]), "kubectl get pods");
    let child = env.spawn_kubectl(&["delete", "pod", "web-2"]);
    let pending = env.pending_approval();
    assert_eq!(pending["rule"], "deletes-need-review", "{pending}");
    assert_eq!(pending["connection"], "kube", "{pending}");
    assert!(
        env.api
            .received_matching("DELETE", "/pods/web-2")
            .is_empty(),
        "the DELETE reached the API server before approval"
    );
    assert_eq!(env.api.pods().len(), 2);

    env.approve(pending["id"].as_str().unwrap());
    let out = child.wait_with_output().unwrap();
    let text = assert_success(&out, "kubectl delete pod (approved)");
    assert!(text.contains("pod \"web-2\" deleted"), "{text}");
    assert_eq!(env.api.received_matching("DELETE", "/pods/web-2").len(), 1);
    assert_eq!(env.api.pods(), vec!["web-1".to_string()]);
    env.assert_only_vigils_credential_arrived();
}

#[test]
fn exec_is_decided_on_its_command() {
    let env = start();
    let out = env.kubectl(&["exec", "web-1", "--", "echo", "hi"]);
    assert_eq!(assert_success(&out, "kubectl exec echo hi"), "hi");
    assert_eq!(env.api.exec_requests().len(), 1);

    // Denied: kubectl prints Vigil's refusal, and no exec (WebSocket or SPDY) arrives.
    env.api.clear();
    let out = env.kubectl(&["exec", "web-1", "--", "cat", "/etc/passwd"]);
    assert_denied(&out, "kubectl exec cat /etc/passwd");
    assert!(
        env.api.exec_requests().is_empty(),
        "{:?}",
        env.api.exec_requests()
    );

    // Held, approved, run once.
    let child = env.spawn_kubectl(&["exec", "web-1", "--", "hostname"]);
    let pending = env.pending_approval();
    assert_eq!(pending["rule"], "exec-hostname-review", "{pending}");
    assert!(
        env.api.exec_requests().is_empty(),
        "exec ran before approval"
    );
    env.approve(pending["id"].as_str().unwrap());
    let out = child.wait_with_output().unwrap();
    assert_eq!(assert_success(&out, "kubectl exec hostname"), "web-1");
    assert_eq!(env.api.exec_requests().len(), 1);
    env.assert_only_vigils_credential_arrived();
}

#[test]
fn an_exec_session_is_replayed() {
    let env = start();
    let out = env.kubectl(&["exec", "web-1", "--", "echo", "hi"]);
    assert_eq!(assert_success(&out, "kubectl exec echo hi"), "hi");
    let sessions = env.kube_sessions();
    let echo: Vec<String> = sessions
        .iter()
        .filter_map(|s| s["id"].as_str())
        .filter(|id| env.session_events(id).contains("echo"))
        .map(String::from)
        .collect();
    assert!(
        !echo.is_empty(),
        "no session on kube records the exec: {sessions:?}"
    );
    let replays: Vec<String> = echo
        .iter()
        .map(|id| {
            let out = env.vigil_as(&env.admin, &["replay", id, "--no-wait"]);
            assert!(out.status.success(), "vigil replay {id}: {}", stderr(&out));
            stdout(&out)
        })
        .collect();
    assert!(
        replays.iter().any(|r| r.lines().any(|l| l.trim() == "hi")),
        "no replay printed the exec's output: {replays:?}"
    );
}

#[test]
fn secret_values_never_reach_kubectl() {
    let env = start();
    // One object as JSON.
    let out = env.kubectl(&["get", "secret", "db-creds", "-o", "json"]);
    let text = assert_success(&out, "kubectl get secret -o json");
    assert_no_secret_value(&text, "get secret -o json");
    let secret: serde_json::Value = serde_json::from_str(&text).unwrap();
    let keys: Vec<&String> = secret["data"].as_object().unwrap().keys().collect();
    assert_eq!(keys, ["password", "user"], "{text}");

    // A list as JSON and as YAML.
    for format in ["json", "yaml"] {
        let out = env.kubectl(&["get", "secrets", "-o", format]);
        let text = assert_success(&out, "kubectl get secrets");
        assert_no_secret_value(&text, &format!("get secrets -o {format}"));
        assert!(text.contains("password") && text.contains("user"), "{text}");
    }

    // The table kubectl prints by default (rows carry the object's metadata).
    let out = env.kubectl(&["get", "secrets"]);
    let text = assert_success(&out, "kubectl get secrets");
    assert!(text.contains("db-creds"), "{text}");
    assert_no_secret_value(&text, "get secrets");
    env.assert_only_vigils_credential_arrived();
}

#[test]
fn secret_values_never_reach_a_watch() {
    let env = start();
    // A watch of tables (kubectl's default output).
    let out = env.kubectl(&["get", "secrets", "-w", "--request-timeout=3s"]);
    let text = all_output(&out);
    assert!(text.contains("db-creds"), "{text}");
    assert_no_secret_value(&text, "get secrets -w");
    assert!(
        !env.api.received_matching("GET", "watch=true").is_empty(),
        "kubectl did not watch: {:?}",
        env.api.received()
    );

    // A watch of whole objects: every event carries the Secret's data.
    let out = env.kubectl(&[
        "get",
        "secrets",
        "-w",
        "-o",
        "json",
        "--output-watch-events",
        "--request-timeout=3s",
    ]);
    let text = all_output(&out);
    assert!(text.contains("\"ADDED\""), "{text}");
    assert!(text.contains("password"), "{text}");
    assert_no_secret_value(&text, "get secrets -w -o json");
}

#[test]
fn create_is_denied_before_the_api_server_sees_it() {
    let env = start();
    let out = env.kubectl(&["create", "configmap", "x", "--from-literal=a=b"]);
    assert_denied(&out, "kubectl create configmap");
    assert!(
        env.api.received_matching("POST", "").is_empty(),
        "{:?}",
        env.api.received()
    );
    // The refusal is in the ledger, with its rule.
    let denied = env
        .kube_sessions()
        .iter()
        .filter_map(|s| s["id"].as_str())
        .any(|id| env.session_events(id).contains("deny"));
    assert!(denied, "no denial recorded on kube");
}

/// The agent's kubeconfig carries the agent's token and nothing of the cluster's.
#[test]
fn the_kubeconfig_holds_no_cluster_credential() {
    let env: Env = start();
    let yaml = std::fs::read_to_string(&env.kubeconfig).unwrap();
    assert!(yaml.contains(&env.agent));
    assert!(!yaml.contains(KUBE_TOKEN));
    assert!(
        !env.gw.log_text().contains(KUBE_TOKEN),
        "the cluster token was logged"
    );
}
