//! The MySQL front-end's capability matrix against a private MariaDB 10.11:
//! TLS on/off × CLIENT_DEPRECATE_EOF on/off × multi-statements on/off,
//! every combination driven by a real client through a gateway with its
//! own certificate. In each one a SELECT returns what a direct connection
//! returns, a masked column is masked (text and binary rows), a prepared
//! statement works, several statements in one query run only when
//! multi-statements are on, a denied write is refused and the canary table
//! shows nothing ran. Which capabilities were in force is checked on both
//! sides: by the client's own flags and by the gateway's log.
//!
//! The client is mysql-connector-python: its C extension (libmysqlclient)
//! always asks for DEPRECATE_EOF, its pure-Python protocol never does
//! (neither PyMySQL, Node's mysql2 nor libmariadb, the `mariadb` CLI's
//! library, can speak it), so the two halves of the matrix are the two
//! protocols of one driver, with the same statements. The C API itself
//! (libmysqlclient and libmariadb through ctypes) covers what the
//! connector cannot send: COM_SET_OPTION and server-side cursors read one
//! row per COM_STMT_FETCH.

use serde_json::{Value, json};
use vigil_e2e::mariadb::MariaDb;
use vigil_e2e::{Gateway, TestCa, assert_success, free_port, python};

const CONFIG: &str = r#"[server]
data_dir = "${VIGIL_DATA}"

[listen]
postgres = "${VIGIL_PG_LISTEN}"
mysql = "${VIGIL_MYSQL_LISTEN}"
http = "${VIGIL_HTTP_LISTEN}"

[tls]
cert = "${VIGIL_TLS_CERT}"
key = "${VIGIL_TLS_KEY}"

[[connection]]
name = "shop"
kind = "mysql"
address = "${SHOP_MYSQL_ADDR}"
database = "shop"
user = "app"
password = "${SHOP_MYSQL_PASSWORD}"

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

  [[policy.mask]]
  columns = ["customers.email"]
  style = "redact"
"#;

struct Env {
    db: MariaDb,
    gw: Gateway,
    port: u16,
    /// The CA that issued the gateway's certificate.
    ca: TestCa,
    _certs: tempfile::TempDir,
}

fn env() -> Env {
    let db = MariaDb::start();
    db.create_user_and_database("app", "app-secret", "shop");
    db.exec(
        "CREATE TABLE shop.customers (id INT PRIMARY KEY, name TEXT, email TEXT);
         INSERT INTO shop.customers VALUES (1, 'Ann', 'ann@example.com'), (2, 'Bob', 'bob@example.com');
         CREATE TABLE shop.canary (id INT); INSERT INTO shop.canary VALUES (1);",
    );
    let certs = tempfile::tempdir().expect("temp dir");
    let ca = TestCa::new(certs.path(), "vigil");
    let cert = ca.issue_server("gateway");
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let gw = Gateway::start(
        CONFIG,
        &[
            ("VIGIL_MYSQL_LISTEN", &listen),
            ("VIGIL_TLS_CERT", &cert.cert.display().to_string()),
            ("VIGIL_TLS_KEY", &cert.key.display().to_string()),
            ("SHOP_MYSQL_ADDR", &db.address()),
            ("SHOP_MYSQL_PASSWORD", "app-secret"),
            // The session's capabilities are logged at debug level.
            ("RUST_LOG", "info,vigil_mysql=debug"),
        ],
    );
    Env {
        db,
        gw,
        port,
        ca,
        _certs: certs,
    }
}

impl Env {
    fn canary(&self) -> String {
        self.db.exec("SELECT count(*) FROM shop.canary")
    }

    /// The capabilities the gateway logged for `principal`'s sessions.
    fn logged(&self, principal: &str) -> Vec<String> {
        self.gw
            .log_text()
            .lines()
            .filter(|l| {
                l.contains("mysql client capabilities in force")
                    && l.contains(&format!("principal={principal} "))
            })
            .map(|l| {
                let flag = |name: &str| {
                    l.split_whitespace()
                        .find_map(|w| w.strip_prefix(&format!("{name}=")))
                        .unwrap_or("?")
                        .to_string()
                };
                format!(
                    "deprecate_eof={} multi_statements={}",
                    flag("deprecate_eof"),
                    flag("multi_statements")
                )
            })
            .collect()
    }
}

fn on(b: bool) -> &'static str {
    if b { "1" } else { "0" }
}

#[test]
fn every_capability_combination_reads_masks_and_refuses_as_it_should() {
    let env = env();
    let port = env.port.to_string();
    let direct = env.db.port().to_string();
    let ca = env.ca.cert().display().to_string();
    for deprecate_eof in [false, true] {
        for tls in [false, true] {
            for multi in [false, true] {
                let cell = format!("deprecate_eof={deprecate_eof} tls={tls} multi={multi}");
                // One principal per cell, to find its sessions in the log.
                let name = format!("bot-e{}-t{}-m{}", on(deprecate_eof), on(tls), on(multi));
                let token = env.gw.token(&name, &["agents"], "agent");
                let args = [
                    port.as_str(),
                    &token,
                    &direct,
                    &ca,
                    on(deprecate_eof),
                    on(tls),
                    on(multi),
                ];
                let out = python("py/mysql_matrix.py", &args);
                let text = assert_success(&out, &cell);
                let r: Value = serde_json::from_str(text.trim())
                    .unwrap_or_else(|e| panic!("{cell}: {e}: {text}"));
                check_cell(&env, &cell, &name, (deprecate_eof, tls, multi), &r);
            }
        }
    }
}

fn check_cell(env: &Env, cell: &str, name: &str, (eof, tls, multi): (bool, bool, bool), r: &Value) {
    // The capabilities in force, as the client holds them and as the
    // gateway logged them for each of this cell's sessions.
    assert_eq!(
        r["negotiated"],
        json!({"deprecate_eof": eof, "multi_statements": multi}),
        "{cell}"
    );
    assert_eq!(r["tls"], json!(tls), "{cell}");
    let expected = format!("deprecate_eof={eof} multi_statements={multi}");
    let logged = env.logged(name);
    assert!(
        !logged.is_empty() && logged.iter().all(|l| *l == expected),
        "{cell}: {logged:?}\n{}",
        env.gw.log_text()
    );

    // Reads: what the server sends straight, value for value.
    assert_eq!(r["select"][0], r["select"][1], "{cell}");
    assert_eq!(
        r["select"][0],
        json!([
            [1, "Ann", "1.5", null, "2024-02-29"],
            [2, "Bob", "1.5", null, "2024-02-29"]
        ]),
        "{cell}"
    );
    assert_eq!(r["prepared"][0], r["prepared"][1], "{cell}");
    assert_eq!(r["prepared"][0][1][1], json!("Bob"), "{cell}");

    // Masking, in text rows and in binary rows.
    assert_eq!(
        r["masked"],
        json!([[1, "[REDACTED]"], [2, "[REDACTED]"]]),
        "{cell}"
    );
    assert_eq!(r["prepared_masked"], json!([["[REDACTED]"]]), "{cell}");
    assert!(!r.to_string().contains("@example.com"), "{cell}: {r}");

    // Several statements in one query: only when negotiated, and then as
    // the server returns them; otherwise refused with the server's own
    // code (1064), as the server reads such text without the capability.
    if multi {
        assert_eq!(r["multi"][0], r["multi"][1], "{cell}");
        assert_eq!(r["multi"][0], json!([[[1]], [[1], [2]]]), "{cell}");
        assert_eq!(r["multi_write"], json!("error 1227"), "{cell}");
    } else {
        assert_eq!(r["multi"], json!(["error 1064", "error 1064"]), "{cell}");
        assert_eq!(r["multi_write"], json!("error 1064"), "{cell}");
        assert_eq!(r["multi_write_direct"], json!("error 1064"), "{cell}");
    }

    // A denied write, and the session still answers after every refusal.
    assert_eq!(r["denied"], json!("error 1227"), "{cell}");
    assert_eq!(r["after"], json!([[1]]), "{cell}");
    assert_eq!(env.canary(), "1", "{cell}: the canary was written");
}

#[test]
fn c_clients_switch_multi_statements_and_read_cursors_in_either_eof_form() {
    let env = env();
    let port = env.port.to_string();
    let fetches = || -> u64 {
        env.db
            .exec(
                "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS \
                 WHERE VARIABLE_NAME = 'COM_STMT_FETCH'",
            )
            .parse()
            .unwrap_or_default()
    };
    // libmysqlclient asks for DEPRECATE_EOF; libmariadb never does.
    for (library, eof) in [("mysql", true), ("mariadb", false)] {
        let name = format!("bot-{library}");
        let token = env.gw.token(&name, &["agents"], "agent");
        let before = fetches();
        let out = python("py/mysql_capi.py", &[library, &port, "bot", &token, "shop"]);
        let text = assert_success(&out, library);
        let r: Value =
            serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("{library}: {e}: {text}"));
        assert_eq!(
            env.logged(&name),
            [format!("deprecate_eof={eof} multi_statements=false")],
            "{library}"
        );
        assert_eq!(
            r["select"],
            json!([[["1", "Ann"], ["2", "Bob"]]]),
            "{library}"
        );

        // COM_SET_OPTION, answered by an EOF (an OK to a DEPRECATE_EOF
        // client): off, then on, as the server follows it.
        assert_eq!((&r["off"], &r["on"]), (&json!(0), &json!(0)), "{library}");
        assert_eq!(r["multi_off"], json!("error 1064"), "{library}");
        assert_eq!(r["multi_write_off"], json!("error 1064"), "{library}");
        assert_eq!(r["multi_on"], json!([[["1"]], [["2"]]]), "{library}");
        assert_eq!(r["multi_write_on"], json!("error 1227"), "{library}");

        // A read-only cursor, one row per COM_STMT_FETCH: the cursor opens
        // (an OK after the columns, in the DEPRECATE_EOF form), each batch
        // ends, the last says no row is left; masked like any binary row.
        assert_eq!(
            r["cursor"],
            json!([["1", "[REDACTED]"], ["2", "[REDACTED]"], "end"]),
            "{library}"
        );
        assert_eq!(
            r["cursor_plain"],
            json!([["1", "Ann"], ["2", "Bob"], "end"]),
            "{library}"
        );
        // Two cursors of two rows, one row a fetch: three fetches each
        // (the third finds the end).
        assert_eq!(
            fetches() - before,
            6,
            "{library}: rows came by COM_STMT_FETCH"
        );
        assert_eq!(r["after"], json!([[["1"]]]), "{library}");
        assert!(!text.contains("@example.com"), "{library}: {text}");
        assert_eq!(env.canary(), "1", "{library}: the canary was written");
    }
}
