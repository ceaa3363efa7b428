//! `[[connection]]`: the targets Vigil fronts, and the credential it injects.
//!
//! Every connection has a `name`, a `kind` and optionally a `via`; the other
//! keys belong to its kind, one options struct per kind (`postgres.rs`,
//! `mysql.rs`, ...), each with the list of keys it takes (`KEYS`), so a key
//! of another kind is an error that names the kind.

mod http;
mod kubernetes;
mod mysql;
mod parse;
mod postgres;
mod ssh;
#[cfg(test)]
mod tests;

use std::ops::Range;
use std::path::PathBuf;

use toml::Spanned;

use crate::expand::Str;

pub use vigil_core::ConnectionKind;

pub use http::{DEFAULT_MAX_RESPONSE_BYTES, HttpAuth, HttpOptions};
pub use kubernetes::{KubernetesAuth, KubernetesOptions};
pub use mysql::{MysqlFlavor, MysqlOptions};
pub use postgres::{PostgresOptions, TlsMode, UpstreamAuth};
pub use ssh::{SftpMode, SshAuth, SshOptions, SshRecording};

pub(crate) use parse::{RawConnection, parse_connections};

/// A value that failed a check, and why: `(span in the file, message)`.
pub(crate) type Invalid = (Range<usize>, String);

/// Keys every connection takes, whatever its kind.
pub const COMMON_KEYS: &[&str] = &["name", "kind", "via"];

/// One target. Clients name it (as the database name with psql, or in an MCP
/// tool call); they never see its credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionConfig {
    pub name: String,
    /// The connector upstream dials go through (`via = "connector-name"`).
    pub via: Option<String>,
    /// The kind's own keys.
    pub options: ConnectionOptions,
}

impl ConnectionConfig {
    pub fn kind(&self) -> ConnectionKind {
        self.options.kind()
    }

    /// The PostgreSQL options, when this is a `postgres` connection.
    pub fn postgres(&self) -> Option<&PostgresOptions> {
        match &self.options {
            ConnectionOptions::Postgres(options) => Some(options),
            _ => None,
        }
    }

    /// The SSH options, when this is an `ssh` connection.
    pub fn ssh(&self) -> Option<&SshOptions> {
        match &self.options {
            ConnectionOptions::Ssh(options) => Some(options),
            _ => None,
        }
    }
}

/// A connection's keys, by kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConnectionOptions {
    Postgres(PostgresOptions),
    Mysql(MysqlOptions),
    Ssh(SshOptions),
    Http(HttpOptions),
    Kubernetes(KubernetesOptions),
}

impl ConnectionOptions {
    pub fn kind(&self) -> ConnectionKind {
        match self {
            ConnectionOptions::Postgres(_) => ConnectionKind::Postgres,
            ConnectionOptions::Mysql(_) => ConnectionKind::Mysql,
            ConnectionOptions::Ssh(_) => ConnectionKind::Ssh,
            ConnectionOptions::Http(_) => ConnectionKind::Http,
            ConnectionOptions::Kubernetes(_) => ConnectionKind::Kubernetes,
        }
    }

    /// The keys a connection of `kind` takes besides [`COMMON_KEYS`].
    pub fn keys(kind: ConnectionKind) -> &'static [&'static str] {
        match kind {
            ConnectionKind::Postgres => PostgresOptions::KEYS,
            ConnectionKind::Mysql => MysqlOptions::KEYS,
            ConnectionKind::Ssh => SshOptions::KEYS,
            ConnectionKind::Http => HttpOptions::KEYS,
            ConnectionKind::Kubernetes => KubernetesOptions::KEYS,
        }
    }
}

/// A client certificate Vigil presents to the target (HTTP, Kubernetes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientCert {
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

/// Whether `address` is `host:port` with a numeric port (IPv6 as `[::1]:5432`).
pub(crate) fn check_address(address: &str) -> Result<(), String> {
    let expected = "expected `host:port`, e.g. `127.0.0.1:5432`";
    let Some((host, port)) = address.rsplit_once(':') else {
        return Err(format!("address `{address}` has no port: {expected}"));
    };
    if host.is_empty() || port.parse::<u16>().is_err() {
        return Err(format!("invalid address `{address}`: {expected}"));
    }
    Ok(())
}

/// Whether `url` is an `http://` or `https://` URL with a host (the base URL
/// of an HTTP or Kubernetes target).
pub(crate) fn check_target_url(url: &str) -> Result<(), String> {
    let expected = "expected `https://host[:port][/path]` (or `http://`)";
    let Some(rest) = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
    else {
        return Err(format!("url `{url}` is not http(s): {expected}"));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        // Not quoted: the part before `@` may be a password.
        return Err(
            "a url must not carry credentials (`user:password@`): use the connection's credential keys"
                .to_owned(),
        );
    }
    if authority.is_empty() || url.chars().any(char::is_whitespace) {
        return Err(format!("invalid url `{url}`: {expected}"));
    }
    if url.contains(['?', '#']) {
        return Err(format!("url `{url}` has a query or fragment: {expected}"));
    }
    Ok(())
}

/// Both keys of a pair, or neither: `Ok(Some)` with both values, `Ok(None)`
/// with none, an error at the one that is alone otherwise.
pub(crate) fn pair(
    first: (&str, Option<Spanned<Str>>),
    second: (&str, Option<Spanned<Str>>),
) -> Result<Option<(String, String)>, Invalid> {
    let alone = |present: &Spanned<Str>, missing: &str, given: &str| {
        Err((
            present.span(),
            format!("`{given}` needs `{missing}` too: give both or neither"),
        ))
    };
    match (first.1, second.1) {
        (Some(a), Some(b)) => Ok(Some((a.into_inner().0, b.into_inner().0))),
        (None, None) => Ok(None),
        (Some(a), None) => alone(&a, second.0, first.0),
        (None, Some(b)) => alone(&b, first.0, second.0),
    }
}
