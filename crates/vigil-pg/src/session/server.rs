//! Target → client: relays bytes as they come, looking only at the messages
//! that end a statement or a batch, swapping the target's error for a
//! refusal where the client pump injected one, and masking what the
//! session must not see.
//!
//! A session without mask rules relays whole runs of messages straight from
//! the read buffer. With mask rules, every message goes through an output
//! buffer so rewritten rows take their place in order.

use super::End;
use super::lexing;
use super::shared::{Current, Desync, Done, ErrorRoute, Shared};
use crate::catalog::CatalogSource;
use crate::mask::{self, CopyMasker, StatementMask, Tally};
use crate::protocol::{FrameError, MessageReader, parse_error_fields, peek_header};
use bytes::{Buf, BytesMut};
use std::io;
use std::sync::Arc;
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
    masking: Option<Masking>,
    catalogs: Option<CatalogSource>,
}

/// Masking state of a session with mask rules.
struct Masking {
    out: BytesMut,
    /// The statement whose rows are arriving, as the client pump queued it.
    current: Option<Current>,
    /// For rows of no known statement: everything masked (fail closed).
    unknown: Option<Arc<StatementMask>>,
    copy: Option<CopyMasker>,
    /// Column types of the rows arriving, from the last RowDescription.
    row_types: Option<Vec<u32>>,
    tally: Tally,
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
        let masking = (!session.mask.is_empty()).then(|| Masking {
            out: BytesMut::with_capacity(8 * 1024),
            current: None,
            unknown: StatementMask::unknown(&session.mask),
            copy: None,
            row_types: None,
            tally: Tally::default(),
        });
        Self {
            guard,
            session,
            shared,
            buf,
            masking,
            catalogs: None,
        }
    }

    /// After DDL completes, the connection's cached catalog is dropped.
    pub fn with_catalogs(mut self, catalogs: CatalogSource) -> Self {
        self.catalogs = Some(catalogs);
        self
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
            let read = if passthrough == 0 {
                // At a message boundary: a queued notice may go out.
                let shared = self.shared;
                tokio::select! {
                    read = self.upstream_read(upstream) => read?,
                    _ = shared.to_client_ready.notified() => {
                        for message in shared.take_to_client() {
                            client.write_all(&message).await?;
                        }
                        continue;
                    }
                }
            } else {
                self.upstream_read(upstream).await?
            };
            if read == 0 {
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
        let masking = self.masking.is_some();
        let mut start = 0;
        let mut pos = 0;
        let mut passthrough = 0;
        while let Some((tag, total)) =
            peek_header(&self.buf[pos..], MAX_INSPECTED_MESSAGE).map_err(invalid)?
        {
            let available = self.buf.len() - pos;
            if available < total {
                let inspected = matches!(tag, b'E' | b'C' | b'Z' | b'N' | b'A' | b'H')
                    || (masking && matches!(tag, b'D' | b'd'));
                if total > STREAM_THRESHOLD && !inspected {
                    passthrough = total - available;
                    pos = self.buf.len();
                }
                break;
            }
            let end = pos + total;
            let replacement = self.inspect(tag, pos, end).await.map_err(|e| match e {
                InspectError::Frame(e) => invalid(e),
                InspectError::Desync(d) => io::Error::new(io::ErrorKind::InvalidData, d),
            })?;
            match replacement {
                Replace::Keep => {}
                Replace::With(bytes) => {
                    client.write_all(&self.buf[start..pos]).await?;
                    client.write_all(&bytes).await?;
                    start = end;
                }
                Replace::Buffered => {
                    // Masking: the message (changed or not) is in the output buffer.
                    start = end;
                }
            }
            pos = end;
        }
        if let Some(m) = self.masking.as_mut() {
            // Whatever was not routed through `out` (a streamed tail) follows it.
            m.out.extend_from_slice(&self.buf[start..pos]);
            if !m.out.is_empty() {
                client.write_all(&m.out).await?;
                m.out.clear();
            }
        } else if pos > start {
            client.write_all(&self.buf[start..pos]).await?;
        }
        self.buf.advance(pos);
        Ok(passthrough)
    }

    /// Looks at one whole message `buf[pos..end]` and says what to send.
    async fn inspect(&mut self, tag: u8, pos: usize, end: usize) -> Result<Replace, InspectError> {
        let message = &self.buf[pos..end];
        match tag {
            b'Z' => {
                let status = *message
                    .get(5)
                    .ok_or(FrameError::Malformed("ReadyForQuery"))?;
                self.shared.ready(status)?;
                if let Some(m) = self.masking.as_mut() {
                    m.current = None;
                    m.copy = None;
                    m.row_types = None;
                }
            }
            b'1' | b'2' | b'3' | b'n' => self.shared.confirm(tag)?,
            b'S' => {
                if let Some(problem) = lexing::unreproduced(message) {
                    tracing::warn!(session = %self.session.id, setting = %problem, "the target reads statements under a setting Vigil does not reproduce; further statements are refused");
                    self.shared.lexing_broken(problem);
                }
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
                // The completion goes out first; its statement's rows are done.
                if let Some(m) = self.masking.as_mut() {
                    m.out.extend_from_slice(&self.buf[pos..end]);
                }
                let done = self.shared.complete(tag == b'C')?;
                self.finish(tag_text, None, done).await;
                return Ok(if self.masking.is_some() {
                    Replace::Buffered
                } else {
                    Replace::Keep
                });
            }
            b'E' => {
                let code = parse_error_fields(message).unwrap_or_default().code;
                let guard_unknown = self.session.mask.has_column_rules();
                let route = self.shared.error(guard_unknown);
                let (done, guarded) = match route {
                    ErrorRoute::Replace(refusal) => return Ok(self.replace(refusal)),
                    ErrorRoute::Target { done, guarded } => (done, guarded),
                };
                let replace = self.mask_fields(pos, end, true, guarded)?;
                self.finish(None, Some(code), done).await;
                return Ok(replace);
            }
            b'N' => {
                let guarded = self.guarded_now();
                return Ok(self.mask_fields(pos, end, true, guarded)?);
            }
            b'A' => return Ok(self.mask_fields(pos, end, false, false)?),
            b'T' => {
                if self.shared.describing() {
                    self.shared.confirm(tag)?;
                }
                if let Some(m) = self.masking.as_mut() {
                    m.row_types = mask::row_types(message).ok();
                }
            }
            b'G' => self.shared.copy_in_started(),
            b'H' => {
                if let Some(m) = self.masking.as_mut() {
                    let mask = current_mask(&mut m.current, self.shared, &m.unknown);
                    let format = mask
                        .and_then(|s| s.copy.clone())
                        .unwrap_or_else(default_copy_format);
                    m.copy = Some(CopyMasker::new(format));
                }
            }
            b'D' | b'd' => {
                if let Some(m) = self.masking.as_mut() {
                    let Some(mask) = current_mask(&mut m.current, self.shared, &m.unknown) else {
                        m.out.extend_from_slice(message);
                        return Ok(Replace::Buffered);
                    };
                    let changed = if tag == b'D' {
                        let formats = m
                            .current
                            .as_ref()
                            .map(|c| c.formats.clone())
                            .unwrap_or_default();
                        let types = m.row_types.as_deref();
                        mask::mask_data_row(
                            message,
                            &mask,
                            &formats,
                            types,
                            &mut m.out,
                            &mut m.tally,
                        )?
                    } else {
                        match m.copy.as_mut() {
                            Some(copy) => copy.mask(message, &mask, &mut m.out, &mut m.tally)?,
                            None => false,
                        }
                    };
                    if !changed {
                        m.out.extend_from_slice(message);
                    }
                    return Ok(Replace::Buffered);
                }
            }
            _ => {}
        }
        if let Some(m) = self.masking.as_mut() {
            m.out.extend_from_slice(&self.buf[pos..end]);
            return Ok(Replace::Buffered);
        }
        Ok(Replace::Keep)
    }

    /// Whether a notice now may quote data the session must not see: the
    /// running statement's say, or yes when none is known.
    fn guarded_now(&self) -> bool {
        if !self.session.mask.has_column_rules() {
            return false;
        }
        self.shared.current().is_none_or(|c| c.guarded)
    }

    fn replace(&mut self, bytes: bytes::Bytes) -> Replace {
        match self.masking.as_mut() {
            Some(m) => {
                m.out.extend_from_slice(&bytes);
                Replace::Buffered
            }
            None => Replace::With(bytes),
        }
    }

    /// Errors, notices and notifications can echo values. `guarded`: the
    /// statement that caused it reads data the session must not see, so
    /// only the SQLSTATE and a generic message are kept.
    fn mask_fields(
        &mut self,
        pos: usize,
        end: usize,
        error_like: bool,
        guarded: bool,
    ) -> Result<Replace, FrameError> {
        let Some(m) = self.masking.as_mut() else {
            return Ok(Replace::Keep);
        };
        let message = &self.buf[pos..end];
        let changed = if error_like && guarded {
            mask::hide_error_text(message, &mut m.out)?;
            true
        } else if error_like {
            mask::mask_error_fields(message, &self.session.mask, &mut m.out, &mut m.tally)?
        } else {
            mask::mask_notification(message, &self.session.mask, &mut m.out, &mut m.tally)?
        };
        if !changed {
            m.out.extend_from_slice(message);
        }
        Ok(Replace::Buffered)
    }

    async fn finish(
        &mut self,
        tag: Option<String>,
        error_code: Option<String>,
        done: Option<Done>,
    ) {
        let mut masking_summary = None;
        if let Some(m) = self.masking.as_mut() {
            let described = m
                .current
                .as_ref()
                .and_then(|c| c.mask.as_ref())
                .map(|s| s.described().to_vec())
                .unwrap_or_default();
            masking_summary = m.tally.summary(&described);
            m.tally = Tally::default();
            m.current = None;
            m.copy = None;
            m.row_types = None;
        }
        if let Some(f) = done {
            if f.ddl
                && let Some(source) = &self.catalogs
            {
                source.invalidate();
            }
            let outcome = StatementOutcome {
                statement_seq: f.seq,
                duration_us: f.started.elapsed().as_micros() as u64,
                tag,
                error_code,
                masking: masking_summary,
            };
            self.guard.statement_done(self.session, outcome).await;
        }
    }
}

/// The mask of the statement whose rows are arriving: the one at the head
/// of the in-flight queue, or the fail-closed mask when none is known.
fn current_mask(
    current: &mut Option<Current>,
    shared: &Shared,
    unknown: &Option<Arc<StatementMask>>,
) -> Option<Arc<StatementMask>> {
    if current.is_none() {
        *current = shared.current();
    }
    match current {
        Some(c) => c.mask.clone(),
        None => unknown.clone(),
    }
}

/// PostgreSQL's text format, for a COPY whose statement was not seen.
fn default_copy_format() -> vigil_sql::CopyOutFormat {
    vigil_sql::CopyOutFormat {
        kind: vigil_sql::CopyKind::Text,
        delimiter: b'\t',
        quote: b'"',
        escape: b'"',
        null: "\\N".to_owned(),
        header: false,
    }
}

enum InspectError {
    Frame(FrameError),
    Desync(Desync),
}

impl From<FrameError> for InspectError {
    fn from(e: FrameError) -> Self {
        InspectError::Frame(e)
    }
}

impl From<Desync> for InspectError {
    fn from(e: Desync) -> Self {
        InspectError::Desync(e)
    }
}

enum Replace {
    /// Relay the message as it is.
    Keep,
    /// Send these bytes in its place.
    With(bytes::Bytes),
    /// Masking path: the message or its replacement is already in `out`.
    Buffered,
}

fn invalid(e: FrameError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}
