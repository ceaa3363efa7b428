//! Server-side prepared statements through the MySQL front-end, driven by
//! mysql-connector-python (`cursor(prepared=True)` and its COM_STMT_*
//! commands) against a private MariaDB: binary rows are masked as text rows
//! are, a statement policy refuses is refused at PREPARE and never reaches
//! the target, ids the target did not confirm (or that were closed) are
//! refused, cursors are masked, and prepare/close cycles do not grow
//! Vigil's statement map.

use std::time::{Duration, Instant};

use vigil_e2e::mariadb::{MariaDb, shop_config};
use vigil_e2e::{Gateway, assert_success, free_port, stdout, venv_python};

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
  name = "order-deletes"
  effect = "review"
  when = 'sql.kind == "delete" && "shop.orders" in sql.tables_written'
  reason = "deleting orders needs a DBA"
  reviewers = ["dba"]
  mode = "hold"
  timeout = "60s"

  [[policy.mask]]
  columns = ["customers.email", "customers.score", "customers.pin"]
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
        "CREATE TABLE shop.customers (id INT PRIMARY KEY, name TEXT, email TEXT, score INT, \
           pin INT NOT NULL);
         INSERT INTO shop.customers VALUES (1, 'Ann', 'ann@example.com', 10, 1234),
           (2, 'Bob', 'bob@example.com', 20, 5678);
         CREATE TABLE shop.canary (id INT); INSERT INTO shop.canary VALUES (1);
         CREATE TABLE shop.orders (id INT); INSERT INTO shop.orders VALUES (1), (2), (3);",
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

/// Runs `body` after the shared prologue (`connect()`, `conn`, `err(f)`)
/// and returns its output.
fn connector(env: &Env, body: &str) -> String {
    let out = connector_command(env, body).output().expect("python");
    assert_success(&out, "mysql-connector-python through vigil")
}

fn connector_command(env: &Env, body: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(venv_python());
    cmd.arg("-c")
        .arg(format!("{PROLOGUE}\n{body}"))
        .args([&env.port.to_string(), &env.bot])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    cmd
}

const PROLOGUE: &str = r#"
import sys, mysql.connector
from mysql.connector import errors
port, token = int(sys.argv[1]), sys.argv[2]
# The connector's default collation is MySQL 8's, which MariaDB does not know.
# The pure-Python protocol: the C extension is not in the venv.
def connect():
    return mysql.connector.connect(host="127.0.0.1", port=port, user="bot", password=token,
                                   database="shop", autocommit=True, use_pure=True,
                                   charset="utf8mb4", collation="utf8mb4_general_ci")
def err(f):
    try:
        f()
        return "ok"
    except errors.Error as e:
        return f"error {e.errno}"
conn = connect()
"#;

#[test]
fn prepared_select_of_a_masked_column_returns_masked_values() {
    let env = env();
    let text = connector(
        &env,
        r#"
c = conn.cursor(prepared=True)
c.execute("SELECT id, email FROM customers WHERE id > %s ORDER BY id", (0,))
print("masked", c.fetchall())
c.execute("SELECT c.id, name, email, score FROM customers c ORDER BY id")
print("int", c.fetchall())
c = conn.cursor(prepared=True)
print("star", err(lambda: c.execute("SELECT * FROM customers ORDER BY id")))
"#,
    );
    assert!(!text.contains("@example.com"), "{text}");
    assert!(
        text.contains("masked [(1, '[REDACTED]'), (2, '[REDACTED]')]"),
        "{text}"
    );
    // A masked INT column that allows NULL is sent as NULL.
    assert!(
        text.contains("int [(1, 'Ann', '[REDACTED]', None), (2, 'Bob', '[REDACTED]', None)]"),
        "{text}"
    );
    // `*` includes the masked NOT NULL `pin`: refused at PREPARE.
    assert!(text.contains("star error 1235"), "{text}");
}

#[test]
fn masked_not_null_number_is_refused_at_prepare() {
    let env = env();
    let text = connector(
        &env,
        r#"
c = conn.cursor(prepared=True)
print("pin", err(lambda: c.execute("SELECT id, pin FROM customers")))
c = conn.cursor(prepared=True)
c.execute("SELECT id FROM customers ORDER BY id")
print("after", c.fetchall())
"#,
    );
    assert!(text.contains("pin error 1235"), "{text}");
    assert!(!text.contains("1234"), "{text}");
    assert!(text.contains("after [(1,), (2,)]"), "{text}");
}

#[test]
fn a_column_that_becomes_not_null_after_prepare_is_refused_at_execute() {
    let env = env();
    // The target re-prepares a statement whose table changed and describes
    // the new columns in the EXECUTE's answer: Vigil checks those, and
    // answers an error in place of rows it cannot mask.
    let body = r#"
# One PREPARE, then two EXECUTEs of it (the client never prepares again).
sid = conn.cmd_stmt_prepare(b"SELECT id, score FROM customers ORDER BY id")["statement_id"]
def run():
    count, columns, eof = conn.cmd_stmt_execute(sid)
    conn.unread_result = True  # what the connector's prepared cursor does
    rows, eof = conn.get_rows(binary=True, columns=columns)
    return [tuple(r) for r in rows]
print("before", run())
direct = mysql.connector.connect(host="127.0.0.1", port=int(sys.argv[3]), user="app",
                                 password="app-secret", database="shop", use_pure=True,
                                 charset="utf8mb4", collation="utf8mb4_general_ci")
direct.cursor().execute("ALTER TABLE customers MODIFY score INT NOT NULL")
print("after", err(run))
c = conn.cursor(prepared=True)
c.execute("SELECT id FROM customers ORDER BY id")
print("still", c.fetchall())
"#;
    let mut cmd = connector_command(&env, body);
    let out = cmd.arg(env.db.port().to_string()).output().expect("python");
    let text = assert_success(&out, "altered column");
    assert!(text.contains("before [(1, None), (2, None)]"), "{text}");
    assert!(text.contains("after error 1235"), "{text}");
    assert!(!text.contains("10") && !text.contains("20"), "{text}");
    assert!(text.contains("still [(1,), (2,)]"), "{text}");
}

#[test]
fn allowed_prepared_select_with_parameters_returns_the_right_rows() {
    let env = env();
    let text = connector(
        &env,
        r#"
c = conn.cursor(prepared=True)
c.execute("SELECT id, name FROM customers WHERE name = %s", ("Bob",))
print("bob", c.fetchall())
c.execute("SELECT id, name FROM customers WHERE name = %s", ("Ann",))
print("ann", c.fetchall())
c.execute("SELECT id FROM customers WHERE id BETWEEN %s AND %s ORDER BY id", (1, 2))
print("range", c.fetchall())
"#,
    );
    assert!(text.contains("bob [(2, 'Bob')]"), "{text}");
    assert!(text.contains("ann [(1, 'Ann')]"), "{text}");
    assert!(text.contains("range [(1,), (2,)]"), "{text}");
}

#[test]
fn prepared_delete_under_a_read_only_policy_is_refused_at_prepare() {
    let env = env();
    let text = connector(
        &env,
        r#"
c = conn.cursor(prepared=True)
print("delete", err(lambda: c.execute("DELETE FROM canary WHERE id = %s", (1,))))
print("raw", err(lambda: conn.cmd_stmt_prepare(b"DELETE FROM canary")))
"#,
    );
    assert!(text.contains("delete error 1227"), "{text}");
    assert!(text.contains("raw error 1227"), "{text}");
    assert_eq!(env.db.exec("SELECT count(*) FROM shop.canary").trim(), "1");
    // Nothing was prepared on the target.
    let prepared = env
        .db
        .exec("SHOW GLOBAL STATUS LIKE 'Com_stmt_prepare'")
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    assert_eq!(prepared, "0", "the target saw a PREPARE");
}

#[test]
fn executing_after_close_or_an_unknown_id_fails() {
    let env = env();
    let text = connector(
        &env,
        r#"
p = conn.cmd_stmt_prepare(b"SELECT id FROM customers")
sid = p["statement_id"]
conn.cmd_stmt_close(sid)
print("after-close", err(lambda: conn.cmd_stmt_execute(sid)))
print("never-prepared", err(lambda: conn.cmd_stmt_execute(sid + 100)))
print("reset-unknown", err(lambda: conn.cmd_stmt_reset(sid + 100)))
c = conn.cursor(prepared=True)
c.execute("SELECT 1")
print("still", c.fetchall())
"#,
    );
    assert!(text.contains("after-close error 1047"), "{text}");
    assert!(text.contains("never-prepared error 1047"), "{text}");
    assert!(text.contains("reset-unknown error 1047"), "{text}");
    assert!(text.contains("still [(1,)]"), "{text}");
}

#[test]
fn cursor_fetches_are_masked() {
    let env = env();
    let text = connector(
        &env,
        r#"
p = conn.cmd_stmt_prepare(b"SELECT id, email FROM customers ORDER BY id")
sid = p["statement_id"]
count, columns, eof = conn.cmd_stmt_execute(sid, flags=1)
print("opened", eof["status_flag"] & 0x40 != 0)
conn.cmd_stmt_fetch(sid, 10)
rows, eof = conn.get_rows(binary=True, columns=columns)
print("fetched", [tuple(r) for r in rows])
conn.cmd_stmt_close(sid)
"#,
    );
    assert!(text.contains("opened True"), "{text}");
    assert!(!text.contains("@example.com"), "{text}");
    assert!(text.contains("'[REDACTED]'"), "{text}");
    // The fetched rows' masking is in the ledger, against the EXECUTE that
    // opened the cursor: the EXECUTE itself returned no rows. (Outcomes are
    // appended without waiting: poll.)
    let deadline = Instant::now() + Duration::from_secs(10);
    let outcomes = loop {
        let outcomes = statement_outcomes(&env);
        if outcomes.iter().any(|o| o["tag"] == "FETCH 2") || Instant::now() > deadline {
            break outcomes;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let fetch = outcomes
        .iter()
        .find(|o| o["tag"] == "FETCH 2")
        .unwrap_or_else(|| panic!("no FETCH outcome in {outcomes:?}"));
    assert_eq!(fetch["masking"]["column_values"], 2, "{fetch}");
    let execute_seq = &fetch["statement_seq"];
    assert!(
        outcomes
            .iter()
            .any(|o| &o["statement_seq"] == execute_seq && o["tag"] == "SELECT 0"),
        "the EXECUTE's own outcome: {outcomes:?}"
    );
}

/// Every statement outcome (an object with `statement_seq`) in the ledger
/// events of the gateway's sessions.
fn statement_outcomes(env: &Env) -> Vec<serde_json::Value> {
    fn collect(v: &serde_json::Value, out: &mut Vec<serde_json::Value>) {
        match v {
            serde_json::Value::Object(map) => {
                if map.contains_key("statement_seq") {
                    out.push(v.clone());
                }
                map.values().for_each(|v| collect(v, out));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, out)),
            _ => {}
        }
    }
    let (status, body) = env.gw.http_get("/api/v1/sessions", Some(&env.alice));
    assert_eq!(status, 200, "{body}");
    let list: serde_json::Value = serde_json::from_str(&body).expect("json");
    let mut out = Vec::new();
    for s in list["sessions"].as_array().into_iter().flatten() {
        let id = s["id"].as_str().unwrap_or_default();
        let (status, body) = env
            .gw
            .http_get(&format!("/api/v1/sessions/{id}"), Some(&env.alice));
        assert_eq!(status, 200, "{body}");
        collect(&serde_json::from_str(&body).expect("json"), &mut out);
    }
    out
}

#[test]
fn prepare_close_cycles_do_not_grow_the_statement_map() {
    let env = env();
    // Vigil holds at most 256 statements per session: 10,000 cycles pass
    // only if every close frees its entry, and the 257th open one is refused.
    let text = connector(
        &env,
        r#"
import socket
# COM_STMT_CLOSE has no answer: without TCP_NODELAY the next PREPARE waits
# for a delayed ACK (40 ms a cycle).
conn._socket.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
for i in range(10000):
    p = conn.cmd_stmt_prepare(b"SELECT id FROM customers WHERE id = ?")
    conn.cmd_stmt_close(p["statement_id"])
print("cycles done")
held = []
result = "ok"
for i in range(300):
    try:
        held.append(conn.cmd_stmt_prepare(b"SELECT 1")["statement_id"])
    except errors.Error as e:
        result = f"error {e.errno} after {len(held)}"
        break
print("bound", result)
conn.cmd_reset_connection()
p = conn.cmd_stmt_prepare(b"SELECT 1")
print("after-reset", err(lambda: conn.cmd_stmt_execute(held[0])))
"#,
    );
    assert!(text.contains("cycles done"), "{text}");
    assert!(text.contains("bound error 1226 after 256"), "{text}");
    assert!(text.contains("after-reset error 1047"), "{text}");
}

#[test]
fn held_prepared_delete_runs_after_approval() {
    let env = env();
    // PREPARE passes (a review is not a refusal); the EXECUTE is held.
    let client = connector_command(
        &env,
        r#"
c = conn.cursor(prepared=True)
c.execute("DELETE FROM orders WHERE id = %s", (2,))
print("deleted", c.rowcount)
"#,
    )
    .spawn()
    .expect("python");
    let id = pending(&env);
    let count = || env.db.exec("SELECT count(*) FROM shop.orders");
    assert_eq!(count().trim(), "3", "nothing runs before the approval");
    let out = env.gw.vigil_env(
        &["approvals", "approve", &id],
        &[("VIGIL_TOKEN", &env.alice)],
    );
    assert_success(&out, "approve");
    let out = client.wait_with_output().expect("held client");
    let text = assert_success(&out, "held prepared delete");
    assert!(text.contains("deleted 1"), "{text}");
    assert_eq!(count().trim(), "2");
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

/// Random sequences of prepare (allowed or refused), execute (of open,
/// closed, unknown and "last" ids), close and reset, each answer checked
/// against a model of the target's statements, and the target's own count
/// of open statements compared with the model's as it goes.
const MODEL: &str = r#"
import random
rng = random.Random(int(sys.argv[3]))
SQL = b"SELECT id, email FROM customers WHERE id = ?"
plain = conn.cursor()
def server_open():
    plain.execute("SHOW GLOBAL STATUS LIKE 'Prepared_stmt_count'")
    return int(plain.fetchall()[0][1])
open_ids, seen, last, params = set(), set(), None, None
def execute(sid):
    count, columns, eof = conn.cmd_stmt_execute(sid, data=(1,), parameters=params)
    conn.unread_result = True  # what the connector's prepared cursor does
    rows, eof = conn.get_rows(binary=True, columns=columns)
    return [tuple(r) for r in rows]
for step in range(300):
    op = rng.choice(["prepare", "prepare", "denied", "execute", "execute", "last", "close", "reset"])
    if op == "prepare":
        p = conn.cmd_stmt_prepare(SQL)
        params = p["parameters"]
        open_ids.add(p["statement_id"]); seen.add(p["statement_id"]); last = p["statement_id"]
        got, want = "ok", "ok"
    elif op == "denied":
        got, want = err(lambda: conn.cmd_stmt_prepare(b"DELETE FROM canary")), "error 1227"
        last = None
    elif op in ("execute", "last"):
        if op == "last":
            sid, ok = 0xFFFFFFFF, last is not None and last in open_ids
        else:
            sid = rng.choice(sorted(seen | {999999}))
            ok = sid in open_ids
        if params is None:
            continue
        try:
            rows = execute(sid)
            got = "ok" if rows == [(1, "[REDACTED]")] else f"rows {rows}"
        except errors.Error as e:
            got = f"error {e.errno}"
        want = "ok" if ok else "error 1047"
    elif op == "close":
        if not seen:
            continue
        sid = rng.choice(sorted(seen))
        conn.cmd_stmt_close(sid)
        open_ids.discard(sid)
        got = want = "ok"
    else:
        conn.cmd_reset_connection()
        open_ids.clear(); last = None
        got = want = "ok"
    if got != want:
        print(f"mismatch at step {step}: {op} got {got} want {want}")
    if server_open() != len(open_ids):
        print(f"mismatch at step {step}: the target holds {server_open()}, the model {len(open_ids)}")
print("model done")
"#;

#[test]
fn statement_map_follows_the_target_under_random_sequences() {
    let env = env();
    for seed in ["1", "2", "3"] {
        let mut cmd = connector_command(&env, MODEL);
        let out = cmd.arg(seed).output().expect("python");
        let text = assert_success(&out, "model run");
        assert!(text.contains("model done"), "{text}");
        assert!(!text.contains("mismatch"), "seed {seed}: {text}");
    }
}
