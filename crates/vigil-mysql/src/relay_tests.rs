//! The relay against a scripted target (which, like every target Vigil
//! logs in to, sends EOF packets), read back by a client that negotiated
//! `CLIENT_DEPRECATE_EOF` or not: each gets what MariaDB sends a client of
//! its kind, packet for packet.

use super::*;
use crate::client_out::Eofs;
use crate::scripted::{client, column, eof, eof_ok, numbered, ok, received, text_row, upstream};
use crate::wire::status::{AUTOCOMMIT, CURSOR_EXISTS, MORE_RESULTS};

/// SERVER_STATUS_LAST_ROW_SENT: the cursor is exhausted.
const LAST_ROW_SENT: u16 = 0x0080;

/// Relays one answer from `target` to a client of the kind `eofs`; the
/// results' ends and what the client read.
async fn relay(
    target: Vec<Vec<u8>>,
    eofs: Eofs,
    rows: Rows,
) -> (Vec<ResultEnd>, Vec<(u8, Vec<u8>)>) {
    let mut up = upstream(target).await;
    let (mut ours, theirs) = client().await;
    let ends = answer(
        &mut up,
        &mut ours,
        ClientOut::new(1, eofs),
        &MaskPolicy::default(),
        &[],
        None,
        rows,
    )
    .await
    .unwrap();
    drop(ours);
    (ends, received(theirs).await)
}

#[tokio::test]
async fn text_rows_lose_the_definitions_eof_and_end_with_an_ok() {
    let target = vec![
        vec![2],
        column("id", 0x03),
        column("name", 0xfd),
        eof(0, AUTOCOMMIT),
        text_row(&["1", "Ann"]),
        text_row(&["2", "Bob"]),
        eof(1, AUTOCOMMIT),
    ];
    let (ends, got) = relay(target.clone(), Eofs::Deprecated, Rows::Text).await;
    let expected = vec![
        vec![2],
        column("id", 0x03),
        column("name", 0xfd),
        text_row(&["1", "Ann"]),
        text_row(&["2", "Bob"]),
        eof_ok(1, AUTOCOMMIT),
    ];
    assert_eq!(got, numbered(1, expected));
    assert_eq!(ends.len(), 1);
    assert_eq!(ends[0].tag.as_deref(), Some("SELECT 2"));
    // A client without the capability gets the target's packets as sent.
    let (_, got) = relay(target.clone(), Eofs::Sent, Rows::Text).await;
    assert_eq!(got, numbered(1, target));
}

#[tokio::test]
async fn each_result_of_a_multi_result_ends_as_the_server_ends_it() {
    let more = AUTOCOMMIT | MORE_RESULTS;
    let target = vec![
        vec![1],
        column("a", 0x03),
        eof(0, more),
        text_row(&["1"]),
        eof(0, more),
        ok(3, more),
        vec![1],
        column("b", 0x03),
        eof(0, AUTOCOMMIT),
        text_row(&["2"]),
        eof(0, AUTOCOMMIT),
    ];
    let (ends, got) = relay(target, Eofs::Deprecated, Rows::Text).await;
    let expected = vec![
        vec![1],
        column("a", 0x03),
        text_row(&["1"]),
        // MORE_RESULTS stays: the client reads on.
        eof_ok(0, more),
        ok(3, more),
        vec![1],
        column("b", 0x03),
        text_row(&["2"]),
        eof_ok(0, AUTOCOMMIT),
    ];
    assert_eq!(got, numbered(1, expected));
    let tags: Vec<_> = ends.iter().map(|e| e.tag.as_deref()).collect();
    assert_eq!(tags, [Some("SELECT 1"), Some("OK 3"), Some("SELECT 1")]);
}

#[tokio::test]
async fn an_error_ends_rows_in_both_forms() {
    let err = crate::wire::err_packet(1317, "70100", "Query execution was interrupted");
    let target = vec![
        vec![1],
        column("a", 0x03),
        eof(0, AUTOCOMMIT),
        text_row(&["1"]),
        err.clone(),
    ];
    let (ends, got) = relay(target, Eofs::Deprecated, Rows::Text).await;
    let expected = vec![vec![1], column("a", 0x03), text_row(&["1"]), err];
    assert_eq!(got, numbered(1, expected));
    assert_eq!(ends[0].error.as_deref(), Some("1317:70100"));
}

#[tokio::test]
async fn an_answer_that_is_only_an_eof_becomes_an_ok() {
    // COM_SET_OPTION: MariaDB answers `my_eof`, an OK with 0xFE to a
    // DEPRECATE_EOF client.
    let (ends, got) = relay(vec![eof(0, AUTOCOMMIT)], Eofs::Deprecated, Rows::Text).await;
    assert_eq!(got, numbered(1, vec![eof_ok(0, AUTOCOMMIT)]));
    assert!(ends.iter().all(|e| e.error.is_none()));
    let (_, got) = relay(vec![eof(0, AUTOCOMMIT)], Eofs::Sent, Rows::Text).await;
    assert_eq!(got, numbered(1, vec![eof(0, AUTOCOMMIT)]));
}

/// A binary row of one INT: header, NULL bitmap, the value.
fn int_row(v: i32) -> Vec<u8> {
    let mut p = vec![0x00, 0x00];
    p.extend_from_slice(&v.to_le_bytes());
    p
}

#[tokio::test]
async fn binary_rows_end_like_text_rows() {
    let target = vec![
        vec![1],
        column("id", 0x03),
        eof(0, AUTOCOMMIT),
        int_row(1),
        eof(0, AUTOCOMMIT),
    ];
    let (_, got) = relay(target, Eofs::Deprecated, Rows::Binary).await;
    let expected = vec![
        vec![1],
        column("id", 0x03),
        int_row(1),
        eof_ok(0, AUTOCOMMIT),
    ];
    assert_eq!(got, numbered(1, expected));
}

#[tokio::test]
async fn a_cursor_opens_with_an_ok_and_each_fetch_ends_with_one() {
    // COM_STMT_EXECUTE with CURSOR_TYPE_READ_ONLY: MariaDB sends the
    // metadata without an EOF, then "sends EOF" once the cursor is open;
    // each COM_STMT_FETCH sends rows and an EOF, the last with
    // LAST_ROW_SENT.
    let open = AUTOCOMMIT | CURSOR_EXISTS;
    let target = vec![
        vec![1],
        column("id", 0x03),
        eof(0, open),
        int_row(1),
        eof(0, open),
        int_row(2),
        eof(0, AUTOCOMMIT | LAST_ROW_SENT),
    ];
    for (eofs, end) in [
        (Eofs::Deprecated, eof_ok as fn(u16, u16) -> Vec<u8>),
        (Eofs::Sent, eof),
    ] {
        let mut up = upstream(target.clone()).await;
        let (mut ours, theirs) = client().await;
        let policy = MaskPolicy::default();
        let out = ClientOut::new(1, eofs);
        let mut ends = answer(&mut up, &mut ours, out, &policy, &[], None, Rows::Binary)
            .await
            .unwrap();
        let cursor = ends[0].cursor.take().unwrap();
        let errors = ErrorText::of(&policy);
        for _ in 0..2 {
            let out = ClientOut::new(1, eofs);
            let end = fetch(&mut up, &mut ours, out, &cursor, errors)
                .await
                .unwrap();
            assert_eq!(end.tag.as_deref(), Some("SELECT 1"));
        }
        drop(ours);
        let mut expected = numbered(1, vec![vec![1], column("id", 0x03), end(0, open)]);
        expected.extend(numbered(1, vec![int_row(1), end(0, open)]));
        expected.extend(numbered(
            1,
            vec![int_row(2), end(0, AUTOCOMMIT | LAST_ROW_SENT)],
        ));
        assert_eq!(received(theirs).await, expected, "{eofs:?}");
    }
}

#[tokio::test]
async fn a_malformed_eof_from_the_target_ends_the_session() {
    let target = vec![vec![1], column("a", 0x03), eof(0, 2), vec![0xFE, 0, 0]];
    let mut up = upstream(target).await;
    let (mut ours, _theirs) = client().await;
    let out = ClientOut::new(1, Eofs::Deprecated);
    let r = answer(
        &mut up,
        &mut ours,
        out,
        &MaskPolicy::default(),
        &[],
        None,
        Rows::Text,
    )
    .await;
    assert!(matches!(r, Err(MysqlError::Upstream(_))));
}
