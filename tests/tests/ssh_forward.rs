//! What the target opens back toward the client, through Vigil with the OpenSSH client and a
//! private sshd, each only with a rule: `ssh -R` carries bytes both ways to an echo server on
//! the client's side (and a cancel stops the target listening); `ssh -A` lets a remote
//! `ssh-add -l` list the key of the test's own ssh-agent; `ssh -Y` lets an X client on the
//! target reach a stand-in X server on the client's side.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use vigil_e2e::{free_port, ssh_command, stderr, stdout};

mod ssh_common;
use ssh_common::*;

/// An echo server on the client's side of `ssh -R`: each connection gets its bytes back.
fn echo_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("echo listener");
    let port = listener.local_addr().expect("echo address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if stream.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                    }
                }
            });
        }
    });
    port
}

/// `ssh -R PORT:127.0.0.1:ECHO` through Vigil, running `socat` on the target to send `input`
/// into the forwarded port and print what comes back.
fn remote_forward(e: &Env, token: &str, remote_port: u16, echo_port: u16, input: &[u8]) -> Output {
    let mut cmd = ssh_command(e.port, "web1", token);
    cmd.args([
        "-o",
        "ExitOnForwardFailure=yes",
        "-R",
        &format!("{remote_port}:127.0.0.1:{echo_port}"),
    ])
    .arg(format!("socat -t 5 - TCP:127.0.0.1:{remote_port}"));
    run_with_stdin(&mut cmd, input)
}

#[test]
fn remote_forward_carries_bytes_both_ways_when_a_rule_allows_it() {
    let e = env();
    let forwarder = e.gw.token("fwd", &["forwarders"], "human");
    let echo_port = echo_server();
    let remote_port = free_port();
    let out = remote_forward(
        &e,
        &forwarder,
        remote_port,
        echo_port,
        b"there and back through -R\n",
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&out),
        e.gw.log_text()
    );
    assert_eq!(stdout(&out), "there and back through -R");
    // The forward and the connection through it are each in the ledger.
    let admin = e.gw.token("root", &["admins"], "human");
    let ledger = ledger_with(&e, &admin, "forwarded_tcpip localhost:");
    assert!(
        ledger.contains(&format!("tcpip_forward localhost:{remote_port}")),
        "{ledger}"
    );
    assert!(
        ledger.contains(&format!(
            "forwarded_tcpip localhost:{remote_port} from 127.0.0.1:"
        )),
        "{ledger}"
    );
}

#[test]
fn remote_forward_is_refused_without_a_rule() {
    let e = env();
    // "tools" may run socat but has no forwarding rule: default deny.
    let tools = e.gw.token("tools", &["tools"], "agent");
    let echo_port = echo_server();
    let remote_port = free_port();
    let out = remote_forward(&e, &tools, remote_port, echo_port, b"nope\n");
    assert_eq!(out.status.code(), Some(255), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("remote port forwarding failed"),
        "{}",
        stderr(&out)
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", remote_port)).is_err(),
        "the target listens on a port nobody was allowed to forward"
    );
    // The refusal came before any login to the target.
    assert!(!e.sshd.log_text().contains("Accepted publickey"));
}

#[test]
fn a_remote_forward_cancelled_by_the_client_stops_listening_on_the_target() {
    let e = env();
    let forwarder = e.gw.token("fwd", &["forwarders"], "human");
    let echo_port = echo_server();
    let remote_port = free_port();
    let dir = tempfile::tempdir().expect("control dir");
    let control = dir.path().join("ctl");
    let spec = format!("{remote_port}:127.0.0.1:{echo_port}");
    // A control master holding the forward; `ssh -O cancel` asks it to drop the forward
    // (cancel-tcpip-forward), `ssh -O exit` ends it.
    let mut master = ssh_command(e.port, "web1", &forwarder)
        .args(["-M", "-S"])
        .arg(&control)
        .args(["-N", "-o", "ExitOnForwardFailure=yes", "-R", &spec])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("ssh -M");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", remote_port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "the target never listened on the forwarded port: {}",
            e.gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mux = |op: &str| {
        let mut cmd = Command::new("ssh");
        cmd.arg("-S").arg(&control).args(["-O", op]);
        if op == "cancel" {
            cmd.args(["-R", &spec]);
        }
        cmd.arg("web1@127.0.0.1").output().expect("ssh -O")
    };
    let cancelled = mux("cancel");
    assert!(cancelled.status.success(), "{}", stderr(&cancelled));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", remote_port)).is_ok() {
        assert!(
            Instant::now() < deadline,
            "the target still listens after the cancel"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The master ends (OpenSSH's `-N` master exits 255 when told to exit: no status to report).
    let _ = mux("exit");
    let _ = master.wait();
}

/// A test's own `ssh-agent` holding one key; killed on drop.
struct Agent {
    _dir: tempfile::TempDir,
    socket: PathBuf,
    child: Child,
}

impl Agent {
    fn start(comment: &str) -> Agent {
        let dir = tempfile::tempdir().expect("agent dir");
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ssh-agent");
        let deadline = Instant::now() + Duration::from_secs(10);
        while !socket.exists() {
            assert!(Instant::now() < deadline, "ssh-agent did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        let key = dir.path().join("key");
        let made = Command::new("ssh-keygen")
            .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
            .arg(&key)
            .output()
            .expect("ssh-keygen");
        assert!(made.status.success(), "{made:?}");
        let added = Command::new("ssh-add")
            .arg(&key)
            .env("SSH_AUTH_SOCK", &socket)
            .output()
            .expect("ssh-add");
        assert!(added.status.success(), "ssh-add: {}", stderr(&added));
        Agent {
            _dir: dir,
            socket,
            child,
        }
    }

    fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn ssh_add_through_agent_forwarding(e: &Env, token: &str, agent: &Agent) -> Output {
    ssh_command(e.port, "web1", token)
        .env("SSH_AUTH_SOCK", agent.socket())
        .arg("-A")
        .arg("ssh-add -l")
        .output()
        .expect("ssh -A")
}

#[test]
fn agent_forwarding_lists_the_clients_key_when_a_rule_allows_it() {
    let e = env();
    let agent = Agent::start("vigil-forwarded-agent-key");
    let forwarder = e.gw.token("fwd", &["forwarders"], "human");
    let out = ssh_add_through_agent_forwarding(&e, &forwarder, &agent);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stderr(&out),
        e.gw.log_text()
    );
    assert!(
        stdout(&out).contains("vigil-forwarded-agent-key"),
        "{}",
        stdout(&out)
    );
    let admin = e.gw.token("root", &["admins"], "human");
    ledger_with(&e, &admin, "\"agent\"");
}

#[test]
fn agent_forwarding_is_refused_without_a_rule() {
    let e = env();
    let agent = Agent::start("vigil-forwarded-agent-key");
    let tools = e.gw.token("tools", &["tools"], "agent");
    let out = ssh_add_through_agent_forwarding(&e, &tools, &agent);
    // ssh-add finds no agent on the target (exit 2).
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        !stdout(&out).contains("vigil-forwarded-agent-key"),
        "{}",
        stdout(&out)
    );
    assert!(
        stderr(&out).contains("Could not open a connection to your authentication agent"),
        "{}",
        stderr(&out)
    );
}

/// A stand-in X server on the client's side: the first connection's setup request is sent
/// back on the channel, and the connection gets a fixed answer. Returns the display number.
fn fake_x_server() -> (u16, std::sync::mpsc::Receiver<Vec<u8>>) {
    let (listener, number) = (40..100)
        .find_map(|n| {
            TcpListener::bind(("127.0.0.1", 6000 + n))
                .ok()
                .map(|l| (l, n))
        })
        .expect("a free X display port");
    let (seen, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut stream, _)) = listener.accept() else {
            return;
        };
        // The X11 connection setup: 12 bytes, then the auth name and data, each padded to 4.
        let mut setup = vec![0u8; 12];
        if stream.read_exact(&mut setup).is_err() {
            return;
        }
        let len = |at: usize| usize::from(u16::from_le_bytes([setup[at], setup[at + 1]]));
        let rest = len(6).div_ceil(4) * 4 + len(8).div_ceil(4) * 4;
        let mut auth = vec![0u8; rest];
        if stream.read_exact(&mut auth).is_err() {
            return;
        }
        setup.extend_from_slice(&auth);
        let _ = stream.write_all(b"fake-x-server-ok");
        let _ = seen.send(setup);
    });
    (number, rx)
}

/// An X client run on the target: it sends the X11 setup request with the cookie sshd gave
/// it (`xauth list`) to `$DISPLAY` and prints the answer.
const X11_CLIENT: &str = r#"
import os, socket, subprocess, sys
number = int(os.environ["DISPLAY"].rsplit(":", 1)[1].split(".")[0])
entry = subprocess.run(["xauth", "list"], capture_output=True, text=True).stdout.split()
name, cookie = entry[1].encode(), bytes.fromhex(entry[2])
pad = lambda b: b + b"\0" * (-len(b) % 4)
u16 = lambda n: n.to_bytes(2, "little")
setup = b"l\0" + u16(11) + u16(0) + u16(len(name)) + u16(len(cookie)) + b"\0\0" + pad(name) + pad(cookie)
s = socket.create_connection(("127.0.0.1", 6000 + number))
s.sendall(setup)
answer = b""
while True:
    chunk = s.recv(4096)
    if not chunk:
        break
    answer += chunk
sys.stdout.write(answer.decode())
"#;

fn x11_through_vigil(e: &Env, token: &str, display: u16) -> Output {
    let script = e.sshd.scratch().join("x11_client.py");
    std::fs::write(&script, X11_CLIENT).expect("x11 client script");
    let xauthority = e.sshd.scratch().join("client-Xauthority");
    ssh_command(e.port, "web1", token)
        .env("DISPLAY", format!("127.0.0.1:{display}"))
        .env("XAUTHORITY", &xauthority)
        .arg("-Y")
        .arg(format!("python3 {}", script.display()))
        .output()
        .expect("ssh -Y")
}

#[test]
fn x11_forwarding_reaches_the_clients_display_when_a_rule_allows_it() {
    let e = env();
    let (display, seen) = fake_x_server();
    let forwarder = e.gw.token("fwd", &["forwarders"], "human");
    let out = x11_through_vigil(&e, &forwarder, display);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}\n{}",
        stderr(&out),
        e.gw.log_text(),
        e.sshd.log_text()
    );
    assert_eq!(stdout(&out), "fake-x-server-ok");
    let setup = seen
        .recv_timeout(Duration::from_secs(5))
        .expect("the X server saw no connection");
    assert_eq!(setup[0], b'l');
    assert!(
        setup.windows(18).any(|w| w == b"MIT-MAGIC-COOKIE-1"),
        "{setup:?}"
    );
}

#[test]
fn x11_forwarding_is_refused_without_a_rule() {
    let e = env();
    let (display, seen) = fake_x_server();
    let tools = e.gw.token("tools", &["tools"], "agent");
    let out = x11_through_vigil(&e, &tools, display);
    assert_ne!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stderr(&out).contains("X11 forwarding request failed"),
        "{}",
        stderr(&out)
    );
    assert!(seen.recv_timeout(Duration::from_millis(500)).is_err());
}

/// paramiko asks for a remote forward on a port above 65535 (OpenSSH's client refuses to),
/// which OpenSSH's server would bind modulo 65536.
const WRAPPED_PORT: &str = r#"
import sys, paramiko
port, token, asked = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
client = paramiko.SSHClient()
client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
client.connect("127.0.0.1", port=port, username="web1", password=token,
               look_for_keys=False, allow_agent=False, timeout=20)
try:
    client.get_transport().request_port_forward("localhost", asked)
    print("granted")
except paramiko.SSHException:
    print("refused")
"#;

#[test]
fn a_remote_forward_port_above_65535_is_refused_before_policy() {
    let e = env();
    let forwarder = e.gw.token("fwd", &["forwarders"], "agent");
    let wanted = free_port();
    let out = vigil_e2e::python_code(
        WRAPPED_PORT,
        &[
            &e.port.to_string(),
            &forwarder,
            &(u32::from(wanted) + 65536).to_string(),
        ],
    );
    assert_eq!(stdout(&out), "refused", "{}", stderr(&out));
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", wanted)).is_err(),
        "the target bound the wrapped port"
    );
    let admin = e.gw.token("root", &["admins"], "human");
    ledger_with(&e, &admin, "a port above 65535");
}
