//! `verify_ledger` names the first event that was changed, removed or reordered.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use std::path::Path;
use vigil_store::{
    BadEvent, LEDGER_HEAD_FILE, Store, StoreOptions, VerifyOptions, read_head, verify_ledger,
    verify_ledger_with,
};

/// A closed store holding `n` events, checkpoints every `every`.
async fn ledger_with(n: u64, every: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let store = open_with(
        dir.path(),
        StoreOptions {
            checkpoint_every: every,
            ..StoreOptions::default()
        },
    );
    for i in 1..=n {
        store.append(error_event(i)).await.unwrap();
    }
    store.close().await.unwrap();
    dir
}

fn first_bad(dir: &Path) -> BadEvent {
    let report = verify_ledger(dir).unwrap();
    match report.first_bad {
        Some(bad) => bad,
        None => panic!("tampering not detected: {report:?}"),
    }
}

#[tokio::test]
async fn an_intact_ledger_verifies() {
    let dir = ledger_with(10, 4).await;
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact());
    assert_eq!((report.events, report.checkpoints), (10, 3));
}

#[tokio::test]
async fn a_changed_body_is_named() {
    let dir = ledger_with(10, 0).await;
    raw(dir.path())
        .execute(
            "UPDATE ledger SET body = replace(body, 'event 5', 'event X') WHERE seq = 5",
            [],
        )
        .unwrap();
    let bad = first_bad(dir.path());
    assert_eq!(
        (bad.seq, bad.problem.as_str()),
        (5, "hash mismatch: event changed")
    );
}

#[tokio::test]
async fn a_deleted_event_is_named() {
    let dir = ledger_with(10, 0).await;
    raw(dir.path())
        .execute("DELETE FROM ledger WHERE seq = 4", [])
        .unwrap();
    let bad = first_bad(dir.path());
    assert_eq!((bad.seq, bad.problem.as_str()), (4, "missing event"));
}

#[tokio::test]
async fn a_deleted_first_event_is_named() {
    let dir = ledger_with(3, 0).await;
    raw(dir.path())
        .execute("DELETE FROM ledger WHERE seq = 1", [])
        .unwrap();
    let bad = first_bad(dir.path());
    assert_eq!((bad.seq, bad.problem.as_str()), (1, "missing event"));
}

#[tokio::test]
async fn events_cut_from_the_tail_are_caught_by_the_checkpoint() {
    let dir = ledger_with(10, 0).await; // final checkpoint at 10
    raw(dir.path())
        .execute("DELETE FROM ledger WHERE seq >= 8", [])
        .unwrap();
    let bad = first_bad(dir.path());
    assert_eq!(bad.seq, 8);
    assert!(bad.problem.starts_with("missing event"), "{bad:?}");
}

#[tokio::test]
async fn swapped_bodies_are_out_of_order() {
    let dir = ledger_with(10, 0).await;
    let conn = raw(dir.path());
    conn.execute_batch(
        "UPDATE ledger SET body = CASE seq
            WHEN 3 THEN (SELECT body FROM ledger WHERE seq = 4)
            WHEN 4 THEN (SELECT body FROM ledger WHERE seq = 3) END
         WHERE seq IN (3, 4);",
    )
    .unwrap();
    let bad = first_bad(dir.path());
    assert_eq!((bad.seq, bad.problem.as_str()), (3, "out of order"));
}

#[tokio::test]
async fn swapped_rows_are_out_of_order() {
    let dir = ledger_with(10, 0).await;
    raw(dir.path())
        .execute_batch(
            "UPDATE ledger SET seq = -6 WHERE seq = 6;
             UPDATE ledger SET seq = 6 WHERE seq = 7;
             UPDATE ledger SET seq = 7 WHERE seq = -6;",
        )
        .unwrap();
    let bad = first_bad(dir.path());
    assert_eq!((bad.seq, bad.problem.as_str()), (6, "out of order"));
}

#[tokio::test]
async fn a_rewritten_chain_is_caught_by_the_signed_checkpoint() {
    let dir = ledger_with(10, 5).await;
    // Rewrite event 3 and recompute every hash after it, as an attacker
    // without the signing key would.
    let conn = raw(dir.path());
    conn.execute(
        "UPDATE ledger SET body = replace(body, 'event 3', 'event X') WHERE seq = 3",
        [],
    )
    .unwrap();
    let rows: Vec<(i64, String)> = conn
        .prepare("SELECT seq, body FROM ledger ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let mut prev = vigil_store::GENESIS_HASH;
    for (seq, body) in rows {
        let hash = vigil_store::chain_hash(&prev, body.as_bytes());
        conn.execute(
            "UPDATE ledger SET prev_hash = ?1, hash = ?2 WHERE seq = ?3",
            rusqlite::params![&prev[..], &hash[..], seq],
        )
        .unwrap();
        prev = hash;
    }
    // The index's own chain still holds up to its checkpoint, which no
    // longer matches; the log, the ledger itself, names event 3 first.
    let bad = first_bad(dir.path());
    assert_eq!(
        (bad.seq, bad.problem.as_str()),
        (3, "index row differs from the log")
    );
    // Without a log (a data_dir from before it), the signed checkpoint
    // catches the rewrite.
    std::fs::remove_dir_all(dir.path().join("ledger")).unwrap();
    let bad = first_bad(dir.path());
    assert_eq!(bad.seq, 5);
    assert_eq!(bad.problem, "checkpoint does not match the event");

    // Re-signing is not possible without the key; forging the stored hash
    // breaks the signature instead.
    let new_hash: Vec<u8> = conn
        .query_row("SELECT hash FROM ledger WHERE seq = 5", [], |r| r.get(0))
        .unwrap();
    conn.execute("UPDATE checkpoints SET hash = ?1 WHERE seq = 5", [new_hash])
        .unwrap();
    let bad = first_bad(dir.path());
    assert_eq!(
        (bad.seq, bad.problem.as_str()),
        (5, "checkpoint signature invalid")
    );
}

#[tokio::test]
async fn a_forged_checkpoint_signature_is_named() {
    let dir = ledger_with(6, 3).await;
    raw(dir.path())
        .execute(
            "UPDATE checkpoints SET signature = zeroblob(64) WHERE seq = 6",
            [],
        )
        .unwrap();
    let bad = first_bad(dir.path());
    assert_eq!(
        (bad.seq, bad.problem.as_str()),
        (6, "checkpoint signature invalid")
    );
}

#[tokio::test]
async fn an_edited_index_column_is_named() {
    let dir = ledger_with(5, 0).await;
    raw(dir.path())
        .execute("UPDATE ledger SET session = 'other' WHERE seq = 2", [])
        .unwrap();
    let bad = first_bad(dir.path());
    assert_eq!(
        (bad.seq, bad.problem.as_str()),
        (2, "columns disagree with the event body")
    );
}

#[tokio::test]
async fn verify_runs_while_the_gateway_writes() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    for i in 1..=20 {
        store.append(error_event(i)).await.unwrap();
    }
    let report = verify_ledger(dir.path()).unwrap();
    assert!(report.is_intact(), "{report:?}");
    assert_eq!(report.events, 20);
    store.close().await.unwrap();
}

fn first_bad_at_cadence(dir: &Path, every: u64) -> BadEvent {
    let report = verify_ledger_with(
        dir,
        &VerifyOptions {
            checkpoint_every: every,
        },
    )
    .unwrap();
    match report.first_bad {
        Some(bad) => bad,
        None => panic!("tampering not detected: {report:?}"),
    }
}

#[tokio::test]
async fn the_last_events_cut_with_their_checkpoint_are_caught_by_the_head_file() {
    let dir = ledger_with(10, 4).await; // checkpoints 4, 8 and the final 10
    let head = read_head(dir.path()).unwrap().expect("a ledger-head file");
    assert_eq!(head.seq, 10);
    // Cut the log after event 8 and its checkpoint, and the index alike.
    cut_log_after(dir.path(), 8);
    raw(dir.path())
        .execute_batch("DELETE FROM ledger WHERE seq >= 9; DELETE FROM checkpoints WHERE seq >= 9;")
        .unwrap();
    let bad = first_bad(dir.path());
    assert_eq!(bad.seq, 9);
    assert!(
        bad.problem.starts_with("missing event") && bad.problem.contains("seq 10"),
        "{bad:?}"
    );
}

#[tokio::test]
async fn a_tail_rewritten_after_the_head_is_caught_by_the_head_file() {
    let dir = ledger_with(6, 0).await; // the final checkpoint at 6
    let conn = raw(dir.path());
    // Rewrite event 6 consistently (new body, new hash) and drop the
    // checkpoint that would give it away.
    conn.execute_batch(
        "UPDATE ledger SET body = replace(body, 'event 6', 'event X') WHERE seq = 6;
         DELETE FROM checkpoints;",
    )
    .unwrap();
    let (prev, body): (Vec<u8>, String) = conn
        .query_row(
            "SELECT prev_hash, body FROM ledger WHERE seq = 6",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let prev = <[u8; 32]>::try_from(prev.as_slice()).unwrap();
    let hash = vigil_store::chain_hash(&prev, body.as_bytes());
    conn.execute("UPDATE ledger SET hash = ?1 WHERE seq = 6", [&hash[..]])
        .unwrap();
    let bad = first_bad(dir.path());
    assert_eq!(bad.seq, 6);
    assert_eq!(bad.problem, "index row differs from the log", "{bad:?}");
    // Without the log, the head file outside the database still tells.
    std::fs::remove_dir_all(dir.path().join("ledger")).unwrap();
    let bad = first_bad(dir.path());
    assert_eq!(bad.seq, 6);
    assert!(bad.problem.contains("signed head"), "{bad:?}");
}

/// The frames of the log's one segment: `(offset, end, kind, seq)`.
fn frames(dir: &Path) -> (std::path::PathBuf, Vec<(usize, usize, u8, i64)>) {
    let mut segments: Vec<_> = std::fs::read_dir(dir.join("ledger"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "log"))
        .collect();
    segments.sort();
    let path = segments.pop().unwrap();
    let bytes = std::fs::read(&path).unwrap();
    let mut at = 16; // the segment header
    let mut out = Vec::new();
    while at + 8 <= bytes.len() {
        let len = u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        let end = at + 8 + len;
        let kind = bytes[at + 8];
        let seq = i64::from_le_bytes(bytes[at + 9..at + 17].try_into().unwrap());
        out.push((at, end, kind, seq));
        at = end;
    }
    (path, out)
}

/// Cuts the log right after event `seq` and the checkpoint that follows it.
fn cut_log_after(dir: &Path, seq: i64) {
    let (path, frames) = frames(dir);
    let end = frames
        .iter()
        .filter(|f| f.3 <= seq)
        .map(|f| f.1)
        .max()
        .unwrap();
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(end as u64).unwrap();
}

#[tokio::test]
async fn a_changed_byte_in_the_log_is_named() {
    let dir = ledger_with(10, 4).await;
    let (path, frames) = frames(dir.path());
    let (start, end, _, seq) = frames
        .iter()
        .copied()
        .find(|f| f.2 == 1 && f.3 == 6)
        .unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    let i = bytes[start..end]
        .windows(7)
        .position(|w| w == b"event 6")
        .unwrap();
    bytes[start + i + 6] = b'X';
    std::fs::write(&path, &bytes).unwrap();
    let bad = first_bad(dir.path());
    assert_eq!(bad.seq, seq);
    assert!(bad.problem.starts_with("damaged record"), "{bad:?}");
}

#[tokio::test]
async fn events_cut_from_the_log_before_a_checkpoint_are_missing() {
    // Cut event 10 (after the checkpoint at 8): the head file names it.
    let dir = ledger_with(10, 4).await;
    cut_log_after(dir.path(), 9);
    let bad = first_bad(dir.path());
    assert_eq!(bad.seq, 10);
    assert!(bad.problem.starts_with("missing event"), "{bad:?}");
}

#[tokio::test]
async fn a_deleted_checkpoint_breaks_the_cadence() {
    let dir = ledger_with(10, 4).await;
    assert!(
        verify_ledger_with(
            dir.path(),
            &VerifyOptions {
                checkpoint_every: 4
            }
        )
        .unwrap()
        .is_intact()
    );
    raw(dir.path())
        .execute("DELETE FROM checkpoints WHERE seq = 4", [])
        .unwrap();
    let bad = first_bad_at_cadence(dir.path(), 4);
    assert_eq!(bad.seq, 4);
    assert!(bad.problem.starts_with("missing checkpoint"), "{bad:?}");
}

#[tokio::test]
async fn a_shutdown_checkpoint_and_a_restart_keep_the_cadence() {
    let dir = tempfile::tempdir().unwrap();
    let opts = StoreOptions {
        checkpoint_every: 4,
        ..StoreOptions::default()
    };
    // 6 events, closed (checkpoint at 6), 5 more (checkpoint at 8), crash
    // without a final checkpoint (dropped, not closed).
    let store = open_with(dir.path(), opts.clone());
    for i in 1..=6 {
        store.append(error_event(i)).await.unwrap();
    }
    store.close().await.unwrap();
    let store = open_with(dir.path(), opts);
    for i in 7..=11 {
        store.append(error_event(i)).await.unwrap();
    }
    drop(store);
    let report = verify_ledger_with(
        dir.path(),
        &VerifyOptions {
            checkpoint_every: 4,
        },
    )
    .unwrap();
    assert!(report.is_intact(), "{report:?}");
    // The dropped store's writer thread may still sign a last head as its queue closes.
    assert!(
        matches!(report.head_seq, Some(8 | 11)),
        "{:?}",
        report.head_seq
    );
}

#[tokio::test]
async fn a_removed_head_file_is_named_and_written_again_on_open() {
    let dir = ledger_with(5, 0).await;
    std::fs::remove_file(dir.path().join(LEDGER_HEAD_FILE)).unwrap();
    let bad = first_bad(dir.path());
    assert!(bad.problem.contains("no ledger-head"), "{bad:?}");
    let store = open(dir.path());
    store.close().await.unwrap();
    assert_eq!(read_head(dir.path()).unwrap().map(|h| h.seq), Some(5));
    assert!(verify_ledger(dir.path()).unwrap().is_intact());
}

#[tokio::test]
async fn a_forged_head_file_is_named() {
    let dir = ledger_with(5, 0).await;
    let path = dir.path().join(LEDGER_HEAD_FILE);
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("\"seq\":5", "\"seq\":4")).unwrap();
    let bad = first_bad(dir.path());
    assert_eq!(bad.problem, "ledger-head signature invalid", "{bad:?}");
}
