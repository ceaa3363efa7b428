//! A registered SSH key is a credential of the one gate: it yields its
//! registration's principal, a removed key is refused at login and at the
//! re-check of the sessions it opened, and an unknown key is invalid.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use vigil_core::PrincipalKind;
use vigil_identity::{Authenticator, Credential, IdentityError, StoredCredential};
use vigil_store::{NewSshKey, SqliteStore, Store, StoreOptions};

#[tokio::test]
async fn a_registered_key_is_its_principal_until_removed() {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Arc::new(SqliteStore::open(dir.path(), StoreOptions::default()).unwrap());
    let store: Arc<dyn Store> = sqlite.clone();
    store
        .add_ssh_key(NewSshKey {
            name: "alice-laptop".into(),
            groups: vec!["ops".into()],
            kind: PrincipalKind::Human,
            fingerprint: [7; 32],
            public_key: "ssh-ed25519 AAAA alice".into(),
            created_at_ms: 1,
        })
        .await
        .unwrap();
    let gate = Authenticator::new(Arc::clone(&store));

    let principal = gate
        .authenticate_credential(Credential::SshKey(&[7; 32]))
        .await
        .unwrap();
    assert_eq!(principal.name, "alice-laptop");
    assert_eq!(principal.subject.as_deref(), Some("ssh-key:alice-laptop"));
    assert_eq!(principal.groups, vec!["ops"]);
    assert_eq!(principal.kind, PrincipalKind::Human);
    assert_eq!(principal.issuer, vigil_identity::VIGIL_ISSUER);
    assert_eq!(
        principal.stored_credential(),
        Some(&StoredCredential::SshKey([7; 32]))
    );
    assert!(principal.token_hash().is_none());
    gate.revalidate(&principal).await.unwrap();

    assert!(matches!(
        gate.authenticate_ssh_key(&[8; 32]).await,
        Err(IdentityError::InvalidCredential)
    ));

    assert!(store.remove_ssh_key("alice-laptop").await.unwrap());
    // Not cached: the removal holds at once, for logins and open sessions.
    assert!(matches!(
        gate.authenticate_ssh_key(&[7; 32]).await,
        Err(IdentityError::Revoked)
    ));
    assert!(matches!(
        gate.revalidate(&principal).await,
        Err(IdentityError::Revoked)
    ));
    // The same key registered again to someone else does not revive the
    // sessions the first registration opened.
    store
        .add_ssh_key(NewSshKey {
            name: "mallory".into(),
            groups: vec!["admins".into()],
            kind: PrincipalKind::Human,
            fingerprint: [7; 32],
            public_key: "ssh-ed25519 AAAA alice".into(),
            created_at_ms: 2,
        })
        .await
        .unwrap();
    assert!(matches!(
        gate.revalidate(&principal).await,
        Err(IdentityError::Revoked)
    ));
    let again = gate.authenticate_ssh_key(&[7; 32]).await.unwrap();
    assert_eq!(again.name, "mallory");
    sqlite.close().await.unwrap();
}
