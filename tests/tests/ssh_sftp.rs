//! SFTP and scp through Vigil with `sftp = "read-only"`: OpenSSH's `sftp` and `scp` (SFTP
//! mode and legacy `-O` mode) download, and every write (put, remove, mkdir, rename) is
//! refused before it reaches the target, each operation in the ledger with its path.

mod ssh_common;

use std::process::{Command, Stdio};

use ssh_common::env;
use vigil_e2e::{stderr, stdout};

fn client_opts(cmd: &mut Command) {
    cmd.args([
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "PubkeyAuthentication=no",
        "-o",
        "PreferredAuthentications=password",
        "-o",
        "LogLevel=ERROR",
    ]);
}

fn sftp_batch(port: u16, token: &str, batch: &str) -> std::process::Output {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("batch");
    std::fs::write(&file, batch).expect("batch file");
    let mut cmd = Command::new("sshpass");
    cmd.env("SSHPASS", token)
        .args(["-e", "sftp", "-P", &port.to_string()]);
    client_opts(&mut cmd);
    // `-b` implies BatchMode, which turns password prompts (and so sshpass) off.
    cmd.args(["-o", "BatchMode=no"])
        .arg("-b")
        .arg(&file)
        .arg("web1@127.0.0.1")
        .stdin(Stdio::null())
        .output()
        .expect("sftp")
}

fn scp(port: u16, token: &str, args: &[&str]) -> std::process::Output {
    let mut cmd = Command::new("sshpass");
    cmd.env("SSHPASS", token)
        .args(["-e", "scp", "-P", &port.to_string()]);
    client_opts(&mut cmd);
    cmd.args(args).stdin(Stdio::null()).output().expect("scp")
}

#[test]
fn sftp_reads_pass_and_writes_are_refused() {
    let e = env();
    let remote = e.sshd.scratch();
    std::fs::write(remote.join("report.txt"), "quarterly numbers\n").expect("remote file");
    let local = tempfile::tempdir().expect("local dir");
    std::fs::write(local.path().join("upload.txt"), "new").expect("local file");
    let batch = format!(
        "ls {r}\nget {r}/report.txt {l}/report.txt\n-put {l}/upload.txt {r}/upload.txt\n-rm {r}/report.txt\n-mkdir {r}/newdir\n-rename {r}/report.txt {r}/moved.txt\n",
        r = remote.display(),
        l = local.path().display()
    );
    let out = sftp_batch(e.port, &e.bot, &batch);
    assert!(
        out.status.success(),
        "sftp: {}\n{}",
        stderr(&out),
        e.gw.log_text()
    );
    assert!(stdout(&out).contains("report.txt"), "{}", stdout(&out));
    assert_eq!(
        std::fs::read_to_string(local.path().join("report.txt")).unwrap_or_default(),
        "quarterly numbers\n"
    );
    assert!(
        stderr(&out).contains("ermission denied"),
        "{}",
        stderr(&out)
    );
    assert!(
        !remote.join("upload.txt").exists(),
        "a write reached the target"
    );
    assert!(
        remote.join("report.txt").exists(),
        "a remove reached the target"
    );
    assert!(
        !remote.join("newdir").exists(),
        "a mkdir reached the target"
    );
    assert!(
        !remote.join("moved.txt").exists(),
        "a rename reached the target"
    );

    // Each operation is in the ledger with its path.
    let admin = e.gw.token("root", &["admins"], "human");
    let list =
        e.gw.vigil_env(&["sessions", "list", "--json"], &[("VIGIL_TOKEN", &admin)]);
    let body: serde_json::Value = serde_json::from_str(&stdout(&list)).expect("json");
    let id = body["sessions"][0]["id"].as_str().expect("id").to_string();
    let shown = e.gw.vigil_env(
        &["sessions", "show", &id, "--json"],
        &[("VIGIL_TOKEN", &admin)],
    );
    let ledger = stdout(&shown);
    for op in ["open_read", "open_write", "remove", "mkdir", "rename"] {
        assert!(
            ledger.contains(&format!("sftp {op} {}", remote.display())),
            "{op} missing: {ledger}"
        );
    }
}

#[test]
fn scp_downloads_in_both_modes_and_uploads_are_refused() {
    let e = env();
    let remote = e.sshd.scratch();
    std::fs::write(remote.join("data.csv"), "a,b\n1,2\n").expect("remote file");
    let local = tempfile::tempdir().expect("local dir");
    for (mode, name) in [(None, "sftp-mode.csv"), (Some("-O"), "legacy.csv")] {
        let source = format!("web1@127.0.0.1:{}/data.csv", remote.display());
        let dest = local.path().join(name);
        let dest = dest.to_str().expect("utf-8 path");
        let mut args: Vec<&str> = mode.into_iter().collect();
        args.extend([source.as_str(), dest]);
        let out = scp(e.port, &e.bot, &args);
        assert!(
            out.status.success(),
            "scp {mode:?} download: {}",
            stderr(&out)
        );
        assert_eq!(
            std::fs::read_to_string(dest).unwrap_or_default(),
            "a,b\n1,2\n"
        );

        let upload = local.path().join("up.csv");
        std::fs::write(&upload, "x").expect("local");
        let target = format!("web1@127.0.0.1:{}/uploaded-{name}", remote.display());
        let mut args: Vec<&str> = mode.into_iter().collect();
        let upload = upload.to_str().expect("utf-8 path").to_string();
        args.extend([upload.as_str(), target.as_str()]);
        let out = scp(e.port, &e.bot, &args);
        assert!(!out.status.success(), "scp {mode:?} upload was not refused");
        assert!(
            !remote.join(format!("uploaded-{name}")).exists(),
            "an upload reached the target"
        );
    }
}
