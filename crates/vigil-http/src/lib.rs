//! Vigil's HTTP proxy front-end: `/proxy/<connection>/<path>` on the
//! gateway's HTTP listener.
//!
//! Each request is read by [`vigil_http_req`] (a request it could read in
//! more than one way is refused with 400 before policy), its caller logs
//! in through the guard's one login flow (`Authorization: Bearer`,
//! `Proxy-Authorization`, or basic with the token as the password), and
//! the guard decides it once: nothing is sent to the target without the
//! [`vigil_guard::Permit`] that decision returns. The caller's own
//! credentials and cookies never reach the target; the connection's
//! credential is injected instead. A `review` rule holds the request
//! (its body buffered, bounded) until a reviewer approves exactly that
//! request. Responses are streamed back, or, when a mask applies, read
//! whole (bounded), masked, or refused with 502 when they cannot be.
//!
//! The Kubernetes API proxy (`/k8s/<connection>/...`) is [`k8s`]; it
//! shares the login, the body bound and the forwarding client.
//!
//! Layout: `handler.rs` (one request from login to decision), `body.rs`
//! (the bounded request body), `answer.rs` (the permitted request sent and
//! its answer relayed, masked or refused), `forward.rs` (the request's
//! fields and credential), `relay.rs` (the streamed answer and its ledger
//! outcome), `mask.rs` (JSON masking), `target.rs` (a connection's
//! client and credential), `credential.rs` (the caller's token),
//! `reply.rs` (Vigil's own answers).

mod answer;
mod api_target;
mod body;
mod credential;
mod decode;
mod error;
mod forward;
mod handler;
pub mod k8s;
mod mask;
mod ndjson;
mod relay;
mod reply;
mod target;

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::watch;
use vigil_guard::Guard;

pub use api_target::{HttpApi, KubeApi};
pub use error::HttpError;
pub use target::{HttpTarget, HttpTargetConfig, UpstreamAuth};

/// Where the proxy is mounted on the HTTP listener.
pub const PREFIX: &str = "/proxy/";
/// The largest request body Vigil accepts (it is read whole, so that the
/// decision, an approval's binding and the forwarded bytes are the same).
pub const MAX_REQUEST_BODY: usize = 16 * 1024 * 1024;
/// The largest request body streamed to the target (policy allowed the
/// request outright and no rule reads bodies): not held in memory, so it
/// may be larger than [`MAX_REQUEST_BODY`].
pub const MAX_STREAMED_BODY: u64 = 1024 * 1024 * 1024;
/// How long a client has to send its request body (streamed: each chunk).
pub const BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Ties the requests of one agent run together in the ledger (as on `/mcp`).
pub const RUN_HEADER: &str = "x-vigil-run";

/// The proxy: the guard and the HTTP connections it serves.
pub struct HttpProxy {
    guard: Arc<Guard>,
    /// Requests in flight, globally and per principal.
    caps: Arc<vigil_guard::admission::Caps>,
    targets: HashMap<String, Arc<HttpTarget>>,
    /// The `kind = "kubernetes"` connections, under `/k8s/`.
    kube: HashMap<String, Arc<HttpTarget>>,
    /// `data_dir/recordings`: where exec streams are recorded.
    recordings: std::path::PathBuf,
    shutdown: watch::Receiver<bool>,
}

impl HttpProxy {
    /// `admission` bounds the requests in flight like sessions of the other
    /// protocols (its failed-login budget is the listener's own).
    pub fn new(
        guard: Arc<Guard>,
        targets: impl IntoIterator<Item = HttpTarget>,
        admission: &vigil_guard::admission::AdmissionConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        HttpProxy {
            guard,
            caps: vigil_guard::admission::Caps::new(
                admission.max_connections,
                admission.max_connections_per_principal,
            ),
            targets: targets
                .into_iter()
                .map(|t| (t.name.clone(), Arc::new(t)))
                .collect(),
            kube: HashMap::new(),
            recordings: std::path::PathBuf::from("recordings"),
            shutdown,
        }
    }

    /// Serves `targets` (Kubernetes API servers) under `/k8s/`, recording
    /// exec streams under `recordings` (`data_dir/recordings`).
    pub fn with_kubernetes(
        mut self,
        targets: impl IntoIterator<Item = HttpTarget>,
        recordings: std::path::PathBuf,
    ) -> Self {
        self.kube = targets
            .into_iter()
            .map(|t| (t.name.clone(), Arc::new(t)))
            .collect();
        self.recordings = recordings;
        self
    }
}

/// The `/proxy/...` routes, to merge into the listener's router.
pub fn router<S>(proxy: Arc<HttpProxy>) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    axum::Router::new()
        .route("/proxy/{*rest}", axum::routing::any(handler::proxy))
        .route("/k8s/{*rest}", axum::routing::any(k8s::handler::kube))
        .with_state(proxy)
}
