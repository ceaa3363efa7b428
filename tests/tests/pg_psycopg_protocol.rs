//! psycopg 3 through Vigil, feature by feature: the simple and extended protocols, binary
//! results, server-side cursors, pipelines (with a denial in the middle), prepared
//! statements, executemany, COPY both ways, LISTEN/NOTIFY, notices and server errors.
//!
//! Each test starts its own cluster and gateway ([`PsycopgEnv`]) and runs one scenario of
//! `tests/py/psycopg_protocol.py`, which asserts what it sees and prints a JSON summary.

use vigil_e2e::psycopg_env::PsycopgEnv;

const SCRIPT: &str = "py/psycopg_protocol.py";

#[test]
fn simple_and_extended_protocol_reads_with_parameters() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "simple_and_extended");
    assert!(json.contains("item 7"), "{json}");
}

#[test]
fn binary_results_equal_a_direct_connection() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "binary_results");
    assert!(
        json.contains("timestamptz") || json.contains("ts"),
        "{json}"
    );
}

#[test]
fn named_cursor_fetches_10000_rows_in_batches_inside_a_transaction() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "named_cursor_admin");
    assert!(json.contains(r#""rows": 10000"#), "{json}");
}

/// A read-only agent reads through a named cursor too (DECLARE ... CURSOR FOR SELECT and
/// FETCH change no data).
#[test]
fn named_cursor_works_for_a_read_only_agent() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "named_cursor");
    assert!(json.contains(r#""rows": 10000"#), "{json}");
}

#[test]
fn pipeline_of_20_statements_returns_results_in_order() {
    let env = PsycopgEnv::start();
    env.run(SCRIPT, "pipeline20");
}

#[test]
fn pipeline_with_a_denied_statement_behaves_like_a_server_error() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "pipeline_denied");
    assert!(json.contains(r#""after": 42"#), "{json}");
    // The denied statement never reached PostgreSQL.
    assert!(
        !env.pg.log_text().contains("SELECT secret FROM forbidden"),
        "{}",
        env.pg.log_text()
    );
}

#[test]
fn pipeline_denials_in_two_sync_batches_abort_only_their_own_batch() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "pipeline_denials_across_syncs");
    assert!(json.contains("InsufficientPrivilege:42501"), "{json}");
}

#[test]
fn prepared_statement_executed_10_times() {
    let env = PsycopgEnv::start();
    env.run(SCRIPT, "prepared");
}

#[test]
fn executemany_insert_as_admin() {
    let env = PsycopgEnv::start();
    env.run(SCRIPT, "executemany");
    assert_eq!(
        env.pg
            .psql("shop", "SELECT count(*) FROM log WHERE note LIKE 'many-%'"),
        "200"
    );
    assert_eq!(
        env.pg
            .psql("shop", "SELECT count(*) FROM log WHERE note LIKE 'ret-%'"),
        "10"
    );
}

/// Also binary COPY both ways (rows 0..500 copied back in with n + 100000).
#[test]
fn copy_from_stdin_and_to_stdout_10000_rows() {
    let env = PsycopgEnv::start();
    env.run(SCRIPT, "copy_both_ways");
    assert_eq!(
        env.pg.psql("shop", "SELECT count(*), sum(n) FROM t"),
        format!("10500|{}", 9999 * 10000 / 2 + 500 * 100_000 + 499 * 500 / 2)
    );
}

#[test]
fn listen_notify_between_two_gateway_sessions() {
    let env = PsycopgEnv::start();
    env.run(SCRIPT, "listen_notify");
}

#[test]
fn server_notice_reaches_the_notice_handler() {
    let env = PsycopgEnv::start();
    env.run(SCRIPT, "notice");
}

#[test]
fn server_error_keeps_its_sqlstate_and_the_session_continues() {
    let env = PsycopgEnv::start();
    let json = env.run(SCRIPT, "server_error");
    assert!(json.contains(r#""sqlstate": "22012""#), "{json}");
}
