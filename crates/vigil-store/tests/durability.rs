//! An append that returned is durable: a child process appends and prints
//! each returned seq, is killed with SIGKILL mid-stream, and every printed seq
//! is still there after reopening, in a chain that verifies.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use vigil_store::{Store, verify_ledger};

const CHILD_ENV: &str = "VIGIL_STORE_DURABILITY_CHILD_DIR";

/// Child mode: appends until killed, printing each acknowledged seq. Does
/// nothing when run as an ordinary test. If the parent goes away, the next
/// write to the closed pipe fails and the child exits.
#[tokio::test]
async fn durability_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = open(std::path::Path::new(&dir));
    let stdout = std::io::stdout();
    for n in 1..=1_000_000 {
        let appended = store.append(error_event(n)).await.unwrap();
        let mut out = stdout.lock();
        writeln!(out, "SEQ {}", appended.seq).unwrap();
        out.flush().unwrap();
    }
}

#[tokio::test]
async fn acknowledged_appends_survive_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "durability_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut printed = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while printed.len() < 500 {
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(seq) = line.strip_prefix("SEQ ") {
            printed.push(seq.parse::<i64>().unwrap());
        }
    }
    child.kill().unwrap(); // SIGKILL, mid-stream
    child.wait().unwrap();
    // Seqs the child printed after we stopped reading count too.
    for line in lines.map_while(Result::ok) {
        if let Some(seq) = line.strip_prefix("SEQ ") {
            printed.push(seq.parse::<i64>().unwrap());
        }
    }

    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    let store = open(dir.path());
    let stored: std::collections::HashSet<i64> = store
        .session_events("s-test")
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.seq)
        .collect();
    for seq in &printed {
        assert!(
            stored.contains(seq),
            "acknowledged seq {seq} lost after SIGKILL"
        );
    }
    assert!(report.events >= printed.len() as u64);
    // And the reopened store continues the chain.
    let next = store.append(error_event(0)).await.unwrap();
    assert_eq!(next.seq, report.events as i64 + 1);
    store.close().await.unwrap();
    assert!(verify_ledger(dir.path()).unwrap().is_intact());
}
