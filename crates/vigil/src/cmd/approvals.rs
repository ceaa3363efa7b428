//! `vigil approvals list|show|approve|deny`: a reviewer's side of
//! just-in-time approvals, through the gateway's REST API.

use crate::cli::ServerArgs;
use anyhow::{Context, bail};
use clap::Subcommand;
use serde_json::{Value, json};
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum ApprovalsCommand {
    /// Requests you may see: pending first, newest first.
    List {
        #[command(flatten)]
        server: ServerArgs,
        /// Show decided and expired requests too.
        #[arg(long)]
        all: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Everything a reviewer needs to decide one request.
    Show {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
    },
    /// Let the held or refused statement run once (or, with --for, open a window).
    Approve {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
        #[arg(long)]
        reason: Option<String>,
        /// Instead of one run: let the same principal's statements that hit
        /// the same rule on the same connection pass for this long (e.g. 30m).
        #[arg(long = "for", value_name = "DURATION")]
        window: Option<String>,
    },
    /// Refuse the request; the client sees the reason.
    Deny {
        #[command(flatten)]
        server: ServerArgs,
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
}

pub async fn run(cmd: ApprovalsCommand) -> anyhow::Result<ExitCode> {
    // ureq is blocking; keep it off the runtime's workers.
    tokio::task::spawn_blocking(move || match cmd {
        ApprovalsCommand::List { server, all, limit } => list(&server, all, limit),
        ApprovalsCommand::Show { server, id } => show(&server, &id),
        ApprovalsCommand::Approve {
            server,
            id,
            reason,
            window,
        } => decide(
            &server,
            &id,
            "approve",
            json!({ "reason": reason, "for": window }),
        ),
        ApprovalsCommand::Deny { server, id, reason } => {
            decide(&server, &id, "deny", json!({ "reason": reason }))
        }
    })
    .await
    .context("the request task failed")?
}

/// Calls the API; `body` makes it a POST. Non-2xx answers become errors
/// carrying the API's own message.
pub(crate) fn call(server: &ServerArgs, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
    let url = format!("{}/api/v1{path}", server.server.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let auth = format!("Bearer {}", server.token);
    let sent = match body {
        Some(body) => agent
            .post(&url)
            .header("Authorization", &auth)
            .send_json(body),
        None => agent.get(&url).header("Authorization", &auth).call(),
    };
    let mut response = sent.with_context(|| format!("cannot reach {}", server.server))?;
    let status = response.status();
    let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("request failed");
        bail!("{message} ({status})");
    }
    Ok(body)
}

fn list(server: &ServerArgs, all: bool, limit: usize) -> anyhow::Result<ExitCode> {
    let body = call(server, &format!("/approvals?limit={limit}"), None)?;
    let mut rows: Vec<Value> = body
        .get("approvals")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|a| all || text(a, "status") == "pending")
        .collect();
    if server.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "approvals": rows }))?
        );
        return Ok(ExitCode::SUCCESS);
    }
    rows.sort_by_key(|a| text(a, "status") != "pending");
    println!(
        "{:<20} {:<9} {:<16} {:<10} {:<20} {:<6} STATEMENT",
        "ID", "STATUS", "PRINCIPAL", "CONNECTION", "RULE", "MODE"
    );
    for a in &rows {
        println!(
            "{:<20} {:<9} {:<16} {:<10} {:<20} {:<6} {}",
            text(a, "id"),
            text(a, "status"),
            text(a, "principal"),
            text(a, "connection"),
            text(a, "rule"),
            text(a, "mode"),
            one_line(&text(a, "statement"), 60)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn show(server: &ServerArgs, id: &str) -> anyhow::Result<ExitCode> {
    let a = call(server, &format!("/approvals/{id}"), None)?;
    if server.json {
        println!("{}", serde_json::to_string_pretty(&a)?);
        return Ok(ExitCode::SUCCESS);
    }
    print_approval(&a);
    Ok(ExitCode::SUCCESS)
}

fn decide(server: &ServerArgs, id: &str, verb: &str, body: Value) -> anyhow::Result<ExitCode> {
    let a = call(server, &format!("/approvals/{id}/{verb}"), Some(body))?;
    if server.json {
        println!("{}", serde_json::to_string_pretty(&a)?);
        return Ok(ExitCode::SUCCESS);
    }
    let grant = a
        .get("grant_id")
        .and_then(Value::as_str)
        .map(|g| format!(" (grant {g})"))
        .unwrap_or_default();
    println!("{id}: {}{grant}", text(&a, "status"));
    Ok(ExitCode::SUCCESS)
}

fn print_approval(a: &Value) {
    let line = |k: &str, v: String| println!("{k:<15} {v}");
    line("id", text(a, "id"));
    line("status", text(a, "status"));
    line(
        "principal",
        format!("{} ({})", text(a, "principal"), text(a, "principal_kind")),
    );
    line("connection", text(a, "connection"));
    line(
        "rule",
        format!("{}: {}", text(a, "rule"), text(a, "reason")),
    );
    line("mode", text(a, "mode"));
    line("reviewers", list_of(a, "reviewers"));
    line("kind", text(a, "kind"));
    line("tables written", list_of(a, "tables_written"));
    let rows = a
        .get("preview")
        .and_then(|p| p.get("estimated_rows"))
        .map(Value::to_string);
    let preview = match (a.get("preview"), rows) {
        (Some(p), Some(rows)) => match p.get("plan_node").and_then(Value::as_str) {
            Some(node) => format!("about {rows} rows (EXPLAIN estimate: {node})"),
            None => format!("about {rows} rows (EXPLAIN estimate)"),
        },
        (Some(p), None) if p.get("error").is_some() => {
            format!("unavailable: {}", text(p, "error"))
        }
        _ => "none".into(),
    };
    line("preview", preview);
    line("requested", ms(a.get("created_at_ms")));
    line("expires", ms(a.get("expires_at_ms")));
    if let Some(by) = a.get("decided_by").and_then(Value::as_str) {
        line(
            "decided",
            format!("by {by} at {}", ms(a.get("decided_at_ms"))),
        );
        line("decision note", text(a, "decision_reason"));
    }
    println!("statement:\n{}", text(a, "statement"));
}

fn text(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("-").to_string()
}

fn list_of(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

fn one_line(s: &str, max: usize) -> String {
    let flat = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > max {
        format!("{}...", flat.chars().take(max).collect::<String>())
    } else {
        flat
    }
}

pub(crate) fn ms(v: Option<&Value>) -> String {
    match v.and_then(Value::as_i64) {
        Some(ms) => {
            let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
            humantime::format_rfc3339_seconds(t).to_string()
        }
        None => "-".into(),
    }
}
