//! A fixture for psycopg scenarios: a private cluster with a small `shop` schema, a gateway
//! with an `admins` and an `agents` policy in front of it, tokens for both, and helpers that
//! run one scenario of a Python script (`tests/py/*.py SCENARIO JSON`) against them.
//!
//! Policy: admins may do anything; agents may run what is provably read-only. For both,
//! anything that touches `public.forbidden` is denied by the rule `no-forbidden`.

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::{Gateway, PgCluster, assert_success, config_with, python, random_hex, venv_python};

/// The rule that denies every statement touching `public.forbidden`.
pub const FORBIDDEN_RULE: &str = "no-forbidden";

const SCHEMA: &str = r#"
SET ROLE app;
CREATE TABLE items (id int PRIMARY KEY, name text NOT NULL, price numeric(10,2) NOT NULL);
INSERT INTO items SELECT g, 'item ' || g, g * 1.25 FROM generate_series(1, 50) AS g;
CREATE TABLE forbidden (id int PRIMARY KEY, secret text NOT NULL);
INSERT INTO forbidden VALUES (1, 'the-forbidden-value');
CREATE TABLE log (id serial PRIMARY KEY, note text NOT NULL);
CREATE TABLE t (n int NOT NULL, s text);
"#;

/// Everything a psycopg scenario needs; all stopped on drop.
pub struct PsycopgEnv {
    /// The gateway (declared first: dropped before the cluster it fronts).
    pub gw: Gateway,
    /// While this file exists the gateway's ledger writes fail
    /// (`VIGIL_TEST_LEDGER_FAILPOINT`): the scenarios create and remove it.
    pub failpoint: std::path::PathBuf,
    /// The upstream cluster (for direct checks with `pg.psql("shop", ...)`).
    pub pg: PgCluster,
    /// The upstream password of `app`, the role the gateway injects.
    pub app_password: String,
    /// A token of `e2e-admin` (group `admins`).
    pub admin: String,
    /// A token of `e2e-agent` (group `agents`).
    pub agent: String,
}

impl PsycopgEnv {
    /// Starts the cluster, seeds the schema, starts the gateway and creates the two tokens.
    #[track_caller]
    pub fn start() -> PsycopgEnv {
        let pg = PgCluster::start();
        let app_password = random_hex(12);
        pg.create_role("app", &app_password);
        pg.create_database("shop", "app");
        pg.psql("shop", SCHEMA);
        let config = config_with(&format!(
            r#"
[[connection]]
name = "shop"
kind = "postgres"
address = "{addr}"
database = "shop"
user = "app"
password = "${{SHOP_PG_PASSWORD}}"

[[policy]]
name = "admins"
groups = ["admins"]
connections = ["*"]

  [[policy.rule]]
  name = "admin-all"
  effect = "allow"

  [[policy.rule]]
  name = "{FORBIDDEN_RULE}"
  effect = "deny"
  when = '"public.forbidden" in sql.tables_read || "public.forbidden" in sql.tables_written'
  reason = "the forbidden table is off limits"

[[policy]]
name = "agents"
groups = ["agents"]
connections = ["shop"]

  [[policy.rule]]
  name = "reads"
  effect = "allow"
  when = "sql.read_only"

  [[policy.rule]]
  name = "{FORBIDDEN_RULE}"
  effect = "deny"
  when = '"public.forbidden" in sql.tables_read || "public.forbidden" in sql.tables_written'
  reason = "the forbidden table is off limits"
"#,
            addr = pg.address()
        ));
        let failpoint =
            std::env::temp_dir().join(format!("vigil-ledger-failpoint-{}", crate::random_hex(8)));
        let failpoint_text = failpoint.display().to_string();
        let gw = Gateway::start(
            &config,
            &[
                ("SHOP_PG_PASSWORD", &app_password),
                ("VIGIL_TEST_LEDGER_FAILPOINT", &failpoint_text),
            ],
        );
        let admin = gw.token("e2e-admin", &["admins"], "human");
        let agent = gw.token("e2e-agent", &["agents"], "agent");
        PsycopgEnv {
            gw,
            failpoint,
            pg,
            app_password,
            admin,
            agent,
        }
    }

    /// The JSON object every scenario gets as its second argument.
    pub fn scenario_args(&self) -> String {
        format!(
            r#"{{"gw_port": {}, "pg_port": {}, "app_password": "{}", "admin": "{}", "agent": "{}", "superuser_password": "{}", "ledger_failpoint": "{}"}}"#,
            self.gw.pg_port(),
            self.pg.port(),
            self.app_password,
            self.admin,
            self.agent,
            self.pg.superuser_password(),
            self.failpoint.display()
        )
    }

    /// Runs `python SCRIPT SCENARIO JSON`; panics with its output (and the gateway's log)
    /// unless it exits 0. Returns its stdout.
    #[track_caller]
    pub fn run(&self, script: &str, scenario: &str) -> String {
        let out = python(script, &[scenario, &self.scenario_args()]);
        if !out.status.success() {
            let log = self.gw.log_text();
            let skip = log.chars().count().saturating_sub(4000);
            let tail: String = log.chars().skip(skip).collect();
            eprintln!("--- gateway log (tail)\n{tail}");
        }
        assert_success(&out, &format!("{script} {scenario}"))
    }

    /// Starts `python SCRIPT SCENARIO JSON` with piped stdin and stdout, for scenarios that
    /// wait for the test to do something (stop the gateway) in between.
    pub fn spawn(&self, script: &str, scenario: &str) -> Interactive {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(script);
        let mut child = Command::new(venv_python())
            .arg(&path)
            .arg(scenario)
            .arg(self.scenario_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("could not run the venv's python");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || forward_lines(stdout, tx));
        Interactive {
            child,
            stdin,
            lines,
        }
    }
}

fn forward_lines(stdout: ChildStdout, tx: mpsc::Sender<String>) {
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { return };
        if tx.send(line).is_err() {
            return;
        }
    }
}

/// A running scenario script that talks with the test line by line.
pub struct Interactive {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

impl Interactive {
    /// The next line the script prints; panics (with its stderr) after `timeout`.
    #[track_caller]
    pub fn expect_line(&mut self, timeout: Duration) -> String {
        match self.lines.recv_timeout(timeout) {
            Ok(line) => line,
            Err(e) => {
                let _ = self.child.kill();
                let out = self.child.wait_with_output_ref();
                panic!("the script printed no line within {timeout:?} ({e}); stderr:\n{out}");
            }
        }
    }

    /// Writes one line to the script's stdin.
    pub fn send_line(&mut self, line: &str) {
        if let Some(stdin) = self.stdin.as_mut() {
            let _ = writeln!(stdin, "{line}");
            let _ = stdin.flush();
        }
    }

    /// Closes stdin, waits for the script and panics unless it exits 0 within `timeout`.
    /// Returns the rest of its stdout.
    #[track_caller]
    pub fn finish(mut self, timeout: Duration) -> String {
        self.stdin = None;
        let deadline = std::time::Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                std::thread::sleep(Duration::from_millis(100));
                let rest: Vec<String> = self.lines.try_iter().collect();
                let stderr = self.child.wait_with_output_ref();
                assert!(
                    status.success(),
                    "the script failed ({status}):\n--- stdout\n{}\n--- stderr\n{stderr}",
                    rest.join("\n")
                );
                return rest.join("\n");
            }
            if std::time::Instant::now() > deadline {
                let _ = self.child.kill();
                panic!(
                    "the script did not finish within {timeout:?}; stderr:\n{}",
                    self.child.wait_with_output_ref()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

trait StderrText {
    fn wait_with_output_ref(&mut self) -> String;
}

impl StderrText for Child {
    fn wait_with_output_ref(&mut self) -> String {
        let _ = self.wait();
        let mut text = String::new();
        if let Some(mut err) = self.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut err, &mut text);
        }
        text
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The id of the newest session of `principal`, from `vigil sessions list` (admin token).
#[track_caller]
pub fn session_id_of(gw: &Gateway, admin_token: &str, principal: &str) -> String {
    let out = gw.vigil(&["sessions", "list", "--token", admin_token]);
    let table = assert_success(&out, "vigil sessions list");
    table
        .lines()
        .skip(1)
        .find_map(|line| {
            let mut cols = line.split_whitespace();
            let id = cols.next()?;
            (cols.next()? == principal).then(|| id.to_string())
        })
        .unwrap_or_else(|| panic!("no session of {principal} in `vigil sessions list`:\n{table}"))
}
