//! Relays the target's answer to one command: OK, ERR, EOF (COM_SET_OPTION),
//! or result sets (column count, definitions, EOF, rows, EOF), several when
//! the status says more results follow. Rows are masked by the plan of
//! their result set. Packets are renumbered and re-framed by Vigil, each EOF
//! in the form the client negotiated (`client_out`); an answer that fits no
//! expectation (a LOCAL INFILE request Vigil never allowed) ends the session.

use crate::backend::{BaseTables, MAX_UPSTREAM_PACKET, Upstream};
use crate::client_out::ClientOut;
use crate::error::{MysqlError, Result};
use crate::error_text::ErrorText;
use crate::mask::{self, ColumnDef, Tally};
use crate::mask_binary;
use crate::session::Io;
use crate::wire::{Cursor, Head, err_code, err_packet, head, status, status_of};
use vigil_mask::{MaskPlan, MaskPolicy};
use vigil_mysql_sql::Lineage;

/// Flush to the client past this many buffered bytes.
const FLUSH_AT: usize = 64 * 1024;

/// How one result (one statement's answer) ended.
#[derive(Debug, Default)]
pub struct ResultEnd {
    pub tag: Option<String>,
    /// `code:SQLSTATE` of an error.
    pub error: Option<String>,
    pub masking: Option<vigil_core::MaskingSummary>,
    /// Vigil answered an error in place of this result (why, for the ledger).
    pub refused: Option<String>,
    /// The target opened a cursor: the rows COM_STMT_FETCH will bring.
    pub cursor: Option<CursorRows>,
}

/// The rows of an open cursor: their columns and mask plan.
#[derive(Debug, Default)]
pub struct CursorRows {
    pub defs: Vec<ColumnDef>,
    pub plan: Option<MaskPlan>,
    /// The ledger `seq` of the EXECUTE that opened the cursor: each FETCH's
    /// outcome (its masking counts) is recorded against it.
    pub statement_seq: Option<i64>,
}

/// How the rows of a result are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rows {
    /// COM_QUERY: length-encoded text values.
    Text,
    /// COM_STMT_EXECUTE: the binary protocol (see `binary_row`).
    Binary,
}

/// The error sent in place of a binary result Vigil cannot mask.
const CANNOT_CARRY: (u16, &str) = (1235, "42000");

/// Relays one command's answer into `out`; `lineages[i]` is the i-th
/// result's. Returns how each result ended, in order.
pub async fn answer(
    up: &mut Upstream,
    client: &mut Box<dyn Io>,
    mut out: ClientOut,
    policy: &MaskPolicy,
    lineages: &[Lineage],
    base_tables: Option<&BaseTables>,
    rows: Rows,
) -> Result<Vec<ResultEnd>> {
    let mut ends = Vec::new();
    // After Vigil answered an error in place of a result, the client expects
    // nothing more: what the target still sends is read and dropped.
    let mut emit = true;
    loop {
        let first = next(up).await?;
        let more = match head(&first) {
            Head::Ok => {
                let (affected, st) = ok_counts(&first);
                ends.push(ResultEnd {
                    tag: Some(format!("OK {affected}")),
                    ..ResultEnd::default()
                });
                if emit {
                    out.packet(&first);
                }
                st & status::MORE_RESULTS != 0
            }
            Head::Eof => {
                // A command answered by EOF alone (COM_SET_OPTION).
                ends.push(ResultEnd::default());
                if emit {
                    out.end(&first)?;
                }
                status_of(&first) & status::MORE_RESULTS != 0
            }
            Head::Err => {
                let (code, state) = err_code(&first);
                ends.push(ResultEnd {
                    error: Some(format!("{code}:{state}")),
                    ..ResultEnd::default()
                });
                if emit {
                    out.packet(&ErrorText::of(policy).packet(&first));
                }
                false
            }
            Head::LocalInfile => {
                return Err(MysqlError::Upstream(
                    "the target asked for a LOCAL INFILE, which Vigil never allows".into(),
                ));
            }
            Head::Other => {
                let lineage = lineages.get(ends.len());
                let (end, st) = result_set(
                    up,
                    client,
                    (&mut out, emit),
                    &first,
                    (policy, base_tables),
                    lineage,
                    rows,
                )
                .await?;
                emit &= end.refused.is_none();
                ends.push(end);
                st & status::MORE_RESULTS != 0
            }
        };
        if !more {
            break;
        }
    }
    out.finish(client).await?;
    Ok(ends)
}

/// Relays one result set; with `emit` false it is read and dropped.
async fn result_set(
    up: &mut Upstream,
    client: &mut Box<dyn Io>,
    (out, emit): (&mut ClientOut, bool),
    first: &[u8],
    (policy, base_tables): (&MaskPolicy, Option<&BaseTables>),
    lineage: Option<&Lineage>,
    rows_as: Rows,
) -> Result<(ResultEnd, u16)> {
    let columns = Cursor::new(first)
        .lenenc()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0 && n <= 4096)
        .ok_or_else(|| MysqlError::Upstream("bad column count".into()))?;
    // The head is framed only once the plan is known to be carried.
    let mut head_packets = Vec::with_capacity(columns + 1);
    head_packets.push(first.to_vec());
    let mut defs = Vec::with_capacity(columns);
    for _ in 0..columns {
        let p = next(up).await?;
        defs.push(
            ColumnDef::decode(&p)
                .ok_or_else(|| MysqlError::Upstream("bad column definition".into()))?,
        );
        head_packets.push(p);
    }
    let eof = next(up).await?;
    if head(&eof) != Head::Eof {
        return Err(MysqlError::Upstream(
            "expected EOF after the column definitions".into(),
        ));
    }
    let eof_status = status_of(&eof);
    // A cursor: the rows come with COM_STMT_FETCH, and this EOF ends the
    // command, not just the definitions.
    let cursor = rows_as == Rows::Binary && eof_status & status::CURSOR_EXISTS != 0;
    let plan = mask::plan(policy, lineage, &defs, base_tables);
    let refused = match (&plan, rows_as) {
        (Some(p), Rows::Binary) => mask_binary::check(p, &defs).err().map(|i| {
            format!(
                "column {} of the result must be masked, but its type cannot carry a mask and it \
                 is NOT NULL",
                i + 1
            )
        }),
        _ => None,
    };
    let emit_rows = emit && refused.is_none();
    if let (true, Some(why)) = (emit, &refused) {
        let (code, state) = CANNOT_CARRY;
        out.packet(&err_packet(code, state, &format!("vigil: {why}")));
    }
    if emit_rows {
        for p in &head_packets {
            out.packet(p);
        }
        if cursor {
            out.end(&eof)?;
        } else {
            out.definitions_end(&eof)?;
        }
    }
    let mut tally = Tally::default();
    if let Some(p) = &plan {
        tally.columns = p.described().to_vec();
    }
    if cursor {
        let cursor = refused.is_none().then(|| CursorRows {
            defs: defs.clone(),
            plan,
            statement_seq: None,
        });
        let end = ResultEnd {
            tag: Some("SELECT 0".into()),
            refused,
            cursor,
            ..ResultEnd::default()
        };
        return Ok((end, eof_status));
    }
    let (mut end, st) = rows(
        up,
        client,
        (out, emit_rows, ErrorText::of(policy)),
        &defs,
        plan.as_ref(),
        rows_as,
        tally,
    )
    .await?;
    end.refused = refused;
    Ok((end, st))
}

/// Relays rows until their EOF or ERR, masked by `plan`.
pub async fn rows(
    up: &mut Upstream,
    client: &mut Box<dyn Io>,
    // Where rows go, whether they are sent at all, and what the client
    // reads of an error's text.
    (out, emit, errors): (&mut ClientOut, bool, ErrorText<'_>),
    defs: &[ColumnDef],
    plan: Option<&MaskPlan>,
    rows_as: Rows,
    mut tally: Tally,
) -> Result<(ResultEnd, u16)> {
    let mut rows = 0u64;
    loop {
        let p = next(up).await?;
        match head(&p) {
            Head::Eof => {
                if emit {
                    out.end(&p)?;
                }
                let st = status_of(&p);
                let end = ResultEnd {
                    tag: Some(format!("SELECT {rows}")),
                    masking: tally.summary(),
                    ..ResultEnd::default()
                };
                return Ok((end, st));
            }
            Head::Err => {
                let (code, state) = err_code(&p);
                if emit {
                    out.packet(&errors.packet(&p));
                }
                let end = ResultEnd {
                    error: Some(format!("{code}:{state}")),
                    masking: tally.summary(),
                    ..ResultEnd::default()
                };
                return Ok((end, 0));
            }
            _ if !emit => {}
            _ => {
                rows += 1;
                let masked = match (plan, rows_as) {
                    (None, _) => None,
                    (Some(plan), Rows::Text) => Some(
                        mask::text_row(plan, &p, defs.len(), &mut tally)
                            .ok_or_else(|| "a text row that does not parse".to_string()),
                    ),
                    (Some(plan), Rows::Binary) => Some(
                        mask_binary::row(plan, &p, defs, &mut tally).map_err(|e| e.to_string()),
                    ),
                };
                match masked {
                    None => out.packet(&p),
                    Some(Ok(row)) => out.packet(&row),
                    Some(Err(why)) => {
                        // Nothing of the row is passed on: the client gets an
                        // error and the session ends.
                        let (code, state) = CANNOT_CARRY;
                        let msg = "vigil: a result row could not be masked; the session ends";
                        out.packet(&err_packet(code, state, msg));
                        out.finish(client).await?;
                        return Err(MysqlError::Upstream(format!("masking a row: {why}")));
                    }
                }
                if out.buffered() >= FLUSH_AT {
                    out.write_to(client).await?;
                }
            }
        }
    }
}

/// Relays the rows COM_STMT_FETCH brings from an open cursor, masked as
/// the EXECUTE that opened it was.
pub async fn fetch(
    up: &mut Upstream,
    client: &mut Box<dyn Io>,
    mut out: ClientOut,
    cursor: &CursorRows,
    errors: ErrorText<'_>,
) -> Result<ResultEnd> {
    let (end, _) = rows(
        up,
        client,
        (&mut out, true, errors),
        &cursor.defs,
        cursor.plan.as_ref(),
        Rows::Binary,
        Tally::default(),
    )
    .await?;
    out.finish(client).await?;
    Ok(end)
}

fn ok_counts(ok: &[u8]) -> (u64, u16) {
    let mut c = Cursor::new(ok);
    let _ = c.u8();
    let affected = c.lenenc().flatten().unwrap_or(0);
    (affected, status_of(ok))
}

pub(crate) async fn next(up: &mut Upstream) -> Result<Vec<u8>> {
    up.reader
        .read(&mut up.io, MAX_UPSTREAM_PACKET, false)
        .await?
        .map(|p| p.payload)
        .ok_or_else(|| MysqlError::Upstream("the target closed the connection".into()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
#[path = "relay_tests.rs"]
mod tests;
