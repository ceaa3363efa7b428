//! Test doubles for the relay: a scripted target that sends canned packets
//! as soon as Vigil connects, and a client socket whose received packets
//! the test reads back.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::backend::Upstream;
use crate::handshake::Greeting;
use crate::packet::{Reader, frame};
use crate::session::Io;
use crate::upstream_tls::UpstreamStream;
use crate::wire::put_lenenc_str;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vigil_mysql_sql::Target;

/// An EOF packet: 0xFE, warnings, status.
pub fn eof(warnings: u16, status: u16) -> Vec<u8> {
    let mut p = vec![0xFE];
    p.extend_from_slice(&warnings.to_le_bytes());
    p.extend_from_slice(&status.to_le_bytes());
    p
}

/// The OK packet (header 0xFE) a DEPRECATE_EOF client gets for `eof(w, s)`.
pub fn eof_ok(warnings: u16, status: u16) -> Vec<u8> {
    let mut p = vec![0xFE, 0, 0];
    p.extend_from_slice(&status.to_le_bytes());
    p.extend_from_slice(&warnings.to_le_bytes());
    p
}

/// An OK packet: `affected` rows, the status.
pub fn ok(affected: u8, status: u16) -> Vec<u8> {
    let mut p = vec![0x00, affected, 0];
    p.extend_from_slice(&status.to_le_bytes());
    p.extend_from_slice(&0u16.to_le_bytes());
    p
}

/// A column definition of `db.t.name`, of MySQL type `ty`.
pub fn column(name: &str, ty: u8) -> Vec<u8> {
    let mut p = Vec::new();
    for s in ["def", "db", "t", "t", name, name] {
        put_lenenc_str(&mut p, s.as_bytes());
    }
    p.push(0x0c);
    p.extend_from_slice(&45u16.to_le_bytes());
    p.extend_from_slice(&11u32.to_le_bytes());
    p.push(ty);
    p.extend_from_slice(&0u16.to_le_bytes());
    p.extend_from_slice(&[0, 0, 0]);
    p
}

/// A text row of the given values.
pub fn text_row(values: &[&str]) -> Vec<u8> {
    let mut p = Vec::new();
    for v in values {
        put_lenenc_str(&mut p, v.as_bytes());
    }
    p
}

/// A target that sends `answer` (numbered from 1) once Vigil connects,
/// then waits until Vigil hangs up.
pub async fn upstream(answer: Vec<Vec<u8>>) -> Upstream {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut io, _) = listener.accept().await.unwrap();
        let mut out = Vec::new();
        let mut seq = 1;
        for p in &answer {
            frame(&mut out, &mut seq, p);
        }
        io.write_all(&out).await.unwrap();
        let mut rest = Vec::new();
        let _ = io.read_to_end(&mut rest).await;
    });
    let io = TcpStream::connect(addr).await.unwrap();
    Upstream {
        io: UpstreamStream::Plain(io),
        reader: Reader::default(),
        greeting: Greeting {
            server_version: "10.11.6-MariaDB".into(),
            connection_id: 7,
            salt: vec![1; 20],
            capabilities: 0,
            charset: 45,
            status: 0,
            plugin: String::new(),
        },
        target: Target::from_server_version("10.11.6-MariaDB"),
        capabilities: 0,
    }
}

/// A connected client socket: Vigil's end, and the client's.
pub async fn client() -> (Box<dyn Io>, TcpStream) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let theirs = TcpStream::connect(addr).await.unwrap();
    let (ours, _) = listener.accept().await.unwrap();
    (Box::new(ours), theirs)
}

/// Every packet the client received until Vigil's end closed: (sequence
/// id, payload).
pub async fn received(mut theirs: TcpStream) -> Vec<(u8, Vec<u8>)> {
    let mut bytes = Vec::new();
    theirs.read_to_end(&mut bytes).await.unwrap();
    let mut rest = &bytes[..];
    let mut packets = Vec::new();
    while !rest.is_empty() {
        assert!(rest.len() >= 4, "a torn packet header");
        let len = usize::from(rest[0]) | usize::from(rest[1]) << 8 | usize::from(rest[2]) << 16;
        packets.push((rest[3], rest[4..4 + len].to_vec()));
        rest = &rest[4 + len..];
    }
    packets
}

/// `payloads` numbered from `seq`, as the client should read them.
pub fn numbered(seq: u8, payloads: Vec<Vec<u8>>) -> Vec<(u8, Vec<u8>)> {
    payloads
        .into_iter()
        .enumerate()
        .map(|(i, p)| (seq.wrapping_add(i as u8), p))
        .collect()
}
