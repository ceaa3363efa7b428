//! The MCP server: lists the caller's tools and dispatches tool calls. The
//! caller is the principal the bearer middleware authenticated for this
//! very HTTP request.

use crate::auth::Caller;
use crate::{Mcp, outcome, tools};
use rmcp::model::{
    CallToolRequestParams, CallToolResponse, CallToolResult, Implementation, JsonObject,
    ListToolsResult, PaginatedRequestParams, ServerCapabilities, ServerConfig,
};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler};
use std::sync::Arc;
use vigil_core::RunId;
use vigil_guard::Principal;
use vigil_target::ApiKind;

/// The `_meta` key that names the agent run of one tool call.
const RUN_META: &str = "vigil_run";

pub struct VigilMcp {
    mcp: Arc<Mcp>,
}

impl VigilMcp {
    pub fn new(mcp: Arc<Mcp>) -> Self {
        Self { mcp }
    }

    /// The SQL connections `principal` may use through MCP (PostgreSQL and
    /// MySQL ones).
    fn connections(&self, principal: &Principal) -> Vec<String> {
        self.mcp
            .guard
            .connections_for(principal)
            .into_iter()
            .filter(|c| self.mcp.targets.contains_key(&c.name))
            .map(|c| c.name)
            .collect()
    }

    /// The SSH connections `principal` may use through `ssh_exec`.
    fn exec_connections(&self, principal: &Principal) -> Vec<String> {
        self.mcp
            .guard
            .connections_for(principal)
            .into_iter()
            .filter(|c| self.mcp.exec_targets.contains_key(&c.name))
            .map(|c| c.name)
            .collect()
    }

    /// The HTTP (or Kubernetes) connections `principal` may use through
    /// `http_request` (or `kubernetes`).
    fn api_connections(&self, principal: &Principal, kind: ApiKind) -> Vec<String> {
        self.mcp
            .guard
            .connections_for(principal)
            .into_iter()
            .filter(|c| {
                self.mcp
                    .api_targets
                    .get(&c.name)
                    .is_some_and(|t| t.kind() == kind)
            })
            .map(|c| c.name)
            .collect()
    }
}

/// The caller of the request; the middleware guarantees there is one.
fn caller(context: &RequestContext<RoleServer>) -> Result<Caller, ErrorData> {
    context
        .extensions
        .get::<axum::http::request::Parts>()
        .and_then(|p| p.extensions.get::<Caller>())
        .cloned()
        .ok_or_else(|| ErrorData::internal_error("request is not authenticated", None))
}

impl ServerHandler for VigilMcp {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("vigil", env!("CARGO_PKG_VERSION")))
            .with_instructions(
                "Vigil is a gateway to databases. Every statement is checked against policy, \
                 recorded, and its results masked where policy says so. Use list_connections, \
                 then describe_connection, then query. A query may come back denied (do not \
                 retry it) or pending_approval (wait with approval_status, then repeat the \
                 same query once approved).",
            )
    }

    async fn list_tools(
        &self,
        _request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, ErrorData> {
        let caller = caller(&context)?;
        let connections = self.connections(&caller.principal);
        let exec_connections = self.exec_connections(&caller.principal);
        let mut listed = tools::for_principal(
            &connections,
            self.mcp.guard.approvals_supported(),
            &self.mcp.limits,
        );
        if !exec_connections.is_empty() {
            listed.push(tools::ssh_exec(&exec_connections, &self.mcp.limits));
        }
        let http = self.api_connections(&caller.principal, ApiKind::Http);
        let kube = self.api_connections(&caller.principal, ApiKind::Kubernetes);
        if !http.is_empty() {
            listed.push(tools::http_request(&http, &self.mcp.limits));
        }
        if !kube.is_empty() {
            listed.push(tools::kubernetes(&kube, &self.mcp.limits));
        }
        // A principal with API connections only still waits on its approvals.
        let apis = !http.is_empty() || !kube.is_empty();
        if connections.is_empty() && apis && self.mcp.guard.approvals_supported() {
            listed.push(tools::approval_status(&self.mcp.limits));
        }
        Ok(ListToolsResult::with_all_items(listed))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, ErrorData> {
        let mut caller = caller(&context)?;
        let run = request
            .meta
            .as_ref()
            .and_then(|m| m.0.0.get(RUN_META))
            .or_else(|| context.meta.0.0.get(RUN_META))
            .and_then(|v| v.as_str());
        if let Some(run) = run {
            match RunId::parse(run) {
                Ok(run) => caller.run_id = Some(run),
                Err(why) => return Ok(outcome::error(why).into()),
            }
        }
        let args = request.arguments.unwrap_or_default();
        let connections = self.connections(&caller.principal);
        let exec_connections = self.exec_connections(&caller.principal);
        let http = self.api_connections(&caller.principal, ApiKind::Http);
        let kube = self.api_connections(&caller.principal, ApiKind::Kubernetes);
        let result = match request.name.as_ref() {
            tools::SSH_EXEC if !exec_connections.is_empty() => {
                match connection_arg(&args, &exec_connections) {
                    Ok(c) => self.mcp.ssh_exec(caller, &c, &args).await,
                    Err(e) => e,
                }
            }
            tools::HTTP_REQUEST if !http.is_empty() => match connection_arg(&args, &http) {
                Ok(c) => self.mcp.http_request(caller, &c, &args).await,
                Err(e) => e,
            },
            tools::KUBERNETES if !kube.is_empty() => match connection_arg(&args, &kube) {
                Ok(c) => self.mcp.kubernetes(caller, &c, &args).await,
                Err(e) => e,
            },
            tools::APPROVAL_STATUS
                if connections.is_empty()
                    && (!http.is_empty() || !kube.is_empty())
                    && self.mcp.guard.approvals_supported() =>
            {
                self.mcp
                    .approval_status(&caller.principal, &args, &context)
                    .await
            }
            _ if connections.is_empty() => {
                return Err(ErrorData::invalid_params("unknown tool", None));
            }
            tools::LIST_CONNECTIONS => self.list_connections(&caller.principal),
            tools::DESCRIBE_CONNECTION => match connection_arg(&args, &connections) {
                Ok(c) => self.mcp.describe(caller, &c).await,
                Err(e) => e,
            },
            tools::QUERY => match connection_arg(&args, &connections) {
                Ok(c) => self.mcp.query(caller, &c, &args).await,
                Err(e) => e,
            },
            tools::APPROVAL_STATUS if self.mcp.guard.approvals_supported() => {
                self.mcp
                    .approval_status(&caller.principal, &args, &context)
                    .await
            }
            _ => return Err(ErrorData::invalid_params("unknown tool", None)),
        };
        Ok(result.into())
    }
}

impl VigilMcp {
    fn list_connections(&self, principal: &Principal) -> CallToolResult {
        let connections: Vec<serde_json::Value> = self
            .mcp
            .guard
            .connections_for(principal)
            .into_iter()
            .filter(|c| {
                self.mcp.targets.contains_key(&c.name)
                    || self.mcp.exec_targets.contains_key(&c.name)
                    || self.mcp.api_targets.contains_key(&c.name)
            })
            .map(|c| serde_json::json!({ "name": c.name, "kind": c.kind }))
            .collect();
        outcome::result(
            serde_json::json!({ "status": "ok", "connections": connections }),
            false,
        )
    }
}

/// The `connection` argument, if it names a connection the caller may use.
fn connection_arg(args: &JsonObject, granted: &[String]) -> Result<String, CallToolResult> {
    let Some(name) = args.get("connection").and_then(|v| v.as_str()) else {
        return Err(outcome::error(
            "the argument \"connection\" (a string) is required",
        ));
    };
    if granted.iter().any(|g| g == name) {
        Ok(name.to_string())
    } else {
        Err(outcome::error(format!(
            "unknown connection \"{name}\": call list_connections for the ones you may use"
        )))
    }
}
