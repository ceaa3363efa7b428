//! Small helpers shared by the harness: ports, randomness, paths, process output.

use std::io::Read;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Output;

/// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, release it).
///
/// Another process can take it in between; [`crate::PgCluster`] retries on a bind failure.
pub fn free_port() -> u16 {
    // Tests of one binary run in parallel threads and each releases its port before the
    // server it is for binds it: never hand the same port out twice in one process, or two
    // tests can be given the port one of them is about to bind.
    static HANDED_OUT: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut handed_out = HANDED_OUT.lock().unwrap_or_else(|p| p.into_inner());
    for attempt in 0.. {
        let port = TcpListener::bind("127.0.0.1:0")
            .expect("could not bind 127.0.0.1:0")
            .local_addr()
            .expect("bound listener has no local address")
            .port();
        if !handed_out.contains(&port) || attempt >= 1000 {
            handed_out.push(port);
            return port;
        }
    }
    unreachable!("the loop returns")
}

/// `bytes` random bytes from the kernel, hex-encoded (passwords, names).
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .expect("could not read /dev/urandom");
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// True when the effective user id is 0. PostgreSQL's tools refuse to run as root, so the
/// harness then runs them as the `postgres` user.
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0")
}

/// The workspace root (the parent of this package's directory).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent directory")
        .to_path_buf()
}

/// The process's stdout as text, trimmed of surrounding whitespace.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The process's stderr as text, trimmed of surrounding whitespace.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).trim().to_string()
}

/// Panics, showing stdout and stderr, unless the process succeeded. Returns its stdout.
#[track_caller]
pub fn assert_success(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// Panics, showing stdout, unless the process failed. Returns its stderr.
#[track_caller]
pub fn assert_failure(out: &Output, what: &str) -> String {
    assert!(
        !out.status.success(),
        "{what} was expected to fail but succeeded:\n--- stdout\n{}\n--- stderr\n{}",
        stdout(out),
        stderr(out)
    );
    stderr(out)
}

/// Quotes an SQL identifier: `"name"` with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Quotes an SQL string literal: `'text'` with embedded quotes doubled.
pub(crate) fn quote_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}
