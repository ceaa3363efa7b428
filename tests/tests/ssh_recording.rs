//! Every SSH channel is recorded as asciicast v2 under `data_dir/recordings/<session>/`, its
//! SHA-256 is in the ledger event that closes the channel, the `asciinema` package's own
//! parser reads it, `vigil replay` plays it back, and a required recording that cannot be
//! written refuses the channel before anything reaches the target. With `record_input = true`
//! (only there) the client's input is in the recording too, as "i" events.

mod ssh_common;

use std::io::Write;
use std::process::{Command, Stdio};

use serde_json::Value;
use ssh_common::{Env, env, ledger_with, run_with_stdin};
use vigil_e2e::{ssh_command, ssh_exec, stderr, stdout};

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

/// The `.cast` files of the gateway's sessions.
fn recordings(e: &Env) -> Vec<String> {
    let root = e.gw.data_dir().join("recordings");
    let mut casts = Vec::new();
    for session in std::fs::read_dir(&root).into_iter().flatten().flatten() {
        for file in std::fs::read_dir(session.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            if file.path().extension().is_some_and(|x| x == "cast") {
                casts.push(std::fs::read_to_string(file.path()).expect("cast"));
            }
        }
    }
    casts
}

fn input_events(cast: &str) -> Vec<String> {
    cast.lines()
        .skip(1)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v[1] == "i")
        .filter_map(|v| v[2].as_str().map(str::to_string))
        .collect()
}

#[test]
fn input_is_recorded_only_where_the_connection_asks_for_it() {
    let e = env();
    let admin = e.gw.token("root", &["admins"], "human");
    let typed = b"typed into vigil\n";

    // `web1` does not record input.
    let out = run_with_stdin(ssh_command(e.port, "web1", &e.bot).arg("cat"), typed);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "typed into vigil");
    ledger_with(&e, &admin, "raw_sha256");
    let casts = recordings(&e);
    assert_eq!(casts.len(), 1);
    assert!(input_events(&casts[0]).is_empty(), "{}", casts[0]);
    assert!(
        !casts[0]
            .lines()
            .next()
            .unwrap_or_default()
            .contains("\"vigil\"")
    );

    // `web1-input` (`record_input = true`) does, says so in the header, and the ledger
    // carries the SHA-256 of the input bytes.
    let out = run_with_stdin(ssh_command(e.port, "web1-input", &e.bot).arg("cat"), typed);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let ledger = ledger_with(&e, &admin, "input_sha256");
    let casts = recordings(&e);
    let with_input: Vec<&String> = casts
        .iter()
        .filter(|c| {
            c.lines()
                .next()
                .is_some_and(|h| h.contains("\"vigil\":{\"input\":true}"))
        })
        .collect();
    assert_eq!(with_input.len(), 1, "{casts:?}");
    assert_eq!(input_events(with_input[0]).concat(), "typed into vigil\n");
    let sha = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().expect("stdin").write_all(typed)?;
            c.wait_with_output()
        })
        .expect("sha256sum");
    let digest = stdout(&sha)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string();
    assert!(
        ledger.contains(&format!("input_sha256 {digest}")),
        "{digest} not in {ledger}"
    );
}

#[test]
fn a_shell_on_a_connection_that_records_input_keeps_what_was_typed() {
    let e = env();
    let admin = e.gw.token("root", &["admins"], "human");
    let human = e.gw.token("alice", &["ops", "humans"], "human");
    let typed = b"echo typed-in-a-$((1+1))-shell\nexit\n";
    let out = run_with_stdin(ssh_command(e.port, "web1-input", &human).arg("-tt"), typed);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("typed-in-a-2-shell"),
        "{}",
        stdout(&out)
    );
    ledger_with(&e, &admin, "input_sha256");
    let casts = recordings(&e);
    assert_eq!(casts.len(), 1, "{casts:?}");
    // The keystrokes as sent, apart from the output (the terminal's echo is output).
    assert_eq!(
        input_events(&casts[0]).concat().as_bytes(),
        typed,
        "{}",
        casts[0]
    );
}
