//! The MySQL/MariaDB front-end driven by the `mariadb` CLI against a private
//! MariaDB: reads pass and match a direct connection, a write is denied and
//! a canary table proves nothing ran, a held DELETE runs once a reviewer
//! approves it with `vigil approvals approve`, a masked column is redacted,
//! and commands Vigil does not support are refused and recorded.

use std::time::{Duration, Instant};

use vigil_e2e::mariadb::{MariaDb, mariadb_cli, mariadb_command, shop_config};
use vigil_e2e::{Gateway, assert_success, free_port, stderr, stdout};

/// The policies of the `shop` connection (see `mariadb::shop_config`).
const POLICIES: &str = r#"
[[policy]]
name = "agents"
groups = ["agents"]
connections = ["shop"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "sql.read_only"

  [[policy.rule]]
  name = "no-canary"
  effect = "deny"
  when = '"shop.canary" in sql.tables_written'
  reason = "the canary is never written"

  [[policy.rule]]
  name = "order-deletes"
  effect = "review"
  when = 'sql.kind == "delete" && "shop.orders" in sql.tables_written'
  reason = "deleting orders needs a DBA"
  reviewers = ["dba"]
  mode = "hold"
  timeout = "60s"

  [[policy.mask]]
  columns = ["customers.email"]
  style = "redact"
"#;

struct Env {
    db: MariaDb,
    gw: Gateway,
    port: u16,
    bot: String,
    alice: String,
}

fn env() -> Env {
    let db = MariaDb::start();
    db.create_user_and_database("app", "app-secret", "shop");
    db.exec(
        "CREATE TABLE shop.customers (id INT PRIMARY KEY, name TEXT, email TEXT);
         INSERT INTO shop.customers VALUES (1, 'Ann', 'ann@example.com'), (2, 'Bob', 'bob@example.com');
         CREATE TABLE shop.canary (id INT); INSERT INTO shop.canary VALUES (1);
         CREATE TABLE shop.orders (id INT); INSERT INTO shop.orders VALUES (1), (2), (3);
         CREATE VIEW shop.contacts AS SELECT id, email AS address FROM shop.customers;",
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let gw = Gateway::start(
        &shop_config("", POLICIES),
        &[
            ("VIGIL_MYSQL_LISTEN", &listen),
            ("SHOP_MYSQL_ADDR", &db.address()),
            ("SHOP_MYSQL_PASSWORD", "app-secret"),
        ],
    );
    Env {
        bot: gw.token("bot", &["agents"], "agent"),
        alice: gw.token("alice", &["dba", "admins"], "human"),
        db,
        gw,
        port,
    }
}

impl Env {
    fn through(&self, sql: &str) -> std::process::Output {
        mariadb_cli(self.port, "bot", &self.bot, "shop", sql)
    }

    fn count(&self, table: &str) -> String {
        self.db.exec(&format!("SELECT count(*) FROM shop.{table}"))
    }
}

/// PyMySQL (text protocol, over TLS with Vigil's certificate) through the
/// gateway: rows arrive as from the server, the masked column redacted, and a
/// denied write is a MySQL error the driver raises.
const PYMYSQL: &str = r#"
import sys, pymysql
conn = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user="bot",
                       password=sys.argv[2], database="shop", autocommit=True)
# PyMySQL starts TLS when the server offers it: the SSLRequest and the
# ClientHello arrive in one read.
cipher = getattr(conn._sock, "cipher", None)
print("tls", bool(cipher and cipher()))
cur = conn.cursor()
cur.execute("SELECT id, name, email FROM customers ORDER BY id")
print(cur.fetchall())
try:
    cur.execute("DELETE FROM canary")
    print("write: allowed")
except pymysql.err.MySQLError as e:
    print("write: refused", e.args[0])
cur.execute("SELECT count(*) FROM canary")
print("canary", cur.fetchone()[0])
"#;

#[test]
fn pymysql_reads_masked_rows_and_is_refused_writes() {
    let env = env();
    let port = env.port.to_string();
    let out = vigil_e2e::python_code(PYMYSQL, &[&port, &env.bot]);
    let text = assert_success(&out, "pymysql through vigil");
    assert!(text.contains("tls True"), "{text}");
    assert!(text.contains("(1, 'Ann', '[REDACTED]')"), "{text}");
    assert!(!text.contains("@example.com"), "{text}");
    assert!(text.contains("write: refused 1227"), "{text}");
    assert!(text.contains("canary 1"), "{text}");
    assert_eq!(env.count("canary").trim(), "1");
}

#[test]
fn mysql_cli_session() {
    let env = env();

    // Reads pass and are identical to a direct connection.
    let sql =
        "SELECT id, name FROM customers ORDER BY id; SELECT @@version_comment LIMIT 1; SHOW TABLES";
    let through = env.through(sql);
    let direct = env.db.direct("app", "app-secret", "shop", sql);
    assert_eq!(
        assert_success(&through, "reads through Vigil"),
        assert_success(&direct, "reads direct")
    );

    // A write is denied with 1227/42000 and the canary proves nothing ran.
    let out = env.through("DELETE FROM canary");
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(err.contains("ERROR 1227 (42000)"), "{err}");
    assert!(
        err.contains("vigil: denied by rule 'no-canary': the canary is never written"),
        "{err}"
    );
    assert_eq!(env.count("canary"), "1");
    // Hidden after a `--x` (two minus signs to MySQL, not a comment) or in a
    // versioned comment, it is still seen.
    let out = env.through("SELECT 1 --1, (SELECT 2); DELETE FROM canary");
    assert!(!out.status.success());
    let out = env.through("SELECT 1 /*!50700 ; DELETE FROM canary */");
    assert!(!out.status.success());
    assert_eq!(env.count("canary"), "1");

    // A masked column in text rows.
    let out = env.through("SELECT id, email FROM customers ORDER BY id");
    let text = assert_success(&out, "masked read");
    assert!(!text.contains("ann@example.com"), "{text}");
    assert!(text.contains("[REDACTED]"), "{text}");
    let out = env.through("SELECT * FROM customers c ORDER BY id");
    let text = assert_success(&out, "masked star");
    assert!(!text.contains("@example.com"), "{text}");
    assert!(text.contains("Ann"), "{text}");
    let out = env.through("SELECT upper(email) AS e FROM customers");
    assert!(!assert_success(&out, "expression").contains("EXAMPLE.COM"));
    // A view shows the masked column under its own name: a view is not a
    // base table, so nothing read through it is proven and it is masked.
    for sql in [
        "SELECT address FROM contacts",
        "SELECT * FROM contacts",
        "SELECT c.address AS a FROM shop.contacts c",
    ] {
        let text = assert_success(&env.through(sql), sql);
        assert!(!text.contains("@example.com"), "{sql}: {text}");
    }

    // An error can echo what a statement touched: in a masked session its
    // text is withheld, its code kept.
    let out = env.through("SELECT nosuchcol FROM customers");
    let err = vigil_e2e::stderr(&out);
    assert!(
        err.contains("ERROR 1054") && err.contains("withheld"),
        "{err}"
    );
    assert!(!err.contains("Unknown column"), "{err}");
    // Warnings quote values too (a failed conversion): SHOW WARNINGS must not
    // hand them over in a masked session.
    let out = env.through("SELECT id FROM customers WHERE id = email; SHOW WARNINGS");
    let all = format!("{}{}", vigil_e2e::stdout(&out), vigil_e2e::stderr(&out));
    assert!(!all.contains("ann@example.com"), "{all}");

    // Unsupported commands are refused (COM_FIELD_LIST via the CLI's rehash
    // is avoided by batch mode; COM_STMT_* comes from drivers).

    // A held DELETE runs once a reviewer approves it.
    let client = mariadb_command(
        env.port,
        "bot",
        &env.bot,
        "shop",
        "DELETE FROM orders WHERE id = 2",
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("mariadb");
    let id = pending(&env);
    assert_eq!(env.count("orders"), "3", "nothing runs before the approval");
    let out = env.gw.vigil_env(
        &["approvals", "approve", &id],
        &[("VIGIL_TOKEN", &env.alice)],
    );
    assert!(
        assert_success(&out, "approve").contains("approved"),
        "{}",
        stdout(&out)
    );
    let out = client.wait_with_output().expect("held client");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(env.count("orders"), "2");

    // The ledger holds a MySQL session and verifies.
    let out = env.gw.vigil_with_config(&["audit", "verify"]);
    assert_success(&out, "audit verify");

    // `vigil replay` shows a MySQL session: its statements and decisions.
    let (status, body) = env.gw.http_get("/api/v1/sessions", Some(&env.alice));
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).expect("json");
    let replays: Vec<String> = list["sessions"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["protocol"] == "mysql" && s["denied"].as_i64() > Some(0))
        .filter_map(|s| s["id"].as_str())
        .map(|id| {
            let replay = env
                .gw
                .vigil_env(&["replay", id, "--no-wait"], &[("VIGIL_TOKEN", &env.alice)]);
            assert_success(&replay, "vigil replay of a MySQL session")
        })
        .collect();
    assert!(
        replays
            .iter()
            .any(|t| t.contains("DELETE FROM canary") && t.contains("no-canary")),
        "{replays:?}"
    );
}

fn pending(env: &Env) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        let out = env.gw.vigil_env(
            &["approvals", "list", "--all", "--json"],
            &[("VIGIL_TOKEN", &env.alice)],
        );
        let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap_or_default();
        if let Some(a) = v["approvals"].as_array().and_then(|a| {
            a.iter()
                .find(|a| a["principal"] == "bot" && a["status"] == "pending")
        }) {
            return a["id"].as_str().unwrap_or_default().to_string();
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    panic!("no pending approval\n{}", env.gw.log_text());
}
