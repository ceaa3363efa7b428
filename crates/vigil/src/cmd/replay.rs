//! `vigil replay SESSION`: an SSH session's channel recordings played in
//! the terminal with their timing (or dumped with `--no-wait`); a session
//! without recordings (PostgreSQL, MCP) prints its statement timeline.

use crate::cli::ServerArgs;
use anyhow::{Context, bail};
use serde_json::Value;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// Largest recording fetched (the API serves the file whole).
const MAX_RECORDING: u64 = 4 * 1024 * 1024 * 1024;

pub async fn run(
    server: ServerArgs,
    id: String,
    speed: f64,
    no_wait: bool,
) -> anyhow::Result<ExitCode> {
    tokio::task::spawn_blocking(move || replay(&server, &id, speed, no_wait))
        .await
        .context("the request task failed")?
}

fn replay(server: &ServerArgs, id: &str, speed: f64, no_wait: bool) -> anyhow::Result<ExitCode> {
    if !(speed.is_finite() && speed > 0.0) {
        bail!("--speed must be a positive number");
    }
    let listing = crate::cmd::sessions::get(server, &format!("/sessions/{id}/recordings"))?;
    let channels: Vec<u64> = listing
        .get("channels")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("channel").and_then(Value::as_u64))
        .collect();
    if channels.is_empty() {
        // No terminal recordings: the statement timeline.
        return crate::cmd::sessions::show(server, id);
    }
    let mut out = std::io::stdout().lock();
    for channel in channels {
        let cast = fetch(server, &format!("/sessions/{id}/recordings/{channel}"))?;
        play(&cast, channel, speed, no_wait, &mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

fn fetch(server: &ServerArgs, path: &str) -> anyhow::Result<String> {
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
    if !response.status().is_success() {
        bail!("{path}: {}", response.status());
    }
    response
        .body_mut()
        .with_config()
        .limit(MAX_RECORDING)
        .read_to_string()
        .context("reading the recording")
}

/// Plays one asciicast v2 recording: output to stdout with its timing,
/// markers (Vigil's decisions) and resizes to stderr.
fn play(
    cast: &str,
    channel: u64,
    speed: f64,
    no_wait: bool,
    out: &mut impl Write,
) -> anyhow::Result<()> {
    let mut lines = cast.lines();
    let header: Value = lines
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .context("the recording has no asciicast header")?;
    if header.get("version").and_then(Value::as_u64) != Some(2) {
        bail!("channel {channel}: not an asciicast v2 recording");
    }
    let title = header.get("title").and_then(Value::as_str).unwrap_or("");
    eprintln!("[vigil] channel {channel}: {title}");
    let mut previous = 0.0f64;
    for line in lines {
        let Ok(Value::Array(event)) = serde_json::from_str::<Value>(line) else {
            bail!("channel {channel}: a line is not an asciicast event");
        };
        let (Some(t), Some(code), Some(data)) = (
            event.first().and_then(Value::as_f64),
            event.get(1).and_then(Value::as_str),
            event.get(2).and_then(Value::as_str),
        ) else {
            bail!("channel {channel}: a malformed asciicast event");
        };
        if !no_wait && t > previous {
            out.flush()?;
            std::thread::sleep(Duration::from_secs_f64(
                ((t - previous) / speed).min(3600.0),
            ));
        }
        previous = previous.max(t);
        match code {
            "o" => out.write_all(data.as_bytes())?,
            "m" => eprintln!("[vigil {t:.3}s] {data}"),
            "r" => eprintln!("[vigil {t:.3}s] resize {data}"),
            _ => {}
        }
    }
    out.flush()?;
    Ok(())
}
