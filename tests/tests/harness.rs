//! Tests of the harness itself: a private cluster starts, enforces its authentication, and
//! stops. These pass without a working gateway.

use vigil_e2e::{PgCluster, assert_failure, assert_success, free_port, stdout};

#[test]
fn private_cluster_serves_a_new_role_and_database_with_scram() {
    let pg = PgCluster::start();
    pg.create_role("app", "app-secret");
    pg.create_database("shop", "app");

    let out = pg.psql_as("app", Some("app-secret"), "shop", "SELECT 1");
    assert_eq!(assert_success(&out, "psql as app"), "1");
    assert_eq!(
        pg.psql(
            "shop",
            "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'shop'"
        ),
        "app"
    );
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT substr(rolpassword, 1, 13) FROM pg_authid WHERE rolname = 'app'"
        ),
        "SCRAM-SHA-256"
    );
}

#[test]
fn private_cluster_refuses_a_wrong_password() {
    let pg = PgCluster::start();
    pg.create_role("app", "app-secret");

    let err = assert_failure(
        &pg.psql_as("app", Some("not-the-password"), "postgres", "SELECT 1"),
        "psql with a wrong password",
    );
    assert!(err.contains("password authentication failed"), "{err}");
    let err = assert_failure(
        &pg.psql_as("app", None, "postgres", "SELECT 1"),
        "psql without a password",
    );
    assert!(!err.is_empty());
    let err = assert_failure(
        &pg.psql_as("postgres", Some("wrong"), "postgres", "SELECT 1"),
        "psql as superuser with a wrong password",
    );
    assert!(err.contains("password authentication failed"), "{err}");
}

#[test]
fn private_cluster_has_md5_and_trust_users_on_request() {
    let pg = PgCluster::builder()
        .md5_user("legacy", "legacy-secret")
        .trust_user("open")
        .start();

    let out = pg.psql_as(
        "legacy",
        Some("legacy-secret"),
        "postgres",
        "SELECT current_user",
    );
    assert_eq!(assert_success(&out, "psql as md5 user"), "legacy");
    assert_eq!(
        pg.psql(
            "postgres",
            "SELECT substr(rolpassword, 1, 3) FROM pg_authid WHERE rolname = 'legacy'"
        ),
        "md5"
    );
    assert_failure(
        &pg.psql_as("legacy", Some("wrong"), "postgres", "SELECT 1"),
        "md5 user with a wrong password",
    );

    let out = pg.psql_as("open", None, "postgres", "SELECT current_user");
    assert_eq!(assert_success(&out, "psql as trust user"), "open");
}

#[test]
fn stopped_cluster_no_longer_accepts_connections() {
    let mut pg = PgCluster::start();
    let port = pg.port();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_ok());
    pg.stop();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let out = pg.psql_as("postgres", Some("x"), "postgres", "SELECT 1");
    assert!(!out.status.success(), "{}", stdout(&out));
}

#[test]
fn two_clusters_run_side_by_side() {
    let a = PgCluster::start();
    let b = PgCluster::start();
    assert_ne!(a.port(), b.port());
    a.psql("postgres", "CREATE TABLE only_in_a (x int)");
    assert_eq!(
        b.psql(
            "postgres",
            "SELECT count(*) FROM pg_tables WHERE tablename = 'only_in_a'"
        ),
        "0"
    );
}

#[test]
fn free_port_can_be_bound() {
    let port = free_port();
    assert!(port > 0);
    std::net::TcpListener::bind(("127.0.0.1", port)).expect("free_port gave a busy port");
}
