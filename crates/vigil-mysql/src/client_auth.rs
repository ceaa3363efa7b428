//! How a client hands Vigil its credential (a Vigil token or JWT sent as
//! the MySQL password): `mysql_clear_password`, or `caching_sha2_password`'s
//! full authentication: in clear inside TLS, RSA-encrypted under Vigil's
//! own key on a plaintext loopback connection. Vigil never knows a hash
//! to check a scramble against, so the fast path always answers "perform
//! full authentication".

use crate::error::Result;
use crate::frontend::send;
use crate::handshake::Response;
use crate::packet::Reader;
use crate::session::Io;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeySize, OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, PrivateDecryptingKey};
use base64::Engine;

/// A password packet larger than this is not a password.
const MAX_PASSWORD_PACKET: usize = 16 * 1024;
/// caching_sha2_password's AuthMoreData: the client must send the password.
const PERFORM_FULL_AUTHENTICATION: &[u8] = &[0x01, 0x04];
/// The client asks for the server's RSA public key.
const REQUEST_PUBLIC_KEY: &[u8] = &[0x02];

pub(crate) const CLEAR_PASSWORD: &str = "mysql_clear_password";
pub(crate) const CACHING_SHA2: &str = "caching_sha2_password";

/// The RSA key clients of `caching_sha2_password` encrypt their password
/// with when they have no TLS. Made once per listener; never written out.
pub(crate) struct PasswordKey {
    private: OaepPrivateDecryptingKey,
    /// The public half as PEM (SubjectPublicKeyInfo), as MySQL sends it.
    pem: Vec<u8>,
}

impl PasswordKey {
    pub(crate) fn generate() -> std::result::Result<PasswordKey, String> {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048)
            .map_err(|_| "cannot generate the RSA key for caching_sha2_password".to_string())?;
        let der = private
            .public_key()
            .as_der()
            .map_err(|_| "cannot encode the RSA public key".to_string())?;
        let pem = pem("PUBLIC KEY", der.as_ref());
        let private = OaepPrivateDecryptingKey::new(private)
            .map_err(|_| "the RSA key is unusable for OAEP".to_string())?;
        Ok(PasswordKey { private, pem })
    }

    /// The password inside `ciphertext`: RSA-OAEP (SHA-1) of the password
    /// and its NUL, XOR the connection's nonce. `None` if it is not that.
    fn decrypt(&self, ciphertext: &[u8], nonce: &[u8]) -> Option<Vec<u8>> {
        if ciphertext.len() != self.private.key_size_bytes() || nonce.is_empty() {
            return None;
        }
        let mut out = vec![0u8; self.private.key_size_bytes()];
        let plain = self
            .private
            .decrypt(&OAEP_SHA1_MGF1SHA1, ciphertext, &mut out, None)
            .ok()?;
        let mut password: Vec<u8> = plain
            .iter()
            .zip(nonce.iter().cycle())
            .map(|(c, n)| c ^ n)
            .collect();
        (password.pop() == Some(0)).then_some(password)
    }

    #[cfg(test)]
    pub(crate) fn public_pem(&self) -> &[u8] {
        &self.pem
    }
}

fn pem(label: &str, der: &[u8]) -> Vec<u8> {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out.into_bytes()
}

/// What the exchange ended with.
pub(crate) enum Credential {
    /// The password the client sent (NUL stripped).
    Password(Vec<u8>),
    /// The client closed the connection.
    Gone,
}

/// Runs the password exchange after the client's `response`: the client
/// already sent its clear password, or does caching_sha2's full
/// authentication, or is asked to switch to `mysql_clear_password`.
/// `nonce` is the greeting's salt; `tls` whether the connection is inside
/// TLS (plaintext reaches here only where the caller allows it).
pub(crate) async fn exchange(
    io: &mut Box<dyn Io>,
    reader: &mut Reader,
    seq: &mut u8,
    response: &Response,
    nonce: &[u8],
    tls: bool,
    key: Option<&PasswordKey>,
) -> Result<Credential> {
    match response.plugin.as_deref() {
        Some(CLEAR_PASSWORD) => Ok(Credential::Password(strip_nul(&response.auth))),
        // No password at all: nothing to ask for; the login fails.
        Some(CACHING_SHA2) if response.auth.is_empty() => Ok(Credential::Password(Vec::new())),
        Some(CACHING_SHA2) => full_authentication(io, reader, seq, nonce, tls, key).await,
        _ => {
            let mut switch = vec![0xFE];
            switch.extend_from_slice(CLEAR_PASSWORD.as_bytes());
            switch.push(0);
            send(io, seq, &switch).await?;
            Ok(match next(io, reader, seq).await? {
                Some(p) => Credential::Password(strip_nul(&p)),
                None => Credential::Gone,
            })
        }
    }
}

async fn full_authentication(
    io: &mut Box<dyn Io>,
    reader: &mut Reader,
    seq: &mut u8,
    nonce: &[u8],
    tls: bool,
    key: Option<&PasswordKey>,
) -> Result<Credential> {
    send(io, seq, PERFORM_FULL_AUTHENTICATION).await?;
    let Some(mut packet) = next(io, reader, seq).await? else {
        return Ok(Credential::Gone);
    };
    if tls {
        return Ok(Credential::Password(strip_nul(&packet)));
    }
    let Some(key) = key else {
        return Ok(Credential::Password(strip_nul(&packet)));
    };
    if packet == REQUEST_PUBLIC_KEY {
        let mut more = vec![0x01];
        more.extend_from_slice(&key.pem);
        send(io, seq, &more).await?;
        packet = match next(io, reader, seq).await? {
            Some(p) => p,
            None => return Ok(Credential::Gone),
        };
    }
    // A client that holds no key sends the password in clear, as it would
    // inside TLS: accepted, since plaintext reached here only from where
    // the caller allows it.
    Ok(Credential::Password(
        key.decrypt(&packet, nonce)
            .unwrap_or_else(|| strip_nul(&packet)),
    ))
}

async fn next(io: &mut Box<dyn Io>, reader: &mut Reader, seq: &mut u8) -> Result<Option<Vec<u8>>> {
    let Some(p) = reader.read(io, MAX_PASSWORD_PACKET, true).await? else {
        return Ok(None);
    };
    *seq = p.last_seq.wrapping_add(1);
    Ok(Some(p.payload))
}

fn strip_nul(bytes: &[u8]) -> Vec<u8> {
    bytes.strip_suffix(&[0]).unwrap_or(bytes).to_vec()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "client_auth_tests.rs"]
mod tests;
