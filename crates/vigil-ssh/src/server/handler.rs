//! The SSH protocol side of a client connection: each authentication attempt
//! and each channel request russh hands over, turned into a login through the
//! guard or a decision by it (see `Conn` in the parent module).

use super::*;
use crate::authorized_key;
use crate::inbound::TARGET_REPLY_TIMEOUT;
use russh::server::{PublicKeyOffer, VerifiedPublicKey};

/// Public keys one connection may offer: each is a store lookup, and the
/// answer tells whether a key is registered.
const MAX_KEY_PROBES: u8 = 10;

impl server::Handler for Conn {
    type Error = ConnError;

    async fn auth_none(&mut self, _user: &str) -> Result<Auth, Self::Error> {
        Ok(Auth::Reject {
            proceed_with_methods: Some(MethodSet::from(
                &[
                    MethodKind::PublicKey,
                    MethodKind::Password,
                    MethodKind::KeyboardInteractive,
                ][..],
            )),
            partial_success: false,
        })
    }

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        Ok(self.login_with_secret(user, password).await)
    }

    /// Only a registered, active key is worth a signature: an unknown one is
    /// turned away here without counting as a failed login (a client's agent
    /// may hold many keys), and the client tries its next key or method.
    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        if self.login.is_some() || self.key_probes >= MAX_KEY_PROBES {
            return Ok(Auth::reject());
        }
        self.key_probes += 1;
        let fingerprint = authorized_key::fingerprint(offer.public_key);
        let usable = authorized_key::acceptable_signature(offer.algorithm)
            && self.source_may_try(user).await
            && self.guard.ssh_key_is_registered(&fingerprint).await;
        Ok(if usable { Auth::Accept } else { Auth::reject() })
    }

    /// russh has checked the signature: the client holds the key. The login
    /// itself is the guard's, as for a token.
    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        if !authorized_key::acceptable_signature(key.algorithm) {
            return Ok(Auth::reject());
        }
        let fingerprint = authorized_key::fingerprint(key.public_key);
        Ok(self.login(user, Credential::SshKey(&fingerprint)).await)
    }

    async fn auth_keyboard_interactive<'a>(
        &'a mut self,
        user: &str,
        _submethods: &str,
        response: Option<server::Response<'a>>,
    ) -> Result<Auth, Self::Error> {
        let Some(mut response) = response else {
            return Ok(Auth::Partial {
                name: "vigil".into(),
                instructions: "Log in with a Vigil token or an OIDC token.".into(),
                prompts: vec![("Token: ".into(), false)].into(),
            });
        };
        let Some(answer) = response.next() else {
            return Ok(Auth::reject());
        };
        let credential = String::from_utf8_lossy(&answer).into_owned();
        Ok(self.login_with_secret(user, &credential).await)
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        if self.login.is_none() || self.pending.len() >= 64 {
            reply.reject(ChannelOpenFailure::ResourceShortage).await;
            return Ok(());
        }
        let id = channel.id();
        reply.accept().await;
        self.pending.insert(
            id,
            Pending {
                channel,
                setup: Setup::default(),
            },
        );
        Ok(())
    }

    async fn channel_open_direct_tcpip(
        &mut self,
        channel: Channel<Msg>,
        host_to_connect: &str,
        port_to_connect: u32,
        originator_address: &str,
        originator_port: u32,
        reply: ChannelOpenHandle,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        if !self
            .port_is_tcp(SshRequest::DirectTcpip, host_to_connect, port_to_connect)
            .await
        {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        }
        let action = facts::forward(SshRequest::DirectTcpip, host_to_connect, port_to_connect);
        let Some(permit) = self.permit(action).await else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        let Some(login) = self.login.clone() else {
            reply
                .reject(ChannelOpenFailure::AdministrativelyProhibited)
                .await;
            return Ok(());
        };
        // The target makes the connection, as it would for `ssh -L` to it directly.
        let opened = match login.upstream(&permit, &session.handle()).await {
            Ok(up) => up
                .handle
                .channel_open_direct_tcpip(
                    host_to_connect,
                    port_to_connect,
                    originator_address,
                    originator_port,
                )
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match opened {
            Ok(upstream) => {
                reply.accept().await;
                tokio::spawn(channel::forward(login, channel, upstream, permit));
            }
            Err(reason) => {
                tracing::info!(session = %login.session.id, %reason, "ssh: forward failed upstream");
                reply.reject(ChannelOpenFailure::ConnectFailed).await;
            }
        }
        Ok(())
    }

    /// `ssh -R`: asked of the target as the client asked it (the target
    /// binds the port), once a rule allows it; the connections to it come
    /// back through `inbound.rs`.
    async fn tcpip_forward(
        &mut self,
        address: &str,
        port: &mut u32,
        session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let Some(login) = self.login.clone() else {
            return Ok(false);
        };
        if !self
            .port_is_tcp(SshRequest::TcpipForward, address, *port)
            .await
        {
            return Ok(false);
        }
        if let Err(e) = login.inbound.remote_room() {
            tracing::info!(session = %login.session.id, error = %e, "ssh: remote forward refused");
            return Ok(false);
        }
        let action = facts::forward(SshRequest::TcpipForward, address, *port);
        let Some(permit) = self.permit(action).await else {
            return Ok(false);
        };
        let started = std::time::Instant::now();
        let asked = *port;
        let bound = match login.upstream(&permit, &session.handle()).await {
            Ok(up) => {
                let asking = up.handle.tcpip_forward(address, asked);
                match tokio::time::timeout(TARGET_REPLY_TIMEOUT, asking).await {
                    Ok(reply) => reply.map_err(|e| e.to_string()),
                    Err(_) => Err("the target did not answer in time".into()),
                }
            }
            Err(e) => Err(e),
        };
        let bound = match bound {
            // The target names the port only when it chose it (port 0).
            Ok(bound) if asked == 0 => bound,
            Ok(_) => asked,
            Err(reason) => {
                tracing::info!(session = %login.session.id, %reason, "ssh: remote forward failed upstream");
                channel::outcome(&login, &permit, started, None, Some("upstream".into())).await;
                return Ok(false);
            }
        };
        if let Err(e) = login.inbound.add_remote(address, bound, asked) {
            tracing::warn!(session = %login.session.id, error = %e, "ssh: remote forward not kept");
            if let Some(up) = login.connected_upstream() {
                let cancelling = up.handle.cancel_tcpip_forward(address, bound);
                let _ = tokio::time::timeout(TARGET_REPLY_TIMEOUT, cancelling).await;
            }
            channel::outcome(&login, &permit, started, None, Some("internal".into())).await;
            return Ok(false);
        }
        *port = bound;
        let tag = format!("forwarding from the target's port {bound}");
        channel::outcome(&login, &permit, started, Some(tag), None).await;
        Ok(true)
    }

    /// Passed through for a forward this connection holds; nothing else.
    async fn cancel_tcpip_forward(
        &mut self,
        address: &str,
        port: u32,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let Some(login) = &self.login else {
            return Ok(false);
        };
        if !login.inbound.has_remote(address, port) {
            return Ok(false);
        }
        let Some(up) = login.connected_upstream() else {
            return Ok(false);
        };
        let cancelling = up.handle.cancel_tcpip_forward(address, port);
        let cancelled = matches!(
            tokio::time::timeout(TARGET_REPLY_TIMEOUT, cancelling).await,
            Ok(Ok(()))
        );
        if cancelled {
            login.inbound.remove_remote(address, port);
        }
        Ok(cancelled)
    }

    /// `ssh -A`: kept for the channel's start, where it is asked of the target
    /// before the program runs.
    async fn agent_request(
        &mut self,
        channel: ChannelId,
        _session: &mut Session,
    ) -> Result<bool, Self::Error> {
        let known = self.pending.contains_key(&channel);
        if !known || !self.allowed(facts::bare(SshRequest::Agent)).await {
            return Ok(false);
        }
        if let Some(p) = self.pending.get_mut(&channel) {
            p.setup.agent = true;
        }
        Ok(true)
    }

    /// `ssh -X`: kept for the channel's start, like agent forwarding.
    async fn x11_request(
        &mut self,
        channel: ChannelId,
        single_connection: bool,
        x11_auth_protocol: &str,
        x11_auth_cookie: &str,
        x11_screen_number: u32,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let known = self.pending.contains_key(&channel);
        if known && self.allowed(facts::bare(SshRequest::X11)).await {
            if let Some(p) = self.pending.get_mut(&channel) {
                p.setup.x11 = Some(X11Request {
                    single_connection,
                    auth_protocol: x11_auth_protocol.to_string(),
                    auth_cookie: Secret::new(x11_auth_cookie.to_string()),
                    screen: x11_screen_number,
                });
            }
            let _ = session.channel_success(channel);
        } else {
            let _ = session.channel_failure(channel);
        }
        Ok(())
    }

    async fn pty_request(
        &mut self,
        channel: ChannelId,
        term: &str,
        col_width: u32,
        row_height: u32,
        pix_width: u32,
        pix_height: u32,
        modes: &[(Pty, u32)],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let known = self.pending.contains_key(&channel);
        if known && self.allowed(facts::pty(term)).await {
            if let Some(p) = self.pending.get_mut(&channel) {
                p.setup.pty = Some(PtyRequest {
                    term: term.to_string(),
                    cols: col_width,
                    rows: row_height,
                    pix_width,
                    pix_height,
                    modes: modes.to_vec(),
                });
            }
            let _ = session.channel_success(channel);
        } else {
            let _ = session.channel_failure(channel);
        }
        Ok(())
    }

    async fn env_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        value: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let known = self
            .pending
            .get(&channel)
            .is_some_and(|p| p.setup.env.len() < 64);
        let allowed = if !known {
            false
        } else if facts::env_never_allowed(name) {
            if let Some(login) = &self.login {
                let text = format!("env {name}");
                let _ = login
                    .guard
                    .refuse(
                        &login.session,
                        Unpolicied::step(
                            RefusalClass::Policy,
                            &text,
                            "env",
                            "this variable runs code before the command and is never passed",
                        ),
                    )
                    .await;
            }
            false
        } else {
            self.allowed(facts::env(name, value)).await
        };
        if allowed {
            if let Some(p) = self.pending.get_mut(&channel) {
                p.setup.env.push((name.to_string(), value.to_string()));
            }
            let _ = session.channel_success(channel);
        } else {
            let _ = session.channel_failure(channel);
        }
        Ok(())
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, Start::Exec(data.to_vec()), session);
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, Start::Shell, session);
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.start(channel, Start::Subsystem(name.to_string()), session);
        Ok(())
    }
}
