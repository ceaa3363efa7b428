//! The password exchange against scripted clients: TLS, RSA on request,
//! RSA with a key the client already holds, clear text on loopback, and
//! the switch to `mysql_clear_password`.

use super::*;
use crate::packet::frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

impl Io for DuplexStream {}

const NONCE: &[u8] = b"abcdefghijklmnopqrst";

fn response(plugin: &str, auth: &[u8]) -> Response {
    Response {
        plugin: Some(plugin.into()),
        auth: auth.to_vec(),
        ..Response::default()
    }
}

/// Reads one packet the server side sent: (seq, payload).
async fn read_packet(client: &mut DuplexStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 4];
    client.read_exact(&mut head).await.unwrap();
    let len = usize::from(head[0]) | usize::from(head[1]) << 8 | usize::from(head[2]) << 16;
    let mut payload = vec![0u8; len];
    client.read_exact(&mut payload).await.unwrap();
    (head[3], payload)
}

async fn write_packet(client: &mut DuplexStream, seq: u8, payload: &[u8]) {
    let mut out = Vec::new();
    let mut seq = seq;
    frame(&mut out, &mut seq, payload);
    client.write_all(&out).await.unwrap();
}

/// Runs `exchange` against a client script; returns the password Vigil read.
async fn run<F, Fut>(
    response: Response,
    tls: bool,
    key: Option<&PasswordKey>,
    client: F,
) -> Option<Vec<u8>>
where
    F: FnOnce(DuplexStream) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let (server, client_end) = tokio::io::duplex(64 * 1024);
    let mut io: Box<dyn Io> = Box::new(server);
    let mut reader = Reader::default();
    let mut seq = 2u8;
    let (got, ()) = tokio::join!(
        exchange(&mut io, &mut reader, &mut seq, &response, NONCE, tls, key),
        client(client_end)
    );
    match got.unwrap() {
        Credential::Password(p) => Some(p),
        Credential::Gone => None,
    }
}

#[tokio::test]
async fn a_clear_password_in_the_response_is_taken_as_is() {
    let got = run(
        response(CLEAR_PASSWORD, b"tok\0"),
        false,
        None,
        |_c| async {},
    )
    .await;
    assert_eq!(got.as_deref(), Some(&b"tok"[..]));
}

#[tokio::test]
async fn inside_tls_the_full_authentication_carries_the_password_in_clear() {
    let got = run(
        response(CACHING_SHA2, &[7; 32]),
        true,
        None,
        |mut c| async move {
            let (seq, more) = read_packet(&mut c).await;
            assert_eq!((seq, more.as_slice()), (2, &[0x01, 0x04][..]));
            write_packet(&mut c, 3, b"vigil-token\0").await;
        },
    )
    .await;
    assert_eq!(got.as_deref(), Some(&b"vigil-token"[..]));
}

#[tokio::test]
async fn without_tls_a_client_asks_for_the_key_and_sends_the_password_encrypted() {
    let key = PasswordKey::generate().unwrap();
    let pem = key.public_pem().to_vec();
    let got = run(
        response(CACHING_SHA2, &[7; 32]),
        false,
        Some(&key),
        |mut c| async move {
            let (_, more) = read_packet(&mut c).await;
            assert_eq!(more, [0x01, 0x04]);
            write_packet(&mut c, 3, &[0x02]).await;
            let (seq, more) = read_packet(&mut c).await;
            assert_eq!(seq, 4);
            assert_eq!(more.first(), Some(&0x01));
            assert_eq!(&more[1..], pem.as_slice());
            let sealed = crate::auth::caching_sha2_rsa(
                b"a-longer-vigil-token-than-the-nonce",
                NONCE,
                &more[1..],
            )
            .unwrap();
            write_packet(&mut c, 5, &sealed).await;
        },
    )
    .await;
    assert_eq!(
        got.as_deref(),
        Some(&b"a-longer-vigil-token-than-the-nonce"[..])
    );
}

#[tokio::test]
async fn a_client_that_already_holds_the_key_sends_the_ciphertext_directly() {
    let key = PasswordKey::generate().unwrap();
    let sealed = crate::auth::caching_sha2_rsa(b"tok", NONCE, key.public_pem()).unwrap();
    let got = run(
        response(CACHING_SHA2, &[7; 32]),
        false,
        Some(&key),
        |mut c| async move {
            read_packet(&mut c).await;
            write_packet(&mut c, 3, &sealed).await;
        },
    )
    .await;
    assert_eq!(got.as_deref(), Some(&b"tok"[..]));
}

#[tokio::test]
async fn a_ciphertext_under_another_key_is_not_read_as_a_password_it_is_not() {
    let key = PasswordKey::generate().unwrap();
    let other = PasswordKey::generate().unwrap();
    let sealed = crate::auth::caching_sha2_rsa(b"tok", NONCE, other.public_pem()).unwrap();
    let expected = sealed.clone();
    let got = run(
        response(CACHING_SHA2, &[7; 32]),
        false,
        Some(&key),
        |mut c| async move {
            read_packet(&mut c).await;
            write_packet(&mut c, 3, &sealed).await;
        },
    )
    .await;
    // Taken as a clear password: the guard then refuses it as a credential.
    assert_eq!(got, Some(expected));
}

#[tokio::test]
async fn a_caching_sha2_client_without_a_password_is_not_asked_for_one() {
    let got = run(response(CACHING_SHA2, b""), false, None, |_c| async {}).await;
    assert_eq!(got.as_deref(), Some(&b""[..]));
}

#[tokio::test]
async fn other_methods_are_switched_to_the_clear_password() {
    let got = run(
        response("mysql_native_password", &[1; 20]),
        false,
        None,
        |mut c| async move {
            let (_, switch) = read_packet(&mut c).await;
            assert_eq!(switch, b"\xfemysql_clear_password\0");
            write_packet(&mut c, 3, b"tok\0").await;
        },
    )
    .await;
    assert_eq!(got.as_deref(), Some(&b"tok"[..]));
}

#[tokio::test]
async fn a_client_that_leaves_mid_exchange_gives_no_password() {
    let got = run(
        response(CACHING_SHA2, &[7; 32]),
        true,
        None,
        |mut c| async move {
            read_packet(&mut c).await;
            drop(c);
        },
    )
    .await;
    assert_eq!(got, None);
}
