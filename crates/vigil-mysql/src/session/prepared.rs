//! Prepared statements (COM_STMT_*), with the two rules every front-end
//! keeps:
//!
//! - **Decide before forwarding.** PREPARE is analysed exactly as COM_QUERY
//!   text is; a statement policy would refuse is refused there (recorded,
//!   nothing sent). PREPARE itself runs nothing, so an allowed one is
//!   recorded when it runs: every EXECUTE is decided again with a permit
//!   (policy may depend on time or session; a `review` rule holds it, bound
//!   to its parameter values).
//! - **Follow the target.** An id enters [`Statements`] only from the
//!   target's COM_STMT_PREPARE_OK; CLOSE removes it when forwarded; RESET,
//!   SEND_LONG_DATA, FETCH and EXECUTE of an id Vigil does not hold are
//!   refused (or, for the two commands the target never answers, dropped).
//!   MariaDB's id 0xFFFFFFFF ("the last prepared") is rewritten to the last
//!   id the target confirmed, so both sides mean the same statement.

use super::{Next, Session, forward};
use crate::client_out::Part;
use crate::error::Result;
use crate::mask;
use crate::mask_binary;
use crate::packet::frame;
use crate::relay;
use crate::statements::Prepared;
use crate::wire::Cursor;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use vigil_core::{ActionKind, StatementOutcome};
use vigil_guard::{Binding, Decision, RefusalClass, Unpolicied};
use vigil_mysql_sql::Effect;

/// COM_STMT_EXECUTE flags Vigil relays: no cursor, a read-only cursor.
const CURSOR_NONE: u8 = 0;
const CURSOR_READ_ONLY: u8 = 1;
const COM_STMT_CLOSE: u8 = 0x19;

impl Session<'_> {
    pub(super) async fn prepare(&mut self, payload: &[u8], seq: u8) -> Result<Next> {
        let text = payload.get(1..).unwrap_or_default();
        let shown = String::from_utf8_lossy(text).into_owned();
        // Until the target confirms this one, "the last prepared" names
        // nothing: never an older statement the client did not mean.
        self.statements.forget_last();
        let analysed = match self.analyse(text) {
            Ok(mut a) if a.len() == 1 => a.pop().ok_or_else(String::new),
            Ok(a) if a.is_empty() => Err("empty statement".to_string()),
            Ok(_) => Err("a prepared statement must be one statement".to_string()),
            Err(e) => Err(e),
        };
        let analysed = match analysed {
            Ok(a) => a,
            Err(why) => {
                let step = Unpolicied::unanalysable(&shown, &why);
                self.refuse_unpolicied(seq, step).await?;
                return Ok(Next::Continue);
            }
        };
        if let Some(why) = self.statements.over_limit(text.len()) {
            let step = Unpolicied::step(RefusalClass::Limit, &shown, "prepare", &why);
            self.refuse_unpolicied(seq, step).await?;
            return Ok(Next::Continue);
        }
        // An allowed PREPARE is recorded when it is executed; a refused one
        // now, with its refusal.
        let actions = [ActionKind::Sql(analysed.facts.clone())];
        let session = &self.parts.session;
        if self.guard.would_refuse(session, &actions).is_some() {
            match self.guard.decide(session, &actions, Binding::NONE).await {
                Ok(Decision::Allowed(_)) => {}
                Ok(Decision::Refused(r)) => {
                    self.answer_client(seq, &crate::refusal::packet(&r)).await?;
                    return Ok(Next::Continue);
                }
                Ok(Decision::Held(_)) => {
                    // Policy changed between the two looks: prepare again.
                    let err = crate::wire::err_packet(
                        1227,
                        "42000",
                        "vigil: this statement now needs a review; prepare it again",
                    );
                    self.answer_client(seq, &err).await?;
                    return Ok(Next::Continue);
                }
                Err(_) => {
                    self.answer_client(seq, &crate::refusal::ledger_down())
                        .await?;
                    return Ok(Next::Continue);
                }
            }
        }
        send_step(&mut self.parts.upstream, payload).await?;
        let answer = crate::prepare_ok::read(&mut self.parts.upstream).await?;
        let Some(ok) = answer.ok else {
            // An error: the target prepared nothing. Its text is withheld
            // in a masked session, as a query's is.
            let errors = crate::error_text::ErrorText::of(&self.parts.session.mask);
            let packets: Vec<Part> = answer
                .packets
                .iter()
                .map(|p| match p {
                    Part::Packet(p) => Part::Packet(errors.packet(p).into_owned()),
                    other => other.clone(),
                })
                .collect();
            self.relay_packets(seq, &packets).await?;
            return Ok(Next::Continue);
        };
        // The result's columns as the target describes them: a masked
        // column it could not carry refuses the statement now.
        let plan = mask::plan(
            &self.parts.session.mask,
            Some(&analysed.lineage),
            &ok.columns,
            self.parts.base_tables.as_ref(),
        );
        if let Some(column) = plan.and_then(|p| mask_binary::check(&p, &ok.columns).err()) {
            let mut close = vec![COM_STMT_CLOSE];
            close.extend_from_slice(&ok.id.to_le_bytes());
            send_step(&mut self.parts.upstream, &close).await?;
            let why = format!(
                "column {} of the result must be masked, but its type cannot carry a mask and it \
                 is NOT NULL",
                column + 1
            );
            let step = Unpolicied::step(RefusalClass::Unsupported, &shown, "prepare", &why);
            self.refuse_unpolicied(seq, step).await?;
            return Ok(Next::Continue);
        }
        self.statements
            .confirmed(ok.id, Prepared::new(analysed, text.len()));
        tracing::debug!(
            session = %self.parts.session.id,
            statements = self.statements.len(),
            bytes = self.statements.bytes(),
            "prepared statement confirmed by the target"
        );
        self.relay_packets(seq, &answer.packets).await?;
        Ok(Next::Continue)
    }

    pub(super) async fn execute(&mut self, mut payload: Vec<u8>, seq: u8) -> Result<Next> {
        let mut c = Cursor::new(payload.get(1..).unwrap_or_default());
        let (Some(asked), Some(flags), Some(_iterations)) = (c.u32(), c.u8(), c.u32()) else {
            return self
                .protocol_refusal(seq, "execute", "a short COM_STMT_EXECUTE")
                .await;
        };
        let Some(id) = self.statements.resolve(asked) else {
            return self.unknown_statement(seq, "execute", asked).await;
        };
        if flags != CURSOR_NONE && flags != CURSOR_READ_ONLY {
            return self
                .unsupported(
                    seq,
                    "execute",
                    "COM_STMT_EXECUTE with a cursor type other than read-only",
                )
                .await;
        }
        let Some(prepared) = self.statements.get_mut(id) else {
            return self.unknown_statement(seq, "execute", asked).await;
        };
        let analysed = prepared.analysed.clone();
        // An approval covers these parameter values (and long data sent for
        // them), not the statement with any values.
        let mut bound = payload.get(10..).unwrap_or_default().to_vec();
        if let Some(long) = prepared.long_data.clone() {
            bound.extend_from_slice(long.finish().as_ref());
        }
        prepared.cursor = None;
        let actions = [ActionKind::Sql(analysed.facts.clone())];
        let Some(permit) = self.permit(seq, &actions, Binding::new(&bound)).await? else {
            return Ok(Next::Continue);
        };
        rewrite_id(&mut payload, id);
        let started = Instant::now();
        forward(&mut self.parts.upstream, &permit, &payload).await?;
        if let Some(p) = self.statements.get_mut(id) {
            // The target drops long data once it executes.
            p.long_data = None;
        }
        let out = self.client_out(seq);
        let mut ends = relay::answer(
            &mut self.parts.upstream,
            &mut self.parts.client,
            out,
            &self.parts.session.mask,
            std::slice::from_ref(&analysed.lineage),
            self.parts.base_tables.as_ref(),
            relay::Rows::Binary,
        )
        .await?;
        let refused: Vec<String> = ends.iter_mut().filter_map(|e| e.refused.take()).collect();
        if let Some(mut cursor) = ends.first_mut().and_then(|e| e.cursor.take())
            && let Some(p) = self.statements.get_mut(id)
        {
            cursor.statement_seq = permit.seqs.first().copied();
            p.cursor = Some(cursor);
        }
        self.record(&permit, ends, started).await;
        for why in refused {
            // The client already has its error; this is the ledger's copy.
            let step = Unpolicied::step(
                RefusalClass::Unsupported,
                &analysed.facts.text,
                "execute",
                &why,
            );
            if let Err(e) = self.guard.refuse(&self.parts.session, step).await {
                tracing::error!(session = %self.parts.session.id, error = %e, "could not record a refused result");
            }
        }
        if analysed.effect != Effect::None {
            self.refresh().await?;
        }
        Ok(Next::Continue)
    }

    /// COM_STMT_SEND_LONG_DATA: no answer exists, so an unknown id is
    /// dropped (its EXECUTE will be refused anyway).
    pub(super) async fn send_long_data(&mut self, mut payload: Vec<u8>) -> Result<Next> {
        let asked = statement_id(&payload);
        let Some((id, p)) = asked
            .and_then(|a| self.statements.resolve(a))
            .and_then(|id| Some((id, self.statements.get_mut(id)?)))
        else {
            tracing::info!(session = %self.parts.session.id, "long data for a statement Vigil does not hold was dropped");
            return Ok(Next::Continue);
        };
        let data = payload.get(5..).unwrap_or_default();
        let digest = p
            .long_data
            .get_or_insert_with(|| aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256));
        digest.update(&(data.len() as u64).to_le_bytes());
        digest.update(data);
        rewrite_id(&mut payload, id);
        send_step(&mut self.parts.upstream, &payload).await?;
        Ok(Next::Continue)
    }

    /// COM_STMT_CLOSE: the target never answers; the id is gone once sent.
    pub(super) async fn close_statement(&mut self, mut payload: Vec<u8>) -> Result<Next> {
        let Some(id) = statement_id(&payload).and_then(|a| self.statements.resolve(a)) else {
            return Ok(Next::Continue);
        };
        self.statements.close(id);
        rewrite_id(&mut payload, id);
        send_step(&mut self.parts.upstream, &payload).await?;
        Ok(Next::Continue)
    }

    /// COM_STMT_RESET: drops long data and the open cursor on the target.
    pub(super) async fn reset_statement(&mut self, mut payload: Vec<u8>, seq: u8) -> Result<Next> {
        let asked = statement_id(&payload).unwrap_or_default();
        let Some(id) = self.statements.resolve(asked) else {
            return self.unknown_statement(seq, "reset", asked).await;
        };
        if let Some(p) = self.statements.get_mut(id) {
            p.long_data = None;
            p.cursor = None;
        }
        rewrite_id(&mut payload, id);
        send_step(&mut self.parts.upstream, &payload).await?;
        let out = self.client_out(seq);
        relay::answer(
            &mut self.parts.upstream,
            &mut self.parts.client,
            out,
            &self.parts.session.mask,
            &[],
            None,
            relay::Rows::Binary,
        )
        .await?;
        Ok(Next::Continue)
    }

    /// COM_STMT_FETCH: rows of the cursor an allowed EXECUTE opened,
    /// masked by that EXECUTE's plan.
    pub(super) async fn fetch(&mut self, mut payload: Vec<u8>, seq: u8) -> Result<Next> {
        let asked = statement_id(&payload).unwrap_or_default();
        let Some(id) = self.statements.resolve(asked) else {
            return self.unknown_statement(seq, "fetch", asked).await;
        };
        let Some(cursor) = self.statements.get(id).and_then(|p| p.cursor.as_ref()) else {
            return self
                .protocol_refusal(seq, "fetch", "COM_STMT_FETCH without an open cursor")
                .await;
        };
        rewrite_id(&mut payload, id);
        let started = Instant::now();
        send_step(&mut self.parts.upstream, &payload).await?;
        let out = crate::client_out::ClientOut::new(seq, self.parts.eofs);
        let end = relay::fetch(
            &mut self.parts.upstream,
            &mut self.parts.client,
            out,
            cursor,
            crate::error_text::ErrorText::of(&self.parts.session.mask),
        )
        .await?;
        // The rows were the EXECUTE's: their masking is recorded against it.
        if let Some(statement_seq) = cursor.statement_seq {
            let outcome = StatementOutcome {
                statement_seq,
                duration_us: started.elapsed().as_micros() as u64,
                tag: end.tag.map(|t| t.replacen("SELECT", "FETCH", 1)),
                error_code: end.error,
                masking: end.masking,
            };
            self.guard
                .statement_done(&self.parts.session, outcome)
                .await;
        }
        Ok(Next::Continue)
    }

    async fn unknown_statement(&mut self, seq: u8, kind: &str, asked: u32) -> Result<Next> {
        let text = format!("{kind} statement {asked}");
        let step = Unpolicied::step(
            RefusalClass::Protocol,
            &text,
            kind,
            "no statement with this id is prepared (it was never prepared through Vigil, or it \
             was closed)",
        );
        self.refuse_unpolicied(seq, step).await?;
        Ok(Next::Continue)
    }

    async fn protocol_refusal(&mut self, seq: u8, kind: &str, why: &str) -> Result<Next> {
        let step = Unpolicied::step(RefusalClass::Protocol, kind, kind, why);
        self.refuse_unpolicied(seq, step).await?;
        Ok(Next::Continue)
    }

    /// Sends the target's packets to the client, renumbered from `seq`.
    async fn relay_packets(&mut self, seq: u8, packets: &[Part]) -> Result<()> {
        let mut out = self.client_out(seq);
        for p in packets {
            out.part(p)?;
        }
        out.finish(&mut self.parts.client).await
    }
}

/// The statement id every COM_STMT_* carries right after the command byte.
fn statement_id(payload: &[u8]) -> Option<u32> {
    Cursor::new(payload.get(1..)?).u32()
}

/// Writes the resolved id over the client's (which may be 0xFFFFFFFF).
fn rewrite_id(payload: &mut [u8], id: u32) {
    if let Some(b) = payload.get_mut(1..5) {
        b.copy_from_slice(&id.to_le_bytes());
    }
}

/// Sends a statement command that runs nothing by itself: PREPARE only
/// parses (its EXECUTEs carry their own permits), CLOSE/RESET/
/// SEND_LONG_DATA act on a held statement, FETCH reads rows of an EXECUTE
/// that had its permit. Statement execution goes through `forward`.
async fn send_step(up: &mut crate::backend::Upstream, payload: &[u8]) -> Result<()> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    let mut seq = 0;
    frame(&mut out, &mut seq, payload);
    up.io.write_all(&out).await?;
    Ok(())
}
