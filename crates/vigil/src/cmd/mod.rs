pub mod approvals;
mod audit;
pub mod grants;
pub mod kubeconfig;
mod policy;
mod replay;
mod serve;
mod sessions;
mod ssh_keys;
mod token;

use crate::cli::{AuditCommand, Cli, Command, PolicyCommand, SshKeysCommand};
use std::process::ExitCode;

/// A command made ready before the async runtime exists: `serve` loads its
/// config first, because `[server] workers` sizes the runtime.
pub enum Ready {
    Serve(Box<vigil_config::Config>),
    Other(Cli),
}

impl Ready {
    pub fn new(cli: Cli) -> anyhow::Result<Ready> {
        Ok(match &cli.command {
            Command::Serve(args) => Ready::Serve(Box::new(vigil_config::load(&args.config)?)),
            _ => Ready::Other(cli),
        })
    }

    /// The runtime's worker threads, when the config sets them.
    pub fn workers(&self) -> Option<usize> {
        match self {
            Ready::Serve(config) => config.server.workers,
            Ready::Other(_) => None,
        }
    }

    pub async fn run(self) -> anyhow::Result<ExitCode> {
        match self {
            Ready::Serve(config) => serve::run(*config).await,
            Ready::Other(cli) => run(cli).await,
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(vigil_config::load(&args.config)?).await,
        Command::Token(cmd) => token::run(cmd).await,
        Command::Sessions(cmd) => sessions::run(cmd).await,
        Command::Approvals(cmd) => approvals::run(cmd).await,
        Command::Grants(cmd) => grants::run(cmd).await,
        Command::Audit(AuditCommand::Verify(args)) => audit::verify(&args.config),
        Command::Policy(PolicyCommand::Check(args)) => policy::check(&args.config),
        Command::Replay {
            server,
            id,
            speed,
            no_wait,
        } => replay::run(server, id, speed, no_wait).await,
        Command::SshKeys(SshKeysCommand::Host(args)) => ssh_keys::host(&args.config),
        Command::SshKeys(cmd) => ssh_keys::run(cmd).await,
        Command::Kubeconfig(args) => kubeconfig::run(args).await,
    }
}

/// Milliseconds since the Unix epoch, as the store keeps times.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}
