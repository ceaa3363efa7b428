//! A config naming a connection kind that has no front-end yet: `vigil policy
//! check` accepts it (the file can be written ahead), `vigil serve` refuses to
//! start, naming the file, line and column of the `kind`.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use vigil_e2e::{assert_failure, assert_success, stderr, vigil_bin};

const CONFIG: &str = r#"[server]
data_dir = "DATA"

[listen]
postgres = "127.0.0.1:0"

[[connection]]
name = "shop"
kind = "postgres"
address = "127.0.0.1:5432"
database = "shop"
user = "app"

[[connection]]
name = "prod"
kind = "kubernetes"
url = "https://10.0.0.9:6443"
bearer = "secret"
"#;

#[test]
fn policy_check_accepts_a_kubernetes_connection_that_serve_refuses_at_its_kind() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("vigil.toml");
    std::fs::write(&config, CONFIG.replace("DATA", &data.display().to_string())).unwrap();
    let config = config.display().to_string();

    let check = Command::new(vigil_bin())
        .args(["policy", "check", "--config", &config])
        .output()
        .unwrap();
    let out = assert_success(&check, "vigil policy check");
    assert!(out.contains("ok (2 connections"), "{out}");

    let mut serve = Command::new(vigil_bin())
        .args(["serve", "--config", &config])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while serve.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = serve.kill();
            panic!("vigil serve started with a kubernetes connection it cannot serve");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = serve.wait_with_output().unwrap();
    let err = assert_failure(&out, "vigil serve");
    assert!(
        err.contains(&format!(
            "{config}:16:8: connection `prod`: kind `kubernetes` is not supported yet by `vigil serve` (it serves: postgres, mysql, ssh, http)"
        )),
        "{}",
        stderr(&out)
    );
}
