//! What the HTTP proxy's end-to-end tests share: a real origin that logs every request it
//! receives, a gateway in front of it, curl and a raw client, and the approvals and ledger
//! as an admin reads them.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use vigil_e2e::http_upstream::Upstream;
use vigil_e2e::{Gateway, assert_success, config_with};

pub const CONNECTIONS: &str = r#"
[[connection]]
name = "api"
kind = "http"
url = "${API_URL}"
bearer = "${API_TOKEN}"

[[connection]]
name = "pii"
kind = "http"
url = "${API_URL}"
bearer = "${API_TOKEN}"

[[connection]]
name = "graph"
kind = "http"
url = "${API_URL}"
graphql = true

[[policy]]
name = "graph-readers"
groups = ["agents"]
connections = ["graph"]

  [[policy.rule]]
  name = "queries"
  effect = "allow"
  when = "http.graphql.operation == 'query'"

[[policy]]
name = "agents"
groups = ["agents"]
connections = ["api"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "http.method == 'GET' || http.method == 'HEAD'"

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

  [[policy.rule]]
  name = "small-updates"
  effect = "allow"
  when = "http.method == 'PUT' && http.body.amount < 100"

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
  json_paths = ["$.name", "$.items[*].owner"]
  style = "null"
"#;

/// The origin's credential, which only Vigil holds.
pub const API_TOKEN: &str = "upstream-secret-7f3a";

pub struct Env {
    pub origin: Upstream,
    pub gw: Gateway,
    pub agent: String,
    pub reviewer: String,
    pub admin: String,
}

pub fn start() -> Env {
    let origin = Upstream::start();
    let url = origin.url();
    let gw = Gateway::start(
        &config_with(CONNECTIONS),
        &[("API_URL", &url), ("API_TOKEN", API_TOKEN)],
    );
    Env {
        agent: gw.token("bot", &["agents"], "agent"),
        reviewer: gw.token("alice", &["reviewers"], "human"),
        admin: gw.token("root", &["admins"], "human"),
        origin,
        gw,
    }
}

impl Env {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.gw.http_url())
    }

    /// curl with the agent's token as a bearer; returns (status, headers, body).
    pub fn curl(&self, path: &str, args: &[&str]) -> (u16, String, String) {
        let auth = format!("Authorization: Bearer {}", self.agent);
        let mut all = vec!["-H", auth.as_str()];
        all.extend_from_slice(args);
        curl(&self.url(path), &all)
    }
}

/// `curl -s -D - URL ARGS`: the status, the response head and the body.
pub fn curl(url: &str, args: &[&str]) -> (u16, String, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "60", "-D", "-", "-o", "-"])
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("curl");
    split_response(&out)
}

pub fn split_response(out: &Output) -> (u16, String, String) {
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "no status in {text:?}; stderr {}",
                String::from_utf8_lossy(&out.stderr)
            )
        });
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// A raw request on a new connection (for what curl will not send).
pub fn raw(port: u16, request: &str) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut text = Vec::new();
    let _ = s.read_to_end(&mut text);
    let text = String::from_utf8_lossy(&text).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {text:?}"));
    (status, text)
}

/// Waits for the agent's pending request and returns its id.
pub fn pending_approval(env: &Env) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        let out = env.gw.vigil_env(
            &["approvals", "list", "--all", "--json"],
            &[("VIGIL_TOKEN", &env.admin)],
        );
        let text = assert_success(&out, "vigil approvals list");
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        if let Some(a) = v["approvals"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["principal"] == "bot" && a["status"] == "pending")
        {
            return a["id"].as_str().unwrap().to_string();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("no pending request appeared\n{}", env.gw.log_text());
}

/// The events of every session, as an admin reads them.
pub fn ledger_text(env: &Env) -> String {
    let out = env
        .gw
        .vigil_env(&["sessions", "list"], &[("VIGIL_TOKEN", &env.admin)]);
    let list = assert_success(&out, "vigil sessions list");
    let mut text = String::new();
    for id in list
        .split_whitespace()
        .filter(|w| w.contains('-') && w.len() > 20)
    {
        let out = env.gw.vigil_env(
            &["sessions", "show", id, "--json"],
            &[("VIGIL_TOKEN", &env.admin)],
        );
        text.push_str(&String::from_utf8_lossy(&out.stdout));
    }
    text
}
