//! One statement over an upstream connection, answered whole: for
//! front-ends that return results as values rather than relay the wire
//! protocol (the MCP `query` tool).
//!
//! The statement runs with the extended protocol (Parse, Bind with text
//! parameters, Describe, Execute with a row limit, Sync), so parameters are
//! never spliced into the text, and at most one statement runs. Rows are
//! masked exactly as on the PostgreSQL path: the same `MaskPlan`
//! (lineage from `vigil_sql`, the session's `MaskPolicy`) over the same
//! DataRow bytes, and errors through the same field masking.

use crate::mask::{self, Formats, Tally};
use crate::protocol::{MessageReader, MessageWriter, next_frame, parse_error_fields};
use crate::stream::PgStream;
use bytes::{BufMut, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use vigil_mask::{MaskPlan, MaskPolicy};
use vigil_target::{Column, QueryError, QueryResult, RelationColumn, ResultMask, ValueType};

/// The largest single message accepted from the target.
const MAX_MESSAGE: usize = 16 << 20;

/// The statement and how much of its result to keep.
pub(crate) struct QuerySpec<'a> {
    pub sql: &'a str,
    /// The Bind message's parameter section, from `vigil_target::encode_params`.
    pub params: &'a [u8],
    /// Rows kept; more rows make the result `truncated`.
    pub max_rows: usize,
    /// Bytes of row values kept; past it the result is `truncated` too.
    pub max_bytes: usize,
}

pub(crate) fn frame_error(e: crate::protocol::FrameError) -> QueryError {
    QueryError::Protocol(e.to_string())
}

/// Whether a statement's errors may quote data under `policy` (see
/// `mask::may_quote_data`): then they keep only their SQLSTATE.
pub(crate) fn hides_error_text(policy: &MaskPolicy, facts: &[vigil_core::SqlFacts]) -> bool {
    policy.has_column_rules() && facts.iter().any(mask::may_quote_data)
}

/// Runs one statement on an idle upstream connection and reads its answer
/// to the end (ReadyForQuery), masking rows and errors on the way. Callers
/// hold the guard's `Permit` for it (`PgSession::run`), or it is the
/// gateway's own statement (the catalog read).
pub(crate) async fn run_statement(
    stream: &mut PgStream,
    spec: &QuerySpec<'_>,
    masking: &ResultMask,
) -> Result<QueryResult, QueryError> {
    let plan: Option<&MaskPlan> = masking.plan.as_ref();
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
        let Some((tag, msg)) = next_frame(&mut buf, MAX_MESSAGE).map_err(frame_error)? else {
            if stream.read_buf(&mut buf).await? == 0 {
                return Err(QueryError::Protocol(
                    "the target closed the connection".into(),
                ));
            }
            continue;
        };
        match tag {
            b'T' => {
                let (described, oids) = columns(&msg)?;
                result.columns = described;
                types = oids;
            }
            b'D' => {
                if result.rows.len() >= spec.max_rows || kept_bytes >= spec.max_bytes {
                    result.truncated = true;
                    continue;
                }
                masked.clear();
                let row = match plan {
                    Some(m)
                        if mask::mask_data_row(
                            &msg,
                            m,
                            &Formats::AllText,
                            Some(&types),
                            &mut masked,
                            &mut tally,
                        )
                        .map_err(frame_error)? =>
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
                result.tag = Some(r.cstr().map_err(frame_error)?.to_string());
            }
            b'E' => {
                masked.clear();
                let fields = if masking.hide_error_text {
                    mask::hide_error_text(&msg, &mut masked).map_err(frame_error)?;
                    parse_error_fields(&masked)
                } else if mask::mask_error_fields(&msg, &masking.policy, &mut masked, &mut tally)
                    .map_err(frame_error)?
                {
                    parse_error_fields(&masked)
                } else {
                    parse_error_fields(&msg)
                }
                .map_err(frame_error)?;
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
    let described: &[String] = plan.map(MaskPlan::described).unwrap_or(&[]);
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

/// The columns of a RowDescription, and their type OIDs (for masking).
fn columns(message: &[u8]) -> Result<(Vec<Column>, Vec<u32>), QueryError> {
    let mut r = MessageReader::new(message, "RowDescription");
    let count = r.i16().map_err(frame_error)?;
    let mut out = Vec::with_capacity(count.max(0) as usize);
    let mut oids = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count {
        let name = r.cstr().map_err(frame_error)?.to_string();
        r.take(6).map_err(frame_error)?; // table oid, column number
        let type_oid = r.i32().map_err(frame_error)? as u32;
        r.take(8).map_err(frame_error)?; // type size, type modifier, format
        out.push(Column {
            name,
            value_type: value_type(type_oid),
        });
        oids.push(type_oid);
    }
    Ok((out, oids))
}

/// How a text-format value of type `oid` is best given as JSON.
fn value_type(oid: u32) -> ValueType {
    match oid {
        16 => ValueType::Bool,
        20 | 21 | 23 | 26 => ValueType::Integer,
        700 | 701 => ValueType::Float,
        114 | 3802 => ValueType::Json,
        _ => ValueType::Text,
    }
}

fn values(message: &[u8]) -> Result<Vec<Option<String>>, QueryError> {
    let mut r = MessageReader::new(message, "DataRow");
    let count = r.i16().map_err(frame_error)?;
    let mut row = Vec::with_capacity(count.max(0) as usize);
    for _ in 0..count {
        let len = r.i32().map_err(frame_error)?;
        row.push(if len < 0 {
            None
        } else {
            Some(String::from_utf8_lossy(r.take(len as usize).map_err(frame_error)?).into_owned())
        });
    }
    Ok(row)
}

/// Reads the catalog's view of the relations the upstream login may read,
/// in order, at most `limit` columns.
pub(crate) async fn describe_relations(
    stream: &mut PgStream,
    limit: usize,
) -> Result<Vec<RelationColumn>, QueryError> {
    let params = vigil_target::encode_params(&[]);
    let spec = QuerySpec {
        sql: DESCRIBE_QUERY,
        params: &params,
        max_rows: limit,
        max_bytes: usize::MAX,
    };
    // The gateway's own statement, not a client's: no decision to carry.
    let result = run_statement(stream, &spec, &ResultMask::default()).await?;
    Ok(result
        .rows
        .into_iter()
        .map(|r| {
            let mut it = r.into_iter().map(Option::unwrap_or_default);
            let mut next = || it.next().unwrap_or_default();
            let (schema, relation, kind, column, data_type) =
                (next(), next(), next(), next(), next());
            RelationColumn {
                schema,
                relation,
                kind: relation_kind(&kind),
                column,
                data_type,
            }
        })
        .collect())
}

fn relation_kind(relkind: &str) -> &'static str {
    match relkind {
        "v" => "view",
        "m" => "materialized view",
        "f" => "foreign table",
        "p" => "partitioned table",
        _ => "table",
    }
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
    fn request_is_parse_bind_describe_execute_sync() {
        let params = vigil_target::encode_params(&[Some("1".into())]);
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
