//! pgbench through the gateway: the simple, extended and prepared protocols, the default
//! TPC-B-like read-write script, and a new connection per transaction. Each run must finish
//! with no failed transactions and a positive tps (printed, so the test log shows them).

use std::process::{Command, Output, Stdio};

use vigil_e2e::{Gateway, PgCluster, assert_success, config_with, pg_bin, random_hex};

/// A cluster with database `bench` owned by `app`, initialised with `pgbench -i -s 1`
/// directly, and a gateway whose `admins` may do anything on connection `bench`.
fn bench() -> (PgCluster, Gateway) {
    bench_with_workers(None)
}

/// [`bench`] with `[server] workers` set when given.
fn bench_with_workers(workers: Option<usize>) -> (PgCluster, Gateway) {
    let pg = PgCluster::start();
    let password = random_hex(12);
    pg.create_role("app", &password);
    pg.create_database("bench", "app");
    let out = pgbench(pg.port(), "app", &password, &["-i", "-s", "1", "-q"]);
    assert_success(&out, "pgbench -i -s 1 directly on the cluster");
    let mut config = config_with(&format!(
        r#"
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
    if let Some(n) = workers {
        config = config.replacen("[server]\n", &format!("[server]\nworkers = {n}\n"), 1);
    }
    let gw = Gateway::start(&config, &[("BENCH_PG_PASSWORD", &password)]);
    (pg, gw)
}

/// `pgbench -h 127.0.0.1 -p PORT -U USER ARGS bench` with a clean libpq environment.
fn pgbench(port: u16, user: &str, password: &str, args: &[&str]) -> Output {
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
        .env("PGPASSWORD", password)
        .env("PGSSLMODE", "disable")
        .env("PGCONNECT_TIMEOUT", "10")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-U", user])
        .args(args)
        .arg("bench")
        .stdin(Stdio::null())
        .output()
        .expect("could not run pgbench")
}

/// Runs pgbench through the gateway with an admin token; asserts it succeeded with
/// `number of failed transactions: 0` and tps > 0, prints and returns the tps.
#[track_caller]
fn run_through(gw: &Gateway, label: &str, args: &[&str]) -> f64 {
    let token = gw.token(&format!("bench-{}", random_hex(4)), &["admins"], "agent");
    let out = pgbench(gw.pg_port(), "vigil-e2e", &token, args);
    let text = assert_success(&out, &format!("pgbench {label} through the gateway"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.contains("number of failed transactions: 0 "),
        "pgbench {label} had failed transactions:\n{text}\n{err}"
    );
    let tps = text
        .lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("no tps line in pgbench's output:\n{text}"));
    let processed = text
        .lines()
        .find(|l| l.starts_with("number of transactions actually processed"))
        .unwrap_or("");
    eprintln!("pgbench {label}: tps = {tps:.1} ({processed})");
    assert!(tps > 0.0, "pgbench {label}: tps {tps}\n{text}");
    tps
}

#[test]
fn pgbench_select_only_simple_protocol_has_no_failures() {
    let (_pg, gw) = bench();
    run_through(
        &gw,
        "-S -M simple -c 10 -j 2",
        &["-S", "-M", "simple", "-T", "5", "-c", "10", "-j", "2"],
    );
}

#[test]
fn pgbench_select_only_prepared_protocol_has_no_failures() {
    let (_pg, gw) = bench();
    run_through(
        &gw,
        "-S -M prepared -c 10 -j 2",
        &["-S", "-M", "prepared", "-T", "5", "-c", "10", "-j", "2"],
    );
}

#[test]
fn pgbench_select_only_extended_protocol_has_no_failures() {
    let (_pg, gw) = bench();
    run_through(
        &gw,
        "-S -M extended -c 10 -j 2",
        &["-S", "-M", "extended", "-T", "5", "-c", "10", "-j", "2"],
    );
}

#[test]
fn pgbench_default_tpcb_script_writes_through_the_gateway() {
    let (pg, gw) = bench();
    run_through(&gw, "TPC-B -c 4", &["-T", "5", "-c", "4", "-j", "2"]);
    let history: u64 = pg
        .psql("bench", "SELECT count(*) FROM pgbench_history")
        .parse()
        .expect("a count");
    assert!(history > 0, "no TPC-B transaction reached the target");
    // Every transaction moved money between accounts, tellers and branches consistently.
    assert_eq!(
        pg.psql(
            "bench",
            "SELECT (SELECT sum(abalance) FROM pgbench_accounts) = \
                    (SELECT sum(delta) FROM pgbench_history) \
                AND (SELECT sum(bbalance) FROM pgbench_branches) = \
                    (SELECT sum(delta) FROM pgbench_history)"
        ),
        "t"
    );
}

#[test]
fn pgbench_new_connection_per_transaction_has_no_failures() {
    let (_pg, gw) = bench();
    run_through(
        &gw,
        "-S -C -c 4",
        &["-S", "-C", "-T", "3", "-c", "4", "-j", "2"],
    );
}

/// The worker count the gateway logged when its runtime started.
fn runtime_workers(gw: &Gateway) -> Option<usize> {
    let log = gw.log_text();
    let line = log.lines().find(|l| l.contains("runtime started"))?;
    let (_, rest) = line.split_once("workers=")?;
    rest.split(|c: char| !c.is_ascii_digit())
        .next()?
        .parse()
        .ok()
}

#[test]
fn server_workers_sizes_the_runtime_and_one_worker_serves_ten_clients() {
    let (_pg, gw) = bench_with_workers(Some(1));
    assert_eq!(runtime_workers(&gw), Some(1), "{}", gw.log_text());
    for mode in ["simple", "prepared"] {
        run_through(
            &gw,
            &format!("-S -M {mode} -c 10 on one worker"),
            &["-S", "-M", mode, "-T", "3", "-c", "10", "-j", "2"],
        );
    }
    let (_pg, gw) = bench_with_workers(Some(3));
    assert_eq!(runtime_workers(&gw), Some(3), "{}", gw.log_text());
}
