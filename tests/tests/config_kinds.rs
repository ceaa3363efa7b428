//! A config asking for what `vigil serve` cannot do yet (every kind has a front-end now;
//! dialing through a connector with `via` has none): `vigil policy check` accepts it (the
//! file can be written ahead), `vigil serve` refuses to start, naming the file, line and
//! column of the `via`.
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
via = "dc1"
"#;

#[test]
fn policy_check_accepts_a_connector_dial_that_serve_refuses_at_its_via() {
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
            panic!("vigil serve started with a connection it cannot dial");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = serve.wait_with_output().unwrap();
    let err = assert_failure(&out, "vigil serve");
    assert!(
        err.contains(&format!(
            "{config}:19:7: connection `prod`: `via = \"dc1\"` (dialing through a connector) is not supported yet by `vigil serve`"
        )),
        "{}",
        stderr(&out)
    );
}
