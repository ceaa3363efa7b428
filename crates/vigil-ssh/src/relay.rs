//! The two directions of an open channel, each written through russh's
//! window-aware writer: a write waits until the receiving side's SSH
//! window has room, so a fast producer is held back by the slow consumer
//! instead of growing a queue. Each direction's only buffer is russh's
//! bounded per-channel queue (`channel_buffer_size` messages).

use std::sync::Arc;

use bytes::Bytes;
use russh::{Channel, ChannelMsg, client, server};

use crate::record::Recording;
use russh::{ChannelReadHalf, ChannelWriteHalf};

/// How an upstream channel ended.
#[derive(Debug, Default)]
pub struct Ended {
    pub exit_status: Option<u32>,
    pub exit_signal: Option<String>,
    /// A required recording failed: the relay stopped.
    pub recording_failed: bool,
}

/// Relays `client` and `upstream` until the target closes its side (or
/// either side goes away). `stdin` (held back during a review) is sent
/// first, then EOF if the client already sent it.
pub async fn run(
    client_read: ChannelReadHalf,
    client_write: &ChannelWriteHalf<server::Msg>,
    upstream: Channel<client::Msg>,
    stdin: Vec<u8>,
    client_eof: bool,
    recording: Option<Arc<Recording>>,
) -> Ended {
    let (up_read, up_write) = upstream.split();
    if !stdin.is_empty() && up_write.data_bytes(Bytes::from(stdin)).await.is_err() {
        return Ended::default();
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
    let ended = target_to_client(up_read, client_write, recording.as_deref()).await;
    to_target.abort();
    ended
}

async fn client_to_target(
    mut client: ChannelReadHalf,
    target: ChannelWriteHalf<client::Msg>,
    mut eof_sent: bool,
    recording: Option<Arc<Recording>>,
) {
    while let Some(msg) = client.wait().await {
        let sent = match msg {
            ChannelMsg::Data { data } if !eof_sent => target.data_bytes(data).await,
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

async fn target_to_client(
    mut target: ChannelReadHalf,
    client: &ChannelWriteHalf<server::Msg>,
    recording: Option<&Recording>,
) -> Ended {
    let mut ended = Ended::default();
    while let Some(msg) = target.wait().await {
        if let (Some(r), ChannelMsg::Data { data } | ChannelMsg::ExtendedData { data, .. }) =
            (recording, &msg)
            && r.output(data).is_err()
        {
            ended.recording_failed = true;
            break;
        }
        let sent = match msg {
            ChannelMsg::Data { data } => client.data_bytes(data).await,
            ChannelMsg::ExtendedData { data, ext } => client.extended_data_bytes(ext, data).await,
            ChannelMsg::ExitStatus { exit_status } => {
                ended.exit_status = Some(exit_status);
                client.exit_status(exit_status).await
            }
            ChannelMsg::ExitSignal { signal_name, .. } => {
                ended.exit_signal = Some(format!("{signal_name:?}"));
                Ok(())
            }
            ChannelMsg::Eof => client.eof().await,
            ChannelMsg::Close => break,
            _ => Ok(()),
        };
        if sent.is_err() {
            break;
        }
    }
    ended
}
