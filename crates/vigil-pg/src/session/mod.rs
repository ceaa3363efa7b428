//! One proxied session: two pumps, one per direction, sharing a little
//! state about what is in flight.

mod client;
mod lexing;
mod names;
mod server;
mod shared;
#[cfg(test)]
mod tests;

pub use lexing::{client_encoding_accepted, unreproduced_settings};

use crate::backend::Upstream;
use crate::cancel::CancelKey;
use crate::catalog::CatalogSource;
use crate::protocol::MessageWriter;
use crate::stream::PgStream;
use shared::Shared;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::sync::watch;
use vigil_guard::{Guard, SessionCtx};
use vigil_sql::{AnalysisCache, Catalog, LineageCache};

/// Everything a logged-in session needs.
pub struct SessionParts {
    pub client: PgStream,
    pub upstream: Upstream,
    pub session: SessionCtx,
    pub catalog: Arc<Catalog>,
    /// Where newer catalogs come from: each statement is analysed with the
    /// latest, and a DDL statement that completes drops the cached one.
    pub catalogs: CatalogSource,
    pub analyses: Arc<AnalysisCache>,
    pub lineages: Arc<LineageCache>,
    pub cancel_key: CancelKey,
}

/// How a session ended, as the client pump saw it.
#[derive(Debug)]
pub(crate) enum End {
    /// The client sent Terminate or closed its side.
    Client,
    /// The gateway is shutting down and the session was idle.
    Shutdown,
    /// The target closed its side.
    Upstream,
}

pub async fn run(guard: &Guard, parts: SessionParts, shutdown: watch::Receiver<bool>) {
    let SessionParts {
        client,
        upstream,
        session,
        catalog,
        catalogs,
        analyses,
        lineages,
        cancel_key,
    } = parts;
    let shared = Shared::default();
    let (mut client_r, mut client_w) = tokio::io::split(client);
    let (mut up_r, mut up_w) = tokio::io::split(upstream.stream);

    let ended = {
        let mut to_server =
            client::ClientPump::new(guard, &session, catalog, &analyses, &lineages, &shared)
                .with_cancels(cancel_key.cancels())
                .with_catalog_source(catalogs.clone());
        let mut to_client = server::ServerPump::new(guard, &session, &shared, upstream.leftover)
            .with_catalogs(catalogs);
        tokio::select! {
            r = to_server.run(&mut client_r, &mut up_w, shutdown) => r,
            r = to_client.run(&mut up_r, &mut client_w) => r,
        }
    };
    match &ended {
        Ok(End::Shutdown) => {
            let mut w = MessageWriter::new();
            w.error(
                "FATAL",
                "57P01",
                "vigil: terminating connection because the gateway is shutting down",
            );
            let _ = client_w.write_all(&w.take()).await;
        }
        Ok(_) => {}
        Err(e) => tracing::info!(session = %session.id, error = %e, "session ended with an error"),
    }
    let mut w = MessageWriter::new();
    w.terminate();
    let _ = up_w.write_all(&w.take()).await;
    let _ = up_w.shutdown().await;
    let _ = client_w.shutdown().await;
    drop(cancel_key);
    guard.close_session(&session).await;
    tracing::info!(session = %session.id, ended = ?ended.as_ref().ok(), "session closed");
}
