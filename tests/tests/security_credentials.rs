//! A credential's end also ends what it opened: `vigil token revoke` (run as its own process,
//! as an operator would) refuses the next statement of a psql session already open within
//! about a second, and every new login at once; the refusal is in the ledger.

use std::io::Write;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigil_e2e::{
    Gateway, PgCluster, assert_failure, assert_success, config_with, pg_bin, psql_through,
    random_hex,
};

const REVOKED: &str =
    "vigil: denied by rule 'identity': the credential of this session was revoked";

/// A gateway with one connection `db` to `pg` as a SCRAM role, where group `agents` may do
/// anything and `admins` may read the ledger.
fn gateway(pg: &PgCluster) -> Gateway {
    let password = random_hex(12);
    pg.create_role("app", &password);
    let config = config_with(&format!(
        r#"
[[connection]]
name = "db"
kind = "postgres"
address = "{addr}"
database = "postgres"
user = "app"
password = "${{UPSTREAM_PASSWORD}}"

[[policy]]
name = "agents"
groups = ["agents", "admins"]
connections = ["db"]

  [[policy.rule]]
  name = "all"
  effect = "allow"
"#,
        addr = pg.address()
    ));
    Gateway::start(&config, &[("UPSTREAM_PASSWORD", &password)])
}

/// psql reading statements from a pipe, one session, its stderr in `err_path` (written as it
/// happens: stderr is unbuffered) and its stdout in `out_path`.
fn open_psql(gw: &Gateway, token: &str, dir: &std::path::Path) -> Child {
    let conninfo = format!(
        "host=127.0.0.1 port={} dbname=db user=vigil-e2e sslmode=disable connect_timeout=10",
        gw.pg_port()
    );
    let out = std::fs::File::create(dir.join("out")).expect("stdout file");
    let err = std::fs::File::create(dir.join("err")).expect("stderr file");
    Command::new(pg_bin("psql"))
        .args(["-X", "-At", "-v", "ON_ERROR_STOP=0", "-f", "-", &conninfo])
        .env("PGPASSWORD", token)
        .stdin(Stdio::piped())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("could not run psql")
}

fn send(psql: &mut Child, sql: &str) {
    let stdin = psql.stdin.as_mut().expect("psql stdin is piped");
    stdin.write_all(sql.as_bytes()).expect("write to psql");
    stdin.flush().expect("flush psql stdin");
}

fn read(dir: &std::path::Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name)).unwrap_or_default()
}

/// Waits until `needle` shows up in the file, up to `limit`; returns when it did.
fn wait_for(dir: &std::path::Path, name: &str, needle: &str, limit: Duration) -> Option<Instant> {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if read(dir, name).contains(needle) {
            return Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

#[test]
fn revoking_a_token_refuses_the_next_statement_of_an_open_session_and_new_logins() {
    let pg = PgCluster::start();
    let gw = gateway(&pg);
    let admin = gw.token("auditor", &["admins"], "human");
    let token = gw.token("crew-7", &["agents"], "agent");
    let dir = tempfile::tempdir().expect("tempdir");

    let mut psql = open_psql(&gw, &token, dir.path());
    // psql's stdout is block-buffered into the file (read at the end); its stderr is not.
    send(&mut psql, "SELECT 'before_revoke';\n");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        read(dir.path(), "err"),
        "",
        "the session works before the revoke"
    );

    let out = gw.vigil_with_config(&["token", "revoke", "crew-7"]);
    assert_success(&out, "vigil token revoke");
    let revoked_at = Instant::now();

    // Poll the open session: one statement every 100 ms until the refusal shows.
    let mut refused_at = None;
    for i in 0..30 {
        send(&mut psql, &format!("SELECT 'poll_{i}';\n"));
        if let Some(at) = wait_for(dir.path(), "err", REVOKED, Duration::from_millis(100)) {
            refused_at = Some(at);
            break;
        }
    }
    let refused_at = refused_at.unwrap_or_else(|| {
        panic!(
            "the open session was never refused after the revoke\n--- stderr\n{}\n--- gateway log\n{}",
            read(dir.path(), "err"),
            gw.log_text()
        )
    });
    let took = refused_at.duration_since(revoked_at);
    assert!(
        took < Duration::from_millis(1600),
        "the revoke took {took:?} to reach the open session (token_cache is 1s)"
    );

    // Latched: later statements are refused too, and the session itself stays open.
    send(&mut psql, "SELECT 'after_revoke';\n");
    drop(psql.stdin.take());
    psql.wait().expect("wait for psql");
    let (stdout, stderr) = (read(dir.path(), "out"), read(dir.path(), "err"));
    assert!(stdout.contains("before_revoke"), "{stdout}\n{stderr}");
    assert!(!stdout.contains("after_revoke"), "{stdout}\n{stderr}");
    assert!(stderr.matches(REVOKED).count() >= 2, "{stderr}");

    // A new login with the revoked token is refused at once.
    let err = assert_failure(
        &psql_through(&gw, "db", &token, "SELECT 1"),
        "a new login with a revoked token",
    );
    assert!(err.contains("FATAL:"), "{err}");

    // The refusals are in the ledger, under the session of crew-7.
    let list = gw.vigil(&["sessions", "list", "--token", &admin]);
    let table = assert_success(&list, "vigil sessions list");
    let id = table
        .lines()
        .skip(1)
        .find_map(|line| {
            let mut cols = line.split_whitespace();
            let id = cols.next()?;
            (cols.next()? == "crew-7").then(|| id.to_string())
        })
        .unwrap_or_else(|| panic!("no session of crew-7:\n{table}"));
    let show = gw.vigil(&["sessions", "show", &id, "--token", &admin]);
    let events = assert_success(&show, "vigil sessions show");
    let refusals = events
        .lines()
        .filter(|l| l.contains("deny") && l.contains("rule=identity"))
        .count();
    assert!(refusals >= 2, "{events}");
}

#[test]
fn a_token_that_expires_during_a_session_refuses_the_next_statement() {
    let pg = PgCluster::start();
    let gw = gateway(&pg);
    let out = gw.vigil_with_config(&[
        "token", "create", "--name", "short", "--groups", "agents", "--kind", "agent", "--ttl",
        "2s",
    ]);
    let token = assert_success(&out, "vigil token create --ttl 2s");
    let script = "SELECT 'before_expiry';\n\\! sleep 3\nSELECT 'after_expiry';\n";
    let out = vigil_e2e::psql_through_script(&gw, "db", &token, script);
    let (stdout, stderr) = (vigil_e2e::stdout(&out), vigil_e2e::stderr(&out));
    assert!(stdout.contains("before_expiry"), "{stdout}\n{stderr}");
    assert!(!stdout.contains("after_expiry"), "{stdout}\n{stderr}");
    assert!(
        stderr.contains(
            "vigil: denied by rule 'identity': credential expired; reconnect with a fresh token"
        ),
        "{stderr}"
    );
    assert_failure(
        &psql_through(&gw, "db", &token, "SELECT 1"),
        "a new login with an expired token",
    );
}
