//! The accept loop every TCP listener shares: a connection slot before a
//! byte is read, one task per client, and on shutdown a drain of the open
//! sessions.

use super::{Caps, ConnectionSlot};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// Accepts clients on `listener` until `shutdown` turns true, then waits for
/// open sessions to finish. A client arriving while `caps` is full past the
/// login margin is closed at once; every other one runs `handle` in its own
/// task. `name` labels the log lines (`postgres`, `mysql`).
pub async fn accept_until_shutdown<F, Fut>(
    name: &'static str,
    listener: TcpListener,
    caps: Arc<Caps>,
    mut shutdown: watch::Receiver<bool>,
    mut handle: F,
) where
    F: FnMut(TcpStream, SocketAddr, ConnectionSlot, watch::Receiver<bool>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let mut sessions = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    // Full past the login margin: close before reading a byte.
                    let Some(slot) = caps.connection() else {
                        tracing::warn!(%peer, listener = name, "connection closed: the gateway is full");
                        continue;
                    };
                    sessions.spawn(handle(tcp, peer, slot, shutdown.clone()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, listener = name, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            _ = shutdown.changed() => break,
        }
    }
    drop(listener);
    tracing::info!(
        open = sessions.len(),
        listener = name,
        "listener closed; draining sessions"
    );
    while sessions.join_next().await.is_some() {}
}
