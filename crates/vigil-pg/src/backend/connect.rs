use super::{BackendError, auth, tls};
use crate::protocol::{self, MessageWriter, next_frame};
use crate::stream::PgStream;
use bytes::BytesMut;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use vigil_core::Secret;

/// How to reach one target and log in to it.
#[derive(Clone, Debug)]
pub struct UpstreamConfig {
    pub address: String,
    pub database: String,
    pub user: String,
    pub password: Option<Secret<String>>,
    pub tls: UpstreamTls,
    /// What the target may ask for (SCRAM-SHA-256 only by default).
    pub auth: super::AuthMethods,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UpstreamTls {
    Disable,
    /// Encrypt when the server agrees, without checking its certificate;
    /// plaintext when it refuses (libpq's `prefer`).
    Prefer,
    /// Encrypt, without checking the server's certificate (libpq's `require`).
    Require,
    /// Encrypt and verify the certificate and host name against a CA file.
    VerifyFull {
        ca: Option<PathBuf>,
    },
}

/// A logged-in upstream connection, ready for queries.
pub struct Upstream {
    pub stream: PgStream,
    pub pid: u32,
    pub secret: u32,
    /// ParameterStatus messages from the server, in order, to replay to the client.
    pub parameter_status: Vec<u8>,
    /// Bytes read past the first ReadyForQuery (normally none).
    pub leftover: BytesMut,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Startup parameters a client may pass through. `options` is left out on
/// purpose: it can set arbitrary server settings (`-c search_path=...`).
/// `client_encoding` is not passed either: the front-end accepts only
/// encodings it reads exactly as UTF-8 and the target is always asked for
/// UTF-8 (see `LEXING`).
const PASSTHROUGH: &[&str] = &[
    "application_name",
    "DateStyle",
    "TimeZone",
    "IntervalStyle",
    "extra_float_digits",
];

/// The settings under which Vigil's analyser reads statements exactly as
/// the server does. Startup parameters outrank role and database defaults,
/// so a role's `SET standard_conforming_strings = off` cannot apply; the
/// session still checks every ParameterStatus the server reports.
const LEXING: &[(&str, &str)] = &[
    ("client_encoding", "UTF8"),
    ("standard_conforming_strings", "on"),
];

pub async fn connect(
    cfg: &UpstreamConfig,
    client_params: &[(String, String)],
) -> Result<Upstream, BackendError> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&cfg.address))
        .await
        .map_err(|_| BackendError::Io(std::io::Error::other("connect timed out")))??;
    tcp.set_nodelay(true)?;
    let mut stream = match &cfg.tls {
        UpstreamTls::Disable => PgStream::Plain(tcp),
        mode => tls::start(tcp, mode, &cfg.address).await?,
    };

    let mut params: Vec<(&str, &str)> = vec![("user", &cfg.user), ("database", &cfg.database)];
    params.extend_from_slice(LEXING);
    for (k, v) in client_params {
        if PASSTHROUGH.contains(&k.as_str()) {
            params.push((k, v));
        }
    }
    let mut w = MessageWriter::new();
    w.startup(&params);
    stream.write_all(&w.take()).await?;

    let mut buf = BytesMut::with_capacity(4096);
    let mut login = auth::Login::new(cfg, tls::server_end_point(&stream));
    let mut parameter_status = Vec::new();
    let (mut pid, mut secret) = (0, 0);
    loop {
        let Some((tag, msg)) = next_frame(&mut buf, 1 << 20)? else {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(BackendError::Protocol(
                    "server closed the connection during login".into(),
                ));
            }
            continue;
        };
        match tag {
            b'R' => {
                if let Some(reply) = login.step(&msg)? {
                    stream.write_all(&reply).await?;
                }
            }
            b'S' => parameter_status.extend_from_slice(&msg),
            b'K' => {
                let mut r = protocol::MessageReader::new(&msg, "BackendKeyData");
                pid = r.i32()? as u32;
                secret = r.i32()? as u32;
            }
            b'Z' => {
                return Ok(Upstream {
                    stream,
                    pid,
                    secret,
                    parameter_status,
                    leftover: buf,
                });
            }
            b'E' => {
                let f = protocol::parse_error_fields(&msg)?;
                return Err(BackendError::Auth(format!("{} ({})", f.message, f.code)));
            }
            b'N' | b'v' => {}
            other => {
                return Err(BackendError::Protocol(format!(
                    "unexpected message '{}' during login",
                    other as char
                )));
            }
        }
    }
}

/// Forwards a client's cancel to the target with the target's own key.
pub async fn send_cancel(cfg: &UpstreamConfig, pid: u32, secret: u32) -> Result<(), BackendError> {
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(&cfg.address))
        .await
        .map_err(|_| BackendError::Io(std::io::Error::other("connect timed out")))??;
    let mut stream = match &cfg.tls {
        UpstreamTls::Disable => PgStream::Plain(tcp),
        mode => tls::start(tcp, mode, &cfg.address).await?,
    };
    let mut w = MessageWriter::new();
    w.cancel_request(pid, secret);
    stream.write_all(&w.take()).await?;
    stream.flush().await?;
    // The server closes the connection once it has read the request.
    let mut sink = [0u8; 16];
    let _ = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut sink)).await;
    Ok(())
}
