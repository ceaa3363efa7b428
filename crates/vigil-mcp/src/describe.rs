//! The `describe_connection` tool: the relations a principal may read and
//! their columns, with the columns its mask rules cover flagged. A relation
//! is listed when policy would let `SELECT * FROM` it through (allowed, or
//! allowed after review); the check records nothing, since nothing runs.

use crate::auth::Caller;
use crate::{Mcp, outcome};
use rmcp::model::CallToolResult;
use serde_json::{Value, json};
use vigil_target::RelationColumn;

impl Mcp {
    pub(crate) async fn describe(&self, caller: Caller, connection: &str) -> CallToolResult {
        let mut opened = match self.open(caller, connection).await {
            Ok(o) => o,
            Err(e) => return e,
        };
        let rows = opened
            .upstream
            .describe(self.limits.max_described_columns)
            .await;
        let result = match rows {
            Ok(rows) => {
                self.relations(&*opened.target, &opened.session, connection, rows)
                    .await
            }
            Err(e) => {
                tracing::warn!(connection, error = %e, "mcp: could not read the target's relations");
                outcome::error("could not read the target's tables")
            }
        };
        self.close(opened).await;
        result
    }

    async fn relations(
        &self,
        target: &dyn vigil_target::SqlTarget,
        session: &vigil_guard::SessionCtx,
        connection: &str,
        rows: Vec<RelationColumn>,
    ) -> CallToolResult {
        let mut relations: Vec<Value> = Vec::new();
        let mut current: Option<(String, String)> = None;
        let mut readable = false;
        for RelationColumn {
            schema,
            relation: name,
            kind,
            column,
            data_type,
        } in rows
        {
            if current.as_ref() != Some(&(schema.clone(), name.clone())) {
                readable = match target.read_actions(&schema, &name).await {
                    Ok(actions) => self.guard.would_refuse(session, &actions).is_none(),
                    Err(_) => false,
                };
                current = Some((schema.clone(), name.clone()));
                if readable {
                    relations.push(json!({
                        "schema": schema,
                        "name": name,
                        "kind": kind,
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
