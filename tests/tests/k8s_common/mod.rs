//! What the Kubernetes end-to-end tests share: the API server double, a gateway in front of
//! it with the `kube` connection and its policy, a kubeconfig from `vigil kubeconfig`, the
//! real kubectl, and a reviewer's approvals.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;
use vigil_e2e::k8s_double::KubeApi;
use vigil_e2e::{Gateway, assert_success, config_with};

/// The API server's credential, which only Vigil holds.
pub const KUBE_TOKEN: &str = "kube-sa-token-4b1d";

/// `kube`: the double behind Vigil, and what the group `agents` may do there. `other-kube`
/// is granted to nobody and `api` is not Kubernetes (for `vigil kubeconfig`'s errors).
pub const CONNECTIONS: &str = r#"
[[connection]]
name = "kube"
kind = "kubernetes"
url = "${KUBE_URL}"
bearer = "${KUBE_TOKEN}"

[[connection]]
name = "other-kube"
kind = "kubernetes"
url = "${KUBE_URL}"
bearer = "${KUBE_TOKEN}"

[[connection]]
name = "api"
kind = "http"
url = "${KUBE_URL}"

[[policy]]
name = "agents-on-kube"
groups = ["agents"]
connections = ["kube", "api"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "k8s.verb in ['get', 'list', 'watch']"

  [[policy.rule]]
  name = "deletes-need-review"
  effect = "review"
  when = "k8s.verb == 'delete'"
  reviewers = ["reviewers"]

  [[policy.rule]]
  name = "exec-echo"
  effect = "allow"
  when = "k8s.verb == 'exec' && k8s.exec.command[0] == 'echo'"

  [[policy.rule]]
  name = "exec-hostname-review"
  effect = "review"
  when = "k8s.verb == 'exec' && k8s.exec.command[0] == 'hostname'"
  reviewers = ["reviewers"]

[[policy]]
name = "ops-on-kube"
groups = ["ops"]
connections = ["kube"]
k8s_secrets = "reveal"

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "k8s.verb in ['get', 'list', 'watch']"

  [[policy.rule]]
  name = "impersonate-viewer"
  effect = "allow"
  when = "k8s.verb == 'impersonate' && k8s.resource == 'users' && k8s.name == 'viewer'"

  [[policy.rule]]
  name = "provable-echo"
  effect = "allow"
  when = "k8s.verb == 'exec' && !k8s.exec.opaque && k8s.exec.argv0 == 'echo'"
"#;

/// kubectl (1.30 or later, for exec over WebSocket): `KUBECTL` if set, else the one on
/// PATH. Panics with what to do when there is none.
pub fn kubectl_bin() -> String {
    static CHECKED: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    CHECKED.get_or_init(find_kubectl).clone()
}

fn find_kubectl() -> String {
    let bin = std::env::var("KUBECTL").unwrap_or_else(|_| "kubectl".to_string());
    let found = Command::new(&bin)
        .args(["version", "--client"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        found,
        "kubectl not found ({bin}): the Kubernetes tests drive the real kubectl; put it on \
         PATH or set KUBECTL"
    );
    bin
}

pub struct Env {
    pub api: KubeApi,
    pub gw: Gateway,
    /// Group `agents` (the kubeconfig's user).
    pub agent: String,
    /// Group `reviewers`.
    pub reviewer: String,
    /// Group `admins` (reads sessions and replays).
    pub admin: String,
    /// kubectl's home, cache and kubeconfig.
    pub dir: TempDir,
    pub kubeconfig: PathBuf,
}

/// The double, the gateway in front of it, three tokens and the agent's kubeconfig.
pub fn start() -> Env {
    let api = KubeApi::start(KUBE_TOKEN);
    let url = api.url();
    let gw = Gateway::start(
        &config_with(CONNECTIONS),
        &[("KUBE_URL", &url), ("KUBE_TOKEN", KUBE_TOKEN)],
    );
    let agent = gw.token("bot", &["agents"], "agent");
    let dir = tempfile::Builder::new()
        .prefix("vigil-kubectl-")
        .tempdir()
        .expect("kubectl temp dir");
    let out = gw.vigil_env(&["kubeconfig", "kube"], &[("VIGIL_TOKEN", &agent)]);
    let yaml = assert_success(&out, "vigil kubeconfig kube");
    let kubeconfig = dir.path().join("kubeconfig");
    std::fs::write(&kubeconfig, format!("{yaml}\n")).expect("write the kubeconfig");
    Env {
        reviewer: gw.token("alice", &["reviewers"], "human"),
        admin: gw.token("root", &["admins"], "human"),
        agent,
        api,
        gw,
        dir,
        kubeconfig,
    }
}

/// `kubectl --kubeconfig FILE ARGS` with its own home and discovery cache in `home`.
pub fn kubectl_command(home: &Path, kubeconfig: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(kubectl_bin());
    cmd.env("HOME", home)
        .env_remove("KUBECONFIG")
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--cache-dir")
        .arg(home.join("cache"))
        .args(args)
        .stdin(Stdio::null());
    cmd
}

impl Env {
    /// Runs kubectl through Vigil with the agent's kubeconfig.
    pub fn kubectl(&self, args: &[&str]) -> Output {
        kubectl_command(self.dir.path(), &self.kubeconfig, args)
            .output()
            .expect("could not run kubectl")
    }

    /// Starts kubectl (for a request that will be held); collect it with `wait_with_output`.
    pub fn spawn_kubectl(&self, args: &[&str]) -> Child {
        kubectl_command(self.dir.path(), &self.kubeconfig, args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("could not start kubectl")
    }

    /// `vigil ARGS` with `token` as VIGIL_TOKEN.
    pub fn vigil_as(&self, token: &str, args: &[&str]) -> Output {
        self.gw.vigil_env(args, &[("VIGIL_TOKEN", token)])
    }

    /// Waits (30 s at most) for a pending request of `bot` that the reviewer sees in
    /// `vigil approvals list`, and returns it (id, rule, statement...).
    pub fn pending_approval(&self) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let out = self.vigil_as(&self.reviewer, &["approvals", "list", "--json"]);
            let text = assert_success(&out, "vigil approvals list");
            let v: Value = serde_json::from_str(&text).expect("approvals json");
            if let Some(a) = v["approvals"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["principal"] == "bot" && a["status"] == "pending")
            {
                return a.clone();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no pending request appeared\n{}", self.gw.log_text());
    }

    /// `vigil approvals approve ID` as the reviewer.
    pub fn approve(&self, id: &str) {
        let out = self.vigil_as(&self.reviewer, &["approvals", "approve", id]);
        assert_success(&out, "vigil approvals approve");
    }

    /// The gateway's sessions on `kube`, as an admin lists them (newest first).
    pub fn kube_sessions(&self) -> Vec<Value> {
        let out = self.vigil_as(&self.admin, &["sessions", "list", "--json"]);
        let text = assert_success(&out, "vigil sessions list");
        let body: Value = serde_json::from_str(&text).expect("sessions json");
        body["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|s| s["connection"] == "kube")
            .cloned()
            .collect()
    }

    /// `vigil sessions show ID --json` as an admin.
    pub fn session_events(&self, id: &str) -> String {
        let out = self.vigil_as(&self.admin, &["sessions", "show", id, "--json"]);
        assert_success(&out, "vigil sessions show")
    }

    /// Panics unless no request the double received carries the agent's token, the
    /// reviewer's, or an `Impersonate-*` field; and every one carried Vigil's bearer (true
    /// of no request at all: check that something arrived where it matters).
    pub fn assert_only_vigils_credential_arrived(&self) {
        let expected = format!("Bearer {KUBE_TOKEN}");
        let received = self.api.received();
        for r in &received {
            assert_eq!(
                r.header("authorization"),
                vec![expected.as_str()],
                "{} {}",
                r.method,
                r.target
            );
            for (name, value) in &r.headers {
                assert!(
                    !name.starts_with("impersonate-"),
                    "{name} reached the API server"
                );
                assert!(
                    !value.contains(&self.agent) && !value.contains(&self.reviewer),
                    "a Vigil token reached the API server in {name}"
                );
            }
        }
    }
}

/// Panics unless kubectl failed with Vigil's refusal (`vigil: denied by rule`).
#[track_caller]
pub fn assert_denied(out: &Output, what: &str) {
    let err = vigil_e2e::assert_failure(out, what);
    assert!(
        err.contains("vigil: denied by rule"),
        "{what}: kubectl should print Vigil's refusal, printed:\n{err}"
    );
}

/// All kubectl printed (stdout and stderr).
pub fn all_output(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
