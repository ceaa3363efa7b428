//! The reviewer's preview of a DML request: the target's own estimate of
//! the rows it would touch (`EXPLAIN (FORMAT JSON)`, never ANALYZE), stored
//! with the request as `{"estimated_rows": N, "plan_node": "..."}` or, when
//! there is none, `{"error": "..."}`.
//!
//! Only a single INSERT, UPDATE, DELETE or MERGE is previewed; nothing else
//! is ever sent to EXPLAIN. The work runs in its own task with a timeout and
//! a bound on how many run at once, so it never delays or blocks the
//! request it describes.

use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;
use tokio::sync::Semaphore;
use vigil_core::ApprovalRecord;
use vigil_guard::{Binding, Guard, Previewer};
use vigil_target::SqlTarget;

/// The whole preview (connect, login, EXPLAIN) must finish within this.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Previews running at once; past it a request gets `{"error": ...}`.
const MAX_RUNNING: usize = 4;
/// Statement kinds that are previewed.
const DML: &[&str] = &["insert", "update", "delete", "merge", "replace"];
/// Longest error text kept with a request.
const MAX_ERROR: usize = 300;

/// Runs previews over the SQL connections of the configuration.
pub struct ExplainPreviewer {
    targets: HashMap<String, Arc<dyn SqlTarget>>,
    guard: OnceLock<Weak<Guard>>,
    running: Arc<Semaphore>,
}

/// What is done with one request.
#[derive(Debug, PartialEq)]
enum Plan {
    /// Not DML, or not a SQL connection: no preview at all.
    Skip,
    /// DML, but no preview can be made; stored as the reason.
    Unavailable(&'static str),
    Explain,
}

impl ExplainPreviewer {
    pub fn new(targets: HashMap<String, Arc<dyn SqlTarget>>) -> Arc<Self> {
        Arc::new(Self {
            targets,
            guard: OnceLock::new(),
            running: Arc::new(Semaphore::new(MAX_RUNNING)),
        })
    }

    /// Where previews are stored (the guard that holds this previewer: a
    /// weak reference, so neither keeps the other alive).
    pub fn attach(&self, guard: &Arc<Guard>) {
        let _ = self.guard.set(Arc::downgrade(guard));
    }

    fn plan(&self, a: &ApprovalRecord) -> Plan {
        let kinds: Vec<&str> = a.kinds.iter().map(|k| k.trim()).collect();
        if kinds.is_empty() || !kinds.iter().all(|k| DML.contains(k)) {
            return Plan::Skip;
        }
        if !self.targets.contains_key(&a.connection) {
            return Plan::Skip;
        }
        if kinds.len() > 1 {
            return Plan::Unavailable("several statements in one message: no estimate");
        }
        Plan::Explain
    }
}

impl Previewer for ExplainPreviewer {
    fn preview(&self, approval: &ApprovalRecord, binding: Binding<'_>) {
        let plan = self.plan(approval);
        if plan == Plan::Skip {
            return;
        }
        let (Some(guard), Ok(runtime)) = (
            self.guard.get().cloned(),
            tokio::runtime::Handle::try_current(),
        ) else {
            return;
        };
        let id = approval.id.clone();
        let statement = approval.statement.clone();
        let params = binding.values.to_vec();
        let hint = binding.hint.to_vec();
        let target = self.targets.get(&approval.connection).cloned();
        let permit = self.running.clone().try_acquire_owned();
        runtime.spawn(async move {
            let preview = match (plan, target, permit) {
                (Plan::Unavailable(why), _, _) => json!({ "error": why }),
                (_, None, _) => return,
                (_, _, Err(_)) => json!({ "error": "too many previews running at once" }),
                (_, Some(target), Ok(_permit)) => {
                    let explained = tokio::time::timeout(
                        TIMEOUT,
                        target.explain(&statement, &params, &hint, TIMEOUT),
                    )
                    .await;
                    match explained {
                        Ok(Ok(text)) => estimate(&text),
                        Ok(Err(e)) => json!({ "error": short(&format!("EXPLAIN failed: {e}")) }),
                        Err(_) => json!({
                            "error": format!("EXPLAIN took longer than {}s", TIMEOUT.as_secs())
                        }),
                    }
                }
            };
            let preview = with_parameters(preview, &params);
            let Some(guard) = guard.upgrade() else { return };
            if let Err(e) = guard.set_approval_preview(&id, preview).await {
                tracing::warn!(approval = %id, error = %e, "could not store the preview");
            }
        });
    }
}

/// Parameters shown to a reviewer, at most; and characters of each.
const MAX_SHOWN_PARAMETERS: usize = 64;
const MAX_SHOWN_PARAMETER_CHARS: usize = 500;

/// The preview with the held statement's parameter values (`parameters`,
/// text; longer ones cut with `…`), when the binding is in the layout the
/// SQL targets bind (PostgreSQL's, and the MCP tools'). The reviewer
/// decides on these values: the approval is bound to them.
fn with_parameters(mut preview: Value, binding: &[u8]) -> Value {
    let Some(params) = vigil_target::decode_params(binding) else {
        return preview;
    };
    if params.is_empty() {
        return preview;
    }
    let shown: Vec<Value> = params
        .into_iter()
        .take(MAX_SHOWN_PARAMETERS)
        .map(|p| match p {
            None => Value::Null,
            Some(v) if v.chars().count() > MAX_SHOWN_PARAMETER_CHARS => Value::String(
                v.chars()
                    .take(MAX_SHOWN_PARAMETER_CHARS)
                    .chain(std::iter::once('…'))
                    .collect(),
            ),
            Some(v) => Value::String(v),
        })
        .collect();
    if let Some(map) = preview.as_object_mut() {
        map.insert("parameters".into(), Value::Array(shown));
    }
    preview
}

/// `{"estimated_rows", "plan_node"}` from EXPLAIN's JSON: the rows of the
/// top plan node, or for a ModifyTable (which reports 0 without RETURNING)
/// of the node that feeds it.
fn estimate(text: &str) -> Value {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return json!({ "error": "EXPLAIN returned no JSON plan" });
    };
    if let Some(block) = v.get("query_block") {
        return mysql_estimate(block);
    }
    let Some(top) = v.get(0).and_then(|p| p.get("Plan")) else {
        return json!({ "error": "EXPLAIN returned no plan" });
    };
    let node = if top.get("Node Type").and_then(Value::as_str) == Some("ModifyTable") {
        top.get("Plans")
            .and_then(Value::as_array)
            .and_then(|children| {
                children
                    .iter()
                    .find(|c| c.get("Parent Relationship").and_then(Value::as_str) == Some("Outer"))
                    .or(children.first())
            })
            .unwrap_or(top)
    } else {
        top
    };
    let Some(rows) = node.get("Plan Rows").and_then(Value::as_f64) else {
        return json!({ "error": "the plan has no row estimate" });
    };
    let kind = node.get("Node Type").and_then(Value::as_str).unwrap_or("?");
    let plan_node = match node.get("Relation Name").and_then(Value::as_str) {
        Some(rel) => format!("{kind} on {rel}"),
        None => kind.to_string(),
    };
    json!({ "estimated_rows": rows.max(0.0).round() as u64, "plan_node": plan_node })
}

/// The same estimate from MySQL's or MariaDB's `EXPLAIN FORMAT=JSON`
/// (`{"query_block": {"table": {"table_name", "access_type", "rows"}}}`,
/// joins in `nested_loop`): the first table's rows.
fn mysql_estimate(block: &Value) -> Value {
    fn first_table(v: &Value, depth: usize) -> Option<&Value> {
        if depth > 32 {
            return None;
        }
        match v {
            Value::Object(o) => {
                if let Some(t) = o.get("table").filter(|t| t.get("table_name").is_some()) {
                    return Some(t);
                }
                o.values().find_map(|c| first_table(c, depth + 1))
            }
            Value::Array(a) => a.iter().find_map(|c| first_table(c, depth + 1)),
            _ => None,
        }
    }
    let Some(table) = first_table(block, 0) else {
        return json!({ "error": "the plan names no table" });
    };
    let rows = table.get("rows").and_then(|r| {
        r.as_f64()
            .or_else(|| r.as_str().and_then(|s| s.parse().ok()))
    });
    let Some(rows) = rows else {
        return json!({ "error": "the plan has no row estimate" });
    };
    let access = table
        .get("access_type")
        .and_then(Value::as_str)
        .unwrap_or("?");
    let name = table
        .get("table_name")
        .and_then(Value::as_str)
        .unwrap_or("?");
    json!({ "estimated_rows": rows.max(0.0).round() as u64, "plan_node": format!("{access} on {name}") })
}

fn short(text: &str) -> String {
    if text.chars().count() <= MAX_ERROR {
        return text.to_string();
    }
    let cut: String = text.chars().take(MAX_ERROR).collect();
    format!("{cut}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, connection: &str) -> ApprovalRecord {
        serde_json::from_value(json!({
            "id": "ap_1", "status": "pending", "created_at_ms": 0, "expires_at_ms": 1,
            "principal": "bot", "principal_kind": "agent", "session": null,
            "connection": connection, "rule": "r", "reason": "", "reviewers": ["dba"],
            "mode": "hold", "statement": "x", "params_sha256": "", "kind": kind,
            "tables_written": [], "valid_for_ms": 0
        }))
        .unwrap()
    }

    fn previewer() -> Arc<ExplainPreviewer> {
        let cfg = vigil_pg::backend::UpstreamConfig {
            address: "127.0.0.1:1".into(),
            database: "shop".into(),
            user: "app".into(),
            password: None,
            tls: vigil_pg::backend::UpstreamTls::Disable,
            auth: Default::default(),
        };
        let targets = vigil_pg::PgTarget::for_connections(HashMap::from([("shop".into(), cfg)]))
            .into_iter()
            .map(|(name, t)| (name, t as Arc<dyn SqlTarget>))
            .collect();
        ExplainPreviewer::new(targets)
    }

    #[test]
    fn mariadb_plans_give_the_first_tables_rows() {
        let plan = r#"{"query_block": {"select_id": 1, "table": {"update": 1,
            "table_name": "orders", "access_type": "ALL", "rows": 42}}}"#;
        assert_eq!(
            estimate(plan),
            json!({ "estimated_rows": 42, "plan_node": "ALL on orders" })
        );
        let join = r#"{"query_block": {"nested_loop": [{"table": {"table_name": "a",
            "access_type": "ref", "rows": 7}}]}}"#;
        assert_eq!(estimate(join)["estimated_rows"], json!(7));
    }

    #[test]
    fn the_held_parameters_are_shown_cut_and_counted() {
        let long = "é".repeat(MAX_SHOWN_PARAMETER_CHARS + 5);
        let binding = vigil_target::encode_params(&[Some("x".into()), None, Some(long)]);
        let p = with_parameters(json!({ "estimated_rows": 3 }), &binding);
        assert_eq!(p["estimated_rows"], 3);
        assert_eq!(p["parameters"][0], "x");
        assert!(p["parameters"][1].is_null());
        let cut = p["parameters"][2].as_str().unwrap_or_default();
        assert_eq!(cut.chars().count(), MAX_SHOWN_PARAMETER_CHARS + 1);
        assert!(cut.ends_with('…'));
        // Another front-end's binding (not this layout): nothing added.
        let p = with_parameters(json!({ "estimated_rows": 3 }), b"\x01\x02\x03");
        assert!(p.get("parameters").is_none());
    }

    #[test]
    fn only_single_dml_is_explained() {
        let p = previewer();
        for kind in ["delete", "update", "insert", "merge"] {
            assert_eq!(p.plan(&record(kind, "shop")), Plan::Explain, "{kind}");
        }
        for kind in [
            "select",
            "drop",
            "truncate",
            "copy",
            "explain",
            "call",
            "do",
            "create_table",
            "alter_table",
            "grant",
            "set",
            "",
            "delete,drop",
            "select,delete",
        ] {
            assert_eq!(p.plan(&record(kind, "shop")), Plan::Skip, "{kind}");
        }
        assert!(matches!(
            p.plan(&record("delete,update", "shop")),
            Plan::Unavailable(_)
        ));
        assert_eq!(p.plan(&record("delete", "elsewhere")), Plan::Skip);
    }

    #[test]
    fn modify_table_reports_the_rows_of_its_input() {
        let plan = r#"[{"Plan": {"Node Type": "ModifyTable", "Operation": "Delete",
            "Plan Rows": 0, "Plans": [{"Node Type": "InitPlan-ish", "Parent Relationship": "InitPlan",
            "Plan Rows": 1}, {"Node Type": "Seq Scan", "Parent Relationship": "Outer",
            "Relation Name": "orders", "Plan Rows": 423}]}}]"#;
        assert_eq!(
            estimate(plan),
            json!({ "estimated_rows": 423, "plan_node": "Seq Scan on orders" })
        );
        let plain = r#"[{"Plan": {"Node Type": "Result", "Plan Rows": 1}}]"#;
        assert_eq!(
            estimate(plain),
            json!({ "estimated_rows": 1, "plan_node": "Result" })
        );
        assert!(estimate("not json").get("error").is_some());
        assert!(estimate("[]").get("error").is_some());
    }
}
