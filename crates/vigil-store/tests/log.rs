//! The append-only log under the index: rotation, a torn tail after a
//! crash, a data_dir from before the log, and an index that fell behind.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::path::Path;
use vigil_store::{Store, StoreOptions, verify_ledger};

fn segments(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out: Vec<_> = std::fs::read_dir(dir.join("ledger"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn segments_rotate_and_the_chain_runs_through_them() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        segment_bytes: 1 << 16,
        checkpoint_every: 100,
        ..StoreOptions::default()
    };
    let store = open_with(dir.path(), opts.clone());
    for i in 1..=2000 {
        store.append(error_event(i)).await.unwrap();
    }
    store.close().await.unwrap();
    assert!(segments(dir.path()).len() > 2, "{:?}", segments(dir.path()));
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!((report.events, report.index_seq), (2000, Some(2000)));
    // Reopened, the chain continues in the last segment.
    let store = open_with(dir.path(), opts);
    assert_eq!(store.append(error_event(0)).await.unwrap().seq, 2001);
    store.close().await.unwrap();
    assert!(verify_ledger(dir.path()).unwrap().is_intact());
}

#[tokio::test]
async fn a_torn_tail_is_cut_off_and_kept_aside() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 1..=5 {
        store.append(error_event(i)).await.unwrap();
    }
    store.close().await.unwrap();
    let last = segments(dir.path()).pop().unwrap();
    // Half a frame, as a crash in the middle of a write leaves it.
    let mut bytes = std::fs::read(&last).unwrap();
    bytes.extend_from_slice(&[200, 0, 0, 0, 1, 2, 3, 4, 1, 7]);
    std::fs::write(&last, &bytes).unwrap();
    let report = verify_ledger(dir.path()).unwrap();
    assert!(
        report.is_intact(),
        "a write in progress is not damage: {report:?}"
    );

    let store = open(dir.path());
    assert_eq!(store.append(error_event(6)).await.unwrap().seq, 6);
    store.close().await.unwrap();
    assert!(verify_ledger(dir.path()).unwrap().is_intact());
    let kept = std::fs::read_dir(dir.path().join("ledger"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(".tail-")
        })
        .count();
    assert_eq!(kept, 1, "the cut bytes are kept for whoever investigates");
}

#[tokio::test]
async fn damage_with_records_after_it_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 1..=5 {
        store.append(error_event(i)).await.unwrap();
    }
    store.close().await.unwrap();
    let last = segments(dir.path()).pop().unwrap();
    let mut bytes = std::fs::read(&last).unwrap();
    let i = bytes.windows(7).position(|w| w == b"event 2").unwrap();
    bytes[i + 6] = b'X';
    std::fs::write(&last, &bytes).unwrap();
    let err = vigil_store::SqliteStore::open(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains("damaged"), "{err}");
}

#[tokio::test]
async fn a_data_dir_from_before_the_log_is_copied_into_one() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 1..=30 {
        store.append(error_event(i)).await.unwrap();
    }
    store.close().await.unwrap();
    std::fs::remove_dir_all(dir.path().join("ledger")).unwrap();
    let store = open(dir.path());
    assert_eq!(store.append(error_event(31)).await.unwrap().seq, 31);
    store.close().await.unwrap();
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 31);
}

#[tokio::test]
async fn an_index_behind_the_log_catches_up_on_open_and_reads_wait_for_it() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.append(session_start("s1", 1)).await.unwrap();
    for i in 0..50 {
        // Outside an agent run: read back from the log, not from a row.
        let mut e = statement("s1", 2 + i, "allow");
        e.run_id = None;
        store.append(e).await.unwrap();
    }
    // Read at once: the index follows the log, and a read waits for it.
    assert_eq!(store.session_events("s1").await.unwrap().len(), 51);
    // Statements outside an agent run are read from the log: no row each.
    let rows: i64 = raw(dir.path())
        .query_row(
            "SELECT count(*) FROM ledger WHERE type = 'statement' AND run_id IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(rows, 0);
    drop(store); // no close: as after a crash, the index may lag
    // An index that lost everything (as far behind as it can be) is
    // rebuilt from the log on open.
    raw(dir.path())
        .execute_batch(
            "DELETE FROM ledger; DELETE FROM checkpoints; DELETE FROM log_chunks; DELETE FROM sessions;",
        )
        .unwrap();
    let store = open(dir.path());
    assert_eq!(store.session_events("s1").await.unwrap().len(), 51);
    let sessions = store.list_sessions(10).await.unwrap();
    assert_eq!((sessions.len(), sessions[0].statements), (1, 50));
    store.close().await.unwrap();
    assert!(verify_ledger(dir.path()).unwrap().is_intact());
}

#[tokio::test]
async fn an_index_ahead_of_the_log_refuses_to_open() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 1..=10 {
        store.append(error_event(i)).await.unwrap();
    }
    store.close().await.unwrap();
    // Cut the log: its last segment loses everything but its header.
    let last = segments(dir.path()).pop().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&last)
        .unwrap()
        .set_len(16 + 1)
        .unwrap();
    let err = vigil_store::SqliteStore::open(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(err.to_string().contains("cut from the log"), "{err}");
}

#[tokio::test]
async fn a_token_command_beside_the_gateway_leaves_the_log_alone() {
    let dir = tempfile::tempdir().unwrap();
    let gateway = open(dir.path());
    for i in 1..=3 {
        gateway.append(error_event(i)).await.unwrap();
    }
    let admin = open_with(
        dir.path(),
        StoreOptions {
            writes_ledger: false,
            ..StoreOptions::default()
        },
    );
    assert!(admin.list_tokens().await.unwrap().is_empty());
    let err = admin.append(error_event(99)).await.unwrap_err();
    assert!(
        err.to_string().contains("does not write the ledger"),
        "{err}"
    );
    admin.close().await.unwrap();
    assert_eq!(gateway.append(error_event(4)).await.unwrap().seq, 4);
    gateway.close().await.unwrap();
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 4);
}
