//! Vigil's login to the target: the connection's own credential, injected
//! here and nowhere else, and the target's host key pinned in config. An
//! unknown or changed host key fails the login: never trust on first use.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use russh::client::{self, ChannelOpenHandle};
use russh::keys::{PrivateKey, PrivateKeyWithHashAlg, PublicKey, PublicKeyOrCertificate};
use russh::{Channel, ChannelOpenFailure};
use vigil_core::Secret;
use vigil_guard::Permit;

use crate::SshError;
use crate::inbound::Route;

/// How long the target has to accept Vigil's login.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// One `[[connection]] kind = "ssh"`.
#[derive(Clone, Debug)]
pub struct SshTarget {
    pub name: String,
    /// `host:port`.
    pub address: String,
    pub user: String,
    pub auth: TargetAuth,
    /// The only host key the target may present.
    pub known_host: PublicKey,
    /// A channel that cannot be recorded is refused (`recording = "required"`).
    pub recording_required: bool,
    /// Shell and exec recordings hold the client's input too (audit only).
    pub record_input: bool,
    pub sftp: SftpMode,
}

/// How SFTP is decided on a connection (`sftp = ...`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SftpMode {
    /// Rules decide each operation.
    #[default]
    Policy,
    /// Operations that change something are refused before policy.
    ReadOnly,
    /// No SFTP subsystem.
    Deny,
}

/// The credential Vigil logs in with; never shown to the client.
#[derive(Clone)]
pub enum TargetAuth {
    Key(Arc<PrivateKey>),
    Password(Secret<String>),
}

impl std::fmt::Debug for TargetAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetAuth::Key(_) => f.write_str("Key(***)"),
            TargetAuth::Password(_) => f.write_str("Password(***)"),
        }
    }
}

impl SshTarget {
    /// Parses `known_host` (`ssh-ed25519 AAAA...`, a comment allowed).
    pub fn parse_known_host(line: &str) -> Result<PublicKey, String> {
        PublicKey::from_openssh(line.trim())
            .map_err(|e| format!("`known_host` is not a public key: {e}"))
    }
}

/// A logged-in connection to the target, shared by a client session's channels.
pub struct Upstream {
    pub handle: client::Handle<PinnedHost>,
}

/// The client side's handler: accepts only the pinned host key, and only
/// the channels back toward the client that the client asked for.
pub struct PinnedHost {
    expected: PublicKey,
    mismatch: Arc<AtomicBool>,
    /// Where channels the target opens back go; `None` (the MCP exec seam,
    /// no client connection) refuses them all.
    route: Option<Route>,
}

impl client::Handler for PinnedHost {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let ok = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => {
                key.key_data() == self.expected.key_data()
            }
            PublicKeyOrCertificate::Certificate(_) => false,
        };
        if !ok {
            self.mismatch.store(true, Ordering::Relaxed);
        }
        Ok(ok)
    }

    async fn server_channel_open_forwarded_tcpip(
        &mut self,
        channel: Channel<client::Msg>,
        connected_address: &str,
        connected_port: u32,
        originator_address: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        match &self.route {
            Some(route) => {
                route
                    .forwarded_tcpip(
                        channel,
                        connected_address,
                        connected_port,
                        originator_address,
                        originator_port,
                        reply,
                    )
                    .await
            }
            None => prohibited(reply).await,
        }
        Ok(())
    }

    async fn server_channel_open_agent_forward(
        &mut self,
        channel: Channel<client::Msg>,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        match &self.route {
            Some(route) => route.agent(channel, reply).await,
            None => prohibited(reply).await,
        }
        Ok(())
    }

    async fn server_channel_open_x11(
        &mut self,
        channel: Channel<client::Msg>,
        originator_address: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        match &self.route {
            Some(route) => {
                route
                    .x11(channel, originator_address, originator_port, reply)
                    .await
            }
            None => prohibited(reply).await,
        }
        Ok(())
    }

    // russh accepts these by default; nothing in Vigil asks for them.

    async fn server_channel_open_session(
        &mut self,
        _channel: Channel<client::Msg>,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        prohibited(reply).await;
        Ok(())
    }

    async fn server_channel_open_direct_tcpip(
        &mut self,
        _channel: Channel<client::Msg>,
        _host_to_connect: &str,
        _port_to_connect: u32,
        _originator_address: &str,
        _originator_port: u32,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        prohibited(reply).await;
        Ok(())
    }

    async fn server_channel_open_forwarded_streamlocal(
        &mut self,
        _channel: Channel<client::Msg>,
        _socket_path: &str,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        prohibited(reply).await;
        Ok(())
    }

    async fn server_channel_open_direct_streamlocal(
        &mut self,
        _channel: Channel<client::Msg>,
        _socket_path: &str,
        reply: ChannelOpenHandle,
        _session: &mut client::Session,
    ) -> Result<(), Self::Error> {
        prohibited(reply).await;
        Ok(())
    }
}

async fn prohibited(reply: ChannelOpenHandle) {
    reply
        .reject(ChannelOpenFailure::AdministrativelyProhibited)
        .await;
}

/// Logs in to `target`. Only a holder of a [`Permit`] may reach a target:
/// the first allowed request of a session pays for the login.
pub async fn connect(
    target: &SshTarget,
    _permit: &Permit,
    route: Option<Route>,
) -> Result<Upstream, SshError> {
    let fail = |reason: String| SshError::Upstream {
        connection: target.name.clone(),
        reason,
    };
    let mismatch = Arc::new(AtomicBool::new(false));
    let handler = PinnedHost {
        expected: target.known_host.clone(),
        mismatch: mismatch.clone(),
        route,
    };
    let config = Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(30)),
        ..client::Config::default()
    });
    let connecting = client::connect(config, target.address.as_str(), handler);
    let mut handle = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
        Err(_) => return Err(fail("the target did not answer in time".into())),
        Ok(Err(_)) if mismatch.load(Ordering::Relaxed) => {
            return Err(fail(
                "the target's host key does not match `known_host`: refusing to connect (update `known_host` only if the key change is expected)".into(),
            ));
        }
        Ok(Err(e)) => return Err(fail(format!("cannot connect: {e}"))),
        Ok(Ok(h)) => h,
    };
    let result = match &target.auth {
        TargetAuth::Key(key) => {
            let hash = handle
                .best_supported_rsa_hash()
                .await
                .ok()
                .flatten()
                .flatten();
            handle
                .authenticate_publickey(
                    target.user.clone(),
                    PrivateKeyWithHashAlg::new(key.clone(), hash),
                )
                .await
        }
        TargetAuth::Password(password) => {
            handle
                .authenticate_password(target.user.clone(), password.expose().clone())
                .await
        }
    };
    match result {
        Ok(r) if r.success() => Ok(Upstream { handle }),
        Ok(_) => Err(fail(format!(
            "the target refused Vigil's credential for `{}`",
            target.user
        ))),
        Err(e) => Err(fail(format!("login failed: {e}"))),
    }
}
