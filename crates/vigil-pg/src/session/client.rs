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

mod hold;
mod ops;
mod refusal;

use super::End;
use super::names::{Facts, Op, Portal, Prepared};
use super::shared::{Entry, Kind, Lookup, Shared, Stmt, copy_in};
use crate::catalog::CatalogSource;
use crate::mask::{Formats, StatementMask};
use crate::protocol::bind_result_formats;
use crate::protocol::{
    self, FrameError, MAX_CLIENT_MESSAGE, MessageReader, MessageWriter, parse_bind, parse_execute,
    parse_parse, parse_query, peek_header,
};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use vigil_core::SqlFacts;
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
                self.expect(Kind::Describe, Vec::new());
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
                self.expect(kind, Vec::new());
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
    fn expect(&mut self, kind: Kind, ops: Vec<Op>) {
        self.expect_guarded(kind, ops, false);
    }

    /// [`Self::expect`] for a Parse or Bind whose error may quote data.
    fn expect_guarded(&mut self, kind: Kind, ops: Vec<Op>, guarded: bool) {
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
                self.expect(Kind::Query(VecDeque::new()), query_ops);
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

    async fn on_parse(&mut self, frame: Bytes) -> io::Result<()> {
        let parse = parse_parse(&frame).map_err(protocol_violation)?;
        let name = parse.statement.to_string();
        if self.unsettled == Some(self.batch) && self.unsettled_opaque {
            self.refuse_unpolicied(
                Place::Extended,
                Unpolicied::step(
                    RefusalClass::Unsupported,
                    parse.query,
                    "parse",
                    "a statement parsed after one that may change session settings in the same \
                     pipeline is read under settings Vigil cannot know yet; send Sync first",
                ),
            )
            .await;
            return Ok(());
        }
        let facts = match self.analyse(parse.query).await {
            Ok(facts) => facts,
            Err(Some(r)) => {
                self.refuse_for(Place::Extended, &r);
                return Ok(());
            }
            Err(None) => {
                self.refuse(
                    Place::Extended,
                    refusal::sqlstate(RefusalClass::LedgerUnavailable),
                    LEDGER_DOWN,
                );
                return Ok(());
            }
        };
        // Parse runs nothing, so an allowed statement is recorded when it is
        // executed; a refused one is recorded now, with its refusal.
        let actions = refusal::actions(&facts);
        if self.guard.would_refuse(self.session, &actions).is_some() {
            match self
                .guard
                .decide(self.session, &actions, Binding::NONE)
                .await
            {
                Ok(Decision::Refused(r)) => {
                    self.refuse_for(Place::Extended, &r);
                    return Ok(());
                }
                Ok(Decision::Allowed(_)) => {}
                Ok(Decision::Held(_)) => {
                    self.refuse(
                        Place::Extended,
                        refusal::sqlstate(RefusalClass::Policy),
                        HELD_TWICE,
                    );
                    return Ok(());
                }
                Err(e) => {
                    self.refuse_guard_error(Place::Extended, e);
                    return Ok(());
                }
            }
        }
        let over = if !name.is_empty() && self.shared.name_counts().0 >= MAX_PREPARED {
            Some(format!("more than {MAX_PREPARED} prepared statements"))
        } else if self.shared.name_bytes() + parse.query.len() > MAX_NAME_BYTES {
            Some(format!(
                "prepared statements and portals would hold more than {} MiB",
                MAX_NAME_BYTES >> 20
            ))
        } else {
            None
        };
        if let Some(reason) = over {
            self.refuse_unpolicied(
                Place::Extended,
                Unpolicied::step(RefusalClass::Limit, parse.query, "prepare", &reason),
            )
            .await;
            return Ok(());
        }
        let mask = match facts.len() {
            1 => self.statement_mask(parse.query, &facts[0].kind),
            _ => StatementMask::unknown(&self.session.mask),
        };
        let param_types = hold::parse_param_types(&frame);
        let ops = ops::of_text(parse.query, &facts, &self.session.mask, &self.catalog)
            .into_iter()
            .flatten()
            .collect();
        let prepared = Arc::new(Prepared {
            facts,
            mask,
            param_types,
            sql_level: false,
            ops,
        });
        let guarded = prepared.facts.iter().any(|f| self.guarded(f));
        self.expect_guarded(Kind::Parse, vec![Op::Parse { name, prepared }], guarded);
        self.out.raw(&frame);
        Ok(())
    }

    async fn on_bind(&mut self, frame: Bytes) -> io::Result<()> {
        let bind = parse_bind(&frame).map_err(protocol_violation)?;
        let portal_name = bind.portal.to_string();
        let op = match self.shared.statement(bind.statement, self.batch) {
            Lookup::Found(prepared) if prepared.sql_level => {
                let text = format!("bind statement \"{}\"", bind.statement);
                self.refuse_unpolicied(
                    Place::Extended,
                    Unpolicied::step(
                        RefusalClass::Protocol,
                        &text,
                        "bind",
                        "a statement made by SQL PREPARE cannot be bound through the protocol",
                    ),
                )
                .await;
                return Ok(());
            }
            Lookup::Found(prepared) => {
                let over = if !portal_name.is_empty() && self.shared.name_counts().1 >= MAX_PREPARED
                {
                    Some(format!("more than {MAX_PREPARED} portals"))
                } else if self.shared.name_bytes() + bind.rest.len() + prepared.size()
                    > MAX_NAME_BYTES
                {
                    Some(format!(
                        "prepared statements and portals would hold more than {} MiB",
                        MAX_NAME_BYTES >> 20
                    ))
                } else {
                    None
                };
                if let Some(reason) = over {
                    self.refuse_unpolicied(
                        Place::Extended,
                        Unpolicied::step(RefusalClass::Limit, "bind", "bind", &reason),
                    )
                    .await;
                    return Ok(());
                }
                let codes = bind_result_formats(bind.rest).map_err(protocol_violation)?;
                let results = 2 + 2 * codes.len();
                let params =
                    Bytes::copy_from_slice(&bind.rest[..bind.rest.len().saturating_sub(results)]);
                Op::Bind {
                    name: portal_name,
                    portal: Arc::new(Portal {
                        prepared,
                        formats: Formats::from_codes(codes),
                        params,
                        sql_level: false,
                        holdable: false,
                    }),
                }
            }
            // Unknown statement: the target answers with its own error; if
            // it knows one the gateway does not, the portal stays unknown
            // and any Execute of it is refused.
            Lookup::Missing | Lookup::Wait => Op::ClosePortal(portal_name),
        };
        // Planning at Bind evaluates functions over constants: errors may
        // quote data, and user code may open or close cursors.
        let (guarded, ran_code) = match &op {
            Op::Bind { portal, .. } => (
                portal.prepared.facts.iter().any(|f| self.guarded(f)),
                portal
                    .prepared
                    .ops
                    .iter()
                    .any(|o| matches!(o, Op::ForgetPortals)),
            ),
            _ => (self.session.mask.has_column_rules(), false),
        };
        let ops = if ran_code {
            vec![Op::ForgetPortals, op]
        } else {
            vec![op]
        };
        self.expect_guarded(Kind::Bind, ops, guarded);
        self.out.raw(&frame);
        Ok(())
    }

    async fn on_execute(&mut self, frame: Bytes) -> io::Result<()> {
        let name = parse_execute(&frame).map_err(protocol_violation)?;
        let portal = match self.shared.portal(name, self.batch) {
            Lookup::Found(portal) => portal,
            Lookup::Missing | Lookup::Wait => {
                if self.batch_refused {
                    // The target skips this Execute anyway; its statement's
                    // refusal is already recorded.
                    self.refuse(
                        Place::Extended,
                        refusal::sqlstate(RefusalClass::Policy),
                        "vigil: refused with its batch",
                    );
                    return Ok(());
                }
                let reason = format!("portal \"{name}\" was not bound through the gateway");
                let text = format!("execute portal \"{name}\"");
                self.refuse_unpolicied(
                    Place::Extended,
                    Unpolicied::step(RefusalClass::Protocol, &text, "execute", &reason),
                )
                .await;
                return Ok(());
            }
        };
        let prepared = &portal.prepared;
        if prepared.facts.is_empty() {
            // An empty statement: EmptyQueryResponse answers it.
            let stmt = self.stmt(None, None, portal.formats.clone(), true, Vec::new());
            let stmt = Stmt { ddl: false, ..stmt };
            self.expect(Kind::Execute(stmt), Vec::new());
            self.out.raw(&frame);
            return Ok(());
        }
        let decision = self
            .guard
            .decide(
                self.session,
                &refusal::actions(&prepared.facts),
                Binding::new(&portal.params).with_hint(&prepared.param_types),
            )
            .await;
        match self.settle(decision).await {
            Ok(Decision::Allowed(permit)) => {
                let guarded = prepared.facts.iter().any(|f| self.guarded(f));
                let stmt = self.stmt(
                    permit.seqs.first().copied(),
                    prepared.mask.clone(),
                    portal.formats.clone(),
                    guarded || portal.sql_level,
                    prepared.ops.clone(),
                );
                let stmt = Stmt {
                    ddl: prepared.facts.iter().any(|f| f.ddl),
                    ..stmt
                };
                self.note_settings(&prepared.facts);
                self.note_copy_in(&prepared.facts);
                self.forward(&permit, &frame, Kind::Execute(stmt), Vec::new());
            }
            Ok(Decision::Refused(r)) => self.refuse_for(Place::Extended, &r),
            Ok(Decision::Held(_)) => self.refuse(
                Place::Extended,
                refusal::sqlstate(RefusalClass::Policy),
                HELD_TWICE,
            ),
            Err(e) => self.refuse_guard_error(Place::Extended, e),
        }
        Ok(())
    }

    fn on_close(&mut self, frame: Bytes) -> io::Result<()> {
        let mut r = MessageReader::new(&frame, "Close");
        let kind = r.u8().map_err(protocol_violation)?;
        let name = r.cstr().map_err(protocol_violation)?.to_string();
        let op = match kind {
            b'S' => Op::CloseStatement(name),
            b'P' => Op::ClosePortal(name),
            _ => return Err(protocol_violation(FrameError::Malformed("Close"))),
        };
        self.expect(Kind::Close, vec![op]);
        self.out.raw(&frame);
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

    /// Whether errors and notices while `facts` runs may quote data the
    /// session must not see: with column rules, anything that reads a
    /// table, calls a function or reads a cursor.
    fn guarded(&self, facts: &SqlFacts) -> bool {
        self.session.mask.has_column_rules() && crate::mask::may_quote_data(facts)
    }

    /// A statement that is not read-only may change settings the target
    /// lexes later text under; the change is reported before ReadyForQuery.
    fn note_settings(&mut self, facts: &[SqlFacts]) {
        if let Some(f) = facts.iter().find(|f| !f.read_only) {
            self.unsettled = Some(self.batch);
            self.unsettled_opaque |= !ops::is_plain_dml(f);
        }
    }

    /// A `COPY ... FROM STDIN` about to be forwarded: until the client ends
    /// its data, a Sync may be ignored by the target (see `Kind::CopySync`).
    fn note_copy_in(&mut self, facts: &[SqlFacts]) {
        if facts.iter().any(|f| f.kind == "copy" && f.writes) {
            self.copy_done_sent = false;
            self.shared.copy_in_expected();
        }
    }

    /// Analyses a statement under the settings the target reads it with.
    /// Err(Some) is a refusal (recorded); Err(None) means the refusal could
    /// not even be recorded.
    async fn analyse(&mut self, text: &str) -> Result<Facts, Option<Refusal>> {
        if let Some(source) = &self.catalog_source {
            let latest = source.current().await;
            if !Arc::ptr_eq(&latest, &self.catalog) {
                self.catalog = latest;
            }
        }
        let analysed = match self.shared.lexing_problem() {
            Some(problem) => Err(format!(
                "the target reads statements under {problem}, which Vigil's analyser does \
                 not reproduce; reconnect to continue"
            )),
            None => self
                .analyses
                .analyze(text, &self.catalog)
                .map_err(|e| e.to_string()),
        };
        let analysed = analysed.and_then(|facts| {
            if facts.len() > MAX_STATEMENTS_PER_MESSAGE {
                return Err(format!(
                    "more than {MAX_STATEMENTS_PER_MESSAGE} statements in one message"
                ));
            }
            match self.copy_unreadable(&facts) {
                Some(problem) => Err(problem),
                None => Ok(facts),
            }
        });
        match analysed {
            Ok(facts) => Ok(facts),
            Err(e) => match self
                .guard
                .refuse(self.session, Unpolicied::unanalysable(text, &e))
                .await
            {
                Ok(r) => Err(Some(r)),
                Err(e) => {
                    tracing::error!(session = %self.session.id, error = %e, "ledger unavailable");
                    Err(None)
                }
            },
        }
    }

    /// A `COPY ... TO` whose data the masker could not read as the target
    /// writes it (an `ENCODING`, an option it does not know): refused in a
    /// session with masks.
    fn copy_unreadable(&self, facts: &[SqlFacts]) -> Option<String> {
        if self.session.mask.is_empty() {
            return None;
        }
        facts
            .iter()
            .filter(|f| f.kind == "copy")
            .find_map(|f| vigil_sql::copy_out_format(&f.text).err())
            .map(|e| format!("the COPY's output cannot be masked: {e}"))
    }

    /// How the rows of one statement are masked, for a session with masks.
    /// `kind` is the statement's `SqlFacts::kind`.
    fn statement_mask(&self, text: &str, kind: &str) -> Option<Arc<StatementMask>> {
        let policy = &self.session.mask;
        if policy.is_empty() {
            return None;
        }
        let lineage = self.lineages.output_lineage(text, &self.catalog);
        // Only a COPY has a copy format: spare every other statement a parse.
        let copy = if kind == "copy" {
            vigil_sql::copy_out_format(text).ok().flatten()
        } else {
            None
        };
        StatementMask::build(policy, lineage, copy)
    }

    /// The only way an analysed statement reaches the target: its answers
    /// are queued first, so the server pump masks its rows.
    fn forward(&mut self, _permit: &Permit, frame: &[u8], kind: Kind, ops: Vec<Op>) {
        self.expect(kind, ops);
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
        self.expect(kind, vec![Op::DropUnnamedStatement]);
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
