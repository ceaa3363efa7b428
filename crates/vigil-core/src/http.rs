use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One proxied HTTP request, as the `http.*` CEL variables expose it.
///
/// Built by `vigil-http-req` from a request it could read without
/// ambiguity; a request it could not read is refused before policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HttpFacts {
    /// The method, upper case as sent (`GET`, `POST`, ...).
    pub method: String,
    /// The percent-decoded path after `/proxy/<connection>`, starting with
    /// `/`, without the query and without a trailing `/` (except `/` itself).
    pub path: String,
    /// `path` with each segment that is an identifier (all digits, or a
    /// UUID) replaced by `{id}`: `/users/42/keys` → `/users/{id}/keys`.
    pub path_template: String,
    /// Query parameters, percent-decoded (`+` as a space), every value of
    /// each name in order.
    pub query: BTreeMap<String, Vec<String>>,
    /// Allow-listed request headers, lower-case names; repeated headers
    /// joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The `Host` the client addressed (lower case), not the target's.
    pub host: String,
    /// The body parsed as JSON: only when a rule reads `http.body`, and
    /// `None` when the body is empty or not JSON.
    pub body: Option<serde_json::Value>,
    /// `query`, `mutation` or `subscription` on a `graphql = true`
    /// connection (the most powerful operation of the document); empty
    /// otherwise.
    pub graphql_operation: String,
    /// What the ledger shows: `METHOD /path?query` as forwarded.
    pub text: String,
}
