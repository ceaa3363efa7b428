//! The ledger as the gateway uses it: appends, chaining, checkpoints, sessions.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use vigil_core::{Event, EventBody, StatementOutcome};
use vigil_store::{
    GENESIS_HASH, SqliteStore, Store, StoreError, StoreOptions, canonical_json, chain_hash,
    verify_ledger,
};

#[tokio::test]
async fn appends_are_numbered_from_one_and_chained() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let mut prev = GENESIS_HASH;
    for n in 1..=5 {
        let event = error_event(n);
        let body = canonical_json(&event).unwrap();
        let appended = store.append(event).await.unwrap();
        assert_eq!(appended.seq, n as i64);
        assert_eq!(appended.hash, chain_hash(&prev, body.as_bytes()));
        assert_eq!(appended.hash_hex().len(), 64);
        prev = appended.hash;
    }
    store.close().await.unwrap();
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 5);
    assert_eq!(report.checkpoints, 1, "close writes a final checkpoint");
}

#[tokio::test]
async fn a_store_that_appended_nothing_signs_no_checkpoint() {
    // `vigil token create` opens the store beside a running gateway; it must
    // not sign the head of a chain the gateway is extending.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.append(error_event(1)).await.unwrap();
    let side = open_with(
        dir.path(),
        StoreOptions {
            writes_ledger: false,
            ..StoreOptions::default()
        },
    );
    store.append(error_event(2)).await.unwrap();
    side.close().await.unwrap();
    store.close().await.unwrap();
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checkpoints, 1, "only the writing store signs");
}

#[tokio::test]
async fn the_chain_continues_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.append(error_event(1)).await.unwrap();
    store.append(error_event(2)).await.unwrap();
    store.close().await.unwrap();
    drop(store);

    let store = open(dir.path());
    assert_eq!(store.append(error_event(3)).await.unwrap().seq, 3);
    store.close().await.unwrap();
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 3);
    assert_eq!(report.checkpoints, 2);
}

#[tokio::test]
async fn checkpoints_are_signed_every_n_events_and_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(
        dir.path(),
        StoreOptions {
            checkpoint_every: 10,
            ..StoreOptions::default()
        },
    );
    for n in 1..=25 {
        store.append(error_event(n)).await.unwrap();
    }
    store.close().await.unwrap();
    let seqs: Vec<i64> = raw(dir.path())
        .prepare("SELECT seq FROM checkpoints ORDER BY seq")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(seqs, vec![10, 20, 25]);
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.checkpoints, 3);
}

#[tokio::test]
async fn nowait_appends_are_never_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(
        dir.path(),
        StoreOptions {
            queue_capacity: 2,
            ..StoreOptions::default()
        },
    );
    for n in 1..=200 {
        store.append_nowait(error_event(n)).await.unwrap();
    }
    store.close().await.unwrap();
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn back_pressure_with_a_tiny_queue_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<SqliteStore> = Arc::new(open_with(
        dir.path(),
        StoreOptions {
            queue_capacity: 1,
            batch_max: 4,
            checkpoint_every: 100,
            ..StoreOptions::default()
        },
    ));
    let mut tasks = Vec::new();
    for t in 0..64u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::new();
            for n in 0..50u64 {
                seqs.push(store.append(error_event(t * 1000 + n)).await.unwrap().seq);
            }
            seqs
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all.sort_unstable();
    assert_eq!(all, (1..=3200).collect::<Vec<i64>>());
    store.close().await.unwrap();
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 3200);
    assert_eq!(report.checkpoints, 32);
}

#[tokio::test]
async fn a_failed_write_is_an_error_and_the_writer_keeps_going() {
    let dir = tempfile::tempdir().unwrap();
    let fail = Arc::new(AtomicBool::new(false));
    let store = open_with(
        dir.path(),
        StoreOptions {
            fail_log_writes: Some(Arc::clone(&fail)),
            ..StoreOptions::default()
        },
    );
    store.append(error_event(1)).await.unwrap();

    // Every log write fails halfway, the way a full disk would.
    fail.store(true, Ordering::Relaxed);
    let err = store.append(error_event(2)).await.unwrap_err();
    assert!(matches!(err, StoreError::WriteFailed(_)), "{err:?}");
    assert!(err.to_string().contains("not recorded"), "{err}");

    fail.store(false, Ordering::Relaxed);
    let appended = store.append(error_event(3)).await.unwrap();
    assert_eq!(appended.seq, 2, "the failed event took no seq");
    // The half-written group never reached the index either.
    let bodies: Vec<String> = store
        .session_events("s-test")
        .await
        .unwrap()
        .iter()
        .map(|e| e.body["body"]["message"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(bodies, ["event 1", "event 3"]);
    store.close().await.unwrap();
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_waiter_of_a_failed_batch_gets_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(open_with(
        dir.path(),
        StoreOptions {
            fail_log_writes: Some(Arc::new(AtomicBool::new(true))),
            ..StoreOptions::default()
        },
    ));
    let tasks: Vec<_> = (0..32)
        .map(|n| {
            let store = Arc::clone(&store);
            tokio::spawn(async move { store.append(error_event(n)).await })
        })
        .collect();
    for task in tasks {
        assert!(matches!(
            task.await.unwrap(),
            Err(StoreError::WriteFailed(_))
        ));
    }
    store.close().await.unwrap();
    let report = verify_ledger(dir.path()).unwrap();
    assert_eq!((report.events, report.first_bad), (0, None));
}

#[tokio::test]
async fn appends_after_close_fail_closed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.close().await.unwrap();
    store.close().await.unwrap();
    assert!(matches!(
        store.append(error_event(1)).await,
        Err(StoreError::Closed)
    ));
    assert!(matches!(
        store.append_nowait(error_event(1)).await,
        Err(StoreError::Closed)
    ));
}

#[tokio::test]
async fn sessions_are_summarised_and_their_events_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.append(session_start("s1", 1000)).await.unwrap();
    store.append(statement("s1", 1001, "allow")).await.unwrap();
    store.append(statement("s1", 1002, "deny")).await.unwrap();
    store.append(session_start("s2", 2000)).await.unwrap();
    store.append(session_end("s1", 1003)).await.unwrap();

    let sessions = store.list_sessions(10).await.unwrap();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0].id, "s2", "newest first");
    let s1 = &sessions[1];
    assert_eq!(s1.principal.as_deref(), Some("alice"));
    assert_eq!(s1.connection.as_deref(), Some("shop"));
    assert_eq!(s1.protocol.as_deref(), Some("postgres"));
    assert_eq!(s1.started_at_ms, Some(1000));
    assert_eq!(s1.ended_at_ms, Some(1003));
    assert_eq!((s1.statements, s1.denied), (2, 1));
    assert_eq!(store.list_sessions(1).await.unwrap().len(), 1);

    let events = store.session_events("s1").await.unwrap();
    let summary: Vec<(i64, &str)> = events
        .iter()
        .map(|e| (e.seq, e.event_type.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (1, "session_start"),
            (2, "statement"),
            (3, "statement"),
            (5, "session_end")
        ]
    );
    assert_eq!(events[2].body["body"]["decision"]["verdict"], "deny");
    assert!(store.session_events("nope").await.unwrap().is_empty());
    store.close().await.unwrap();
}

/// Decisions (led by their callers, or by the writer thread when fsync is
/// on), outcomes nobody waits for, and control commands in between, from
/// many tasks at once: every acknowledged decision is in an intact chain,
/// nothing is lost, and every control ran.
async fn mixed_concurrent_writes_lose_nothing(fsync: bool) {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<SqliteStore> = Arc::new(open_with(
        dir.path(),
        StoreOptions {
            fsync,
            queue_capacity: 8,
            batch_max: 16,
            ..StoreOptions::default()
        },
    ));
    let mut tasks = Vec::new();
    for t in 0..16u64 {
        let store = Arc::clone(&store);
        tasks.push(tokio::spawn(async move {
            let session = format!("s{t}");
            let mut seqs = Vec::new();
            for n in 0..40u64 {
                let seq = store
                    .append(statement(&session, n as i64, "allow"))
                    .await
                    .unwrap()
                    .seq;
                seqs.push(seq);
                store
                    .append_nowait(error_event(t * 1000 + n))
                    .await
                    .unwrap();
                if n % 10 == 0 {
                    let name = format!("t{t}-{n}");
                    let token = vigil_store::NewToken {
                        name,
                        groups: vec![],
                        kind: vigil_core::PrincipalKind::Human,
                        hash: [(t * 40 + n) as u8; 32],
                        expires_at_ms: None,
                        created_at_ms: 1,
                    };
                    // Distinct hashes only within the byte range; a clash is
                    // a refused insert, which is fine: the control ran.
                    let _ = store.create_token(token).await;
                }
            }
            seqs
        }));
    }
    let mut acknowledged = Vec::new();
    for task in tasks {
        acknowledged.extend(task.await.unwrap());
    }
    assert_eq!(acknowledged.len(), 640);
    store.close().await.unwrap();
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 1280, "640 decisions and 640 outcomes");
    let summary = {
        let store = open(dir.path());
        let s = store.list_sessions(100).await.unwrap();
        store.close().await.unwrap();
        s
    };
    assert_eq!(summary.len(), 16);
    assert!(summary.iter().all(|s| s.statements == 40), "{summary:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_concurrent_writes_lose_nothing_with_leaders() {
    mixed_concurrent_writes_lose_nothing(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_concurrent_writes_lose_nothing_on_the_writer_thread() {
    mixed_concurrent_writes_lose_nothing(true).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_leader_dropped_while_it_yields_stalls_nobody() {
    // A session that ends while its task leads a commit (the future is
    // dropped at the leader's yield) must not leave later appends waiting.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.append(session_start("a", 1)).await.unwrap();
    let mut dropped = Box::pin(store.append(statement("a", 2, "allow")));
    // One poll: the event is queued and its caller is leading, at its yield.
    let polled = futures_poll_once(dropped.as_mut()).await;
    assert!(polled.is_none(), "the leader should be yielding");
    drop(dropped);
    // Long enough for the writer thread to go idle (it then waits to be woken).
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    let next = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        store.append(statement("a", 3, "allow")),
    )
    .await;
    let appended = next.expect("an append after a dropped leader must not wait forever");
    assert!(appended.is_ok(), "{appended:?}");
    let events = store.session_events("a").await.unwrap();
    assert_eq!(
        events.len(),
        3,
        "the dropped leader's event is committed too"
    );
}

/// Polls `fut` once: its output if it finished, `None` if it is pending.
async fn futures_poll_once<F: std::future::Future + Unpin>(mut fut: F) -> Option<F::Output> {
    std::future::poll_fn(|cx| {
        std::task::Poll::Ready(match std::pin::Pin::new(&mut fut).poll(cx) {
            std::task::Poll::Ready(out) => Some(out),
            std::task::Poll::Pending => None,
        })
    })
    .await
}

#[tokio::test]
async fn interleaved_sessions_list_exactly_their_own_events() {
    // Statements and outcomes are found by seq range, the rest by index:
    // the two must merge into exactly one session's events, in order.
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    let outcome = |session: &str, seq: i64| Event {
        at_ms: 5,
        session: Some(session.into()),
        principal: Some("alice".into()),
        run_id: None,
        body: EventBody::StatementDone(StatementOutcome {
            statement_seq: seq,
            duration_us: 1,
            tag: Some("SELECT 1".into()),
            error_code: None,
            masking: None,
        }),
    };
    store.append(session_start("a", 1)).await.unwrap(); // 1
    store.append(session_start("b", 1)).await.unwrap(); // 2
    let a1 = store.append(statement("a", 2, "allow")).await.unwrap().seq; // 3
    let b1 = store.append(statement("b", 2, "allow")).await.unwrap().seq; // 4
    store.append_nowait(outcome("b", b1)).await.unwrap(); // 5
    store.append_nowait(outcome("a", a1)).await.unwrap(); // 6
    store.append(statement("b", 3, "deny")).await.unwrap(); // 7
    store.append(session_end("a", 4)).await.unwrap(); // 8
    store.append(error_event(9)).await.unwrap(); // 9: session "s-test"
    let mut late = error_event(10);
    late.session = Some("a".into()); // 10: after a's end
    store.append(late).await.unwrap();
    store.append(statement("b", 5, "allow")).await.unwrap(); // 11

    let seqs = |events: Vec<vigil_store::LedgerRecord>| -> Vec<(i64, String)> {
        events.into_iter().map(|e| (e.seq, e.event_type)).collect()
    };
    let a = seqs(store.session_events("a").await.unwrap());
    let expect = |v: &[(i64, &str)]| -> Vec<(i64, String)> {
        v.iter().map(|(s, t)| (*s, t.to_string())).collect()
    };
    assert_eq!(
        a,
        expect(&[
            (1, "session_start"),
            (3, "statement"),
            (6, "statement_done"),
            (8, "session_end"),
            (10, "error")
        ])
    );
    let b = seqs(store.session_events("b").await.unwrap());
    assert_eq!(
        b,
        expect(&[
            (2, "session_start"),
            (4, "statement"),
            (5, "statement_done"),
            (7, "statement"),
            (11, "statement")
        ])
    );
    let summary = store.list_sessions(10).await.unwrap();
    let b = summary.iter().find(|s| s.id == "b").unwrap();
    assert_eq!((b.statements, b.denied), (3, 1));
    store.close().await.unwrap();
}

#[tokio::test]
async fn a_database_newer_than_the_binary_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.close().await.unwrap();
    drop(store);
    raw(dir.path())
        .execute(
            "INSERT INTO schema_version (version, applied_at_ms) VALUES (999, 0)",
            [],
        )
        .unwrap();
    let err = SqliteStore::open(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found: 999, .. }),
        "{err:?}"
    );
    assert!(matches!(
        verify_ledger(dir.path()),
        Err(StoreError::SchemaTooNew { .. })
    ));
}

#[tokio::test]
async fn data_dir_is_created_private_with_wal() {
    use std::os::unix::fs::PermissionsExt;
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("nested/data");
    let store = open(&dir);
    let mode = std::fs::metadata(&dir).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700);
    let key_mode = std::fs::metadata(dir.join("ledger.key"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(key_mode & 0o777, 0o600);
    assert!(
        std::fs::read_to_string(dir.join("ledger.pub"))
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let journal: String = raw(&dir)
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(journal, "wal");
    store.close().await.unwrap();
}

/// Not a timed assertion: prints appends/s with 16 concurrent appenders that
/// each wait for durability (run with `--nocapture` to see it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throughput_with_16_durable_appenders() {
    for fsync in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(open_with(
            dir.path(),
            StoreOptions {
                fsync,
                ..StoreOptions::default()
            },
        ));
        let per_task = 1000u64;
        let started = std::time::Instant::now();
        let mut tasks = Vec::new();
        for t in 0..16u64 {
            let store = Arc::clone(&store);
            tasks.push(tokio::spawn(async move {
                for n in 0..per_task {
                    store
                        .append(statement(
                            &format!("s{t}"),
                            (t * per_task + n) as i64,
                            "allow",
                        ))
                        .await
                        .unwrap();
                }
            }));
        }
        for task in tasks {
            task.await.unwrap();
        }
        let elapsed = started.elapsed();
        let total = 16 * per_task;
        println!(
            "ledger throughput (fsync={fsync}): {total} durable appends in {elapsed:?} = {:.0} appends/s",
            total as f64 / elapsed.as_secs_f64()
        );
        store.close().await.unwrap();
        assert!(verify_ledger(dir.path()).unwrap().is_intact());
    }
}
