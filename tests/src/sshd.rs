//! A private OpenSSH server per test: `sshd -D -f <throw-away config>` on a free loopback port
//! in a temp dir, with its own host key and an authorized key for Vigil to log in with.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::util::free_port;

/// A running `sshd` and the key Vigil logs in to it with.
pub struct Sshd {
    dir: TempDir,
    port: u16,
    user: String,
    child: Option<Child>,
}

fn keygen(path: &Path) {
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "vigil-test", "-f"])
        .arg(path)
        .output()
        .expect("ssh-keygen is missing (apt-get install openssh-client)");
    assert!(out.status.success(), "ssh-keygen failed: {out:?}");
}

/// The `sshd` binary (Debian installs it in /usr/sbin).
fn sshd_bin() -> PathBuf {
    for p in ["/usr/sbin/sshd", "/usr/bin/sshd"] {
        if Path::new(p).exists() {
            return PathBuf::from(p);
        }
    }
    panic!("sshd is missing: apt-get install openssh-server");
}

impl Sshd {
    /// Starts sshd for the current user; returns once it accepts TCP.
    #[track_caller]
    pub fn start() -> Sshd {
        let dir = tempfile::Builder::new()
            .prefix("vigil-sshd-")
            .tempdir()
            .expect("temp dir for sshd");
        let host_key = dir.path().join("host_key");
        keygen(&host_key);
        let client_key = dir.path().join("vigil_key");
        keygen(&client_key);
        let authorized = dir.path().join("authorized_keys");
        std::fs::copy(client_key.with_extension("pub"), &authorized).expect("authorized_keys");
        // Privilege separation needs its directory, as the Debian service would make it.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let user = std::env::var("USER")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(whoami);
        let config = dir.path().join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {dir}/sshd.pid\n\
                 AuthorizedKeysFile {auth}\nStrictModes no\nPermitRootLogin prohibit-password\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n\
                 AllowTcpForwarding yes\nAllowAgentForwarding yes\nX11Forwarding yes\nX11UseLocalhost yes\n\
                 SetEnv XAUTHORITY={dir}/Xauthority\n\
                 Subsystem sftp internal-sftp\nLogLevel VERBOSE\nMaxStartups 200\nMaxSessions 100\nAcceptEnv LANG LC_*\n",
                host = host_key.display(),
                dir = dir.path().display(),
                auth = authorized.display(),
            ),
        )
        .expect("sshd_config");
        let log = std::fs::File::create(dir.path().join("sshd.log")).expect("sshd.log");
        let child = Command::new(sshd_bin())
            .arg("-D")
            .arg("-e")
            .arg("-f")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("could not start sshd");
        let sshd = Sshd {
            dir,
            port,
            user,
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "sshd did not start:\n{}",
                sshd.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        sshd
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    /// The private key Vigil logs in with.
    pub fn client_key(&self) -> PathBuf {
        self.dir.path().join("vigil_key")
    }

    /// The server's host key as `known_host` takes it (`ssh-ed25519 AAAA...`).
    pub fn known_host(&self) -> String {
        let text = std::fs::read_to_string(self.dir.path().join("host_key.pub")).expect("host key");
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// Another, unrelated host key (a "changed" host key for pinning tests).
    pub fn other_known_host(&self) -> String {
        let other = self.dir.path().join("other_host_key");
        if !other.exists() {
            keygen(&other);
        }
        let text = std::fs::read_to_string(other.with_extension("pub")).expect("other key");
        text.split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// A scratch directory the tests may write into (canaries).
    pub fn scratch(&self) -> PathBuf {
        let p = self.dir.path().join("scratch");
        std::fs::create_dir_all(&p).expect("scratch dir");
        p
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("sshd.log")).unwrap_or_default()
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn whoami() -> String {
    let out = Command::new("id").arg("-un").output().expect("id -un");
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The OpenSSH client through Vigil: `ssh -p PORT <user>@127.0.0.1 ARGS...`, the token given
/// as the password by `sshpass` (host key checks off: each test has a new gateway key).
pub fn ssh_command(port: u16, user: &str, token: &str) -> Command {
    let mut cmd = Command::new("sshpass");
    cmd.env("SSHPASS", token)
        .args(["-e", "ssh", "-p"])
        .arg(port.to_string())
        .args([
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
            "-o",
            "ConnectTimeout=20",
        ])
        .arg(format!("{user}@127.0.0.1"))
        .stdin(Stdio::null());
    cmd
}

/// Runs `ssh ... COMMAND` through Vigil and returns its output.
pub fn ssh_exec(port: u16, user: &str, token: &str, command: &str) -> Output {
    ssh_command(port, user, token)
        .arg(command)
        .output()
        .expect("could not run sshpass/ssh (apt-get install sshpass openssh-client)")
}
