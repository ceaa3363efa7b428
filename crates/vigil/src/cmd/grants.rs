//! `vigil grants list|revoke`: the time-boxed windows reviewers opened.

use super::approvals::{call, ms};
use crate::cli::ServerArgs;
use anyhow::Context;
use clap::Subcommand;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum GrantsCommand {
    /// Grants you may manage, newest first (admins: all).
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// Show expired and revoked grants too.
        #[arg(long)]
        all: bool,
    },
    /// End a grant now.
    Revoke {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
}

pub async fn run(cmd: GrantsCommand) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || match cmd {
        GrantsCommand::List { server, all } => list(&server, all),
        GrantsCommand::Revoke { server, id } => {
            let g = call(&server, &format!("/grants/{id}/revoke"), Some(json!({})))?;
            if server.json {
                println!("{}", serde_json::to_string_pretty(&g)?);
            } else {
                println!("{id}: revoked");
            }
            Ok(ExitCode::SUCCESS)
        }
    })
    .await
    .context("the request task failed")?
}

fn list(server: &ServerArgs, all: bool) -> anyhow::Result<ExitCode> {
    let body = call(server, "/grants", None)?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or_default();
    let state = |g: &Value| {
        if g.get("revoked_at_ms").and_then(Value::as_i64).is_some() {
            "revoked"
        } else if g.get("expires_at_ms").and_then(Value::as_i64).unwrap_or(0) <= now {
            "expired"
        } else {
            "active"
        }
    };
    let rows: Vec<Value> = body
        .get("grants")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|g| all || state(g) == "active")
        .map(|mut g| {
            g["state"] = json!(state(&g));
            g
        })
        .collect();
    if server.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "grants": rows }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<20} {:<8} {:<16} {:<10} {:<20} {:<14} EXPIRES",
        "ID", "STATE", "PRINCIPAL", "CONNECTION", "RULE", "GRANTED BY"
    );
    let t = |g: &Value, k: &str| g.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
    for g in &rows {
        println!(
            "{:<20} {:<8} {:<16} {:<10} {:<20} {:<14} {}",
            t(g, "id"),
            t(g, "state"),
            t(g, "principal"),
            t(g, "connection"),
            t(g, "rule"),
            t(g, "granted_by"),
            ms(g.get("expires_at_ms"))
        );
    }
    Ok(ExitCode::SUCCESS)
}
