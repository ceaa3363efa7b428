//! Relays the target's answer to one command: OK, ERR, or result sets
//! (column count, definitions, EOF, rows, EOF), several when the status says
//! more results follow. Rows are masked by the plan of their result set.
//! Packets are renumbered and re-framed by Vigil; an answer that fits no
//! expectation (a LOCAL INFILE request Vigil never allowed) ends the session.

use crate::backend::{BaseTables, MAX_UPSTREAM_PACKET, Upstream};
use crate::error::{MysqlError, Result};
use crate::mask::{self, ColumnDef, Tally};
use crate::packet::frame;
use crate::session::Io;
use crate::wire::{Cursor, Head, err_code, head, status, status_of};
use tokio::io::AsyncWriteExt;
use vigil_mask::MaskPolicy;
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
}

/// Relays one command's answer; `lineages[i]` is the i-th result's.
/// Returns how each result ended, in order.
pub async fn answer(
    up: &mut Upstream,
    client: &mut Box<dyn Io>,
    mut seq: u8,
    policy: &MaskPolicy,
    lineages: &[Lineage],
    base_tables: Option<&BaseTables>,
) -> Result<Vec<ResultEnd>> {
    let mut out = Vec::with_capacity(16 * 1024);
    let mut ends = Vec::new();
    loop {
        let first = next(up).await?;
        let more = match head(&first) {
            Head::Ok => {
                let (affected, st) = ok_counts(&first);
                ends.push(ResultEnd {
                    tag: Some(format!("OK {affected}")),
                    ..ResultEnd::default()
                });
                frame(&mut out, &mut seq, &first);
                st & status::MORE_RESULTS != 0
            }
            Head::Err => {
                let (code, state) = err_code(&first);
                ends.push(ResultEnd {
                    error: Some(format!("{code}:{state}")),
                    ..ResultEnd::default()
                });
                frame(&mut out, &mut seq, &first);
                false
            }
            Head::LocalInfile => {
                return Err(MysqlError::Upstream(
                    "the target asked for a LOCAL INFILE, which Vigil never allows".into(),
                ));
            }
            Head::Eof | Head::Other => {
                let lineage = lineages.get(ends.len());
                let (end, st) = result_set(
                    up,
                    client,
                    &mut out,
                    &mut seq,
                    &first,
                    (policy, base_tables),
                    lineage,
                )
                .await?;
                ends.push(end);
                st & status::MORE_RESULTS != 0
            }
        };
        if !more {
            break;
        }
    }
    client.write_all(&out).await?;
    client.flush().await?;
    Ok(ends)
}

#[allow(clippy::too_many_arguments)]
async fn result_set(
    up: &mut Upstream,
    client: &mut Box<dyn Io>,
    out: &mut Vec<u8>,
    seq: &mut u8,
    first: &[u8],
    (policy, base_tables): (&MaskPolicy, Option<&BaseTables>),
    lineage: Option<&Lineage>,
) -> Result<(ResultEnd, u16)> {
    let columns = Cursor::new(first)
        .lenenc()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0 && n <= 4096)
        .ok_or_else(|| MysqlError::Upstream("bad column count".into()))?;
    frame(out, seq, first);
    let mut defs = Vec::with_capacity(columns);
    for _ in 0..columns {
        let p = next(up).await?;
        defs.push(
            ColumnDef::decode(&p)
                .ok_or_else(|| MysqlError::Upstream("bad column definition".into()))?,
        );
        frame(out, seq, &p);
    }
    let eof = next(up).await?;
    if head(&eof) != Head::Eof {
        return Err(MysqlError::Upstream(
            "expected EOF after the column definitions".into(),
        ));
    }
    frame(out, seq, &eof);
    let plan = mask::plan(policy, lineage, &defs, base_tables);
    let mut tally = Tally::default();
    if let Some(p) = &plan {
        tally.columns = p.described().to_vec();
    }
    let mut rows = 0u64;
    loop {
        let p = next(up).await?;
        match head(&p) {
            Head::Eof => {
                frame(out, seq, &p);
                let st = status_of(&p);
                return Ok((
                    ResultEnd {
                        tag: Some(format!("SELECT {rows}")),
                        error: None,
                        masking: tally.summary(),
                    },
                    st,
                ));
            }
            Head::Err => {
                let (code, state) = err_code(&p);
                frame(out, seq, &p);
                return Ok((
                    ResultEnd {
                        tag: None,
                        error: Some(format!("{code}:{state}")),
                        masking: tally.summary(),
                    },
                    0,
                ));
            }
            _ => {
                rows += 1;
                match &plan {
                    Some(plan) => {
                        let masked = mask::text_row(plan, &p, columns, &mut tally)
                            .ok_or_else(|| MysqlError::Upstream("bad row".into()))?;
                        frame(out, seq, &masked);
                    }
                    None => frame(out, seq, &p),
                }
                if out.len() >= FLUSH_AT {
                    client.write_all(out).await?;
                    out.clear();
                }
            }
        }
    }
}

fn ok_counts(ok: &[u8]) -> (u64, u16) {
    let mut c = Cursor::new(ok);
    let _ = c.u8();
    let affected = c.lenenc().flatten().unwrap_or(0);
    (affected, status_of(ok))
}

async fn next(up: &mut Upstream) -> Result<Vec<u8>> {
    up.reader
        .read(&mut up.io, MAX_UPSTREAM_PACKET, false)
        .await?
        .map(|p| p.payload)
        .ok_or_else(|| MysqlError::Upstream("the target closed the connection".into()))
}
