//! Target → client: relays bytes as they come, looking only at the few
//! messages that end a statement or a batch, and swapping the target's error
//! for a refusal where the client pump injected one.

use super::End;
use super::shared::Shared;
use crate::protocol::{MessageReader, parse_error_fields, peek_header};
use bytes::{Buf, BytesMut};
use std::io;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use vigil_core::StatementOutcome;
use vigil_guard::{Guard, SessionCtx};

/// The target is trusted more than clients, but a gateway still bounds what
/// it holds: larger messages of kinds it does not inspect are streamed.
const MAX_INSPECTED_MESSAGE: usize = 64 << 20;
const STREAM_THRESHOLD: usize = 64 * 1024;

pub struct ServerPump<'a> {
    guard: &'a Guard,
    session: &'a SessionCtx,
    shared: &'a Shared,
    buf: BytesMut,
}

impl<'a> ServerPump<'a> {
    pub fn new(
        guard: &'a Guard,
        session: &'a SessionCtx,
        shared: &'a Shared,
        leftover: BytesMut,
    ) -> Self {
        let mut buf = leftover;
        buf.reserve(8 * 1024);
        Self {
            guard,
            session,
            shared,
            buf,
        }
    }

    pub async fn run<R, W>(&mut self, upstream: &mut R, client: &mut W) -> io::Result<End>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let mut passthrough = 0usize;
        loop {
            if passthrough > 0 {
                let n = passthrough.min(self.buf.len());
                client.write_all(&self.buf[..n]).await?;
                self.buf.advance(n);
                passthrough -= n;
            }
            if passthrough == 0 {
                passthrough = self.relay_whole_messages(client).await?;
            }
            if self.upstream_read(upstream).await? == 0 {
                return Ok(End::Upstream);
            }
        }
    }

    async fn upstream_read<R: AsyncRead + Unpin>(&mut self, upstream: &mut R) -> io::Result<usize> {
        if self.buf.capacity() - self.buf.len() < 4096 {
            self.buf.reserve(8 * 1024);
        }
        upstream.read_buf(&mut self.buf).await
    }

    /// Writes every whole message in the buffer to the client, in as few
    /// writes as possible. Returns how many bytes of a large message at the
    /// end still have to stream through.
    async fn relay_whole_messages<W: AsyncWrite + Unpin>(
        &mut self,
        client: &mut W,
    ) -> io::Result<usize> {
        let mut start = 0;
        let mut pos = 0;
        let mut passthrough = 0;
        while let Some((tag, total)) = peek_header(&self.buf[pos..], MAX_INSPECTED_MESSAGE)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
        {
            let available = self.buf.len() - pos;
            if available < total {
                if total > STREAM_THRESHOLD && !matches!(tag, b'E' | b'C' | b'Z') {
                    passthrough = total - available;
                    pos = self.buf.len();
                }
                break;
            }
            let message = &self.buf[pos..pos + total];
            match tag {
                b'Z' => {
                    if let Some(&status) = message.get(5) {
                        self.shared.set_txn(status);
                    }
                    self.shared.batch_done();
                }
                b'C' | b'I' | b's' => {
                    let tag_text = (tag == b'C')
                        .then(|| {
                            MessageReader::new(message, "CommandComplete")
                                .cstr()
                                .ok()
                                .map(str::to_string)
                        })
                        .flatten();
                    self.finish(tag_text, None).await;
                }
                b'E' => {
                    let fields = parse_error_fields(message).unwrap_or_default();
                    if let Some(refusal) = self.shared.take_denial(&fields.message) {
                        client.write_all(&self.buf[start..pos]).await?;
                        client.write_all(&refusal).await?;
                        start = pos + total;
                    } else {
                        self.finish(None, Some(fields.code)).await;
                    }
                }
                _ => {}
            }
            pos += total;
        }
        if pos > start {
            client.write_all(&self.buf[start..pos]).await?;
        }
        self.buf.advance(pos);
        Ok(passthrough)
    }

    async fn finish(&self, tag: Option<String>, error_code: Option<String>) {
        if let Some(f) = self.shared.pop_in_flight() {
            let outcome = StatementOutcome {
                statement_seq: f.seq,
                duration_us: f.started.elapsed().as_micros() as u64,
                tag,
                error_code,
            };
            self.guard.statement_done(self.session, outcome).await;
        }
    }
}
