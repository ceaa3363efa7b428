//! The API server's request-info rules over canonical segments.

use crate::{Query, Refusal};

/// What one API request does: the `k8s.*` facts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RequestInfo {
    /// `get`, `list`, `watch`, `create`, `update`, `patch`, `delete`, `deletecollection`,
    /// `exec`, `attach`, `portforward`, `proxy`; for a non-resource request (`/version`,
    /// `/apis`, `/openapi/v3`) the method in lower case.
    pub verb: String,
    /// False for discovery and other non-resource paths.
    pub resource_request: bool,
    /// `api` or `apis` (empty for non-resource requests).
    pub api_prefix: String,
    /// Empty for the core group (`/api/v1`).
    pub group: String,
    pub version: String,
    /// Empty for cluster-scoped requests and for lists across namespaces.
    pub namespace: String,
    pub resource: String,
    pub subresource: String,
    pub name: String,
    /// The canonical path (`/` and the segments), without the query.
    pub path: String,
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    /// `dryRun=All`: the server validates but persists nothing.
    pub dry_run: bool,
    /// The options of an `exec` or `attach`.
    pub exec: Option<ExecOptions>,
}

/// `exec`/`attach` options from the query, as the kubelet will see them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ExecOptions {
    /// Each `command` parameter in order: the argv the container runs (no shell unless the
    /// argv names one).
    pub command: Vec<String>,
    pub container: Option<String>,
    pub tty: bool,
    pub stdin: bool,
}

/// Subresources that are verbs of their own, whatever the method.
const VERB_SUBRESOURCES: &[&str] = &["exec", "attach", "portforward", "proxy"];

/// `requestinfo.go`'s `NewRequestInfo`, with exec-like subresources as verbs.
pub(crate) fn request_info(
    method: &str,
    segments: &[&str],
    query: Query,
) -> Result<RequestInfo, Refusal> {
    let mut info = RequestInfo {
        verb: method.to_ascii_lowercase(),
        path: format!("/{}", segments.join("/")),
        ..RequestInfo::default()
    };
    if !method.bytes().all(|b| b.is_ascii_uppercase()) || method.is_empty() {
        return Err(Refusal::Method(printable(method)));
    }
    info.label_selector = query.first("labelSelector").map(str::to_string);
    info.field_selector = query.first("fieldSelector").map(str::to_string);
    let mut dry_run = query.all("dryRun").peekable();
    info.dry_run = dry_run.peek().is_some() && dry_run.all(|v| v == "All");

    // Fewer than three parts, or another prefix: a non-resource request (discovery, /version,
    // /healthz, /openapi/...), whose verb is the method.
    if segments.len() < 3 || !matches!(segments[0], "api" | "apis") {
        return Ok(info);
    }
    let mut parts = segments;
    info.api_prefix = parts[0].to_string();
    parts = &parts[1..];
    if info.api_prefix == "apis" {
        if parts.len() < 3 {
            return Ok(info); // `/apis/apps/v1`: group discovery
        }
        info.group = parts[0].to_string();
        parts = &parts[1..];
    }
    info.resource_request = true;
    info.version = parts[0].to_string();
    parts = &parts[1..];

    // The legacy `/watch/...` and `/proxy/...` forms name the verb in the path.
    let verb_in_path = matches!(parts.first(), Some(&"watch") | Some(&"proxy"));
    if verb_in_path {
        if parts.len() < 2 {
            return Err(Refusal::Incomplete(
                "a watch or proxy path without a resource",
            ));
        }
        info.verb = parts[0].to_string();
        parts = &parts[1..];
    } else {
        info.verb = match method {
            "POST" => "create",
            "GET" | "HEAD" => "get",
            "PUT" => "update",
            "PATCH" => "patch",
            "DELETE" => "delete",
            other => return Err(Refusal::Method(printable(other))),
        }
        .to_string();
    }

    if parts.first() == Some(&"namespaces") && parts.len() > 1 {
        info.namespace = parts[1].to_string();
        // `/namespaces/x/status` and `/finalize` are the namespace's own subresources.
        if parts.len() > 2 && !matches!(parts[2], "status" | "finalize") {
            parts = &parts[2..];
        }
    }

    if parts.len() >= 3 && info.verb != "proxy" {
        info.subresource = parts[2].to_string();
    }
    if parts.len() >= 2 {
        info.name = parts[1].to_string();
    }
    if let Some(resource) = parts.first() {
        info.resource = resource.to_string();
    }

    if info.name.is_empty() && info.verb == "get" {
        info.verb = if query.flag("watch") { "watch" } else { "list" }.to_string();
        // A list narrowed to one name by `metadata.name=` is about that object.
        if let Some(name) = info.field_selector.as_deref().and_then(exact_name) {
            info.name = name.to_string();
        }
    }
    if info.name.is_empty() && info.verb == "delete" {
        info.verb = "deletecollection".to_string();
    }
    if VERB_SUBRESOURCES.contains(&info.subresource.as_str()) {
        info.verb = info.subresource.clone();
    }
    if matches!(info.verb.as_str(), "exec" | "attach") {
        info.exec = Some(ExecOptions {
            command: query.all("command").map(str::to_string).collect(),
            container: query.first("container").map(str::to_string),
            tty: query.flag("tty"),
            stdin: query.flag("stdin"),
        });
    }
    Ok(info)
}

/// `metadata.name=x` or `metadata.name==x` alone in a field selector (what
/// `RequiresExactMatch` accepts), with a name that is a valid path segment.
fn exact_name(selector: &str) -> Option<&str> {
    if selector.contains(',') {
        return None;
    }
    let value = selector
        .strip_prefix("metadata.name==")
        .or_else(|| selector.strip_prefix("metadata.name="))?;
    let valid = !value.is_empty()
        && value != "."
        && value != ".."
        && !value.contains('/')
        && !value.contains('%');
    valid.then_some(value)
}

/// A method for an error message: at most 32 printable ASCII characters.
fn printable(method: &str) -> String {
    method
        .chars()
        .take(32)
        .map(|c| if c.is_ascii_graphic() { c } else { '?' })
        .collect()
}
