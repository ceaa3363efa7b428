//! The session state machine in process: a client and a scripted target on
//! in-memory pipes, a real guard over a temporary SQLite store. Each test
//! sends a pipeline, checks what reached the target, answers as PostgreSQL
//! would, and checks what reached the client, message by message.

use super::client::ClientPump;
use super::server::ServerPump;
use super::shared::Shared;
use crate::protocol::{MessageWriter, next_frame, parse_error_fields};
use bytes::{BufMut, BytesMut};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::watch;
use vigil_core::{ConnectionRef, PrincipalKind, ReviewMode};
use vigil_guard::Principal;
use vigil_guard::{Guard, Metrics};
use vigil_policy::{Effect, PolicySet, PolicySpec, RuleSpec};
use vigil_sql::{AnalysisCache, Catalog, LineageCache};
use vigil_store::{SqliteStore, Store, StoreOptions};

/// The test's ends of the two pipes, and the guard (to decide approvals).
struct Session {
    client: DuplexStream,
    target: DuplexStream,
    guard: Arc<Guard>,
    _dir: tempfile::TempDir,
}

fn guard(dir: &std::path::Path) -> Guard {
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(dir, StoreOptions::default()).expect("store"));
    let deny = RuleSpec::new(
        "no-forbidden",
        Effect::Deny,
        Some("sql.text.contains('forbidden')"),
    );
    let mut review = RuleSpec::new("held", Effect::Review, Some("sql.text.contains('held')"));
    review.reviewers = vec!["dba".into()];
    review.mode = ReviewMode::Hold;
    review.timeout = Duration::from_secs(30);
    let policies = PolicySet::compile(vec![PolicySpec {
        name: "p".into(),
        rules: vec![deny, review, RuleSpec::new("rest", Effect::Allow, None)],
        ..PolicySpec::default()
    }])
    .expect("policy");
    let shop = ConnectionRef {
        name: "shop".into(),
        // PostgreSQL is the default kind.
        kind: Default::default(),
    };
    Guard::new(store, policies, [shop], Arc::new(Metrics::new()))
}

async fn start() -> Session {
    let dir = tempfile::tempdir().expect("tmp");
    let guard = Arc::new(guard(dir.path()));
    let principal = Principal::unverified_for_tests(
        vigil_core::PrincipalRecord {
            name: "bot".into(),
            groups: vec!["agents".into()],
            kind: PrincipalKind::Agent,
            issuer: "vigil".into(),
            ..Default::default()
        },
        None,
    );
    let session = guard
        .open_session(
            principal,
            &vigil_guard::SessionRequest {
                protocol: vigil_core::Protocol::Postgres,
                connection: "shop",
                client_addr: "test",
                run_id: None,
            },
        )
        .await
        .expect("session");
    let (client, gw_client) = tokio::io::duplex(64 * 1024);
    let (target, gw_target) = tokio::io::duplex(64 * 1024);
    let g = guard.clone();
    tokio::spawn(async move {
        let catalog = Arc::new(Catalog::empty());
        let analyses = AnalysisCache::new(16);
        let lineages = LineageCache::new(16);
        let shared = Shared::default();
        let (mut client_r, mut client_w) = tokio::io::split(gw_client);
        let (mut up_r, mut up_w) = tokio::io::split(gw_target);
        let (_stop, shutdown) = watch::channel(false);
        let mut to_server = ClientPump::new(&g, &session, catalog, &analyses, &lineages, &shared);
        let mut to_client = ServerPump::new(&g, &session, &shared, BytesMut::new());
        tokio::select! {
            _ = to_server.run(&mut client_r, &mut up_w, shutdown) => {}
            _ = to_client.run(&mut up_r, &mut client_w) => {}
        }
    });
    Session {
        client,
        target,
        guard,
        _dir: dir,
    }
}

// ---- messages ------------------------------------------------------------

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    out.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn cstr(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(s.as_bytes());
    b.push(0);
}

fn parse(name: &str, sql: &str) -> Vec<u8> {
    let mut w = MessageWriter::new();
    w.parse(name, sql, &[]);
    w.take().to_vec()
}

fn bind(portal: &str, statement: &str) -> Vec<u8> {
    let mut b = Vec::new();
    cstr(&mut b, portal);
    cstr(&mut b, statement);
    b.extend_from_slice(&[0, 0, 0, 0, 0, 0]);
    msg(b'B', &b)
}

fn execute(portal: &str, max_rows: i32) -> Vec<u8> {
    let mut b = Vec::new();
    cstr(&mut b, portal);
    b.extend_from_slice(&max_rows.to_be_bytes());
    msg(b'E', &b)
}

fn sync() -> Vec<u8> {
    msg(b'S', &[])
}

fn data_row(value: &str) -> Vec<u8> {
    let mut b = vec![0, 1];
    b.extend_from_slice(&(value.len() as i32).to_be_bytes());
    b.extend_from_slice(value.as_bytes());
    msg(b'D', &b)
}

fn complete(tag: &str) -> Vec<u8> {
    let mut b = Vec::new();
    cstr(&mut b, tag);
    msg(b'C', &b)
}

fn error(code: &str, message: &str) -> Vec<u8> {
    let mut w = MessageWriter::new();
    w.error("ERROR", code, message);
    w.take().to_vec()
}

fn ready(status: u8) -> Vec<u8> {
    msg(b'Z', &[status])
}

/// Reads whole messages until `until` (a tag) has been seen `n` times.
async fn read_until(stream: &mut DuplexStream, until: u8, n: usize) -> Vec<(u8, Vec<u8>)> {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < n {
        match next_frame(&mut buf, 1 << 20).expect("frame") {
            Some((tag, m)) => {
                seen += usize::from(tag == until);
                out.push((tag, m.to_vec()));
            }
            None => {
                let mut chunk = [0u8; 4096];
                let read = tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk))
                    .await
                    .expect("timed out waiting for messages")
                    .expect("read");
                assert!(read > 0, "stream closed; got so far: {out:?}");
                buf.put_slice(&chunk[..read]);
            }
        }
    }
    out
}

fn tags(messages: &[(u8, Vec<u8>)]) -> String {
    messages.iter().map(|(t, _)| *t as char).collect()
}

fn texts(messages: &[(u8, Vec<u8>)]) -> String {
    messages
        .iter()
        .map(|(_, m)| String::from_utf8_lossy(m).to_string())
        .collect::<Vec<_>>()
        .join("|")
}

// ---- the tests ----------------------------------------------------------------

#[tokio::test]
async fn a_refused_parse_in_a_pipelined_batch_is_answered_in_its_place() {
    let mut s = start().await;
    let pipeline = [
        parse("", "SELECT 1"),
        bind("", ""),
        execute("", 0),
        parse("s2", "SELECT 'forbidden'"),
        bind("", "s2"),
        execute("", 0),
        sync(),
    ]
    .concat();
    s.client.write_all(&pipeline).await.expect("write");
    let to_target = read_until(&mut s.target, b'S', 1).await;
    // The refused text never reaches the target: a marker that fails to parse does.
    assert!(
        !texts(&to_target).contains("forbidden"),
        "{}",
        texts(&to_target)
    );
    assert!(texts(&to_target).contains("vigil_refused"));
    // The Bind of the refused statement passes (the target fails it anyway); the Execute
    // of its unknown portal becomes a second marker, which the target skips.
    assert_eq!(tags(&to_target), "PBEPBPS");
    // The target answers the first statement, fails the marker, skips to Sync.
    let answers = [
        msg(b'1', &[]),
        msg(b'2', &[]),
        data_row("1"),
        complete("SELECT 1"),
        error("42601", "syntax error at or near \"vigil_refused\""),
        ready(b'I'),
    ]
    .concat();
    s.target.write_all(&answers).await.expect("answer");
    let to_client = read_until(&mut s.client, b'Z', 1).await;
    assert_eq!(tags(&to_client), "12DCEZ");
    let refusal = parse_error_fields(&to_client[4].1).expect("error");
    assert_eq!(refusal.code, "42501");
    assert!(
        refusal.message.contains("no-forbidden"),
        "{}",
        refusal.message
    );
}

#[tokio::test]
async fn answers_after_a_refusal_in_a_batch_keep_their_order_and_the_next_batch_runs() {
    let mut s = start().await;
    let pipeline = [
        b"Q\0\0\0\x17SELECT 'forbidden'\0".to_vec(),
        parse("", "SELECT 2"),
        bind("", ""),
        execute("", 0),
        sync(),
    ]
    .concat();
    s.client.write_all(&pipeline).await.expect("write");
    let to_target = read_until(&mut s.target, b'S', 1).await;
    assert_eq!(tags(&to_target), "QPBES");
    let answers = [
        error("42601", "syntax error at or near \"vigil_refused\""),
        ready(b'I'),
        msg(b'1', &[]),
        msg(b'2', &[]),
        data_row("2"),
        complete("SELECT 1"),
        ready(b'I'),
    ]
    .concat();
    s.target.write_all(&answers).await.expect("answer");
    let to_client = read_until(&mut s.client, b'Z', 2).await;
    assert_eq!(tags(&to_client), "EZ12DCZ");
    assert_eq!(
        parse_error_fields(&to_client[0].1).expect("e").code,
        "42501"
    );
}

#[tokio::test]
async fn a_suspended_portal_is_executed_again_with_its_own_entry() {
    let mut s = start().await;
    let pipeline = [
        parse("s", "SELECT generate_series(1, 3)"),
        bind("p", "s"),
        execute("p", 2),
        execute("p", 2),
        sync(),
    ]
    .concat();
    s.client.write_all(&pipeline).await.expect("write");
    let to_target = read_until(&mut s.target, b'S', 1).await;
    // generate_series needs the catalog, which this session does not have: refused at
    // Parse, so the target sees the marker; the Executes of the refused batch follow.
    if texts(&to_target).contains("vigil_refused") {
        let answers = [error("42601", "syntax error"), ready(b'I')].concat();
        s.target.write_all(&answers).await.expect("answer");
        let to_client = read_until(&mut s.client, b'Z', 1).await;
        assert_eq!(tags(&to_client), "EZ");
        return;
    }
    let answers = [
        msg(b'1', &[]),
        msg(b'2', &[]),
        data_row("1"),
        data_row("2"),
        msg(b's', &[]),
        data_row("3"),
        complete("SELECT 1"),
        ready(b'I'),
    ]
    .concat();
    s.target.write_all(&answers).await.expect("answer");
    let to_client = read_until(&mut s.client, b'Z', 1).await;
    assert_eq!(tags(&to_client), "12DDsDCZ");
}

#[tokio::test]
async fn a_suspended_portal_of_a_constant_statement_runs_twice() {
    let mut s = start().await;
    let pipeline = [
        parse("s", "VALUES (1), (2), (3)"),
        bind("p", "s"),
        execute("p", 2),
        execute("p", 2),
        sync(),
    ]
    .concat();
    s.client.write_all(&pipeline).await.expect("write");
    let to_target = read_until(&mut s.target, b'S', 1).await;
    assert_eq!(tags(&to_target), "PBEES", "{}", texts(&to_target));
    let answers = [
        msg(b'1', &[]),
        msg(b'2', &[]),
        data_row("1"),
        data_row("2"),
        msg(b's', &[]),
        data_row("3"),
        complete("SELECT 1"),
        ready(b'I'),
    ]
    .concat();
    s.target.write_all(&answers).await.expect("answer");
    let to_client = read_until(&mut s.client, b'Z', 1).await;
    assert_eq!(tags(&to_client), "12DDsDCZ");
}

#[tokio::test]
async fn an_answer_that_fits_nothing_sent_ends_the_session() {
    let mut s = start().await;
    s.client
        .write_all(b"Q\0\0\0\rSELECT 1\0")
        .await
        .expect("write");
    let _ = read_until(&mut s.target, b'Q', 1).await;
    // A BindComplete nobody asked for: the gateway's view and the target's differ.
    s.target
        .write_all(&[msg(b'2', &[]), ready(b'I')].concat())
        .await
        .expect("answer");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), s.client.read_to_end(&mut rest))
        .await
        .expect("the session must end");
    assert!(read.is_ok());
    assert!(
        !rest.contains(&b'2'),
        "the stray answer reached the client: {rest:?}"
    );
}

#[tokio::test]
async fn the_hold_notice_arrives_between_whole_messages() {
    let mut s = start().await;
    // A statement that is answered slowly, then one that is held for review.
    s.client
        .write_all(b"Q\0\0\0\rSELECT 1\0")
        .await
        .expect("write");
    let _ = read_until(&mut s.target, b'Q', 1).await;
    // Half of the first answer arrives before the held statement is sent.
    let row = data_row("1");
    let (head, tail) = row.split_at(4);
    s.target.write_all(head).await.expect("partial answer");
    s.client
        .write_all(b"Q\0\0\0\x12SELECT 'held'\0")
        .await
        .expect("write");
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The rest of the row and its completion.
    s.target
        .write_all(&[tail.to_vec(), complete("SELECT 1"), ready(b'I')].concat())
        .await
        .expect("answer");
    let to_client = read_until(&mut s.client, b'N', 1).await;
    // The notice never splits the row: whole messages, the row first.
    let t = tags(&to_client);
    assert!(t == "DCZN" || t == "N" || t == "DN" || t == "DCN", "{t}");
    assert_eq!(to_client[0].0 == b'D', t.starts_with('D'));
    if let Some((_, d)) = to_client.iter().find(|(t, _)| *t == b'D') {
        assert_eq!(d, &row);
    }
    let pending = s
        .guard
        .approvals_for(
            &Principal::unverified_for_tests(Default::default(), None),
            true,
            10,
        )
        .await
        .expect("approvals");
    assert_eq!(pending.len(), 1, "the held statement is pending");
}
