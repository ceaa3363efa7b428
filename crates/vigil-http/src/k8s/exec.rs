//! `exec` and `attach` over WebSocket (`v5.channel.k8s.io`,
//! `v4.channel.k8s.io`): after the guard's decision, the API server's
//! WebSocket is opened, then the caller's is accepted with the protocol the
//! API server chose, and messages are relayed both ways. Every message
//! starts with its channel: 0 stdin, 1 stdout, 2 stderr, 3 the final
//! `Status`, 4 a terminal resize, 255 (v5) stdin closed. Output (1, 2) and
//! resizes are recorded as asciicast with the SSH recorder; the `Status`
//! gives the exit code the ledger records.
//!
//! A refusal after the upgrade was asked for is answered inside the
//! WebSocket (the `Status` on channel 3, then close), as the API server
//! answers a failed exec, so kubectl prints it and does not retry over
//! SPDY.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{self, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message as UpMessage;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as UpCloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use vigil_core::{K8sFacts, StatementOutcome};
use vigil_guard::{Guard, SessionCtx};
use vigil_record::{Header, Recorder, Recording};

use super::dial::{self, Upstream};
use super::status;

/// The channel protocols Vigil reads, most preferred first.
pub const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];

const STDIN: u8 = 0;
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const ERROR: u8 = 3;
const RESIZE: u8 = 4;

/// An allowed exec whose upstream is open: accepted by the caller next.
pub struct Started {
    pub upgrade: WebSocketUpgrade,
    pub upstream: Upstream,
    pub protocol: String,
    pub recording: Recording,
    pub seq: i64,
}

/// The protocols the caller offered that Vigil reads, in Vigil's order.
pub fn offered(headers: &HeaderMap) -> Vec<&'static str> {
    let asked: Vec<String> = headers
        .get_all("sec-websocket-protocol")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|p| p.trim().to_ascii_lowercase())
        .collect();
    PROTOCOLS
        .into_iter()
        .filter(|p| asked.iter().any(|a| a == p))
        .collect()
}

/// Accepts the caller's WebSocket only to give it `message` as a failed
/// `Status` on the error channel, then closes it.
pub fn refuse_upgraded(
    upgrade: WebSocketUpgrade,
    code: u16,
    reason: &str,
    message: &str,
) -> Response {
    let status = status::body(code, reason, message);
    upgrade
        .protocols(PROTOCOLS)
        .on_upgrade(move |mut socket| async move {
            let mut frame = vec![ERROR];
            frame.extend_from_slice(status.to_string().as_bytes());
            let _ = socket.send(ws::Message::Binary(frame.into())).await;
            let _ = socket.send(normal_close()).await;
        })
}

/// Starts the recording of an allowed exec (required: a stream that cannot
/// be recorded is not opened).
pub fn record(dir: &Path, session: &SessionCtx, facts: &K8sFacts) -> std::io::Result<Recording> {
    let header = Header {
        cols: 80,
        rows: 24,
        term: None,
        title: &facts.text,
        input: false,
    };
    let recorder = Recorder::create(dir, &session.id, 0, &header)?;
    let recording = Recording::new(recorder, true);
    recording
        .marker(&format!("vigil: allowed: {}", facts.text))
        .map_err(|_| std::io::Error::other("the recording could not be written"))?;
    Ok(recording)
}

/// Opens the API server's WebSocket for an allowed exec.
pub async fn open(
    target: &crate::target::HttpTarget,
    target_path: &str,
    protocols: &[&str],
) -> Result<(Upstream, String), dial::DialError> {
    dial::websocket(target, target_path, protocols).await
}

/// Accepts the caller's WebSocket and relays until either side closes;
/// then records the outcome and closes the session.
pub fn accept(
    guard: Arc<Guard>,
    session: SessionCtx,
    started: Started,
    shutdown: watch::Receiver<bool>,
) -> Response {
    let Started {
        upgrade,
        upstream,
        protocol,
        recording,
        seq,
    } = started;
    let begun = Instant::now();
    upgrade
        .protocols([protocol])
        .max_message_size(dial::MAX_MESSAGE)
        .on_failed_upgrade(|_| tracing::info!("k8s proxy: the caller's WebSocket upgrade failed"))
        .on_upgrade(move |socket| async move {
            let ended = relay(socket, upstream, &recording, shutdown).await;
            let mut tag = ended.tag();
            match recording.finish() {
                Some(d) => tag.push_str(&format!(
                    "; recording {} sha256 {} raw_sha256 {}",
                    d.path.display(),
                    d.file_sha256,
                    d.raw_sha256
                )),
                None => tag.push_str("; no recording"),
            }
            guard
                .statement_done(
                    &session,
                    StatementOutcome {
                        statement_seq: seq,
                        duration_us: begun.elapsed().as_micros() as u64,
                        tag: Some(tag),
                        error_code: ended.error.map(str::to_string),
                        masking: None,
                    },
                )
                .await;
            guard.close_session(&session).await;
        })
}

/// How a relayed stream ended.
#[derive(Default)]
struct Ended {
    exit: Option<String>,
    error: Option<&'static str>,
}

impl Ended {
    fn tag(&self) -> String {
        match &self.exit {
            Some(code) => format!("exit {code}"),
            None => "closed".to_string(),
        }
    }
}

async fn relay(
    mut client: WebSocket,
    mut upstream: Upstream,
    recording: &Recording,
    mut shutdown: watch::Receiver<bool>,
) -> Ended {
    let mut ended = Ended::default();
    loop {
        tokio::select! {
            from_client = client.recv() => {
                let Some(Ok(message)) = from_client else {
                    ended.error.get_or_insert("client_gone");
                    let _ = upstream.close(None).await;
                    break;
                };
                let up = match message {
                    ws::Message::Binary(data) => {
                        if data.first() == Some(&RESIZE)
                            && let Some((cols, rows)) = resize(&data[1..])
                            && recording.resize(cols, rows).is_err()
                        {
                            ended.error = Some("recording");
                            break;
                        }
                        UpMessage::Binary(data)
                    }
                    ws::Message::Ping(p) => UpMessage::Ping(p),
                    ws::Message::Pong(p) => UpMessage::Pong(p),
                    ws::Message::Close(frame) => {
                        let frame = frame.map(|f| UpCloseFrame {
                            code: CloseCode::from(f.code),
                            reason: f.reason.as_str().into(),
                        });
                        let _ = upstream.close(frame).await;
                        break;
                    }
                    // The channel protocols are binary; text is not theirs.
                    ws::Message::Text(_) => {
                        ended.error = Some("protocol");
                        let _ = upstream.close(None).await;
                        break;
                    }
                };
                if upstream.send(up).await.is_err() {
                    ended.error.get_or_insert("upstream_broke");
                    break;
                }
            }
            from_upstream = upstream.next() => {
                let Some(Ok(message)) = from_upstream else {
                    if ended.exit.is_none() {
                        ended.error.get_or_insert("upstream_broke");
                    }
                    let _ = client.send(normal_close()).await;
                    break;
                };
                let down = match message {
                    UpMessage::Binary(data) => {
                        match data.first() {
                            Some(&STDOUT) | Some(&STDERR) => {
                                if recording.output(&data[1..]).is_err() {
                                    ended.error = Some("recording");
                                    let _ = upstream.close(None).await;
                                    break;
                                }
                            }
                            Some(&ERROR) => ended.exit = Some(exit_code(&data[1..])),
                            Some(&STDIN) | Some(_) | None => {}
                        }
                        ws::Message::Binary(data)
                    }
                    UpMessage::Ping(p) => ws::Message::Ping(p),
                    UpMessage::Pong(p) => ws::Message::Pong(p),
                    UpMessage::Close(frame) => {
                        let frame = frame.map(|f| ws::CloseFrame {
                            code: u16::from(f.code),
                            reason: f.reason.as_str().into(),
                        });
                        let _ = client.send(ws::Message::Close(frame)).await;
                        break;
                    }
                    UpMessage::Text(_) | UpMessage::Frame(_) => {
                        ended.error = Some("protocol");
                        let _ = client.send(normal_close()).await;
                        break;
                    }
                };
                if client.send(down).await.is_err() {
                    ended.error.get_or_insert("client_gone");
                    let _ = upstream.close(None).await;
                    break;
                }
            }
            _ = shutdown.changed() => {
                ended.error = Some("shutdown");
                let _ = upstream.close(None).await;
                let _ = client.send(normal_close()).await;
                break;
            }
        }
    }
    ended
}

/// A close with code 1000: kubectl reports a close without a code as a
/// broken error stream.
fn normal_close() -> ws::Message {
    ws::Message::Close(Some(ws::CloseFrame {
        code: 1000,
        reason: "".into(),
    }))
}

/// A resize message: `{"Width": cols, "Height": rows}`.
fn resize(json: &[u8]) -> Option<(u32, u32)> {
    let v: serde_json::Value = serde_json::from_slice(json).ok()?;
    let cols = u32::try_from(v.get("Width")?.as_u64()?).ok()?;
    let rows = u32::try_from(v.get("Height")?.as_u64()?).ok()?;
    Some((cols, rows))
}

/// The exit code a final `Status` reports: `0` for success, the
/// `ExitCode` cause of a non-zero exit, else `error`.
fn exit_code(json: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(json) else {
        return "error".to_string();
    };
    if v.get("status").and_then(|s| s.as_str()) == Some("Success") {
        return "0".to_string();
    }
    v.pointer("/details/causes")
        .and_then(|c| c.as_array())
        .and_then(|causes| {
            causes
                .iter()
                .find(|c| c.get("reason").and_then(|r| r.as_str()) == Some("ExitCode"))
        })
        .and_then(|c| c.get("message").and_then(|m| m.as_str()))
        .filter(|m| m.len() <= 10 && m.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .unwrap_or_else(|| "error".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn only_the_channel_protocols_vigil_reads_are_offered() {
        let mut h = HeaderMap::new();
        h.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static(
                "v4.channel.k8s.io, v5.channel.k8s.io, base64.channel.k8s.io, channel.k8s.io",
            ),
        );
        assert_eq!(offered(&h), PROTOCOLS);
        h.insert(
            "sec-websocket-protocol",
            HeaderValue::from_static("channel.k8s.io"),
        );
        assert!(offered(&h).is_empty());
    }

    #[test]
    fn exit_codes_come_from_the_final_status() {
        assert_eq!(exit_code(br#"{"metadata":{},"status":"Success"}"#), "0");
        assert_eq!(
            exit_code(br#"{"status":"Failure","reason":"NonZeroExitCode","details":{"causes":[{"reason":"ExitCode","message":"42"}]}}"#),
            "42"
        );
        assert_eq!(exit_code(br#"{"status":"Failure","details":{"causes":[{"reason":"ExitCode","message":"1; rm"}]}}"#), "error");
        assert_eq!(exit_code(b"not json"), "error");
        assert_eq!(resize(br#"{"Width":120,"Height":40}"#), Some((120, 40)));
        assert_eq!(resize(br#"{"Width":-1,"Height":40}"#), None);
    }
}
