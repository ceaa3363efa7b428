//! Accepts MySQL clients: the greeting, TLS when the client asks, the
//! password exchange (the password is the Vigil credential, see
//! [`crate::client_auth`]), the guard's login, the upstream login, then the
//! session relay.

use crate::announce::Announced;
use crate::backend::{self, UpstreamConfig};
use crate::client_auth::{self, Credential, PasswordKey};
use crate::handshake::{Greeting, Response};
use crate::packet::{Reader, frame};
use crate::prefixed::Prefixed;
use crate::session::{self, Io, SessionParts};
use crate::wire::{cap, err_packet, ok_packet, status};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use vigil_core::{Protocol, Secret};
use vigil_guard::admission::{
    self, AdmissionConfig, Caps, ConnectionSlot, FailedLogins, SessionSlot, SourceCheck,
    accept_until_shutdown,
};
use vigil_guard::{Guard, GuardError, Login, SessionRequest};
use vigil_mysql_sql::{AnalysisCache, collation_reproduced};

/// Clients must finish the login within this time.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// A login packet larger than this is not a login.
const MAX_LOGIN_PACKET: usize = 16 * 1024;
/// How long the listener waits for a target's greeting when it starts.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);
/// Statement analyses kept for the listener's sessions.
const ANALYSIS_CACHE_ENTRIES: usize = 4096;

pub struct MysqlFrontendConfig {
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Accept clients without TLS from non-loopback addresses.
    pub allow_plaintext_remote: bool,
    pub upstreams: HashMap<String, UpstreamConfig>,
    pub admission: AdmissionConfig,
}

pub struct MysqlFrontend {
    guard: Arc<Guard>,
    config: MysqlFrontendConfig,
    caps: Arc<Caps>,
    failures: FailedLogins,
    announced: Announced,
    analyses: Arc<AnalysisCache>,
    /// For `caching_sha2_password` clients without TLS; `None` if the key
    /// could not be made (such clients must then send the password in clear).
    password_key: Option<PasswordKey>,
}

/// Why a login ended without a session (already answered to the client).
struct Refused;

impl MysqlFrontend {
    pub fn new(guard: Arc<Guard>, config: MysqlFrontendConfig) -> Self {
        let caps = Caps::new(
            config.admission.max_connections,
            config.admission.max_connections_per_principal,
        );
        let failures = FailedLogins::new(config.admission.login_failures_per_minute);
        let password_key = PasswordKey::generate()
            .inspect_err(|e| tracing::warn!(error = %e, "caching_sha2_password without TLS will need the password in clear"))
            .ok();
        MysqlFrontend {
            guard,
            config,
            caps,
            failures,
            announced: Announced::default(),
            analyses: Arc::new(AnalysisCache::new(ANALYSIS_CACHE_ENTRIES)),
            password_key,
        }
    }

    /// Reads each mirrored target's greeting once, so the first client is
    /// greeted with the targets' version. A target that does not answer is
    /// left out until a login reaches it.
    async fn probe_versions(self: &Arc<Self>) {
        let mut probes = tokio::task::JoinSet::new();
        for (name, cfg) in &self.config.upstreams {
            if !cfg.mirror_version {
                continue;
            }
            let (this, name, cfg) = (self.clone(), name.clone(), cfg.clone());
            probes.spawn(async move {
                match tokio::time::timeout(PROBE_TIMEOUT, backend::greeting(&cfg)).await {
                    Ok(Ok(greeting)) => this.announced.seen(&name, &greeting.server_version),
                    Ok(Err(e)) => {
                        tracing::info!(connection = %name, error = %e, "could not read the target's version")
                    }
                    Err(_) => tracing::info!(connection = %name, "the target did not greet in time"),
                }
            });
        }
        while probes.join_next().await.is_some() {}
    }

    /// Accepts clients until `shutdown` turns true, then waits for open sessions.
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: watch::Receiver<bool>) {
        self.probe_versions().await;
        let caps = self.caps.clone();
        accept_until_shutdown(
            "mysql",
            listener,
            caps,
            shutdown,
            move |tcp, peer, slot, shutdown| {
                let this = self.clone();
                async move { this.handle(tcp, peer, slot, shutdown).await }
            },
        )
        .await;
    }

    async fn handle(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
        _connection: ConnectionSlot,
        shutdown: watch::Receiver<bool>,
    ) {
        let _ = tcp.set_nodelay(true);
        let ready = match tokio::time::timeout(LOGIN_TIMEOUT, self.login(tcp, peer)).await {
            Ok(Ok(Ok(ready))) => ready,
            Ok(Ok(Err(Refused))) => return,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "client connection ended during login");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "client did not finish login in time");
                return;
            }
        };
        let (parts, _slot) = ready;
        session::run(&self.guard, parts, shutdown).await;
    }

    async fn login(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
    ) -> crate::error::Result<Result<(SessionParts, SessionSlot), Refused>> {
        let mut io: Box<dyn Io> = Box::new(tcp);
        let mut reader = Reader::default();
        let mut salt = [0u8; 20];
        let _ = aws_lc_rs::rand::fill(&mut salt);
        for b in &mut salt {
            // Salts are printable and never NUL, as servers send them.
            *b = 0x21 + (*b % 0x5e);
        }
        let mut offered = cap::LONG_PASSWORD
            | cap::FOUND_ROWS
            | cap::LONG_FLAG
            | cap::CONNECT_WITH_DB
            | cap::PROTOCOL_41
            | cap::INTERACTIVE
            | cap::TRANSACTIONS
            | cap::SECURE_CONNECTION
            | cap::MULTI_STATEMENTS
            | cap::MULTI_RESULTS
            | cap::PS_MULTI_RESULTS
            | cap::PLUGIN_AUTH
            | cap::CONNECT_ATTRS
            | cap::PLUGIN_AUTH_LENENC
            | cap::DEPRECATE_EOF;
        if self.config.tls.is_some() {
            offered |= cap::SSL;
        }
        let (server_version, plugin) = self.announced.greeting();
        let greeting = Greeting {
            server_version,
            connection_id: 1,
            salt: salt.to_vec(),
            capabilities: offered,
            charset: 45,
            status: status::AUTOCOMMIT,
            plugin: plugin.into(),
        };
        let mut seq = 0u8;
        send(&mut io, &mut seq, &greeting.encode()).await?;
        let mut tls = false;
        let response = loop {
            let Some(p) = reader.read(&mut io, MAX_LOGIN_PACKET, true).await? else {
                return Ok(Err(Refused));
            };
            seq = p.last_seq.wrapping_add(1);
            let Some(r) = Response::decode(&p.payload) else {
                fail(&mut io, seq, 1043, "08S01", "vigil: bad handshake").await;
                return Ok(Err(Refused));
            };
            if !r.ssl_request {
                break r;
            }
            let (Some(acceptor), false) = (&self.config.tls, tls) else {
                fail(&mut io, seq, 1043, "08S01", "vigil: bad handshake").await;
                return Ok(Err(Refused));
            };
            let Ok(stream) = downcast_tcp(io) else {
                return Ok(Err(Refused));
            };
            // The ClientHello may already sit in the packet reader's buffer.
            let stream = Prefixed::new(reader.take_buffered(), stream);
            io = Box::new(acceptor.accept(stream).await?);
            tls = true;
        };
        let caps = response.capabilities & offered;
        let user = admission::capped(&response.user);
        let database = response.database.clone().unwrap_or_default();
        let shown = admission::capped(&database);
        let peer_text = peer.to_string();
        if !self.source_may_try(&mut io, seq, peer, &shown).await {
            return Ok(Err(Refused));
        }
        if !collation_reproduced(response.charset) {
            fail(
                &mut io,
                seq,
                1115,
                "42000",
                "vigil: this character set is not supported; Vigil reads statements as UTF-8 (use utf8mb4)",
            )
            .await;
            return Ok(Err(Refused));
        }
        if !tls && !peer.ip().is_loopback() && !self.config.allow_plaintext_remote {
            self.failures.failed(peer.ip());
            self.guard
                .record_rejected_login(
                    Protocol::Mysql,
                    &shown,
                    &peer_text,
                    "plaintext from a remote address",
                )
                .await;
            fail(
                &mut io,
                seq,
                1045,
                "28000",
                "vigil: TLS is required for clients that are not on loopback (use --ssl)",
            )
            .await;
            return Ok(Err(Refused));
        }
        // The token travels in clear inside TLS or on loopback, or
        // RSA-encrypted under Vigil's key (caching_sha2_password).
        let key = self.password_key.as_ref();
        let credential =
            match client_auth::exchange(&mut io, &mut reader, &mut seq, &response, &salt, tls, key)
                .await?
            {
                Credential::Password(p) => p,
                Credential::Gone => return Ok(Err(Refused)),
            };
        let credential = Secret::new(String::from_utf8_lossy(&credential).into_owned());
        let login = Login {
            protocol: Protocol::Mysql,
            credential: vigil_guard::Credential::Secret(&credential),
            connection: &shown,
            client_addr: &peer_text,
        };
        let principal = match self.guard.authenticate(&login).await {
            Ok(p) => p,
            Err(e) => {
                tracing::info!(%peer, connection = %shown, error = ?e, "authentication failed");
                self.failures.failed(peer.ip());
                let msg = format!(
                    "vigil: access denied for user '{user}' (the password must be a Vigil token or JWT)"
                );
                fail(&mut io, seq, 1045, "28000", &msg).await;
                return Ok(Err(Refused));
            }
        };
        let Some(upstream_cfg) = self.config.upstreams.get(&database).cloned() else {
            self.failures.failed(peer.ip());
            self.guard
                .record_rejected_login(Protocol::Mysql, &shown, &peer_text, "unknown connection")
                .await;
            let msg = format!("vigil: unknown connection '{shown}' (name it as the database)");
            fail(&mut io, seq, 1049, "42000", &msg).await;
            return Ok(Err(Refused));
        };
        let slot = match self.caps.session(&principal.identity()) {
            Ok(slot) => slot,
            Err(cap) => {
                self.failures.failed(peer.ip());
                self.guard
                    .record_rejected_login(
                        Protocol::Mysql,
                        &shown,
                        &peer_text,
                        &format!(
                            "too many connections for {}: {}",
                            admission::capped(&principal.name),
                            cap.message()
                        ),
                    )
                    .await;
                fail(&mut io, seq, 1040, "08004", &cap.message()).await;
                return Ok(Err(Refused));
            }
        };
        let request = SessionRequest {
            protocol: Protocol::Mysql,
            connection: &database,
            client_addr: &peer_text,
            run_id: None,
        };
        let session = match self.guard.open_session(principal, &request).await {
            Ok(s) => s,
            Err(e) => {
                let (code, state) = match e {
                    GuardError::UnknownConnection(_) => (1049, "42000"),
                    GuardError::NotGranted { .. } => (1044, "42000"),
                    _ => (1105, "HY000"),
                };
                if code != 1105 {
                    self.failures.failed(peer.ip());
                }
                fail(&mut io, seq, code, state, &format!("vigil: {e}")).await;
                return Ok(Err(Refused));
            }
        };
        let mut upstream = match backend::connect(&upstream_cfg, caps, response.charset).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(session = %session.id, connection = %database, error = %e, "upstream login failed");
                self.guard.close_session(&session).await;
                let msg = format!("vigil: cannot connect to the target of connection '{shown}'");
                fail(&mut io, seq, 2013, "HY000", &msg).await;
                return Ok(Err(Refused));
            }
        };
        if upstream_cfg.mirror_version {
            self.announced
                .seen(&database, &upstream.greeting.server_version);
        }
        let state = match backend::read_state(&mut upstream).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(session = %session.id, error = %e, "could not read the target's session state");
                self.guard.close_session(&session).await;
                fail(
                    &mut io,
                    seq,
                    2013,
                    "HY000",
                    "vigil: cannot read the target's session state",
                )
                .await;
                return Ok(Err(Refused));
            }
        };
        let base_tables = match session.mask.has_column_rules() {
            false => None,
            true => match backend::read_base_tables(&mut upstream).await {
                Ok(tables) => tables,
                Err(e) => {
                    // Nothing proven: every column a rule may cover is masked whole.
                    tracing::warn!(session = %session.id, error = %e, "could not read the target's base tables");
                    None
                }
            },
        };
        send(&mut io, &mut seq, &ok_packet(status::AUTOCOMMIT)).await?;
        tracing::info!(session = %session.id, principal = %session.principal.name, connection = %database, %peer, "mysql session opened");
        Ok(Ok((
            SessionParts {
                client: io,
                reader,
                upstream,
                session,
                state,
                base_tables,
                multi_statements: caps & cap::MULTI_STATEMENTS != 0,
                eofs: crate::client_out::Eofs::negotiated(caps),
                analyses: self.analyses.clone(),
            },
            slot,
        )))
    }

    async fn source_may_try(
        &self,
        io: &mut Box<dyn Io>,
        seq: u8,
        peer: SocketAddr,
        shown: &str,
    ) -> bool {
        let addr = peer.to_string();
        match self.failures.check(peer.ip()) {
            SourceCheck::Allowed { refused: 0 } => true,
            SourceCheck::Allowed { refused } => {
                self.guard
                    .record_rejected_login(
                        Protocol::Mysql,
                        shown,
                        &addr,
                        &format!("{refused} logins refused while this address was rate-limited"),
                    )
                    .await;
                true
            }
            SourceCheck::Limited { first } => {
                if first {
                    self.guard
                        .record_rejected_login(
                            Protocol::Mysql,
                            shown,
                            &addr,
                            "too many failed logins from this address: rate-limited",
                        )
                        .await;
                }
                fail(
                    io,
                    seq,
                    1129,
                    "HY000",
                    "vigil: too many failed logins from this address; try again later",
                )
                .await;
                false
            }
        }
    }
}

/// The plain TCP stream back from the boxed one, to start TLS on it.
fn downcast_tcp(io: Box<dyn Io>) -> Result<TcpStream, ()> {
    io.into_tcp().ok_or(())
}

pub(crate) async fn send(
    io: &mut Box<dyn Io>,
    seq: &mut u8,
    payload: &[u8],
) -> std::io::Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    frame(&mut out, seq, payload);
    io.write_all(&out).await?;
    io.flush().await
}

/// Sends an ERR and closes the connection.
async fn fail(io: &mut Box<dyn Io>, seq: u8, code: u16, state: &str, message: &str) {
    let mut seq = seq;
    let _ = send(io, &mut seq, &err_packet(code, state, message)).await;
    let _ = io.shutdown().await;
}
