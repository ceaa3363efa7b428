//! Vigil's MCP front-end: `/mcp` on the HTTP listener, streamable HTTP.
//!
//! Agents reach databases through four tools (`list_connections`,
//! `describe_connection`, `query`, `approval_status`), SSH servers through
//! `ssh_exec`, HTTP APIs through `http_request` and Kubernetes API servers
//! through `kubernetes`. Like every front-end
//! it decides nothing: each request is authenticated by the guard's one
//! gate, each statement goes through `guard.decide` exactly as a psql
//! statement does (analysis, policy, review, ledger before forwarding), and
//! rows are masked by the PostgreSQL front-end's own masking code.
//!
//! Outcomes an agent can act on are tool results, not protocol errors:
//! `ok`, `denied`, `pending_approval` (a review never makes a tool call
//! wait: the request is recorded in retry mode, and the same call passes
//! once a reviewer approved it) and `error`.

mod api_call;
mod approval;
mod auth;
mod describe;
mod k8s_path;
mod outcome;
mod query;
mod server;
mod ssh_exec;
mod tool_session;
mod tools;

pub use auth::{Caller, RUN_HEADER};

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use vigil_guard::Guard;
use vigil_target::{ApiTarget, ExecTarget, SqlTarget};

/// Bounds of what one tool call may ask for.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Rows returned when the call names no `max_rows`.
    pub default_rows: usize,
    /// The most rows a call may ask for.
    pub max_rows: usize,
    /// Bytes of row values returned at most; past it the result is truncated.
    pub max_result_bytes: usize,
    /// The longest `approval_status` long-poll.
    pub max_wait: Duration,
    /// Relations listed by `describe_connection` at most (columns).
    pub max_described_columns: usize,
    /// Parameters one `query` call may bind.
    pub max_parameters: usize,
    /// Tool calls holding an upstream connection at once (all principals);
    /// past it a call waits up to `busy_wait`, then is answered `error`.
    pub max_concurrent_calls: usize,
    pub busy_wait: Duration,
    /// `approval_status` calls waiting at once; past it a call answers at once.
    pub max_waiting_polls: usize,
    /// The longest a statement may take before the call gives up on it
    /// (the upstream connection is then closed, which ends it).
    pub statement_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            default_rows: 200,
            max_rows: 1000,
            max_result_bytes: 4 << 20,
            max_wait: Duration::from_secs(60),
            max_described_columns: 5000,
            max_parameters: 256,
            max_concurrent_calls: 64,
            busy_wait: Duration::from_secs(10),
            max_waiting_polls: 256,
            statement_timeout: Duration::from_secs(120),
        }
    }
}

/// What the MCP tools share: the guard and the targets (each with the
/// catalog and analyses every front-end shares).
pub struct Mcp {
    guard: Arc<Guard>,
    targets: HashMap<String, Arc<dyn SqlTarget>>,
    /// Connections that run commands (SSH), for `ssh_exec`.
    exec_targets: HashMap<String, Arc<dyn ExecTarget>>,
    /// HTTP APIs and Kubernetes API servers, for `http_request` and
    /// `kubernetes` (each target says which it is).
    api_targets: HashMap<String, Arc<dyn ApiTarget>>,
    limits: Limits,
    /// One permit per tool call that holds an upstream connection.
    calls: Arc<tokio::sync::Semaphore>,
    /// One permit per waiting `approval_status` long-poll.
    polls: Arc<tokio::sync::Semaphore>,
    shutdown: watch::Receiver<bool>,
}

impl Mcp {
    pub fn new(
        guard: Arc<Guard>,
        targets: HashMap<String, Arc<dyn SqlTarget>>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Self {
            guard,
            targets,
            exec_targets: HashMap::new(),
            api_targets: HashMap::new(),
            calls: Arc::new(tokio::sync::Semaphore::new(
                Limits::default().max_concurrent_calls,
            )),
            polls: Arc::new(tokio::sync::Semaphore::new(
                Limits::default().max_waiting_polls,
            )),
            limits: Limits::default(),
            shutdown,
        }
    }

    /// Serves `ssh_exec` on these connections.
    pub fn with_exec_targets(mut self, targets: HashMap<String, Arc<dyn ExecTarget>>) -> Self {
        self.exec_targets = targets;
        self
    }

    /// Serves `http_request` and `kubernetes` on these connections.
    pub fn with_api_targets(mut self, targets: HashMap<String, Arc<dyn ApiTarget>>) -> Self {
        self.api_targets = targets;
        self
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.calls = Arc::new(tokio::sync::Semaphore::new(limits.max_concurrent_calls));
        self.polls = Arc::new(tokio::sync::Semaphore::new(limits.max_waiting_polls));
        self.limits = limits;
        self
    }
}

/// The `/mcp` endpoint: bearer authentication on every request, then the
/// MCP streamable HTTP transport (stateless: each POST stands alone, so no
/// per-client state grows on the gateway).
pub fn router<S>(mcp: Mcp) -> axum::Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    use rmcp::transport::streamable_http_server::session::never::NeverSessionManager;
    use rmcp::transport::streamable_http_server::{
        StreamableHttpServerConfig, StreamableHttpService,
    };

    let cancel = tokio_util::sync::CancellationToken::new();
    {
        let cancel = cancel.clone();
        let mut shutdown = mcp.shutdown.clone();
        tokio::spawn(async move {
            while !*shutdown.borrow_and_update() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
            cancel.cancel();
        });
    }
    let mcp = Arc::new(mcp);
    let guard = mcp.guard.clone();
    let config = StreamableHttpServerConfig::default()
        .with_legacy_session_mode(false)
        .with_json_response(true)
        .with_sse_keep_alive(Some(Duration::from_secs(15)))
        .with_max_request_body_bytes(1 << 20)
        .with_cancellation_token(cancel)
        // Every request carries a bearer credential, which a page rebinding
        // a host name cannot forge; the listener's address is the operator's.
        .disable_allowed_hosts();
    let service = StreamableHttpService::new(
        move || Ok(server::VigilMcp::new(mcp.clone())),
        Arc::new(NeverSessionManager::default()),
        config,
    );
    axum::Router::new()
        .route_service("/mcp", service)
        .layer(axum::middleware::from_fn_with_state(
            guard,
            auth::authenticate,
        ))
}
