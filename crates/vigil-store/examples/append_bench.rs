//! The ledger's cost per statement, without a network or a database in the
//! way: `SESSIONS` tasks each append a decision (and wait for it to be
//! durable), then its outcome (without waiting), for `SECONDS` seconds, on
//! a two-worker runtime like the gateway's. Prints statements per second
//! (each is two records: the decision and its outcome), how long a decision
//! took to become durable (mean, median, 99th percentile: what a statement
//! waits before it may be forwarded), and the process's CPU per statement.
//! The last line, `result key=value ...`, is for scripts (`bench/ledger.sh`).
//! The store lives in a temp dir under `TMPDIR`.
//!
//!   cargo run --release -p vigil-store --example append_bench -- [SESSIONS] [SECONDS] [fsync]
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use vigil_core::{Event, EventBody, StatementOutcome, VerdictRecord};
use vigil_store::{SqliteStore, Store, StoreOptions};

fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
    let fields: Vec<&str> = stat
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .collect();
    // utime and stime are fields 14 and 15; after the ')' they are 12 and 13.
    let ticks: f64 = fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap();
    ticks / 100.0
}

fn decision(session: &str) -> Event {
    Event {
        at_ms: 1_795_000_000_000,
        session: Some(session.into()),
        principal: Some("bench".into()),
        run_id: None,
        body: EventBody::Statement {
            connection: "bench".into(),
            text: "SELECT abalance FROM pgbench_accounts WHERE aid = $1".into(),
            kind: "select".into(),
            tables_read: vec!["public.pgbench_accounts".into()],
            tables_written: vec![],
            decision: VerdictRecord {
                verdict: vigil_core::VerdictKind::Allow,
                rule: "admin-all".into(),
                reason: None,
            },
        },
    }
}

fn outcome(session: &str, seq: i64) -> Event {
    Event {
        at_ms: 1_795_000_000_001,
        session: Some(session.into()),
        principal: Some("bench".into()),
        run_id: None,
        body: EventBody::StatementDone(StatementOutcome {
            statement_seq: seq,
            duration_us: 120,
            tag: Some("SELECT 1".into()),
            error_code: None,
            masking: None,
        }),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let sessions: usize = args.get(1).map_or(10, |s| s.parse().unwrap());
    let seconds: u64 = args.get(2).map_or(5, |s| s.parse().unwrap());
    let fsync = args.get(3).is_some_and(|s| s == "fsync");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    runtime.block_on(async {
        let store = Arc::new(
            SqliteStore::open(
                dir.path(),
                StoreOptions {
                    fsync,
                    ..StoreOptions::default()
                },
            )
            .unwrap(),
        );
        let done = Arc::new(AtomicU64::new(0));
        // Nanoseconds each `append` of a decision took, per task.
        let mut waits: Vec<u64> = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(seconds);
        let cpu_before = cpu_seconds();
        let started = Instant::now();
        let mut tasks = Vec::new();
        for i in 0..sessions {
            let store = Arc::clone(&store);
            let done = Arc::clone(&done);
            tasks.push(tokio::spawn(async move {
                let session = format!("1a2b3c4d5e6-{i:024x}");
                let mut waits = Vec::new();
                while Instant::now() < deadline {
                    let asked = Instant::now();
                    let appended = store.append(decision(&session)).await.unwrap();
                    waits.push(u64::try_from(asked.elapsed().as_nanos()).unwrap_or(u64::MAX));
                    // The statement's round trip to the target.
                    tokio::task::yield_now().await;
                    store
                        .append_nowait(outcome(&session, appended.seq))
                        .await
                        .unwrap();
                    done.fetch_add(1, Ordering::Relaxed);
                }
                waits
            }));
        }
        for t in tasks {
            waits.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu_before;
        let n = done.load(Ordering::Relaxed) as f64;
        waits.sort_unstable();
        let us = |ns: u64| ns as f64 / 1000.0;
        let at = |q: f64| {
            let i = (waits.len().saturating_sub(1) as f64 * q) as usize;
            waits.get(i).copied().map_or(0.0, us)
        };
        let mean = us(waits.iter().sum::<u64>()) / waits.len().max(1) as f64;
        let (p50, p99) = (at(0.5), at(0.99));
        let per_s = n / elapsed;
        let cpu_us = cpu * 1e6 / n;
        println!(
            "sessions={sessions} fsync={fsync}: {per_s:.0} statements/s ({:.0} records/s), \
             decision durable after {mean:.1} us (median {p50:.1}, p99 {p99:.1}), \
             {cpu_us:.1} us CPU per statement (decision + outcome)",
            per_s * 2.0
        );
        println!(
            "result sessions={sessions} fsync={fsync} statements_per_s={per_s:.0} \
             records_per_s={:.0} decision_us={mean:.1} decision_p50_us={p50:.1} \
             decision_p99_us={p99:.1} cpu_us_per_statement={cpu_us:.1} cpu_us_per_record={:.1}",
            per_s * 2.0,
            cpu_us / 2.0
        );
        store.close().await.unwrap();
    });
}
