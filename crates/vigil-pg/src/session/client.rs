//! Client → target: every statement goes to the guard before it may pass.
//!
//! A refused statement is not answered here: the pump sends the target a
//! marker statement that fails to parse at exactly that place in the stream,
//! and the server pump swaps the target's error for the refusal. The target
//! itself then skips to Sync and reports the right transaction status, so
//! pipelines and transaction blocks behave exactly as after a server error.

mod hold;

use super::End;
use super::shared::Shared;
use crate::mask::{Formats, StatementMask};
use crate::protocol::bind_result_formats;
use crate::protocol::{
    self, FrameError, MAX_CLIENT_MESSAGE, MessageReader, MessageWriter, parse_bind, parse_execute,
    parse_parse, parse_query, peek_header,
};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::watch;
use vigil_core::SqlFacts;
use vigil_guard::{Decision, Guard, GuardError, Permit, Refusal, SessionCtx};
use vigil_sql::{AnalysisCache, Catalog, LineageCache};

/// Named statements and portals a client may keep open at once.
const MAX_PREPARED: usize = 10_000;
/// Messages larger than this that need no inspection are streamed through.
const STREAM_THRESHOLD: usize = 64 * 1024;

type Facts = Arc<[SqlFacts]>;

/// A statement parsed through the gateway: what it does, and how its rows
/// are masked.
#[derive(Clone)]
struct Prepared {
    facts: Facts,
    mask: Option<Arc<StatementMask>>,
    /// The parameter type OIDs Parse declared (for an approval's preview).
    param_types: Arc<[u32]>,
}

/// A bound portal: its statement, and the result formats Bind asked for.
#[derive(Clone)]
struct Portal {
    prepared: Prepared,
    formats: Formats,
    /// Bind's parameter formats and values: an approval binds them.
    params: Bytes,
}

pub struct ClientPump<'a> {
    guard: &'a Guard,
    session: &'a SessionCtx,
    catalog: &'a Catalog,
    analyses: &'a AnalysisCache,
    lineages: &'a LineageCache,
    shared: &'a Shared,
    statements: HashMap<String, Prepared>,
    portals: HashMap<String, Portal>,
    out: MessageWriter,
    /// RFQ-producing messages forwarded so far (see `Shared`).
    batch: u64,
    shutting_down: bool,
    /// An extended-protocol refusal was injected since the last Sync: the
    /// target now skips everything up to Sync, so later messages of the
    /// batch are not separate operations.
    batch_refused: bool,
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
        catalog: &'a Catalog,
        analyses: &'a AnalysisCache,
        lineages: &'a LineageCache,
        shared: &'a Shared,
    ) -> Self {
        Self {
            guard,
            session,
            catalog,
            analyses,
            lineages,
            shared,
            statements: HashMap::new(),
            portals: HashMap::new(),
            out: MessageWriter::new(),
            batch: 0,
            shutting_down: false,
            batch_refused: false,
            cancels: None,
            shutdown: None,
            held: watch::Sender::new(false),
            gone: None,
        }
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
                    let frame = buf.split_to(total).freeze();
                    let handled = self.handle(tag, frame);
                    if let Some(end) =
                        hold::watching_client(handled, client, &mut buf, &mut held, &gone).await?
                    {
                        upstream.write_all(&self.out.take()).await?;
                        return Ok(end);
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

    /// Handles one whole client message; Some(end) closes the session.
    async fn handle(&mut self, tag: u8, frame: Bytes) -> io::Result<Option<End>> {
        match tag {
            b'Q' => self.on_query(frame).await?,
            b'P' => self.on_parse(frame).await?,
            b'B' => self.on_bind(frame)?,
            b'E' => self.on_execute(frame).await?,
            b'C' => self.on_close(frame)?,
            b'S' => {
                self.batch_refused = false;
                self.out.raw(&frame);
                self.batch += 1;
            }
            b'D' | b'H' | b'd' | b'c' | b'f' => self.out.raw(&frame),
            b'F' => {
                // Fast-path function calls name a function by OID with no SQL
                // to analyse (lo_import, ...): refused, fail closed.
                self.refuse_unpolicied(
                    Place::Simple,
                    "42501",
                    "fast-path function call",
                    "function_call",
                    "protocol",
                    "fast-path function calls are not allowed",
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

    async fn on_query(&mut self, frame: Bytes) -> io::Result<()> {
        let text = parse_query(&frame).map_err(protocol_violation)?;
        match self.analyse(text).await {
            Ok(facts) if facts.is_empty() => self.out.raw(&frame),
            Ok(facts) => match self
                .settle(self.guard.decide_sql(self.session, &facts).await)
                .await
            {
                Ok(Decision::Allowed(permit)) => {
                    let masks: Vec<_> = facts
                        .iter()
                        .map(|f| self.statement_mask(&f.text, &f.kind))
                        .collect();
                    self.forward(Place::Simple, &permit, &frame, &masks, Formats::AllText)
                }
                Ok(Decision::Refused(r)) => self.refuse(Place::Simple, "42501", &r.message()),
                Ok(Decision::Held(_)) => self.refuse(Place::Simple, "42501", HELD_TWICE),
                Err(e) => self.refuse_guard_error(Place::Simple, e),
            },
            Err(Some(r)) => self.refuse(Place::Simple, "42501", &r.message()),
            Err(None) => self.refuse(Place::Simple, "58000", LEDGER_DOWN),
        }
        self.batch += 1;
        Ok(())
    }

    async fn on_parse(&mut self, frame: Bytes) -> io::Result<()> {
        let parse = parse_parse(&frame).map_err(protocol_violation)?;
        let name = parse.statement.to_string();
        let facts = match self.analyse(parse.query).await {
            Ok(facts) => facts,
            Err(Some(r)) => {
                self.refuse(Place::Extended, "42501", &r.message());
                return Ok(());
            }
            Err(None) => {
                self.refuse(Place::Extended, "58000", LEDGER_DOWN);
                return Ok(());
            }
        };
        // Parse runs nothing, so an allowed statement is recorded when it is
        // executed; a refused one is recorded now, with its refusal.
        if self.guard.preview_sql(self.session, &facts).is_some() {
            match self.guard.decide_sql(self.session, &facts).await {
                Ok(Decision::Refused(r)) => {
                    self.refuse(Place::Extended, "42501", &r.message());
                    return Ok(());
                }
                Ok(Decision::Allowed(_)) => {}
                Ok(Decision::Held(_)) => {
                    self.refuse(Place::Extended, "42501", HELD_TWICE);
                    return Ok(());
                }
                Err(e) => {
                    self.refuse_guard_error(Place::Extended, e);
                    return Ok(());
                }
            }
        }
        if !name.is_empty()
            && self.statements.len() >= MAX_PREPARED
            && !self.statements.contains_key(&name)
        {
            let reason = format!("more than {MAX_PREPARED} prepared statements");
            self.refuse_unpolicied(
                Place::Extended,
                "53400",
                parse.query,
                "prepare",
                "limits",
                &reason,
            )
            .await;
            return Ok(());
        }
        let mask = match facts.len() {
            1 => self.statement_mask(parse.query, &facts[0].kind),
            _ => StatementMask::unknown(&self.session.mask),
        };
        let param_types = hold::parse_param_types(&frame);
        self.statements.insert(
            name,
            Prepared {
                facts,
                mask,
                param_types,
            },
        );
        self.out.raw(&frame);
        Ok(())
    }

    fn on_bind(&mut self, frame: Bytes) -> io::Result<()> {
        let bind = parse_bind(&frame).map_err(protocol_violation)?;
        match self.statements.get(bind.statement) {
            Some(prepared)
                if bind.portal.is_empty()
                    || self.portals.len() < MAX_PREPARED
                    || self.portals.contains_key(bind.portal) =>
            {
                let formats = Formats::from_codes(
                    bind_result_formats(bind.rest).map_err(protocol_violation)?,
                );
                let results = 2 + 2 * formats_len(bind.rest);
                let params =
                    Bytes::copy_from_slice(&bind.rest[..bind.rest.len().saturating_sub(results)]);
                let portal = Portal {
                    prepared: prepared.clone(),
                    formats,
                    params,
                };
                self.portals.insert(bind.portal.to_string(), portal);
            }
            // Unknown statement: the target answers with its own error. Any
            // Execute of this portal is refused below, since it is unknown.
            _ => {
                self.portals.remove(bind.portal);
            }
        }
        self.out.raw(&frame);
        Ok(())
    }

    async fn on_execute(&mut self, frame: Bytes) -> io::Result<()> {
        let portal = parse_execute(&frame).map_err(protocol_violation)?;
        let Some(Portal {
            prepared,
            formats,
            params,
        }) = self.portals.get(portal).cloned()
        else {
            if self.batch_refused {
                // The target skips this Execute anyway; its statement's refusal
                // is already recorded.
                self.refuse(Place::Extended, "42501", "vigil: refused with its batch");
                return Ok(());
            }
            let reason = format!("portal \"{portal}\" was not bound through the gateway");
            let text = format!("execute portal \"{portal}\"");
            self.refuse_unpolicied(
                Place::Extended,
                "42501",
                &text,
                "execute",
                "protocol",
                &reason,
            )
            .await;
            return Ok(());
        };
        if prepared.facts.is_empty() {
            self.out.raw(&frame);
            return Ok(());
        }
        let decision = self
            .guard
            .decide_sql_typed(
                self.session,
                &prepared.facts,
                &params,
                &prepared.param_types,
            )
            .await;
        match self.settle(decision).await {
            Ok(Decision::Allowed(permit)) => {
                self.forward(Place::Extended, &permit, &frame, &[prepared.mask], formats)
            }
            Ok(Decision::Refused(r)) => self.refuse(Place::Extended, "42501", &r.message()),
            Ok(Decision::Held(_)) => self.refuse(Place::Extended, "42501", HELD_TWICE),
            Err(e) => self.refuse_guard_error(Place::Extended, e),
        }
        Ok(())
    }

    fn on_close(&mut self, frame: Bytes) -> io::Result<()> {
        let mut r = MessageReader::new(&frame, "Close");
        let kind = r.u8().map_err(protocol_violation)?;
        let name = r.cstr().map_err(protocol_violation)?;
        if kind == b'S' {
            self.statements.remove(name);
        } else {
            self.portals.remove(name);
        }
        self.out.raw(&frame);
        Ok(())
    }

    /// Analyses a statement. Err(Some) is a refusal (recorded); Err(None)
    /// means the refusal could not even be recorded.
    async fn analyse(&self, text: &str) -> Result<Facts, Option<Refusal>> {
        match self.analyses.analyze(text, self.catalog) {
            Ok(facts) => Ok(facts),
            Err(e) => match self
                .guard
                .refuse_unanalysable(self.session, text, &e.to_string())
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

    /// How the rows of one statement are masked, for a session with masks.
    /// `kind` is the statement's `SqlFacts::kind`.
    fn statement_mask(&self, text: &str, kind: &str) -> Option<Arc<StatementMask>> {
        let policy = &self.session.mask;
        if policy.is_empty() {
            return None;
        }
        let lineage = self.lineages.output_lineage(text, self.catalog);
        // Only a COPY has a copy format: spare every other statement a parse.
        let copy = if kind == "copy" {
            vigil_sql::copy_out_format(text).ok().flatten()
        } else {
            None
        };
        StatementMask::build(policy, lineage, copy)
    }

    /// The only way an analysed statement reaches the target. Each statement
    /// is queued with its mask so the server pump masks its rows; if the
    /// queue cannot take a masked statement, it is refused instead.
    fn forward(
        &mut self,
        place: Place,
        permit: &Permit,
        frame: &[u8],
        masks: &[Option<Arc<StatementMask>>],
        formats: Formats,
    ) {
        for (i, &seq) in permit.seqs.iter().enumerate() {
            let mask = masks.get(i).cloned().flatten();
            if !self
                .shared
                .push_in_flight(seq, self.batch, mask, formats.clone())
            {
                let r = Refusal {
                    rule: "limits".into(),
                    reason: "too many statements in flight on this session".into(),
                };
                self.refuse(place, "53400", &r.message());
                return;
            }
        }
        self.out.raw(frame);
    }

    /// A refusal policy cannot express (protocol step, resource limit): the
    /// guard records it, and the client gets it in stream like any other.
    async fn refuse_unpolicied(
        &mut self,
        place: Place,
        code: &str,
        text: &str,
        kind: &str,
        rule: &str,
        reason: &str,
    ) {
        match self
            .guard
            .refuse_unpolicied(self.session, text, kind, rule, reason)
            .await
        {
            Ok(r) => self.refuse(place, code, &r.message()),
            Err(e) => self.refuse_guard_error(place, e),
        }
    }

    fn refuse_guard_error(&mut self, place: Place, e: GuardError) {
        tracing::error!(session = %self.session.id, error = %e, "statement refused: guard failed");
        self.refuse(place, "58000", LEDGER_DOWN);
    }

    /// Sends the target a marker statement that fails right here; the server
    /// pump answers the client with `message` in place of that failure.
    fn refuse(&mut self, place: Place, code: &str, message: &str) {
        if matches!(place, Place::Extended) {
            self.batch_refused = true;
        }
        let mut nonce = [0u8; 8];
        let _ = aws_lc_rs::rand::fill(&mut nonce);
        let marker = format!("vigil_refused_{}", hex::encode(nonce));
        let mut error = MessageWriter::new();
        error.error("ERROR", code, message);
        if !self
            .shared
            .push_denial(marker.clone(), error.take().freeze(), self.batch)
        {
            // Too many refusals in flight: still refused, with the target's own error.
            tracing::warn!(session = %self.session.id, "refusal queue full");
        }
        match place {
            Place::Simple => self.out.query(&marker),
            Place::Extended => self.out.parse("", &marker, &[]),
        }
    }
}

const HELD_TWICE: &str = "vigil: denied by rule 'approvals': the statement could not be held";

/// How many result format codes a Bind's tail carries (0 when malformed:
/// the target then rejects the Bind itself).
fn formats_len(rest: &[u8]) -> usize {
    bind_result_formats(rest).map(|f| f.len()).unwrap_or(0)
}

const LEDGER_DOWN: &str =
    "vigil: the audit ledger is unavailable, so the statement was not forwarded";

fn protocol_violation(e: FrameError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}
