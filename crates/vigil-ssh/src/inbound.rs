//! Channels the target opens back toward the client: `forwarded-tcpip`
//! (a connection to a port forwarded with `ssh -R`), `auth-agent@openssh.com`
//! (`ssh -A`) and `x11` (`ssh -X`). The target may only open what this
//! session asked it for and the guard allowed ([`Expected`]); each channel
//! is then decided again (one ledger event per connection, like a local
//! forward), opened to the client through the server-side handle, accepted
//! upstream only once the client accepted it, and relayed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};

use russh::client::{self, ChannelOpenHandle};
use russh::{Channel, ChannelOpenFailure, server};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use vigil_core::{ActionKind, SshRequest};

use crate::channel;
use crate::facts;
use crate::server::LoggedIn;

/// How long the target has to answer a (cancel-)tcpip-forward request; the
/// client connection's requests wait on it.
pub const TARGET_REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(20);
/// Remote forwards one client connection may hold at once.
pub const MAX_REMOTE_FORWARDS: usize = 16;
/// Channels the target may have open back toward the client at once (per
/// client connection); past this a new one is refused.
pub const MAX_INBOUND_CHANNELS: usize = 64;

/// What this client connection asked the target to open back, as allowed.
pub struct Expected {
    /// Remote forwards the target confirmed: the address as the client
    /// asked for it and the port the target bound, to the port the client
    /// asked for (0: the target chose), which is what policy allowed.
    remote: Mutex<HashMap<(String, u32), u32>>,
    agent: AtomicBool,
    x11: AtomicBool,
    open: Arc<Semaphore>,
}

impl Default for Expected {
    fn default() -> Self {
        Expected {
            remote: Mutex::default(),
            agent: AtomicBool::new(false),
            x11: AtomicBool::new(false),
            open: Arc::new(Semaphore::new(MAX_INBOUND_CHANNELS)),
        }
    }
}

/// Why a remote forward was not registered.
#[derive(Debug, thiserror::Error)]
pub enum RemoteForwardError {
    #[error("this connection already holds {MAX_REMOTE_FORWARDS} remote forwards")]
    TooMany,
    #[error("the remote forward table is unavailable")]
    Poisoned,
}

impl Expected {
    /// Whether another remote forward may be asked of the target.
    pub fn remote_room(&self) -> Result<(), RemoteForwardError> {
        let remote = self
            .remote
            .lock()
            .map_err(|_| RemoteForwardError::Poisoned)?;
        if remote.len() >= MAX_REMOTE_FORWARDS {
            return Err(RemoteForwardError::TooMany);
        }
        Ok(())
    }

    /// A remote forward the target confirmed on `port`, asked for as `asked`.
    pub fn add_remote(
        &self,
        address: &str,
        port: u32,
        asked: u32,
    ) -> Result<(), RemoteForwardError> {
        let mut remote = self
            .remote
            .lock()
            .map_err(|_| RemoteForwardError::Poisoned)?;
        if remote.len() >= MAX_REMOTE_FORWARDS {
            return Err(RemoteForwardError::TooMany);
        }
        remote.insert((address.to_string(), port), asked);
        Ok(())
    }

    pub fn has_remote(&self, address: &str, port: u32) -> bool {
        self.asked_port(address, port).is_some()
    }

    /// The port the client asked for when it set up the forward now bound on `port`.
    pub fn asked_port(&self, address: &str, port: u32) -> Option<u32> {
        self.remote
            .lock()
            .ok()
            .and_then(|r| r.get(&(address.to_string(), port)).copied())
    }

    pub fn remove_remote(&self, address: &str, port: u32) {
        if let Ok(mut r) = self.remote.lock() {
            r.remove(&(address.to_string(), port));
        }
    }

    /// A session channel with agent forwarding allowed was started upstream.
    pub fn expect_agent(&self) {
        self.agent.store(true, Ordering::Release);
    }

    /// A session channel with X11 forwarding allowed was started upstream.
    pub fn expect_x11(&self) {
        self.x11.store(true, Ordering::Release);
    }

    fn slot(&self) -> Option<OwnedSemaphorePermit> {
        self.open.clone().try_acquire_owned().ok()
    }
}

/// How the upstream connection's handler reaches the client: the login
/// (weak: the login owns the upstream connection, whose handler holds
/// this) and the client connection's handle.
#[derive(Clone)]
pub struct Route {
    pub login: Weak<LoggedIn>,
    pub client: server::Handle,
}

/// A channel the target opened back, as it is opened to the client.
enum Kind {
    ForwardedTcpip {
        address: String,
        port: u32,
        originator: String,
        originator_port: u32,
    },
    Agent,
    X11 {
        originator: String,
        originator_port: u32,
    },
}

impl Kind {
    fn expected(&self, expected: &Expected) -> bool {
        match self {
            Kind::ForwardedTcpip { address, port, .. } => expected.has_remote(address, *port),
            Kind::Agent => expected.agent.load(Ordering::Acquire),
            Kind::X11 { .. } => expected.x11.load(Ordering::Acquire),
        }
    }

    /// The channel as policy sees it: the same request the client's ask was
    /// decided as (its address and asked port, 0 when the target chose), so
    /// the rule that allowed the ask decides each channel.
    fn action(&self, expected: &Expected) -> ActionKind {
        match self {
            Kind::ForwardedTcpip {
                address,
                port,
                originator,
                originator_port,
            } => {
                let asked = expected.asked_port(address, *port).unwrap_or(*port);
                facts::forwarded_tcpip(address, asked, *port, originator, *originator_port)
            }
            Kind::Agent => facts::bare(SshRequest::Agent),
            Kind::X11 { .. } => facts::bare(SshRequest::X11),
        }
    }

    async fn open_to_client(
        &self,
        client: &server::Handle,
    ) -> Result<Channel<server::Msg>, russh::Error> {
        match self {
            Kind::ForwardedTcpip {
                address,
                port,
                originator,
                originator_port,
            } => {
                client
                    .channel_open_forwarded_tcpip(
                        address.as_str(),
                        *port,
                        originator.as_str(),
                        *originator_port,
                    )
                    .await
            }
            Kind::Agent => client.channel_open_agent().await,
            Kind::X11 {
                originator,
                originator_port,
            } => {
                client
                    .channel_open_x11(originator.as_str(), *originator_port)
                    .await
            }
        }
    }
}

impl Route {
    pub async fn forwarded_tcpip(
        &self,
        channel: Channel<client::Msg>,
        address: &str,
        port: u32,
        originator: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
    ) {
        let kind = Kind::ForwardedTcpip {
            address: address.to_string(),
            port,
            originator: originator.to_string(),
            originator_port,
        };
        self.open(kind, channel, reply).await;
    }

    pub async fn agent(&self, channel: Channel<client::Msg>, reply: ChannelOpenHandle) {
        self.open(Kind::Agent, channel, reply).await;
    }

    pub async fn x11(
        &self,
        channel: Channel<client::Msg>,
        originator: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
    ) {
        let kind = Kind::X11 {
            originator: originator.to_string(),
            originator_port,
        };
        self.open(kind, channel, reply).await;
    }

    /// Checks the channel was asked for, then hands it to its own task: the
    /// upstream connection's handler must not wait on the client.
    async fn open(&self, kind: Kind, channel: Channel<client::Msg>, reply: ChannelOpenHandle) {
        let Some(login) = self.login.upgrade() else {
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
            return;
        };
        if !kind.expected(&login.inbound) {
            // Not something this client asked for (or was allowed): the
            // target does not get to open channels toward the client on its own.
            tracing::warn!(session = %login.session.id, "ssh: the target opened a channel nobody asked for: refused");
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return;
        }
        let Some(slot) = login.inbound.slot() else {
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return;
        };
        let client = self.client.clone();
        tokio::spawn(decide_open_and_relay(
            login, client, kind, channel, reply, slot,
        ));
    }
}

/// Decides the channel, opens it to the client, then accepts it upstream
/// and relays until either side ends it.
async fn decide_open_and_relay(
    login: Arc<LoggedIn>,
    client: server::Handle,
    kind: Kind,
    upstream: Channel<client::Msg>,
    reply: ChannelOpenHandle,
    _slot: OwnedSemaphorePermit,
) {
    let Some(permit) = login.permit_now(kind.action(&login.inbound)).await else {
        reply
            .reject(ChannelOpenFailure::AdministrativelyProhibited)
            .await;
        return;
    };
    let started = std::time::Instant::now();
    match kind.open_to_client(&client).await {
        Ok(to_client) => {
            reply.accept().await;
            channel::forward(login, to_client, upstream, permit).await;
        }
        Err(e) => {
            tracing::info!(session = %login.session.id, error = %e, "ssh: the client refused a channel the target opened");
            reply.reject(ChannelOpenFailure::ConnectFailed).await;
            channel::outcome(&login, &permit, started, None, Some("client".into())).await;
        }
    }
}
