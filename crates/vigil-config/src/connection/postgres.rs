//! `kind = "postgres"`: the PostgreSQL target and the credential Vigil injects.

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;
use vigil_core::Secret;

use super::{Invalid, check_address};
use crate::expand::{Parsed, Str, with};

/// `kind = "postgres"`: a PostgreSQL server (or a pooler in front of one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostgresOptions {
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

impl PostgresOptions {
    /// The keys of a `postgres` connection besides `name`, `kind` and `via`.
    pub const KEYS: &'static [&'static str] = &[
        "address",
        "database",
        "user",
        "password",
        "tls",
        "tls_ca",
        "auth_methods",
    ];
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

/// TLS towards the target.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TlsMode {
    /// Plaintext to the target.
    #[default]
    Disable,
    /// TLS when the target offers it, plaintext when it does not; the
    /// certificate is not checked (libpq's `prefer`). Anyone in the path can
    /// strip the offer: use `require` or `verify-full` where that matters.
    Prefer,
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
            "prefer" => Ok(TlsMode::Prefer),
            "require" => Ok(TlsMode::Require),
            "verify-full" => Ok(TlsMode::VerifyFull),
            other => Err(format!(
                "unknown tls mode `{other}`, expected `disable`, `prefer`, `require` or `verify-full`"
            )),
        }
    }
}

/// As written, with the spans validation needs.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPostgres {
    address: Spanned<Str>,
    #[serde(deserialize_with = "with::string")]
    database: String,
    #[serde(deserialize_with = "with::string")]
    user: String,
    #[serde(default, deserialize_with = "with::opt_secret")]
    password: Option<Secret<String>>,
    #[serde(default)]
    tls: Option<Parsed<TlsMode>>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    tls_ca: Option<PathBuf>,
    #[serde(default)]
    auth_methods: Option<Spanned<Vec<Parsed<UpstreamAuth>>>>,
}

impl RawPostgres {
    pub(crate) fn check(self, _table: &Range<usize>) -> Result<PostgresOptions, Invalid> {
        check_address(&self.address.get_ref().0).map_err(|m| (self.address.span(), m))?;
        let auth_methods = match self.auth_methods {
            Some(list) if list.get_ref().is_empty() => {
                return Err((
                    list.span(),
                    "`auth_methods` must allow at least one method (default: [\"scram-sha-256\"])"
                        .to_owned(),
                ));
            }
            Some(list) => list.into_inner().into_iter().map(|m| m.0).collect(),
            None => UpstreamAuth::DEFAULT.to_vec(),
        };
        Ok(PostgresOptions {
            address: self.address.into_inner().0,
            database: self.database,
            user: self.user,
            password: self.password,
            tls: self.tls.map(|t| t.0).unwrap_or_default(),
            tls_ca: self.tls_ca,
            auth_methods,
        })
    }
}
