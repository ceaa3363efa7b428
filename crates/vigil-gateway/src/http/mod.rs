//! The HTTP listener: `/healthz`, `/metrics`, the REST API under `/api/v1`,
//! the MCP endpoint `/mcp`, the HTTP proxy `/proxy/<connection>/...` and
//! the Kubernetes proxy `/k8s/<connection>/...`, and the web console at `/`
//! ([`crate::console`]).

mod api;
mod approvals;
mod auth;
mod kubeconfig;
mod limit;
mod recordings;
mod sniff;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use vigil_guard::Guard;
use vigil_target::SqlTarget;

pub use auth::Caller;
pub use limit::OverTls;

#[derive(Clone)]
pub struct State {
    pub guard: Arc<Guard>,
    pub registry: Arc<Registry>,
    pub admin_groups: Vec<String>,
    /// SQL targets, for the MCP tools.
    pub targets: HashMap<String, Arc<dyn SqlTarget>>,
    /// Failed logins per source address (answers of `401`).
    pub failures: Arc<vigil_guard::admission::FailedLogins>,
    /// SSH connections, for the MCP `ssh_exec` tool.
    pub exec_targets: HashMap<String, Arc<dyn vigil_target::ExecTarget>>,
    /// `data_dir/recordings`: SSH channel recordings, served to admins.
    pub recordings: std::path::PathBuf,
    /// The `kind = "http"` connections, under `/proxy/`.
    pub proxy: Arc<vigil_http::HttpProxy>,
    /// The certificate (PEM) this listener offers, for `/api/v1/kubeconfig`.
    pub tls_cert_pem: Arc<String>,
    /// The web console's sessions and sign-in.
    pub console: Arc<crate::console::Console>,
    /// Where the ledger is and how it is verified, for `/api/v1/audit`.
    pub ledger: LedgerAudit,
}

/// What `/api/v1/audit` verifies.
#[derive(Clone)]
pub struct LedgerAudit {
    pub data_dir: std::path::PathBuf,
    pub options: vigil_store::VerifyOptions,
}

/// Serves the routes on `listener`: TLS to anyone, plaintext to loopback
/// clients (and to everyone when `allow_plaintext`).
pub async fn serve(
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
    allow_plaintext: bool,
    state: State,
    mut shutdown: watch::Receiver<bool>,
) {
    let listener = match sniff::SniffListener::start(listener, tls, allow_plaintext) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "http listener failed");
            return;
        }
    };
    let mcp = vigil_mcp::Mcp::new(state.guard.clone(), state.targets.clone(), shutdown.clone())
        .with_exec_targets(state.exec_targets.clone())
        .with_api_targets(state.proxy.api_targets());
    let app = Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .nest(
            "/api/v1",
            api::routes()
                .merge(approvals::routes())
                .merge(recordings::routes())
                .merge(kubeconfig::routes())
                .layer(axum::middleware::from_fn(crate::console::headers::api)),
        )
        .merge(crate::console::routes())
        .merge(vigil_mcp::router(mcp))
        .merge(vigil_http::router(state.proxy.clone()))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            limit::failed_logins,
        ))
        .with_state(state);
    let stop = async move {
        while !*shutdown.borrow() {
            if shutdown.changed().await.is_err() {
                break;
            }
        }
    };
    let app = app.into_make_service_with_connect_info::<limit::Peer>();
    if let Err(e) = axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
    {
        tracing::error!(error = %e, "http listener failed");
    }
}

async fn metrics(axum::extract::State(state): axum::extract::State<State>) -> impl IntoResponse {
    let mut text = String::new();
    match prometheus_client::encoding::text::encode(&mut text, &state.registry) {
        Ok(()) => (
            StatusCode::OK,
            [(
                "content-type",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
            )],
            text,
        ),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            [("content-type", "text/plain")],
            String::new(),
        ),
    }
}
