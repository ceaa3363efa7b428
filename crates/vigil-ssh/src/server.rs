//! The listener and the per-connection russh handler: login through the
//! guard's one gate, the requests answered at once (pty, env, agent, X11,
//! port forwards), and one task per session channel for the rest.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use russh::keys::PrivateKey;
use russh::server::{self, Auth, ChannelOpenHandle, Msg, Session};
use russh::{Channel, ChannelId, ChannelOpenFailure, MethodKind, MethodSet, Pty};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OnceCell, watch};
use vigil_core::{Protocol, Secret, SshRequest};
use vigil_guard::admission::{
    AdmissionConfig, Caps, ConnectionSlot, FailedLogins, SessionSlot, SourceCheck,
};
use vigil_guard::{
    Binding, Credential, Decision, Guard, Login, Permit, RefusalClass, SessionCtx, SessionRequest,
    Unpolicied,
};

use crate::channel::{self, PtyRequest, Setup, Start, X11Request};
use crate::inbound::{Expected, Route};
use crate::upstream::{self, SshTarget, Upstream};
use crate::{LOGIN_TIMEOUT, facts};

mod handler;

/// The protocol sessions are recorded under.
const PROTOCOL: Protocol = Protocol::Ssh;

/// What the gateway configures.
pub struct SshFrontendConfig {
    /// The `kind = "ssh"` connections, by name.
    pub targets: Vec<SshTarget>,
    /// Vigil's host key ([`crate::hostkey::load_or_create`]).
    pub host_key: PrivateKey,
    /// Connection caps and the failed-login budget, shared with every listener's kind.
    pub admission: AdmissionConfig,
    /// Where channel recordings go (`data_dir/recordings`).
    pub recordings: std::path::PathBuf,
}

/// The SSH listener.
pub struct SshFrontend {
    guard: Arc<Guard>,
    targets: HashMap<String, Arc<SshTarget>>,
    config: Arc<server::Config>,
    caps: Arc<Caps>,
    failures: Arc<FailedLogins>,
    recordings: Arc<std::path::Path>,
}

/// A logged-in client: its session and its (lazily opened) target login.
pub struct LoggedIn {
    pub guard: Arc<Guard>,
    pub session: SessionCtx,
    pub target: Arc<SshTarget>,
    /// Where this session's channels are recorded.
    pub recordings: Arc<std::path::Path>,
    upstream: OnceCell<Result<Arc<Upstream>, String>>,
    /// The channels the target may open back (remote forwards, agent, X11).
    pub inbound: Expected,
    /// This principal's place under `max_connections_per_principal`.
    _slot: SessionSlot,
}

impl LoggedIn {
    /// The target login, opened on the first permitted request. `client`
    /// is where the channels the target opens back are sent.
    pub async fn upstream(
        self: &Arc<Self>,
        permit: &Permit,
        client: &server::Handle,
    ) -> Result<Arc<Upstream>, String> {
        self.upstream
            .get_or_init(|| async {
                let route = Route {
                    login: Arc::downgrade(self),
                    client: client.clone(),
                };
                upstream::connect(&self.target, permit, Some(route))
                    .await
                    .map(Arc::new)
                    .map_err(|e| e.to_string())
            })
            .await
            .clone()
    }

    /// The target login if one is open; never opens one.
    pub fn connected_upstream(&self) -> Option<Arc<Upstream>> {
        self.upstream.get().and_then(|u| u.as_ref().ok()).cloned()
    }

    /// The permit for a request answered at once, when the guard allows it
    /// (a review is withdrawn at once: nothing here can wait for it).
    pub async fn permit_now(&self, action: vigil_core::ActionKind) -> Option<Permit> {
        match self
            .guard
            .decide(&self.session, &[action], Binding::NONE)
            .await
        {
            Ok(Decision::Allowed(permit)) => Some(permit),
            Ok(Decision::Refused(_)) => None,
            Ok(Decision::Held(hold)) => {
                let _ = self
                    .guard
                    .await_approval(&self.session, hold, async {
                        vigil_guard::Withdrawal::Cancelled
                    })
                    .await;
                None
            }
            Err(e) => {
                tracing::error!(error = %e, "ssh: decision failed");
                None
            }
        }
    }
}

impl SshFrontend {
    pub fn new(guard: Arc<Guard>, config: SshFrontendConfig) -> Self {
        let server_config = server::Config {
            methods: MethodSet::from(
                &[
                    MethodKind::PublicKey,
                    MethodKind::Password,
                    MethodKind::KeyboardInteractive,
                ][..],
            ),
            keys: vec![config.host_key],
            auth_rejection_time: std::time::Duration::from_millis(500),
            auth_rejection_time_initial: Some(std::time::Duration::ZERO),
            max_auth_attempts: 3,
            inactivity_timeout: Some(std::time::Duration::from_secs(3600)),
            nodelay: true,
            ..server::Config::default()
        };
        let recordings: Arc<std::path::Path> = Arc::from(config.recordings.as_path());
        SshFrontend {
            guard,
            recordings,
            targets: config
                .targets
                .into_iter()
                .map(|t| (t.name.clone(), Arc::new(t)))
                .collect(),
            config: Arc::new(server_config),
            caps: Caps::new(
                config.admission.max_connections,
                config.admission.max_connections_per_principal,
            ),
            failures: Arc::new(FailedLogins::new(
                config.admission.login_failures_per_minute,
            )),
        }
    }

    /// Accepts clients until `shutdown` turns true.
    pub async fn serve(
        self: Arc<Self>,
        listener: TcpListener,
        mut shutdown: watch::Receiver<bool>,
    ) {
        let mut sessions = tokio::task::JoinSet::new();
        loop {
            tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let this = self.clone();
                        sessions.spawn(async move { this.connection(stream, peer).await });
                    }
                    Err(e) => tracing::warn!(error = %e, "ssh: accept failed"),
                },
                _ = shutdown.changed() => break,
                Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
            }
        }
        sessions.shutdown().await;
    }

    async fn connection(self: Arc<Self>, stream: TcpStream, peer: SocketAddr) {
        let Some(_connection_slot) = self.caps.connection() else {
            tracing::warn!(%peer, "ssh: connection refused: max_connections reached");
            return;
        };
        let _: &ConnectionSlot = &_connection_slot;
        let slot: Arc<Mutex<Option<Arc<LoggedIn>>>> = Arc::default();
        let handler = Conn {
            guard: self.guard.clone(),
            targets: self.targets.clone(),
            caps: self.caps.clone(),
            failures: self.failures.clone(),
            recordings: self.recordings.clone(),
            peer_addr: peer,
            peer: peer.to_string(),
            login: None,
            slot: slot.clone(),
            pending: HashMap::new(),
            key_probes: 0,
        };
        let running = match server::run_stream(self.config.clone(), stream, handler).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(%peer, error = ?e, "ssh: handshake failed");
                return;
            }
        };
        let handle = running.handle();
        let watchdog_slot = slot.clone();
        let watchdog = tokio::spawn(async move {
            tokio::time::sleep(LOGIN_TIMEOUT).await;
            let logged_in = watchdog_slot.lock().map(|s| s.is_some()).unwrap_or(false);
            if !logged_in {
                let _ = handle
                    .disconnect(
                        russh::Disconnect::ByApplication,
                        "login timed out".into(),
                        "en".into(),
                    )
                    .await;
            }
        });
        if let Err(e) = running.await {
            tracing::debug!(%peer, error = ?e, "ssh: session ended with an error");
        }
        watchdog.abort();
        let login = slot.lock().ok().and_then(|mut s| s.take());
        if let Some(login) = login {
            // The client is gone: end the target login too, so no channel it
            // left running (a long exec, a tunnel) outlives the session the
            // ledger has closed.
            if let Some(up) = login.connected_upstream() {
                let _ = up
                    .handle
                    .disconnect(russh::Disconnect::ByApplication, "", "en")
                    .await;
            }
            login.guard.close_session(&login.session).await;
        }
    }
}

/// The per-connection handler russh calls.
struct Conn {
    guard: Arc<Guard>,
    targets: HashMap<String, Arc<SshTarget>>,
    caps: Arc<Caps>,
    failures: Arc<FailedLogins>,
    recordings: Arc<std::path::Path>,
    peer_addr: SocketAddr,
    peer: String,
    login: Option<Arc<LoggedIn>>,
    /// Where the connection task finds the login to close it.
    slot: Arc<Mutex<Option<Arc<LoggedIn>>>>,
    /// Session channels before their start request.
    pending: HashMap<ChannelId, Pending>,
    /// Public keys offered so far (each costs a store lookup).
    key_probes: u8,
}

struct Pending {
    channel: Channel<Msg>,
    setup: Setup,
}

/// `web1` or `anything+web1`: the connection is after the last `+`.
fn connection_of(user: &str) -> &str {
    user.rsplit_once('+').map(|(_, c)| c).unwrap_or(user)
}

#[derive(Debug, thiserror::Error)]
#[error(transparent)]
struct ConnError(#[from] russh::Error);

impl Conn {
    /// A login with a token or JWT typed as a password or prompt answer.
    async fn login_with_secret(&mut self, user: &str, credential: &str) -> Auth {
        let secret = Secret::new(credential.to_string());
        self.login(user, Credential::Secret(&secret)).await
    }

    /// The one login of this connection, whatever the method: through the
    /// guard's gate, then the grant for the connection named in `user`.
    async fn login(&mut self, user: &str, credential: Credential<'_>) -> Auth {
        if self.login.is_some() || !self.source_may_try(user).await {
            return Auth::reject();
        }
        let connection = vigil_guard::admission::capped(connection_of(user));
        let login = Login {
            protocol: PROTOCOL,
            credential,
            connection: &connection,
            client_addr: &self.peer,
        };
        // A refused credential is recorded by the guard.
        let Ok(principal) = self.guard.authenticate(&login).await else {
            self.failures.failed(self.peer_addr.ip());
            return Auth::reject();
        };
        let Some(target) = self.targets.get(&connection).cloned() else {
            self.refused(&connection, "unknown connection").await;
            return Auth::reject();
        };
        let slot = match self.caps.session(&principal.identity()) {
            Ok(slot) => slot,
            Err(cap) => {
                self.refused(&connection, &cap.message()).await;
                return Auth::reject();
            }
        };
        let request = SessionRequest {
            protocol: PROTOCOL,
            connection: &connection,
            client_addr: &self.peer,
            run_id: None,
        };
        let session = match self.guard.open_session(principal, &request).await {
            Ok(s) => s,
            Err(e) => {
                // No grant or an unknown connection: recorded by the guard.
                self.failures.failed(self.peer_addr.ip());
                tracing::info!(peer = %self.peer, connection, error = %e, "ssh: login refused");
                return Auth::reject();
            }
        };
        let login = Arc::new(LoggedIn {
            guard: self.guard.clone(),
            session,
            target,
            recordings: self.recordings.clone(),
            upstream: OnceCell::new(),
            inbound: Expected::default(),
            _slot: slot,
        });
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some(login.clone());
        }
        self.login = Some(login);
        Auth::Accept
    }

    /// A login refused after the credential checked out: spend the
    /// source's budget and record why.
    async fn refused(&self, connection: &str, reason: &str) {
        self.failures.failed(self.peer_addr.ip());
        self.guard
            .record_rejected_login(PROTOCOL, connection, &self.peer, reason)
            .await;
    }

    /// Whether this source still has failed logins to spend (as for every
    /// protocol); the start of a limit and the refusals under it are recorded
    /// once each.
    async fn source_may_try(&self, user: &str) -> bool {
        let shown = vigil_guard::admission::capped(connection_of(user));
        match self.failures.check(self.peer_addr.ip()) {
            SourceCheck::Allowed { refused: 0 } => true,
            SourceCheck::Allowed { refused } => {
                let reason =
                    format!("{refused} logins refused while this address was rate-limited");
                self.guard
                    .record_rejected_login(PROTOCOL, &shown, &self.peer, &reason)
                    .await;
                true
            }
            SourceCheck::Limited { first } => {
                if first {
                    tracing::warn!(peer = %self.peer, "ssh: too many failed logins: address rate-limited");
                    self.guard
                        .record_rejected_login(
                            PROTOCOL,
                            &shown,
                            &self.peer,
                            "too many failed logins from this address: rate-limited",
                        )
                        .await;
                }
                false
            }
        }
    }

    /// Decides a request answered at once (no hold: a review is refused).
    async fn allowed(&self, action: vigil_core::ActionKind) -> bool {
        self.permit(action).await.is_some()
    }

    /// The permit for a request answered at once, when the guard allows it.
    /// Whether a forward's port is a TCP port. A larger one is refused before
    /// policy: the target may read it modulo 65536 (OpenSSH passes it to
    /// `getaddrinfo` as text, and glibc wraps it), so a rule on
    /// `ssh.forward.port` would decide another port than the one bound.
    async fn port_is_tcp(&self, request: SshRequest, host: &str, port: u32) -> bool {
        if port <= u32::from(u16::MAX) {
            return true;
        }
        if let Some(login) = &self.login {
            let text: String = format!("{} {host}:{port}", request.as_str())
                .chars()
                .take(300)
                .collect();
            let _ = login
                .guard
                .refuse(
                    &login.session,
                    Unpolicied::step(
                        RefusalClass::Protocol,
                        &text,
                        request.as_str(),
                        "a port above 65535",
                    ),
                )
                .await;
        }
        false
    }

    async fn permit(&self, action: vigil_core::ActionKind) -> Option<Permit> {
        match &self.login {
            Some(login) => login.permit_now(action).await,
            None => None,
        }
    }

    fn start(&mut self, id: ChannelId, start: Start, session: &mut Session) {
        let (Some(login), Some(pending)) = (self.login.clone(), self.pending.remove(&id)) else {
            let _ = session.channel_failure(id);
            return;
        };
        if !matches!(start, Start::Subsystem(_)) {
            let _ = session.channel_success(id);
        }
        let handle = session.handle();
        tokio::spawn(channel::run(
            login,
            pending.channel,
            pending.setup,
            start,
            handle,
        ));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_connection_is_after_the_last_plus() {
        assert_eq!(super::connection_of("web1"), "web1");
        assert_eq!(super::connection_of("alice+web1"), "web1");
        assert_eq!(super::connection_of("a+b+web1"), "web1");
    }
}
