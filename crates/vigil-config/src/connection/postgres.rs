//! `[[connection]]`: the targets Vigil fronts, and the credential it injects.

use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;
use vigil_core::Secret;

use crate::expand::{Parsed, Str, with};

/// One target. Clients name it (as the database name with psql, or in an MCP
/// tool call); they never see its credential.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionConfig {
    pub name: String,
    pub kind: ConnectionKind,
    /// `host:port` of the target.
    pub address: String,
    pub database: String,
    pub user: String,
    /// Injected upstream; never printed (`Secret` debug-prints `***`).
    pub password: Option<Secret<String>>,
    pub tls: TlsMode,
    /// CA bundle for `verify-full`; the system roots when absent.
    pub tls_ca: Option<PathBuf>,
    /// The authentication methods Vigil answers when the target asks; any
    /// other request fails the login. Default: SCRAM-SHA-256 only.
    pub auth_methods: Vec<UpstreamAuth>,
}

/// An authentication method the target may ask of Vigil.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UpstreamAuth {
    /// SCRAM-SHA-256 (with channel binding over TLS when offered).
    ScramSha256,
    /// MD5 of the password: a recorded exchange can be replayed and cracked offline.
    Md5,
    /// The password in clear: anyone in the path (or posing as the target) reads it.
    Password,
    /// No authentication at all: a target that accepts Vigil without
    /// asking for anything (or an impostor doing the same).
    Trust,
}

impl UpstreamAuth {
    pub const ACCEPTED: &'static [&'static str] = &["scram-sha-256", "md5", "password", "trust"];
    /// What a connection allows when it says nothing.
    pub const DEFAULT: &'static [UpstreamAuth] = &[UpstreamAuth::ScramSha256];
}

impl std::str::FromStr for UpstreamAuth {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "scram-sha-256" => Ok(UpstreamAuth::ScramSha256),
            "md5" => Ok(UpstreamAuth::Md5),
            "password" => Ok(UpstreamAuth::Password),
            "trust" => Ok(UpstreamAuth::Trust),
            other => Err(format!(
                "unknown authentication method `{other}`, expected one of {}",
                UpstreamAuth::ACCEPTED.join(", ")
            )),
        }
    }
}

/// The protocols Vigil can front. Only PostgreSQL for now.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ConnectionKind {
    #[default]
    Postgres,
}

impl ConnectionKind {
    pub const ACCEPTED: &'static [&'static str] = &["postgres"];

    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Postgres => "postgres",
        }
    }
}

impl std::str::FromStr for ConnectionKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "postgres" => Ok(ConnectionKind::Postgres),
            other => Err(format!(
                "unsupported connection kind `{other}` (accepted kinds: {})",
                ConnectionKind::ACCEPTED.join(", ")
            )),
        }
    }
}

/// TLS towards the target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plaintext to the target.
    #[default]
    Disable,
    /// Encrypted, certificate not checked.
    Require,
    /// Encrypted, certificate and host name checked.
    VerifyFull,
}

impl std::str::FromStr for TlsMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "disable" => Ok(TlsMode::Disable),
            "require" => Ok(TlsMode::Require),
            "verify-full" => Ok(TlsMode::VerifyFull),
            other => Err(format!(
                "unknown tls mode `{other}`, expected `disable`, `require` or `verify-full`"
            )),
        }
    }
}

/// As written, with the spans validation needs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConnection {
    pub name: Spanned<Str>,
    #[serde(deserialize_with = "with::parsed")]
    pub kind: ConnectionKind,
    pub address: Spanned<Str>,
    #[serde(deserialize_with = "with::string")]
    pub database: String,
    #[serde(deserialize_with = "with::string")]
    pub user: String,
    #[serde(default, deserialize_with = "with::opt_secret")]
    pub password: Option<Secret<String>>,
    #[serde(default)]
    pub tls: Option<Parsed<TlsMode>>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub tls_ca: Option<PathBuf>,
    #[serde(default)]
    pub auth_methods: Option<Spanned<Vec<Parsed<UpstreamAuth>>>>,
}

impl RawConnection {
    pub fn into_config(self) -> ConnectionConfig {
        ConnectionConfig {
            name: self.name.into_inner().0,
            kind: self.kind,
            address: self.address.into_inner().0,
            database: self.database,
            user: self.user,
            password: self.password,
            tls: self.tls.map(|t| t.0).unwrap_or_default(),
            tls_ca: self.tls_ca,
            auth_methods: match self.auth_methods {
                Some(list) => list.into_inner().into_iter().map(|m| m.0).collect(),
                None => UpstreamAuth::DEFAULT.to_vec(),
            },
        }
    }
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
