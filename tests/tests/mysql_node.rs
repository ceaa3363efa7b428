//! Node's mysql2 driver through the MySQL front-end: `execute` (server-side prepared
//! statements, binary rows) and `query` (text rows) against a private MariaDB. Reads are
//! allowed and masked in both row formats, a write is refused with Vigil's error and never
//! reaches the target (the canary still has its row). And an error that echoes a value (a
//! duplicate key) reaches a session with only content detectors with the value masked.

use vigil_e2e::mariadb::mariadb_cli;
use vigil_e2e::mariadb::{MariaDb, shop_config};
use vigil_e2e::{Gateway, assert_success, free_port, stdout};

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

  [[policy.mask]]
  columns = ["customers.email"]
  style = "redact"
"#;

/// `tests/node`, with mysql2 installed (`npm ci` there: scripts/test.sh does it).
fn node_dir() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
    assert!(
        dir.join("node_modules/mysql2").is_dir(),
        "mysql2 is not installed: run `npm ci` in {} (scripts/test.sh does)",
        dir.display()
    );
    dir
}

#[test]
fn mysql2_prepared_and_text_reads_are_masked_and_writes_refused() {
    let dir = node_dir();
    let db = MariaDb::start();
    db.create_user_and_database("app", "app-secret", "shop");
    db.exec(
        "CREATE TABLE shop.customers (id INT PRIMARY KEY, name TEXT, email TEXT);
         INSERT INTO shop.customers VALUES (1, 'Ann', 'ann@example.com'), (2, 'Bob', 'bob@example.com');
         CREATE TABLE shop.canary (id INT); INSERT INTO shop.canary VALUES (1);",
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
    let bot = gw.token("bot", &["agents"], "agent");
    let out = std::process::Command::new("node")
        .arg(dir.join("mysql2_client.js"))
        .args([&port.to_string(), bot.as_str(), "shop"])
        .current_dir(&dir)
        .output()
        .expect("node");
    assert_success(&out, "mysql2 through vigil");
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).expect("the client's JSON");

    for step in ["read", "readAgain", "text"] {
        assert_eq!(v[step]["ok"], true, "{step}: {v}");
    }
    assert_eq!(v["read"]["rows"][0]["name"], "Ann", "{v}");
    assert_eq!(v["readAgain"]["rows"][0]["name"], "Bob", "{v}");
    let text = v.to_string();
    for email in ["ann@example.com", "bob@example.com"] {
        assert!(!text.contains(email), "{email} leaked: {text}");
    }
    // The write: Vigil's error 1227 / 42000, nothing executed.
    assert_eq!(v["write"]["ok"], false, "{v}");
    assert_eq!(v["write"]["code"], 1227, "{v}");
    let message = v["write"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("vigil: denied by rule"), "{message}");
    assert_eq!(v["after"]["rows"][0]["n"], 1, "{v}");
    let count = db.exec("SELECT COUNT(*) FROM shop.canary");
    assert_eq!(count.lines().last(), Some("1"), "{count}");
}

const DETECTORS_ONLY: &str = r#"[server]
data_dir = "${VIGIL_DATA}"
admin_groups = ["admins"]

[listen]
postgres = "${VIGIL_PG_LISTEN}"
mysql = "${VIGIL_MYSQL_LISTEN}"
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
  name = "reads-and-inserts"
  effect = "allow"
  when = "sql.read_only || sql.kind == 'insert'"

  [[policy.mask]]
  detectors = ["email"]
  style = "redact"
"#;

#[test]
fn an_error_that_echoes_a_value_is_scanned_by_the_detectors() {
    let db = MariaDb::start();
    db.create_user_and_database("app", "app-secret", "crm");
    db.exec(
        "CREATE TABLE crm.contacts (id INT PRIMARY KEY, email VARCHAR(100) UNIQUE);
         INSERT INTO crm.contacts VALUES (1, 'ann@example.com');",
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let gw = Gateway::start(
        DETECTORS_ONLY,
        &[
            ("VIGIL_MYSQL_LISTEN", &listen),
            ("CRM_MYSQL_ADDR", &db.address()),
            ("CRM_MYSQL_PASSWORD", "app-secret"),
        ],
    );
    let bot = gw.token("bot", &["agents"], "agent");
    let out = mariadb_cli(
        port,
        "agent",
        &bot,
        "crm",
        "INSERT INTO contacts VALUES (2, 'ann@example.com')",
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "the duplicate must fail");
    // The client echoes the statement it sent; the server's words are the ERROR line.
    let err = stderr
        .lines()
        .find(|l| l.starts_with("ERROR"))
        .unwrap_or_else(|| panic!("no ERROR line: {stderr}"));
    assert!(
        err.contains("1062") && err.contains("Duplicate entry"),
        "{err}"
    );
    assert!(!err.contains("ann@example.com"), "the value leaked: {err}");
}
