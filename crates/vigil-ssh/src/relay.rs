//! The two directions of an open channel, each written through russh's
//! window-aware writer: a write waits until the receiving side's SSH
//! window has room, so a fast producer is held back by the slow consumer
//! instead of growing a queue. Each direction's only buffer is russh's
//! bounded per-channel queue (`channel_buffer_size` messages).

use std::sync::Arc;

use bytes::Bytes;
use russh::{Channel, ChannelMsg, client, server};

use crate::mask::{IDLE_FLUSH, OutputMask};
use russh::{ChannelReadHalf, ChannelWriteHalf};
use vigil_record::Recording;

/// How an upstream channel ended.
#[derive(Debug, Default)]
pub struct Ended {
    pub exit_status: Option<u32>,
    pub exit_signal: Option<String>,
    /// A required recording failed: the relay stopped.
    pub recording_failed: bool,
    /// Values the output masks replaced.
    pub masked: u32,
}

/// What a relay does besides carrying bytes; the default carries bytes only
/// (a forwarded port or agent connection).
#[derive(Default)]
pub struct Options {
    /// Client stdin held back during a review, sent first.
    pub stdin: Vec<u8>,
    /// The client already sent EOF (during the review).
    pub client_eof: bool,
    pub recording: Option<Arc<Recording>>,
    pub masker: Option<Arc<vigil_mask::Masker>>,
    /// Where the target's exit-signal is passed on (the client connection's
    /// handle: a channel's write half cannot send one in russh).
    pub exit_signal_to: Option<server::Handle>,
}

/// Relays `client` and `upstream` until the target closes its side (or
/// either side goes away). `stdin` (held back during a review) is sent
/// first, then EOF if the client already sent it.
pub async fn run(
    client_read: ChannelReadHalf,
    client_write: &ChannelWriteHalf<server::Msg>,
    upstream: Channel<client::Msg>,
    options: Options,
) -> Ended {
    let Options {
        stdin,
        client_eof,
        recording,
        masker,
        exit_signal_to,
    } = options;
    let (up_read, up_write) = upstream.split();
    if !stdin.is_empty() {
        // Held input is client input like any other: recorded before it is sent.
        if let Some(r) = &recording
            && r.input(&stdin).is_err()
        {
            return Ended {
                recording_failed: true,
                ..Ended::default()
            };
        }
        if up_write.data_bytes(Bytes::from(stdin)).await.is_err() {
            return Ended::default();
        }
    }
    if client_eof {
        let _ = up_write.eof().await;
    }
    let to_target = tokio::spawn(client_to_target(
        client_read,
        up_write,
        client_eof,
        recording.clone(),
    ));
    let masks = masker.map(|m| Masks {
        out: OutputMask::new(m.clone()),
        err: OutputMask::new(m),
    });
    let to = ClientEnd {
        write: client_write,
        signals: exit_signal_to.as_ref(),
    };
    let mut ended = target_to_client(up_read, to, recording.as_deref(), masks).await;
    to_target.abort();
    // A required recording that failed on the input side ends the channel too.
    if recording.as_deref().is_some_and(Recording::failed) {
        ended.recording_failed = true;
    }
    ended
}

/// The client's side of the channel as the target-to-client direction writes it.
struct ClientEnd<'a> {
    write: &'a ChannelWriteHalf<server::Msg>,
    signals: Option<&'a server::Handle>,
}

async fn client_to_target(
    mut client: ChannelReadHalf,
    target: ChannelWriteHalf<client::Msg>,
    mut eof_sent: bool,
    recording: Option<Arc<Recording>>,
) {
    while let Some(msg) = client.wait().await {
        let sent = match msg {
            ChannelMsg::Data { data } if !eof_sent => {
                // Recorded before it reaches the target (when the connection
                // records input); a required recording that fails stops the input.
                if let Some(r) = &recording
                    && r.input(&data).is_err()
                {
                    break;
                }
                target.data_bytes(data).await
            }
            ChannelMsg::Eof if !eof_sent => {
                eof_sent = true;
                target.eof().await
            }
            ChannelMsg::Close => break,
            ChannelMsg::WindowChange {
                col_width,
                row_height,
                pix_width,
                pix_height,
            } => {
                if let Some(r) = &recording {
                    // A failure here also fails the next output write.
                    let _ = r.resize(col_width, row_height);
                }
                target
                    .window_change(col_width, row_height, pix_width, pix_height)
                    .await
            }
            ChannelMsg::Signal { signal } => target.signal(signal).await,
            _ => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
    let _ = target.close().await;
}

/// The output masks of stdout and stderr (separate streams, separate carries).
struct Masks {
    out: OutputMask,
    err: OutputMask,
}

impl Masks {
    fn holding(&self) -> bool {
        self.out.holding() || self.err.holding()
    }
}

async fn target_to_client(
    mut target: ChannelReadHalf,
    to: ClientEnd<'_>,
    recording: Option<&Recording>,
    mut masks: Option<Masks>,
) -> Ended {
    let client = to.write;
    let mut ended = Ended::default();
    loop {
        let next = match &masks {
            Some(m) if m.holding() => match tokio::time::timeout(IDLE_FLUSH, target.wait()).await {
                Ok(msg) => msg,
                Err(_) => {
                    // The target paused: release what is held.
                    if flush(&mut masks, client, recording, &mut ended)
                        .await
                        .is_err()
                    {
                        break;
                    }
                    continue;
                }
            },
            _ => target.wait().await,
        };
        let Some(msg) = next else { break };
        let sent = match msg {
            ChannelMsg::Data { data } => {
                let data = match &mut masks {
                    Some(m) => Bytes::from(m.out.push(&data)),
                    None => data,
                };
                send(client, recording, &mut ended, None, data).await
            }
            ChannelMsg::ExtendedData { data, ext } => {
                let data = match &mut masks {
                    Some(m) => Bytes::from(m.err.push(&data)),
                    None => data,
                };
                send(client, recording, &mut ended, Some(ext), data).await
            }
            ChannelMsg::ExitStatus { exit_status } => {
                ended.exit_status = Some(exit_status);
                match flush(&mut masks, client, recording, &mut ended).await {
                    Ok(()) => client.exit_status(exit_status).await.map_err(|_| ()),
                    Err(()) => Err(()),
                }
            }
            ChannelMsg::ExitSignal {
                signal_name,
                core_dumped,
                error_message,
                lang_tag,
            } => {
                ended.exit_signal = Some(signal_text(&signal_name, core_dumped));
                match (
                    flush(&mut masks, client, recording, &mut ended).await,
                    to.signals,
                ) {
                    (Err(()), _) => Err(()),
                    (Ok(()), None) => Ok(()),
                    // Passed on, so the client reports the signal as it would
                    // without Vigil (OpenSSH's `ssh` exits 255). The target's free
                    // text message is dropped: it is output that bypasses masking
                    // and the recording.
                    (Ok(()), Some(handle)) => {
                        let _ = (error_message, lang_tag);
                        handle
                            .exit_signal_request(
                                client.id(),
                                signal_name,
                                core_dumped,
                                String::new(),
                                String::new(),
                            )
                            .await
                    }
                }
            }
            ChannelMsg::Eof => match flush(&mut masks, client, recording, &mut ended).await {
                Ok(()) => client.eof().await.map_err(|_| ()),
                Err(()) => Err(()),
            },
            ChannelMsg::Close => break,
            _ => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
    let _ = flush(&mut masks, client, recording, &mut ended).await;
    if let Some(m) = &masks {
        ended.masked = m.out.hits.total() + m.err.hits.total();
    }
    ended
}

/// Sends (and records) one chunk of output; `Err` ends the relay.
async fn send(
    client: &ChannelWriteHalf<server::Msg>,
    recording: Option<&Recording>,
    ended: &mut Ended,
    ext: Option<u32>,
    data: Bytes,
) -> Result<(), ()> {
    if data.is_empty() {
        return Ok(());
    }
    if let Some(r) = recording
        && r.output(&data).is_err()
    {
        ended.recording_failed = true;
        return Err(());
    }
    let sent = match ext {
        None => client.data_bytes(data).await,
        Some(ext) => client.extended_data_bytes(ext, data).await,
    };
    sent.map_err(|_| ())
}

/// Sends what the masks hold.
async fn flush(
    masks: &mut Option<Masks>,
    client: &ChannelWriteHalf<server::Msg>,
    recording: Option<&Recording>,
    ended: &mut Ended,
) -> Result<(), ()> {
    let Some(m) = masks else { return Ok(()) };
    let out = Bytes::from(m.out.flush());
    let err = Bytes::from(m.err.flush());
    send(client, recording, ended, None, out).await?;
    send(client, recording, ended, Some(1), err).await
}

/// A signal as the ledger shows it: `KILL`, `SEGV (core dumped)`.
fn signal_text(signal: &russh::Sig, core_dumped: bool) -> String {
    let name = match signal {
        // The target names it: kept short in the ledger.
        russh::Sig::Custom(name) => name.chars().take(32).collect(),
        other => format!("{other:?}"),
    };
    if core_dumped {
        format!("{name} (core dumped)")
    } else {
        name
    }
}
