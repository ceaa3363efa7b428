//! Client → target: every statement goes to the guard before it may pass.
//!
//! A refused statement is not answered here: the pump sends the target a
//! marker statement that fails to parse at exactly that place in the stream,
//! and the server pump swaps the target's error for the refusal. The target
//! itself then skips to Sync and reports the right transaction status, so
//! pipelines and transaction blocks behave exactly as after a server error.
//!
//! Every forwarded message the target answers is queued in `Shared` first,
//! so each answer is matched to its message by position. Names (prepared
//! statements, portals) are resolved as the target will resolve them: from
//! what it confirmed, plus what this batch changes before it; a message that
//! depends on an earlier batch's unconfirmed change waits for its answer.

mod analysis;
mod extended;
mod hold;
mod ops;
mod refusal;

use super::End;
use super::names::Op;
use super::shared::{Entry, Kind, Lookup, Shared, Stmt, copy_in};
use crate::catalog::CatalogSource;
use crate::mask::{Formats, StatementMask};
use crate::protocol::{
    self, FrameError, MAX_CLIENT_MESSAGE, MessageWriter, parse_bind, parse_execute, parse_query,
    peek_header,
};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use vigil_guard::{
    Binding, Decision, Guard, GuardError, Permit, Refusal, RefusalClass, SessionCtx, Unpolicied,
};
use vigil_sql::{AnalysisCache, Catalog, LineageCache};

/// Named statements and portals a client may keep open at once.
const MAX_PREPARED: usize = 10_000;
/// Bytes of statement text and bound parameters a session may keep.
const MAX_NAME_BYTES: usize = 64 << 20;
/// Statements one simple Query may carry (each is decided and recorded).
const MAX_STATEMENTS_PER_MESSAGE: usize = 1_000;
/// Messages larger than this that need no inspection are streamed through.
const STREAM_THRESHOLD: usize = 64 * 1024;

pub struct ClientPump<'a> {
    guard: &'a Guard,
    session: &'a SessionCtx,
    /// The catalog statements are analysed with, and where a newer one
    /// comes from.
    catalog: Arc<Catalog>,
    catalog_source: Option<CatalogSource>,
    analyses: &'a AnalysisCache,
    lineages: &'a LineageCache,
    shared: &'a Shared,
    out: MessageWriter,
    /// RFQ-producing messages forwarded so far (see `Shared`).
    batch: u64,
    shutting_down: bool,
    /// An extended-protocol refusal was injected since the last Sync: the
    /// target now skips everything up to Sync, so later messages of the
    /// batch are not separate operations.
    batch_refused: bool,
    /// The batch of the last forwarded statement that may change settings
    /// (anything not read-only): the target reports the change only before
    /// its ReadyForQuery, so statement text after it waits for that.
    unsettled: Option<u64>,
    /// Such a statement in the current batch ran code or set settings
    /// directly (not plain DML): a Parse after it in the same batch cannot
    /// be analysed under known settings.
    unsettled_opaque: bool,
    /// The target's answers did not fit the queue: the session must end.
    broken: bool,
    /// An extended-protocol message was forwarded since the last Sync.
    mid_batch: bool,
    /// The client ended the copy data of the last `COPY ... FROM STDIN`.
    copy_done_sent: bool,
    /// CancelRequests for this session (withdraw a held statement).
    cancels: Option<watch::Receiver<u64>>,
    shutdown: Option<watch::Receiver<bool>>,
    /// True while a statement is held (the client's socket is watched then).
    held: watch::Sender<bool>,
    /// Turns true once the client's socket reached EOF or failed.
    gone: Option<watch::Receiver<bool>>,
}

/// Where an injected failure must happen: a Query is answered with one
/// error and ReadyForQuery; anything in the extended protocol with one
/// error, after which the target skips to Sync.
#[derive(Clone, Copy)]
enum Place {
    Simple,
    Extended,
}

impl<'a> ClientPump<'a> {
    pub fn new(
        guard: &'a Guard,
        session: &'a SessionCtx,
        catalog: Arc<Catalog>,
        analyses: &'a AnalysisCache,
        lineages: &'a LineageCache,
        shared: &'a Shared,
    ) -> Self {
        Self {
            guard,
            session,
            catalog,
            catalog_source: None,
            analyses,
            lineages,
            shared,
            out: MessageWriter::new(),
            batch: 0,
            shutting_down: false,
            batch_refused: false,
            unsettled: None,
            unsettled_opaque: false,
            broken: false,
            mid_batch: false,
            copy_done_sent: true,
            cancels: None,
            shutdown: None,
            held: watch::Sender::new(false),
            gone: None,
        }
    }

    /// Analyses each statement with the connection's latest catalog.
    pub fn with_catalog_source(mut self, source: CatalogSource) -> Self {
        self.catalog_source = Some(source);
        self
    }

    /// Lets a CancelRequest withdraw a statement held for approval.
    pub fn with_cancels(mut self, cancels: watch::Receiver<u64>) -> Self {
        self.cancels = Some(cancels);
        self
    }

    pub async fn run<R, W>(
        &mut self,
        client: &mut R,
        upstream: &mut W,
        mut shutdown: watch::Receiver<bool>,
    ) -> io::Result<End>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        self.shutdown = Some(shutdown.clone());
        let gone = watch::Sender::new(false);
        self.gone = Some(gone.subscribe());
        let mut held = self.held.subscribe();
        let mut buf = BytesMut::with_capacity(8 * 1024);
        // Bytes of a large uninspected message still to stream through.
        let mut passthrough = 0usize;
        loop {
            if passthrough > 0 {
                let n = passthrough.min(buf.len());
                self.out.raw(&buf.split_to(n));
                passthrough -= n;
            }
            while passthrough == 0 {
                let (tag, total) = match peek_header(&buf, MAX_CLIENT_MESSAGE) {
                    Ok(Some(h)) => h,
                    Ok(None) => break,
                    Err(e) => return Err(protocol_violation(e)),
                };
                if buf.len() >= total {
                    self.make_way(tag, &buf[..total], upstream).await?;
                    let frame = buf.split_to(total).freeze();
                    let handled = self.handle(tag, frame);
                    if let Some(end) =
                        hold::watching_client(handled, client, &mut buf, &mut held, &gone).await?
                    {
                        upstream.write_all(&self.out.take()).await?;
                        return Ok(end);
                    }
                    if self.broken {
                        return Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "vigil: the session's message queue is unusable",
                        ));
                    }
                } else if total > STREAM_THRESHOLD && matches!(tag, b'd') {
                    passthrough = total - buf.len();
                    self.out.raw(&buf.split());
                } else {
                    buf.reserve(total - buf.len());
                    break;
                }
            }
            if !self.out.is_empty() {
                upstream.write_all(&self.out.take()).await?;
            }
            if self.shutting_down && self.idle() && buf.is_empty() {
                return Ok(End::Shutdown);
            }
            if *gone.borrow() {
                // Seen while a statement was held; what it sent before is handled.
                return Ok(End::Client);
            }
            tokio::select! {
                read = client.read_buf(&mut buf) => {
                    if read? == 0 {
                        return Ok(End::Client);
                    }
                }
                changed = shutdown.changed(), if !self.shutting_down => {
                    // A closed sender means the gateway is going away too.
                    if changed.is_err() || *shutdown.borrow() {
                        self.shutting_down = true;
                        if self.idle() && buf.is_empty() {
                            return Ok(End::Shutdown);
                        }
                    }
                }
            }
        }
    }

    fn idle(&self) -> bool {
        self.shared.txn() == protocol::txn::IDLE && self.shared.is_quiet()
    }

    /// Before a message is handled: waits until the target has answered
    /// what the message depends on (an earlier batch's unconfirmed change of
    /// a name it uses, or of the settings its text is read under), and for
    /// room in the queue. What is buffered goes out first, so the target can
    /// answer.
    async fn make_way<W: AsyncWrite + Unpin>(
        &mut self,
        tag: u8,
        frame: &[u8],
        upstream: &mut W,
    ) -> io::Result<()> {
        if self.shared.is_full() {
            // Flush asks the target for every answer it holds back.
            self.out.raw(&[b'H', 0, 0, 0, 4]);
            upstream.write_all(&self.out.take()).await?;
            while self.shared.is_full() {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
        let wait = match tag {
            b'Q' | b'P' => self.unsettled.is_some_and(|b| b < self.batch),
            b'B' => parse_bind(frame).is_ok_and(|b| {
                matches!(self.shared.statement(b.statement, self.batch), Lookup::Wait)
            }),
            b'E' => parse_execute(frame)
                .is_ok_and(|p| matches!(self.shared.portal(p, self.batch), Lookup::Wait)),
            _ => false,
        };
        if wait {
            if !self.out.is_empty() {
                upstream.write_all(&self.out.take()).await?;
            }
            self.shared.wait_answered(self.batch).await;
            if self.unsettled.is_some_and(|b| b < self.batch) {
                self.unsettled = None;
            }
        }
        Ok(())
    }

    /// Handles one whole client message; Some(end) closes the session.
    async fn handle(&mut self, tag: u8, frame: Bytes) -> io::Result<Option<End>> {
        match tag {
            b'Q' | b'F' if self.mid_batch => {
                // The target runs it when the batch is fine and discards it
                // after an error, so whether a ReadyForQuery answers it is
                // unknowable here. No client needs it: fail closed.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a simple Query or FunctionCall inside an unfinished extended-protocol batch",
                ));
            }
            b'Q' | b'F' | b'P' | b'B' | b'E' | b'D' | b'C'
                if self.shared.copy_in() == copy_in::ACTIVE && !self.copy_done_sent =>
            {
                // The target would end the session for it; so does Vigil,
                // rather than wait for answers that will not come.
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a command message during COPY FROM STDIN",
                ));
            }
            b'P' | b'B' | b'E' | b'D' | b'C' => self.mid_batch = true,
            b'S' => self.mid_batch = false,
            _ => {}
        }
        match tag {
            b'Q' => self.on_query(frame).await?,
            b'P' => self.on_parse(frame).await?,
            b'B' => self.on_bind(frame).await?,
            b'E' => self.on_execute(frame).await?,
            b'C' => self.on_close(frame)?,
            b'D' => {
                self.queue_answer(Kind::Describe, Vec::new());
                self.out.raw(&frame);
            }
            b'S' if self.shared.copy_in() == copy_in::ACTIVE && !self.copy_done_sent => {
                // The target reads copy data and ignores this Sync.
                self.out.raw(&frame);
            }
            b'S' => {
                // Between a COPY FROM STDIN and the end of its data, a Sync
                // counts only if the copy never starts.
                let kind = if self.shared.copy_in() == copy_in::EXPECTED && !self.copy_done_sent {
                    Kind::CopySync
                } else {
                    Kind::Sync
                };
                self.queue_answer(kind, Vec::new());
                self.batch_refused = false;
                self.unsettled_opaque = false;
                self.out.raw(&frame);
                self.batch += 1;
            }
            b'c' | b'f' => {
                self.copy_done_sent = true;
                self.out.raw(&frame);
            }
            b'H' | b'd' => self.out.raw(&frame),
            b'F' => {
                // Fast-path function calls name a function by OID with no SQL
                // to analyse (lo_import, ...): refused, fail closed.
                self.refuse_unpolicied(
                    Place::Simple,
                    Unpolicied::step(
                        RefusalClass::Protocol,
                        "fast-path function call",
                        "function_call",
                        "fast-path function calls are not allowed",
                    ),
                )
                .await;
                self.batch += 1;
            }
            b'X' => {
                self.out.raw(&frame);
                return Ok(Some(End::Client));
            }
            other => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("unexpected client message type '{}'", other as char),
                ));
            }
        }
        Ok(None)
    }

    /// Queues what the target will answer for the message being forwarded.
    fn queue_answer(&mut self, kind: Kind, ops: Vec<Op>) {
        self.queue_answer_guarded(kind, ops, false);
    }

    /// [`Self::queue_answer`] for a Parse or Bind whose error may quote data.
    fn queue_answer_guarded(&mut self, kind: Kind, ops: Vec<Op>, guarded: bool) {
        let entry = Entry {
            batch: self.batch,
            kind,
            ops,
            guarded,
        };
        if !self.shared.push(entry) {
            self.broken = true;
        }
    }

    async fn on_query(&mut self, frame: Bytes) -> io::Result<()> {
        let text = parse_query(&frame).map_err(protocol_violation)?;
        // A Query drops the unnamed statement, and runs each of its
        // statements in the unnamed portal.
        let query_ops = vec![Op::DropUnnamedStatement, Op::DropUnnamedPortal];
        match self.analyse(text).await {
            Ok(facts) if facts.is_empty() => {
                self.queue_answer(Kind::Query(VecDeque::new()), query_ops);
                self.out.raw(&frame);
            }
            Ok(facts) => match self
                .settle(
                    self.guard
                        .decide(self.session, &refusal::actions(&facts), Binding::NONE)
                        .await,
                )
                .await
            {
                Ok(Decision::Allowed(permit)) => {
                    let statement_ops =
                        ops::of_text(text, &facts, &self.session.mask, &self.catalog);
                    let mut stmts = VecDeque::with_capacity(facts.len());
                    for (i, f) in facts.iter().enumerate() {
                        stmts.push_back(Stmt {
                            seq: permit.seqs.get(i).copied(),
                            started: Instant::now(),
                            mask: self.statement_mask(&f.text, &f.kind),
                            formats: Formats::AllText,
                            guarded: self.guarded(f),
                            ddl: f.ddl,
                            ops: statement_ops.get(i).cloned().unwrap_or_default(),
                        });
                    }
                    self.note_settings(&facts);
                    self.note_copy_in(&facts);
                    self.forward(&permit, &frame, Kind::Query(stmts), query_ops);
                }
                Ok(Decision::Refused(r)) => self.refuse_for(Place::Simple, &r),
                Ok(Decision::Held(_)) => self.refuse(
                    Place::Simple,
                    refusal::sqlstate(RefusalClass::Policy),
                    HELD_TWICE,
                ),
                Err(e) => self.refuse_guard_error(Place::Simple, e),
            },
            Err(Some(r)) => self.refuse_for(Place::Simple, &r),
            Err(None) => self.refuse(
                Place::Simple,
                refusal::sqlstate(RefusalClass::LedgerUnavailable),
                LEDGER_DOWN,
            ),
        }
        self.batch += 1;
        Ok(())
    }

    fn stmt(
        &self,
        seq: Option<i64>,
        mask: Option<Arc<StatementMask>>,
        formats: Formats,
        guarded: bool,
        ops: Vec<Op>,
    ) -> Stmt {
        Stmt {
            seq,
            started: Instant::now(),
            mask,
            formats,
            guarded: guarded && self.session.mask.has_column_rules(),
            ddl: false,
            ops,
        }
    }

    /// The only way an analysed statement reaches the target: its answers
    /// are queued first, so the server pump masks its rows.
    fn forward(&mut self, _permit: &Permit, frame: &[u8], kind: Kind, ops: Vec<Op>) {
        self.queue_answer(kind, ops);
        self.out.raw(frame);
    }

    /// A refusal policy cannot express (protocol step, resource limit): the
    /// guard records it, and the client gets it in stream like any other.
    async fn refuse_unpolicied(&mut self, place: Place, what: Unpolicied<'_>) {
        match self.guard.refuse(self.session, what).await {
            Ok(r) => self.refuse_for(place, &r),
            Err(e) => self.refuse_guard_error(place, e),
        }
    }

    /// Answers a refusal of the guard with its class's SQLSTATE.
    fn refuse_for(&mut self, place: Place, r: &Refusal) {
        self.refuse(place, refusal::sqlstate(r.class), &r.message());
    }

    fn refuse_guard_error(&mut self, place: Place, e: GuardError) {
        tracing::error!(session = %self.session.id, error = %e, "statement refused: guard failed");
        self.refuse(
            place,
            refusal::sqlstate(RefusalClass::LedgerUnavailable),
            LEDGER_DOWN,
        );
    }

    /// Sends the target a marker statement that fails right here; the server
    /// pump answers the client with `message` in place of that failure.
    fn refuse(&mut self, place: Place, code: &str, message: &str) {
        let mut error = MessageWriter::new();
        error.error("ERROR", code, message);
        let kind = Kind::Refusal {
            error: error.take().freeze(),
            ends_batch: matches!(place, Place::Simple),
        };
        // The marker, like any Parse or Query, drops the unnamed statement.
        self.queue_answer(kind, vec![Op::DropUnnamedStatement]);
        match place {
            Place::Simple => self.out.query(REFUSAL_MARKER),
            Place::Extended => {
                self.batch_refused = true;
                self.out.parse("", REFUSAL_MARKER, &[]);
            }
        }
    }
}

/// Text the target cannot parse: its syntax error is the refusal's place.
const REFUSAL_MARKER: &str = "vigil_refused";

const HELD_TWICE: &str = "vigil: denied by rule 'approvals': the statement could not be held";

const LEDGER_DOWN: &str =
    "vigil: the audit ledger is unavailable, so the statement was not forwarded";

fn protocol_violation(e: FrameError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}
