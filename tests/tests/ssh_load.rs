//! Volume and concurrency through the SSH front-end: 1 GiB of command output arrives intact
//! with the gateway's memory bounded (its peak RSS is printed), and 50 sessions run at once.

mod ssh_common;

use std::io::Read;
use std::process::Stdio;
use std::time::Instant;

use ssh_common::env;
use vigil_e2e::{ssh_command, ssh_exec, stderr, stdout};

const GIB: u64 = 1024 * 1024 * 1024;

#[test]
fn one_gib_of_output_arrives_intact_with_memory_bounded() {
    let e = env();
    let mut child = ssh_command(e.port, "web1", &e.bot)
        .arg(format!("head -c {GIB} /dev/urandom"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("ssh");
    let started = Instant::now();
    let mut out = child.stdout.take().expect("stdout");
    let mut hash = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = out.read(&mut buf).expect("read");
        if n == 0 {
            break;
        }
        hash.update(&buf[..n]);
        total += n as u64;
    }
    let status = child.wait().expect("ssh");
    assert!(status.success(), "ssh exited {status:?}");
    assert_eq!(total, GIB, "bytes lost or added");
    let digest = hex(hash.finish().as_ref());
    let secs = started.elapsed().as_secs_f64();
    let rss = e.gw.peak_rss_bytes();
    eprintln!(
        "1 GiB through the SSH front-end in {secs:.1}s ({:.0} MiB/s); gateway peak RSS {} MiB",
        1024.0 / secs,
        rss / (1024 * 1024)
    );
    assert!(
        rss < 256 * 1024 * 1024,
        "the gateway grew to {} MiB",
        rss / (1024 * 1024)
    );
    // The raw SHA-256 of the recording (in the ledger) is the SHA-256 of what arrived.
    let admin = e.gw.token("root", &["admins"], "human");
    ssh_common::ledger_with(&e, &admin, &format!("raw_sha256 {digest}"));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn fifty_sessions_run_at_once() {
    let e = env();
    let handles: Vec<_> = (0..50)
        .map(|i| {
            let port = e.port;
            let token = e.bot.clone();
            std::thread::spawn(move || {
                let out = ssh_exec(port, "web1", &token, &format!("echo session-{i}"));
                (i, out)
            })
        })
        .collect();
    for h in handles {
        let (i, out) = h.join().expect("thread");
        assert_eq!(out.status.code(), Some(0), "session {i}: {}", stderr(&out));
        assert_eq!(stdout(&out), format!("session-{i}"));
    }
}
