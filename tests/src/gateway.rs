//! The real `vigil` binary, started per test with its own config, data dir, ports and logs.

use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::pg::psql_command;
use crate::util::{free_port, workspace_root};

/// How long `serve` may take to answer on both listeners.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The `vigil` binary: `VIGIL_BIN` if set, else `<workspace>/target/debug/vigil`.
/// Panics with the command to build it when it is missing.
pub fn vigil_bin() -> PathBuf {
    let bin = std::env::var_os("VIGIL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/debug/vigil"));
    assert!(
        bin.exists(),
        "the vigil binary is missing at {}: run `cargo build -p vigil` first (or set VIGIL_BIN)",
        bin.display()
    );
    warn_if_stale(&bin);
    bin
}

/// Warns (once) when the binary is older than a source file of the workspace's crates: the
/// tests would be testing old code. `scripts/test.sh` builds before it tests.
fn warn_if_stale(bin: &Path) {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let Ok(built) = std::fs::metadata(bin).and_then(|m| m.modified()) else {
            return;
        };
        if let Some(newer) = newest_source_after(&workspace_root().join("crates"), built) {
            eprintln!(
                "warning: {} is older than {}: run `cargo build -p vigil` to test the current code",
                bin.display(),
                newer.display()
            );
        }
    });
}

fn newest_source_after(dir: &Path, time: std::time::SystemTime) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let name = entry.file_name();
        if name == "target" || name == "fuzz" {
            continue;
        }
        if path.is_dir() {
            if let Some(found) = newest_source_after(&path, time) {
                return Some(found);
            }
        } else if path.extension().is_some_and(|e| e == "rs" || e == "toml")
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|m| m > time)
        {
            return Some(path);
        }
    }
    None
}

/// A config with the `[server]` and `[listen]` sections the harness expects (data dir and
/// ports from the environment it sets), followed by `rest` (connections and policies).
pub fn config_with(rest: &str) -> String {
    format!(
        r#"[server]
data_dir = "${{VIGIL_DATA}}"
admin_groups = ["admins"]

[listen]
postgres = "${{VIGIL_PG_LISTEN}}"
http = "${{VIGIL_HTTP_LISTEN}}"
{rest}"#
    )
}

/// A `vigil serve` process with its own temp dir.
///
/// The harness sets, for `serve` and for every CLI command it runs:
/// `VIGIL_DATA` (`<tmp>/data`), `VIGIL_PG_LISTEN` and `VIGIL_HTTP_LISTEN` (free loopback
/// ports), `VIGIL_SERVER` (`http://<http listen>`), plus the caller's env. The config must
/// name its data dir and listeners through these variables ([`config_with`] does); the
/// quickstart config does, with defaults. `VIGIL_MYSQL_LISTEN` is set to a free port too,
/// for a config with a mysql listener (the quickstart's); the caller's env may override it.
pub struct Gateway {
    dir: TempDir,
    config: PathBuf,
    env: Vec<(String, String)>,
    pg_port: u16,
    http_port: u16,
    mysql_port: u16,
    child: Option<Child>,
    starts: u32,
}

impl Gateway {
    /// Writes the config and starts `vigil serve`; returns once both listeners answer
    /// (postgres accepts TCP and `GET /healthz` is 200). Panics with the logs otherwise.
    #[track_caller]
    pub fn start(config_toml: &str, env: &[(&str, &str)]) -> Gateway {
        let mut gw = Gateway::configure(config_toml, env);
        gw.spawn();
        gw
    }

    /// Writes the config and data dir without starting the server (to run CLI commands such
    /// as `token create` or `policy check` first). Start it with [`Gateway::spawn`].
    #[track_caller]
    pub fn configure(config_toml: &str, env: &[(&str, &str)]) -> Gateway {
        for var in ["VIGIL_DATA", "VIGIL_PG_LISTEN", "VIGIL_HTTP_LISTEN"] {
            assert!(
                config_toml.contains(&format!("${{{var}")),
                "the gateway config must use ${{{var}}} (the harness picks the data dir and \
                 free ports); build it with vigil_e2e::config_with(...)"
            );
        }
        let dir = tempfile::Builder::new()
            .prefix("vigil-gw-")
            .tempdir()
            .expect("could not create a temp dir for the gateway");
        let config = dir.path().join("vigil.toml");
        std::fs::write(&config, config_toml).expect("could not write vigil.toml");
        let data = dir.path().join("data");
        std::fs::create_dir(&data).expect("could not create the data dir");
        let pg_port = free_port();
        let mut http_port = free_port();
        while http_port == pg_port {
            http_port = free_port();
        }
        let mut mysql_port = free_port();
        while mysql_port == pg_port || mysql_port == http_port {
            mysql_port = free_port();
        }
        let mut all_env = vec![
            ("VIGIL_DATA".to_string(), data.display().to_string()),
            (
                "VIGIL_PG_LISTEN".to_string(),
                format!("127.0.0.1:{pg_port}"),
            ),
            (
                "VIGIL_HTTP_LISTEN".to_string(),
                format!("127.0.0.1:{http_port}"),
            ),
            (
                "VIGIL_SERVER".to_string(),
                format!("http://127.0.0.1:{http_port}"),
            ),
        ];
        if let Some((_, listen)) = env.iter().find(|(k, _)| *k == "VIGIL_MYSQL_LISTEN") {
            mysql_port = listen
                .rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("VIGIL_MYSQL_LISTEN={listen} names no port"));
        } else {
            all_env.push((
                "VIGIL_MYSQL_LISTEN".to_string(),
                format!("127.0.0.1:{mysql_port}"),
            ));
        }
        all_env.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Gateway {
            dir,
            config,
            env: all_env,
            pg_port,
            http_port,
            mysql_port,
            child: None,
            starts: 0,
        }
    }

    /// Starts `vigil serve --config FILE` and waits until it is ready.
    #[track_caller]
    pub fn spawn(&mut self) {
        assert!(self.child.is_none(), "the gateway is already running");
        self.starts += 1;
        let out = self.log_file("stdout");
        let err = self.log_file("stderr");
        let child = self
            .command()
            .arg("serve")
            .arg("--config")
            .arg(&self.config)
            .env("RUST_BACKTRACE", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", vigil_bin().display()));
        self.child = Some(child);
        self.wait_ready();
    }

    /// Kills the server with SIGKILL (a crash, for durability tests) and waits for it.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Stops the server with SIGTERM, then SIGKILL if it has not exited within 10 seconds.
    /// Returns how it exited (`None` when it was not running or had to be killed), so tests
    /// can check that a graceful stop exits 0.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(status)) = child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        None
    }

    /// The running server's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The running server's peak resident set size in bytes (`VmHWM` in
    /// `/proc/<pid>/status`). Panics when the server is not running.
    #[track_caller]
    pub fn peak_rss_bytes(&self) -> u64 {
        let pid = self.pid().expect("the gateway is not running");
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_else(|e| panic!("could not read /proc/{pid}/status: {e}"));
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no VmHWM in /proc/{pid}/status:\n{status}"));
        kb * 1024
    }

    /// A libpq connection string for `dbname` through the gateway on 127.0.0.1, with the
    /// caller's extra options (`"sslmode=require"`); `sslmode=disable` unless they set one.
    pub fn conninfo(&self, dbname: &str, extra: &str) -> String {
        let sslmode = if extra.contains("sslmode=") {
            ""
        } else {
            " sslmode=disable"
        };
        format!(
            "host=127.0.0.1 port={} dbname={dbname} user=vigil-e2e connect_timeout=10{sslmode} {extra}",
            self.pg_port
        )
    }

    /// Stops (SIGTERM) and starts the server again on the same config, data dir and ports.
    #[track_caller]
    pub fn restart(&mut self) {
        let _ = self.stop();
        self.spawn();
    }

    /// The postgres listener's port (clients connect to 127.0.0.1 there).
    pub fn pg_port(&self) -> u16 {
        self.pg_port
    }

    /// The mysql listener's port (`VIGIL_MYSQL_LISTEN`; the config decides whether there is a
    /// mysql listener at all).
    pub fn mysql_port(&self) -> u16 {
        self.mysql_port
    }

    /// The http listener's port.
    pub fn http_port(&self) -> u16 {
        self.http_port
    }

    /// `http://127.0.0.1:<http port>`.
    pub fn http_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }

    /// The config file the gateway runs with.
    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// The gateway's `data_dir`.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// Everything the server wrote to stdout and stderr, over all its starts
    /// (tests grep it for secrets that must never be logged).
    pub fn log_text(&self) -> String {
        let mut text = String::new();
        for n in 1..=self.starts {
            for stream in ["stdout", "stderr"] {
                let path = self.dir.path().join(format!("serve-{n}.{stream}.log"));
                text.push_str(&std::fs::read_to_string(path).unwrap_or_default());
            }
        }
        text
    }

    /// Runs `vigil ARGS` with the gateway's environment (VIGIL_SERVER points at it).
    pub fn vigil(&self, args: &[&str]) -> Output {
        self.command()
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", vigil_bin().display()))
    }

    /// Runs `vigil ARGS` with the gateway's environment plus `env` (e.g. `VIGIL_TOKEN`).
    pub fn vigil_env(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        let mut cmd = self.command();
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", vigil_bin().display()))
    }

    /// Runs `vigil ARGS --config FILE` (for `token`, `audit verify`, `policy check`).
    pub fn vigil_with_config(&self, args: &[&str]) -> Output {
        let config = self.config.display().to_string();
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--config", &config]);
        self.vigil(&all)
    }

    /// `vigil token create --config FILE --name NAME --groups g1,g2 --kind KIND`; returns the
    /// token. Panics with the command's output when it fails or prints nothing.
    #[track_caller]
    pub fn token(&self, name: &str, groups: &[&str], kind: &str) -> String {
        let groups = groups.join(",");
        let out = self.vigil_with_config(&[
            "token", "create", "--name", name, "--groups", &groups, "--kind", kind,
        ]);
        let token = crate::util::assert_success(&out, "vigil token create");
        assert!(
            !token.is_empty() && !token.contains(char::is_whitespace),
            "vigil token create should print the token alone on stdout, printed {token:?}"
        );
        token
    }

    /// `GET path` on the http listener (HTTP/1.0, optional bearer token); returns
    /// `(status, body)`. Panics when the listener does not answer.
    pub fn http_get(&self, path: &str, bearer: Option<&str>) -> (u16, String) {
        let addr = SocketAddr::from(([127, 0, 0, 1], self.http_port));
        http_get(addr, path, bearer)
            .unwrap_or_else(|e| panic!("GET {path} on {addr} failed: {e}\n{}", self.log_text()))
    }

    fn command(&self) -> Command {
        let mut cmd = Command::new(vigil_bin());
        cmd.current_dir(self.dir.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    fn log_file(&self, stream: &str) -> File {
        let path = self
            .dir
            .path()
            .join(format!("serve-{}.{stream}.log", self.starts));
        File::create(&path).unwrap_or_else(|e| panic!("could not create {}: {e}", path.display()))
    }

    #[track_caller]
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let pg = SocketAddr::from(([127, 0, 0, 1], self.pg_port));
        let http = SocketAddr::from(([127, 0, 0, 1], self.http_port));
        let mut last = String::from("not tried");
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                panic!(
                    "vigil serve exited during startup ({status}):\n{}",
                    self.log_text()
                );
            }
            let pg_ok = TcpStream::connect_timeout(&pg, Duration::from_millis(500)).is_ok();
            match (pg_ok, http_get(http, "/healthz", None)) {
                (true, Ok((200, _))) => return,
                (pg_ok, Ok((status, _))) => {
                    last = format!("postgres listener up: {pg_ok}; /healthz: {status}")
                }
                (pg_ok, Err(e)) => last = format!("postgres listener up: {pg_ok}; /healthz: {e}"),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.kill();
        panic!(
            "vigil serve was not ready after {START_TIMEOUT:?} ({last}):\n{}",
            self.log_text()
        );
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Runs `psql` through the gateway: `host=127.0.0.1 port=<gw> dbname=<db> sslmode=disable`,
/// the Vigil token as the password, `-X -v ON_ERROR_STOP=1 -At -c SQL`.
pub fn psql_through(gw: &Gateway, db: &str, token: &str, sql: &str) -> Output {
    let conninfo = format!(
        "host=127.0.0.1 port={} dbname={db} user=vigil-e2e sslmode=disable connect_timeout=10",
        gw.pg_port()
    );
    psql_command(&conninfo, Some(token))
        .arg("-c")
        .arg(sql)
        .stdin(Stdio::null())
        .output()
        .expect("could not run psql")
}

/// Runs a psql script (SQL and backslash commands, one session) through the gateway, fed on
/// stdin (`-f -`). Put `\set ON_ERROR_STOP 0` first to go on after an error, and
/// `\set VERBOSITY verbose` to see SQLSTATEs.
pub fn psql_through_script(gw: &Gateway, db: &str, token: &str, script: &str) -> Output {
    let conninfo = format!(
        "host=127.0.0.1 port={} dbname={db} user=vigil-e2e sslmode=disable connect_timeout=10",
        gw.pg_port()
    );
    let mut child = psql_command(&conninfo, Some(token))
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("could not run psql");
    {
        let mut stdin = child.stdin.take().expect("psql stdin is piped");
        let _ = stdin.write_all(script.as_bytes());
    }
    child.wait_with_output().expect("could not wait for psql")
}

/// Runs psql through the gateway with a full connection string (from
/// [`Gateway::conninfo`]), the token as the password and `-X -v ON_ERROR_STOP=1 -At`, then
/// the caller's `args` (`["-c", "SELECT 1"]`).
pub fn psql_conninfo(conninfo: &str, token: &str, args: &[&str]) -> Output {
    psql_command(conninfo, Some(token))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("could not run psql")
}

/// A bare HTTP/1.0 GET; returns the status code and body.
fn http_get(addr: SocketAddr, path: &str, bearer: Option<&str>) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(2))?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    stream.set_write_timeout(Some(Duration::from_secs(10)))?;
    let auth = bearer
        .map(|t| format!("Authorization: Bearer {t}\r\n"))
        .unwrap_or_default();
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
    )?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!(
                    "not an HTTP response: {:?}",
                    text.chars().take(80).collect::<String>()
                ),
            )
        })?;
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    Ok((status, body))
}
