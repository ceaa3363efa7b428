//! The tools, described for the model that calls them. A principal sees
//! only the tools it can use, and the `connection` argument names only the
//! connections its policies grant.

use rmcp::model::{JsonObject, Tool, ToolAnnotations};
use serde_json::{Value, json};
use std::sync::Arc;

pub const LIST_CONNECTIONS: &str = "list_connections";
pub const DESCRIBE_CONNECTION: &str = "describe_connection";
pub const QUERY: &str = "query";
pub const APPROVAL_STATUS: &str = "approval_status";
pub const SSH_EXEC: &str = "ssh_exec";
pub const HTTP_REQUEST: &str = "http_request";
pub const KUBERNETES: &str = "kubernetes";

/// What every API tool's description says of its outcomes.
fn api_outcomes(tool: &str, limits: &crate::Limits) -> String {
    format!(
        "The result's \"status\" says what happened:\n\
         - \"ok\": \"http_status\", \"content_type\", \"body\" (JSON as JSON, anything else \
         as text) and \"truncated\": true when the answer was longer than {max} bytes and cut. \
         An answer Vigil must mask is never cut: past {max} bytes it is an error, so ask for \
         less. \"masked\" counts what was masked; do not try to recover masked values.\n\
         - \"denied\": policy refused it (\"rule\", \"reason\"); nothing was sent. Do not \
         retry it; change your approach or report the denial.\n\
         - \"pending_approval\": a reviewer must approve it first (\"approval_id\"); nothing \
         was sent. Once approved, call {tool} again with exactly the same arguments: it is \
         sent once.\n\
         - \"error\": it could not be read, sent or masked (\"reason\").",
        max = limits.max_result_bytes
    )
}

/// The `http_request` tool, for a principal granted the HTTP `connections`.
pub fn http_request(connections: &[String], limits: &crate::Limits) -> Tool {
    tool(
        HTTP_REQUEST,
        &format!(
            "Send ONE request to an HTTP API connection. Vigil adds the connection's \
             credential; policy sees the method, path, query and (JSON) body. {}",
            api_outcomes(HTTP_REQUEST, limits)
        ),
        json!({
            "type": "object",
            "properties": {
                "connection": {
                    "type": "string",
                    "enum": connections,
                    "description": "The HTTP connection, as named by list_connections.",
                },
                "method": {
                    "type": "string",
                    "enum": ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
                },
                "path": {
                    "type": "string",
                    "description": "The path after the connection's base URL, starting with /, with its query if any (\"/orders/7?expand=lines\").",
                },
                "body": { "type": "string", "description": "The request body, as text (JSON as a string)." },
                "content_type": {
                    "type": "string",
                    "description": "The body's media type (default application/json when there is a body).",
                },
            },
            "required": ["connection", "method", "path"],
            "additionalProperties": false,
        }),
        false,
    )
}

/// The `kubernetes` tool, for a principal granted the Kubernetes `connections`.
pub fn kubernetes(connections: &[String], limits: &crate::Limits) -> Tool {
    let name = |what: &str| json!({ "type": "string", "description": what });
    tool(
        KUBERNETES,
        &format!(
            "Make ONE Kubernetes API request (as kubectl get/create/replace/patch/delete \
             would). Vigil uses its own credential; policy sees the verb, group, resource, \
             namespace and name. Secret values come back masked unless policy reveals them. \
             No exec, attach, port-forward or watch. {}",
            api_outcomes(KUBERNETES, limits)
        ),
        json!({
            "type": "object",
            "properties": {
                "connection": {
                    "type": "string",
                    "enum": connections,
                    "description": "The Kubernetes connection, as named by list_connections.",
                },
                "verb": { "type": "string", "enum": ["get", "list", "create", "update", "patch", "delete"] },
                "resource": name("The resource, plural and lower case (pods, deployments, secrets)."),
                "group": name("The API group (apps, batch, networking.k8s.io); omit for the core group."),
                "version": name("The API version (default v1)."),
                "namespace": name("The namespace; omit for cluster-scoped resources or to list in all namespaces."),
                "name": name("The object's name (get, update, patch, delete)."),
                "subresource": name("A subresource of the named object (status, scale, log)."),
                "label_selector": name("For list: a label selector (\"app=web,tier!=db\")."),
                "body": {
                    "type": ["object", "array"],
                    "description": "For create, update and patch: the object or the patch.",
                },
                "patch_type": { "type": "string", "enum": ["merge", "strategic", "json"], "description": "For patch (default merge)." },
                "dry_run": { "type": "boolean", "description": "For writes: let the API server check it without persisting it." },
            },
            "required": ["connection", "verb", "resource"],
            "additionalProperties": false,
        }),
        false,
    )
}

/// The `ssh_exec` tool, for a principal granted the SSH `connections`.
pub fn ssh_exec(connections: &[String], limits: &crate::Limits) -> Tool {
    tool(
        SSH_EXEC,
        &format!(
            "Run ONE command on an SSH connection (no pipes, redirections, variables or \
             `;`: Vigil must be able to prove what runs, or policy treats it as opaque). \
             The result's \"status\" says what happened:\n\
             - \"ok\": \"stdout\", \"stderr\", \"exit_status\", and \"truncated\": true when \
             more than {max} bytes of output were produced.\n\
             - \"denied\": policy refused it (\"rule\", \"reason\"); it did not run.\n\
             - \"pending_approval\": a reviewer must approve it first (\"approval_id\"); \
             once approved, call ssh_exec again with exactly the same command.\n\
             - \"error\": it could not be run (\"reason\").",
            max = limits.max_result_bytes
        ),
        json!({
            "type": "object",
            "properties": {
                "connection": {
                    "type": "string",
                    "enum": connections,
                    "description": "The SSH connection, as named by list_connections.",
                },
                "command": { "type": "string", "description": "One command line, e.g. \"df -h /\"." },
            },
            "required": ["connection", "command"],
            "additionalProperties": false,
        }),
        false,
    )
}

/// The tools for a principal granted `connections`; none when it may use
/// no connection at all.
pub fn for_principal(connections: &[String], approvals: bool, limits: &crate::Limits) -> Vec<Tool> {
    if connections.is_empty() {
        return Vec::new();
    }
    let connection = json!({
        "type": "string",
        "enum": connections,
        "description": "The connection to use, as named by list_connections.",
    });
    let mut tools = vec![
        tool(
            LIST_CONNECTIONS,
            "List the database connections you may use through Vigil, with their kind. \
             Takes no arguments. Start here.",
            json!({ "type": "object", "properties": {}, "additionalProperties": false }),
            true,
        ),
        tool(
            DESCRIBE_CONNECTION,
            "Describe the tables and views of a connection that you may read: for each \
             relation its schema, name, kind and columns (name, type). Columns with \
             \"masked\": true come back masked in query results (partly or wholly replaced \
             by *): do not try to recover them. Call this before writing SQL.",
            json!({
                "type": "object",
                "properties": { "connection": connection },
                "required": ["connection"],
                "additionalProperties": false,
            }),
            true,
        ),
        tool(
            QUERY,
            &format!(
                "Run ONE SQL statement on a connection, in its dialect (list_connections gives each \
                 connection's kind: postgres, or mysql for MySQL and MariaDB). Vigil checks it \
                 against policy first and records it. The result's \"status\" says what happened:\n\
                 - \"ok\": \"columns\" and \"rows\" (arrays of values), \"truncated\": true when \
                 more rows existed than were returned (at most max_rows, default {default}, \
                 up to {max}); \"command\" is the server's tag (e.g. \"DELETE 3\").\n\
                 - \"denied\": policy refused it (\"rule\", \"reason\"); it did not run. Do not \
                 retry the same statement; change your approach or report the denial.\n\
                 - \"pending_approval\": a human reviewer must approve it first \
                 (\"approval_id\", \"reviewers\"). It did not run. Call approval_status with the \
                 approval_id (wait_seconds up to {wait}) and, once approved, call query again \
                 with exactly the same sql and parameters: it then runs once.\n\
                 - \"error\": the statement failed or could not be sent (\"reason\", or \
                 \"sqlstate\" and \"message\" from the database).\n\
                 Use placeholders with \"parameters\" for values instead of writing literals \
                 into the SQL: $1, $2, ... on postgres connections, ? (one per parameter, in \
                 order) on mysql connections.",
                default = limits.default_rows,
                max = limits.max_rows,
                wait = limits.max_wait.as_secs(),
            ),
            json!({
                "type": "object",
                "properties": {
                    "connection": connection,
                    "sql": {
                        "type": "string",
                        "description": "Exactly one SQL statement, without a trailing semicolon being required.",
                    },
                    "parameters": {
                        "type": "array",
                        "description": "Values for the placeholders ($1, $2, ... on postgres; ? on mysql), in order (strings, numbers, booleans or null).",
                        "items": {},
                        "maxItems": limits.max_parameters,
                    },
                    "max_rows": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": limits.max_rows,
                        "description": format!("Rows to return at most (default {}).", limits.default_rows),
                    },
                },
                "required": ["connection", "sql"],
                "additionalProperties": false,
            }),
            false,
        ),
    ];
    if approvals {
        tools.push(approval_status(limits));
    }
    tools
}

/// The `approval_status` tool.
pub fn approval_status(limits: &crate::Limits) -> Tool {
    tool(
        APPROVAL_STATUS,
        &format!(
            "The state of an approval request that query answered with \
                 \"pending_approval\": \"pending\", \"approved\" (call query again with the \
                 same statement to run it), \"denied\" (with the reviewer's reason), \
                 \"expired\", \"used\" or \"withdrawn\". With wait_seconds (at most {}), waits \
                 until the request is decided or the time is up.",
            limits.max_wait.as_secs()
        ),
        json!({
            "type": "object",
            "properties": {
                "approval_id": { "type": "string", "description": "The approval_id query returned." },
                "wait_seconds": {
                    "type": "integer",
                    "minimum": 0,
                    "maximum": limits.max_wait.as_secs(),
                    "description": "Wait up to this long for a decision (default 0: answer at once).",
                },
            },
            "required": ["approval_id"],
            "additionalProperties": false,
        }),
        true,
    )
}

fn tool(name: &'static str, description: &str, schema: Value, read_only: bool) -> Tool {
    let schema: JsonObject = match schema {
        Value::Object(o) => o,
        _ => JsonObject::new(),
    };
    let mut annotations = ToolAnnotations::new();
    annotations.read_only_hint = Some(read_only);
    annotations.open_world_hint = Some(false);
    Tool::new(name, description.to_string(), Arc::new(schema)).with_annotations(annotations)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connections(t: &Tool) -> Value {
        t.input_schema
            .get("properties")
            .and_then(|p| p.get("connection"))
            .and_then(|c| c.get("enum"))
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn api_tools_name_only_the_granted_connections_and_their_outcomes() {
        let limits = crate::Limits::default();
        let http = http_request(&["api".into(), "pii".into()], &limits);
        assert_eq!(http.name, HTTP_REQUEST);
        assert_eq!(connections(&http), json!(["api", "pii"]));
        let kube = kubernetes(&["prod".into()], &limits);
        assert_eq!(kube.name, KUBERNETES);
        assert_eq!(connections(&kube), json!(["prod"]));
        for t in [&http, &kube] {
            let d = t.description.as_deref().unwrap_or_default();
            for outcome in ["\"ok\"", "\"denied\"", "\"pending_approval\"", "\"error\""] {
                assert!(d.contains(outcome), "{outcome} in {d}");
            }
            assert!(d.contains(&format!("call {} again", t.name)), "{d}");
        }
        // A principal without SQL connections gets none of the SQL tools.
        assert!(for_principal(&[], true, &limits).is_empty());
    }
}
