//! `kind = "mysql"`: a MySQL or MariaDB server, served by `vigil-mysql`.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use vigil_core::Secret;

use super::{Invalid, check_address};
use crate::expand::{Str, with};

/// `kind = "mysql"`: the target and the credential Vigil injects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MysqlOptions {
    /// `host:port` of the target.
    pub address: String,
    pub database: String,
    pub user: String,
    /// Injected upstream; never printed.
    pub password: Option<Secret<String>>,
}

impl MysqlOptions {
    /// The keys of a `mysql` connection besides `name`, `kind` and `via`.
    pub const KEYS: &'static [&'static str] = &["address", "database", "user", "password"];
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
}

impl RawMysql {
    pub(crate) fn check(self, _table: &Range<usize>) -> Result<MysqlOptions, Invalid> {
        check_address(&self.address.get_ref().0).map_err(|m| (self.address.span(), m))?;
        Ok(MysqlOptions {
            address: self.address.into_inner().0,
            database: self.database,
            user: self.user,
            password: self.password,
        })
    }
}
