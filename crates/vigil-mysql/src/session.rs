//! One logged-in MySQL session: read a command, decide it with the guard,
//! forward it only with the permit, relay (and mask) the answer, record the
//! outcome. The protocol is request/response, so one loop owns everything.
//! Prepared statements (COM_STMT_*) are in `prepared`, the commands that
//! run no statement (PING, SET_OPTION, RESET_CONNECTION) in `control`.

mod control;
mod prepared;

use crate::backend::{self, BaseTables, SessionState, Upstream};
use crate::client_out::{ClientOut, Eofs};
use crate::error::Result;
use crate::packet::{Packet, Reader, frame};
use crate::refusal;
use crate::relay;
use crate::statements::Statements;
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use vigil_core::{ActionKind, SqlFacts, StatementOutcome};
use vigil_guard::{Binding, Decision, Guard, Permit, RefusalClass, SessionCtx, Unpolicied};
use vigil_mysql_sql::{Analysed, Effect, Lineage};

/// The largest command a client may send (a statement with its data).
pub const MAX_CLIENT_PACKET: usize = 64 * 1024 * 1024;

/// A client connection, plain or TLS.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {
    /// The TCP stream itself, to start TLS on it.
    fn into_tcp(self: Box<Self>) -> Option<TcpStream> {
        None
    }
}

impl Io for TcpStream {
    fn into_tcp(self: Box<Self>) -> Option<TcpStream> {
        Some(*self)
    }
}

impl Io for tokio_rustls::server::TlsStream<crate::prefixed::Prefixed> {}

/// What a logged-in session starts with.
pub struct SessionParts {
    pub client: Box<dyn Io>,
    pub reader: Reader,
    pub upstream: Upstream,
    pub session: SessionCtx,
    pub state: SessionState,
    /// With column mask rules: the target's base tables (see
    /// `backend::read_base_tables`); `None` proves no source.
    pub base_tables: Option<BaseTables>,
    /// Whether the target reads several statements in one COM_QUERY: the
    /// capability at login, then what COM_SET_OPTION the target confirmed.
    pub multi_statements: bool,
    /// How EOF packets reach this client (`CLIENT_DEPRECATE_EOF`).
    pub eofs: Eofs,
    /// The listener's statement analyses, shared by its sessions.
    pub analyses: std::sync::Arc<vigil_mysql_sql::AnalysisCache>,
}

mod com {
    pub const QUIT: u8 = 0x01;
    pub const INIT_DB: u8 = 0x02;
    pub const QUERY: u8 = 0x03;
    pub const PING: u8 = 0x0e;
    pub const SET_OPTION: u8 = 0x1b;
    pub const STMT_PREPARE: u8 = 0x16;
    pub const STMT_EXECUTE: u8 = 0x17;
    pub const STMT_SEND_LONG_DATA: u8 = 0x18;
    pub const STMT_CLOSE: u8 = 0x19;
    pub const STMT_RESET: u8 = 0x1a;
    pub const RESET_CONNECTION: u8 = 0x1f;
    pub const STMT_FETCH: u8 = 0x1c;
}

enum Next {
    Continue,
    Stop,
}

struct Session<'a> {
    guard: &'a Guard,
    parts: SessionParts,
    statements: Statements,
}

pub async fn run(guard: &Guard, parts: SessionParts, mut shutdown: watch::Receiver<bool>) {
    let mut s = Session {
        guard,
        parts,
        statements: Statements::default(),
    };
    tracing::debug!(
        session = %s.parts.session.id,
        principal = %s.parts.session.principal.name,
        deprecate_eof = s.parts.eofs == Eofs::Deprecated,
        multi_statements = s.parts.multi_statements,
        "mysql client capabilities in force"
    );
    loop {
        let read = {
            let p = &mut s.parts;
            tokio::select! {
                r = p.reader.read(&mut p.client, MAX_CLIENT_PACKET, true) => r,
                _ = shutdown.changed() => break,
            }
        };
        let packet = match read {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(e) => {
                tracing::info!(session = %s.parts.session.id, error = %e, "client connection ended");
                break;
            }
        };
        match s.command(packet).await {
            Ok(Next::Continue) => {}
            Ok(Next::Stop) => break,
            Err(e) => {
                tracing::warn!(session = %s.parts.session.id, error = %e, "session ended");
                break;
            }
        }
    }
    let _ = s.parts.client.shutdown().await;
    s.guard.close_session(&s.parts.session).await;
}

impl Session<'_> {
    async fn command(&mut self, packet: Packet) -> Result<Next> {
        let seq = packet.last_seq.wrapping_add(1);
        let payload = packet.payload;
        let Some(&command) = payload.first() else {
            return Ok(Next::Stop);
        };
        match command {
            com::QUIT => Ok(Next::Stop),
            com::PING => self.ping(seq).await,
            com::SET_OPTION => self.set_option(&payload, seq).await,
            com::RESET_CONNECTION => self.reset_connection(seq).await,
            com::INIT_DB => {
                let db = String::from_utf8_lossy(&payload[1..]).into_owned();
                let facts = SqlFacts {
                    kind: "use".into(),
                    read_only: true,
                    text: format!("USE `{}`", db.replace('`', "``")),
                    ..SqlFacts::default()
                };
                let analysed = vec![Analysed {
                    facts,
                    lineage: Lineage::NoRows,
                    effect: Effect::Database(db),
                }];
                self.statements(&payload, seq, analysed).await
            }
            com::QUERY => self.query(&payload, seq).await,
            com::STMT_PREPARE => self.prepare(&payload, seq).await,
            com::STMT_EXECUTE => self.execute(payload, seq).await,
            com::STMT_SEND_LONG_DATA => self.send_long_data(payload).await,
            com::STMT_CLOSE => self.close_statement(payload).await,
            com::STMT_RESET => self.reset_statement(payload, seq).await,
            com::STMT_FETCH => self.fetch(payload, seq).await,
            other => {
                let (kind, what) = match other {
                    0x11 => (
                        "change_user",
                        "COM_CHANGE_USER is not supported: reconnect with another token",
                    ),
                    0xfa => (
                        "prepared",
                        "COM_STMT_BULK_EXECUTE is not supported (execute once per row)",
                    ),
                    0x04 => (
                        "field_list",
                        "COM_FIELD_LIST is not supported (use SHOW COLUMNS; mariadb -A)",
                    ),
                    _ => ("command", "this command is not supported by Vigil"),
                };
                self.unsupported(seq, kind, what).await
            }
        }
    }

    /// Analyses a statement text under the session's state, as the target
    /// will read it (COM_QUERY and COM_STMT_PREPARE alike).
    fn analyse(&self, text: &[u8]) -> std::result::Result<Vec<Analysed>, String> {
        crate::analysis::analyse(
            text,
            &self.parts.state,
            self.parts.upstream.target,
            self.parts.session.mask.has_column_rules(),
            Some(&self.parts.analyses),
        )
    }

    async fn query(&mut self, payload: &[u8], seq: u8) -> Result<Next> {
        let text = &payload[1..];
        let analysed = match self.analyse(text) {
            Ok(a) if a.is_empty() => Err("empty statement".to_string()),
            Ok(a) => {
                // A statement that changes how text is read must be the
                // last of its message: the ones after it were analysed
                // under the old reading.
                let n = a.len();
                if a.iter().take(n - 1).any(|s| s.effect == Effect::Lexing) {
                    Err(
                        "a statement that changes sql_mode or the character set must be sent alone"
                            .into(),
                    )
                } else if n > 1 && !self.parts.multi_statements {
                    Err("several statements in one message, but multi-statements are off".into())
                } else {
                    Ok(a)
                }
            }
            Err(e) => Err(e),
        };
        match analysed {
            Ok(a) => self.statements(payload, seq, a).await,
            Err(why) => {
                let shown = String::from_utf8_lossy(text);
                self.refuse_unpolicied(seq, Unpolicied::unanalysable(&shown, &why))
                    .await?;
                Ok(Next::Continue)
            }
        }
    }

    /// Records a refusal policy could not speak about and answers it.
    async fn refuse_unpolicied(&mut self, seq: u8, what: Unpolicied<'_>) -> Result<()> {
        let err = match self.guard.refuse(&self.parts.session, what).await {
            Ok(r) => refusal::packet(&r),
            Err(_) => refusal::ledger_down(),
        };
        self.answer_client(seq, &err).await
    }

    /// The guard's decision on `actions`: a review rule holds until a
    /// reviewer answers; a refusal is answered to the client (`None`).
    async fn permit(
        &mut self,
        seq: u8,
        actions: &[ActionKind],
        binding: Binding<'_>,
    ) -> Result<Option<Permit>> {
        let session = &self.parts.session;
        let decision = match self.guard.decide(session, actions, binding).await {
            Ok(Decision::Held(hold)) => {
                tracing::info!(session = %session.id, approval = %hold.approval.id, "statement held for approval");
                self.guard
                    .await_approval(session, hold, std::future::pending())
                    .await
            }
            other => other,
        };
        match decision {
            Ok(Decision::Allowed(permit)) => Ok(Some(permit)),
            Ok(Decision::Refused(r)) => {
                self.answer_client(seq, &refusal::packet(&r)).await?;
                Ok(None)
            }
            Ok(Decision::Held(_)) | Err(_) => {
                self.answer_client(seq, &refusal::ledger_down()).await?;
                Ok(None)
            }
        }
    }

    /// Records how each permitted statement ended.
    async fn record(&mut self, permit: &Permit, ends: Vec<relay::ResultEnd>, started: Instant) {
        let duration_us = started.elapsed().as_micros() as u64;
        for (statement_seq, end) in permit.seqs.iter().zip(ends) {
            let outcome = StatementOutcome {
                statement_seq: *statement_seq,
                duration_us,
                tag: end.tag,
                error_code: end.error,
                masking: end.masking,
            };
            self.guard
                .statement_done(&self.parts.session, outcome)
                .await;
        }
    }

    /// Decides the statements of one command, forwards it with the permit,
    /// relays the answer and records each outcome.
    async fn statements(
        &mut self,
        payload: &[u8],
        seq: u8,
        analysed: Vec<Analysed>,
    ) -> Result<Next> {
        let actions: Vec<ActionKind> = analysed
            .iter()
            .map(|a| ActionKind::Sql(a.facts.clone()))
            .collect();
        let Some(permit) = self.permit(seq, &actions, Binding::NONE).await? else {
            return Ok(Next::Continue);
        };
        let started = Instant::now();
        forward(&mut self.parts.upstream, &permit, payload).await?;
        let lineages: Vec<Lineage> = analysed.iter().map(|a| a.lineage.clone()).collect();
        let out = self.client_out(seq);
        let ends = relay::answer(
            &mut self.parts.upstream,
            &mut self.parts.client,
            out,
            &self.parts.session.mask,
            &lineages,
            self.parts.base_tables.as_ref(),
            relay::Rows::Text,
        )
        .await?;
        self.record(&permit, ends, started).await;
        if analysed.iter().any(|a| a.effect != Effect::None) {
            self.refresh().await?;
        }
        Ok(Next::Continue)
    }

    /// Where an answer numbered from `seq` is written for this client.
    fn client_out(&self, seq: u8) -> ClientOut {
        ClientOut::new(seq, self.parts.eofs)
    }

    /// Refuses a command policy cannot speak about, recorded in the ledger.
    async fn unsupported(&mut self, seq: u8, kind: &str, what: &str) -> Result<Next> {
        let step = Unpolicied::step(RefusalClass::Unsupported, kind, kind, what);
        self.refuse_unpolicied(seq, step).await?;
        Ok(Next::Continue)
    }

    /// Re-reads the database and lexing state from the target.
    async fn refresh(&mut self) -> Result<()> {
        self.parts.state = backend::read_state(&mut self.parts.upstream).await?;
        if self.parts.session.mask.has_column_rules() {
            self.parts.base_tables = backend::read_base_tables(&mut self.parts.upstream).await?;
        }
        if let Err(why) = &self.parts.state.mode {
            tracing::warn!(session = %self.parts.session.id, %why, "the session now lexes text in a way Vigil does not reproduce; statements are refused");
        }
        Ok(())
    }

    async fn answer_client(&mut self, seq: u8, payload: &[u8]) -> Result<()> {
        let mut s = seq;
        crate::frontend::send(&mut self.parts.client, &mut s, payload).await?;
        Ok(())
    }
}

/// Sends a client's command to the target: only with the guard's permit.
async fn forward(up: &mut Upstream, _permit: &Permit, payload: &[u8]) -> Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    let mut seq = 0;
    frame(&mut out, &mut seq, payload);
    up.io.write_all(&out).await?;
    Ok(())
}
