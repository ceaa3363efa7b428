//! Vigil's own login to a MySQL/MariaDB target: a private MariaDB with TLS,
//! the gateway in front with `tls = "verify-full"` and the CA that signed
//! the server's certificate. The `mariadb` CLI's session runs over TLS (the
//! server says so), a connection trusting another CA never logs in and the
//! log says why, and a user identified via MariaDB's ed25519 logs in.
//! (`caching_sha2_password`, which MariaDB does not offer, is tested against
//! a scripted upstream in vigil-mysql.)

use vigil_e2e::mariadb::{MariaDb, chmod_755, chown_mysql, mariadb_cli};
use vigil_e2e::{Gateway, TestCa, assert_success, free_port, stdout};

const CONFIG: &str = r#"[server]
data_dir = "${VIGIL_DATA}"

[listen]
postgres = "${VIGIL_PG_LISTEN}"
mysql = "${VIGIL_MYSQL_LISTEN}"
http = "${VIGIL_HTTP_LISTEN}"

[[connection]]
name = "shop"
kind = "mysql"
address = "${DB_ADDR}"
database = "shop"
user = "app"
password = "${APP_PASSWORD}"
tls = "verify-full"
tls_ca = "${RIGHT_CA}"

[[connection]]
name = "impostor"
kind = "mysql"
address = "${DB_ADDR}"
database = "shop"
user = "app"
password = "${APP_PASSWORD}"
tls = "verify-full"
tls_ca = "${WRONG_CA}"

[[connection]]
name = "preferred"
kind = "mysql"
address = "${DB_ADDR}"
database = "shop"
user = "app"
password = "${APP_PASSWORD}"
tls = "prefer"

[[connection]]
name = "plainpref"
kind = "mysql"
address = "${PLAIN_DB_ADDR}"
database = "shop"
user = "app"
password = "${APP_PASSWORD}"
tls = "prefer"

[[connection]]
name = "edshop"
kind = "mysql"
address = "${DB_ADDR}"
database = "shop"
user = "edna"
password = "${ED_PASSWORD}"
flavor = "mariadb"

[[policy]]
name = "agents"
groups = ["agents"]
connections = ["shop", "impostor", "edshop", "preferred", "plainpref"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "sql.read_only"
"#;

struct Env {
    _certs: tempfile::TempDir,
    _db: MariaDb,
    /// A second target that offers no TLS.
    _plain: MariaDb,
    gw: Gateway,
    port: u16,
    bot: String,
}

fn env() -> Env {
    let certs = tempfile::tempdir().expect("temp dir");
    chmod_755(certs.path());
    let ca = TestCa::new(certs.path(), "right");
    let wrong = TestCa::new(certs.path(), "wrong");
    let server = ca.issue_server("mariadb");
    chown_mysql(&server.key);
    let db = MariaDb::start_with(&[
        format!("--ssl-ca={}", ca.cert().display()),
        format!("--ssl-cert={}", server.cert.display()),
        format!("--ssl-key={}", server.key.display()),
    ]);
    db.create_user_and_database("app", "app-secret", "shop");
    let plain = MariaDb::start();
    plain.create_user_and_database("app", "app-secret", "shop");
    plain.exec("CREATE TABLE shop.items (id INT PRIMARY KEY, name TEXT); INSERT INTO shop.items VALUES (1, 'desk');");
    db.exec(
        "CREATE TABLE shop.items (id INT PRIMARY KEY, name TEXT);
         INSERT INTO shop.items VALUES (1, 'lamp');
         INSTALL SONAME 'auth_ed25519';
         CREATE USER 'edna'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed-secret');
         GRANT SELECT ON shop.* TO 'edna'@'%';",
    );
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let gw = Gateway::start(
        CONFIG,
        &[
            ("VIGIL_MYSQL_LISTEN", &listen),
            ("DB_ADDR", &db.address()),
            ("PLAIN_DB_ADDR", &plain.address()),
            ("APP_PASSWORD", "app-secret"),
            ("ED_PASSWORD", "ed-secret"),
            ("RIGHT_CA", &ca.cert().display().to_string()),
            ("WRONG_CA", &wrong.cert().display().to_string()),
        ],
    );
    Env {
        bot: gw.token("bot", &["agents"], "agent"),
        _certs: certs,
        _db: db,
        _plain: plain,
        gw,
        port,
    }
}

#[test]
fn verify_full_session_runs_over_tls_and_another_ca_is_refused() {
    let env = env();
    let out = mariadb_cli(
        env.port,
        "bot",
        &env.bot,
        "shop",
        "SELECT name FROM items; SHOW STATUS LIKE 'Ssl_cipher'",
    );
    let text = assert_success(&out, "a session through verify-full");
    assert!(text.contains("lamp"), "{text}");
    let cipher = text
        .lines()
        .find(|l| l.starts_with("Ssl_cipher"))
        .unwrap_or_default();
    let value = cipher.trim_start_matches("Ssl_cipher").trim();
    assert!(
        !value.is_empty(),
        "the target sees a plaintext session: {text}"
    );

    let out = mariadb_cli(env.port, "bot", &env.bot, "impostor", "SELECT 1");
    assert!(!out.status.success(), "{}", stdout(&out));
    let log = env.gw.log_text();
    let line = log
        .lines()
        .find(|l| l.contains("upstream login failed") && l.contains("impostor"))
        .unwrap_or_else(|| panic!("no login failure logged:\n{log}"));
    assert!(
        line.contains("TLS") && line.to_lowercase().contains("certificate"),
        "{line}"
    );
    assert!(!line.contains("app-secret"), "{line}");
}

#[test]
fn an_ed25519_user_logs_in_through_the_gateway() {
    let env = env();
    let out = mariadb_cli(
        env.port,
        "bot",
        &env.bot,
        "edshop",
        "SELECT CURRENT_USER(), name FROM items",
    );
    let text = assert_success(&out, "a session as the ed25519 user");
    assert!(text.contains("edna@%"), "{text}");
    assert!(text.contains("lamp"), "{text}");
}

/// The `Ssl_cipher` the target reports for a session through `connection`.
fn cipher_through(env: &Env, connection: &str) -> (String, String) {
    let out = mariadb_cli(
        env.port,
        "bot",
        &env.bot,
        connection,
        "SELECT name FROM items; SHOW STATUS LIKE 'Ssl_cipher'",
    );
    let text = assert_success(&out, connection);
    let cipher = text
        .lines()
        .find(|l| l.starts_with("Ssl_cipher"))
        .unwrap_or_default()
        .trim_start_matches("Ssl_cipher")
        .trim()
        .to_string();
    (text, cipher)
}

#[test]
fn prefer_uses_tls_when_the_target_offers_it_and_plaintext_when_not() {
    let env = env();
    let (text, cipher) = cipher_through(&env, "preferred");
    assert!(text.contains("lamp"), "{text}");
    assert!(
        !cipher.is_empty(),
        "prefer did not use the offered TLS: {text}"
    );
    let (text, cipher) = cipher_through(&env, "plainpref");
    assert!(text.contains("desk"), "{text}");
    assert!(cipher.is_empty(), "{text}");
}
