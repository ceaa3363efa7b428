use crate::cli::{ServerArgs, SessionsCommand};
use anyhow::{Context, bail};
use serde_json::Value;
use std::process::ExitCode;

pub async fn run(cmd: SessionsCommand) -> anyhow::Result<ExitCode> {
    // ureq is blocking; keep it off the runtime's workers.
    tokio::task::spawn_blocking(move || match cmd {
        SessionsCommand::List { server, limit, run } => list(&server, limit, run.as_deref()),
        SessionsCommand::Show { server, id } => show(&server, &id),
    })
    .await
    .context("the request task failed")?
}

pub(crate) fn get(server: &ServerArgs, path: &str) -> anyhow::Result<Value> {
    let url = format!("{}/api/v1{path}", server.server.trim_end_matches('/'));
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent
        .get(&url)
        .header("Authorization", &format!("Bearer {}", server.token))
        .call()
        .with_context(|| format!("cannot reach {}", server.server))?;
    let status = response.status();
    let body: Value = response.body_mut().read_json().unwrap_or(Value::Null);
    if !status.is_success() {
        let message = body
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("request failed");
        bail!("{} ({status})", message);
    }
    Ok(body)
}

fn list(server: &ServerArgs, limit: usize, run: Option<&str>) -> anyhow::Result<ExitCode> {
    let path = match run {
        Some(run) => format!("/sessions?limit={limit}&run={}", query_escape(run)),
        None => format!("/sessions?limit={limit}"),
    };
    let body = get(server, &path)?;
    if server.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!(
        "{:<36} {:<16} {:<12} {:<24} {:>6} {:>6}  STATE",
        "ID", "PRINCIPAL", "CONNECTION", "STARTED", "STMTS", "DENIED"
    );
    for s in body
        .get("sessions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let text = |k: &str| s.get(k).and_then(Value::as_str).unwrap_or("-").to_string();
        let num = |k: &str| s.get(k).and_then(Value::as_i64).unwrap_or(0);
        let started = s
            .get("started_at_ms")
            .and_then(Value::as_i64)
            .map(format_ms)
            .unwrap_or_else(|| "-".into());
        let state = if s.get("ended_at_ms").and_then(Value::as_i64).is_some() {
            "ended"
        } else {
            "open"
        };
        println!(
            "{:<36} {:<16} {:<12} {:<24} {:>6} {:>6}  {}",
            text("id"),
            text("principal"),
            text("connection"),
            started,
            num("statements"),
            num("denied"),
            state
        );
    }
    if let Some(run) = run {
        timeline(run, &body);
    }
    Ok(ExitCode::SUCCESS)
}

/// The events of one agent run, across its sessions, in ledger order.
fn timeline(run: &str, body: &Value) {
    println!();
    println!("run {run}");
    for e in body
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let seq = e.get("seq").and_then(Value::as_i64).unwrap_or(0);
        let at = e
            .get("at_ms")
            .and_then(Value::as_i64)
            .map(format_ms)
            .unwrap_or_default();
        let kind = e.get("type").and_then(Value::as_str).unwrap_or("?");
        let event = e.get("body").cloned().unwrap_or(Value::Null);
        let session = event.get("session").and_then(Value::as_str).unwrap_or("-");
        let inner = event.get("body").cloned().unwrap_or(Value::Null);
        println!(
            "{seq:>8}  {at}  {session:<36} {kind:<18} {}",
            describe(kind, &inner)
        );
    }
}

/// Percent-encodes a query parameter value.
fn query_escape(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

pub(crate) fn show(server: &ServerArgs, id: &str) -> anyhow::Result<ExitCode> {
    let body = get(server, &format!("/sessions/{id}"))?;
    if server.json {
        println!("{}", serde_json::to_string_pretty(&body)?);
        return Ok(ExitCode::SUCCESS);
    }
    println!("session {id}");
    for e in body
        .get("events")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let seq = e.get("seq").and_then(Value::as_i64).unwrap_or(0);
        let at = e
            .get("at_ms")
            .and_then(Value::as_i64)
            .map(format_ms)
            .unwrap_or_default();
        let kind = e.get("type").and_then(Value::as_str).unwrap_or("?");
        let body = e
            .get("body")
            .and_then(|b| b.get("body"))
            .cloned()
            .unwrap_or(Value::Null);
        println!("{seq:>8}  {at}  {kind:<15} {}", describe(kind, &body));
    }
    Ok(ExitCode::SUCCESS)
}

/// One line per event: what a reviewer scanning a session wants to see.
fn describe(kind: &str, body: &Value) -> String {
    let s = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    match kind {
        "statement" => {
            let d = body.get("decision").cloned().unwrap_or(Value::Null);
            let verdict = d.get("verdict").and_then(Value::as_str).unwrap_or("?");
            let rule = d.get("rule").and_then(Value::as_str).unwrap_or("?");
            format!(
                "{verdict:<6} rule={rule:<20} {}",
                s("text").replace('\n', " ")
            )
        }
        "statement_done" => {
            let us = body.get("duration_us").and_then(Value::as_u64).unwrap_or(0);
            let of = body
                .get("statement_seq")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            let tag = body
                .get("tag")
                .and_then(Value::as_str)
                .or_else(|| body.get("error_code").and_then(Value::as_str))
                .unwrap_or("");
            format!("#{of} {:.3} ms {tag}", us as f64 / 1000.0)
        }
        "session_start" => format!(
            "{} via {} from {}",
            s("connection"),
            s("protocol"),
            s("client_addr")
        ),
        "session_end" => format!(
            "{} statements in {} ms",
            body.get("statements").and_then(Value::as_u64).unwrap_or(0),
            body.get("duration_ms").and_then(Value::as_u64).unwrap_or(0)
        ),
        "approval_requested" => format!(
            "{} rule={} reviewers={} {}",
            s("id"),
            s("rule"),
            body.get("reviewers")
                .map(Value::to_string)
                .unwrap_or_default(),
            s("statement").replace('\n', " ")
        ),
        "approval_decided" => format!(
            "{} {} by {}{}",
            s("id"),
            s("status"),
            s("reviewer"),
            body.get("reason")
                .and_then(Value::as_str)
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        ),
        _ => body.to_string(),
    }
}

fn format_ms(ms: i64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms.max(0) as u64);
    humantime::format_rfc3339_millis(t).to_string()
}
