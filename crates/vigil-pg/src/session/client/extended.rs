//! The extended protocol's messages: Parse analyses and queues a statement
//! name, Bind resolves it as the target will and queues a portal, Execute
//! asks the guard, Close queues the removal. Names change in `Shared` only
//! when the target confirms them.

use super::protocol_violation;
use super::{ClientPump, HELD_TWICE, LEDGER_DOWN, MAX_NAME_BYTES, MAX_PREPARED, Place};
use super::{hold, ops, refusal};
use crate::mask::{Formats, StatementMask};
use crate::protocol::{
    FrameError, MessageReader, bind_result_formats, parse_bind, parse_execute, parse_parse,
};
use crate::session::names::{Op, Portal, Prepared};
use crate::session::shared::{Kind, Lookup, Stmt};
use bytes::Bytes;
use std::io;
use std::sync::Arc;
use vigil_guard::{Binding, Decision, RefusalClass, Unpolicied};

impl ClientPump<'_> {
    pub(super) async fn on_parse(&mut self, frame: Bytes) -> io::Result<()> {
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
        self.queue_answer_guarded(Kind::Parse, vec![Op::Parse { name, prepared }], guarded);
        self.out.raw(&frame);
        Ok(())
    }

    pub(super) async fn on_bind(&mut self, frame: Bytes) -> io::Result<()> {
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
        self.queue_answer_guarded(Kind::Bind, ops, guarded);
        self.out.raw(&frame);
        Ok(())
    }

    pub(super) async fn on_execute(&mut self, frame: Bytes) -> io::Result<()> {
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
            self.queue_answer(Kind::Execute(stmt), Vec::new());
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

    pub(super) fn on_close(&mut self, frame: Bytes) -> io::Result<()> {
        let mut r = MessageReader::new(&frame, "Close");
        let kind = r.u8().map_err(protocol_violation)?;
        let name = r.cstr().map_err(protocol_violation)?.to_string();
        let op = match kind {
            b'S' => Op::CloseStatement(name),
            b'P' => Op::ClosePortal(name),
            _ => return Err(protocol_violation(FrameError::Malformed("Close"))),
        };
        self.queue_answer(Kind::Close, vec![op]);
        self.out.raw(&frame);
        Ok(())
    }
}
