//! The MCP `kubernetes` tool against the Kubernetes API double: an agent without kubectl
//! lists pods, reads a Secret (its values masked, as through `/k8s/`; shown to a principal
//! whose policy says `k8s_secrets = "reveal"`), and a delete waits for a reviewer, then runs
//! once.

use serde_json::{Value, json};
use vigil_e2e::k8s_double::KubeApi;
use vigil_e2e::{Gateway, assert_success, config_with, python, stdout};

const CONFIG: &str = r#"
[[connection]]
name = "kube"
kind = "kubernetes"
url = "${KUBE_URL}"
bearer = "${KUBE_TOKEN}"

[[policy]]
name = "agents"
groups = ["agents"]
connections = ["kube"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "k8s.verb in ['get', 'list']"

  [[policy.rule]]
  name = "deletes-need-review"
  effect = "review"
  when = "k8s.verb == 'delete'"
  reviewers = ["reviewers"]
  mode = "retry"

[[policy]]
name = "ops"
groups = ["ops"]
connections = ["kube"]
k8s_secrets = "reveal"

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "k8s.verb in ['get', 'list']"
"#;

const KUBE_TOKEN: &str = "kube-sa-token-mcp";

fn call(gw: &Gateway, token: &str, args: Value) -> Value {
    let url = format!("{}/mcp", gw.http_url());
    let args = args.to_string();
    let out = python(
        "py/mcp_client.py",
        &[url.as_str(), token, "call", "kubernetes", &args],
    );
    let v: Value = serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "mcp_client.py printed no JSON ({e}): {}\n{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    v["structured"].clone()
}

#[test]
fn the_kubernetes_tool_lists_masks_and_holds() {
    let api = KubeApi::start(KUBE_TOKEN);
    let gw = Gateway::start(
        &config_with(CONFIG),
        &[("KUBE_URL", &api.url()), ("KUBE_TOKEN", KUBE_TOKEN)],
    );
    let bot = gw.token("bot", &["agents"], "agent");
    let ops = gw.token("opal", &["ops"], "human");
    let lead = gw.token("lead", &["reviewers"], "human");

    let pods = call(
        &gw,
        &bot,
        json!({"connection": "kube", "verb": "list", "resource": "pods", "namespace": "default"}),
    );
    assert_eq!(pods["status"], "ok", "{pods}");
    let body = pods["body"].to_string();
    assert!(body.contains("web-1") && body.contains("web-2"), "{pods}");

    let secret = json!({"connection": "kube", "verb": "get", "resource": "secrets",
                        "namespace": "default", "name": "db-creds"});
    let masked = call(&gw, &bot, secret.clone());
    assert_eq!(masked["status"], "ok", "{masked}");
    let text = masked.to_string();
    for value in ["aHVudGVyMg==", "YWRtaW4=", "hunter2"] {
        assert!(!text.contains(value), "{value} leaked: {text}");
    }
    assert!(text.contains("password"), "the keys stay: {text}");
    let revealed = call(&gw, &ops, secret);
    assert!(revealed.to_string().contains("aHVudGVyMg=="), "{revealed}");

    // A delete waits for a reviewer, then the same call runs once.
    let delete = json!({"connection": "kube", "verb": "delete", "resource": "pods",
                        "namespace": "default", "name": "web-2"});
    let pending = call(&gw, &bot, delete.clone());
    assert_eq!(pending["status"], "pending_approval", "{pending}");
    assert!(api.received_matching("DELETE", "web-2").is_empty());
    let id = pending["approval_id"]
        .as_str()
        .expect("approval id")
        .to_string();
    let out = gw.vigil_env(&["approvals", "approve", &id], &[("VIGIL_TOKEN", &lead)]);
    assert_success(&out, "vigil approvals approve");
    let ran = call(&gw, &bot, delete);
    assert_eq!(ran["status"], "ok", "{ran}");
    assert_eq!(api.received_matching("DELETE", "web-2").len(), 1);
    assert!(!api.pods().contains(&"web-2".to_string()));
}
