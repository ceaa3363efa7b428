//! Answers the target's authentication requests with the connection's
//! credential: cleartext, MD5 or SCRAM-SHA-256.

use super::{BackendError, UpstreamConfig};
use crate::protocol::{MessageReader, MessageWriter};
use bytes::BytesMut;
use postgres_protocol::authentication::{md5_hash, sasl};

pub struct Login<'a> {
    cfg: &'a UpstreamConfig,
    tls: bool,
    scram: Option<sasl::ScramSha256>,
}

impl<'a> Login<'a> {
    pub fn new(cfg: &'a UpstreamConfig, tls: bool) -> Self {
        Self {
            cfg,
            tls,
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
                if !offered.contains(&"SCRAM-SHA-256") {
                    return Err(BackendError::UnsupportedAuth(offered.join(", ")));
                }
                // Channel binding needs the server certificate's hash; without
                // it, tell the server we could bind but do not (`y`) when on TLS.
                let binding = if self.tls {
                    sasl::ChannelBinding::unrequested()
                } else {
                    sasl::ChannelBinding::unsupported()
                };
                let scram = sasl::ScramSha256::new(self.password()?.as_bytes(), binding);
                w.sasl_initial("SCRAM-SHA-256", scram.message());
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
