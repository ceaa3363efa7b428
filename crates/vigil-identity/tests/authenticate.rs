//! The gate as a front-end uses it: issue a token, present it, get a Principal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;
use vigil_core::{Event, PrincipalKind, Secret};
use vigil_identity::{Authenticator, IdentityError, TokenAuthority};
use vigil_store::{
    Appended, LedgerRecord, NewSshKey, NewToken, SessionSummary, SqliteStore, SshKeyRecord, Store,
    StoreError, StoreOptions, TokenRecord,
};

struct Fixture {
    _dir: tempfile::TempDir,
    store: Arc<dyn Store>,
    authority: TokenAuthority,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir.path(), StoreOptions::default()).unwrap());
    Fixture {
        _dir: dir,
        authority: TokenAuthority::new(Arc::clone(&store)),
        store,
    }
}

fn groups(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[tokio::test]
async fn an_issued_token_authenticates_as_its_principal() {
    let f = fixture();
    let token = f
        .authority
        .issue(
            "ci-bot",
            &groups(&["analysts", "dba"]),
            PrincipalKind::Agent,
            Some(Duration::from_secs(3600)),
        )
        .await
        .unwrap();
    assert!(token.expose().starts_with("vgl_"));
    assert_eq!(token.expose().len(), 47);

    let gate = Authenticator::new(Arc::clone(&f.store));
    let principal = gate.authenticate(&token).await.unwrap();
    assert_eq!(principal.name, "ci-bot");
    assert_eq!(principal.groups, groups(&["analysts", "dba"]));
    assert_eq!(principal.kind, PrincipalKind::Agent);
    assert_eq!(principal.issuer, "vigil");
    assert_eq!(principal.run_id, None);
    // Second time from the cache: the same answer.
    assert_eq!(gate.authenticate(&token).await.unwrap(), principal);

    let human = f
        .authority
        .issue("alice", &[], PrincipalKind::Human, None)
        .await
        .unwrap();
    assert_eq!(
        gate.authenticate(&human).await.unwrap().kind,
        PrincipalKind::Human
    );
}

#[tokio::test]
async fn wrong_and_malformed_credentials_are_refused() {
    let f = fixture();
    let token = f
        .authority
        .issue("ci-bot", &[], PrincipalKind::Agent, None)
        .await
        .unwrap();
    let gate = Authenticator::new(Arc::clone(&f.store));

    let mut wrong = token.expose().clone();
    let last = if wrong.ends_with('A') { "B" } else { "A" };
    wrong.replace_range(wrong.len() - 1.., last);
    for bad in [
        wrong.as_str(),
        "vgl_",
        "vgl_short",
        "",
        "hunter2",
        "eyJh.eyJz.c2ln",
        &token.expose()[..46],
    ] {
        let err = gate
            .authenticate(&Secret::new(bad.to_string()))
            .await
            .unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidCredential),
            "{bad:?}: {err:?}"
        );
    }
}

#[tokio::test]
async fn expired_tokens_are_refused() {
    let f = fixture();
    let token = f
        .authority
        .issue(
            "short-lived",
            &[],
            PrincipalKind::Agent,
            Some(Duration::ZERO),
        )
        .await
        .unwrap();
    let gate = Authenticator::new(Arc::clone(&f.store));
    assert!(matches!(
        gate.authenticate(&token).await,
        Err(IdentityError::Expired)
    ));

    let token = f
        .authority
        .issue(
            "brief",
            &[],
            PrincipalKind::Agent,
            Some(Duration::from_millis(50)),
        )
        .await
        .unwrap();
    gate.authenticate(&token).await.unwrap();
    tokio::time::sleep(Duration::from_millis(80)).await;
    // Expiry is checked on a cache hit too.
    assert!(matches!(
        gate.authenticate(&token).await,
        Err(IdentityError::Expired)
    ));
}

#[tokio::test]
async fn revoked_tokens_are_refused() {
    let f = fixture();
    let token = f
        .authority
        .issue("ci-bot", &[], PrincipalKind::Agent, None)
        .await
        .unwrap();
    assert!(f.authority.revoke("ci-bot").await.unwrap());
    assert!(!f.authority.revoke("ci-bot").await.unwrap());
    let gate = Authenticator::new(Arc::clone(&f.store));
    assert!(matches!(
        gate.authenticate(&token).await,
        Err(IdentityError::Revoked)
    ));
}

#[tokio::test]
async fn revocation_takes_effect_within_the_cache_ttl() {
    let f = fixture();
    let token = f
        .authority
        .issue("ci-bot", &[], PrincipalKind::Agent, None)
        .await
        .unwrap();
    let gate = Authenticator::with_cache(Arc::clone(&f.store), Duration::from_millis(100), 16);
    gate.authenticate(&token).await.unwrap();
    f.authority.revoke("ci-bot").await.unwrap();
    // Within the TTL the cached lookup may still answer...
    assert!(gate.authenticate(&token).await.is_ok());
    tokio::time::sleep(Duration::from_millis(150)).await;
    // ...after it, the revocation holds.
    assert!(matches!(
        gate.authenticate(&token).await,
        Err(IdentityError::Revoked)
    ));

    // Without a cache it holds at once; clear_cache() forces it too.
    let token = f
        .authority
        .issue("ci-bot", &[], PrincipalKind::Agent, None)
        .await
        .unwrap();
    let uncached = Authenticator::with_cache(Arc::clone(&f.store), Duration::ZERO, 0);
    uncached.authenticate(&token).await.unwrap();
    gate.authenticate(&token).await.unwrap();
    f.authority.revoke("ci-bot").await.unwrap();
    assert!(matches!(
        uncached.authenticate(&token).await,
        Err(IdentityError::Revoked)
    ));
    gate.clear_cache();
    assert!(matches!(
        gate.authenticate(&token).await,
        Err(IdentityError::Revoked)
    ));
}

#[tokio::test]
async fn names_are_unique_among_active_tokens_and_validated() {
    let f = fixture();
    f.authority
        .issue("ci-bot", &[], PrincipalKind::Agent, None)
        .await
        .unwrap();
    let err = f
        .authority
        .issue("ci-bot", &[], PrincipalKind::Agent, None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, IdentityError::NameTaken(ref n) if n == "ci-bot"),
        "{err:?}"
    );
    f.authority.revoke("ci-bot").await.unwrap();
    f.authority
        .issue("ci-bot", &[], PrincipalKind::Agent, None)
        .await
        .unwrap();

    for (name, groups) in [
        ("", vec![]),
        ("has space", vec![]),
        ("ok", vec!["a,b".to_string()]),
        ("ok", vec![String::new()]),
    ] {
        let err = f
            .authority
            .issue(name, &groups, PrincipalKind::Agent, None)
            .await
            .unwrap_err();
        assert!(
            matches!(err, IdentityError::InvalidRequest(_)),
            "{name:?} {groups:?}: {err:?}"
        );
    }
    let err = f
        .authority
        .issue("forever", &[], PrincipalKind::Agent, Some(Duration::MAX))
        .await
        .unwrap_err();
    assert!(matches!(err, IdentityError::InvalidRequest(_)), "{err:?}");

    let listed = f.authority.list().await.unwrap();
    assert_eq!(listed.len(), 2);
    assert!(listed[0].revoked_at_ms.is_some());
    assert!(listed[1].revoked_at_ms.is_none());
}

#[tokio::test]
async fn the_token_text_never_appears_in_debug_or_errors() {
    let f = fixture();
    let token = f
        .authority
        .issue(
            "ci-bot",
            &groups(&["dba"]),
            PrincipalKind::Agent,
            Some(Duration::from_secs(60)),
        )
        .await
        .unwrap();
    let text = token.expose().clone();
    let secret_part = &text[4..];
    let gate = Authenticator::new(Arc::clone(&f.store));
    let principal = gate.authenticate(&token).await.unwrap();

    let mut wrong = text.clone();
    wrong.replace_range(10..11, if &wrong[10..11] == "x" { "y" } else { "x" });
    let refusal = gate
        .authenticate(&Secret::new(wrong.clone()))
        .await
        .unwrap_err();
    f.authority.revoke("ci-bot").await.unwrap();
    let revoked = Authenticator::with_cache(Arc::clone(&f.store), Duration::ZERO, 0)
        .authenticate(&token)
        .await
        .unwrap_err();

    let rendered = [
        format!("{token:?}"),
        format!("{token}"),
        format!("{principal:?}"),
        format!("{refusal:?} {refusal}"),
        format!("{revoked:?} {revoked}"),
        format!("{:?}", f.authority.list().await.unwrap()),
        format!("{gate:?}"),
        format!("{:?}", f.authority),
    ];
    for r in &rendered {
        assert!(!r.contains(secret_part), "token leaked in {r}");
        assert!(
            !r.contains(&wrong[4..]),
            "presented credential leaked in {r}"
        );
    }
    assert_eq!(format!("{token:?}"), "***");
}

/// A store that cannot answer, as when the database is unreachable.
struct DownStore;

#[async_trait::async_trait]
impl Store for DownStore {
    async fn append(&self, _: Event) -> Result<Appended, StoreError> {
        Err(StoreError::Closed)
    }
    async fn append_nowait(&self, _: Event) -> Result<(), StoreError> {
        Err(StoreError::Closed)
    }
    async fn create_token(&self, _: NewToken) -> Result<(), StoreError> {
        Err(StoreError::Closed)
    }
    async fn token_by_hash(&self, _: &[u8; 32]) -> Result<Option<TokenRecord>, StoreError> {
        Err(StoreError::Closed)
    }
    async fn list_tokens(&self) -> Result<Vec<TokenRecord>, StoreError> {
        Err(StoreError::Closed)
    }
    async fn revoke_token(&self, _: &str) -> Result<bool, StoreError> {
        Err(StoreError::Closed)
    }
    async fn add_ssh_key(&self, _: NewSshKey) -> Result<(), StoreError> {
        Err(StoreError::Closed)
    }
    async fn ssh_key_by_fingerprint(
        &self,
        _: &[u8; 32],
    ) -> Result<Option<SshKeyRecord>, StoreError> {
        Err(StoreError::Closed)
    }
    async fn list_ssh_keys(&self) -> Result<Vec<SshKeyRecord>, StoreError> {
        Err(StoreError::Closed)
    }
    async fn remove_ssh_key(&self, _: &str) -> Result<bool, StoreError> {
        Err(StoreError::Closed)
    }
    async fn list_sessions(&self, _: usize) -> Result<Vec<SessionSummary>, StoreError> {
        Err(StoreError::Closed)
    }
    async fn session_events(&self, _: &str) -> Result<Vec<LedgerRecord>, StoreError> {
        Err(StoreError::Closed)
    }
}

#[tokio::test]
async fn an_unreachable_store_refuses_the_credential() {
    let f = fixture();
    let token = f
        .authority
        .issue("ci-bot", &[], PrincipalKind::Agent, None)
        .await
        .unwrap();
    let gate = Authenticator::new(Arc::new(DownStore));
    let err = gate.authenticate(&token).await.unwrap_err();
    assert!(
        matches!(err, IdentityError::Store(StoreError::Closed)),
        "{err:?}"
    );
    let authority = TokenAuthority::new(Arc::new(DownStore));
    assert!(
        authority
            .issue("x", &[], PrincipalKind::Agent, None)
            .await
            .is_err()
    );
}
