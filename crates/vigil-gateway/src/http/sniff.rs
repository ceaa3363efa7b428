//! One port for `https://` and, from loopback, `http://`: the first byte a
//! client sends tells them apart (a TLS record starts with 0x16, the
//! handshake type; no HTTP method does). Plaintext from any other address
//! is answered `400` and closed, unless `[tls] allow_plaintext` says
//! otherwise: bearer tokens travel in every request.
//!
//! Handshakes run in their own tasks (a bounded number, each with a
//! deadline), so a slow or silent client never holds up the accept loop;
//! ready connections reach axum through a bounded channel.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// First byte of a TLS record carrying a handshake (the ClientHello).
const TLS_HANDSHAKE: u8 = 0x16;
/// Connections between accept and ready (sniffing or in a TLS handshake).
const MAX_HANDSHAKES: usize = 256;
/// How long a client has to send its first byte and finish a handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Ready connections axum has not taken yet.
const READY_QUEUE: usize = 64;

const PLAINTEXT_REFUSED: &str =
    "vigil: this listener requires TLS (https://) for clients that are not on loopback\n";

/// What to do with a connection, by its first byte and where it comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Route {
    Tls,
    Plain,
    Refuse,
}

fn route(first: u8, peer_is_loopback: bool, allow_plaintext: bool) -> Route {
    if first == TLS_HANDSHAKE {
        Route::Tls
    } else if peer_is_loopback || allow_plaintext {
        Route::Plain
    } else {
        Route::Refuse
    }
}

/// A client connection, in TLS or (from loopback) plain.
pub enum HttpStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for HttpStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            HttpStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            HttpStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for HttpStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            HttpStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            HttpStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            HttpStream::Plain(s) => Pin::new(s).poll_flush(cx),
            HttpStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            HttpStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            HttpStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// The listener axum serves: connections already sorted and handshaken.
pub struct SniffListener {
    ready: mpsc::Receiver<(HttpStream, SocketAddr)>,
    local: SocketAddr,
}

impl SniffListener {
    /// Starts accepting on `listener`; stops when the returned listener is
    /// dropped (axum's serve ended).
    pub fn start(
        listener: TcpListener,
        tls: TlsAcceptor,
        allow_plaintext: bool,
    ) -> std::io::Result<Self> {
        let local = listener.local_addr()?;
        let (tx, ready) = mpsc::channel(READY_QUEUE);
        tokio::spawn(accept_loop(listener, tls, allow_plaintext, tx));
        Ok(SniffListener { ready, local })
    }
}

impl axum::serve::Listener for SniffListener {
    type Io = HttpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(conn) => conn,
            // The accept loop only ends once this listener is gone.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        Ok(self.local)
    }
}

async fn accept_loop(
    listener: TcpListener,
    tls: TlsAcceptor,
    allow_plaintext: bool,
    tx: mpsc::Sender<(HttpStream, SocketAddr)>,
) {
    let slots = Arc::new(Semaphore::new(MAX_HANDSHAKES));
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = tx.closed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(conn) => conn,
            Err(e) => {
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tracing::warn!(%peer, "http connection closed: too many handshakes in progress");
            continue;
        };
        let (tls, tx) = (tls.clone(), tx.clone());
        tokio::spawn(async move {
            let sorted =
                tokio::time::timeout(HANDSHAKE_TIMEOUT, sort(tcp, peer, &tls, allow_plaintext))
                    .await;
            drop(slot);
            match sorted {
                Ok(Ok(Some(stream))) => {
                    let _ = tx.send((stream, peer)).await;
                }
                Ok(Ok(None)) => {}
                Ok(Err(e)) => {
                    tracing::debug!(%peer, error = %e, "http connection ended before its first request")
                }
                Err(_) => tracing::debug!(%peer, "http client sent nothing in time"),
            }
        });
    }
}

/// Reads (without consuming) the first byte and makes the stream it asks for.
async fn sort(
    tcp: TcpStream,
    peer: SocketAddr,
    tls: &TlsAcceptor,
    allow_plaintext: bool,
) -> std::io::Result<Option<HttpStream>> {
    let _ = tcp.set_nodelay(true);
    let mut first = [0u8; 1];
    if tcp.peek(&mut first).await? == 0 {
        return Ok(None);
    }
    match route(first[0], peer.ip().is_loopback(), allow_plaintext) {
        Route::Tls => Ok(Some(HttpStream::Tls(Box::new(tls.accept(tcp).await?)))),
        Route::Plain => Ok(Some(HttpStream::Plain(tcp))),
        Route::Refuse => {
            tracing::info!(%peer, "plaintext http from a remote address refused");
            refuse(tcp).await;
            Ok(None)
        }
    }
}

async fn refuse(mut tcp: TcpStream) {
    let answer = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{PLAINTEXT_REFUSED}",
        PLAINTEXT_REFUSED.len()
    );
    let _ = tcp.write_all(answer.as_bytes()).await;
    let _ = tcp.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::{Route, route};

    #[test]
    fn tls_is_taken_from_anyone_and_plaintext_only_from_loopback_unless_allowed() {
        assert_eq!(route(0x16, false, false), Route::Tls);
        assert_eq!(route(0x16, true, false), Route::Tls);
        assert_eq!(route(b'G', true, false), Route::Plain);
        assert_eq!(route(b'P', false, false), Route::Refuse);
        assert_eq!(route(b'G', false, true), Route::Plain);
    }
}
