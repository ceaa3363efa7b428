//! Answers the target's authentication requests with the connection's
//! credential: cleartext, MD5 or SCRAM-SHA-256.

use super::{BackendError, UpstreamConfig};
use crate::protocol::{MessageReader, MessageWriter};
use bytes::BytesMut;
use postgres_protocol::authentication::{md5_hash, sasl};

pub struct Login<'a> {
    cfg: &'a UpstreamConfig,
    /// SHA-256 of the server certificate, on TLS: SCRAM's
    /// `tls-server-end-point` channel binding (RFC 5929).
    server_end_point: Option<Vec<u8>>,
    scram: Option<sasl::ScramSha256>,
}

impl<'a> Login<'a> {
    pub fn new(cfg: &'a UpstreamConfig, server_end_point: Option<Vec<u8>>) -> Self {
        Self {
            cfg,
            server_end_point,
            scram: None,
        }
    }

    fn password(&self) -> Result<&'a str, BackendError> {
        self.cfg
            .password
            .as_ref()
            .map(|p| p.expose().as_str())
            .ok_or_else(|| {
                BackendError::Auth(
                    "the target asks for a password and the connection has none".into(),
                )
            })
    }

    /// Handles one Authentication message; returns the reply to send, if any.
    pub fn step(&mut self, msg: &[u8]) -> Result<Option<BytesMut>, BackendError> {
        let mut r = MessageReader::new(msg, "Authentication");
        let code = r.i32()?;
        let mut w = MessageWriter::new();
        match code {
            0 => return Ok(None),
            3 => w.password(self.password()?),
            5 => {
                let salt = r.take(4)?;
                let salt = [salt[0], salt[1], salt[2], salt[3]];
                let hashed = md5_hash(self.cfg.user.as_bytes(), self.password()?.as_bytes(), salt);
                w.password(&hashed);
            }
            10 => {
                let mut offered = Vec::new();
                loop {
                    let m = r.cstr()?;
                    if m.is_empty() {
                        break;
                    }
                    offered.push(m);
                }
                // Over TLS, PostgreSQL offers SCRAM-SHA-256-PLUS and treats a
                // client that could bind but does not as a downgrade: bind to
                // the certificate it presented.
                let (mechanism, binding) = match &self.server_end_point {
                    Some(hash) if offered.contains(&"SCRAM-SHA-256-PLUS") => (
                        "SCRAM-SHA-256-PLUS",
                        sasl::ChannelBinding::tls_server_end_point(hash.clone()),
                    ),
                    Some(_) if offered.contains(&"SCRAM-SHA-256") => {
                        ("SCRAM-SHA-256", sasl::ChannelBinding::unrequested())
                    }
                    None if offered.contains(&"SCRAM-SHA-256") => {
                        ("SCRAM-SHA-256", sasl::ChannelBinding::unsupported())
                    }
                    _ => return Err(BackendError::UnsupportedAuth(offered.join(", "))),
                };
                let scram = sasl::ScramSha256::new(self.password()?.as_bytes(), binding);
                w.sasl_initial(mechanism, scram.message());
                self.scram = Some(scram);
            }
            11 => {
                let scram = self
                    .scram
                    .as_mut()
                    .ok_or_else(|| BackendError::Protocol("SASL continue without start".into()))?;
                scram
                    .update(r.rest())
                    .map_err(|e| BackendError::Auth(format!("SCRAM exchange failed: {e}")))?;
                w.sasl_response(scram.message());
            }
            12 => {
                let scram = self
                    .scram
                    .as_mut()
                    .ok_or_else(|| BackendError::Protocol("SASL final without start".into()))?;
                scram.finish(r.rest()).map_err(|e| {
                    BackendError::Auth(format!("SCRAM server signature invalid: {e}"))
                })?;
                return Ok(None);
            }
            other => {
                return Err(BackendError::UnsupportedAuth(format!(
                    "authentication method {other}"
                )));
            }
        }
        Ok(Some(w.take()))
    }
}
