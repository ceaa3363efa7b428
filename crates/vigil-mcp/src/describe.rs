//! The `describe_connection` tool: the relations a principal may read and
//! their columns, with the columns its mask rules cover flagged. A relation
//! is listed when policy would let `SELECT * FROM` it through (allowed, or
//! allowed after review); the check records nothing, since nothing runs.

use crate::{Mcp, outcome};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use vigil_core::{ActionKind, Principal};
use vigil_pg::query::describe_relations;

impl Mcp {
    pub(crate) async fn describe(&self, principal: Principal, connection: &str) -> CallToolResult {
        let mut opened = match self.open(principal, connection).await {
            Ok(o) => o,
            Err(e) => return e,
        };
        let rows = describe_relations(
            &mut opened.upstream.stream,
            self.limits.max_described_columns,
        )
        .await;
        let result = match rows {
            Ok(rows) => self.relations(&opened, connection, rows),
            Err(e) => {
                tracing::warn!(connection, error = %e, "mcp: could not read the target's relations");
                outcome::error("could not read the target's tables")
            }
        };
        self.close(opened).await;
        result
    }

    fn relations(
        &self,
        opened: &crate::query::Opened,
        connection: &str,
        rows: Vec<[String; 5]>,
    ) -> CallToolResult {
        let session = &opened.session;
        let mut relations: Vec<Value> = Vec::new();
        let mut current: Option<(String, String)> = None;
        let mut readable = false;
        for [schema, name, kind, column, data_type] in rows {
            if current.as_ref() != Some(&(schema.clone(), name.clone())) {
                let probe = format!("SELECT * FROM {}.{}", quote(&schema), quote(&name));
                readable = match self.analyses.analyze(&probe, &opened.catalog) {
                    Ok(facts) => {
                        let actions: Vec<ActionKind> =
                            facts.iter().cloned().map(ActionKind::Sql).collect();
                        self.guard.would_refuse(session, &actions).is_none()
                    }
                    Err(_) => false,
                };
                current = Some((schema.clone(), name.clone()));
                if readable {
                    relations.push(json!({
                        "schema": schema,
                        "name": name,
                        "kind": kind_name(&kind),
                        "columns": [],
                    }));
                }
            }
            if !readable {
                continue;
            }
            let masked = session.mask.for_column(&schema, &name, &column).is_some();
            if let Some(Value::Array(columns)) =
                relations.last_mut().and_then(|r| r.get_mut("columns"))
            {
                let mut c = json!({ "name": column, "type": data_type });
                if masked {
                    c["masked"] = json!(true);
                }
                columns.push(c);
            }
        }
        let mut value = json!({
            "status": "ok",
            "connection": connection,
            "relations": relations,
        });
        if session.mask.content().is_some() {
            value["note"] = json!(
                "Values that look like personal data (for example card numbers or emails) are masked in any column."
            );
        }
        outcome::result(value, false)
    }
}

fn kind_name(relkind: &str) -> &'static str {
    match relkind {
        "v" => "view",
        "m" => "materialized view",
        "f" => "foreign table",
        "p" => "partitioned table",
        _ => "table",
    }
}

/// A quoted identifier.
fn quote(ident: &str) -> String {
    format!("\"{}\"", ident.replace('"', "\"\""))
}
