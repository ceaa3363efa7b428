//! What the SSH end-to-end tests share: a private sshd, a gateway in front of it with the
//! documented example policy, and an agent token.
#![allow(dead_code)]

use std::io::Write;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use vigil_e2e::{Gateway, Sshd, config_with, free_port};

pub fn config(sshd: &Sshd, ssh_port: u16, known_host: &str) -> String {
    config_with(&format!(
        r#"ssh = "127.0.0.1:{ssh_port}"

[[connection]]
name = "web1"
kind = "ssh"
address = "{address}"
user = "{user}"
private_key_file = "{key}"
known_host = "{known_host}"
sftp = "read-only"

[[connection]]
name = "web1-input"
kind = "ssh"
address = "{address}"
user = "{user}"
private_key_file = "{key}"
known_host = "{known_host}"
record_input = true

[[policy]]
name = "ops"
groups = ["ops"]
connections = ["web1", "web1-input"]

  [[policy.rule]]
  name = "read-only-commands"
  effect = "allow"
  when = 'ssh.request == "exec" && ssh.argv0 in ["echo", "ls", "cat", "false", "id", "head", "sleep"]'

  [[policy.rule]]
  name = "shells-for-humans"
  effect = "allow"
  when = 'ssh.request in ["shell", "pty"] && "humans" in principal.groups'

  [[policy.rule]]
  name = "humans-forward-to-loopback"
  effect = "allow"
  when = 'ssh.request == "direct_tcpip" && ssh.forward.host == "127.0.0.1" && "humans" in principal.groups'

  [[policy.rule]]
  name = "lang"
  effect = "allow"
  when = 'ssh.request == "env" && ssh.env.name == "LANG"'

  [[policy.rule]]
  name = "sftp"
  effect = "allow"
  when = 'ssh.request == "subsystem" && ssh.subsystem == "sftp"'

  [[policy.rule]]
  name = "rsync-downloads"
  effect = "allow"
  when = 'ssh.argv0 == "rsync" && size(ssh.argv) > 2 && ssh.argv[1] == "--server" && ssh.argv[2] == "--sender"'

  [[policy.rule]]
  name = "legacy-scp-downloads"
  effect = "allow"
  when = 'ssh.argv0 == "scp" && size(ssh.argv) == 3 && ssh.argv[1] == "-f"'

  [[policy.rule]]
  name = "removals-need-a-lead"
  effect = "review"
  when = 'ssh.request == "exec" && ssh.argv0 in ["rm", "tee"]'
  reason = "removing files needs an ops lead"
  reviewers = ["ops-lead"]
  mode = "hold"
  timeout = "60s"

  [[policy.rule]]
  name = "no-opaque-commands"
  effect = "deny"
  when = 'ssh.request == "exec" && ssh.opaque'
  reason = "the command cannot be proven"

# `ssh_forward.rs`: "tools" may run the tools those tests use; only "forwarders" may also
# forward (remote ports, the agent, X11).
[[policy]]
name = "forwarding"
groups = ["forwarders", "tools"]
connections = ["web1"]

  [[policy.rule]]
  name = "remote-forwards-on-loopback"
  effect = "allow"
  when = 'ssh.request == "tcpip_forward" && ssh.forward.host == "localhost" && "forwarders" in principal.groups'

  [[policy.rule]]
  name = "agent-and-x11"
  effect = "allow"
  when = 'ssh.request in ["agent", "x11"] && "forwarders" in principal.groups'

  [[policy.rule]]
  name = "forwarding-tools"
  effect = "allow"
  when = 'ssh.request == "exec" && ssh.argv0 in ["socat", "ssh-add", "python3"]'

  [[policy.rule]]
  name = "a-command-that-kills-itself"
  effect = "allow"
  when = '''ssh.request == "exec" && ssh.command.startsWith("sh -c 'kill -")'''

[[policy]]
name = "contractors-see-no-personal-data"
groups = ["masked"]
connections = ["web1"]

  [[policy.mask]]
  detectors = ["email", "credit_card"]
  style = "redact"
"#,
        address = sshd.address(),
        user = sshd.user(),
        key = sshd.client_key().display(),
    ))
}

pub struct Env {
    pub sshd: Sshd,
    pub gw: Gateway,
    pub port: u16,
    pub bot: String,
}

pub fn env_with(known_host: impl Fn(&Sshd) -> String) -> Env {
    let sshd = Sshd::start();
    let port = free_port();
    let gw = Gateway::start(&config(&sshd, port, &known_host(&sshd)), &[]);
    wait_for_port(port);
    let bot = gw.token("bot", &["ops"], "agent");
    Env {
        sshd,
        gw,
        port,
        bot,
    }
}

pub fn env() -> Env {
    env_with(Sshd::known_host)
}

pub fn wait_for_port(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the ssh listener did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ledger events of the gateway's sessions as an admin reads them (`vigil sessions show
/// --json` of each), once `needle` appears in them: the event that closes a channel is written
/// after the client saw the channel end, so it may come a moment later. Panics after 60 s.
pub fn ledger_with(e: &Env, admin: &str, needle: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let list =
            e.gw.vigil_env(&["sessions", "list", "--json"], &[("VIGIL_TOKEN", admin)]);
        let body: serde_json::Value =
            serde_json::from_str(&vigil_e2e::stdout(&list)).unwrap_or_default();
        let ledger: String = body["sessions"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|s| s["id"].as_str())
            .map(|id| {
                let shown = e.gw.vigil_env(
                    &["sessions", "show", id, "--json"],
                    &[("VIGIL_TOKEN", admin)],
                );
                vigil_e2e::stdout(&shown)
            })
            .collect();
        if ledger.contains(needle) {
            return ledger;
        }
        assert!(
            Instant::now() < deadline,
            "`{needle}` never appeared in the ledger: {ledger}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Runs `ssh` with `input` on its stdin.
pub fn run_with_stdin(cmd: &mut Command, input: &[u8]) -> Output {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input)
        .expect("write stdin");
    child.wait_with_output().expect("ssh output")
}
