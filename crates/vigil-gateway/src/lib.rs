//! Wires the gateway together: the store, the guard, the PostgreSQL,
//! MySQL and SSH front-ends and the HTTP listener (health, metrics, REST
//! API, MCP, the HTTP proxy).

mod console;
mod error;
mod http;
mod ledger_head;
mod mask_key;
mod notify;
mod preview;
mod tls;
mod upstreams;

pub use error::GatewayError;

use prometheus_client::registry::Registry;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;
use vigil_config::Config;
use vigil_core::{ConnectionKind, ConnectionRef};
use vigil_guard::{Guard, Metrics};
use vigil_identity::{IssuerSettings, OidcVerifier};
use vigil_pg::{PgFrontend, PgFrontendConfig, PgTarget};
use vigil_store::{SqliteStore, Store, StoreOptions};
use vigil_target::SqlTarget;

/// Opens the embedded store of a configuration, as the one process that
/// writes its ledger (the gateway).
pub fn open_store(config: &Config) -> Result<Arc<SqliteStore>, GatewayError> {
    open_store_as(config, true)
}

/// Opens the store for a command that manages tokens or keys, possibly
/// beside a running gateway: it never touches the ledger log.
pub fn open_admin_store(config: &Config) -> Result<Arc<SqliteStore>, GatewayError> {
    open_store_as(config, false)
}

fn open_store_as(config: &Config, writes_ledger: bool) -> Result<Arc<SqliteStore>, GatewayError> {
    if config.server.store.is_some() {
        // Refuse rather than silently write the ledger somewhere the operator
        // did not ask for.
        return Err(GatewayError::SharedStoreUnsupported);
    }
    let opts = StoreOptions {
        fsync: config.ledger.fsync,
        checkpoint_every: config.ledger.checkpoint_every,
        writes_ledger,
        fail_log_writes: writes_ledger.then(ledger_failpoint).flatten(),
        ..StoreOptions::default()
    };
    Ok(Arc::new(SqliteStore::open(&config.server.data_dir, opts)?))
}

/// For end-to-end tests of the fail-closed path: with
/// `VIGIL_TEST_LEDGER_FAILPOINT=PATH` in the gateway's environment, every
/// ledger write fails (as on a full disk) while `PATH` exists. Only whoever
/// starts the process can set it; it can only make the gateway refuse more.
fn ledger_failpoint() -> Option<Arc<std::sync::atomic::AtomicBool>> {
    let path = std::path::PathBuf::from(std::env::var_os("VIGIL_TEST_LEDGER_FAILPOINT")?);
    let flag = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watched = Arc::clone(&flag);
    let spawned = std::thread::Builder::new()
        .name("vigil-ledger-failpoint".into())
        .spawn(move || {
            loop {
                watched.store(path.exists(), std::sync::atomic::Ordering::Relaxed);
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
    if let Err(e) = spawned {
        tracing::warn!(error = %e, "could not watch the ledger failpoint");
    }
    tracing::warn!("VIGIL_TEST_LEDGER_FAILPOINT is set: ledger writes fail while its file exists");
    Some(flag)
}

/// The OIDC issuers of `[[identity.oidc]]`, compiled once (keys are fetched
/// on first use).
fn oidc_verifier(config: &Config) -> Result<OidcVerifier, GatewayError> {
    let settings = config
        .identity
        .oidc
        .iter()
        .map(|o| IssuerSettings {
            issuer: o.issuer.clone(),
            audience: o.audience.clone(),
            groups_claim: o.groups_claim.clone(),
            name_claim: o.name_claim.clone(),
            agent_when: o.agent_when.clone(),
            groups: o.groups.clone(),
            leeway: o.leeway,
            grace: o.grace,
            min_refresh_interval: o.min_refresh_interval,
        })
        .collect();
    OidcVerifier::new(settings).map_err(GatewayError::Oidc)
}

/// The connection kinds a front-end serves. A config naming another kind
/// passes `vigil policy check` but is refused here, at its `kind`'s line.
pub const SERVED_KINDS: &[ConnectionKind] = &[
    ConnectionKind::Postgres,
    ConnectionKind::Mysql,
    ConnectionKind::Ssh,
    ConnectionKind::Http,
    ConnectionKind::Kubernetes,
];

/// Runs the gateway until `shutdown` turns true, then drains sessions,
/// signs the final ledger checkpoint and returns.
pub async fn serve(
    config: Config,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), GatewayError> {
    config.check_served(SERVED_KINDS)?;
    let policies = config.compile_policies()?;
    let store = open_store(&config)?;
    ledger_head::start(&config.notify, store.ledger_heads());
    let metrics = Arc::new(Metrics::new());
    let connections = config.connections.iter().map(|c| ConnectionRef {
        name: c.name.clone(),
        kind: c.kind(),
    });
    let dyn_store: Arc<dyn Store> = store.clone();
    let mask_key = mask_key::load_or_create(&config.server.data_dir)?;
    let mut guard = Guard::new(dyn_store, policies, connections, metrics.clone())
        .with_mask_key(mask_key)
        .with_oidc(oidc_verifier(&config)?)
        .with_token_cache(config.identity.token_cache);
    if let Some(notices) = notify::start(&config.notify) {
        guard = guard.with_approval_notices(notices);
    }
    // One target per SQL connection, shared by every front-end: one catalog
    // and one analysis cache per connection.
    let pg_targets = PgTarget::for_connections(upstreams::postgres(&config));
    let mysql_targets = vigil_mysql::MysqlTarget::for_connections(upstreams::mysql(&config));
    let sql_targets: HashMap<String, Arc<dyn SqlTarget>> = pg_targets
        .iter()
        .map(|(name, t)| (name.clone(), t.clone() as Arc<dyn SqlTarget>))
        .chain(
            mysql_targets
                .into_iter()
                .map(|(name, t)| (name, t as Arc<dyn SqlTarget>)),
        )
        .collect();
    // The reviewer's EXPLAIN estimate of each held or refused DML statement.
    let previewer = preview::ExplainPreviewer::new(sql_targets.clone());
    guard = guard.with_previewer(previewer.clone());
    let guard = Arc::new(guard);
    previewer.attach(&guard);

    // Held statements of a previous run have no client any more.
    match guard.recover_approvals().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(n, "withdrew requests held when the gateway last stopped"),
        Err(e) => tracing::warn!(error = %e, "could not close the requests of a previous run"),
    }

    let mut registry = Registry::default();
    metrics.register(&mut registry);
    let registry = Arc::new(registry);

    let mut tasks = tokio::task::JoinSet::new();
    if let Some(addr) = config.listen.postgres {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| GatewayError::Bind(addr, e))?;
        let frontend = Arc::new(PgFrontend::new(
            guard.clone(),
            PgFrontendConfig {
                tls: Some(tls::acceptor(&config)?),
                allow_plaintext_remote: config.tls.allow_plaintext,
                targets: pg_targets.clone(),
                admission: vigil_guard::admission::AdmissionConfig {
                    max_connections: config.server.max_connections,
                    max_connections_per_principal: config.server.max_connections_per_principal,
                    login_failures_per_minute: config.server.login_failures_per_minute,
                },
            },
        ));
        tracing::info!(%addr, "postgres listener ready");
        tasks.spawn(frontend.serve(listener, shutdown.clone()));
    }
    if let Some(addr) = config.listen.mysql {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| GatewayError::Bind(addr, e))?;
        let frontend = Arc::new(vigil_mysql::MysqlFrontend::new(
            guard.clone(),
            vigil_mysql::MysqlFrontendConfig {
                tls: Some(tls::acceptor(&config)?),
                allow_plaintext_remote: config.tls.allow_plaintext,
                upstreams: upstreams::mysql(&config),
                admission: vigil_guard::admission::AdmissionConfig {
                    max_connections: config.server.max_connections,
                    max_connections_per_principal: config.server.max_connections_per_principal,
                    login_failures_per_minute: config.server.login_failures_per_minute,
                },
            },
        ));
        tracing::info!(%addr, "mysql listener ready");
        tasks.spawn(frontend.serve(listener, shutdown.clone()));
    }
    if let Some(addr) = config.listen.ssh {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| GatewayError::Bind(addr, e))?;
        let host_key = vigil_ssh::hostkey::load_or_create(&config.server.data_dir)
            .map_err(|e| GatewayError::Ssh(e.to_string()))?;
        let frontend = Arc::new(vigil_ssh::SshFrontend::new(
            guard.clone(),
            vigil_ssh::SshFrontendConfig {
                targets: upstreams::ssh(&config)?,
                host_key,
                admission: vigil_guard::admission::AdmissionConfig {
                    max_connections: config.server.max_connections,
                    max_connections_per_principal: config.server.max_connections_per_principal,
                    login_failures_per_minute: config.server.login_failures_per_minute,
                },
                recordings: config.server.data_dir.join("recordings"),
            },
        ));
        tracing::info!(%addr, "ssh listener ready");
        tasks.spawn(frontend.serve(listener, shutdown.clone()));
    }
    if let Some(addr) = config.listen.http {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|e| GatewayError::Bind(addr, e))?;
        let proxy = Arc::new(
            vigil_http::HttpProxy::new(
                guard.clone(),
                upstreams::http(&config)?,
                &vigil_guard::admission::AdmissionConfig {
                    max_connections: config.server.max_connections,
                    max_connections_per_principal: config.server.max_connections_per_principal,
                    login_failures_per_minute: config.server.login_failures_per_minute,
                },
                shutdown.clone(),
            )
            .with_kubernetes(
                upstreams::kubernetes(&config)?,
                config.server.data_dir.join("recordings"),
            ),
        );
        let state = http::State {
            proxy,
            tls_cert_pem: Arc::new(tls::cert_pem(&config)?),
            guard: guard.clone(),
            registry,
            admin_groups: config.server.admin_groups.clone(),
            targets: sql_targets.clone(),
            failures: Arc::new(vigil_guard::admission::FailedLogins::new(
                config.server.login_failures_per_minute,
            )),
            recordings: config.server.data_dir.join("recordings"),
            console: Arc::new(console::Console::new(&config.console)),
            ledger: http::LedgerAudit {
                data_dir: config.server.data_dir.clone(),
                options: vigil_store::VerifyOptions {
                    checkpoint_every: config.ledger.checkpoint_every,
                },
            },
            exec_targets: upstreams::ssh(&config)?
                .into_iter()
                .map(|t| {
                    let name = t.name.clone();
                    let exec: Arc<dyn vigil_target::ExecTarget> =
                        Arc::new(vigil_ssh::SshExec::new(t));
                    (name, exec)
                })
                .collect(),
        };
        tracing::info!(%addr, "http listener ready (https, and http from loopback)");
        tasks.spawn(http::serve(
            listener,
            tls::acceptor(&config)?,
            config.tls.allow_plaintext,
            state,
            shutdown.clone(),
        ));
    }
    if tasks.is_empty() {
        return Err(GatewayError::NothingToListen);
    }
    // Wait for the signal, then for every listener to drain.
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    while tasks.join_next().await.is_some() {}
    drop(guard);
    store.close().await?;
    tracing::info!("gateway stopped; ledger checkpoint signed");
    Ok(())
}
