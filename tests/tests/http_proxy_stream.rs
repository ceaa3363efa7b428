//! Request bodies through the HTTP proxy: streamed to the origin as they arrive when nothing
//! reads or binds them (no rule reads `http.body`, policy allows the request outright), so a
//! body larger than the 16 MiB Vigil would hold in memory passes; read whole (and bounded)
//! when policy holds the request for review, whose approval binds the body.

use std::process::{Command, Stdio};

use vigil_e2e::http_upstream::Upstream;
use vigil_e2e::{Gateway, config_with};

const CONFIG: &str = r#"
[[connection]]
name = "files"
kind = "http"
url = "${API_URL}"

[[policy]]
name = "agents"
groups = ["agents"]
connections = ["files"]

  [[policy.rule]]
  name = "uploads"
  effect = "allow"
  when = "http.method == 'POST' && http.path.startsWith('/upload')"

  [[policy.rule]]
  name = "held-uploads"
  effect = "review"
  when = "http.method == 'POST' && http.path.startsWith('/held')"
  reviewers = ["reviewers"]
  mode = "retry"
"#;

const BODY_BYTES: usize = 20 * 1024 * 1024;

/// POSTs `BODY_BYTES` from a file through the proxy (chunked, or with its length): the status.
fn upload(gw: &Gateway, token: &str, path: &str, file: &std::path::Path, chunked: bool) -> u16 {
    let mut cmd = Command::new("curl");
    cmd.args([
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "120",
    ])
    .args(["-H", &format!("Authorization: Bearer {token}")])
    .args(["-H", "Content-Type: application/octet-stream"]);
    if chunked {
        cmd.args(["-H", "Transfer-Encoding: chunked"]);
    }
    let out = cmd
        .arg("--data-binary")
        .arg(format!("@{}", file.display()))
        .arg(format!("{}/proxy/files{path}", gw.http_url()))
        .stdin(Stdio::null())
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

#[test]
fn an_allowed_body_streams_past_the_buffered_bound_and_a_held_one_does_not() {
    let origin = Upstream::start();
    let gw = Gateway::start(&config_with(CONFIG), &[("API_URL", &origin.url())]);
    let bot = gw.token("bot", &["agents"], "agent");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("body.bin");
    let data: Vec<u8> = (0..BODY_BYTES).map(|i| (i % 251) as u8).collect();
    std::fs::write(&file, &data).expect("write the body");

    for chunked in [true, false] {
        origin.clear();
        assert_eq!(
            upload(&gw, &bot, "/upload/a", &file, chunked),
            200,
            "chunked {chunked}"
        );
        let got = origin.received();
        assert_eq!(got.len(), 1, "chunked {chunked}");
        assert_eq!(got[0].body.len(), BODY_BYTES, "chunked {chunked}");
        assert!(
            got[0].body == data,
            "the body arrived changed (chunked {chunked})"
        );
    }

    // Held for review: the approval binds the body, so it is read whole, and past 16 MiB
    // it is refused before anything reaches the origin.
    origin.clear();
    assert_eq!(upload(&gw, &bot, "/held/a", &file, true), 413);
    assert!(
        origin.received().is_empty(),
        "{:?}",
        origin.received().len()
    );
}
