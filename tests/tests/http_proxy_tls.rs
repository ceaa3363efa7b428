//! The HTTP proxy's TLS to the API: the API's certificate must chain to
//! the connection's `ca_file` (another CA is refused, nothing relayed),
//! and a connection with `client_cert_file` presents that certificate to an
//! API that requires one. The APIs are `openssl s_server -www`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigil_e2e::{Gateway, TestCa, config_with, free_port};

/// An `openssl s_server -www` on a loopback port, stopped on drop.
struct TlsServer {
    child: Child,
    port: u16,
}

impl TlsServer {
    fn start(
        cert: &std::path::Path,
        key: &std::path::Path,
        client_ca: Option<&std::path::Path>,
    ) -> TlsServer {
        let port = free_port();
        let mut cmd = Command::new("openssl");
        cmd.args(["s_server", "-quiet", "-www", "-accept"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("-cert")
            .arg(cert)
            .arg("-key")
            .arg(key);
        if let Some(ca) = client_ca {
            cmd.arg("-Verify").arg("1").arg("-CAfile").arg(ca);
        }
        let child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("openssl s_server");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "s_server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        TlsServer { child, port }
    }
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn get(gw: &Gateway, token: &str, connection: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "30", "-w", "\n%{http_code}", "-H"])
        .arg(format!("Authorization: Bearer {token}"))
        .arg(format!("{}/proxy/{connection}/", gw.http_url()))
        .output()
        .expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    (status.trim().parse().unwrap_or(0), body.to_string())
}

#[test]
fn the_apis_certificate_must_chain_to_ca_file_and_a_client_certificate_is_presented() {
    let dir = tempfile::tempdir().unwrap();
    let api_ca = TestCa::new(dir.path(), "api");
    let other_ca = TestCa::new(dir.path(), "other");
    let client_ca = TestCa::new(dir.path(), "clients");
    let server = api_ca.issue_server("api");
    let client = client_ca.issue_client("vigil");
    let plain = TlsServer::start(&server.cert, &server.key, None);
    let mutual = TlsServer::start(&server.cert, &server.key, Some(client_ca.cert()));

    let config = format!(
        r#"
[[connection]]
name = "good-ca"
kind = "http"
url = "https://localhost:{plain}"
ca_file = "{api_ca}"

[[connection]]
name = "wrong-ca"
kind = "http"
url = "https://localhost:{plain}"
ca_file = "{other_ca}"

[[connection]]
name = "mtls"
kind = "http"
url = "https://localhost:{mutual}"
ca_file = "{api_ca}"
client_cert_file = "{client_cert}"
client_key_file = "{client_key}"

[[connection]]
name = "mtls-without-cert"
kind = "http"
url = "https://localhost:{mutual}"
ca_file = "{api_ca}"

[[policy]]
name = "reads"
groups = ["agents"]

  [[policy.rule]]
  name = "gets"
  effect = "allow"
  when = "http.method == 'GET'"
"#,
        plain = plain.port,
        mutual = mutual.port,
        api_ca = api_ca.cert().display(),
        other_ca = other_ca.cert().display(),
        client_cert = client.cert.display(),
        client_key = client.key.display(),
    );
    let gw = Gateway::start(&config_with(&config), &[]);
    let token = gw.token("bot", &["agents"], "agent");

    let (status, body) = get(&gw, &token, "good-ca");
    assert_eq!(status, 200, "{body}\n{}", gw.log_text());
    assert!(body.contains("s_server"), "{body}");

    let (status, body) = get(&gw, &token, "wrong-ca");
    assert_eq!(status, 502, "{body}");
    assert!(!body.contains("s_server"), "{body}");

    let (status, body) = get(&gw, &token, "mtls");
    assert_eq!(status, 200, "{body}\n{}", gw.log_text());
    assert!(body.contains("s_server"), "{body}");

    let (status, body) = get(&gw, &token, "mtls-without-cert");
    assert_eq!(status, 502, "{body}");
}
