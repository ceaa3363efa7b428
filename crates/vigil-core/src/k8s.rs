use serde::{Deserialize, Serialize};

/// One Kubernetes API request, as the `k8s.*` CEL variables expose it.
///
/// Built by the Kubernetes front-end from `vigil-k8s-req`'s reading of the
/// request, which follows the API server's own request-info rules; a
/// request it could not read one way only is refused before policy.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sFacts {
    /// `get list watch create update patch delete deletecollection exec
    /// attach portforward proxy`; for discovery and other non-resource
    /// paths (`/api`, `/version`, `/openapi/v3`) the method in lower case.
    pub verb: String,
    /// Empty for the core group.
    pub group: String,
    pub version: String,
    /// Empty for non-resource requests.
    pub resource: String,
    pub subresource: String,
    /// Empty for cluster-scoped requests and lists across namespaces.
    pub namespace: String,
    pub name: String,
    pub label_selector: String,
    pub field_selector: String,
    /// `dryRun=All`: validated, nothing persisted.
    pub dry_run: bool,
    /// The request's own path (after `/k8s/<connection>`), without the query.
    pub path: String,
    pub exec: K8sExec,
    /// What the ledger shows: `METHOD /path?query` as forwarded.
    pub text: String,
}

/// An `exec` or `attach`: what the container is asked to run.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct K8sExec {
    /// Each `command` parameter in order: the argv the runtime executes
    /// (no shell unless the argv names one). Empty for `attach`.
    pub command: Vec<String>,
    /// The command's words after unwrapping `sh -c`, `env`, `timeout`...,
    /// only when provable (the SSH exec analyser's reading); else empty.
    pub argv: Vec<String>,
    /// The normalised command name; empty when opaque.
    pub argv0: String,
    /// The command's effect cannot be proven (`sh -c 'a; b'`, ...).
    pub opaque: bool,
    pub opaque_reasons: Vec<String>,
    pub container: String,
    pub tty: bool,
    pub stdin: bool,
}
