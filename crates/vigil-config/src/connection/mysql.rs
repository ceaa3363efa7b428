//! `kind = "mysql"`: a MySQL or MariaDB server, served by `vigil-mysql`.

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;
use vigil_core::Secret;

use super::{Invalid, TlsMode, check_address};
use crate::expand::{Parsed, Str, with};

/// `kind = "mysql"`: the target and the credential Vigil injects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqlOptions {
    /// `host:port` of the target.
    pub address: String,
    pub database: String,
    pub user: String,
    /// Injected upstream; never printed.
    pub password: Option<Secret<String>>,
    /// TLS towards the target, with the same modes as a `postgres` connection.
    pub tls: TlsMode,
    /// CA bundle for `verify-full`; the system roots when absent.
    pub tls_ca: Option<PathBuf>,
    /// Which server family the target is; `None`: read from its greeting.
    pub flavor: Option<MysqlFlavor>,
    /// Vigil's greeting may announce this target's version string, so
    /// drivers pick its dialect (default true). `false` keeps the target's
    /// version from clients that have not logged in.
    pub mirror_version: bool,
}

impl MysqlOptions {
    /// The keys of a `mysql` connection besides `name`, `kind` and `via`.
    pub const KEYS: &'static [&'static str] = &[
        "address",
        "database",
        "user",
        "password",
        "tls",
        "tls_ca",
        "flavor",
        "mirror_version",
    ];
}

/// The server family: it decides which authentication methods Vigil answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MysqlFlavor {
    /// MariaDB: `mysql_native_password` and `client_ed25519`.
    Mariadb,
    /// MySQL: `mysql_native_password` and `caching_sha2_password`.
    Mysql,
}

impl std::str::FromStr for MysqlFlavor {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mariadb" => Ok(MysqlFlavor::Mariadb),
            "mysql" => Ok(MysqlFlavor::Mysql),
            other => Err(format!(
                "unknown mysql flavor `{other}`, expected `mariadb` or `mysql`"
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMysql {
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
    flavor: Option<Parsed<MysqlFlavor>>,
    #[serde(default)]
    mirror_version: Option<bool>,
}

impl RawMysql {
    pub(crate) fn check(self, _table: &Range<usize>) -> Result<MysqlOptions, Invalid> {
        check_address(&self.address.get_ref().0).map_err(|m| (self.address.span(), m))?;
        Ok(MysqlOptions {
            address: self.address.into_inner().0,
            database: self.database,
            user: self.user,
            password: self.password,
            tls: self.tls.map(|t| t.0).unwrap_or_default(),
            tls_ca: self.tls_ca,
            flavor: self.flavor.map(|f| f.0),
            mirror_version: self.mirror_version.unwrap_or(true),
        })
    }
}
