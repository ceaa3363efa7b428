pub mod approvals;
mod audit;
pub mod grants;
mod policy;
mod serve;
mod sessions;
mod token;

use crate::cli::{AuditCommand, Cli, Command, PolicyCommand};
use std::process::ExitCode;

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Serve(args) => serve::run(&args.config).await,
        Command::Token(cmd) => token::run(cmd).await,
        Command::Sessions(cmd) => sessions::run(cmd).await,
        Command::Approvals(cmd) => approvals::run(cmd).await,
        Command::Grants(cmd) => grants::run(cmd).await,
        Command::Audit(AuditCommand::Verify(args)) => audit::verify(&args.config),
        Command::Policy(PolicyCommand::Check(args)) => policy::check(&args.config),
    }
}
