//! TLS towards the target: after its greeting, Vigil sends the SSL request
//! and wraps the connection in rustls (aws-lc-rs). The modes are the
//! PostgreSQL front-end's: `require` encrypts and checks the handshake's
//! signatures but not the certificate, `verify-full` checks the chain
//! (against `tls_ca` or the system roots) and the address's host name.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::error::{MysqlError, Result};

/// TLS towards the target, as the connection's `tls` and `tls_ca` say.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum UpstreamTls {
    /// Plaintext.
    #[default]
    Disable,
    /// Encrypted (any certificate) when the target offers TLS, plaintext
    /// when it does not.
    Prefer,
    /// Encrypted, any certificate.
    Require,
    /// Encrypted, chain and host name checked; `ca`: the trusted roots
    /// (the system's when `None`).
    VerifyFull { ca: Option<PathBuf> },
}

/// The connection to the target, in clear or inside TLS.
pub enum UpstreamStream {
    Plain(TcpStream),
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl UpstreamStream {
    pub fn is_tls(&self) -> bool {
        matches!(self, UpstreamStream::Tls(_))
    }
}

impl AsyncRead for UpstreamStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for UpstreamStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_flush(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            UpstreamStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            UpstreamStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

fn tls_error(m: String) -> MysqlError {
    MysqlError::Login(format!("TLS to the target: {m}"))
}

/// The TLS handshake over `tcp` (the SSL request already sent).
pub async fn start(tcp: TcpStream, mode: &UpstreamTls, address: &str) -> Result<UpstreamStream> {
    let verify = match mode {
        UpstreamTls::VerifyFull { ca } => vigil_tls::Verify::Chain { ca: ca.clone() },
        _ => vigil_tls::Verify::SignaturesOnly,
    };
    let tls = vigil_tls::connect(tcp, &verify, address)
        .await
        .map_err(tls_error)?;
    Ok(UpstreamStream::Tls(Box::new(tls)))
}
