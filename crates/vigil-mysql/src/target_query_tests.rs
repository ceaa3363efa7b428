//! `target_query` against a scripted server: rows kept up to the bounds,
//! the error text withheld when the mask says so, parameters bound.

use super::{Run, run};
use crate::backend::Upstream;
use crate::handshake::Greeting;
use crate::packet::{Reader, frame};
use crate::wire::{err_packet, put_lenenc_str};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use vigil_mysql_sql::{Lineage, Target};
use vigil_target::{QueryError, ResultMask, Statement};

fn column(name: &str, ty: u8) -> Vec<u8> {
    let mut p = Vec::new();
    for s in ["def", "db", "t", "t", name, name] {
        put_lenenc_str(&mut p, s.as_bytes());
    }
    p.push(0x0c);
    p.extend_from_slice(&45u16.to_le_bytes());
    p.extend_from_slice(&11u32.to_le_bytes());
    p.push(ty);
    p.extend_from_slice(&0u16.to_le_bytes());
    p.extend_from_slice(&[0, 0, 0]);
    p
}

const EOF: &[u8] = &[0xFE, 0, 0, 0x02, 0];

/// A text result set: `id` (LONG) and `name` (VAR_STRING), `rows` rows.
fn result_set(rows: u32) -> Vec<Vec<u8>> {
    let mut out = vec![
        vec![2],
        column("id", 0x03),
        column("name", 0xfd),
        EOF.to_vec(),
    ];
    for i in 0..rows {
        let mut r = Vec::new();
        put_lenenc_str(&mut r, i.to_string().as_bytes());
        put_lenenc_str(&mut r, format!("n{i}").as_bytes());
        out.push(r);
    }
    out.push(EOF.to_vec());
    out
}

/// A server that answers the first command with `answer` and returns
/// what it was sent.
async fn scripted(answer: Vec<Vec<u8>>) -> (Upstream, tokio::task::JoinHandle<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (mut io, _) = listener.accept().await.unwrap();
        let mut reader = Reader::default();
        let cmd = reader.read(&mut io, 1 << 20, true).await.unwrap().unwrap();
        let mut out = Vec::new();
        let mut seq = 1;
        for p in &answer {
            frame(&mut out, &mut seq, p);
        }
        io.write_all(&out).await.unwrap();
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            io.read_to_end(&mut rest),
        )
        .await;
        cmd.payload
    });
    let io = TcpStream::connect(addr).await.unwrap();
    let up = Upstream {
        io: crate::upstream_tls::UpstreamStream::Plain(io),
        reader: Reader::default(),
        greeting: Greeting {
            server_version: "10.11.6-MariaDB".into(),
            connection_id: 7,
            salt: vec![1; 20],
            capabilities: 0,
            charset: 45,
            status: 0,
            plugin: String::new(),
        },
        target: Target::from_server_version("10.11.6-MariaDB"),
        capabilities: 0,
    };
    (up, server)
}

fn statement<'a>(sql: &'a str, params: &'a [Option<String>], max_rows: usize) -> Statement<'a> {
    Statement {
        sql,
        params,
        max_rows,
        max_bytes: 1 << 20,
    }
}

#[tokio::test]
async fn rows_past_max_rows_make_the_result_truncated() {
    let (mut up, server) = scripted(result_set(3)).await;
    let st = statement("SELECT id, name FROM t", &[], 2);
    let mask = ResultMask::default();
    let r = run(
        &mut up,
        Run {
            statement: &st,
            mask: &mask,
            lineage: &Lineage::NoRows,
            base_tables: None,
        },
    )
    .await
    .unwrap();
    assert!(r.truncated);
    assert_eq!(
        r.rows,
        vec![
            vec![Some("0".into()), Some("n0".into())],
            vec![Some("1".into()), Some("n1".into())]
        ]
    );
    assert_eq!(
        r.columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>(),
        ["id", "name"]
    );
    drop(up);
    assert_eq!(server.await.unwrap(), b"\x03SELECT id, name FROM t");

    let (mut up, _server) = scripted(result_set(2)).await;
    let st = statement("SELECT id, name FROM t", &[], 2);
    let r = run(
        &mut up,
        Run {
            statement: &st,
            mask: &mask,
            lineage: &Lineage::NoRows,
            base_tables: None,
        },
    )
    .await
    .unwrap();
    assert!(!r.truncated);
    assert_eq!(r.tag.as_deref(), Some("SELECT 2"));
}

#[tokio::test]
async fn error_text_is_withheld_but_code_and_sqlstate_kept() {
    let err = err_packet(1054, "42S22", "Unknown column 'ann@example.com'");
    let (mut up, _server) = scripted(vec![err.clone()]).await;
    let st = statement("SELECT x", &[], 10);
    let mask = ResultMask {
        hide_error_text: true,
        ..ResultMask::default()
    };
    let r = run(
        &mut up,
        Run {
            statement: &st,
            mask: &mask,
            lineage: &Lineage::NoRows,
            base_tables: None,
        },
    )
    .await;
    match r {
        Err(QueryError::Server { code, message, .. }) => {
            assert_eq!(code, "1054:42S22");
            assert!(!message.contains("ann@"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    let (mut up, _server) = scripted(vec![err]).await;
    let mask = ResultMask::default();
    let r = run(
        &mut up,
        Run {
            statement: &st,
            mask: &mask,
            lineage: &Lineage::NoRows,
            base_tables: None,
        },
    )
    .await;
    assert!(
        matches!(r, Err(QueryError::Server { message, .. }) if message.contains("Unknown column"))
    );
}

#[tokio::test]
async fn a_parameter_count_that_does_not_match_runs_nothing() {
    // PREPARE answers: one parameter (its definition and EOF), no columns.
    let mut ok = vec![0x00];
    ok.extend_from_slice(&5u32.to_le_bytes());
    ok.extend_from_slice(&0u16.to_le_bytes());
    ok.extend_from_slice(&1u16.to_le_bytes());
    ok.extend_from_slice(&[0, 0, 0]);
    let (mut up, server) = scripted(vec![ok, column("?", 0xfd), EOF.to_vec()]).await;
    let params = [Some("a".to_string()), Some("b".to_string())];
    let st = statement("DELETE FROM t WHERE id = ?", &params, 10);
    let mask = ResultMask::default();
    let r = run(
        &mut up,
        Run {
            statement: &st,
            mask: &mask,
            lineage: &Lineage::NoRows,
            base_tables: None,
        },
    )
    .await;
    assert!(matches!(r, Err(QueryError::Server { code, .. }) if code == "1210:HY000"));
    drop(up);
    let mut prepare = vec![0x16];
    prepare.extend_from_slice(b"DELETE FROM t WHERE id = ?");
    assert_eq!(server.await.unwrap(), prepare);
}
