//! Token rows: names unique among active tokens, hashes only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use vigil_core::PrincipalKind;
use vigil_store::{NewToken, Store, StoreError};

fn token(name: &str, hash_byte: u8) -> NewToken {
    NewToken {
        name: name.into(),
        groups: vec!["analysts".into(), "dba".into()],
        kind: PrincipalKind::Human,
        hash: [hash_byte; 32],
        expires_at_ms: Some(9_999_999_999_999),
        created_at_ms: 1_000,
    }
}

#[tokio::test]
async fn tokens_are_found_by_hash_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_token(token("ci-bot", 1)).await.unwrap();
    store.create_token(token("alice", 2)).await.unwrap();

    let found = store.token_by_hash(&[1; 32]).await.unwrap().unwrap();
    assert_eq!(found.name, "ci-bot");
    assert_eq!(found.groups, vec!["analysts", "dba"]);
    assert_eq!(found.kind, PrincipalKind::Human);
    assert_eq!(found.expires_at_ms, Some(9_999_999_999_999));
    assert_eq!(found.revoked_at_ms, None);
    assert!(store.token_by_hash(&[3; 32]).await.unwrap().is_none());

    let names: Vec<String> = store
        .list_tokens()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, vec!["ci-bot", "alice"]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn active_names_are_unique_but_a_revoked_name_may_be_reused() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_token(token("ci-bot", 1)).await.unwrap();
    let err = store.create_token(token("ci-bot", 2)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateToken(ref n) if n == "ci-bot"),
        "{err:?}"
    );

    assert!(store.revoke_token("ci-bot").await.unwrap());
    assert!(
        !store.revoke_token("ci-bot").await.unwrap(),
        "already revoked"
    );
    assert!(!store.revoke_token("nobody").await.unwrap());
    let revoked = store.token_by_hash(&[1; 32]).await.unwrap().unwrap();
    assert!(revoked.revoked_at_ms.is_some());

    store.create_token(token("ci-bot", 2)).await.unwrap();
    assert_eq!(store.list_tokens().await.unwrap().len(), 2);
    store.close().await.unwrap();
}

#[tokio::test]
async fn only_the_hash_is_stored() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.create_token(token("ci-bot", 0xAB)).await.unwrap();
    store.close().await.unwrap();
    let columns: Vec<String> = raw(dir.path())
        .prepare("SELECT name FROM pragma_table_info('tokens')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        columns,
        vec![
            "id",
            "name",
            "groups_json",
            "kind",
            "hash",
            "created_at_ms",
            "expires_at_ms",
            "revoked_at_ms"
        ]
    );
}
