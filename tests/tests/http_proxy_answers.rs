//! Answers through the HTTP proxy: JSON answers masked by `json_paths` and detectors (the
//! header fields of a masked answer too), what cannot be masked refused with 502, and an
//! unmasked answer streamed whole, a server-sent event stream as it comes.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

mod http_common;
use http_common::*;

#[test]
fn json_answers_are_masked_and_what_cannot_be_masked_is_502() {
    let env = start();
    let (status, head, body) = env.curl("/proxy/pii/json/person", &[]);
    assert_eq!(status, 200, "{head}{body}");
    for secret in ["ada@example.com", "bob@example.org", "4111 1111 1111 1111"] {
        assert!(!body.contains(secret), "{secret} leaked: {body}");
        assert!(
            !head.contains(secret),
            "{secret} leaked in a header: {head}"
        );
    }
    assert!(head.contains("content-type: application/json"), "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    // Selected by json_paths, in the null style.
    assert_eq!(v["name"], serde_json::Value::Null, "{body}");
    assert_eq!(v["items"][0]["owner"], serde_json::Value::Null, "{body}");
    assert!(!body.contains("Ada Lovelace"), "{body}");
    // Neither selected nor detected: as the origin sent it.
    assert_eq!(v["items"][0]["sku"], "A1");
    // The ledger records what was masked (counts, never values).
    let events = ledger_text(&env);
    assert!(events.contains("json_paths"), "{events}");
    assert!(!events.contains("ada@example.com"), "{events}");
    // Binary cannot be masked: refused, not passed through.
    let (status, _, body) = env.curl("/proxy/pii/big/64", &[]);
    assert_eq!(status, 502, "{body}");
    assert!(!body.contains("xxxx"), "{body}");
    // A range of a masked answer could cut a value in two.
    let (status, _, body) = env.curl("/proxy/pii/json/person", &["-H", "Range: bytes=0-9"]);
    assert_eq!(status, 400, "{body}");
    // Vigil asked the origin for an unencoded answer.
    let got = env.origin.received();
    assert!(
        got.iter()
            .all(|r| r.header("accept-encoding") == vec!["identity"]),
        "{got:?}"
    );
}

#[test]
fn encoded_answers_are_decoded_then_masked() {
    let env = start();
    for coding in ["gzip", "br", "zstd"] {
        let path = format!("/proxy/pii/encoded/{coding}");
        let (status, head, body) = env.curl(&path, &[]);
        assert_eq!(status, 200, "{coding}: {head}{body}");
        // Sent decoded: the masked answer names no coding.
        assert!(
            !head.to_ascii_lowercase().contains("content-encoding"),
            "{coding}: {head}"
        );
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{coding}: not JSON ({e}): {body}"));
        assert_eq!(v["name"], serde_json::Value::Null, "{coding}: {body}");
        assert_eq!(v["items"][0]["sku"], "A1", "{coding}: {body}");
        for secret in ["ada@example.com", "bob@example.org", "Ada Lovelace"] {
            assert!(!body.contains(secret), "{coding}: {secret} leaked: {body}");
        }
    }
}

#[test]
fn a_server_sent_event_stream_is_relayed_as_it_comes() {
    use std::io::{BufRead, BufReader};
    let env = start();
    let auth = format!("Authorization: Bearer {}", env.agent);
    let mut curl = std::process::Command::new("curl")
        .args(["-s", "-N", "--max-time", "60", "-H", &auth])
        .arg(env.url("/proxy/api/events"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl");
    let stdout = curl.stdout.take().expect("curl's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first event arrives while the origin still holds the stream open.
    let first = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the first event, before the stream ends");
    assert_eq!(first, "data: first");
    assert!(
        curl.try_wait().expect("curl").is_none(),
        "the stream ended early"
    );
    env.origin.release_events();
    let rest: Vec<String> = rx.iter().collect();
    assert!(rest.iter().any(|l| l == "data: second"), "{rest:?}");
    assert!(curl.wait().expect("curl").success());
}

#[test]
fn a_json_lines_stream_is_masked_line_by_line_as_it_comes() {
    use std::io::{BufRead, BufReader};
    let env = start();
    let auth = format!("Authorization: Bearer {}", env.agent);
    let mut curl = std::process::Command::new("curl")
        .args(["-s", "-N", "--max-time", "60", "-H", &auth])
        .arg(env.url("/proxy/pii/ndjson"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("curl");
    let stdout = curl.stdout.take().expect("curl's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // The first line, masked, while the origin still holds the stream open.
    let first = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the first line, before the stream ends");
    let v: serde_json::Value = serde_json::from_str(&first).expect("a JSON line");
    assert_eq!(v["n"], 1, "{first}");
    assert_eq!(v["name"], serde_json::Value::Null, "json_paths: {first}");
    assert!(!first.contains("ada@example.com"), "{first}");
    assert!(
        curl.try_wait().expect("curl").is_none(),
        "the stream ended early"
    );
    env.origin.release_events();
    let rest: Vec<String> = rx.iter().collect();
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(
        rest[0].contains("\"n\":2") && !rest[0].contains("bob@example.org"),
        "{rest:?}"
    );
    assert!(curl.wait().expect("curl").success());
}

#[test]
fn an_unmasked_answer_streams_whole() {
    let env = start();
    let (status, _, body) = env.curl("/proxy/api/big/3000000", &[]);
    assert_eq!(status, 200);
    assert_eq!(body.len(), 3_000_000);
}
