//! Answers the target's authentication requests with the connection's
//! credential: SCRAM-SHA-256, and MD5, cleartext or none (`trust`) only when
//! the connection allows them. A target (or an impostor) that asks for a
//! weaker method than allowed gets nothing: the password is never sent in
//! a form the connection did not accept, and a login that skipped SCRAM's
//! server proof is refused.

use super::{BackendError, UpstreamConfig};
use crate::protocol::{MessageReader, MessageWriter};
use bytes::BytesMut;
use postgres_protocol::authentication::{md5_hash, sasl};

/// The authentication methods a connection lets the target ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthMethods {
    pub scram_sha_256: bool,
    pub md5: bool,
    /// Cleartext password.
    pub password: bool,
    /// No authentication at all.
    pub trust: bool,
}

impl Default for AuthMethods {
    /// SCRAM-SHA-256 only.
    fn default() -> Self {
        AuthMethods {
            scram_sha_256: true,
            md5: false,
            password: false,
            trust: false,
        }
    }
}

pub struct Login<'a> {
    cfg: &'a UpstreamConfig,
    /// Whether an allowed exchange ran to its end (SCRAM: the server's
    /// signature checked; md5 or cleartext: the password sent).
    answered: bool,
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
            answered: false,
        }
    }

    fn allow(&self, allowed: bool, method: &'static str) -> Result<(), BackendError> {
        if allowed {
            Ok(())
        } else {
            Err(BackendError::AuthNotAllowed(method))
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
            0 => {
                if self.scram.is_some() && !self.answered {
                    // AuthenticationOk before SASLFinal: the server never
                    // proved it knows the password.
                    return Err(BackendError::Auth(
                        "the target ended SCRAM without proving its identity".into(),
                    ));
                }
                if !self.answered {
                    self.allow(self.cfg.auth.trust, "trust")?;
                }
                return Ok(None);
            }
            3 => {
                self.allow(self.cfg.auth.password, "password")?;
                w.password(self.password()?);
                self.answered = true;
            }
            5 => {
                self.allow(self.cfg.auth.md5, "md5")?;
                let salt = r.take(4)?;
                let salt = [salt[0], salt[1], salt[2], salt[3]];
                let hashed = md5_hash(self.cfg.user.as_bytes(), self.password()?.as_bytes(), salt);
                w.password(&hashed);
                self.answered = true;
            }
            10 => {
                self.allow(self.cfg.auth.scram_sha_256, "scram-sha-256")?;
                if self.scram.is_some() {
                    return Err(BackendError::Protocol("a second SASL exchange".into()));
                }
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
                self.answered = true;
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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::backend::UpstreamTls;
    use vigil_core::Secret;

    const PASSWORD: &str = "s3cret-upstream-pw";

    fn cfg(auth: AuthMethods) -> UpstreamConfig {
        UpstreamConfig {
            address: "127.0.0.1:5432".into(),
            database: "db".into(),
            user: "app".into(),
            password: Some(Secret::new(PASSWORD.into())),
            tls: UpstreamTls::Disable,
            auth,
        }
    }

    /// A whole Authentication frame: tag, length, code, body.
    fn request(code: i32, rest: &[u8]) -> Vec<u8> {
        let len = i32::try_from(8 + rest.len()).unwrap();
        let mut m = vec![b'R'];
        m.extend_from_slice(&len.to_be_bytes());
        m.extend_from_slice(&code.to_be_bytes());
        m.extend_from_slice(rest);
        m
    }

    fn refused(auth: AuthMethods, msgs: &[Vec<u8>]) -> BackendError {
        let cfg = cfg(auth);
        let mut login = Login::new(&cfg, None);
        for m in msgs {
            if let Err(e) = login.step(m) {
                assert!(!e.to_string().contains(PASSWORD), "{e}");
                return e;
            }
        }
        panic!("the login should have been refused");
    }

    #[test]
    fn by_default_only_scram_is_answered() {
        let md5 = refused(AuthMethods::default(), &[request(5, b"salt")]);
        assert!(matches!(md5, BackendError::AuthNotAllowed("md5")), "{md5}");
        let clear = refused(AuthMethods::default(), &[request(3, b"")]);
        assert!(matches!(clear, BackendError::AuthNotAllowed("password")));
        let trust = refused(AuthMethods::default(), &[request(0, b"")]);
        assert!(matches!(trust, BackendError::AuthNotAllowed("trust")));
        assert_eq!(
            trust.to_string(),
            "the target asks for trust authentication, which this connection does not allow (auth_methods)"
        );
        let cfg = cfg(AuthMethods::default());
        let mut login = Login::new(&cfg, None);
        let first = login.step(&request(10, b"SCRAM-SHA-256\0\0")).unwrap();
        assert!(first.is_some(), "SCRAM is answered");
    }

    #[test]
    fn weaker_methods_are_answered_when_allowed() {
        let all = AuthMethods {
            scram_sha_256: true,
            md5: true,
            password: true,
            trust: true,
        };
        let cfg = cfg(all);
        let mut login = Login::new(&cfg, None);
        let reply = login.step(&request(5, b"salt")).unwrap().unwrap();
        assert!(!String::from_utf8_lossy(&reply).contains(PASSWORD));
        assert!(login.step(&request(0, b"")).unwrap().is_none());
        let mut login = Login::new(&cfg, None);
        assert!(login.step(&request(0, b"")).unwrap().is_none(), "trust");
    }

    #[test]
    fn scram_without_the_servers_proof_is_refused() {
        let e = refused(
            AuthMethods {
                trust: true,
                ..AuthMethods::default()
            },
            &[request(10, b"SCRAM-SHA-256\0\0"), request(0, b"")],
        );
        assert!(matches!(e, BackendError::Auth(_)), "{e}");
    }

    #[test]
    fn scram_can_be_turned_off() {
        let only_md5 = AuthMethods {
            scram_sha_256: false,
            md5: true,
            ..AuthMethods::default()
        };
        let e = refused(only_md5, &[request(10, b"SCRAM-SHA-256\0\0")]);
        assert!(matches!(e, BackendError::AuthNotAllowed("scram-sha-256")));
    }
}
