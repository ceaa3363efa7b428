//! `pods/<name>/exec` over WebSocket, the way kubectl 1.30+ runs it: the
//! `v5.channel.k8s.io` (or `v4`) subprotocol, binary messages whose first byte is the
//! channel (0 stdin, 1 stdout, 2 stderr, 3 status, 4 resize; `[255, 0]` closes stdin in
//! v5), a `Status` on channel 3, then close.
//!
//! The commands are a fixed table: `echo ARGS`, `hostname` (the pod's name), `cat` (stdin
//! back on stdout until stdin closes), `false` (exit 1), `sh -c TEXT` (prints
//! `sh ran: TEXT`); anything else is `command not found`, exit 127.

use std::io::Write;
use std::net::TcpStream;
use std::time::Duration;

use serde_json::json;
use tungstenite::protocol::Role;
use tungstenite::protocol::frame::CloseFrame;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

use super::wire::Request;

/// The subprotocols the double speaks, best first.
const PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
const CLOSE: u8 = 255;

/// Every subprotocol the client offered (one field or several, comma separated).
pub(super) fn offered(req: &Request) -> Vec<String> {
    req.headers
        .iter()
        .filter(|(n, _)| n == "sec-websocket-protocol")
        .flat_map(|(_, v)| v.split(','))
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// The subprotocol the double picks from what the client offered.
pub(super) fn choose(req: &Request) -> Option<&'static str> {
    let offered = offered(req);
    PROTOCOLS
        .iter()
        .copied()
        .find(|p| offered.iter().any(|o| o == p))
}

/// Completes the handshake on `stream` (`buffered`: bytes already read past the request
/// head) with `protocol`, runs the command and closes.
pub(super) fn serve(
    mut stream: TcpStream,
    buffered: Vec<u8>,
    req: &Request,
    protocol: &'static str,
    pod: &str,
) {
    let key = req.header("sec-websocket-key");
    let accept = tungstenite::handshake::derive_accept_key(key.as_bytes());
    let head = format!(
        "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\nsec-websocket-protocol: {protocol}\r\n\r\n"
    );
    if stream.write_all(head.as_bytes()).is_err() {
        return;
    }
    let _ = stream.set_read_timeout(Some(Duration::from_secs(20)));
    let mut ws = WebSocket::from_partially_read(stream, buffered, Role::Server, None);
    let argv = req.params("command");
    let stdin = matches!(req.param("stdin"), Some("true" | "1"));
    let code = run(&mut ws, &argv, stdin, pod);
    let status = if code == 0 {
        json!({"metadata": {}, "status": "Success"})
    } else {
        json!({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
            "message": format!(
                "command terminated with non-zero exit code: error executing command {argv:?}, exit code {code}"),
            "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]}})
    };
    send(&mut ws, STATUS, status.to_string().as_bytes());
    // A normal closure (1000): kubectl reports a close without a code as an error.
    let _ = ws.close(Some(CloseFrame {
        code: CloseCode::Normal,
        reason: "".into(),
    }));
    // Read until the client's close frame (or the timeout) so the close is clean.
    while ws.read().is_ok() {}
}

/// Runs `argv` and returns its exit code.
fn run(ws: &mut WebSocket<TcpStream>, argv: &[String], stdin: bool, pod: &str) -> i32 {
    let args = argv.get(1..).unwrap_or_default();
    match argv.first().map(String::as_str) {
        Some("echo") => {
            send(ws, STDOUT, format!("{}\n", args.join(" ")).as_bytes());
            0
        }
        Some("hostname") => {
            send(ws, STDOUT, format!("{pod}\n").as_bytes());
            0
        }
        Some("cat") if args.is_empty() => {
            if stdin {
                cat(ws);
            }
            0
        }
        Some("false") => 1,
        Some("sh") if args.first().is_some_and(|a| a == "-c") => {
            let text = args.get(1..).unwrap_or_default().join(" ");
            send(ws, STDOUT, format!("sh ran: {text}\n").as_bytes());
            0
        }
        Some(other) => {
            send(
                ws,
                STDERR,
                format!("{other}: command not found\n").as_bytes(),
            );
            127
        }
        None => {
            send(ws, STDERR, b"no command given\n");
            127
        }
    }
}

/// Stdin back on stdout until the client closes stdin (v5) or the connection.
fn cat(ws: &mut WebSocket<TcpStream>) {
    loop {
        match ws.read() {
            Ok(Message::Binary(data)) => match data.first() {
                Some(&STDIN) if data.len() > 1 => send(ws, STDOUT, &data[1..]),
                Some(&CLOSE) if data.get(1) == Some(&STDIN) => return,
                _ => {}
            },
            Ok(Message::Close(_)) | Err(_) => return,
            Ok(_) => {}
        }
    }
}

fn send(ws: &mut WebSocket<TcpStream>, channel: u8, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    let mut message = Vec::with_capacity(data.len() + 1);
    message.push(channel);
    message.extend_from_slice(data);
    let _ = ws.send(Message::Binary(message.into()));
}
