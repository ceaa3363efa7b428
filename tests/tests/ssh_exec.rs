//! SSH through Vigil against a private Debian OpenSSH server, driven by the OpenSSH client:
//! an allowed exec runs with its output and exit status, a denied one never runs (a canary
//! file proves it), a held one runs once a reviewer approves it from the CLI, forwarding is
//! refused, a target whose host key changed is refused, and a command killed by a signal
//! reaches the client as the signal.

use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use vigil_e2e::{Sshd, ssh_command, ssh_exec, stderr, stdout};

mod ssh_common;
use ssh_common::*;

#[test]
fn allowed_exec_runs_with_its_output_and_exit_status() {
    let e = env();
    let out = ssh_exec(e.port, "web1", &e.bot, "echo 'hello through vigil'");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&out),
        e.gw.log_text()
    );
    assert_eq!(stdout(&out), "hello through vigil");
    // The exit status of the target's command reaches the client.
    let out = ssh_exec(e.port, "alice+web1", &e.bot, "ls /nonexistent-vigil-path");
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = ssh_exec(e.port, "web1", &e.bot, "false");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn denied_exec_never_runs_and_says_which_rule() {
    let e = env();
    let canary = e.sshd.scratch().join("canary");
    let touch = format!("touch {}", canary.display());
    let out = ssh_exec(e.port, "web1", &e.bot, &touch);
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("vigil: denied by rule 'default-deny'"),
        "{}",
        stderr(&out)
    );
    // An allowed command name cannot smuggle another one in.
    let smuggled = format!("echo hi; touch {}", canary.display());
    let out = ssh_exec(e.port, "web1", &e.bot, &smuggled);
    assert_eq!(out.status.code(), Some(126));
    assert!(
        stderr(&out).contains("vigil: denied by rule 'no-opaque-commands'"),
        "{}",
        stderr(&out)
    );
    let redirected = format!("echo hi > {}", canary.display());
    let out = ssh_exec(e.port, "web1", &e.bot, &redirected);
    assert_eq!(out.status.code(), Some(126));
    assert!(!canary.exists(), "a denied command ran on the target");
}

#[test]
fn unknown_connection_and_bad_token_cannot_log_in() {
    let e = env();
    for (user, token) in [("nosuch", e.bot.as_str()), ("web1", "vgl_not-a-token")] {
        let out = ssh_exec(e.port, user, token, "echo hi");
        assert_ne!(out.status.code(), Some(0));
        assert!(
            stderr(&out).contains("Permission denied"),
            "{}",
            stderr(&out)
        );
        assert_eq!(stdout(&out), "");
    }
}

#[test]
fn held_exec_runs_after_a_reviewer_approves_it() {
    let e = env();
    let lead = e.gw.token("lead", &["ops-lead"], "human");
    let victim = e.sshd.scratch().join("old.log");
    std::fs::write(&victim, "old").expect("victim file");
    let child = ssh_command(e.port, "web1", &e.bot)
        .arg(format!("rm {}", victim.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh");
    // The reviewer finds the request and approves it.
    let deadline = Instant::now() + Duration::from_secs(30);
    let id = loop {
        let out =
            e.gw.vigil_env(&["approvals", "list", "--json"], &[("VIGIL_TOKEN", &lead)]);
        let text = stdout(&out);
        if let Some(id) = first_id(&text) {
            break id;
        }
        assert!(
            Instant::now() < deadline,
            "no approval appeared: {text} {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(victim.exists(), "the held command ran before approval");
    let out =
        e.gw.vigil_env(&["approvals", "approve", &id], &[("VIGIL_TOKEN", &lead)]);
    assert!(out.status.success(), "approve failed: {}", stderr(&out));
    let out = child.wait_with_output().expect("ssh");
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("held for approval"),
        "{}",
        stderr(&out)
    );
    assert!(!victim.exists(), "the approved command did not run");
}

fn first_id(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    let list = v
        .as_array()
        .or_else(|| v.get("approvals").and_then(|a| a.as_array()))?;
    list.iter()
        .find(|a| a.get("status").and_then(|s| s.as_str()) == Some("pending"))
        .and_then(|a| a.get("id"))
        .and_then(|id| id.as_str().map(str::to_string))
}

#[test]
fn port_forwarding_is_refused_by_default() {
    let e = env();
    let target = e.sshd.address();
    let out = ssh_command(e.port, "web1", &e.bot)
        .args(["-W", &target])
        .output()
        .expect("ssh -W");
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("stdio forwarding failed")
            || stderr(&out).contains("administratively prohibited"),
        "{}",
        stderr(&out)
    );
    // The refusal came before any login to the target.
    assert!(!e.sshd.log_text().contains("Accepted publickey"));
}

#[test]
fn a_changed_target_host_key_is_refused() {
    let e = env_with(Sshd::other_known_host);
    let canary = e.sshd.scratch().join("never");
    let out = ssh_exec(e.port, "web1", &e.bot, &format!("cat {}", canary.display()));
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("host key does not match `known_host`"),
        "{}",
        stderr(&out)
    );
    assert!(
        !e.sshd.log_text().contains("Accepted publickey"),
        "Vigil logged in to a target with an unknown host key"
    );
}

/// `ssh -v` prints each channel request it receives (`rtype exit-signal`); OpenSSH's client
/// exits 255 when the command ended by a signal, since no exit status came.
fn killed_by_a_signal(cmd: &mut Command) -> Output {
    cmd.arg("-v")
        .arg("sh -c 'kill -KILL $$'")
        .output()
        .expect("ssh")
}

#[test]
fn a_command_killed_by_a_signal_reaches_the_client_as_a_signal() {
    let e = env();
    let tools = e.gw.token("tools", &["tools"], "agent");
    let out = killed_by_a_signal(&mut ssh_command(e.port, "web1", &tools));
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("rtype exit-signal"),
        "the exit-signal did not reach the client: {}",
        stderr(&out)
    );
    assert!(
        !stderr(&out).contains("rtype exit-status"),
        "{}",
        stderr(&out)
    );

    // The same command straight to the target ends the same way.
    let mut direct = Command::new("ssh");
    direct
        .arg("-p")
        .arg(e.sshd.address().rsplit(':').next().unwrap_or_default())
        .arg("-i")
        .arg(e.sshd.client_key())
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "BatchMode=yes",
        ])
        .arg(format!("{}@127.0.0.1", e.sshd.user()))
        .stdin(Stdio::null());
    let straight = killed_by_a_signal(&mut direct);
    assert_eq!(straight.status.code(), Some(255), "{}", stderr(&straight));
    assert!(stderr(&straight).contains("rtype exit-signal"));

    // The ledger keeps the signal as the channel's end.
    let admin = e.gw.token("root", &["admins"], "human");
    ledger_with(&e, &admin, "signal KILL");
}
