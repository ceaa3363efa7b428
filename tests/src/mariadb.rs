//! A private MariaDB per test file: `mariadb-install-db` into a temp dir,
//! `mariadbd` on a free loopback port and its own socket, a real user with a
//! password created through the socket as root (unix_socket auth). Stopped
//! in `Drop`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::util::free_port;

pub struct MariaDb {
    dir: TempDir,
    port: u16,
    child: Child,
}

impl MariaDb {
    /// Starts a server; panics with its log when it does not come up.
    pub fn start() -> MariaDb {
        MariaDb::start_with(&[])
    }

    /// Starts a server with extra `mariadbd` options (`--ssl-cert=…`).
    pub fn start_with(extra: &[String]) -> MariaDb {
        let dir = tempfile::Builder::new()
            .prefix("vigil-mariadb-")
            .tempdir()
            .expect("temp dir");
        let data = dir.path().join("data");
        let run = dir.path().join("run");
        // Its own tmpdir: two servers bootstrapping at once in /tmp collide on
        // their temporary tables.
        let tmp = dir.path().join("tmp");
        for d in [&data, &run, &tmp] {
            std::fs::create_dir(d).expect("mkdir");
            chown_mysql(d);
        }
        chmod_755(dir.path());
        let out = Command::new("mariadb-install-db")
            .args([
                "--no-defaults",
                "--user=mysql",
                "--auth-root-authentication-method=socket",
            ])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .output()
            .expect("mariadb-install-db (apt-get install mariadb-server)");
        assert!(out.status.success(), "mariadb-install-db failed: {out:?}");
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("server.log")).expect("log");
        let child = Command::new("mariadbd")
            .args([
                "--no-defaults",
                "--user=mysql",
                "--bind-address=127.0.0.1",
                "--skip-name-resolve",
            ])
            .arg(format!("--datadir={}", data.display()))
            .arg(format!("--tmpdir={}", tmp.display()))
            .arg(format!("--port={port}"))
            .arg(format!("--socket={}", run.join("sock").display()))
            .arg(format!("--pid-file={}", run.join("pid").display()))
            .args(extra)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("mariadbd");
        let db = MariaDb { dir, port, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if db.root("SELECT 1").status.success() {
                return db;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        panic!(
            "mariadbd did not start:\n{}",
            std::fs::read_to_string(db.dir.path().join("server.log")).unwrap_or_default()
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("run/sock")
    }

    /// Runs SQL as root through the socket (unix_socket auth), batch output.
    pub fn root(&self, sql: &str) -> Output {
        Command::new("mariadb")
            .args([
                "--no-defaults",
                "-u",
                "root",
                "--batch",
                "--skip-column-names",
            ])
            .arg(format!("--socket={}", self.socket().display()))
            .args(["-e", sql])
            .output()
            .expect("mariadb client")
    }

    /// Runs SQL as root and returns stdout; panics on failure.
    #[track_caller]
    pub fn exec(&self, sql: &str) -> String {
        let out = self.root(sql);
        assert!(
            out.status.success(),
            "{sql}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A database and a user with a password (mysql_native_password) owning it.
    pub fn create_user_and_database(&self, user: &str, password: &str, database: &str) {
        self.exec(&format!(
            "CREATE DATABASE `{database}`; CREATE USER '{user}'@'%' IDENTIFIED BY '{password}'; \
             GRANT ALL ON `{database}`.* TO '{user}'@'%';"
        ));
    }

    /// The `mariadb` CLI straight to the server (TCP), as `user`.
    pub fn direct(&self, user: &str, password: &str, database: &str, sql: &str) -> Output {
        mariadb_cli(self.port, user, password, database, sql)
    }
}

/// The `mariadb` CLI on 127.0.0.1:`port`, batch mode, cleartext password allowed.
pub fn mariadb_cli(port: u16, user: &str, password: &str, database: &str, sql: &str) -> Output {
    mariadb_command(port, user, password, database, sql)
        .output()
        .expect("mariadb client")
}

/// The command of [`mariadb_cli`], to spawn it.
pub fn mariadb_command(
    port: u16,
    user: &str,
    password: &str,
    database: &str,
    sql: &str,
) -> Command {
    let mut cmd = Command::new("mariadb");
    cmd.args([
        "--no-defaults",
        "--protocol=tcp",
        "-h",
        "127.0.0.1",
        "--batch",
        "--skip-ssl",
    ])
    .arg(format!("-P{port}"))
    .arg(format!("-u{user}"))
    .arg(format!("-p{password}"))
    .args([database, "-e", sql])
    .stdin(Stdio::null());
    cmd
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Makes `path` readable by `mariadbd` (which runs as `mysql`).
pub fn chown_mysql(path: &Path) {
    let _ = Command::new("chown").arg("mysql").arg(path).status();
}

pub fn chmod_755(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755));
}

/// A gateway config with the `[server]` and `[listen]` sections the harness
/// fills in (PostgreSQL, MySQL and HTTP listeners), `extra` sections (such
/// as `[tls]`), the `kind = "mysql"` connection `shop` (at
/// `${SHOP_MYSQL_ADDR}`, user `app`, password `${SHOP_MYSQL_PASSWORD}`), then
/// `policies`.
pub fn shop_config(extra: &str, policies: &str) -> String {
    format!(
        r#"[server]
data_dir = "${{VIGIL_DATA}}"
admin_groups = ["admins"]

[listen]
postgres = "${{VIGIL_PG_LISTEN}}"
mysql = "${{VIGIL_MYSQL_LISTEN}}"
http = "${{VIGIL_HTTP_LISTEN}}"

{extra}
[[connection]]
name = "shop"
kind = "mysql"
address = "${{SHOP_MYSQL_ADDR}}"
database = "shop"
user = "app"
password = "${{SHOP_MYSQL_PASSWORD}}"
{policies}"#
    )
}
