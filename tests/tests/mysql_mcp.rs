//! Vigil's MCP tools on a MySQL connection (a private MariaDB), through the
//! official MCP Python SDK (`tests/py/mcp_client.py`): a read returns the
//! rows a direct `mariadb` CLI read shows, a write is denied and a canary
//! proves nothing ran, a held DELETE runs once after a reviewer approves it
//! (with the reviewer's EXPLAIN estimate), masked columns come back masked
//! (a column rule and a content detector), parameters are bound to MySQL's
//! `?` placeholders, and `describe_connection` lists the tables.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use vigil_e2e::mariadb::MariaDb;
use vigil_e2e::{Gateway, assert_success, python, stdout};

const CONFIG: &str = r#"[server]
data_dir = "${VIGIL_DATA}"
admin_groups = ["admins"]

[listen]
postgres = "${VIGIL_PG_LISTEN}"
http = "${VIGIL_HTTP_LISTEN}"

[[connection]]
name = "crm"
kind = "mysql"
address = "${CRM_MYSQL_ADDR}"
database = "crm"
user = "app"
password = "${CRM_MYSQL_PASSWORD}"

[[policy]]
name = "agents"
groups = ["agents"]
connections = ["crm"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "sql.read_only"

  [[policy.rule]]
  name = "no-canary"
  effect = "deny"
  when = '"crm.canary" in sql.tables_written'
  reason = "the canary is never written"

  [[policy.rule]]
  name = "order-deletes"
  effect = "review"
  when = 'sql.kind == "delete" && "crm.orders" in sql.tables_written'
  reason = "deleting orders needs a DBA"
  reviewers = ["dba"]
  mode = "hold"
  timeout = "60s"

  [[policy.mask]]
  columns = ["customers.email"]
  detectors = ["credit_card"]
  style = "redact"
"#;

struct Env {
    db: MariaDb,
    gw: Gateway,
    bot: String,
    dba: String,
}

fn env() -> Env {
    let db = MariaDb::start();
    db.create_user_and_database("app", "app-secret", "crm");
    db.exec(
        "CREATE TABLE crm.customers (id INT PRIMARY KEY, name TEXT, email TEXT, note TEXT, born DATE);
         INSERT INTO crm.customers VALUES
           (1, 'Ann', 'ann@example.com', 'card 4111 1111 1111 1111 on file', '1990-04-01'),
           (2, 'Bob', 'bob@example.com', 'no card', NULL);
         CREATE TABLE crm.canary (id INT); INSERT INTO crm.canary VALUES (1);
         CREATE TABLE crm.orders (id INT PRIMARY KEY, total DECIMAL(10,2));
         INSERT INTO crm.orders VALUES (1, 10.50), (2, 20.00), (3, 30.25);",
    );
    let gw = Gateway::start(
        CONFIG,
        &[
            ("CRM_MYSQL_ADDR", &db.address()),
            ("CRM_MYSQL_PASSWORD", "app-secret"),
        ],
    );
    Env {
        bot: gw.token("bot", &["agents"], "agent"),
        dba: gw.token("dana", &["dba", "admins"], "human"),
        db,
        gw,
    }
}

impl Env {
    /// One tool call through the MCP SDK; its structured result.
    #[track_caller]
    fn call(&self, tool: &str, args: Value) -> Value {
        let url = format!("{}/mcp", self.gw.http_url());
        let args = args.to_string();
        let out = python("py/mcp_client.py", &[&url, &self.bot, "call", tool, &args]);
        let text = stdout(&out);
        let r: Value = serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "mcp_client.py printed no JSON ({e}):\n{text}\n{}\n{}",
                String::from_utf8_lossy(&out.stderr),
                self.gw.log_text()
            )
        });
        assert!(r.get("transport_error").is_none(), "{tool}: {r}");
        r["structured"].clone()
    }

    fn query(&self, sql: &str, parameters: Value) -> Value {
        self.call(
            "query",
            json!({ "connection": "crm", "sql": sql, "parameters": parameters }),
        )
    }

    fn count(&self, table: &str) -> String {
        self.db.exec(&format!("SELECT count(*) FROM crm.{table}"))
    }
}

/// The rows of a tool result as the `mariadb` CLI prints them in batch mode.
fn as_batch(r: &Value) -> String {
    let mut lines = vec![
        r["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c.as_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\t"),
    ];
    for row in r["rows"].as_array().unwrap() {
        let cells: Vec<String> = row
            .as_array()
            .unwrap()
            .iter()
            .map(|v| match v {
                Value::Null => "NULL".to_string(),
                Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .collect();
        lines.push(cells.join("\t"));
    }
    lines.join("\n")
}

#[test]
fn mcp_query_on_a_mariadb_connection() {
    let env = env();

    // The connection is listed with its kind, and the tool says which
    // placeholder a mysql connection takes.
    let listed = env.call("list_connections", json!({}));
    assert_eq!(
        listed["connections"],
        json!([{ "name": "crm", "kind": "mysql" }]),
        "{listed}"
    );

    // A read: the rows a direct read shows (unmasked columns only).
    let sql = "SELECT o.id, name, born, total FROM orders o JOIN customers c ON c.id = o.id ORDER BY o.id";
    let r = env.query(sql, json!([]));
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["command"], "SELECT 2", "{r}");
    let direct = env.db.direct("app", "app-secret", "crm", sql);
    assert_eq!(as_batch(&r), assert_success(&direct, "direct read").trim());
    assert_eq!(r["rows"][0][0], json!(1), "integers are JSON numbers: {r}");

    // Truncation at max_rows.
    let r = env.call(
        "query",
        json!({ "connection": "crm", "sql": "SELECT id FROM orders ORDER BY id", "max_rows": 2 }),
    );
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(r["truncated"], true, "{r}");
    assert_eq!(r["rows"], json!([[1], [2]]));

    // A write is denied, and the canary proves nothing ran.
    let r = env.query("DELETE FROM canary", json!([]));
    assert_eq!(r["status"], "denied", "{r}");
    assert_eq!(r["rule"], "no-canary");
    assert_eq!(env.count("canary"), "1");
    // Two statements in one call are refused whole.
    let r = env.query("SELECT 1; DELETE FROM canary", json!([]));
    assert_eq!(r["status"], "denied", "{r}");
    let r = env.query("SELECT 1 /*!50700 ; DELETE FROM canary */", json!([]));
    assert_ne!(r["status"], "ok", "{r}");
    assert_eq!(env.count("canary"), "1");

    // Masking: the column rule, and the detector in a free-text column.
    let r = env.query(
        "SELECT id, email, note FROM customers ORDER BY id",
        json!([]),
    );
    assert_eq!(r["status"], "ok", "{r}");
    let text = r.to_string();
    assert!(!text.contains("@example.com"), "{text}");
    assert!(!text.contains("4111 1111"), "{text}");
    assert_eq!(r["rows"][0][1], "[REDACTED]", "{r}");
    assert_eq!(r["rows"][1][2], "no card", "{r}");
    let r = env.query("SELECT * FROM customers WHERE id = 1", json!([]));
    assert_eq!(r["rows"][0][1], "Ann", "{r}");
    assert!(!r.to_string().contains("@example.com"), "{r}");
    let r = env.query("SELECT upper(email) AS e FROM customers", json!([]));
    assert!(!r.to_string().contains("EXAMPLE.COM"), "{r}");
    // Errors keep their code, their text is withheld in a masked session.
    let r = env.query("SELECT nosuchcol FROM customers", json!([]));
    assert_eq!(r["status"], "error", "{r}");
    assert_eq!(r["sqlstate"], "1054:42S22", "{r}");
    assert!(!r.to_string().contains("nosuchcol"), "{r}");

    // Parameters bind to `?` (the binary protocol), masked all the same.
    let r = env.query(
        "SELECT id, name, email, born FROM customers WHERE name = ? OR id = ? ORDER BY id",
        json!(["Bob", 1]),
    );
    assert_eq!(r["status"], "ok", "{r}");
    assert_eq!(
        r["rows"],
        json!([
            [1, "Ann", "[REDACTED]", "1990-04-01"],
            [2, "Bob", "[REDACTED]", null]
        ]),
        "{r}"
    );
    let r = env.query(
        "SELECT ? AS a, ? AS b",
        json!(["x'; DROP TABLE canary; --", null]),
    );
    assert_eq!(
        r["rows"],
        json!([["x'; DROP TABLE canary; --", null]]),
        "{r}"
    );
    let r = env.query("SELECT id FROM orders WHERE id = $1", json!([1]));
    assert_ne!(r["status"], "ok", "a $1 placeholder is not MySQL's: {r}");

    // A held DELETE: pending, nothing ran; approved, it runs once.
    let args = json!({ "connection": "crm", "sql": "DELETE FROM orders WHERE total < ?", "parameters": ["25"] });
    let r = env.call("query", args.clone());
    assert_eq!(r["status"], "pending_approval", "{r}");
    assert_eq!(r["reviewers"], json!(["dba"]));
    let id = r["approval_id"].as_str().unwrap().to_string();
    assert_eq!(env.count("orders"), "3");
    // The reviewer sees the target's estimate (EXPLAIN FORMAT=JSON).
    let deadline = Instant::now() + Duration::from_secs(20);
    let preview = loop {
        let out = env
            .gw
            .vigil_env(&["approvals", "show", &id], &[("VIGIL_TOKEN", &env.dba)]);
        let text = assert_success(&out, "vigil approvals show");
        if text.contains("EXPLAIN estimate") || Instant::now() > deadline {
            break text;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    assert!(
        preview.contains("about 3 rows (EXPLAIN estimate: ALL on orders)"),
        "{preview}"
    );
    let out = env
        .gw
        .vigil_env(&["approvals", "approve", &id], &[("VIGIL_TOKEN", &env.dba)]);
    assert_success(&out, "vigil approvals approve");
    let ran = env.call("query", args.clone());
    assert_eq!(ran["status"], "ok", "{ran}");
    assert_eq!(ran["command"], "OK 2", "{ran}");
    assert_eq!(env.count("orders"), "1");
    let again = env.call("query", args);
    assert_eq!(again["status"], "pending_approval", "runs once: {again}");
    assert_eq!(env.count("orders"), "1");

    // describe_connection lists the tables and marks the masked column.
    let d = env.call("describe_connection", json!({ "connection": "crm" }));
    assert_eq!(d["status"], "ok", "{d}");
    let names: Vec<&str> = d["relations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["canary", "customers", "orders"], "{d}");
    let customers = &d["relations"][1];
    assert_eq!(customers["schema"], "crm");
    assert_eq!(customers["kind"], "table");
    let email = customers["columns"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "email")
        .unwrap();
    assert_eq!(email["masked"], true, "{d}");
    assert!(!env.gw.log_text().contains("app-secret"));
}

/// A statement is decided on its analysis under the state a fresh login had. When the
/// target's settings change before the statement's own login (`SET GLOBAL sql_mode` by its
/// administrator), the statement is not run under settings it was not analysed under: the
/// call fails, and the next one is analysed under the new settings.
#[test]
fn a_statement_is_not_run_under_settings_it_was_not_analysed_under() {
    let env = env();
    let first = env.query("SELECT name FROM customers ORDER BY id LIMIT 1", json!([]));
    assert_eq!(first["status"], "ok", "{first}");
    // A fresh login now reads "..." as an identifier, not a string.
    env.db.exec("SET GLOBAL sql_mode = 'ANSI_QUOTES'");
    let changed = env.query("SELECT name FROM customers ORDER BY id LIMIT 1", json!([]));
    // (Without the check it would run: the text has no quotes to read differently.)
    assert_eq!(changed["status"], "error", "{changed}");
    let again = env.query("SELECT name FROM customers ORDER BY id LIMIT 1", json!([]));
    assert_eq!(again["status"], "ok", "{again}");
}
