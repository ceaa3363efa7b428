//! The gateway's own sections: `[server]`, `[listen]`, `[tls]`, `[ledger]`, `[log]`.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::Deserialize;
use vigil_core::Secret;

use crate::expand::with;

/// `[server]`
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerConfig {
    /// The SQLite store, session recordings and the generated TLS certificate live here.
    #[serde(default = "default_data_dir", deserialize_with = "with::parsed")]
    pub data_dir: PathBuf,
    /// Members may read sessions, events and recordings and manage grants through the API.
    #[serde(default, deserialize_with = "with::strings")]
    pub admin_groups: Vec<String>,
    /// A shared PostgreSQL store for several replicas. A URL may carry a
    /// password, so it is held as a secret.
    #[serde(default, deserialize_with = "with::opt_secret")]
    pub store: Option<Secret<String>>,
    /// Threads of the gateway's async runtime; one per core when absent.
    /// On a host shared with the database and its clients, fewer threads
    /// spend less CPU per statement on waking each other.
    #[serde(default, deserialize_with = "workers")]
    pub workers: Option<usize>,
    /// Client sessions open at once over every front-end; past it a client
    /// is refused (PostgreSQL: SQLSTATE 53300), so agents together cannot
    /// exhaust a target's own `max_connections`.
    #[serde(default = "default_max_connections", deserialize_with = "positive")]
    pub max_connections: u32,
    /// Client sessions one principal (issuer and subject) may hold at once.
    #[serde(
        default = "default_max_connections_per_principal",
        deserialize_with = "positive"
    )]
    pub max_connections_per_principal: u32,
    /// Failed logins one source address (an IPv6 /64) may make per minute;
    /// past it, its logins are refused at once with a generic error until
    /// its budget refills (a token bucket of this size, refilled over a minute).
    #[serde(
        default = "default_login_failures_per_minute",
        deserialize_with = "positive"
    )]
    pub login_failures_per_minute: u32,
}

fn default_max_connections() -> u32 {
    1000
}

fn default_max_connections_per_principal() -> u32 {
    50
}

fn default_login_failures_per_minute() -> u32 {
    10
}

/// An integer from 1 to `u32::MAX`: zero would refuse everyone.
fn positive<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u64::deserialize(d)?;
    match u32::try_from(n) {
        Ok(n @ 1..) => Ok(n),
        _ => Err(serde::de::Error::custom(format!(
            "must be between 1 and {}, got {n}",
            u32::MAX
        ))),
    }
}

/// The most `workers` a config may ask for: far past any core count, low
/// enough that a typo cannot start a million threads.
pub const MAX_WORKERS: usize = 1024;

fn workers<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<usize>, D::Error> {
    let n = u64::deserialize(d)?;
    match usize::try_from(n) {
        Ok(n @ 1..=MAX_WORKERS) => Ok(Some(n)),
        _ => Err(serde::de::Error::custom(format!(
            "`workers` must be between 1 and {MAX_WORKERS}, got {n}"
        ))),
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./vigil-data")
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            data_dir: default_data_dir(),
            admin_groups: Vec::new(),
            store: None,
            workers: None,
            max_connections: default_max_connections(),
            max_connections_per_principal: default_max_connections_per_principal(),
            login_failures_per_minute: default_login_failures_per_minute(),
        }
    }
}

/// `[listen]`: where the front-ends accept clients; an absent key means that
/// front-end is off.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenConfig {
    /// PostgreSQL wire protocol, e.g. `127.0.0.1:15432`.
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub postgres: Option<SocketAddr>,
    /// SSH, e.g. `127.0.0.1:2222`.
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub ssh: Option<SocketAddr>,
    /// MySQL/MariaDB wire protocol, e.g. `127.0.0.1:13306`.
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub mysql: Option<SocketAddr>,
    /// REST API, MCP, console, metrics and health checks, e.g. `127.0.0.1:8080`.
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub http: Option<SocketAddr>,
}

/// `[tls]`: the certificate offered to clients. Without one, a self-signed
/// certificate is generated into `data_dir`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM certificate chain; given together with `key` or not at all.
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub cert: Option<PathBuf>,
    /// PEM private key of `cert`.
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub key: Option<PathBuf>,
    /// Accept plaintext clients (PostgreSQL and HTTP) from any address, not only loopback.
    #[serde(default)]
    pub allow_plaintext: bool,
}

/// `[ledger]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LedgerConfig {
    /// Survive power loss as well as a crash of the gateway, at a cost per commit.
    #[serde(default)]
    pub fsync: bool,
    /// Events between two signed checkpoints.
    #[serde(default = "default_checkpoint_every")]
    pub checkpoint_every: u64,
}

fn default_checkpoint_every() -> u64 {
    1000
}

impl Default for LedgerConfig {
    fn default() -> Self {
        Self {
            fsync: false,
            checkpoint_every: default_checkpoint_every(),
        }
    }
}

/// `[log]`
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// A tracing filter: `info`, `debug`, or directives such as `info,vigil_pg=debug`.
    #[serde(default = "default_level", deserialize_with = "with::string")]
    pub level: String,
    #[serde(default, deserialize_with = "with::parsed")]
    pub format: LogFormat,
}

fn default_level() -> String {
    "info".to_owned()
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: default_level(),
            format: LogFormat::Text,
        }
    }
}

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// For people reading a terminal.
    #[default]
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

impl std::str::FromStr for LogFormat {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!(
                "unknown log format `{other}`, expected `text` or `json`"
            )),
        }
    }
}
