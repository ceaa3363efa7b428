//! The target seam: how a front-end that answers with values (the MCP
//! tools, the approval previewer) reaches a SQL database without knowing its
//! wire protocol.
//!
//! A protocol crate (today `vigil-pg`) implements [`SqlTarget`] once per
//! configured connection and hands the same object to its own proxy
//! sessions, so every front-end shares one catalog and one analysis cache
//! per connection. Nothing here reads bytes: the types are the vocabulary
//! both sides agree on.
//!
//! Running a statement takes the guard's [`Permit`] for it, which only
//! `Guard::decide` can make:
//!
//! ```compile_fail,E0639
//! # use vigil_target::{ResultMask, SqlSession, Statement};
//! # async fn f(session: &mut dyn SqlSession, statement: &Statement<'_>, mask: &ResultMask) {
//! let forged = vigil_guard::Permit { seqs: Vec::new() };
//! let result = session.run(&forged, statement, mask).await;
//! # }
//! ```

mod result;

mod api;
mod exec;

pub use api::{ApiAnswer, ApiKind, ApiRequest, ApiTarget};
pub use exec::{ExecOutput, ExecTarget};
pub use result::{Column, QueryError, QueryResult, RelationColumn, ValueType};

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use vigil_core::{ActionKind, SqlFacts};
use vigil_guard::Permit;
use vigil_mask::{MaskPlan, MaskPolicy};

/// A boxed future, so the traits stay object-safe (`Arc<dyn SqlTarget>`).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why the target could not be reached or asked.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// Connecting or logging in failed; the text never holds a credential.
    #[error("cannot reach the target: {0}")]
    Unreachable(String),
    /// The target answered, but not with what was asked.
    #[error("{0}")]
    Failed(String),
}

/// One configured SQL connection, as every front-end sees it. The dialect,
/// the catalog and the caches stay behind it: PostgreSQL and MySQL analyse
/// differently, and every front-end of a connection shares its target's.
pub trait SqlTarget: Send + Sync {
    /// Analyses `sql` as the target will read it, with the connection's
    /// latest catalog and shared analysis cache, and works out how its
    /// answer is masked under `policy`. Errors say why the text cannot be
    /// analysed (the caller refuses it).
    fn analyze<'a>(
        &'a self,
        sql: &'a str,
        policy: &'a Arc<MaskPolicy>,
    ) -> BoxFuture<'a, Result<Analysed, String>>;

    /// The actions of reading a whole relation, for a front-end that lists
    /// only what a principal may read. Errors: the probe does not analyse.
    fn read_actions<'a>(
        &'a self,
        schema: &'a str,
        relation: &'a str,
    ) -> BoxFuture<'a, Result<Vec<ActionKind>, String>>;

    /// Logs in with the connection's injected credential.
    fn connect<'a>(
        &'a self,
        application: &'a str,
    ) -> BoxFuture<'a, Result<Box<dyn SqlSession>, TargetError>>;

    /// The target's own estimate of what a held statement would touch, as
    /// its plan in JSON: for the reviewer, never run for real. `binding` and
    /// `hint` are the approval's (the held message's parameters and types).
    fn explain<'a>(
        &'a self,
        statement: &'a str,
        binding: &'a [u8],
        hint: &'a [u8],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<String, TargetError>>;
}

/// What the target made of a statement text.
pub struct Analysed {
    /// One entry per statement of the text: what policy decides on.
    pub facts: Arc<[SqlFacts]>,
    /// How the answer is masked.
    pub mask: ResultMask,
}

/// A logged-in connection to the target, used by one front-end call.
pub trait SqlSession: Send {
    /// Runs the one statement `permit` was given for and reads its answer
    /// whole, masked by `mask`.
    fn run<'a>(
        &'a mut self,
        permit: &'a Permit,
        statement: &'a Statement<'a>,
        mask: &'a ResultMask,
    ) -> BoxFuture<'a, Result<QueryResult, QueryError>>;

    /// The relations and columns the login may read, in order, at most
    /// `limit` columns: the gateway's own statement, not a client's.
    fn describe(&mut self, limit: usize) -> BoxFuture<'_, Result<Vec<RelationColumn>, QueryError>>;

    /// Stops a statement still running on the target (after its `run` was
    /// abandoned), with the target's own cancel mechanism.
    fn cancel(&self) -> BoxFuture<'_, Result<(), TargetError>>;

    /// Ends the login.
    fn close(self: Box<Self>) -> BoxFuture<'static, ()>;
}

/// One statement to run and how much of its answer to keep.
pub struct Statement<'a> {
    pub sql: &'a str,
    /// Text parameters (`None` is NULL), bound, never spliced into the text.
    pub params: &'a [Option<String>],
    /// Rows kept; more rows make the result `truncated`.
    pub max_rows: usize,
    /// Bytes of row values kept; past it the result is `truncated` too.
    pub max_bytes: usize,
}

/// How one statement's answer is masked.
#[derive(Default)]
pub struct ResultMask {
    /// Per-column maskers and content detectors; `None`: nothing to mask.
    pub plan: Option<MaskPlan>,
    /// The session's policy, for the target's errors and notices.
    pub policy: Arc<MaskPolicy>,
    /// Errors keep only their code: the statement may read masked data and
    /// a failed cast or lookup can quote the value it read.
    pub hide_error_text: bool,
}

/// The parameters as the approval binds them: a count, then each value
/// length-prefixed (-1 for NULL), so two parameter lists hash the same only
/// when they are the same.
pub fn encode_params(params: &[Option<String>]) -> Vec<u8> {
    let count = params.len().min(i16::MAX as usize);
    let mut out =
        Vec::with_capacity(4 + params.iter().flatten().map(|p| p.len() + 4).sum::<usize>());
    out.extend_from_slice(&0i16.to_be_bytes());
    out.extend_from_slice(&(count as i16).to_be_bytes());
    for p in params.iter().take(count) {
        match p {
            Some(v) => {
                let len = i32::try_from(v.len()).unwrap_or(i32::MAX);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(v.as_bytes());
            }
            None => out.extend_from_slice(&(-1i32).to_be_bytes()),
        }
    }
    out
}

/// The parameters of a binding in the layout of a PostgreSQL Bind message's
/// parameter section (what [`encode_params`] writes, and what the
/// PostgreSQL front-end binds): format codes, a count, each value
/// length-prefixed. A text value as itself; a binary one as `\x` and hex.
/// `None` when the bytes are not that layout (another front-end's binding).
pub fn decode_params(binding: &[u8]) -> Option<Vec<Option<String>>> {
    if binding.is_empty() {
        return Some(Vec::new());
    }
    let mut at = 0usize;
    let i16_at = |at: &mut usize| -> Option<i16> {
        let v = i16::from_be_bytes([*binding.get(*at)?, *binding.get(*at + 1)?]);
        *at += 2;
        Some(v)
    };
    let formats = usize::try_from(i16_at(&mut at)?).ok()?;
    let mut codes = Vec::with_capacity(formats.min(1024));
    for _ in 0..formats {
        // Text or binary: any other code is not this layout.
        codes.push(i16_at(&mut at).filter(|c| *c == 0 || *c == 1)?);
    }
    let count = usize::try_from(i16_at(&mut at)?).ok()?;
    let mut out = Vec::with_capacity(count.min(1024));
    for i in 0..count {
        let len = binding.get(at..at + 4)?;
        let len = i32::from_be_bytes([len[0], len[1], len[2], len[3]]);
        at += 4;
        if len < 0 {
            out.push(None);
            continue;
        }
        let end = at.checked_add(usize::try_from(len).ok()?)?;
        let bytes = binding.get(at..end)?;
        let binary = match codes.as_slice() {
            [] => false,
            [one] => *one == 1,
            many => *many.get(i)? == 1,
        };
        out.push(Some(if binary {
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            format!("\\x{hex}")
        } else {
            String::from_utf8(bytes.to_vec()).ok()?
        }));
        at = end;
    }
    (at == binding.len()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::{decode_params, encode_params};

    #[test]
    fn parameters_decode_as_they_were_encoded() {
        let params = vec![Some("ab".to_string()), None, Some(String::new())];
        assert_eq!(decode_params(&encode_params(&params)), Some(params));
        assert_eq!(decode_params(b""), Some(vec![]));
        assert_eq!(decode_params(b"\0\0\0\x01\0\0"), None);
        let mut extra = encode_params(&[Some("x".into())]);
        extra.push(0);
        assert_eq!(decode_params(&extra), None);
    }

    #[test]
    fn binary_values_are_shown_in_hex() {
        // One format code (binary) for all, two values.
        let b = b"\0\x01\0\x01\0\x02\0\0\0\x02\x01\xff\xff\xff\xff\xff";
        assert_eq!(decode_params(b), Some(vec![Some("\\x01ff".into()), None]));
    }

    #[test]
    fn parameters_are_length_prefixed() {
        let p = encode_params(&[Some("ab".into()), None]);
        assert_eq!(p, b"\0\0\0\x02\0\0\0\x02ab\xff\xff\xff\xff");
        assert_eq!(encode_params(&[]), b"\0\0\0\0");
    }
}
