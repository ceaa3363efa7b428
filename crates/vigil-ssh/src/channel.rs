//! One session channel after its exec, shell or subsystem request: the
//! decision (and the hold, when a rule reviews it), the upstream channel
//! opened only with the guard's permit, the relay, and the outcome in the
//! ledger.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use russh::{Channel, ChannelMsg, Pty, server};
use russh::{ChannelReadHalf, ChannelWriteHalf};
use vigil_core::StatementOutcome;
use vigil_guard::{Binding, Decision, Permit, Refusal, Withdrawal};

use crate::server::LoggedIn;
use crate::{MAX_HELD_STDIN, facts, relay};

/// The request that starts the channel's program.
pub enum Start {
    Exec(Vec<u8>),
    Shell,
    Subsystem(String),
}

/// A terminal the client asked for and policy allowed.
#[derive(Clone, Debug)]
pub struct PtyRequest {
    pub term: String,
    pub cols: u32,
    pub rows: u32,
    pub pix_width: u32,
    pub pix_height: u32,
    pub modes: Vec<(Pty, u32)>,
}

/// What the handler gathered for a channel before its start request.
pub struct Setup {
    pub pty: Option<PtyRequest>,
    pub env: Vec<(String, String)>,
}

/// Exit status of a command Vigil refused after accepting its request.
const REFUSED_EXIT: u32 = 126;
/// Exit status when the target could not be reached or refused the request.
const UPSTREAM_EXIT: u32 = 255;

/// Runs the channel to its end. `replied` says whether the start request
/// was already answered (exec and shell are accepted at once; a refusal
/// is then exit status 126 with the reason on stderr); a subsystem is
/// answered here, after its decision.
pub async fn run(
    login: Arc<LoggedIn>,
    channel: Channel<server::Msg>,
    setup: Setup,
    start: Start,
    handle: server::Handle,
) {
    let id = channel.id();
    let (mut read, write) = channel.split();
    let (action, binding_bytes, replied) = match &start {
        Start::Exec(cmd) => (facts::exec(cmd), cmd.clone(), true),
        Start::Shell => (facts::shell(), Vec::new(), true),
        Start::Subsystem(name) => (facts::subsystem(name), name.as_bytes().to_vec(), false),
    };
    let actions = [action];
    let guard = &login.guard;
    let session = &login.session;
    let decided = guard
        .decide(session, &actions, Binding::new(&binding_bytes))
        .await;
    let mut stdin = Vec::new();
    let mut client_eof = false;
    let decision = match decided {
        Ok(Decision::Held(hold)) => {
            let _ = write
                .extended_data_bytes(1, Bytes::from(format!("{}\n", hold.notice())))
                .await;
            let withdrawn = hold_stdin(&mut read, &mut stdin, &mut client_eof);
            guard.await_approval(session, hold, withdrawn).await
        }
        other => other,
    };
    let permit = match decision {
        Ok(Decision::Allowed(permit)) => permit,
        Ok(Decision::Refused(refusal)) => {
            return refuse(&write, &handle, id, replied, &refusal.message()).await;
        }
        Ok(Decision::Held(_)) => {
            let r = Refusal::policy("review", "the request could not be held");
            return refuse(&write, &handle, id, replied, &r.message()).await;
        }
        Err(e) => {
            tracing::error!(session = %session.id, error = %e, "ssh: decision failed");
            return refuse(
                &write,
                &handle,
                id,
                replied,
                "vigil: the request could not be decided (the ledger is unavailable)",
            )
            .await;
        }
    };
    let started = Instant::now();
    let upstream = match open_upstream(&login, &permit, &setup, &start).await {
        Ok(ch) => ch,
        Err(reason) => {
            tracing::warn!(session = %session.id, connection = %login.target.name, %reason, "ssh: upstream");
            let message = format!("vigil: {reason}");
            if replied {
                let _ = write
                    .extended_data_bytes(1, Bytes::from(format!("{message}\n")))
                    .await;
                let _ = write.exit_status(UPSTREAM_EXIT).await;
                let _ = write.eof().await;
                let _ = write.close().await;
            } else {
                let _ = handle.channel_failure(id).await;
                let _ = write.close().await;
            }
            outcome(&login, &permit, started, None, Some("upstream".into())).await;
            return;
        }
    };
    if !replied {
        let _ = handle.channel_success(id).await;
    }
    let ended = relay::run(read, &write, upstream, stdin, client_eof).await;
    let _ = write.eof().await;
    let _ = write.close().await;
    let tag = match (&ended.exit_status, &ended.exit_signal) {
        (Some(code), _) => Some(format!("exit {code}")),
        (None, Some(sig)) => Some(format!("signal {sig}")),
        (None, None) => None,
    };
    outcome(&login, &permit, started, tag, None).await;
}

/// Reads the client while a command is held: stdin is kept (up to
/// [`MAX_HELD_STDIN`]), a close withdraws the request.
async fn hold_stdin(read: &mut ChannelReadHalf, stdin: &mut Vec<u8>, eof: &mut bool) -> Withdrawal {
    loop {
        match read.wait().await {
            Some(ChannelMsg::Data { data }) => {
                if stdin.len() + data.len() > MAX_HELD_STDIN {
                    return Withdrawal::Cancelled;
                }
                stdin.extend_from_slice(&data);
            }
            Some(ChannelMsg::Eof) => *eof = true,
            Some(ChannelMsg::Close) | None => return Withdrawal::ClientGone,
            Some(_) => {}
        }
    }
}

/// Answers a refused request: a failed request when not yet answered, else
/// the reason on stderr and exit status 126.
async fn refuse(
    write: &ChannelWriteHalf<server::Msg>,
    handle: &server::Handle,
    id: russh::ChannelId,
    replied: bool,
    message: &str,
) {
    if replied {
        let _ = write
            .extended_data_bytes(1, Bytes::from(format!("{message}\n")))
            .await;
        let _ = write.exit_status(REFUSED_EXIT).await;
        let _ = write.eof().await;
    } else {
        let _ = handle.channel_failure(id).await;
    }
    let _ = write.close().await;
}

/// Opens the target's channel and repeats the allowed setup and the start
/// request on it. Needs the permit: nothing reaches the target without one.
async fn open_upstream(
    login: &LoggedIn,
    permit: &Permit,
    setup: &Setup,
    start: &Start,
) -> Result<Channel<russh::client::Msg>, String> {
    let upstream = login.upstream(permit).await?;
    let mut ch = upstream
        .handle
        .channel_open_session()
        .await
        .map_err(|e| format!("the target refused a session channel: {e}"))?;
    let sent = async {
        if let Some(p) = &setup.pty {
            ch.request_pty(
                false,
                &p.term,
                p.cols,
                p.rows,
                p.pix_width,
                p.pix_height,
                &p.modes,
            )
            .await?;
        }
        for (name, value) in &setup.env {
            ch.set_env(false, name.as_str(), value.as_str()).await?;
        }
        match start {
            Start::Exec(cmd) => ch.exec(true, cmd.clone()).await,
            Start::Shell => ch.request_shell(true).await,
            Start::Subsystem(name) => ch.request_subsystem(true, name.as_str()).await,
        }
    };
    sent.await
        .map_err(|e| format!("the target's channel failed: {e}"))?;
    loop {
        match ch.wait().await {
            Some(ChannelMsg::Success) => return Ok(ch),
            Some(ChannelMsg::Failure) => return Err("the target refused the request".into()),
            Some(ChannelMsg::Close) | None => return Err("the target closed the channel".into()),
            Some(_) => {}
        }
    }
}

async fn outcome(
    login: &LoggedIn,
    permit: &Permit,
    started: Instant,
    tag: Option<String>,
    error_code: Option<String>,
) {
    let Some(&seq) = permit.seqs.first() else {
        return;
    };
    login
        .guard
        .statement_done(
            &login.session,
            StatementOutcome {
                statement_seq: seq,
                duration_us: started.elapsed().as_micros() as u64,
                tag,
                error_code,
                masking: None,
            },
        )
        .await;
}
