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
use vigil_record::{Header, Recorder, Recording};

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

/// X11 forwarding the client asked for and policy allowed. The cookie is
/// the client's fake one (OpenSSH swaps in the real one on its side), passed
/// to the target as is; never logged.
#[derive(Clone)]
pub struct X11Request {
    pub single_connection: bool,
    pub auth_protocol: String,
    pub auth_cookie: vigil_core::Secret<String>,
    pub screen: u32,
}

/// What the handler gathered for a channel before its start request.
#[derive(Default)]
pub struct Setup {
    pub pty: Option<PtyRequest>,
    pub env: Vec<(String, String)>,
    /// Agent forwarding was asked for and allowed.
    pub agent: bool,
    pub x11: Option<X11Request>,
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
    let sftp_denied = matches!(&start, Start::Subsystem(n) if n == "sftp")
        && login.target.sftp == crate::SftpMode::Deny;
    let decided = if sftp_denied {
        let what = vigil_guard::Unpolicied::step(
            vigil_guard::RefusalClass::Policy,
            "subsystem sftp",
            "subsystem",
            "SFTP is not allowed on this connection",
        );
        guard.refuse(session, what).await.map(Decision::Refused)
    } else {
        guard
            .decide(session, &actions, Binding::new(&binding_bytes))
            .await
    };
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
    let recording = match start_recording(&login, id, &setup, &actions[0]) {
        Ok(r) => r,
        Err(reason) => {
            let message = format!("vigil: {reason}");
            let r = Refusal::policy("recording", message.clone());
            refuse(&write, &handle, id, replied, &r.message()).await;
            let _ = handle
                .disconnect(russh::Disconnect::ByApplication, message, "en".into())
                .await;
            outcome(&login, &permit, started, None, Some("recording".into())).await;
            return;
        }
    };
    let upstream = match open_upstream(&login, &permit, &setup, &start, &handle).await {
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
    let ended = match &start {
        Start::Subsystem(name) if name == "sftp" => {
            crate::sftp_relay::run(login.clone(), read, &write, upstream, recording.clone()).await
        }
        _ => {
            let options = relay::Options {
                stdin,
                client_eof,
                recording: recording.clone(),
                masker: login.session.mask.content().cloned(),
                exit_signal_to: Some(handle.clone()),
            };
            relay::run(read, &write, upstream, options).await
        }
    };
    let _ = write.eof().await;
    let _ = write.close().await;
    let mut tag = match (&ended.exit_status, &ended.exit_signal) {
        (Some(code), _) => format!("exit {code}"),
        (None, Some(sig)) => format!("signal {sig}"),
        (None, None) => "closed".to_string(),
    };
    // The channel-close event carries the recording's digests.
    match recording.as_deref().and_then(|r| r.finish()) {
        Some(d) => {
            tag.push_str(&format!(
                "; recording {} sha256 {} raw_sha256 {}",
                d.path.display(),
                d.file_sha256,
                d.raw_sha256
            ));
            if let Some(input) = &d.input_sha256 {
                tag.push_str(&format!(" input_sha256 {input}"));
            }
        }
        None => tag.push_str("; no recording"),
    }
    if ended.masked > 0 {
        tag.push_str(&format!("; masked {} values", ended.masked));
    }
    let error = ended.recording_failed.then(|| "recording".to_string());
    outcome(&login, &permit, started, Some(tag), error).await;
    if ended.recording_failed {
        let _ = handle
            .disconnect(
                russh::Disconnect::ByApplication,
                "vigil: the recording could not be written and recording is required".into(),
                "en".into(),
            )
            .await;
    }
}

/// Starts the channel's recording. `Err` when it cannot be written and
/// the connection requires it (nothing has reached the target yet);
/// `Ok(None)` when it cannot be written and is best-effort.
fn start_recording(
    login: &LoggedIn,
    id: russh::ChannelId,
    setup: &Setup,
    action: &vigil_core::ActionKind,
) -> Result<Option<Arc<Recording>>, String> {
    let text = match action {
        vigil_core::ActionKind::Ssh(f) => f.text.as_str(),
        _ => "",
    };
    let title = format!("{} {}", login.target.name, text);
    let header = Header {
        cols: setup.pty.as_ref().map_or(80, |p| p.cols),
        rows: setup.pty.as_ref().map_or(24, |p| p.rows),
        term: setup.pty.as_ref().map(|p| p.term.as_str()),
        title: &title,
        // Input is recorded on shell and exec channels, not inside SFTP.
        input: login.target.record_input
            && !matches!(
                action_request(action),
                Some(vigil_core::SshRequest::Subsystem)
            ),
    };
    let channel = u32::from(id);
    match Recorder::create(&login.recordings, &login.session.id, channel, &header) {
        Ok(r) => {
            let recording = Recording::new(r, login.target.recording_required);
            if recording
                .marker(&format!("vigil: allowed: {text}"))
                .is_err()
            {
                return Err("the channel's recording could not be written".into());
            }
            Ok(Some(Arc::new(recording)))
        }
        Err(e) if login.target.recording_required => {
            tracing::error!(session = %login.session.id, error = %e, "ssh: cannot record a channel");
            Err("the channel cannot be recorded and this connection requires recordings".into())
        }
        Err(e) => {
            tracing::warn!(session = %login.session.id, error = %e, "ssh: channel not recorded (best-effort)");
            Ok(None)
        }
    }
}

fn action_request(action: &vigil_core::ActionKind) -> Option<vigil_core::SshRequest> {
    match action {
        vigil_core::ActionKind::Ssh(f) => Some(f.request),
        _ => None,
    }
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
    login: &Arc<LoggedIn>,
    permit: &Permit,
    setup: &Setup,
    start: &Start,
    client: &server::Handle,
) -> Result<Channel<russh::client::Msg>, String> {
    let upstream = login.upstream(permit, client).await?;
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
        // Both must reach the target before the program starts: it reads
        // SSH_AUTH_SOCK and DISPLAY from the environment the server sets up
        // for it. The channels the target then opens back are expected from
        // here on (`inbound.rs`).
        if setup.agent {
            login.inbound.expect_agent();
            ch.agent_forward(false).await?;
        }
        if let Some(x) = &setup.x11 {
            login.inbound.expect_x11();
            ch.request_x11(
                false,
                x.single_connection,
                x.auth_protocol.as_str(),
                x.auth_cookie.expose().as_str(),
                x.screen,
            )
            .await?;
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

pub async fn outcome(
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

/// A forwarding channel the guard allowed (a `direct-tcpip` to the target's
/// own `direct-tcpip` channel, where the target dials; or a channel the
/// target opened back: `forwarded-tcpip`, agent, X11): relayed both ways,
/// not recorded (it carries another protocol's bytes), its end in the
/// ledger.
pub async fn forward(
    login: Arc<LoggedIn>,
    client: Channel<server::Msg>,
    upstream: Channel<russh::client::Msg>,
    permit: Permit,
) {
    let started = Instant::now();
    let (read, write) = client.split();
    let _ = relay::run(read, &write, upstream, relay::Options::default()).await;
    let _ = write.eof().await;
    let _ = write.close().await;
    outcome(&login, &permit, started, Some("closed".into()), None).await;
}
