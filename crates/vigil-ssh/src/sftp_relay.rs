//! The relay of an `sftp` subsystem channel: the client's stream is cut
//! into SFTP packets, each request that names a path is decided (and, in
//! `read-only` mode, every request that would change something is refused
//! before policy), and a refused request is answered by Vigil with
//! `SSH_FXP_STATUS` (permission denied) instead of reaching the target.
//! Requests on an open handle (read, readdir, close, fstat) follow the
//! decision that opened it. Vigil's answers go to the client between
//! whole packets of the target's stream.

use std::sync::Arc;

use bytes::Bytes;
use russh::{Channel, ChannelMsg, ChannelReadHalf, ChannelWriteHalf, client, server};
use tokio::sync::mpsc;
use vigil_guard::{Binding, Decision, RefusalClass, Unpolicied, Withdrawal};

use crate::facts;
use crate::relay::Ended;
use crate::server::LoggedIn;
use crate::sftp::{FX_PERMISSION_DENIED, Framer, Op, parse_request, status_packet};
use crate::upstream::SftpMode;
use vigil_record::Recording;

/// Answers Vigil has queued for the client at most.
const MAX_QUEUED_ANSWERS: usize = 64;

pub async fn run(
    login: Arc<LoggedIn>,
    client_read: ChannelReadHalf,
    client_write: &ChannelWriteHalf<server::Msg>,
    upstream: Channel<client::Msg>,
    recording: Option<Arc<Recording>>,
) -> Ended {
    let (up_read, up_write) = upstream.split();
    let (answers, answers_rx) = mpsc::channel(MAX_QUEUED_ANSWERS);
    let to_target = tokio::spawn(client_to_target(
        login,
        client_read,
        up_write,
        answers,
        recording,
    ));
    let ended = target_to_client(up_read, client_write, answers_rx).await;
    to_target.abort();
    ended
}

async fn client_to_target(
    login: Arc<LoggedIn>,
    mut client: ChannelReadHalf,
    target: ChannelWriteHalf<client::Msg>,
    answers: mpsc::Sender<Vec<u8>>,
    recording: Option<Arc<Recording>>,
) {
    let mut framer = Framer::default();
    'read: while let Some(msg) = client.wait().await {
        match msg {
            ChannelMsg::Data { data } => framer.push(&data),
            ChannelMsg::Eof => {
                let _ = target.eof().await;
                continue;
            }
            ChannelMsg::Close => break,
            _ => continue,
        }
        loop {
            let packet = match framer.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(session = %login.session.id, error = %e, "ssh: sftp stream refused");
                    break 'read;
                }
            };
            let Ok(request) = parse_request(&packet) else {
                tracing::warn!(session = %login.session.id, "ssh: malformed sftp request");
                break 'read;
            };
            let verdict = decide(&login, request.op, &request.path).await;
            if let Some(r) = &recording {
                let shown = if verdict.is_ok() {
                    "allowed"
                } else {
                    "refused"
                };
                if request.op != Op::Read
                    && r.marker(&format!(
                        "sftp {} {}: {shown}",
                        request.op.as_str(),
                        request.path
                    ))
                    .is_err()
                {
                    break 'read;
                }
            }
            match (verdict, request.id) {
                (Ok(()), _) => {
                    if target.data_bytes(Bytes::from(packet)).await.is_err() {
                        break 'read;
                    }
                }
                (Err(message), Some(id)) => {
                    if answers
                        .send(status_packet(id, FX_PERMISSION_DENIED, &message))
                        .await
                        .is_err()
                    {
                        break 'read;
                    }
                }
                // A refused INIT: nothing can follow.
                (Err(_), None) => break 'read,
            }
        }
    }
    let _ = target.close().await;
}

/// Whether one request may reach the target; `Err` carries the message
/// the client gets.
async fn decide(login: &LoggedIn, op: Op, path: &str) -> Result<(), String> {
    let read_only = login.target.sftp == SftpMode::ReadOnly;
    if op.on_handle() {
        return Ok(());
    }
    let text = format!("sftp {} {path}", op.as_str());
    if read_only && !op.reads() {
        let refused = login
            .guard
            .refuse(
                &login.session,
                Unpolicied::step(
                    RefusalClass::Policy,
                    &text,
                    "subsystem",
                    "SFTP is read-only on this connection",
                ),
            )
            .await;
        return Err(match refused {
            Ok(r) => r.message(),
            Err(_) => "vigil: refused (the ledger is unavailable)".into(),
        });
    }
    let action = facts::sftp(op.as_str(), path);
    match login
        .guard
        .decide(&login.session, &[action], Binding::new(text.as_bytes()))
        .await
    {
        Ok(Decision::Allowed(_)) => Ok(()),
        Ok(Decision::Refused(r)) => Err(r.message()),
        Ok(Decision::Held(hold)) => {
            // An SFTP client cannot wait on a reviewer mid-stream.
            let id = hold.approval.id.clone();
            let _ = login
                .guard
                .await_approval(&login.session, hold, async { Withdrawal::Cancelled })
                .await;
            Err(format!(
                "vigil: this operation needs approval {id}; retry once approved"
            ))
        }
        Err(_) => Err("vigil: refused (the ledger is unavailable)".into()),
    }
}

async fn target_to_client(
    mut target: ChannelReadHalf,
    client: &ChannelWriteHalf<server::Msg>,
    mut answers: mpsc::Receiver<Vec<u8>>,
) -> Ended {
    let mut ended = Ended::default();
    let mut framer = Framer::default();
    let mut answers_open = true;
    loop {
        tokio::select! {
            answer = answers.recv(), if answers_open => match answer {
                Some(packet) => {
                    if client.data_bytes(Bytes::from(packet)).await.is_err() {
                        break;
                    }
                }
                None => answers_open = false,
            },
            msg = target.wait() => {
                let Some(msg) = msg else { break };
                match msg {
                    ChannelMsg::Data { data } => {
                        framer.push(&data);
                        let mut failed = false;
                        loop {
                            match framer.next_packet() {
                                Ok(Some(p)) => {
                                    if client.data_bytes(Bytes::from(p)).await.is_err() {
                                        failed = true;
                                        break;
                                    }
                                }
                                Ok(None) => break,
                                Err(_) => {
                                    failed = true;
                                    break;
                                }
                            }
                        }
                        if failed {
                            break;
                        }
                    }
                    ChannelMsg::ExtendedData { data, ext } => {
                        let _ = client.extended_data_bytes(ext, data).await;
                    }
                    ChannelMsg::ExitStatus { exit_status } => {
                        ended.exit_status = Some(exit_status);
                        let _ = client.exit_status(exit_status).await;
                    }
                    ChannelMsg::Eof => {
                        let _ = client.eof().await;
                    }
                    ChannelMsg::Close => break,
                    _ => {}
                }
            }
        }
    }
    ended
}
