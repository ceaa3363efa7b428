use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// Vigil: a privileged-access gateway for AI agents.
///
/// Agents and people connect to Vigil with a Vigil token (or an OIDC token)
/// instead of a database password. Vigil parses every statement, decides by
/// policy, records the decision in a tamper-evident ledger before anything
/// reaches the target, and logs in to the target with a credential the
/// client never sees.
#[derive(Parser)]
#[command(name = "vigil", version, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the gateway until Ctrl-C or SIGTERM (sessions are drained first).
    Serve(ConfigArg),
    /// Create, list and revoke Vigil API tokens (works on the store in data_dir).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Read sessions from a running gateway's API (needs an admin token).
    #[command(subcommand)]
    Sessions(SessionsCommand),
    /// Decide the requests held by review rules (talks to the gateway's API).
    #[command(subcommand)]
    Approvals(crate::cmd::approvals::ApprovalsCommand),
    /// List and revoke the time-boxed windows reviewers opened.
    #[command(subcommand)]
    Grants(crate::cmd::grants::GrantsCommand),
    /// Check the ledger.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// Check the configuration and its policies.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Play a session: SSH channel recordings with their timing, or the
    /// statement timeline of a PostgreSQL or MCP session (needs an admin token).
    Replay {
        #[command(flatten)]
        server: ServerArgs,
        /// The session id (`vigil sessions list`).
        id: String,
        /// Play faster (2) or slower (0.5).
        #[arg(long, default_value_t = 1.0)]
        speed: f64,
        /// Print everything at once, without the recorded pauses.
        #[arg(long)]
        no_wait: bool,
    },
    /// Vigil's SSH keys.
    #[command(subcommand)]
    SshKeys(SshKeysCommand),
    // The help text is the doc comment of `KubeconfigArgs` (with its usage example).
    Kubeconfig(crate::cmd::kubeconfig::KubeconfigArgs),
}

#[derive(Subcommand)]
pub enum SshKeysCommand {
    /// Print Vigil's SSH host key (created on first use in data_dir), to pin in known_hosts.
    Host(ConfigArg),
    /// Register a public key: whoever proves they hold it logs in to the SSH
    /// listener as NAME with GROUPS, as a token of that name would.
    Add {
        #[command(flatten)]
        config: ConfigArg,
        /// The principal's name, as policies and the ledger see it.
        #[arg(long)]
        name: String,
        /// Groups the principal belongs to, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "")]
        groups: Vec<String>,
        /// Whether the principal is an autonomous agent or a person.
        #[arg(long, default_value = "human", value_parser = ["agent", "human"])]
        kind: String,
        /// The public key, as one line of authorized_keys ("ssh-ed25519 AAAA... comment"),
        /// or @FILE to read it from a .pub file.
        #[arg(long)]
        key: String,
    },
    /// List registered keys (names, groups, fingerprints, state).
    List(ConfigArg),
    /// Remove the active key called NAME; open sessions logged in with it
    /// are refused from their next request.
    Remove {
        #[command(flatten)]
        config: ConfigArg,
        name: String,
    },
}

#[derive(Args)]
pub struct ConfigArg {
    /// The gateway's TOML configuration file.
    #[arg(long, short = 'c', value_name = "FILE")]
    pub config: PathBuf,
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it alone on stdout (it is shown only once; only its hash is stored).
    Create {
        #[command(flatten)]
        config: ConfigArg,
        /// The principal's name, as policies and the ledger see it.
        #[arg(long)]
        name: String,
        /// Groups the principal belongs to, comma separated.
        #[arg(long, value_delimiter = ',', default_value = "")]
        groups: Vec<String>,
        /// Whether the principal is an autonomous agent or a person.
        #[arg(long, default_value = "agent", value_parser = ["agent", "human"])]
        kind: String,
        /// Lifetime, e.g. 30m, 24h, 7d. Without it the token does not expire.
        #[arg(long, value_parser = humantime::parse_duration)]
        ttl: Option<std::time::Duration>,
    },
    /// List tokens (names, groups, expiry; never the tokens themselves).
    List {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Revoke the active token called NAME.
    Revoke {
        #[command(flatten)]
        config: ConfigArg,
        name: String,
    },
}

#[derive(Args)]
pub struct ServerArgs {
    /// The gateway's HTTP address.
    #[arg(long, env = "VIGIL_SERVER", default_value = "http://127.0.0.1:8080")]
    pub server: String,
    /// A Vigil token or OIDC JWT of a member of server.admin_groups.
    #[arg(long, env = "VIGIL_TOKEN", hide_env_values = true)]
    pub token: String,
    /// Print the API's JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand)]
pub enum SessionsCommand {
    /// The most recent sessions, newest first.
    List {
        #[command(flatten)]
        server: ServerArgs,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Only the sessions of this agent run (the `X-Vigil-Run` header or
        /// MCP `_meta.vigil_run`), oldest first, then the run's timeline.
        #[arg(long)]
        run: Option<String>,
    },
    /// Every statement, decision and timing of one session.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Walk the ledger log (data_dir/ledger/): frames, hash chain, checkpoint signatures and
    /// cadence, the signed head; then check the SQLite index against it. Exit 1 naming the
    /// first bad event. Safe while the gateway runs.
    Verify(ConfigArg),
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Validate the configuration and compile every policy; exit 1 with file:line on error.
    Check(ConfigArg),
}
