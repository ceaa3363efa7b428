//! Every SSH channel is recorded as asciicast v2 under `data_dir/recordings/<session>/`, its
//! SHA-256 is in the ledger event that closes the channel, the `asciinema` package's own
//! parser reads it, `vigil replay` plays it back, and a required recording that cannot be
//! written refuses the channel before anything reaches the target.

mod ssh_common;

use std::process::Command;

use serde_json::Value;
use ssh_common::env;
use vigil_e2e::{ssh_exec, stderr, stdout};

/// The only session of the gateway, as an admin lists it.
fn only_session(e: &ssh_common::Env, admin: &str) -> String {
    let out =
        e.gw.vigil_env(&["sessions", "list", "--json"], &[("VIGIL_TOKEN", admin)]);
    let body: Value = serde_json::from_str(&stdout(&out)).expect("sessions json");
    let sessions = body["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{body}");
    sessions[0]["id"].as_str().expect("id").to_string()
}

/// `asciinema cat` without a terminal: the `asciinema` package's own reader (Debian's
/// `asciinema`), printing every output event.
const ASCIINEMA_CAT: &str = r#"
import sys
from asciinema import asciicast
with asciicast.open_from_url(sys.argv[1]) as a:
    sys.stdout.write("".join(text for _, _, text in a.stdout_events()))
"#;

fn sha256_hex(path: &std::path::Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum");
    stdout(&out)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn an_exec_is_recorded_hashed_in_the_ledger_and_replayed() {
    let e = env();
    let admin = e.gw.token("root", &["admins"], "human");
    let out = ssh_exec(e.port, "web1", &e.bot, "echo 'first line' 'and €uro'");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let id = only_session(&e, &admin);

    // The file is where the contract says, and asciinema's own parser reads it.
    let dir = e.gw.data_dir().join("recordings").join(&id);
    let cast = std::fs::read_dir(&dir)
        .expect("recordings dir")
        .flatten()
        .map(|d| d.path())
        .find(|p| p.extension().is_some_and(|x| x == "cast"))
        .expect("a .cast file");
    // Debian's python3, where the `asciinema` package lives (not a venv's).
    let parsed = Command::new("/usr/bin/python3")
        .args(["-c", ASCIINEMA_CAT])
        .arg(&cast)
        .output()
        .expect("/usr/bin/python3");
    assert!(
        parsed.status.success(),
        "asciinema's parser: {}",
        stderr(&parsed)
    );
    assert_eq!(
        String::from_utf8_lossy(&parsed.stdout),
        "first line and €uro\n"
    );

    // The ledger event that closes the channel names the file and its SHA-256.
    let shown = e.gw.vigil_env(
        &["sessions", "show", &id, "--json"],
        &[("VIGIL_TOKEN", &admin)],
    );
    let ledger = stdout(&shown);
    let digest = sha256_hex(&cast);
    assert!(
        ledger.contains(&format!("sha256 {digest}")),
        "the ledger does not carry the recording's digest {digest}: {ledger}"
    );
    assert!(ledger.contains("exit 0"), "{ledger}");

    // `vigil replay --no-wait` dumps the output; the decision marker goes to stderr.
    let replay =
        e.gw.vigil_env(&["replay", &id, "--no-wait"], &[("VIGIL_TOKEN", &admin)]);
    assert!(replay.status.success(), "{}", stderr(&replay));
    assert_eq!(stdout(&replay), "first line and €uro");
    assert!(
        stderr(&replay).contains("vigil: allowed"),
        "{}",
        stderr(&replay)
    );
}

#[test]
fn a_required_recording_that_cannot_be_written_refuses_the_channel() {
    let e = env();
    // A file where the recordings directory would go: no recording can be made.
    std::fs::write(e.gw.data_dir().join("recordings"), "not a directory").expect("blocker");
    let canary = e.sshd.scratch().join("canary");
    let out = ssh_exec(e.port, "web1", &e.bot, &format!("cat {}", canary.display()));
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("cannot be recorded"),
        "{}",
        stderr(&out)
    );
    assert!(
        !e.sshd.log_text().contains("Accepted publickey"),
        "Vigil reached the target without a recording"
    );
}
