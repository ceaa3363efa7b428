//! Public-key login to Vigil's SSH listener: a key registered with `vigil ssh-keys add` logs
//! in as its principal (OpenSSH `ssh -i`, paramiko), an unknown key does not, `list` shows it
//! with OpenSSH's fingerprint, and `remove` ends new logins and the sessions already open.

mod ssh_common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use ssh_common::env;
use vigil_e2e::{stderr, stdout};

/// A fresh ed25519 key pair made by OpenSSH's `ssh-keygen`; returns the private key's path.
fn keygen(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&path)
        .output()
        .expect("ssh-keygen (apt-get install openssh-client)");
    assert!(out.status.success(), "{}", stderr(&out));
    path
}

/// OpenSSH's own fingerprint of a key file (`SHA256:...`).
fn openssh_fingerprint(public: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public)
        .output()
        .expect("ssh-keygen");
    stdout(&out)
        .split_whitespace()
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// `ssh -i KEY` with public-key authentication only.
fn ssh_with_key(port: u16, key: &Path, command: &str) -> Output {
    Command::new("ssh")
        .arg("-p")
        .arg(port.to_string())
        .arg("-i")
        .arg(key)
        .args([
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "IdentityAgent=none",
            "-o",
            "PreferredAuthentications=publickey",
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            "-o",
            "ConnectTimeout=20",
            "web1@127.0.0.1",
            command,
        ])
        .stdin(Stdio::null())
        .output()
        .expect("ssh (apt-get install openssh-client)")
}

fn pub_arg(key: &Path) -> String {
    format!("@{}.pub", key.display())
}

#[test]
fn a_registered_key_logs_in_as_its_principal_and_others_do_not() {
    let e = env();
    let keys = tempfile::tempdir().expect("tempdir");
    let alice = keygen(keys.path(), "alice");
    let stranger = keygen(keys.path(), "stranger");

    let added = e.gw.vigil_with_config(&[
        "ssh-keys",
        "add",
        "--name",
        "alice-laptop",
        "--groups",
        "ops",
        "--key",
        &pub_arg(&alice),
    ]);
    assert!(added.status.success(), "{}", stderr(&added));
    let fingerprint = openssh_fingerprint(&alice.with_extension("pub"));
    assert!(fingerprint.starts_with("SHA256:"), "{fingerprint}");
    assert_eq!(stdout(&added), format!("added alice-laptop {fingerprint}"));

    let out = ssh_with_key(e.port, &alice, "echo key login");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&out),
        e.gw.log_text()
    );
    assert_eq!(stdout(&out), "key login");
    // Policy applies to the key's principal as to a token's.
    let out = ssh_with_key(e.port, &alice, "echo $HOME");
    assert_eq!(out.status.code(), Some(126), "{}", stderr(&out));

    let out = ssh_with_key(e.port, &stranger, "echo should not run");
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("Permission denied"),
        "{}",
        stderr(&out)
    );
    assert_eq!(stdout(&out), "");

    // The same key or name twice is refused with a reason.
    let again = e.gw.vigil_with_config(&[
        "ssh-keys",
        "add",
        "--name",
        "bob",
        "--key",
        &pub_arg(&alice),
    ]);
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already registered"),
        "{}",
        stderr(&again)
    );
    let bad = e.gw.vigil_with_config(&[
        "ssh-keys",
        "add",
        "--name",
        "carol",
        "--key",
        "ssh-ed25519 nonsense",
    ]);
    assert!(!bad.status.success());
    assert!(stderr(&bad).contains("expected"), "{}", stderr(&bad));

    let listed = e.gw.vigil_with_config(&["ssh-keys", "list"]);
    let listed = stdout(&listed);
    let row = listed
        .lines()
        .find(|l| l.starts_with("alice-laptop"))
        .unwrap_or_else(|| panic!("{listed}"));
    assert!(
        row.contains("active") && row.contains(&fingerprint) && row.contains("ops"),
        "{row}"
    );

    // The ledger names the key's principal.
    let admin = e.gw.token("root", &["admins"], "human");
    ssh_common::ledger_with(&e, &admin, "alice-laptop");

    let removed =
        e.gw.vigil_with_config(&["ssh-keys", "remove", "alice-laptop"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    let out = ssh_with_key(e.port, &alice, "echo after removal");
    assert_ne!(out.status.code(), Some(0));
    assert_eq!(stdout(&out), "");
    let listed = e.gw.vigil_with_config(&["ssh-keys", "list"]);
    assert!(
        stdout(&listed)
            .lines()
            .any(|l| l.starts_with("alice-laptop") && l.contains("removed")),
        "{}",
        stdout(&listed)
    );
    let missing =
        e.gw.vigil_with_config(&["ssh-keys", "remove", "alice-laptop"]);
    assert!(!missing.status.success());
}

/// paramiko logs in with the key and runs a command; the test removes the key meanwhile
/// (between the two lines on stdin/stdout): the next command on the same connection is
/// refused (exit 126, the identity rule), as for a revoked token.
const PARAMIKO: &str = r#"
import sys, paramiko
port, key_path = int(sys.argv[1]), sys.argv[2]
key = paramiko.Ed25519Key.from_private_key_file(key_path)
client = paramiko.SSHClient()
client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
client.connect("127.0.0.1", port=port, username="web1", pkey=key,
               look_for_keys=False, allow_agent=False, timeout=20)
def run(command):
    _, out, err = client.exec_command(command)
    status = out.channel.recv_exit_status()
    return status, out.read().decode().strip(), err.read().decode().strip()
print(run("echo before"), flush=True)
sys.stdin.readline()
print(run("echo after"), flush=True)
"#;

#[test]
fn removing_a_key_ends_the_sessions_it_opened() {
    use std::io::{BufRead, BufReader, Write};
    let e = env();
    let keys = tempfile::tempdir().expect("tempdir");
    let agent = keygen(keys.path(), "agent");
    let added = e.gw.vigil_with_config(&[
        "ssh-keys",
        "add",
        "--name",
        "agent-key",
        "--groups",
        "ops",
        "--kind",
        "agent",
        "--key",
        &pub_arg(&agent),
    ]);
    assert!(added.status.success(), "{}", stderr(&added));
    let mut child = Command::new(vigil_e2e::venv_python())
        .arg("-c")
        .arg(PARAMIKO)
        .arg(e.port.to_string())
        .arg(&agent)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("the venv's python");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let before = lines.next().and_then(Result::ok).unwrap_or_default();
    assert_eq!(before, "(0, 'before', '')");

    let removed = e.gw.vigil_with_config(&["ssh-keys", "remove", "agent-key"]);
    assert!(removed.status.success(), "{}", stderr(&removed));
    // Open sessions re-check their credential once per `[identity] token_cache` (1 s).
    std::thread::sleep(std::time::Duration::from_millis(1500));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(b"go\n")
        .expect("write");
    let after = lines.next().and_then(Result::ok).unwrap_or_default();
    let _ = child.wait();
    assert!(
        after.starts_with("(126, '', \"vigil: denied by rule 'identity'"),
        "{after}"
    );
}
