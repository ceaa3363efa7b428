//! How MySQL clients log in to Vigil and what Vigil's greeting says it is,
//! against a private MariaDB 10.11:
//! - `caching_sha2_password` full authentication with mysql-connector-python
//!   and PyMySQL: the token in clear inside TLS, RSA-encrypted under
//!   Vigil's key on a plaintext loopback connection (PyMySQL asks for the
//!   key), in clear on loopback (mysql-connector-python); a wrong token is
//!   refused the same way on every path;
//! - the greeting mirrors the target's version (family and
//!   major.minor.patch), so drivers see the server they talk to, and greets with `caching_sha2_password` when the
//!   mirrored target is MySQL 8 (here a greeting-only stand-in: MariaDB
//!   has no caching_sha2_password).

use std::io::Write;
use std::net::TcpListener;
use std::thread;

use vigil_e2e::mariadb::MariaDb;
use vigil_e2e::{Gateway, assert_success, free_port, python_code};

fn config(mirror_shop: bool, extra: &str) -> String {
    format!(
        r#"[server]
data_dir = "${{VIGIL_DATA}}"

[listen]
postgres = "${{VIGIL_PG_LISTEN}}"
mysql = "${{VIGIL_MYSQL_LISTEN}}"
http = "${{VIGIL_HTTP_LISTEN}}"

[[connection]]
name = "shop"
kind = "mysql"
address = "${{SHOP_MYSQL_ADDR}}"
database = "shop"
user = "app"
password = "${{SHOP_MYSQL_PASSWORD}}"
mirror_version = {mirror_shop}
{extra}
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
"#
    )
}

struct Env {
    db: MariaDb,
    _gw: Gateway,
    port: u16,
    bot: String,
}

fn env(mirror_shop: bool, extra: &str) -> Env {
    let db = MariaDb::start();
    db.create_user_and_database("app", "app-secret", "shop");
    db.exec(
        "CREATE TABLE shop.customers (id INT PRIMARY KEY, email TEXT);
         INSERT INTO shop.customers VALUES (1, 'ann@example.com');",
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let gw = Gateway::start(
        &config(mirror_shop, extra),
        &[
            ("VIGIL_MYSQL_LISTEN", &listen),
            ("SHOP_MYSQL_ADDR", &db.address()),
            ("SHOP_MYSQL_PASSWORD", "app-secret"),
        ],
    );
    Env {
        bot: gw.token("bot", &["agents"], "agent"),
        db,
        _gw: gw,
        port,
    }
}

/// A stand-in for a MySQL 8 server that only greets: enough for Vigil to
/// read the version it mirrors. Answers every connection, then closes it.
fn mysql8_greeter() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut p = vec![10u8];
            p.extend_from_slice(b"8.0.36-stand-in\0");
            p.extend_from_slice(&7u32.to_le_bytes());
            p.extend_from_slice(b"abcdefgh\0");
            // PROTOCOL_41 | SECURE_CONNECTION | PLUGIN_AUTH, both halves.
            let caps: u32 = 0x0000_0200 | 0x0000_8000 | 0x0008_0000;
            p.extend_from_slice(&(caps as u16).to_le_bytes());
            p.push(255);
            p.extend_from_slice(&2u16.to_le_bytes());
            p.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
            p.push(21);
            p.extend_from_slice(&[0; 10]);
            p.extend_from_slice(b"ijklmnopqrst\0");
            p.extend_from_slice(b"caching_sha2_password\0");
            let len = p.len() as u32;
            let mut packet = len.to_le_bytes()[..3].to_vec();
            packet.push(0);
            packet.extend_from_slice(&p);
            let _ = stream.write_all(&packet);
        }
    });
    port
}

/// Logs in with `caching_sha2_password` (mysql-connector-python asks for
/// it by name), with and without TLS, and with a wrong token.
const CONNECTOR: &str = r#"
import sys, mysql.connector
port, token = int(sys.argv[1]), sys.argv[2]
for tls in (True, False):
    for password in (token, "not-a-token"):
        try:
            conn = mysql.connector.connect(
                host="127.0.0.1", port=port, user="bot", password=password,
                database="shop", auth_plugin="caching_sha2_password",
                ssl_disabled=not tls, use_pure=True)
        except mysql.connector.Error as e:
            print("tls" if tls else "plain", "refused", e.errno)
            continue
        cur = conn.cursor()
        cur.execute("SHOW STATUS LIKE 'Ssl_cipher'")
        cipher = cur.fetchall()
        cur.execute("SELECT id, email FROM customers")
        print("tls" if tls else "plain", "rows", cur.fetchall(), "server", conn.get_server_info())
        conn.close()
"#;

#[test]
fn caching_sha2_password_full_authentication_with_mysql_connector() {
    let env = env(true, "");
    let out = python_code(CONNECTOR, &[&env.port.to_string(), &env.bot]);
    let text = assert_success(&out, "mysql-connector-python through vigil");
    assert!(
        text.contains("tls rows [(1, '[REDACTED]')]"),
        "TLS login: {text}"
    );
    assert!(
        text.contains("plain rows [(1, '[REDACTED]')]"),
        "loopback login: {text}"
    );
    assert!(text.contains("tls refused 1045"), "{text}");
    assert!(text.contains("plain refused 1045"), "{text}");
    assert!(!text.contains("ann@example.com"), "{text}");
}

/// PyMySQL answers the greeting's method: with a MySQL 8 version mirrored
/// it is `caching_sha2_password`, and without TLS PyMySQL asks for the
/// server's RSA key and sends the token encrypted under it.
const PYMYSQL: &str = r#"
import sys, pymysql
port, token = int(sys.argv[1]), sys.argv[2]
for tls in (True, False):
    for password in (token, "not-a-token"):
        ssl = {"ssl": {"check_hostname": False, "verify_mode": 0}} if tls else {"ssl_disabled": True}
        try:
            conn = pymysql.connect(host="127.0.0.1", port=port, user="bot", password=password,
                                   database="shop", **ssl)
        except pymysql.err.MySQLError as e:
            print("tls" if tls else "plain", "refused", e.args[0])
            continue
        secure = bool(getattr(conn._sock, "cipher", None) and conn._sock.cipher())
        cur = conn.cursor()
        cur.execute("SELECT id, email FROM customers")
        print("tls" if tls else "plain", "secure", secure, "rows", cur.fetchall(),
              "method", conn._auth_plugin_name, "server", conn.get_server_info(),
              "key", conn.server_public_key is not None)
        conn.close()
"#;

#[test]
fn a_mirrored_mysql_8_greets_with_caching_sha2_and_pymysql_logs_in_both_ways() {
    let greeter = mysql8_greeter();
    // The MariaDB connection is not mirrored; the MySQL 8 stand-in is.
    let extra = format!(
        r#"
[[connection]]
name = "eight"
kind = "mysql"
address = "127.0.0.1:{greeter}"
database = "eight"
user = "app"
"#
    );
    let env = env(false, &extra);
    let out = python_code(PYMYSQL, &[&env.port.to_string(), &env.bot]);
    let text = assert_success(&out, "pymysql through vigil");
    assert!(
        text.contains(
            "tls secure True rows ((1, '[REDACTED]'),) method caching_sha2_password server 8.0.36 key False"
        ),
        "TLS: the token in clear inside TLS, no key asked for: {text}"
    );
    assert!(
        text.contains(
            "plain secure False rows ((1, '[REDACTED]'),) method caching_sha2_password server 8.0.36 key True"
        ),
        "loopback: the token RSA-encrypted under Vigil's key: {text}"
    );
    assert!(text.contains("tls refused 1045"), "{text}");
    assert!(text.contains("plain refused 1045"), "{text}");
    drop(env.db);
}

#[test]
fn the_greeting_mirrors_the_targets_version() {
    let env = env(true, "");
    let script = r#"
import sys, pymysql
conn = pymysql.connect(host="127.0.0.1", port=int(sys.argv[1]), user=sys.argv[2],
                       password=sys.argv[3], database=sys.argv[4], ssl_disabled=True)
print(conn.get_server_info())
"#;
    let via = python_code(script, &[&env.port.to_string(), "bot", &env.bot, "shop"]);
    let via = assert_success(&via, "through vigil");
    let direct = python_code(
        script,
        &[&env.db.port().to_string(), "app", "app-secret", "shop"],
    );
    let direct = assert_success(&direct, "direct");
    assert!(direct.contains("MariaDB"), "{direct}");
    // The family and major.minor.patch, without the build suffix.
    let via = via.trim();
    assert!(
        via.ends_with("-MariaDB") && direct.trim().starts_with(via),
        "{via} / {direct}"
    );
}
