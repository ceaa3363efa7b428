use crate::cli::TokenCommand;
use anyhow::Context;
use std::process::ExitCode;
use std::sync::Arc;
use vigil_identity::TokenAuthority;
use vigil_store::Store;

pub async fn run(cmd: TokenCommand) -> anyhow::Result<ExitCode> {
    let config_path = match &cmd {
        TokenCommand::Create { config, .. }
        | TokenCommand::List { config }
        | TokenCommand::Revoke { config, .. } => config.config.clone(),
    };
    let config = vigil_config::load(&config_path)?;
    let store = vigil_gateway::open_admin_store(&config)
        .with_context(|| format!("opening the store in {}", config.server.data_dir.display()))?;
    let dyn_store: Arc<dyn Store> = store.clone();
    let authority = TokenAuthority::new(dyn_store);
    let code = match cmd {
        TokenCommand::Create {
            name,
            groups,
            kind,
            ttl,
            ..
        } => {
            let groups: Vec<String> = groups.into_iter().filter(|g| !g.is_empty()).collect();
            let kind = kind.parse().map_err(anyhow::Error::msg)?;
            let token = authority.issue(&name, &groups, kind, ttl).await?;
            println!("{}", token.expose());
            ExitCode::SUCCESS
        }
        TokenCommand::List { .. } => {
            println!(
                "{:<24} {:<6} {:<30} {:<10}",
                "NAME", "KIND", "GROUPS", "STATE"
            );
            let now = super::now_ms();
            for t in authority.list().await? {
                let state = if t.revoked_at_ms.is_some() {
                    "revoked"
                } else if t.expires_at_ms.is_some_and(|e| e <= now) {
                    "expired"
                } else {
                    "active"
                };
                println!(
                    "{:<24} {:<6} {:<30} {:<10}",
                    t.name,
                    t.kind.as_str(),
                    t.groups.join(","),
                    state
                );
            }
            ExitCode::SUCCESS
        }
        TokenCommand::Revoke { name, .. } => {
            if authority.revoke(&name).await? {
                println!("revoked {name}");
                ExitCode::SUCCESS
            } else {
                eprintln!("vigil: no active token called {name:?}");
                ExitCode::FAILURE
            }
        }
    };
    store.close().await?;
    Ok(code)
}
