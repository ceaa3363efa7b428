//! The seam to targets that answer HTTP requests: `kind = "http"` APIs and
//! Kubernetes API servers. The MCP tools `http_request` and `kubernetes`
//! reach them through it with the native front-end's own analysis, permit,
//! credential injection and answer masking, without knowing HTTP clients.

use vigil_core::{ActionKind, MaskingSummary};
use vigil_guard::{Permit, SessionCtx};

use crate::{BoxFuture, TargetError};

/// Which front-end's reading a target shares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiKind {
    /// `/proxy/<connection>/...`: `http.*` facts.
    Http,
    /// `/k8s/<connection>/...`: `k8s.*` facts, Secret values masked.
    Kubernetes,
}

/// One request, as a tool call builds it.
#[derive(Clone, Copy, Debug)]
pub struct ApiRequest<'a> {
    /// An upper-case method (`GET`, `POST`, ...).
    pub method: &'a str,
    /// The path and query after the connection's base URL, starting with
    /// `/` (`/orders/7?expand=lines`).
    pub target: &'a str,
    /// The body's `Content-Type`, when it has one.
    pub content_type: Option<&'a str>,
    /// The body (empty: none is sent).
    pub body: &'a [u8],
}

/// The target's answer, as the caller may see it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ApiAnswer {
    pub status: u16,
    /// The answer's `Content-Type` ("" when it named none).
    pub content_type: String,
    /// The body, masked where the session's policy (or, for Kubernetes,
    /// Secret masking) says so.
    pub body: Vec<u8>,
    /// Bytes past the call's bound were dropped (only ever for an answer
    /// that needed no masking: a masked one past the bound is refused).
    pub truncated: bool,
    /// What was masked (counts, never values), for the ledger.
    pub masking: Option<MaskingSummary>,
}

/// One configured connection that answers HTTP requests.
pub trait ApiTarget: Send + Sync {
    fn kind(&self) -> ApiKind;

    /// The request as policy sees it, read exactly as the native front-end
    /// reads it. `read_body`: a rule reads `http.body`, so a JSON body is
    /// parsed. Errors say why it cannot be read one way only (the caller
    /// refuses it before policy).
    fn action(&self, request: &ApiRequest<'_>, read_body: bool) -> Result<ActionKind, String>;

    /// Sends the request `permit` was given for, with the connection's
    /// credential, and reads its answer: masked for `session` and at most
    /// `max_bytes` of it. A masked answer past the bound, or one that must
    /// be masked but cannot be, is an error, never relayed unmasked.
    fn send<'a>(
        &'a self,
        permit: &'a Permit,
        session: &'a SessionCtx,
        request: &'a ApiRequest<'a>,
        max_bytes: usize,
    ) -> BoxFuture<'a, Result<ApiAnswer, TargetError>>;
}
