//! `vigil kubeconfig CONNECTION` against a running gateway: the YAML points kubectl at
//! `https://127.0.0.1:<port>/k8s/<connection>` with the gateway's own certificate as the
//! CA and the caller's token as the credential; kubectl reads it and verifies the
//! gateway's certificate with it; a connection the caller may not use, or that is not
//! Kubernetes, or a missing token, is a clear error.

mod k8s_common;

use base64::Engine;
use k8s_common::{KUBE_TOKEN, kubectl_command};
use serde_json::Value;
use vigil_e2e::k8s_double::KubeApi;
use vigil_e2e::{Gateway, assert_failure, assert_success, config_with, stderr};

/// `kube` granted to `agents`; `other-kube` to nobody; `api` is not Kubernetes. Only
/// `k8s.verb` is read, so the file needs no more of the front-end than its config.
const CONNECTIONS: &str = r#"
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
name = "agents"
groups = ["agents"]
connections = ["kube", "api"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "k8s.verb == 'get'"
"#;

struct Setup {
    _api: KubeApi,
    gw: Gateway,
    agent: String,
    dir: tempfile::TempDir,
}

fn setup() -> Setup {
    let api = KubeApi::start(KUBE_TOKEN);
    let gw = Gateway::start(
        &config_with(CONNECTIONS),
        &[("KUBE_URL", &api.url()), ("KUBE_TOKEN", KUBE_TOKEN)],
    );
    Setup {
        agent: gw.token("bot", &["agents"], "agent"),
        _api: api,
        gw,
        dir: tempfile::tempdir().unwrap(),
    }
}

impl Setup {
    fn kubeconfig(&self, args: &[&str]) -> std::process::Output {
        let mut all = vec!["kubeconfig"];
        all.extend_from_slice(args);
        self.gw.vigil_env(&all, &[("VIGIL_TOKEN", &self.agent)])
    }

    /// Writes `yaml` and returns kubectl's `config view --raw -o json` of it.
    fn view(&self, yaml: &str) -> Value {
        let path = self.dir.path().join("kubeconfig");
        std::fs::write(&path, yaml).unwrap();
        let out = kubectl_command(
            self.dir.path(),
            &path,
            &["config", "view", "--raw", "-o", "json"],
        )
        .output()
        .unwrap();
        serde_json::from_str(&assert_success(&out, "kubectl config view")).unwrap()
    }

    /// `kubectl get --raw /healthz` against `server` with the kubeconfig's CA: TLS with
    /// full verification, to a route of the gateway that needs no Kubernetes front-end.
    fn healthz_through(&self, yaml: &str, server: &str) -> std::process::Output {
        let path = self.dir.path().join("healthz-kubeconfig");
        let original = yaml
            .lines()
            .find(|l| l.trim_start().starts_with("server:"))
            .unwrap();
        let yaml = yaml.replace(original, &format!("    server: \"{server}\""));
        std::fs::write(&path, yaml).unwrap();
        kubectl_command(self.dir.path(), &path, &["get", "--raw", "/healthz"])
            .output()
            .unwrap()
    }
}

#[test]
fn kubeconfig_points_kubectl_at_the_gateway_over_verified_tls() {
    let s = setup();
    let out = s.kubeconfig(&["kube"]);
    let yaml = assert_success(&out, "vigil kubeconfig kube");
    let config = s.view(&yaml);

    let port = s.gw.http_port();
    assert_eq!(config["current-context"], "vigil-kube");
    let cluster = &config["clusters"][0];
    assert_eq!(cluster["name"], "vigil-kube");
    assert_eq!(
        cluster["cluster"]["server"],
        format!("https://127.0.0.1:{port}/k8s/kube")
    );
    let ca = base64::engine::general_purpose::STANDARD
        .decode(
            cluster["cluster"]["certificate-authority-data"]
                .as_str()
                .unwrap(),
        )
        .unwrap();
    let served = std::fs::read(s.gw.data_dir().join("tls-cert.pem")).unwrap();
    assert_eq!(ca, served, "the CA is the certificate the gateway serves");
    assert_eq!(config["users"][0]["user"]["token"], s.agent.as_str());
    assert_eq!(config["contexts"][0]["context"]["cluster"], "vigil-kube");
    assert_eq!(config["contexts"][0]["context"]["user"], "vigil-kube");
    assert!(
        !yaml.contains(KUBE_TOKEN),
        "the cluster's credential left the gateway"
    );

    // kubectl verifies the generated certificate for 127.0.0.1 and for localhost.
    for host in ["127.0.0.1", "localhost"] {
        let out = s.healthz_through(&yaml, &format!("https://{host}:{port}"));
        assert_eq!(assert_success(&out, "kubectl get --raw /healthz"), "ok");
    }
    // ... and refuses a certificate it was not given.
    let other = yaml.replace(
        cluster["cluster"]["certificate-authority-data"]
            .as_str()
            .unwrap(),
        &base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(vigil_e2e::TestCa::new(s.dir.path(), "other").cert()).unwrap()),
    );
    let out = s.healthz_through(&other, &format!("https://127.0.0.1:{port}"));
    let err = assert_failure(&out, "kubectl with another CA");
    assert!(err.contains("certificate"), "{err}");
    assert!(!s.gw.log_text().contains(&s.agent), "the token was logged");
}

#[test]
fn kubeconfig_takes_the_server_from_the_flag() {
    let s = setup();
    let port = s.gw.http_port();
    let server = format!("http://localhost:{port}/");
    let out = s.kubeconfig(&["kube", "--server", &server, "--token", &s.agent]);
    let config = s.view(&assert_success(&out, "vigil kubeconfig --server"));
    assert_eq!(
        config["clusters"][0]["cluster"]["server"],
        format!("https://localhost:{port}/k8s/kube")
    );
}

#[test]
fn kubeconfig_errors_say_what_is_wrong() {
    let s = setup();
    let err = assert_failure(&s.kubeconfig(&["nope"]), "unknown connection");
    assert!(err.contains("no connection named 'nope'"), "{err}");
    // Not granted: the same answer as unknown, whatever its kind.
    let err = assert_failure(&s.kubeconfig(&["other-kube"]), "ungranted connection");
    assert!(err.contains("no connection named 'other-kube'"), "{err}");
    let err = assert_failure(&s.kubeconfig(&["api"]), "http connection");
    assert!(
        err.contains("is a http connection, not kubernetes"),
        "{err}"
    );
    let reviewer = s.gw.token("alice", &["reviewers"], "human");
    let out =
        s.gw.vigil_env(&["kubeconfig", "api"], &[("VIGIL_TOKEN", &reviewer)]);
    let err = assert_failure(&out, "a connection of another kind, not granted");
    assert!(err.contains("no connection named 'api'"), "{err}");

    let out =
        s.gw.vigil_env(&["kubeconfig", "kube"], &[("VIGIL_TOKEN", "")]);
    let err = assert_failure(&out, "no token");
    assert!(err.contains("no token"), "{err}");
    let out =
        s.gw.vigil_env(&["kubeconfig", "kube"], &[("VIGIL_TOKEN", "not-a-token")]);
    let err = assert_failure(&out, "a bad token");
    assert!(err.contains("invalid credential"), "{err}");

    let help = s.gw.vigil(&["kubeconfig", "--help"]);
    let text = assert_success(&help, "vigil kubeconfig --help");
    assert!(
        text.contains("KUBECONFIG=kubeconfig kubectl get pods"),
        "{text}\n{}",
        stderr(&help)
    );
}
