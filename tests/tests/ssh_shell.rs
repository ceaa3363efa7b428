//! Interactive shells, terminals and environment variables through Vigil, and stdin kept
//! while a command waits for approval.

mod ssh_common;

use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use ssh_common::env;
use vigil_e2e::{ssh_command, stderr, stdout};

#[test]
fn a_shell_is_allowed_as_a_whole_for_humans_and_refused_for_agents() {
    let e = env();
    let human = e.gw.token("alice", &["ops", "humans"], "human");
    let mut child = ssh_command(e.port, "web1", &human)
        .arg("-tt")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"echo hi-from-$((40+2))\nexit 3\n")
        .expect("typing");
    let out = child.wait_with_output().expect("ssh");
    assert!(
        stdout(&out).contains("hi-from-42"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));

    // The agent has no shell rule: default deny, as exit status 126.
    let out = ssh_command(e.port, "web1", &e.bot)
        .arg("-T")
        .stdin(Stdio::null())
        .output()
        .expect("ssh");
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("vigil: denied by rule 'default-deny'"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn env_variables_pass_only_when_a_rule_allows_them_and_ld_preload_never() {
    let e = env();
    let out = ssh_command(e.port, "web1", &e.bot)
        .args([
            "-o",
            "SetEnv=LANG=C.UTF-8 LD_PRELOAD=/tmp/evil.so LC_VIGIL=1",
        ])
        .arg("cat /proc/self/environ")
        .output()
        .expect("ssh");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let environ = String::from_utf8_lossy(&out.stdout).replace('\0', "\n");
    assert!(environ.lines().any(|l| l == "LANG=C.UTF-8"), "{environ}");
    assert!(!environ.contains("LD_PRELOAD"), "{environ}");
    assert!(!environ.contains("LC_VIGIL"), "{environ}");
}

#[test]
fn stdin_sent_while_held_reaches_the_command_once_approved() {
    let e = env();
    let lead = e.gw.token("lead", &["ops-lead"], "human");
    let file = e.sshd.scratch().join("written-by-tee");
    let mut child = ssh_command(e.port, "web1", &e.bot)
        .arg(format!("tee {}", file.display()))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"payload sent before approval\n")
        .expect("stdin");
    drop(stdin);
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        let out =
            e.gw.vigil_env(&["approvals", "list", "--json"], &[("VIGIL_TOKEN", &lead)]);
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap_or_default();
        let list = v
            .as_array()
            .cloned()
            .or_else(|| v["approvals"].as_array().cloned())
            .unwrap_or_default();
        if let Some(id) = list
            .iter()
            .find_map(|a| a["id"].as_str().map(str::to_string))
        {
            break id;
        }
        assert!(Instant::now() < deadline, "no approval appeared");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(!file.exists(), "the held command ran before approval");
    let out =
        e.gw.vigil_env(&["approvals", "approve", &id], &[("VIGIL_TOKEN", &lead)]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = child.wait_with_output().expect("ssh");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(&file).unwrap_or_default(),
        "payload sent before approval\n"
    );
}

#[test]
fn a_forward_a_rule_allows_is_relayed_through_the_target() {
    let e = env();
    let human = e.gw.token("alice", &["ops", "humans"], "human");
    // `ssh -W` to the target's own sshd: its banner comes back through the forward.
    let out = ssh_command(e.port, "web1", &human)
        .args(["-W", &e.sshd.address()])
        .output()
        .expect("ssh -W");
    assert!(
        stdout(&out).starts_with("SSH-2.0-OpenSSH"),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    // Anywhere else is still refused.
    let out = ssh_command(e.port, "web1", &human)
        .args(["-W", "localhost:22"])
        .output()
        .expect("ssh -W");
    assert_eq!(out.status.code(), Some(255));
    assert_eq!(stdout(&out), "");
}
