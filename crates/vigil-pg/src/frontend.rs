//! Accepts PostgreSQL clients: TLS negotiation, the startup packet, the
//! password exchange (the password is the Vigil credential), then hands the
//! session to the guard and the relay.

use crate::backend;
use crate::cancel::CancelRegistry;
use crate::protocol::{self, MAX_STARTUP_PACKET, MessageWriter, Startup, next_frame};
use crate::session::{self, SessionParts};
use crate::stream::PgStream;
use crate::target::PgTarget;
use bytes::BytesMut;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use vigil_core::{Protocol, Secret};
use vigil_guard::admission::{
    self, AdmissionConfig, Caps, ConnectionSlot, FailedLogins, SessionSlot, SourceCheck,
    accept_until_shutdown,
};
use vigil_guard::{Guard, GuardError, Login, SessionRequest};

/// Clients must finish the startup and password exchange within this time.
const LOGIN_TIMEOUT: Duration = Duration::from_secs(30);
/// A password message larger than this is not a credential.
const MAX_PASSWORD_MESSAGE: usize = 16 * 1024;

pub struct PgFrontendConfig {
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// Accept clients without TLS from non-loopback addresses.
    pub allow_plaintext_remote: bool,
    /// The PostgreSQL connections, shared with the other front-ends.
    pub targets: HashMap<String, Arc<PgTarget>>,
    /// Connection caps and the per-source budget of failed logins.
    pub admission: AdmissionConfig,
}

pub struct PgFrontend {
    guard: Arc<Guard>,
    config: PgFrontendConfig,
    cancels: CancelRegistry,
    caps: Arc<Caps>,
    failures: FailedLogins,
}

impl PgFrontend {
    pub fn new(guard: Arc<Guard>, config: PgFrontendConfig) -> Self {
        let caps = Caps::new(
            config.admission.max_connections,
            config.admission.max_connections_per_principal,
        );
        let failures = FailedLogins::new(config.admission.login_failures_per_minute);
        Self {
            guard,
            config,
            cancels: CancelRegistry::default(),
            caps,
            failures,
        }
    }

    /// Accepts clients until `shutdown` turns true, then waits for open
    /// sessions to finish their current work (they close when idle).
    pub async fn serve(self: Arc<Self>, listener: TcpListener, shutdown: watch::Receiver<bool>) {
        let caps = self.caps.clone();
        accept_until_shutdown(
            "postgres",
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
        let login = tokio::time::timeout(LOGIN_TIMEOUT, self.login(tcp, peer)).await;
        let (parts, _slot) = match login {
            Ok(Ok(Some(ready))) => ready,
            Ok(Ok(None)) => return,
            Ok(Err(e)) => {
                tracing::debug!(%peer, error = %e, "client connection ended during login");
                return;
            }
            Err(_) => {
                tracing::info!(%peer, "client did not finish login in time");
                return;
            }
        };
        session::run(&self.guard, parts, shutdown).await;
    }

    /// Returns the parts of a ready session and its slot under the caps, or
    /// None when the connection ended (a cancel request, a refused login:
    /// already answered).
    async fn login(
        &self,
        tcp: TcpStream,
        peer: SocketAddr,
    ) -> std::io::Result<Option<(SessionParts, SessionSlot)>> {
        let mut stream = PgStream::Plain(tcp);
        let params = loop {
            let body = read_startup(&mut stream).await?;
            match protocol::parse_startup(&body) {
                Ok(Startup::SslRequest) => match (&self.config.tls, stream) {
                    (Some(acceptor), PgStream::Plain(mut tcp)) => {
                        tcp.write_all(b"S").await?;
                        let tls = acceptor.accept(tcp).await?;
                        stream = PgStream::Tls(Box::new(tokio_rustls::TlsStream::Server(tls)));
                    }
                    (_, mut s) => {
                        s.write_all(b"N").await?;
                        stream = s;
                    }
                },
                Ok(Startup::GssEncRequest) => stream.write_all(b"N").await?,
                Ok(Startup::Cancel { pid, secret }) => {
                    self.cancels.cancel(pid, secret).await;
                    return Ok(None);
                }
                Ok(Startup::Params(params)) => break params,
                Err(e) => {
                    fatal(&mut stream, "08P01", &format!("vigil: {e}")).await;
                    return Ok(None);
                }
            }
        };
        let get = |key: &str| {
            params
                .iter()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.clone())
        };
        let user = admission::capped(&get("user").unwrap_or_default());
        let database = get("database").unwrap_or_else(|| user.clone());
        // What logs, errors and the ledger repeat of the client's choice.
        let shown = admission::capped(&database);
        if !self.source_may_try(&mut stream, peer, &shown).await {
            return Ok(None);
        }
        if let Some(encoding) = get("client_encoding")
            && !session::client_encoding_accepted(&encoding)
        {
            // Another encoding would let the target read the bytes Vigil
            // analysed as different text; refuse it rather than guess.
            fatal(
                &mut stream,
                "0A000",
                &format!(
                    "vigil: client_encoding \"{}\" is not supported; Vigil reads statements as UTF8 (set PGCLIENTENCODING=UTF8)",
                    encoding.chars().take(64).collect::<String>()
                ),
            )
            .await;
            return Ok(None);
        }

        if plaintext_refused(
            peer.ip(),
            stream.is_tls(),
            self.config.allow_plaintext_remote,
        ) {
            self.failures.failed(peer.ip());
            self.guard
                .record_rejected_login(
                    Protocol::Postgres,
                    &shown,
                    &peer.to_string(),
                    "plaintext from a remote address",
                )
                .await;
            fatal(
                &mut stream,
                "28000",
                "vigil: TLS is required for clients that are not on loopback (use sslmode=require)",
            )
            .await;
            return Ok(None);
        }

        let Some(credential) = ask_password(&mut stream).await? else {
            return Ok(None);
        };
        let peer_text = peer.to_string();
        let login = Login {
            protocol: Protocol::Postgres,
            credential: vigil_guard::Credential::Secret(&credential),
            connection: &shown,
            client_addr: &peer_text,
        };
        let principal = match self.guard.authenticate(&login).await {
            Ok(p) => p,
            Err(e) => {
                // The user name is the client's to fill: a token pasted there must
                // not land in the log.
                tracing::info!(%peer, database = %shown, error = ?e, "authentication failed");
                self.failures.failed(peer.ip());
                fatal(
                    &mut stream,
                    "28P01",
                    &format!("vigil: password authentication failed for user \"{user}\""),
                )
                .await;
                return Ok(None);
            }
        };
        let Some(target) = self.config.targets.get(&database).cloned() else {
            self.failures.failed(peer.ip());
            self.guard
                .record_rejected_login(
                    Protocol::Postgres,
                    &shown,
                    &peer.to_string(),
                    "unknown connection",
                )
                .await;
            fatal(
                &mut stream,
                "3D000",
                &format!("vigil: unknown connection \"{shown}\""),
            )
            .await;
            return Ok(None);
        };
        let slot = match self.caps.session(&principal.identity()) {
            Ok(slot) => slot,
            Err(cap) => {
                self.failures.failed(peer.ip());
                tracing::warn!(%peer, principal = %admission::capped(&principal.name), connection = %shown, ?cap, "connection refused: too many connections");
                self.guard
                    .record_rejected_login(
                        Protocol::Postgres,
                        &shown,
                        &peer.to_string(),
                        &format!(
                            "too many connections for {}: {}",
                            admission::capped(&principal.name),
                            cap.message()
                        ),
                    )
                    .await;
                fatal(&mut stream, "53300", &cap.message()).await;
                return Ok(None);
            }
        };
        let request = SessionRequest {
            protocol: Protocol::Postgres,
            connection: &database,
            client_addr: &peer_text,
            run_id: None,
        };
        let session = match self.guard.open_session(principal, &request).await {
            Ok(s) => s,
            Err(e) => {
                let code = match e {
                    GuardError::UnknownConnection(_) => "3D000",
                    GuardError::NotGranted { .. } => "28000",
                    _ => "58000",
                };
                if code != "58000" {
                    self.failures.failed(peer.ip());
                }
                fatal(&mut stream, code, &format!("vigil: {e}")).await;
                return Ok(None);
            }
        };
        let upstream = match backend::connect(&target.upstream, &params).await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(session = %session.id, connection = %database, error = %e, "upstream login failed");
                self.guard.close_session(&session).await;
                fatal(
                    &mut stream,
                    "08006",
                    &format!("vigil: cannot connect to the target of connection \"{database}\""),
                )
                .await;
                return Ok(None);
            }
        };
        if let Some(problem) = session::unreproduced_settings(&upstream.parameter_status) {
            tracing::warn!(session = %session.id, connection = %database, setting = %problem, "target session starts under a lexing setting Vigil does not reproduce");
            self.guard.close_session(&session).await;
            fatal(
                &mut stream,
                "0A000",
                &format!("vigil: the target of connection \"{database}\" reads statements under {problem}, which Vigil does not reproduce"),
            )
            .await;
            return Ok(None);
        }
        let catalog = target.login_catalog().await;
        let cancel_key =
            self.cancels
                .register(target.upstream.clone(), upstream.pid, upstream.secret);

        let mut w = MessageWriter::new();
        w.auth_ok();
        w.raw(&upstream.parameter_status);
        w.backend_key(cancel_key.pid, cancel_key.secret);
        w.ready(protocol::txn::IDLE);
        stream.write_all(&w.take()).await?;
        tracing::info!(session = %session.id, principal = %session.principal.name, connection = %database, %peer, "session opened");
        Ok(Some((
            SessionParts {
                client: stream,
                upstream,
                session,
                catalog,
                catalogs: target.catalogs.clone(),
                analyses: target.analyses.clone(),
                lineages: target.lineages.clone(),
                cancel_key,
            },
            slot,
        )))
    }

    /// Whether `peer`'s source still has failed logins to spend; when not,
    /// answers the client (generic error, SQLSTATE 53400) and records the
    /// start of the limit once. The first login let through after a limit
    /// records how many were refused meanwhile.
    async fn source_may_try(&self, stream: &mut PgStream, peer: SocketAddr, shown: &str) -> bool {
        let addr = peer.to_string();
        match self.failures.check(peer.ip()) {
            SourceCheck::Allowed { refused: 0 } => true,
            SourceCheck::Allowed { refused } => {
                self.guard
                    .record_rejected_login(
                        Protocol::Postgres,
                        shown,
                        &addr,
                        &format!("{refused} logins refused while this address was rate-limited"),
                    )
                    .await;
                true
            }
            SourceCheck::Limited { first } => {
                if first {
                    tracing::warn!(%peer, "too many failed logins: address rate-limited");
                    self.guard
                        .record_rejected_login(
                            Protocol::Postgres,
                            shown,
                            &addr,
                            "too many failed logins from this address: rate-limited",
                        )
                        .await;
                }
                fatal(
                    stream,
                    "53400",
                    "vigil: too many failed logins from this address; try again later",
                )
                .await;
                false
            }
        }
    }
}

/// Tokens travel as the password, so plaintext is accepted only where
/// nobody can listen in (loopback) unless the operator says otherwise.
fn plaintext_refused(peer: std::net::IpAddr, tls: bool, allow_plaintext_remote: bool) -> bool {
    !tls && !peer.is_loopback() && !allow_plaintext_remote
}

async fn read_startup(stream: &mut PgStream) -> std::io::Result<Vec<u8>> {
    let len = stream.read_u32().await? as usize;
    if !(8..=MAX_STARTUP_PACKET).contains(&len) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "bad startup packet length",
        ));
    }
    let mut body = vec![0u8; len - 4];
    stream.read_exact(&mut body).await?;
    Ok(body)
}

/// Asks for the password (the Vigil credential) in clear text: the
/// connection is TLS or loopback, and the gateway needs the token itself.
async fn ask_password(stream: &mut PgStream) -> std::io::Result<Option<Secret<String>>> {
    let mut w = MessageWriter::new();
    w.auth_cleartext();
    stream.write_all(&w.take()).await?;
    let mut buf = BytesMut::with_capacity(1024);
    let msg = loop {
        match next_frame(&mut buf, MAX_PASSWORD_MESSAGE) {
            Ok(Some((b'p', msg))) => break msg,
            Ok(Some(_)) | Err(_) => {
                fatal(stream, "08P01", "vigil: expected a password message").await;
                return Ok(None);
            }
            Ok(None) => {
                if read_some(stream, &mut buf).await? == 0 {
                    return Ok(None);
                }
            }
        }
    };
    match protocol::MessageReader::new(&msg, "PasswordMessage").cstr() {
        Ok(p) => Ok(Some(Secret::new(p.to_string()))),
        Err(_) => {
            fatal(stream, "08P01", "vigil: malformed password message").await;
            Ok(None)
        }
    }
}

async fn read_some<R: AsyncRead + Unpin>(r: &mut R, buf: &mut BytesMut) -> std::io::Result<usize> {
    r.read_buf(buf).await
}

/// Sends a FATAL error; the connection ends after it.
pub(crate) async fn fatal(stream: &mut PgStream, code: &str, message: &str) {
    let mut w = MessageWriter::new();
    w.error("FATAL", code, message);
    let _ = stream.write_all(&w.take()).await;
    let _ = stream.flush().await;
    let _ = stream.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::plaintext_refused;

    #[test]
    fn plaintext_is_refused_only_for_remote_clients_unless_allowed() {
        let remote = "192.0.2.7".parse().unwrap();
        let loopback = "127.0.0.1".parse().unwrap();
        let loopback6 = "::1".parse().unwrap();
        assert!(plaintext_refused(remote, false, false));
        assert!(!plaintext_refused(remote, true, false));
        assert!(!plaintext_refused(remote, false, true));
        assert!(!plaintext_refused(loopback, false, false));
        assert!(!plaintext_refused(loopback6, false, false));
    }
}
