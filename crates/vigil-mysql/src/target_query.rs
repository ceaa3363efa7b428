//! Runs one statement for the target seam and reads its answer whole:
//! COM_QUERY without parameters, else the binary protocol (PREPARE, EXECUTE
//! with each parameter as a string, CLOSE). Rows are masked with the same
//! plan and code as the proxy's relay (`mask`, `mask_binary`), then kept as
//! text up to the call's row and byte bounds.

use crate::backend::{BaseTables, Upstream};
use crate::binary_row;
use crate::binary_text;
use crate::error::MysqlError;
use crate::mask::{self, ColumnDef, Tally};
use crate::mask_binary;
use crate::packet::frame;
use crate::relay::next;
use crate::wire::{Cursor, Head, err_code, head, status, status_of};
use tokio::io::AsyncWriteExt;
use vigil_core::MaskingSummary;
use vigil_mask::{MaskPlan, Masked};
use vigil_mysql_sql::Lineage;
use vigil_target::{Column, QueryError, QueryResult, ResultMask, Statement, ValueType};

/// The most columns a result may have (as the relay).
const MAX_COLUMNS: usize = 4096;

/// One statement to run and how its answer is masked.
pub(crate) struct Run<'a> {
    pub statement: &'a Statement<'a>,
    pub mask: &'a ResultMask,
    /// The statement's output lineage, from the analysis of this login.
    pub lineage: &'a Lineage,
    pub base_tables: Option<&'a BaseTables>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Rows {
    Text,
    Binary,
}

/// Runs the statement; a `truncated` result leaves the rest of the answer
/// unread (the caller then drops the login).
pub(crate) async fn run(up: &mut Upstream, run: Run<'_>) -> Result<QueryResult, QueryError> {
    if run.statement.params.is_empty() {
        let mut payload = Vec::with_capacity(run.statement.sql.len() + 1);
        payload.push(0x03);
        payload.extend_from_slice(run.statement.sql.as_bytes());
        send(up, &payload).await?;
        return answer(up, &run, Rows::Text).await;
    }
    let id = prepare(up, &run).await?;
    let result = match execute(up, id, run.statement.params).await {
        Ok(()) => answer(up, &run, Rows::Binary).await,
        Err(e) => Err(e),
    };
    if !matches!(&result, Ok(r) if r.truncated) {
        let mut close = vec![0x19];
        close.extend_from_slice(&id.to_le_bytes());
        send(up, &close).await?;
    }
    result
}

async fn send(up: &mut Upstream, payload: &[u8]) -> Result<(), QueryError> {
    let mut out = Vec::with_capacity(payload.len() + 8);
    frame(&mut out, &mut 0, payload);
    up.io.write_all(&out).await?;
    Ok(())
}

async fn read(up: &mut Upstream) -> Result<Vec<u8>, QueryError> {
    next(up).await.map_err(protocol)
}

fn protocol(e: MysqlError) -> QueryError {
    match e {
        MysqlError::Io(e) => QueryError::Io(e),
        other => QueryError::Protocol(other.to_string()),
    }
}

/// COM_STMT_PREPARE: the statement id, once the parameter count matches.
async fn prepare(up: &mut Upstream, run: &Run<'_>) -> Result<u32, QueryError> {
    let mut payload = Vec::with_capacity(run.statement.sql.len() + 1);
    payload.push(0x16);
    payload.extend_from_slice(run.statement.sql.as_bytes());
    send(up, &payload).await?;
    let first = read(up).await?;
    if head(&first) == Head::Err {
        return Err(server_error(&first, run.mask));
    }
    let mut c = Cursor::new(&first);
    let parsed = (|| {
        (c.u8()? == 0x00).then_some(())?;
        Some((c.u32()?, c.u16()?, c.u16()?))
    })();
    let (id, columns, params) =
        parsed.ok_or_else(|| QueryError::Protocol("bad COM_STMT_PREPARE answer".into()))?;
    for count in [params, columns] {
        if count > 0 {
            for _ in 0..count {
                read(up).await?;
            }
            if head(&read(up).await?) != Head::Eof {
                return Err(QueryError::Protocol(
                    "expected EOF after the definitions".into(),
                ));
            }
        }
    }
    let given = run.statement.params.len();
    if usize::from(params) != given {
        let mut close = vec![0x19];
        close.extend_from_slice(&id.to_le_bytes());
        send(up, &close).await?;
        return Err(QueryError::Server {
            code: "1210:HY000".into(),
            message: format!(
                "vigil: the statement has {params} `?` placeholders (MySQL's), but {given} parameters were given"
            ),
            masking: None,
        });
    }
    Ok(id)
}

/// COM_STMT_EXECUTE with every parameter sent as a string (NULL as NULL).
async fn execute(up: &mut Upstream, id: u32, params: &[Option<String>]) -> Result<(), QueryError> {
    let mut p = vec![0x17];
    p.extend_from_slice(&id.to_le_bytes());
    p.push(0x00); // no cursor
    p.extend_from_slice(&1u32.to_le_bytes());
    let mut bitmap = vec![0u8; params.len().div_ceil(8)];
    for (i, v) in params.iter().enumerate() {
        if v.is_none()
            && let Some(b) = bitmap.get_mut(i / 8)
        {
            *b |= 1 << (i % 8);
        }
    }
    p.extend_from_slice(&bitmap);
    p.push(1); // types follow
    for v in params {
        let t = match v {
            Some(_) => binary_row::ty::VAR_STRING,
            None => binary_row::ty::NULL,
        };
        p.extend_from_slice(&[t, 0]);
    }
    for v in params.iter().flatten() {
        crate::wire::put_lenenc_str(&mut p, v.as_bytes());
    }
    send(up, &p).await
}

/// The statement's error, its text withheld or masked as `mask` says.
fn server_error(payload: &[u8], mask: &ResultMask) -> QueryError {
    let (code, state) = err_code(payload);
    let mut c = Cursor::new(payload);
    let _ = c.take(3);
    if c.b.get(c.pos) == Some(&b'#') {
        let _ = c.take(6);
    }
    let text = c.rest();
    let mut masking = None;
    let message = if mask.hide_error_text {
        format!(
            "vigil: the target's message for error {code} is withheld in a session with masked columns"
        )
    } else {
        match mask.policy.content().and_then(|m| m.scan(text)) {
            Some((masked, hits)) => {
                let mut tally = Tally::default();
                tally.hits.add(&hits);
                masking = tally.summary();
                match masked {
                    Masked::Text(t) => String::from_utf8_lossy(&t).into_owned(),
                    Masked::Null => {
                        format!("vigil: the target's message for error {code} is masked")
                    }
                }
            }
            None => String::from_utf8_lossy(text).into_owned(),
        }
    };
    QueryError::Server {
        code: format!("{code}:{state}"),
        message,
        masking,
    }
}

/// Reads the whole answer: the first result is kept, any later one (a
/// CALL's) is read and dropped.
async fn answer(up: &mut Upstream, run: &Run<'_>, rows: Rows) -> Result<QueryResult, QueryError> {
    let mut kept: Option<QueryResult> = None;
    loop {
        let first = read(up).await?;
        let (result, more) = match head(&first) {
            Head::Ok => {
                let mut c = Cursor::new(&first);
                let _ = c.u8();
                let affected = c.lenenc().flatten().unwrap_or(0);
                let result = QueryResult {
                    tag: Some(format!("OK {affected}")),
                    ..QueryResult::default()
                };
                (result, status_of(&first) & status::MORE_RESULTS != 0)
            }
            Head::Err => return Err(server_error(&first, run.mask)),
            Head::LocalInfile => {
                return Err(QueryError::Protocol(
                    "the target asked for a LOCAL INFILE, which Vigil never allows".into(),
                ));
            }
            Head::Eof | Head::Other => {
                let lineage = kept.is_none().then_some(run.lineage);
                let (result, st) = result_set(up, run, &first, lineage, rows).await?;
                if result.truncated {
                    // The rest is left unread; a later result's rows are not
                    // the ones kept.
                    return Ok(match kept {
                        Some(mut k) => {
                            k.truncated = true;
                            k
                        }
                        None => result,
                    });
                }
                (result, st & status::MORE_RESULTS != 0)
            }
        };
        kept.get_or_insert(result);
        if !more {
            return Ok(kept.unwrap_or_default());
        }
    }
}

/// One result set: definitions, EOF, rows, EOF (or ERR).
async fn result_set(
    up: &mut Upstream,
    run: &Run<'_>,
    first: &[u8],
    lineage: Option<&Lineage>,
    rows_as: Rows,
) -> Result<(QueryResult, u16), QueryError> {
    let count = Cursor::new(first)
        .lenenc()
        .flatten()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0 && n <= MAX_COLUMNS)
        .ok_or_else(|| QueryError::Protocol("bad column count".into()))?;
    let mut defs = Vec::with_capacity(count);
    let mut columns = Vec::with_capacity(count);
    for _ in 0..count {
        let p = read(up).await?;
        let def = ColumnDef::decode(&p)
            .ok_or_else(|| QueryError::Protocol("bad column definition".into()))?;
        columns.push(Column {
            name: column_name(&p),
            value_type: value_type(&def),
        });
        defs.push(def);
    }
    if head(&read(up).await?) != Head::Eof {
        return Err(QueryError::Protocol(
            "expected EOF after the column definitions".into(),
        ));
    }
    let plan = mask::plan(&run.mask.policy, lineage, &defs, run.base_tables);
    let mut refused = None;
    if let (Some(p), Rows::Binary) = (&plan, rows_as)
        && let Err(i) = mask_binary::check(p, &defs)
    {
        refused = Some(QueryError::Server {
            code: "1235:42000".into(),
            message: format!(
                "vigil: column {} of the result must be masked, but its type cannot carry a mask and it is NOT NULL",
                i + 1
            ),
            masking: None,
        });
    }
    let mut tally = Tally::default();
    if let Some(p) = &plan {
        tally.columns = p.described().to_vec();
    }
    let mut result = QueryResult {
        columns,
        ..QueryResult::default()
    };
    let mut bytes = 0usize;
    let mut seen = 0u64;
    loop {
        let p = read(up).await?;
        match head(&p) {
            Head::Eof => {
                if let Some(e) = refused {
                    return Err(e);
                }
                result.tag = Some(format!("SELECT {seen}"));
                result.masking = tally.summary();
                return Ok((result, status_of(&p)));
            }
            Head::Err => {
                let mut e = server_error(&p, run.mask);
                if let QueryError::Server { masking, .. } = &mut e {
                    *masking = merge(masking.take(), tally.summary());
                }
                return Err(e);
            }
            _ if refused.is_some() => {}
            _ => {
                seen += 1;
                if result.rows.len() >= run.statement.max_rows {
                    return Ok((truncated(result, &tally), 0));
                }
                let row = decode_row(&p, &defs, plan.as_ref(), rows_as, &mut tally)?;
                let size: usize = row.iter().flatten().map(|v| v.len()).sum();
                if bytes.saturating_add(size) > run.statement.max_bytes {
                    return Ok((truncated(result, &tally), 0));
                }
                bytes += size;
                result.rows.push(row);
            }
        }
    }
}

fn truncated(mut result: QueryResult, tally: &Tally) -> QueryResult {
    result.truncated = true;
    result.tag = Some(format!("SELECT {}", result.rows.len()));
    result.masking = tally.summary();
    result
}

fn merge(a: Option<MaskingSummary>, b: Option<MaskingSummary>) -> Option<MaskingSummary> {
    b.or(a)
}

/// One row as text values, masked by `plan` first.
fn decode_row(
    p: &[u8],
    defs: &[ColumnDef],
    plan: Option<&MaskPlan>,
    rows_as: Rows,
    tally: &mut Tally,
) -> Result<Vec<Option<String>>, QueryError> {
    match rows_as {
        Rows::Text => {
            let masked;
            let raw = match plan {
                Some(plan) => {
                    masked = mask::text_row(plan, p, defs.len(), tally).ok_or_else(|| {
                        QueryError::Protocol("a text row that does not parse".into())
                    })?;
                    &masked[..]
                }
                None => p,
            };
            let mut c = Cursor::new(raw);
            let mut row = Vec::with_capacity(defs.len());
            for _ in defs {
                let v = c
                    .lenenc_str()
                    .ok_or_else(|| QueryError::Protocol("a text row that does not parse".into()))?;
                row.push(v.map(|b| String::from_utf8_lossy(b).into_owned()));
            }
            Ok(row)
        }
        Rows::Binary => {
            let masked;
            let raw = match plan {
                Some(plan) => {
                    masked = mask_binary::row(plan, p, defs, tally)
                        .map_err(|e| QueryError::Protocol(format!("masking a row: {e}")))?;
                    &masked[..]
                }
                None => p,
            };
            let types: Vec<u8> = defs.iter().map(|d| d.column_type).collect();
            let values = binary_row::decode(raw, &types)
                .map_err(|e| QueryError::Protocol(format!("binary row: {e}")))?;
            Ok(values
                .iter()
                .zip(defs)
                .map(|(v, d)| binary_text::text(v, d))
                .collect())
        }
    }
}

/// The column's name as the client sees it (its alias), from its definition.
fn column_name(def: &[u8]) -> String {
    let mut c = Cursor::new(def);
    for _ in 0..4 {
        let _ = c.lenenc_str();
    }
    c.lenenc_str()
        .flatten()
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .unwrap_or_default()
}

/// How a column's values are best given as JSON.
fn value_type(def: &ColumnDef) -> ValueType {
    use binary_row::ty;
    match def.column_type {
        ty::TINY | ty::SHORT | ty::LONG | ty::INT24 | ty::YEAR => ValueType::Integer,
        // An unsigned BIGINT may not fit an i64.
        ty::LONGLONG if def.flags & mask::flag::UNSIGNED == 0 => ValueType::Integer,
        ty::FLOAT | ty::DOUBLE => ValueType::Float,
        ty::JSON => ValueType::Json,
        _ => ValueType::Text,
    }
}

#[cfg(test)]
#[path = "target_query_tests.rs"]
mod tests;
