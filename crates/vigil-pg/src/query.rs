//! One statement over an upstream connection, answered whole: for
//! front-ends that return results as values rather than relay the wire
//! protocol (the MCP `query` tool).
//!
//! The statement runs with the extended protocol (Parse, Bind with text
//! parameters, Describe, Execute with a row limit, Sync), so parameters are
//! never spliced into the text, and at most one statement runs. Rows are
//! masked exactly as on the PostgreSQL path: the same `StatementMask`
//! (lineage from `vigil_sql`, the session's `MaskPolicy`) over the same
//! DataRow bytes, and errors through the same field masking.

use crate::mask::{self, Formats, StatementMask, Tally};
use crate::protocol::{MessageReader, MessageWriter, next_frame, parse_error_fields};
use crate::stream::PgStream;
use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_core::MaskingSummary;
use vigil_guard::Permit;
use vigil_mask::MaskPolicy;
use vigil_sql::{Catalog, LineageCache};

/// The largest single message accepted from the target.
const MAX_MESSAGE: usize = 16 << 20;

/// The statement and how much of its result to keep.
pub struct QuerySpec<'a> {
    pub sql: &'a str,
    /// The Bind message's parameter section, from [`bind_params`].
    pub params: &'a [u8],
    /// Rows kept; more rows make the result `truncated`.
    pub max_rows: usize,
    /// Bytes of row values kept; past it the result is `truncated` too.
    pub max_bytes: usize,
}

/// How the rows of the statement are masked: the session's policy and the
/// lineage of the statement's output columns.
pub struct Masking<'a> {
    pub policy: &'a MaskPolicy,
    pub lineages: &'a LineageCache,
    pub catalog: &'a Catalog,
    /// The statement's facts, as the caller analysed them for the decision:
    /// whether its errors may quote data comes from them.
    pub facts: &'a [vigil_core::SqlFacts],
}

/// One output column: its name and type OID.
#[derive(Clone, Debug)]
pub struct Column {
    pub name: String,
    pub type_oid: u32,
}

/// A statement's answer, masked.
#[derive(Debug, Default)]
pub struct QueryResult {
    pub columns: Vec<Column>,
    /// Values in text format; `None` is SQL NULL (or a masked non-text value).
    pub rows: Vec<Vec<Option<String>>>,
    pub truncated: bool,
    /// The command tag (`SELECT 3`, `DELETE 1`), when the target sent one.
    pub tag: Option<String>,
    /// What was masked, for the ledger (never the values).
    pub masking: Option<MaskingSummary>,
}

/// Why a statement produced no result.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    /// The target refused or failed the statement; the message is masked.
    #[error("{message} (SQLSTATE {code})")]
    Server {
        code: String,
        message: String,
        masking: Option<MaskingSummary>,
    },
    #[error("target connection failed: {0}")]
    Io(#[from] std::io::Error),
    #[error("target protocol error: {0}")]
    Protocol(String),
}

impl From<crate::protocol::FrameError> for QueryError {
    fn from(e: crate::protocol::FrameError) -> Self {
        QueryError::Protocol(e.to_string())
    }
}

/// A Bind message's parameter section for text parameters (no format
/// codes; `None` is NULL): what the statement binds and what an approval
/// of it binds.
pub fn bind_params(params: &[Option<String>]) -> Vec<u8> {
    let mut out = Vec::new();
    out.put_i16(0);
    out.put_i16(params.len().min(i16::MAX as usize) as i16);
    for p in params.iter().take(i16::MAX as usize) {
        match p {
            Some(v) => {
                out.put_i32(v.len().min(i32::MAX as usize) as i32);
                out.put_slice(v.as_bytes());
            }
            None => out.put_i32(-1),
        }
    }
    out
}

/// Runs one statement on an idle upstream connection and reads its answer
/// to the end (ReadyForQuery), masking rows and errors on the way.
///
/// `permit` is the guard's decision for `spec`'s statement and parameters
/// (from [`vigil_guard::Guard::decide`]): only the guard can make
/// one, so a statement cannot reach the target without a recorded decision.
///
/// ```no_run
/// # use vigil_guard::{Binding, Decision, Guard, SessionCtx};
/// # use vigil_pg::query::{Masking, QuerySpec, bind_params, run_query};
/// # async fn f(guard: &Guard, session: &SessionCtx, actions: &[vigil_core::ActionKind],
/// #            upstream: &mut vigil_pg::backend::Upstream, masking: &Masking<'_>) {
/// let params = bind_params(&[]);
/// let Ok(Decision::Allowed(permit)) =
///     guard.decide(session, actions, Binding::new(&params)).await
/// else { return };
/// let spec = QuerySpec { sql: "SELECT 1", params: &params, max_rows: 10, max_bytes: 1 << 20 };
/// let result = run_query(&mut upstream.stream, &permit, &spec, masking).await;
/// # }
/// ```
///
/// Without a permit from the guard it does not compile: a front-end cannot
/// make one up.
///
/// ```compile_fail,E0639
/// # use vigil_pg::query::{Masking, QuerySpec, run_query};
/// # async fn f(upstream: &mut vigil_pg::backend::Upstream, spec: &QuerySpec<'_>,
/// #            masking: &Masking<'_>) {
/// let forged = vigil_guard::Permit { seqs: Vec::new() };
/// let result = run_query(&mut upstream.stream, &forged, spec, masking).await;
/// # }
/// ```
///
/// nor can it be left out:
///
/// ```compile_fail,E0061
/// # use vigil_pg::query::{Masking, QuerySpec, run_query};
/// # async fn f(upstream: &mut vigil_pg::backend::Upstream, spec: &QuerySpec<'_>,
/// #            masking: &Masking<'_>) {
/// let result = run_query(&mut upstream.stream, spec, masking).await;
/// # }
/// ```
pub async fn run_query(
    stream: &mut PgStream,
    _permit: &Permit,
    spec: &QuerySpec<'_>,
    masking: &Masking<'_>,
) -> Result<QueryResult, QueryError> {
    run_statement(stream, spec, masking).await
}

/// [`run_query`] without a permit: only for the gateway's own statements
/// (the catalog read), never a client's.
async fn run_statement(
    stream: &mut PgStream,
    spec: &QuerySpec<'_>,
    masking: &Masking<'_>,
) -> Result<QueryResult, QueryError> {
    let mask = match masking.policy.is_empty() {
        true => None,
        false => StatementMask::build(
            masking.policy,
            masking.lineages.output_lineage(spec.sql, masking.catalog),
            None,
        ),
    };
    // Errors of a statement that may read masked data keep only their
    // SQLSTATE (a failed cast or lookup can quote the value it read).
    let guarded =
        masking.policy.has_column_rules() && masking.facts.iter().any(mask::may_quote_data);
    stream.write_all(&request(spec)).await?;
    stream.flush().await?;

    let mut tally = Tally::default();
    let mut result = QueryResult::default();
    let mut types: Vec<u32> = Vec::new();
    let mut kept_bytes = 0usize;
    let mut error: Option<(String, String)> = None;
    let mut buf = BytesMut::with_capacity(16 * 1024);
    let mut masked = BytesMut::new();
    loop {
        let Some((tag, msg)) = next_frame(&mut buf, MAX_MESSAGE)? else {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(QueryError::Protocol(
                    "the target closed the connection".into(),
                ));
            }
            continue;
        };
        match tag {
            b'T' => {
                result.columns = columns(&msg)?;
                types = result.columns.iter().map(|c| c.type_oid).collect();
            }
            b'D' => {
                if result.rows.len() >= spec.max_rows || kept_bytes >= spec.max_bytes {
                    result.truncated = true;
                    continue;
                }
                masked.clear();
                let row = match &mask {
                    Some(m)
                        if mask::mask_data_row(
                            &msg,
                            m,
                            &Formats::AllText,
                            Some(&types),
                            &mut masked,
                            &mut tally,
                        )? =>
                    {
                        values(&masked)?
                    }
                    _ => values(&msg)?,
                };
                kept_bytes += row.iter().flatten().map(String::len).sum::<usize>();
                result.rows.push(row);
            }
            b's' => result.truncated = true,
            b'C' => {
                let mut r = MessageReader::new(&msg, "CommandComplete");
                result.tag = Some(r.cstr()?.to_string());
            }
            b'E' => {
                masked.clear();
                let fields = if guarded {
                    mask::hide_error_text(&msg, &mut masked)?;
                    parse_error_fields(&masked)?
                } else if mask::mask_error_fields(&msg, masking.policy, &mut masked, &mut tally)? {
                    parse_error_fields(&masked)?
                } else {
                    parse_error_fields(&msg)?
                };
                error.get_or_insert((fields.code, fields.message));
            }
            b'G' => {
                // COPY FROM STDIN has no data to read here: end it; the target
                // answers with an error, skips to a Sync (it ignored the one
                // sent during copy-in) and then sends ReadyForQuery.
                let mut out = BytesMut::new();
                message(
                    &mut out,
                    b'f',
                    b"vigil: COPY FROM STDIN is not available here\0",
                );
                message(&mut out, b'S', b"");
                stream.write_all(&out).await?;
                stream.flush().await?;
            }
            b'Z' => break,
            // CopyOutResponse and CopyData (COPY TO STDOUT rows are not
            // returned), ParseComplete, BindComplete, NoData, notices, parameter
            // status, notifications: nothing the caller gets.
            _ => {}
        }
    }
    let described: &[String] = mask.as_ref().map(|m| &m.described[..]).unwrap_or(&[]);
    let summary = tally.summary(described);
    if let Some((code, message)) = error {
        return Err(QueryError::Server {
            code,
            message,
            masking: summary,
        });
    }
    result.masking = summary;
    Ok(result)
}

/// Parse, Bind (text results), Describe portal, Execute, Sync.
fn request(spec: &QuerySpec<'_>) -> BytesMut {
    let mut w = MessageWriter::new();
    w.parse("", spec.sql, &[]);
    let out = w.buffer();
    // Bind: unnamed portal and statement, the parameters, text results.
    let mut body = Vec::with_capacity(spec.params.len() + 8);
    body.extend_from_slice(b"\0\0");
    body.extend_from_slice(spec.params);
    body.put_i16(0);
    message(out, b'B', &body);
    message(out, b'D', b"P\0");
    let mut execute = vec![0u8];
    // One row past the limit tells "exactly the limit" from "more".
    let limit = i32::try_from(spec.max_rows.saturating_add(1)).unwrap_or(i32::MAX);
    execute.put_i32(limit);
    message(out, b'E', &execute);
    w.sync();
    w.take()
}

fn message(out: &mut BytesMut, tag: u8, body: &[u8]) {
    out.put_u8(tag);
    out.put_u32((body.len() + 4) as u32);
    out.put_slice(body);
}

fn columns(message: &[u8]) -> Result<Vec<Column>, QueryError> {
    let mut r = MessageReader::new(message, "RowDescription");
    let count = r.i16()?;
    let mut out = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count {
        let name = r.cstr()?.to_string();
        r.take(6)?; // table oid, column number
        let type_oid = r.i32()? as u32;
        r.take(8)?; // type size, type modifier, format
        out.push(Column { name, type_oid });
    }
    Ok(out)
}

fn values(message: &[u8]) -> Result<Vec<Option<String>>, QueryError> {
    let mut r = MessageReader::new(message, "DataRow");
    let count = r.i16()?;
    let mut row = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count {
        let len = r.i32()?;
        row.push(if len < 0 {
            None
        } else {
            Some(String::from_utf8_lossy(r.take(len as usize)?).into_owned())
        });
    }
    Ok(row)
}

/// Reads the catalog's view of the relations the upstream login may read:
/// `(schema, relation, kind, column, type)` in order, at most `limit` rows.
pub async fn describe_relations(
    stream: &mut PgStream,
    limit: usize,
) -> Result<Vec<[String; 5]>, QueryError> {
    let spec = QuerySpec {
        sql: DESCRIBE_QUERY,
        params: &bind_params(&[]),
        max_rows: limit,
        max_bytes: usize::MAX,
    };
    let empty = MaskPolicy::default();
    let lineages = LineageCache::new(1);
    let catalog = Catalog::empty();
    let masking = Masking {
        policy: &empty,
        lineages: &lineages,
        catalog: &catalog,
        facts: &[],
    };
    // The gateway's own statement, not a client's: no decision to carry.
    let result = run_statement(stream, &spec, &masking).await?;
    Ok(result
        .rows
        .into_iter()
        .map(|r| {
            let mut it = r.into_iter().map(Option::unwrap_or_default);
            std::array::from_fn(|_| it.next().unwrap_or_default())
        })
        .collect())
}

const DESCRIBE_QUERY: &str = "\
SELECT n.nspname::text, c.relname::text, c.relkind::text, a.attname::text, \
pg_catalog.format_type(a.atttypid, a.atttypmod) \
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid \
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p', 'v', 'm', 'f') \
AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%' \
AND pg_catalog.has_table_privilege(c.oid, 'SELECT') \
ORDER BY 1, 2, a.attnum";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_parameters_encode_like_a_bind_without_format_codes() {
        let p = bind_params(&[Some("ab".into()), None]);
        assert_eq!(p, b"\0\0\0\x02\0\0\0\x02ab\xff\xff\xff\xff");
        assert_eq!(bind_params(&[]), b"\0\0\0\0");
    }

    #[test]
    fn request_is_parse_bind_describe_execute_sync() {
        let params = bind_params(&[Some("1".into())]);
        let spec = QuerySpec {
            sql: "SELECT $1",
            params: &params,
            max_rows: 10,
            max_bytes: 1024,
        };
        let bytes = request(&spec);
        let mut buf = bytes.clone();
        let mut tags = Vec::new();
        while let Some((tag, _)) = next_frame(&mut buf, 1 << 20).unwrap() {
            tags.push(tag);
        }
        assert_eq!(tags, b"PBDES");
    }
}
