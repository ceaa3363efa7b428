//! Other SSH clients through Vigil: paramiko (an agent's usual library) runs an allowed
//! command and gets a refusal's exit status; rsync downloads (its server side runs as a
//! provable exec) and cannot upload.

mod ssh_common;

use std::process::{Command, Stdio};

use ssh_common::env;
use vigil_e2e::{python_code, stderr, stdout};

const PARAMIKO: &str = r#"
import sys, paramiko
port, token, command = int(sys.argv[1]), sys.argv[2], sys.argv[3]
client = paramiko.SSHClient()
client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
client.connect("127.0.0.1", port=port, username="web1", password=token,
               look_for_keys=False, allow_agent=False, timeout=20)
_, out, err = client.exec_command(command)
status = out.channel.recv_exit_status()
print(out.read().decode().strip())
print("status", status)
print(err.read().decode().strip(), file=sys.stderr)
"#;

#[test]
fn paramiko_runs_allowed_commands_and_sees_refusals() {
    let e = env();
    let port = e.port.to_string();
    let out = python_code(PARAMIKO, &[&port, &e.bot, "echo from paramiko"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), "from paramiko\nstatus 0");
    let out = python_code(PARAMIKO, &[&port, &e.bot, "echo $HOME"]);
    assert_eq!(stdout(&out), "status 126");
    assert!(
        stderr(&out).contains("no-opaque-commands"),
        "{}",
        stderr(&out)
    );
}

fn rsync(port: u16, token: &str, from: &str, to: &str) -> std::process::Output {
    let rsh = format!(
        "sshpass -e ssh -p {port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o PubkeyAuthentication=no -o PreferredAuthentications=password -o LogLevel=ERROR"
    );
    Command::new("rsync")
        .env("SSHPASS", token)
        .args(["-a", "-e", &rsh, from, to])
        .stdin(Stdio::null())
        .output()
        .expect("rsync (apt-get install rsync)")
}

#[test]
fn rsync_downloads_and_cannot_upload() {
    let e = env();
    let remote = e.sshd.scratch();
    std::fs::write(remote.join("notes.txt"), "synced\n").expect("remote file");
    let local = tempfile::tempdir().expect("local");
    let from = format!("web1@127.0.0.1:{}/notes.txt", remote.display());
    let to = local.path().join("notes.txt");
    let out = rsync(e.port, &e.bot, &from, to.to_str().expect("utf-8"));
    assert!(out.status.success(), "rsync download: {}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&to).unwrap_or_default(), "synced\n");
    let dest = format!("web1@127.0.0.1:{}/uploaded.txt", remote.display());
    let out = rsync(e.port, &e.bot, to.to_str().expect("utf-8"), &dest);
    assert!(!out.status.success(), "rsync upload was not refused");
    assert!(!remote.join("uploaded.txt").exists());
}
