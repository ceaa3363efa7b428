//! A gateway killed with SIGKILL in the middle of a write load loses no decision: pgbench
//! inserts rows through Vigil from several clients, each row carrying a random tag that
//! only its own INSERT statement contains; the gateway is killed mid-run and started again
//! on the same data dir; then every row that reached the database has an allowed statement
//! with its tag in the ledger (read through `vigil sessions list/show --json`, as an
//! operator would), and `vigil audit verify` passes. Once with the default ledger, once with
//! `[ledger] fsync = true`.
//!
//! Black-box on purpose: only the config, the CLI and the database, so the test holds
//! whatever the ledger's storage looks like inside.

use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use vigil_e2e::{Gateway, PgCluster, assert_success, config_with, pg_bin, random_hex};

/// The principal that writes; its sessions are the ones the test reads back.
const WRITER: &str = "crash-writer";

/// One pgbench transaction: one autocommit INSERT whose tag appears in its own text
/// (`-M simple` sends the text with the values in it).
const SCRIPT: &str = "\\set tag random(1, 9000000000000000)\n\
                      INSERT INTO crash_rows (tag, client) VALUES (:tag, :client_id);\n";

/// Rows that must have reached the database, and how long the load must have run, before
/// the gateway is killed, so the crash lands in the middle of a real write load.
const ROWS_BEFORE_KILL: u64 = 200;
const LOAD_BEFORE_KILL: Duration = Duration::from_secs(3);

/// A cluster with `bench.crash_rows` and a gateway whose `admins` may do anything on
/// connection `bench`, with `ledger` as its `[ledger]` section.
fn crash_setup(ledger: &str) -> (PgCluster, Gateway) {
    let pg = PgCluster::start();
    let password = random_hex(12);
    pg.create_role("app", &password);
    pg.create_database("bench", "app");
    assert_success(
        &pg.psql_as(
            "app",
            Some(&password),
            "bench",
            "CREATE TABLE crash_rows (tag bigint PRIMARY KEY, client int NOT NULL)",
        ),
        "creating crash_rows",
    );
    let config = config_with(&format!(
        r#"
[ledger]
{ledger}

[[connection]]
name = "bench"
kind = "postgres"
address = "{}"
database = "bench"
user = "app"
password = "${{BENCH_PG_PASSWORD}}"

[[policy]]
name = "admins"
groups = ["admins"]
connections = ["bench"]

  [[policy.rule]]
  name = "admin-all"
  effect = "allow"
"#,
        pg.address()
    ));
    let gw = Gateway::start(&config, &[("BENCH_PG_PASSWORD", &password)]);
    (pg, gw)
}

/// `pgbench -n -M simple -f SCRIPT ARGS bench` through the gateway with `token`.
fn pgbench_through(gw: &Gateway, token: &str, script: &std::path::Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(pg_bin("pgbench"));
    for var in [
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGSERVICE",
        "PGOPTIONS",
        "PGPASSFILE",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PGPASSFILE", "/dev/null")
        .env("PGPASSWORD", token)
        .env("PGSSLMODE", "disable")
        .env("PGCONNECT_TIMEOUT", "10")
        .args(["-h", "127.0.0.1", "-p", &gw.pg_port().to_string()])
        .args(["-U", "vigil-e2e", "-n", "-M", "simple", "-f"])
        .arg(script)
        .args(args)
        .arg("bench")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Kills pgbench if the test panics before it was waited for.
struct Client(Option<Child>);

impl Client {
    /// Waits up to `limit` for pgbench to exit on its own, then kills it; returns its output.
    fn finish(&mut self, limit: Duration) -> Output {
        let mut child = self.0.take().expect("pgbench was already waited for");
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = child.kill();
        child
            .wait_with_output()
            .expect("could not wait for pgbench")
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn row_count(pg: &PgCluster) -> u64 {
    pg.psql("bench", "SELECT count(*) FROM crash_rows")
        .parse()
        .expect("a count")
}

/// `vigil ARGS --json` as `admin`, parsed.
#[track_caller]
fn vigil_json(gw: &Gateway, admin: &str, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let out = gw.vigil_env(&all, &[("VIGIL_TOKEN", admin)]);
    let text = assert_success(&out, &format!("vigil {}", args.join(" ")));
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("vigil {} printed no JSON ({e}):\n{text}", args.join(" ")))
}

/// What the ledger says about the writer's INSERTs: tag -> the verdicts recorded for a
/// statement carrying it.
fn recorded_inserts(gw: &Gateway, admin: &str) -> HashMap<i64, Vec<String>> {
    let list = vigil_json(gw, admin, &["sessions", "list", "--limit", "10000"]);
    let sessions: Vec<&str> = list["sessions"]
        .as_array()
        .expect("`sessions list --json` has a sessions array")
        .iter()
        .filter(|s| s["principal"].as_str() == Some(WRITER))
        .filter_map(|s| s["id"].as_str())
        .collect();
    assert!(!sessions.is_empty(), "no session of {WRITER}:\n{list:#}");
    let mut tags: HashMap<i64, Vec<String>> = HashMap::new();
    for id in sessions {
        let shown = vigil_json(gw, admin, &["sessions", "show", id]);
        for event in shown["events"].as_array().into_iter().flatten() {
            if event["type"].as_str() != Some("statement") {
                continue;
            }
            let statement = &event["body"]["body"];
            let Some(tag) = statement["text"].as_str().and_then(tag_of) else {
                continue;
            };
            let verdict = statement["decision"]["verdict"]
                .as_str()
                .unwrap_or("?")
                .to_string();
            tags.entry(tag).or_default().push(verdict);
        }
    }
    tags
}

/// The tag in `INSERT INTO crash_rows (tag, client) VALUES (<tag>, <client>)`.
fn tag_of(text: &str) -> Option<i64> {
    let rest = text.split_once("VALUES (")?.1;
    rest.split(',').next()?.trim().parse().ok()
}

/// The whole scenario: load, SIGKILL mid-run, restart on the same data dir, more load,
/// then every row in the database has its allowed decision in the ledger, and the ledger
/// verifies.
fn no_row_without_its_decision_after_a_crash(ledger: &str) {
    let (pg, mut gw) = crash_setup(ledger);
    let writer = gw.token(WRITER, &["admins"], "agent");
    let admin = gw.token("auditor", &["admins"], "human");
    let script = gw
        .data_dir()
        .with_file_name(format!("crash-{}.sql", random_hex(4)));
    std::fs::write(&script, SCRIPT).expect("could not write the pgbench script");

    // Several clients write until the gateway dies under them.
    let mut load = Client(Some(
        pgbench_through(&gw, &writer, &script, &["-c", "6", "-j", "2", "-T", "60"])
            .spawn()
            .expect("could not run pgbench"),
    ));
    let started = Instant::now();
    while started.elapsed() < LOAD_BEFORE_KILL || row_count(&pg) < ROWS_BEFORE_KILL {
        assert!(
            started.elapsed() < Duration::from_secs(45),
            "fewer than {ROWS_BEFORE_KILL} rows after 45 s of pgbench through the gateway:\n{}",
            gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    gw.kill();
    let crashed = load.finish(Duration::from_secs(30));
    let crashed_text = String::from_utf8_lossy(&crashed.stdout).to_string()
        + &String::from_utf8_lossy(&crashed.stderr);
    assert!(
        !crashed.status.success(),
        "pgbench finished normally: the gateway was not killed mid-run:\n{crashed_text}"
    );
    let rows_at_crash = row_count(&pg);

    // The same data dir and ports: the gateway comes back and takes writes again.
    gw.spawn();
    let after = pgbench_through(&gw, &writer, &script, &["-c", "2", "-j", "2", "-t", "20"])
        .output()
        .expect("could not run pgbench");
    let after_text = assert_success(&after, "pgbench through the restarted gateway");
    assert!(
        after_text.contains("number of failed transactions: 0 "),
        "pgbench after the restart had failed transactions:\n{after_text}"
    );

    // Every row the database holds, before and after the crash, was decided and recorded.
    let recorded = recorded_inserts(&gw, &admin);
    let rows: Vec<i64> = pg
        .psql("bench", "SELECT tag FROM crash_rows ORDER BY tag")
        .lines()
        .map(|l| l.parse().expect("a tag"))
        .collect();
    assert!(
        rows.len() as u64 >= rows_at_crash + 40,
        "{} rows after the restart, {rows_at_crash} at the crash and 40 written since",
        rows.len()
    );
    let unrecorded: Vec<i64> = rows
        .iter()
        .copied()
        .filter(|tag| {
            !recorded
                .get(tag)
                .is_some_and(|v| v.iter().any(|v| v == "allow"))
        })
        .collect();
    assert!(
        unrecorded.is_empty(),
        "{} of {} rows reached the database without an allowed decision in the ledger, \
         e.g. tags {:?}\npgbench at the crash:\n{crashed_text}\ngateway log:\n{}",
        unrecorded.len(),
        rows.len(),
        &unrecorded[..unrecorded.len().min(10)],
        gw.log_text()
    );
    // Decisions without a row are the statements in flight at the kill, no more than one
    // per client.
    let rows: HashSet<i64> = rows.into_iter().collect();
    let in_flight = recorded.keys().filter(|t| !rows.contains(t)).count();
    eprintln!(
        "{} rows at the crash, {} after the restart; {} recorded INSERTs, {in_flight} \
         without a row",
        rows_at_crash,
        rows.len(),
        recorded.len()
    );
    assert!(
        in_flight <= 6,
        "{in_flight} recorded INSERTs have no row, more than the 6 clients had in flight"
    );

    // The ledger's chain and checkpoints hold across the crash.
    let _ = gw.stop();
    let verify = gw.vigil_with_config(&["audit", "verify"]);
    let verified = assert_success(&verify, "vigil audit verify after the crash and restart");
    eprintln!("{verified}");
    let _ = std::fs::remove_file(&script);
}

#[test]
fn every_row_written_before_a_sigkill_has_its_decision_in_the_ledger() {
    no_row_without_its_decision_after_a_crash("");
}

#[test]
fn every_row_written_before_a_sigkill_has_its_decision_in_the_ledger_with_fsync() {
    no_row_without_its_decision_after_a_crash("fsync = true");
}
