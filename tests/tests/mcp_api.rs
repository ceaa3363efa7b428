//! The MCP `http_request` and `kubernetes` tools through the official MCP Python SDK, against
//! the logging HTTP origin: listed only for principals granted such a connection, ok with the
//! origin's answer and Vigil's credential injected, denied with nothing sent, pending_approval
//! then sent once after approval (and only the approved request), masked JSON, and the
//! Kubernetes path built as kubectl would send it. The origin stands in for the Kubernetes API
//! server (it echoes the request line as text): enough to see the path policy read and that an
//! answer on Secrets must be masked JSON, not a full API server.

use serde_json::{Value, json};
use vigil_e2e::http_upstream::Upstream;
use vigil_e2e::{Gateway, config_with, python, stdout};

const CONFIG: &str = r#"
[[connection]]
name = "api"
kind = "http"
url = "${API_URL}"
bearer = "${API_TOKEN}"

[[connection]]
name = "pii"
kind = "http"
url = "${API_URL}"

[[connection]]
name = "kube"
kind = "kubernetes"
url = "${API_URL}"
bearer = "${API_TOKEN}"

[[policy]]
name = "agents"
groups = ["agents"]
connections = ["api"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "http.method == 'GET'"

  [[policy.rule]]
  name = "no-deletes"
  effect = "deny"
  when = "http.method == 'DELETE'"
  reason = "nothing is deleted through the proxy"

  [[policy.rule]]
  name = "orders-need-review"
  effect = "review"
  when = "http.method == 'POST' && http.path.startsWith('/orders')"
  reviewers = ["reviewers"]

[[policy]]
name = "masked-reads"
groups = ["agents"]
connections = ["pii"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "http.method == 'GET'"

  [[policy.mask]]
  detectors = ["email", "credit_card"]
  style = "redact"

  [[policy.mask]]
  json_paths = ["$.name"]
  style = "null"

[[policy]]
name = "kube-readers"
groups = ["agents"]
connections = ["kube"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "k8s.verb in ['get', 'list'] && k8s.namespace == 'default'"

  [[policy.rule]]
  name = "no-deletes"
  effect = "deny"
  when = "k8s.verb == 'delete'"
"#;

const API_TOKEN: &str = "upstream-secret-7f3a";

fn mcp(gw: &Gateway, token: &str, args: &[&str]) -> Value {
    let url = format!("{}/mcp", gw.http_url());
    let mut all = vec![url.as_str(), token];
    all.extend_from_slice(args);
    let out = python("py/mcp_client.py", &all);
    serde_json::from_str(&stdout(&out)).unwrap_or_else(|e| {
        panic!(
            "mcp_client.py printed no JSON ({e}): {}\n{}",
            stdout(&out),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn call(gw: &Gateway, token: &str, tool: &str, args: Value) -> Value {
    mcp(gw, token, &["call", tool, &args.to_string()])["structured"].clone()
}

fn tool_names(tools: &Value) -> Vec<String> {
    tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .filter_map(|t| t["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn http_request_and_kubernetes_answer_ok_denied_pending_and_masked() {
    let origin = Upstream::start();
    let gw = Gateway::start(
        &config_with(CONFIG),
        &[("API_URL", &origin.url()), ("API_TOKEN", API_TOKEN)],
    );
    let bot = gw.token("bot", &["agents"], "agent");
    let lead = gw.token("lead", &["reviewers"], "human");

    // Listed per principal, each with only its own kind of connection.
    let tools = mcp(&gw, &bot, &["tools"]);
    let names = tool_names(&tools);
    for t in ["http_request", "kubernetes", "approval_status"] {
        assert!(names.iter().any(|n| n == t), "{t}: {names:?}");
    }
    let schema = |name: &str| {
        tools["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"] == name)
            .map(|t| t["input_schema"]["properties"]["connection"]["enum"].clone())
            .unwrap_or_default()
    };
    assert_eq!(schema("http_request"), json!(["api", "pii"]));
    assert_eq!(schema("kubernetes"), json!(["kube"]));
    let stranger = gw.token("stranger", &["nobody"], "agent");
    let names = tool_names(&mcp(&gw, &stranger, &["tools"]));
    assert!(
        !names
            .iter()
            .any(|n| n == "http_request" || n == "kubernetes"),
        "{names:?}"
    );

    // ok: the origin's answer, Vigil's credential injected.
    let ok = call(
        &gw,
        &bot,
        "http_request",
        json!({"connection": "api", "method": "GET", "path": "/items?x=1"}),
    );
    assert_eq!(ok["status"], "ok", "{ok}");
    assert_eq!(ok["http_status"], 200);
    assert_eq!(ok["body"], "ok GET /items?x=1");
    assert_eq!(ok["truncated"], false);
    let got = origin.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].header("authorization"),
        [format!("Bearer {API_TOKEN}").as_str()]
    );

    // denied: nothing reaches the origin.
    origin.clear();
    let denied = call(
        &gw,
        &bot,
        "http_request",
        json!({"connection": "api", "method": "DELETE", "path": "/items/1"}),
    );
    assert_eq!(denied["status"], "denied", "{denied}");
    assert_eq!(denied["rule"], "no-deletes");
    assert!(origin.received().is_empty(), "{:?}", origin.received());

    // pending_approval, then the approved request (and only it) runs once.
    let order =
        json!({"connection": "api", "method": "POST", "path": "/orders", "body": "{\"n\":1}"});
    let pending = call(&gw, &bot, "http_request", order.clone());
    assert_eq!(pending["status"], "pending_approval", "{pending}");
    assert!(
        pending["next"]
            .as_str()
            .unwrap_or_default()
            .contains("call http_request again"),
        "{pending}"
    );
    assert!(origin.received().is_empty(), "sent before approval");
    let id = pending["approval_id"].as_str().expect("approval id");
    let out = gw.vigil_env(&["approvals", "approve", id], &[("VIGIL_TOKEN", &lead)]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut other = order.clone();
    other["body"] = json!("{\"n\":1000}");
    let other = call(&gw, &bot, "http_request", other);
    assert_eq!(other["status"], "pending_approval", "another body: {other}");
    assert!(origin.received().is_empty(), "another request passed");
    let ran = call(&gw, &bot, "http_request", order.clone());
    assert_eq!(ran["status"], "ok", "{ran}");
    assert_eq!(ran["body"], "ok POST /orders");
    let again = call(&gw, &bot, "http_request", order);
    assert_eq!(again["status"], "pending_approval", "ran twice: {again}");
    let got = origin.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].body, b"{\"n\":1}");
    assert_eq!(got[0].header("content-type"), ["application/json"]);

    // A masked connection's JSON comes back masked; what cannot be masked is an error.
    let masked = call(
        &gw,
        &bot,
        "http_request",
        json!({"connection": "pii", "method": "GET", "path": "/json/person"}),
    );
    assert_eq!(masked["status"], "ok", "{masked}");
    assert_eq!(masked["body"]["name"], Value::Null, "{masked}");
    let text = masked.to_string();
    for leak in ["ada@example.com", "bob@example.org", "4111 1111 1111 1111"] {
        assert!(!text.contains(leak), "{leak} in {text}");
    }
    assert!(
        masked["masked"]["values"].as_u64().unwrap_or(0) >= 1,
        "{masked}"
    );
    let binary = call(
        &gw,
        &bot,
        "http_request",
        json!({"connection": "pii", "method": "GET", "path": "/big/64"}),
    );
    assert_eq!(binary["status"], "error", "{binary}");

    // kubernetes: the path kubectl would send, analysed as /k8s/ does.
    origin.clear();
    let list = call(
        &gw,
        &bot,
        "kubernetes",
        json!({"connection": "kube", "verb": "list", "resource": "pods",
               "namespace": "default", "label_selector": "app=web"}),
    );
    assert_eq!(list["status"], "ok", "{list}");
    assert_eq!(
        list["body"],
        "ok GET /api/v1/namespaces/default/pods?labelSelector=app%3Dweb"
    );
    let got = origin.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(
        got[0].header("authorization"),
        [format!("Bearer {API_TOKEN}").as_str()]
    );
    assert_eq!(got[0].header("accept"), ["application/json"]);
    // Outside the namespace policy allows: denied by default.
    let other_ns = call(
        &gw,
        &bot,
        "kubernetes",
        json!({"connection": "kube", "verb": "list", "resource": "pods", "namespace": "kube-system"}),
    );
    assert_eq!(other_ns["status"], "denied", "{other_ns}");
    // A Secret's answer must be masked JSON: the origin's text is refused, not relayed.
    let secret = call(
        &gw,
        &bot,
        "kubernetes",
        json!({"connection": "kube", "verb": "get", "resource": "secrets",
               "namespace": "default", "name": "db"}),
    );
    assert_eq!(secret["status"], "error", "{secret}");
    assert!(
        secret["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("must be masked"),
        "{secret}"
    );
    assert!(!secret.to_string().contains("ok GET"), "{secret}");
    let delete = call(
        &gw,
        &bot,
        "kubernetes",
        json!({"connection": "kube", "verb": "delete", "resource": "pods",
               "namespace": "default", "name": "web-1"}),
    );
    assert_eq!(delete["status"], "denied", "{delete}");
    assert_eq!(delete["rule"], "no-deletes");
    for bad in [
        json!({"connection": "kube", "verb": "watch", "resource": "pods", "namespace": "default"}),
        json!({"connection": "kube", "verb": "get", "resource": "pods", "namespace": "default",
               "name": "web-1", "subresource": "exec"}),
        json!({"connection": "kube", "verb": "get", "resource": "pods", "namespace": "default",
               "name": "../../secrets"}),
    ] {
        let r = call(&gw, &bot, "kubernetes", bad.clone());
        assert_eq!(r["status"], "error", "{bad}: {r}");
    }
    // Two requests reached the origin: the list and the Secret (refused on its answer).
    let got = origin.received();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[1].target, "/api/v1/namespaces/default/secrets/db");
}
