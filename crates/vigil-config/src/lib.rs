//! Vigil's one configuration file.
//!
//! Every key is typed, defaulted and documented (see `CONFIG.md`); unknown
//! keys are errors; `${VAR}` and `${VAR:-default}` are expanded in every
//! string; every error reads `file:line:col: message`, so `vigil policy check`
//! can point at the line to fix.

mod connection;
mod console;
mod error;
mod expand;
mod identity;
mod locate;
mod notify;
mod policy;
mod server;
mod validate;

use std::path::{Path, PathBuf};
use std::rc::Rc;

use vigil_policy::{PolicySet, PolicySpec};

pub use connection::{
    COMMON_KEYS, ClientCert, ConnectionConfig, ConnectionKind, ConnectionOptions,
    DEFAULT_MAX_RESPONSE_BYTES, HttpAuth, HttpOptions, KubernetesAuth, KubernetesOptions,
    MysqlFlavor, MysqlOptions, PostgresOptions, SftpMode, SshAuth, SshOptions, SshRecording,
    TlsMode, UpstreamAuth,
};
pub use console::{ConsoleConfig, ConsoleOidc};
pub use error::{ConfigError, Location};
pub use identity::{IdentityConfig, OidcConfig};
pub use notify::{NOTIFY_EVENTS, NotifyConfig};
pub use server::{LedgerConfig, ListenConfig, LogConfig, LogFormat, ServerConfig, TlsConfig};

use locate::Locations;

/// The whole file, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub server: ServerConfig,
    pub listen: ListenConfig,
    pub tls: TlsConfig,
    pub ledger: LedgerConfig,
    pub log: LogConfig,
    pub connections: Vec<ConnectionConfig>,
    pub policies: Vec<PolicySpec>,
    /// `[[identity.oidc]]`: trusted OIDC issuers.
    pub identity: IdentityConfig,
    /// `[[notify]]`: approval webhooks.
    pub notify: Vec<NotifyConfig>,
    /// `[console]`: the web console's sign-in.
    pub console: ConsoleConfig,
    /// The file this came from; errors are reported against it.
    pub source: PathBuf,
    /// Where each policy and rule was written, for errors found after loading.
    locations: Locations,
}

/// Reads, expands and validates the file at `path` (environment from the process).
pub fn load(path: &Path) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    load_str(&text, path)
}

/// As [`load`], for text already read; `origin` names it in errors.
pub fn load_str(text: &str, origin: &Path) -> Result<Config, ConfigError> {
    validate::load(text, origin, expand::process_env())
}

/// As [`load_str`], with `${VAR}`s answered by `env` instead of the process
/// environment (tests, and callers that sandbox the environment).
pub fn load_str_with_env(
    text: &str,
    origin: &Path,
    env: impl Fn(&str) -> Option<String> + 'static,
) -> Result<Config, ConfigError> {
    validate::load(text, origin, Rc::new(env))
}

impl Config {
    /// Compiles the policies for the guard. Loading already checked that they
    /// compile; an error here still names the file and line of the rule.
    pub fn compile_policies(&self) -> Result<PolicySet, ConfigError> {
        PolicySet::compile(self.policies.clone())
            .map_err(|e| self.locations.locate(&self.source, &e))
    }

    /// Refuses what `vigil serve` cannot serve yet, at the line that asks for
    /// it: a connection whose kind is not in `served` (no front-end yet), or
    /// one that dials through a connector (`via`). `vigil policy check`
    /// accepts both, so a file can be written ahead of the front-end.
    pub fn check_served(&self, served: &[ConnectionKind]) -> Result<(), ConfigError> {
        for connection in &self.connections {
            let (kind_at, via_at) = self.locations.connection(&connection.name);
            let kind = connection.kind();
            if !served.contains(&kind) {
                let served: Vec<&str> = served.iter().map(|k| k.as_str()).collect();
                return Err(ConfigError::at(
                    &self.source,
                    kind_at,
                    format!(
                        "connection `{}`: kind `{kind}` is not supported yet by `vigil serve` (it serves: {}); `vigil policy check` accepts it",
                        connection.name,
                        served.join(", ")
                    ),
                ));
            }
            if let Some(via) = &connection.via {
                return Err(ConfigError::at(
                    &self.source,
                    via_at.unwrap_or(kind_at),
                    format!(
                        "connection `{}`: `via = \"{via}\"` (dialing through a connector) is not supported yet by `vigil serve`; `vigil policy check` accepts it",
                        connection.name
                    ),
                ));
            }
        }
        Ok(())
    }

    /// The connection clients call `name`.
    pub fn connection(&self, name: &str) -> Option<&ConnectionConfig> {
        self.connections.iter().find(|c| c.name == name)
    }
}
