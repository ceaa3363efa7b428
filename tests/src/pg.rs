//! A private PostgreSQL cluster per test: `initdb` into a temp dir, `pg_ctl start` on a free
//! loopback port, `pg_ctl stop -m immediate` on drop.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use tempfile::TempDir;

use crate::tls::{ServerCert, TestCa};
use crate::util::{free_port, is_root, quote_ident, quote_literal, random_hex};

/// How a user logs in to the private cluster (one `pg_hba.conf` line per user).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Auth {
    Md5,
    Trust,
}

/// The directory holding `initdb`, `pg_ctl`, `postgres` and `psql`.
///
/// `PG_BIN_DIR` if set, else the newest `/usr/lib/postgresql/<major>/bin` (Debian), else the
/// directory of `initdb` on `PATH`.
pub fn pg_bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let major = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((major, bin))
        })
        .collect();
    versions.sort();
    if let Some((_, bin)) = versions.pop() {
        return bin;
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .find(|dir| dir.join("initdb").exists())
        .expect(
            "PostgreSQL server binaries not found: set PG_BIN_DIR, or install the `postgresql` \
             package (scripts/test.sh does)",
        )
}

/// The path of one PostgreSQL binary (`pg_bin("psql")`).
pub fn pg_bin(name: &str) -> PathBuf {
    pg_bin_dir().join(name)
}

/// Options for a [`PgCluster`]: extra users that log in with md5 or trust instead of SCRAM.
#[derive(Default)]
pub struct PgClusterBuilder {
    users: Vec<(String, Option<String>, Auth)>,
    ssl: bool,
}

impl PgClusterBuilder {
    /// A login role whose password is stored as md5 and who must log in with md5
    /// (an old-style upstream account).
    pub fn md5_user(mut self, name: &str, password: &str) -> Self {
        self.users
            .push((name.to_string(), Some(password.to_string()), Auth::Md5));
        self
    }

    /// A login role that the cluster lets in without any password over loopback TCP.
    pub fn trust_user(mut self, name: &str) -> Self {
        self.users.push((name.to_string(), None, Auth::Trust));
        self
    }

    /// Turns `ssl = on`: the harness makes a private CA ([`PgCluster::ca_cert`]) and a server
    /// certificate it signs for `localhost` and `127.0.0.1`. Clients may still connect
    /// without TLS (`pg_hba.conf` uses `host`, not `hostssl`).
    pub fn ssl(mut self) -> Self {
        self.ssl = true;
        self
    }

    /// Runs `initdb` and starts the cluster. Panics with the tool's output on failure.
    pub fn start(self) -> PgCluster {
        let dir = tempfile::Builder::new()
            .prefix("vigil-pg-")
            .tempdir()
            .expect("could not create a temp dir for PostgreSQL");
        let as_postgres = is_root();
        let password = random_hex(16);
        let mut cluster = PgCluster {
            data: dir.path().join("data"),
            sockets: dir.path().join("sock"),
            log: dir.path().join("postgres.log"),
            port: 0,
            password,
            as_postgres,
            running: false,
            ssl: None,
            dir,
        };
        std::fs::create_dir(&cluster.sockets).expect("could not create the socket dir");
        let pwfile = cluster.dir.path().join("pwfile");
        std::fs::write(&pwfile, format!("{}\n", cluster.password))
            .expect("could not write the initdb password file");
        std::fs::set_permissions(&pwfile, std::fs::Permissions::from_mode(0o600))
            .expect("could not chmod the password file");
        if as_postgres {
            chown_to_postgres(cluster.dir.path());
        }

        let initdb = cluster.run_pg_tool(
            "initdb",
            &[
                "-D".as_ref(),
                cluster.data.as_os_str(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--auth=scram-sha-256".as_ref(),
                format!("--pwfile={}", pwfile.display()).as_ref(),
                "-E".as_ref(),
                "UTF8".as_ref(),
                "--no-locale".as_ref(),
                "--no-sync".as_ref(),
                "--no-instructions".as_ref(),
            ],
        );
        assert!(
            initdb.status.success(),
            "initdb failed: {}\n{}",
            String::from_utf8_lossy(&initdb.stderr),
            String::from_utf8_lossy(&initdb.stdout)
        );
        cluster.write_hba(&self.users);
        if self.ssl {
            let tls_dir = cluster.dir.path().join("tls");
            std::fs::create_dir(&tls_dir).expect("could not create the tls dir");
            let ca = TestCa::new(&tls_dir, "pg");
            let server = ca.issue_server("server");
            if as_postgres {
                chown_to_postgres(&tls_dir);
            }
            cluster.ssl = Some((ca.cert().to_path_buf(), server));
        }

        cluster.start_on_free_port();

        for (name, password, auth) in &self.users {
            let mut sql = String::new();
            if *auth == Auth::Md5 {
                sql.push_str("SET password_encryption = 'md5'; ");
            }
            let _ = write!(sql, "CREATE ROLE {} LOGIN", quote_ident(name));
            if let Some(pw) = password {
                let _ = write!(sql, " PASSWORD {}", quote_literal(pw));
            }
            cluster.psql("postgres", &sql);
        }
        cluster
    }
}

/// A private PostgreSQL server on `127.0.0.1:<port>`, superuser `postgres` with a random
/// password, SCRAM-SHA-256 required for everyone not added through [`PgClusterBuilder`].
/// Stopped (`pg_ctl stop -m immediate`) and deleted on drop.
pub struct PgCluster {
    dir: TempDir,
    data: PathBuf,
    sockets: PathBuf,
    log: PathBuf,
    port: u16,
    password: String,
    as_postgres: bool,
    running: bool,
    ssl: Option<(PathBuf, ServerCert)>,
}

impl PgCluster {
    /// A cluster with SCRAM-SHA-256 for every user.
    pub fn start() -> PgCluster {
        PgCluster::builder().start()
    }

    /// A cluster with extra md5 or trust users.
    pub fn builder() -> PgClusterBuilder {
        PgClusterBuilder::default()
    }

    /// The TCP port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `127.0.0.1:<port>`, as a Vigil connection `address`.
    pub fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The CA certificate (PEM) that signed the server certificate, when the cluster was
    /// built with [`PgClusterBuilder::ssl`].
    pub fn ca_cert(&self) -> Option<&Path> {
        self.ssl.as_ref().map(|(ca, _)| ca.as_path())
    }

    /// The superuser (`postgres`) password.
    pub fn superuser_password(&self) -> &str {
        &self.password
    }

    /// The server log so far (for assertions and failure messages).
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Runs SQL as the superuser in `db` and returns psql's trimmed, unaligned output
    /// (`-X -v ON_ERROR_STOP=1 -At`). Panics with psql's stderr on failure.
    #[track_caller]
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = self.psql_as("postgres", Some(&self.password), db, sql);
        assert!(
            out.status.success(),
            "psql as postgres in {db} failed for `{sql}`: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// Runs SQL as any user (directly against the cluster, not through Vigil) and returns the
    /// raw output, so tests can check failures too.
    pub fn psql_as(&self, user: &str, password: Option<&str>, db: &str, sql: &str) -> Output {
        let conninfo = format!(
            "host=127.0.0.1 port={} user={user} dbname={db} sslmode=disable connect_timeout=10",
            self.port
        );
        psql_command(&conninfo, password)
            .arg("-c")
            .arg(sql)
            .output()
            .expect("could not run psql")
    }

    /// Runs an SQL file as the superuser in `db`, with psql variables (`-v name=value`).
    #[track_caller]
    pub fn psql_file(&self, db: &str, file: &Path, vars: &[(&str, &str)]) -> String {
        let conninfo = format!(
            "host=127.0.0.1 port={} user=postgres dbname={db} sslmode=disable connect_timeout=10",
            self.port
        );
        let mut cmd = psql_command(&conninfo, Some(&self.password));
        for (name, value) in vars {
            cmd.arg("-v").arg(format!("{name}={value}"));
        }
        let out = cmd
            .arg("-f")
            .arg(file)
            .output()
            .expect("could not run psql");
        assert!(
            out.status.success(),
            "psql -f {} in {db} failed: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// `CREATE ROLE name LOGIN PASSWORD 'password'` (stored as SCRAM-SHA-256).
    pub fn create_role(&self, name: &str, password: &str) {
        self.psql(
            "postgres",
            &format!(
                "CREATE ROLE {} LOGIN PASSWORD {}",
                quote_ident(name),
                quote_literal(password)
            ),
        );
    }

    /// `CREATE DATABASE name OWNER owner`.
    pub fn create_database(&self, name: &str, owner: &str) {
        self.psql(
            "postgres",
            &format!(
                "CREATE DATABASE {} OWNER {}",
                quote_ident(name),
                quote_ident(owner)
            ),
        );
    }

    /// Stops the server at once (`pg_ctl stop -m immediate`). Also done on drop.
    pub fn stop(&mut self) {
        if !self.running {
            return;
        }
        self.running = false;
        let _ = self.run_pg_tool(
            "pg_ctl",
            &[
                "stop".as_ref(),
                "-D".as_ref(),
                self.data.as_os_str(),
                "-m".as_ref(),
                "immediate".as_ref(),
                "-w".as_ref(),
            ],
        );
    }

    fn write_hba(&self, users: &[(String, Option<String>, Auth)]) {
        let mut hba = String::from("# written by vigil-e2e\n");
        for (name, _, auth) in users {
            let method = match auth {
                Auth::Md5 => "md5",
                Auth::Trust => "trust",
            };
            let _ = writeln!(hba, "host all {} 127.0.0.1/32 {method}", quote_ident(name));
        }
        hba.push_str("local all all scram-sha-256\n");
        hba.push_str("host all all 127.0.0.1/32 scram-sha-256\n");
        hba.push_str("host all all ::1/128 scram-sha-256\n");
        let path = self.data.join("pg_hba.conf");
        std::fs::write(&path, hba).expect("could not write pg_hba.conf");
        if self.as_postgres {
            chown_to_postgres(&path);
        }
    }

    fn start_on_free_port(&mut self) {
        let mut last_error = String::new();
        for _attempt in 0..5 {
            let port = free_port();
            let mut options = format!(
                "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off \
                 -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
                self.sockets.display()
            );
            if let Some((_, server)) = &self.ssl {
                let _ = write!(
                    options,
                    " -c ssl=on -c ssl_cert_file={} -c ssl_key_file={}",
                    server.cert.display(),
                    server.key.display()
                );
            }
            let out = self.run_pg_tool(
                "pg_ctl",
                &[
                    "start".as_ref(),
                    "-D".as_ref(),
                    self.data.as_os_str(),
                    "-l".as_ref(),
                    self.log.as_os_str(),
                    "-w".as_ref(),
                    "-t".as_ref(),
                    "60".as_ref(),
                    "-o".as_ref(),
                    options.as_ref(),
                ],
            );
            if out.status.success() {
                self.port = port;
                self.running = true;
                return;
            }
            last_error = format!(
                "{}\n{}\n--- server log\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr),
                self.log_text()
            );
            if !last_error.contains("could not bind") && !last_error.contains("already in use") {
                break;
            }
        }
        panic!("pg_ctl start failed: {last_error}");
    }

    /// Runs a server tool, as the `postgres` user when we are root, from the temp dir (the
    /// `postgres` user may not be able to enter the test's working directory).
    fn run_pg_tool(&self, tool: &str, args: &[&std::ffi::OsStr]) -> Output {
        let bin = pg_bin(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&bin);
            c
        } else {
            Command::new(&bin)
        };
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("LC_ALL", "C")
            .output()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", bin.display()))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A psql command for `conninfo` with the harness's standard flags and a clean environment.
pub(crate) fn psql_command(conninfo: &str, password: Option<&str>) -> Command {
    let mut cmd = Command::new(pg_bin("psql"));
    for var in [
        "PGHOST",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGPASSWORD",
        "PGPASSFILE",
        "PGSERVICE",
        "PGSSLMODE",
        "PGOPTIONS",
    ] {
        cmd.env_remove(var);
    }
    cmd.env("PGPASSFILE", "/dev/null")
        .env("PGCONNECT_TIMEOUT", "10")
        .args(["-X", "-v", "ON_ERROR_STOP=1", "-At", "-d", conninfo]);
    if let Some(pw) = password {
        cmd.env("PGPASSWORD", pw);
    }
    cmd
}

/// `chown -R postgres:postgres path`.
fn chown_to_postgres(path: &Path) {
    let out = Command::new("chown")
        .args(["-R", "postgres:postgres"])
        .arg(path)
        .output()
        .expect("could not run chown");
    assert!(
        out.status.success(),
        "chown -R postgres {} failed (is there a `postgres` user?): {}",
        path.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
