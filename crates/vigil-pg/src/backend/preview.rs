//! The reviewer's preview of a held statement: `EXPLAIN (FORMAT JSON)` of
//! it on the target, over a short-lived connection with the connection's
//! own credential.
//!
//! EXPLAIN without ANALYZE plans the statement and executes nothing. Even
//! so, the statement is explained inside a `READ ONLY` transaction that is
//! never committed, with a statement and lock timeout, and always through
//! the extended protocol: Parse accepts exactly one statement, so a text
//! that somehow held two could not run the second, and Bind carries the
//! client's own parameter bytes and formats, so `$1` is planned with its
//! value. Which statements may be previewed at all (DML only) is the
//! caller's decision; this module only does the wire work.

use super::{BackendError, UpstreamConfig, connect};
use crate::protocol::{MessageReader, MessageWriter, next_frame, parse_error_fields};
use bytes::{BufMut, BytesMut};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The largest message accepted from the target (a plan of a huge
/// partitioned table is long, but not this long).
const MAX_PLAN: usize = 8 << 20;

/// Why no plan came back.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    /// The target refused the EXPLAIN: its message and SQLSTATE.
    #[error("{message} (SQLSTATE {code})")]
    Server { code: String, message: String },
    #[error("the target sent no plan")]
    NoPlan,
}

/// The parameter type OIDs of an approval's preview hint: the front-end
/// keeps them as Parse carries them, 4 bytes each, big-endian (a trailing
/// partial one is ignored).
pub fn param_types_of_hint(hint: &[u8]) -> Vec<u32> {
    hint.chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
        .collect()
}

/// Runs `EXPLAIN (FORMAT JSON) <statement>` on the target with `params`
/// (a Bind message's parameter section: formats and values; empty for a
/// statement without parameters) typed as the client's Parse typed them
/// (`param_types`), and returns the plan's JSON text.
///
/// `statement_timeout` bounds planning and lock waits on the target; the
/// caller bounds the whole exchange (connect included) with its own timeout.
pub async fn explain_json(
    cfg: &UpstreamConfig,
    statement: &str,
    params: &[u8],
    param_types: &[u32],
    statement_timeout: Duration,
) -> Result<String, PreviewError> {
    let startup = [("application_name".to_string(), "vigil-preview".to_string())];
    let up = connect(cfg, &startup).await?;
    let mut stream = up.stream;
    let mut buf = up.leftover;
    stream
        .write_all(&explain_messages(
            statement,
            params,
            param_types,
            statement_timeout,
        ))
        .await
        .map_err(BackendError::Io)?;

    // Two ReadyForQuery: after the simple BEGIN, after the extended Sync.
    let mut ready = 0;
    let mut plan: Option<String> = None;
    let mut error: Option<PreviewError> = None;
    while ready < 2 {
        let Some((tag, msg)) = next_frame(&mut buf, MAX_PLAN).map_err(BackendError::from)? else {
            if stream.read_buf(&mut buf).await.map_err(BackendError::Io)? == 0 {
                return Err(
                    BackendError::Protocol("the target closed the connection".into()).into(),
                );
            }
            continue;
        };
        match tag {
            b'Z' => ready += 1,
            b'D' => {
                let text = data_row_text(&msg).map_err(BackendError::from)?;
                match &mut plan {
                    Some(p) => p.push_str(&text),
                    None => plan = Some(text),
                }
            }
            b'E' if error.is_none() => {
                let f = parse_error_fields(&msg).map_err(BackendError::from)?;
                error = Some(PreviewError::Server {
                    code: f.code,
                    message: f.message,
                });
            }
            // ParseComplete, BindComplete, CommandComplete, notices, ...
            _ => {}
        }
    }
    // Never committed: the transaction ends with the connection.
    let mut w = MessageWriter::new();
    w.terminate();
    let _ = stream.write_all(&w.take()).await;
    let _ = stream.shutdown().await;
    match (error, plan) {
        (Some(e), _) => Err(e),
        (None, Some(plan)) => Ok(plan),
        (None, None) => Err(PreviewError::NoPlan),
    }
}

/// BEGIN READ ONLY with local timeouts (simple protocol), then Parse, Bind,
/// Execute and Sync of the EXPLAIN (extended protocol).
fn explain_messages(
    statement: &str,
    params: &[u8],
    param_types: &[u32],
    statement_timeout: Duration,
) -> BytesMut {
    let ms = statement_timeout.as_millis().max(1);
    let mut w = MessageWriter::new();
    w.query(&format!(
        "BEGIN READ ONLY; SET LOCAL statement_timeout = {ms}; SET LOCAL lock_timeout = {ms}"
    ));
    w.parse(
        "",
        &format!("EXPLAIN (FORMAT JSON) {statement}"),
        param_types,
    );
    let out = w.buffer();
    // Bind: unnamed portal and statement, the client's parameter section,
    // text results.
    let at = begin(out, b'B');
    out.put_slice(b"\0\0");
    if params.is_empty() {
        out.put_i16(0);
        out.put_i16(0);
    } else {
        out.put_slice(params);
    }
    out.put_i16(0);
    finish(out, at);
    // Execute: unnamed portal, all rows.
    let at = begin(out, b'E');
    out.put_u8(0);
    out.put_i32(0);
    finish(out, at);
    w.sync();
    w.take()
}

fn begin(out: &mut BytesMut, tag: u8) -> usize {
    out.put_u8(tag);
    let at = out.len();
    out.put_u32(0);
    at
}

fn finish(out: &mut BytesMut, at: usize) {
    let len = u32::try_from(out.len() - at).unwrap_or(u32::MAX);
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// The text of a DataRow's columns (EXPLAIN's one column), NULLs skipped.
fn data_row_text(msg: &[u8]) -> Result<String, crate::protocol::FrameError> {
    let mut r = MessageReader::new(msg, "DataRow");
    let columns = r.i16()?;
    let mut text = String::new();
    for _ in 0..columns.max(0) {
        let len = r.i32()?;
        if len >= 0 {
            let value = r.take(usize::try_from(len).unwrap_or(0))?;
            text.push_str(&String::from_utf8_lossy(value));
        }
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{next_frame, parse_parse};

    fn frames(mut buf: BytesMut) -> Vec<(u8, bytes::Bytes)> {
        let mut out = Vec::new();
        while let Some(f) = next_frame(&mut buf, MAX_PLAN).unwrap() {
            out.push(f);
        }
        assert!(buf.is_empty());
        out
    }

    #[test]
    fn explains_one_statement_with_the_clients_parameters() {
        // One text parameter "3".
        let params = [0, 1, 0, 0, 0, 1, 0, 0, 0, 1, b'3'];
        let msgs = frames(explain_messages(
            "DELETE FROM t WHERE id = $1",
            &params,
            &[23],
            Duration::from_secs(5),
        ));
        let tags: Vec<u8> = msgs.iter().map(|(t, _)| *t).collect();
        assert_eq!(tags, b"QPBES");
        let begin = String::from_utf8_lossy(&msgs[0].1[5..]).to_string();
        assert!(begin.starts_with("BEGIN READ ONLY;"), "{begin}");
        assert!(begin.contains("statement_timeout = 5000"), "{begin}");
        let parse = parse_parse(&msgs[1].1).unwrap();
        assert_eq!(
            parse.query,
            "EXPLAIN (FORMAT JSON) DELETE FROM t WHERE id = $1"
        );
        let mut bind = params.to_vec();
        bind.splice(0..0, [0, 0]);
        bind.extend_from_slice(&[0, 0]);
        assert_eq!(&msgs[2].1[5..], &bind[..]);
    }

    #[test]
    fn a_statement_without_parameters_binds_none() {
        let msgs = frames(explain_messages(
            "DELETE FROM t",
            &[],
            &[],
            Duration::from_secs(1),
        ));
        assert_eq!(&msgs[2].1[5..], &[0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn reads_the_plan_column() {
        let mut row = BytesMut::new();
        row.put_slice(b"D\0\0\0\x0e");
        row.put_i16(1);
        row.put_i32(4);
        row.put_slice(b"[{}]");
        assert_eq!(data_row_text(&row).unwrap(), "[{}]");
    }
}
