//! A minimal PostgreSQL wire client for what psql does not show: the SQLSTATE of a refused
//! login. It speaks only the startup phase over plain TCP, with a cleartext password (what
//! Vigil asks for).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

/// An ErrorResponse's fields.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PgError {
    /// `S` (localised severity, e.g. `FATAL`).
    pub severity: String,
    /// `C` (SQLSTATE).
    pub code: String,
    /// `M`.
    pub message: String,
}

/// Logs in to `127.0.0.1:port` as `user` to `database` with `password`. Returns `Ok(())` on
/// ReadyForQuery (then closes with Terminate) or the server's ErrorResponse. Panics on I/O
/// errors or an authentication method other than cleartext.
#[track_caller]
pub fn pg_login(port: u16, database: &str, user: &str, password: &str) -> Result<(), PgError> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("could not connect to {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(30)))
        .expect("set_read_timeout");
    let mut body = Vec::new();
    body.extend_from_slice(&196_608u32.to_be_bytes());
    for (k, v) in [("user", user), ("database", database)] {
        body.extend_from_slice(k.as_bytes());
        body.push(0);
        body.extend_from_slice(v.as_bytes());
        body.push(0);
    }
    body.push(0);
    let mut msg = ((body.len() + 4) as u32).to_be_bytes().to_vec();
    msg.extend_from_slice(&body);
    s.write_all(&msg)
        .expect("could not send the startup message");
    loop {
        let mut head = [0u8; 5];
        s.read_exact(&mut head)
            .unwrap_or_else(|e| panic!("the server closed the connection during login: {e}"));
        let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
        let mut body = vec![0u8; len.saturating_sub(4)];
        s.read_exact(&mut body)
            .expect("could not read a message body");
        match head[0] {
            b'R' => {
                let code = u32::from_be_bytes([body[0], body[1], body[2], body[3]]);
                match code {
                    0 => {}
                    3 => {
                        let mut p = vec![b'p'];
                        p.extend_from_slice(&((password.len() + 5) as u32).to_be_bytes());
                        p.extend_from_slice(password.as_bytes());
                        p.push(0);
                        s.write_all(&p).expect("could not send the password");
                    }
                    other => panic!("unsupported authentication request {other}"),
                }
            }
            b'E' => return Err(parse_error(&body)),
            b'Z' => {
                let _ = s.write_all(&[b'X', 0, 0, 0, 4]);
                return Ok(());
            }
            _ => {}
        }
    }
}

/// An ErrorResponse or NoticeResponse body's S, C and M fields.
pub(crate) fn parse_error(body: &[u8]) -> PgError {
    let mut err = PgError {
        severity: String::new(),
        code: String::new(),
        message: String::new(),
    };
    let mut rest = body;
    while let Some((&field, tail)) = rest.split_first() {
        if field == 0 {
            break;
        }
        let end = tail.iter().position(|&b| b == 0).unwrap_or(tail.len());
        let value = String::from_utf8_lossy(&tail[..end]).to_string();
        match field {
            b'S' => err.severity = value,
            b'C' => err.code = value,
            b'M' => err.message = value,
            _ => {}
        }
        rest = tail.get(end + 1..).unwrap_or(&[]);
    }
    err
}
