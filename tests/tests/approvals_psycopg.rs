//! Just-in-time approvals as a psycopg 3 agent meets them, with server-side parameters
//! (extended protocol): a held `DELETE ... WHERE id <= %s` shows the target's estimate to the
//! reviewer, runs once approved from the CLI and reports its row count; retry mode binds the
//! parameter values (the same values pass once, others are not covered); a client killed while
//! held has its request withdrawn at once.
//!
//! The client side is `tests/py/approvals_psycopg.py`; the reviewer side (`vigil approvals`)
//! is here.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use vigil_e2e::{Gateway, PgCluster, assert_success, config_with, random_hex, stdout, venv_python};

const SCRIPT: &str = "py/approvals_psycopg.py";

const CONFIG_BODY: &str = r#"
[[connection]]
name = "shop"
kind = "postgres"
address = "${SHOP_PG_ADDR}"
database = "shop"
user = "app"
password = "${SHOP_PG_PASSWORD}"

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
  when = 'sql.kind == "delete"'
  reason = "deleting orders needs a DBA"
  reviewers = ["dba"]
  mode = "hold"
  timeout = "60s"

  [[policy.rule]]
  name = "updates"
  effect = "review"
  when = 'sql.kind == "update"'
  reason = "updates need a DBA"
  reviewers = ["dba"]
  mode = "retry"
  timeout = "10m"
"#;

struct Env {
    gw: Gateway,
    pg: PgCluster,
    /// `bot` (agents): asks.
    bot: String,
    /// `alice` (dba): reviews.
    alice: String,
}

fn env() -> Env {
    let pg = PgCluster::start();
    let password = random_hex(12);
    pg.create_role("app", &password);
    pg.create_database("shop", "app");
    assert_success(
        &pg.psql_as(
            "app",
            Some(&password),
            "shop",
            "CREATE TABLE orders (id int PRIMARY KEY, note text); \
             INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 10) AS g;",
        ),
        "creating the shop",
    );
    let addr = pg.address();
    let gw = Gateway::start(
        &config_with(CONFIG_BODY),
        &[("SHOP_PG_ADDR", &addr), ("SHOP_PG_PASSWORD", &password)],
    );
    Env {
        bot: gw.token("bot", &["agents"], "agent"),
        alice: gw.token("alice", &["dba"], "human"),
        gw,
        pg,
    }
}

impl Env {
    fn cli(&self, args: &[&str]) -> std::process::Output {
        self.gw.vigil_env(args, &[("VIGIL_TOKEN", &self.alice)])
    }

    fn show(&self, id: &str) -> serde_json::Value {
        let out = self.cli(&["approvals", "show", id, "--json"]);
        serde_json::from_str(&assert_success(&out, "vigil approvals show")).expect("JSON")
    }

    /// Waits for a pending request of `bot` and returns its id.
    fn pending(&self) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            let out = self.cli(&["approvals", "list", "--json"]);
            let v: serde_json::Value =
                serde_json::from_str(&assert_success(&out, "vigil approvals list")).expect("JSON");
            if let Some(id) = v["approvals"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["principal"] == "bot" && a["status"] == "pending")
                .and_then(|a| a["id"].as_str())
            {
                return id.to_string();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("no pending request appeared\n{}", self.gw.log_text());
    }

    fn orders(&self) -> String {
        self.pg
            .psql("shop", "SELECT count(*) FROM orders")
            .trim()
            .to_string()
    }

    /// Starts one scenario; it talks with the test line by line.
    fn scenario(&self, name: &str) -> Script {
        let args = format!(
            r#"{{"gw_port": {}, "bot": "{}"}}"#,
            self.gw.pg_port(),
            self.bot
        );
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(SCRIPT);
        let mut child = Command::new(venv_python())
            .arg(&path)
            .arg(name)
            .arg(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the venv's python");
        let stdin = child.stdin.take();
        let out = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Script {
            child,
            stdin,
            lines,
        }
    }
}

struct Script {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Script {
    /// The next JSON line the script prints.
    fn line(&mut self) -> serde_json::Value {
        match self.lines.recv_timeout(Duration::from_secs(60)) {
            Ok(line) => serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}")),
            Err(e) => panic!("no line from the script ({e}):\n{}", self.finish_err()),
        }
    }

    fn answer(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin");
        writeln!(stdin, "{line}").expect("write to the script");
        stdin.flush().expect("flush");
    }

    /// Waits for the script; panics unless it exits 0. Returns its last JSON line.
    fn finish(mut self) -> serde_json::Value {
        self.stdin = None;
        let status = self.child.wait().expect("wait");
        if !status.success() {
            panic!("the script failed ({status}):\n{}", self.finish_err());
        }
        let last = self.lines.iter().last().expect("a summary line");
        serde_json::from_str(&last).unwrap_or_else(|e| panic!("{e}: {last}"))
    }

    fn finish_err(&mut self) -> String {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let mut text = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
        }
        text
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn held_parameterised_delete_shows_an_estimate_and_runs_once_approved() {
    let env = env();
    let mut script = env.scenario("held_delete");
    assert_eq!(script.line()["connected"], true);
    let id = env.pending();

    // The reviewer sees the statement with its placeholder and the target's estimate, made
    // with the bound value.
    let deadline = Instant::now() + Duration::from_secs(15);
    let shown = loop {
        let a = env.show(&id);
        if !a["preview"].is_null() || Instant::now() > deadline {
            break a;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        shown["statement"]
            .as_str()
            .unwrap_or_default()
            .contains("$1"),
        "{shown}"
    );
    let rows = shown["preview"]["estimated_rows"]
        .as_u64()
        .unwrap_or_else(|| panic!("no estimate: {shown}\n{}", env.gw.log_text()));
    assert!(rows >= 1, "{shown}");
    assert_eq!(env.orders(), "10", "nothing ran before approval");

    let out = env.cli(&["approvals", "approve", &id, "--reason", "ok"]);
    assert!(stdout(&out).contains("approved"), "{}", stdout(&out));
    let summary = script.finish();
    assert_eq!(summary["rowcount"], 3, "{summary}");
    assert_eq!(summary["approval"], id.as_str());
    assert_eq!(env.orders(), "7");
    assert_eq!(env.show(&id)["status"], "used");
}

#[test]
fn retry_mode_binds_the_parameter_values() {
    let env = env();
    let mut script = env.scenario("retry_with_parameters");
    let asked = script.line();
    let id = asked["approval"].as_str().expect("approval id").to_string();
    assert_eq!(env.show(&id)["status"], "pending");
    assert_success(&env.cli(&["approvals", "approve", &id]), "approve");
    script.answer("approved");
    let summary = script.finish();
    assert_eq!(summary["approval"], id.as_str());
    assert_eq!(env.show(&id)["status"], "used");
    for other in ["other", "other_row", "third"] {
        let other = summary[other].as_str().expect("id");
        assert_eq!(env.show(other)["status"], "pending", "{other}");
    }
    assert_eq!(
        env.pg
            .psql(
                "shop",
                "SELECT string_agg(note, ',' ORDER BY id) FROM orders WHERE id <= 2"
            )
            .trim(),
        "approved note,order 2"
    );
}

#[test]
fn a_client_killed_while_held_has_its_request_withdrawn() {
    let env = env();
    let mut script = env.scenario("held_forever");
    assert_eq!(script.line()["connected"], true);
    let id = env.pending();
    // SIGKILL: no CancelRequest, no Terminate; only the socket closes.
    script.child.kill().expect("kill the client");
    let _ = script.child.wait();
    let killed = Instant::now();
    loop {
        let a = env.show(&id);
        if a["status"] == "withdrawn" {
            assert!(
                a["decision_reason"]
                    .as_str()
                    .unwrap_or_default()
                    .contains("disconnected"),
                "{a}"
            );
            break;
        }
        assert!(
            killed.elapsed() < Duration::from_secs(5),
            "{a} {:?} after the client died\n{}",
            killed.elapsed(),
            env.gw.log_text()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(env.orders(), "10");
}
