//! The gateway's side of the connection: it logs in to the target with the connection's own
//! credential (SCRAM-SHA-256; md5 and trust only when `auth_methods` allows them), over TLS
//! when configured, and never lets that credential out.

use vigil_e2e::{
    Gateway, PgCluster, TestCa, assert_failure, assert_success, config_with, psql_through,
    random_hex,
};

/// A gateway with one connection `db` to `pg` (database `postgres`) as `user`, with the
/// extra connection keys in `extra` (`password = ...`, `tls = ...`), and a policy that lets
/// group `admins` do anything there.
fn gateway_for(pg: &PgCluster, user: &str, extra: &str, env: &[(&str, &str)]) -> Gateway {
    let config = config_with(&format!(
        r#"
[[connection]]
name = "db"
kind = "postgres"
address = "{addr}"
database = "postgres"
user = "{user}"
{extra}

[[policy]]
name = "admins"
groups = ["admins"]
connections = ["db"]

  [[policy.rule]]
  name = "admin-all"
  effect = "allow"
"#,
        addr = pg.address()
    ));
    Gateway::start(&config, env)
}

#[track_caller]
fn current_user_through(gw: &Gateway) -> String {
    let token = gw.token("admin", &["admins"], "human");
    let out = psql_through(gw, "db", &token, "SELECT current_user");
    assert_success(&out, "SELECT current_user through the gateway")
}

/// Turns on `log_connections` so the server log shows every login that got through.
fn log_connections(pg: &PgCluster) {
    pg.psql("postgres", "ALTER SYSTEM SET log_connections = on");
    pg.psql("postgres", "SELECT pg_reload_conf()");
    std::thread::sleep(std::time::Duration::from_millis(300));
}

// ---- authentication methods ---------------------------------------------------------------

#[test]
fn upstream_login_with_scram_sha_256_uses_the_connections_user() {
    let pg = PgCluster::start();
    let password = random_hex(12);
    pg.create_role("scram_app", &password);
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT left(rolpassword, 14) FROM pg_authid WHERE rolname = 'scram_app'"
        ),
        "SCRAM-SHA-256$"
    );
    let gw = gateway_for(
        &pg,
        "scram_app",
        r#"password = "${UPSTREAM_PASSWORD}""#,
        &[("UPSTREAM_PASSWORD", &password)],
    );
    assert_eq!(current_user_through(&gw), "scram_app");
}

#[test]
fn upstream_login_with_md5_uses_the_connections_user() {
    let password = random_hex(12);
    let pg = PgCluster::builder().md5_user("md5_app", &password).start();
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT left(rolpassword, 3) FROM pg_authid WHERE rolname = 'md5_app'"
        ),
        "md5"
    );
    let gw = gateway_for(
        &pg,
        "md5_app",
        "password = \"${UPSTREAM_PASSWORD}\"\nauth_methods = [\"md5\"]",
        &[("UPSTREAM_PASSWORD", &password)],
    );
    assert_eq!(current_user_through(&gw), "md5_app");
}

#[test]
fn an_md5_request_is_refused_unless_the_connection_allows_it() {
    let password = random_hex(12);
    let pg = PgCluster::builder().md5_user("md5_app", &password).start();
    let gw = gateway_for(
        &pg,
        "md5_app",
        r#"password = "${UPSTREAM_PASSWORD}""#,
        &[("UPSTREAM_PASSWORD", &password)],
    );
    let token = gw.token("admin", &["admins"], "human");
    let err = assert_failure(
        &psql_through(&gw, "db", &token, "SELECT 1"),
        "an md5 upstream with the default auth_methods",
    );
    assert!(err.contains("FATAL:"), "{err}");
    assert!(!err.contains(&password), "{err}");
    let log = gw.log_text();
    assert!(
        log.contains("md5 authentication, which this connection does not allow"),
        "{log}"
    );
    assert!(!log.contains(&password), "{log}");
}

#[test]
fn a_trust_login_is_refused_unless_the_connection_allows_it() {
    let pg = PgCluster::builder().trust_user("trusted_app").start();
    let gw = gateway_for(&pg, "trusted_app", "", &[]);
    let token = gw.token("admin", &["admins"], "human");
    let err = assert_failure(
        &psql_through(&gw, "db", &token, "SELECT 1"),
        "a trust upstream with the default auth_methods",
    );
    assert!(err.contains("FATAL:"), "{err}");
    assert!(
        gw.log_text()
            .contains("trust authentication, which this connection does not allow"),
        "{}",
        gw.log_text()
    );
}

#[test]
fn upstream_login_with_trust_needs_no_password() {
    let pg = PgCluster::builder().trust_user("trusted_app").start();
    let gw = gateway_for(&pg, "trusted_app", r#"auth_methods = ["trust"]"#, &[]);
    assert_eq!(current_user_through(&gw), "trusted_app");
}

#[test]
fn a_wrong_upstream_password_is_fatal_and_never_shown_or_logged() {
    let pg = PgCluster::start();
    pg.create_role("app", &random_hex(12));
    let wrong = format!("wrong-{}", random_hex(12));
    let gw = gateway_for(
        &pg,
        "app",
        r#"password = "${UPSTREAM_PASSWORD}""#,
        &[("UPSTREAM_PASSWORD", &wrong)],
    );
    let token = gw.token("admin", &["admins"], "human");
    let err = assert_failure(
        &psql_through(&gw, "db", &token, "SELECT 1"),
        "a login whose upstream password is wrong",
    );
    assert!(err.contains("FATAL:"), "{err}");
    assert!(
        !err.contains(&wrong),
        "the client saw the upstream password: {err}"
    );
    let log = gw.log_text();
    assert!(
        !log.contains(&wrong),
        "the gateway logged the upstream password:\n{log}"
    );
    // The upstream did refuse it (the gateway really tried).
    assert!(
        pg.log_text()
            .contains("password authentication failed for user \"app\""),
        "{}",
        pg.log_text()
    );
}

// ---- TLS to the target --------------------------------------------------------------------

#[test]
fn upstream_tls_require_encrypts_the_targets_connection() {
    let pg = PgCluster::builder().ssl().start();
    let password = random_hex(12);
    pg.create_role("app", &password);
    let gw = gateway_for(
        &pg,
        "app",
        "password = \"${UPSTREAM_PASSWORD}\"\ntls = \"require\"",
        &[("UPSTREAM_PASSWORD", &password)],
    );
    let token = gw.token("admin", &["admins"], "human");
    let out = psql_through(
        &gw,
        "db",
        &token,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    assert!(
        out.status.success(),
        "tls = require failed: {}\n--- gateway log\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.log_text()
    );
    assert_eq!(
        assert_success(&out, "pg_stat_ssl through the gateway"),
        "t",
        "gateway log:\n{}",
        gw.log_text()
    );
}

#[test]
fn upstream_tls_verify_full_with_the_servers_ca_connects() {
    let pg = PgCluster::builder().ssl().start();
    let password = random_hex(12);
    pg.create_role("app", &password);
    let ca = pg.ca_cert().expect("an ssl cluster has a CA").to_path_buf();
    let gw = gateway_for(
        &pg,
        "app",
        &format!(
            "password = \"${{UPSTREAM_PASSWORD}}\"\ntls = \"verify-full\"\ntls_ca = \"{}\"",
            ca.display()
        ),
        &[("UPSTREAM_PASSWORD", &password)],
    );
    let token = gw.token("admin", &["admins"], "human");
    let out = psql_through(
        &gw,
        "db",
        &token,
        "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    );
    assert!(
        out.status.success(),
        "verify-full with the right CA failed: {}\n--- gateway log\n{}",
        String::from_utf8_lossy(&out.stderr),
        gw.log_text()
    );
    assert_eq!(assert_success(&out, "verify-full with the right CA"), "t");
}

#[test]
fn upstream_tls_verify_full_with_another_ca_refuses_to_log_in() {
    // A trust user, so that nothing but the certificate check can stop the login.
    let pg = PgCluster::builder().trust_user("trusted_app").ssl().start();
    let dir = tempfile::tempdir().expect("tempdir");
    let wrong = TestCa::new(dir.path(), "wrong");
    log_connections(&pg);
    let gw = gateway_for(
        &pg,
        "trusted_app",
        &format!(
            "tls = \"verify-full\"\ntls_ca = \"{}\"\nauth_methods = [\"trust\"]",
            wrong.cert().display()
        ),
        &[],
    );
    let token = gw.token("admin", &["admins"], "human");
    let err = assert_failure(
        &psql_through(&gw, "db", &token, "SELECT 'unverified_marker_3c7d'"),
        "verify-full with a CA that did not sign the server's certificate",
    );
    assert!(err.contains("FATAL:"), "{err}");
    let log = gw.log_text();
    assert!(
        log.to_lowercase().contains("certificate"),
        "the gateway log should say the certificate was refused:\n{log}"
    );
    let pg_log = pg.log_text();
    let after = pg_log
        .split("parameter \"log_connections\"")
        .last()
        .unwrap_or("");
    assert!(
        !after.contains("connection authorized: user=trusted_app"),
        "the gateway logged in to a server it could not verify:\n{pg_log}"
    );
    assert!(!pg_log.contains("unverified_marker_3c7d"), "{pg_log}");
}

#[test]
fn upstream_tls_require_fails_closed_against_a_server_without_tls() {
    let pg = PgCluster::start();
    let password = random_hex(12);
    pg.create_role("app", &password);
    log_connections(&pg);
    let gw = gateway_for(
        &pg,
        "app",
        "password = \"${UPSTREAM_PASSWORD}\"\ntls = \"require\"",
        &[("UPSTREAM_PASSWORD", &password)],
    );
    let token = gw.token("admin", &["admins"], "human");
    let err = assert_failure(
        &psql_through(&gw, "db", &token, "SELECT 'plaintext_marker_91ab'"),
        "tls = require against a server with ssl = off",
    );
    assert!(err.contains("FATAL:"), "{err}");
    let log = pg.log_text();
    let after = log
        .split("parameter \"log_connections\"")
        .last()
        .unwrap_or("");
    assert!(
        !after.contains("connection authorized: user=app"),
        "the gateway fell back to a plaintext login:\n{log}"
    );
    assert!(!log.contains("plaintext_marker_91ab"), "{log}");
}
