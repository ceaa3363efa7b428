//! The structured outcomes of tool calls, as an agent reads them: always a
//! tool result (JSON as structured content and as text), never a protocol
//! error, so the agent can act on a denial or a pending approval.

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};
use vigil_core::ApprovalRecord;
use vigil_guard::Refusal;
use vigil_target::{Column, QueryResult, ValueType};

/// Seconds an agent is told to wait before asking again.
pub const RETRY_AFTER_SECONDS: u64 = 10;

/// A tool result carrying `value`; `error` marks a call that failed.
pub fn result(value: Value, error: bool) -> CallToolResult {
    let text = serde_json::to_string(&value).unwrap_or_default();
    let mut r = CallToolResult::success(vec![ContentBlock::text(text)]);
    r.structured_content = Some(value);
    r.is_error = Some(error);
    r
}

/// The call could not be carried out (bad arguments, target unreachable,
/// ledger down): `{"status": "error", "reason"}`.
pub fn error(reason: impl Into<String>) -> CallToolResult {
    result(json!({ "status": "error", "reason": reason.into() }), true)
}

pub fn denied(r: &Refusal) -> CallToolResult {
    result(
        json!({ "status": "denied", "rule": r.rule, "reason": r.reason }),
        false,
    )
}

pub fn pending(a: &ApprovalRecord) -> CallToolResult {
    pending_again(
        a,
        "call query again with exactly the same connection, sql and parameters",
    )
}

/// `pending_approval` for a call of `tool`, which is repeated as it was.
pub fn pending_for(a: &ApprovalRecord, tool: &str) -> CallToolResult {
    pending_again(
        a,
        &format!("call {tool} again with exactly the same arguments"),
    )
}

/// `again`: what the agent does once the request is approved.
fn pending_again(a: &ApprovalRecord, again: &str) -> CallToolResult {
    let who = a.reviewers.join(", ");
    result(
        json!({
            "status": "pending_approval",
            "approval_id": a.id,
            "rule": a.rule,
            "reason": a.reason,
            "reviewers": a.reviewers,
            "retry_after_seconds": RETRY_AFTER_SECONDS,
            "expires_at_ms": a.expires_at_ms,
            "next": format!(
                "A member of {who} must approve it (`vigil approvals approve {id}`). Call approval_status with approval_id {id} and wait_seconds to wait for the decision, then {again}: it runs once.",
                id = a.id
            ),
        }),
        false,
    )
}

pub fn rows(r: &QueryResult) -> CallToolResult {
    let columns: Vec<&str> = r.columns.iter().map(|c| c.name.as_str()).collect();
    let rows: Vec<Value> = r
        .rows
        .iter()
        .map(|row| {
            Value::Array(
                row.iter()
                    .enumerate()
                    .map(|(i, v)| typed(r.columns.get(i), v.as_deref()))
                    .collect(),
            )
        })
        .collect();
    let mut value = json!({
        "status": "ok",
        "columns": columns,
        "rows": rows,
        "row_count": r.rows.len(),
        "truncated": r.truncated,
    });
    if let Some(tag) = &r.tag {
        value["command"] = json!(tag);
    }
    if let Some(m) = &r.masking {
        value["masked_columns"] = json!(m.columns);
    }
    result(value, false)
}

/// A text-format value as JSON: numbers and booleans as such, JSON as
/// JSON, everything else (numeric, dates, masked text) as a string.
fn typed(column: Option<&Column>, value: Option<&str>) -> Value {
    let Some(v) = value else {
        return Value::Null;
    };
    match column.map(|c| c.value_type).unwrap_or(ValueType::Text) {
        ValueType::Bool => match v {
            "t" => Value::Bool(true),
            "f" => Value::Bool(false),
            _ => Value::String(v.into()),
        },
        ValueType::Integer => v
            .parse::<i64>()
            .map(Value::from)
            .unwrap_or_else(|_| Value::String(v.into())),
        ValueType::Float => v
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite())
            .map(Value::from)
            .unwrap_or_else(|| Value::String(v.into())),
        ValueType::Json => serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.into())),
        ValueType::Text => Value::String(v.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(value_type: ValueType) -> Column {
        Column {
            name: "c".into(),
            value_type,
        }
    }

    #[test]
    fn values_keep_their_json_type_where_it_is_exact() {
        assert_eq!(typed(Some(&col(ValueType::Integer)), Some("42")), json!(42));
        assert_eq!(typed(Some(&col(ValueType::Bool)), Some("t")), json!(true));
        assert_eq!(
            typed(Some(&col(ValueType::Float)), Some("NaN")),
            json!("NaN")
        );
        assert_eq!(
            typed(Some(&col(ValueType::Text)), Some("1.10")),
            json!("1.10")
        );
        assert_eq!(
            typed(Some(&col(ValueType::Json)), Some("{\"a\":1}")),
            json!({"a": 1})
        );
        assert_eq!(typed(Some(&col(ValueType::Text)), None), Value::Null);
        assert_eq!(typed(None, Some("x")), json!("x"));
    }
}
