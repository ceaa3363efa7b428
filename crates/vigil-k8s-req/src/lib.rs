//! What a Kubernetes API request does, read the way the API server reads it.
//!
//! [`analyze`] turns a method and a request target (`/api/v1/namespaces/default/pods?watch=1`)
//! into a [`RequestInfo`]: the `k8s.*` facts policy sees. It follows the API server's own
//! request-info rules (`k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`): the `api` and
//! `apis` prefixes, the legacy `watch/` and `proxy/` path verbs, namespaced paths, `get` without
//! a name becoming `list` or `watch` (by the `watch` parameter, read as the server converts it),
//! `delete` without a name becoming `deletecollection`. Two things differ on purpose:
//!
//! - `exec`, `attach`, `portforward` and `proxy` subresources are their own verbs, whatever the
//!   method: a WebSocket exec is a `GET` and must never pass as a `get`.
//! - Anything the server could read differently from this code is refused ([`Refusal`]):
//!   percent-encoded or empty path segments, dot segments, control or non-ASCII bytes, query
//!   pairs Go's `url.ParseQuery` would drop, methods with no verb. No guessing: a refusal is a
//!   400 before policy.
//!
//! No I/O: the HTTP front-end calls it for every request.

mod info;
mod path;
mod query;

pub use info::{ExecOptions, RequestInfo};
pub use query::Query;

/// Why a request is refused before policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// The path is not in the one form Vigil and the API server read alike.
    #[error("ambiguous path: {0}")]
    Path(&'static str),
    /// The query string has a pair the server would drop or decode differently.
    #[error("ambiguous query: {0}")]
    Query(&'static str),
    /// The method has no Kubernetes verb for a resource (`OPTIONS`, `TRACE`, ...).
    #[error("the method {0} has no Kubernetes verb")]
    Method(String),
    /// The path names a verb but no resource (`/api/v1/watch`).
    #[error("the path names no resource: {0}")]
    Incomplete(&'static str),
}

/// Longest request target analysed (path and query).
pub const MAX_TARGET_LEN: usize = 16 * 1024;

/// The request as the API server will read it, or why it cannot be told.
pub fn analyze(method: &str, target: &str) -> Result<RequestInfo, Refusal> {
    if target.len() > MAX_TARGET_LEN {
        return Err(Refusal::Path("longer than 16 KiB"));
    }
    let (raw_path, raw_query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    if raw_path.contains('#') || raw_query.contains('#') {
        return Err(Refusal::Path("a fragment"));
    }
    let segments = path::segments(raw_path)?;
    let query = Query::parse(raw_query)?;
    info::request_info(method, &segments, query)
}

#[cfg(test)]
mod tests;
