//! `vigil ssh-keys`: Vigil's SSH host key, for clients to pin, and the public
//! keys registered for login (add, list, remove).

use crate::cli::SshKeysCommand;
use anyhow::{Context, bail};
use std::path::Path;
use std::process::ExitCode;
use vigil_ssh::authorized_key::{AuthorizedKey, fingerprint_text};
use vigil_store::{NewSshKey, Store};

pub fn host(config: &Path) -> anyhow::Result<ExitCode> {
    let config = vigil_config::load(config)?;
    let key = vigil_ssh::hostkey::load_or_create(&config.server.data_dir)?;
    println!("{}", vigil_ssh::hostkey::public_line(&key));
    Ok(ExitCode::SUCCESS)
}

/// A name is what policies and the ledger show: keep it printable.
fn check_name(name: &str) -> anyhow::Result<()> {
    if name.is_empty() || name.len() > 128 || name.chars().any(|c| c.is_control()) {
        bail!("--name must be 1 to 128 printable characters");
    }
    Ok(())
}

/// `--key "ssh-ed25519 ..."` or `--key @path/to/key.pub`.
fn read_key(arg: &str) -> anyhow::Result<AuthorizedKey> {
    let (text, from) = match arg.strip_prefix('@') {
        Some(path) => (
            std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?,
            format!("{path}: "),
        ),
        None => (arg.to_string(), String::new()),
    };
    let lines: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let [line] = lines[..] else {
        bail!(
            "{from}expected exactly one public key line, found {}",
            lines.len()
        );
    };
    AuthorizedKey::parse(line).map_err(|e| anyhow::anyhow!("{from}{e}"))
}

pub async fn run(cmd: SshKeysCommand) -> anyhow::Result<ExitCode> {
    let config_path = match &cmd {
        SshKeysCommand::Host(c) | SshKeysCommand::List(c) => c.config.clone(),
        SshKeysCommand::Add { config, .. } | SshKeysCommand::Remove { config, .. } => {
            config.config.clone()
        }
    };
    let config = vigil_config::load(&config_path)?;
    let store = vigil_gateway::open_admin_store(&config)
        .with_context(|| format!("opening the store in {}", config.server.data_dir.display()))?;
    let code = match cmd {
        SshKeysCommand::Host(_) => return host(&config_path),
        SshKeysCommand::Add {
            name,
            groups,
            kind,
            key,
            ..
        } => {
            check_name(&name)?;
            let key = read_key(&key)?;
            let groups: Vec<String> = groups.into_iter().filter(|g| !g.is_empty()).collect();
            let kind = kind.parse().map_err(anyhow::Error::msg)?;
            store
                .add_ssh_key(NewSshKey {
                    name: name.clone(),
                    groups,
                    kind,
                    fingerprint: key.fingerprint,
                    public_key: key.line,
                    created_at_ms: super::now_ms(),
                })
                .await?;
            println!("added {name} {}", fingerprint_text(&key.fingerprint));
            ExitCode::SUCCESS
        }
        SshKeysCommand::List(_) => {
            println!(
                "{:<24} {:<6} {:<24} {:<8} FINGERPRINT",
                "NAME", "KIND", "GROUPS", "STATE"
            );
            for k in store.list_ssh_keys().await? {
                let state = if k.removed_at_ms.is_some() {
                    "removed"
                } else {
                    "active"
                };
                println!(
                    "{:<24} {:<6} {:<24} {:<8} {}",
                    k.name,
                    k.kind.as_str(),
                    k.groups.join(","),
                    state,
                    fingerprint_text(&k.fingerprint)
                );
            }
            ExitCode::SUCCESS
        }
        SshKeysCommand::Remove { name, .. } => {
            if store.remove_ssh_key(&name).await? {
                println!("removed {name}");
                ExitCode::SUCCESS
            } else {
                eprintln!("vigil: no active ssh key called {name:?}");
                ExitCode::FAILURE
            }
        }
    };
    store.close().await?;
    Ok(code)
}
