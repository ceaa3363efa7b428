//! The authentication conversation with the target, after Vigil's
//! handshake response: OK, ERR, auth switches and `caching_sha2_password`'s
//! extra steps. Which methods Vigil answers depends on the flavor; the
//! password and everything derived from it stay in this module and
//! [`crate::auth`], and no error text holds them.

use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::auth;
use crate::error::{MysqlError, Result};
use crate::handshake::native_password;
use crate::packet::{Reader, frame};
use crate::wire::{Cursor, err_code};

/// The server family; it decides the methods Vigil answers besides
/// `mysql_native_password`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// `client_ed25519` too.
    Mariadb,
    /// `caching_sha2_password` too.
    Mysql,
}

impl Flavor {
    /// From the greeting's version string: MariaDB names itself there.
    pub fn from_version(version: &str) -> Flavor {
        if version.to_ascii_lowercase().contains("mariadb") {
            Flavor::Mariadb
        } else {
            Flavor::Mysql
        }
    }

    fn answers(self, plugin: &str) -> bool {
        match plugin {
            "mysql_native_password" => true,
            "client_ed25519" => self == Flavor::Mariadb,
            "caching_sha2_password" => self == Flavor::Mysql,
            _ => false,
        }
    }
}

pub const NATIVE: &str = "mysql_native_password";
pub const CACHING_SHA2: &str = "caching_sha2_password";

/// What Vigil sends in its handshake response for the greeting's method:
/// `(method, answer)`. A method Vigil does not answer there gets the
/// native answer, and the target switches if it must.
pub fn first_answer(
    flavor: Flavor,
    plugin: &str,
    password: &[u8],
    salt: &[u8],
) -> (String, Vec<u8>) {
    if plugin == CACHING_SHA2 && flavor.answers(plugin) {
        (CACHING_SHA2.into(), auth::caching_sha2(password, salt))
    } else {
        (NATIVE.into(), native_password(password, salt))
    }
}

/// One login's state.
pub struct Conversation<'a> {
    pub flavor: Flavor,
    pub password: &'a [u8],
    /// The connection is inside TLS: a password may be sent in clear.
    pub tls: bool,
    /// The method in force and its nonce.
    pub plugin: String,
    pub nonce: Vec<u8>,
}

impl Conversation<'_> {
    /// Reads the target's answers until OK, answering each step.
    pub async fn run<S: AsyncRead + AsyncWrite + Unpin>(
        mut self,
        io: &mut S,
        reader: &mut Reader,
    ) -> Result<()> {
        let mut awaiting_key = false;
        loop {
            let answer = reader
                .read(io, 64 * 1024, false)
                .await?
                .ok_or_else(|| MysqlError::Login("the target closed the connection".into()))?;
            let mut seq = answer.last_seq.wrapping_add(1);
            let p = answer.payload;
            let reply = match p.first() {
                Some(0x00) => return Ok(()),
                Some(0xFF) => {
                    let (code, state) = err_code(&p);
                    return Err(MysqlError::Login(format!(
                        "the target refused Vigil's credential (error {code}, {state})"
                    )));
                }
                Some(0xFE) => self.switch(&p[1..])?,
                Some(0x01) if self.plugin == CACHING_SHA2 => {
                    let more = &p[1..];
                    if awaiting_key {
                        awaiting_key = false;
                        auth::caching_sha2_rsa(self.password, &self.nonce, more)
                            .map_err(MysqlError::Login)?
                    } else {
                        match more {
                            // Fast authentication succeeded: OK follows.
                            [0x03] => continue,
                            [0x04] if self.tls => {
                                let mut clear = self.password.to_vec();
                                clear.push(0);
                                clear
                            }
                            [0x04] => {
                                awaiting_key = true;
                                vec![0x02]
                            }
                            _ => {
                                return Err(MysqlError::Login(
                                    "the target sent a caching_sha2_password step Vigil does not know"
                                        .into(),
                                ));
                            }
                        }
                    }
                }
                _ => {
                    return Err(MysqlError::Login(
                        "the target asked for an authentication step Vigil does not answer".into(),
                    ));
                }
            };
            send(io, &mut seq, &reply).await?;
        }
    }

    /// An auth switch request: the method and its nonce.
    fn switch(&mut self, body: &[u8]) -> Result<Vec<u8>> {
        let mut c = Cursor::new(body);
        let plugin = c
            .cstr()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .unwrap_or_default();
        let data = c.rest();
        if !self.flavor.answers(&plugin) {
            return Err(MysqlError::Login(format!(
                "the target asks for authentication method {:?}, which Vigil does not answer for a {} target",
                plugin.chars().take(64).collect::<String>(),
                match self.flavor {
                    Flavor::Mariadb => "MariaDB",
                    Flavor::Mysql => "MySQL",
                }
            )));
        }
        let reply = match plugin.as_str() {
            "client_ed25519" => {
                let nonce = data.get(..32).ok_or_else(|| {
                    MysqlError::Login("the target's ed25519 nonce is too short".into())
                })?;
                auth::ed25519(self.password, nonce).to_vec()
            }
            _ => {
                // Native and caching_sha2: a 20-byte nonce and a NUL.
                let nonce = data.strip_suffix(&[0]).unwrap_or(data);
                self.nonce = nonce.to_vec();
                if plugin == CACHING_SHA2 {
                    auth::caching_sha2(self.password, nonce)
                } else {
                    native_password(self.password, nonce)
                }
            }
        };
        self.plugin = plugin;
        Ok(reply)
    }
}

pub async fn send<S: AsyncWrite + Unpin>(io: &mut S, seq: &mut u8, payload: &[u8]) -> Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 4);
    frame(&mut out, seq, payload);
    io.write_all(&out).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_flavor_comes_from_the_version_string() {
        assert_eq!(
            Flavor::from_version("5.5.5-10.11.6-MariaDB-0+deb12u1"),
            Flavor::Mariadb
        );
        assert_eq!(Flavor::from_version("8.0.36"), Flavor::Mysql);
    }

    #[test]
    fn each_flavor_answers_its_own_methods_only() {
        assert!(Flavor::Mariadb.answers("client_ed25519"));
        assert!(!Flavor::Mariadb.answers(CACHING_SHA2));
        assert!(Flavor::Mysql.answers(CACHING_SHA2));
        assert!(!Flavor::Mysql.answers("client_ed25519"));
        for f in [Flavor::Mariadb, Flavor::Mysql] {
            assert!(f.answers(NATIVE));
            assert!(!f.answers("mysql_clear_password"));
            assert!(!f.answers("dialog"));
        }
    }
}
