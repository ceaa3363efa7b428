//! Registered SSH keys: found by fingerprint, unique while active, removable.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use vigil_core::PrincipalKind;
use vigil_store::{NewSshKey, Store, StoreError};

fn key(name: &str, fp: u8) -> NewSshKey {
    NewSshKey {
        name: name.into(),
        groups: vec!["ops".into()],
        kind: PrincipalKind::Human,
        fingerprint: [fp; 32],
        public_key: format!("ssh-ed25519 AAAA{fp} {name}"),
        created_at_ms: 1_000,
    }
}

#[tokio::test]
async fn keys_are_found_by_fingerprint_and_listed() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.add_ssh_key(key("alice", 1)).await.unwrap();
    store.add_ssh_key(key("bob", 2)).await.unwrap();

    let found = store
        .ssh_key_by_fingerprint(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.name, "alice");
    assert_eq!(found.groups, vec!["ops"]);
    assert_eq!(found.kind, PrincipalKind::Human);
    assert_eq!(found.public_key, "ssh-ed25519 AAAA1 alice");
    assert_eq!(found.removed_at_ms, None);
    assert!(
        store
            .ssh_key_by_fingerprint(&[3; 32])
            .await
            .unwrap()
            .is_none()
    );
    let names: Vec<String> = store
        .list_ssh_keys()
        .await
        .unwrap()
        .into_iter()
        .map(|k| k.name)
        .collect();
    assert_eq!(names, vec!["alice", "bob"]);
    store.close().await.unwrap();
}

#[tokio::test]
async fn names_and_keys_are_unique_while_active_and_removal_sticks() {
    let dir = tempfile::tempdir().unwrap();
    let store = open(dir.path());
    store.add_ssh_key(key("alice", 1)).await.unwrap();
    let same_name = store.add_ssh_key(key("alice", 2)).await.unwrap_err();
    assert!(
        matches!(same_name, StoreError::DuplicateSshKey(ref m) if m.contains("alice")),
        "{same_name:?}"
    );
    let same_key = store.add_ssh_key(key("mallory", 1)).await.unwrap_err();
    assert!(
        matches!(same_key, StoreError::DuplicateSshKey(ref m) if m.contains("already registered")),
        "{same_key:?}"
    );

    assert!(store.remove_ssh_key("alice").await.unwrap());
    assert!(
        !store.remove_ssh_key("alice").await.unwrap(),
        "already removed"
    );
    let removed = store
        .ssh_key_by_fingerprint(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    assert!(removed.removed_at_ms.is_some());

    // Registered again (to someone else): the active row wins the lookup.
    store.add_ssh_key(key("carol", 1)).await.unwrap();
    let active = store
        .ssh_key_by_fingerprint(&[1; 32])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(active.name, "carol");
    assert_eq!(active.removed_at_ms, None);
    assert_eq!(store.list_ssh_keys().await.unwrap().len(), 2);
    store.close().await.unwrap();
}
