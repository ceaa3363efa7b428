//! The upstream login against a scripted MySQL 8 (MariaDB offers no
//! `caching_sha2_password`): a listener that speaks only the connection
//! phase, checks what Vigil sends, and answers OK.

use super::*;
use crate::auth::caching_sha2;
use crate::packet::frame;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;

const SALT: [u8; 20] = *b"abcdefghij0123456789";
const OK: [u8; 7] = [0, 0, 0, 2, 0, 0, 0];

fn greeting(capabilities: u32) -> Vec<u8> {
    Greeting {
        server_version: "8.0.36".into(),
        connection_id: 1,
        salt: SALT.to_vec(),
        capabilities,
        charset: 45,
        status: 2,
        plugin: "caching_sha2_password".into(),
    }
    .encode()
}

const CAPS: u32 = cap::PROTOCOL_41
    | cap::SECURE_CONNECTION
    | cap::PLUGIN_AUTH
    | cap::PLUGIN_AUTH_LENENC
    | cap::CONNECT_WITH_DB;

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> Io for T {}

struct Script {
    tcp: Box<dyn Io>,
    reader: Reader,
    seq: u8,
}

impl Script {
    async fn send(&mut self, payload: &[u8]) {
        let mut out = Vec::new();
        frame(&mut out, &mut self.seq, payload);
        self.tcp.write_all(&out).await.unwrap();
    }

    /// Reads the SSL request (exactly: the ClientHello follows it) and
    /// accepts TLS with `acceptor`; `None` when the client gives up.
    async fn start_tls(mut self, acceptor: tokio_rustls::TlsAcceptor) -> Option<Script> {
        use tokio::io::AsyncReadExt;
        let mut request = [0u8; 36];
        self.tcp.read_exact(&mut request).await.unwrap();
        assert_eq!(&request[..4], &[32, 0, 0, 1], "an SSL request");
        let tls = acceptor.accept(self.tcp).await.ok()?;
        Some(Script {
            tcp: Box::new(tls),
            reader: Reader::default(),
            seq: 2,
        })
    }

    async fn read(&mut self) -> Vec<u8> {
        let p = self
            .reader
            .read(&mut self.tcp, 1 << 20, true)
            .await
            .unwrap()
            .unwrap();
        self.seq = p.last_seq.wrapping_add(1);
        p.payload
    }
}

/// Starts a one-shot target that sends `greeting`, then hands the
/// conversation to `script`; returns the config to reach it.
async fn target<F, Fut>(greeting: Vec<u8>, script: F) -> UpstreamConfig
where
    F: FnOnce(Script) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut s = Script {
            tcp: Box::new(tcp),
            reader: Reader::default(),
            seq: 0,
        };
        s.send(&greeting).await;
        script(s).await;
    });
    UpstreamConfig {
        address,
        database: "shop".into(),
        user: "app".into(),
        password: Some(Secret::new("s3cret".to_string())),
        ..UpstreamConfig::default()
    }
}

#[tokio::test]
async fn caching_sha2_fast_path_logs_in() {
    let cfg = target(greeting(CAPS), |mut s| async move {
        let r = Response::decode(&s.read().await).unwrap();
        assert_eq!(r.plugin.as_deref(), Some("caching_sha2_password"));
        assert_eq!(r.user, "app");
        assert_eq!(r.auth, caching_sha2(b"s3cret", &SALT));
        s.send(&[0x01, 0x03]).await;
        s.send(&OK).await;
        let _ = s.read().await;
    })
    .await;
    let up = connect(&cfg, 0, 45).await.unwrap();
    assert!(!up.io.is_tls());
}

#[tokio::test]
async fn caching_sha2_full_authentication_encrypts_the_password_with_the_targets_rsa_key() {
    use aws_lc_rs::encoding::AsDer;
    use aws_lc_rs::rsa::{
        KeySize, OAEP_SHA1_MGF1SHA1, OaepPrivateDecryptingKey, PrivateDecryptingKey,
    };
    use base64::Engine;
    let cfg = target(greeting(CAPS), |mut s| async move {
        let private = PrivateDecryptingKey::generate(KeySize::Rsa2048).unwrap();
        let der = private.public_key().as_der().unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
        let pem = format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n");
        let _ = s.read().await;
        // Not in the cache: full authentication.
        s.send(&[0x01, 0x04]).await;
        assert_eq!(s.read().await, [0x02], "Vigil asks for the public key");
        let mut key = vec![0x01];
        key.extend_from_slice(pem.as_bytes());
        s.send(&key).await;
        let sealed = s.read().await;
        let private = OaepPrivateDecryptingKey::new(private).unwrap();
        let mut out = vec![0u8; private.min_output_size()];
        let plain = private
            .decrypt(&OAEP_SHA1_MGF1SHA1, &sealed, &mut out, None)
            .unwrap();
        let clear: Vec<u8> = plain
            .iter()
            .zip(SALT.iter().cycle())
            .map(|(c, n)| c ^ n)
            .collect();
        assert_eq!(clear, b"s3cret\0");
        s.send(&OK).await;
        let _ = s.read().await;
    })
    .await;
    assert!(connect(&cfg, 0, 45).await.is_ok());
}

#[tokio::test]
async fn require_against_a_target_without_tls_fails_the_login() {
    let mut cfg = target(greeting(CAPS), |mut s| async move {
        let _ = s.read().await;
    })
    .await;
    cfg.tls = UpstreamTls::Require;
    match connect(&cfg, 0, 45).await {
        Err(MysqlError::Login(why)) => assert!(why.contains("does not offer TLS"), "{why}"),
        Err(e) => panic!("expected a login error, got {e}"),
        Ok(_) => panic!("logged in without TLS"),
    }
}

#[tokio::test]
async fn a_mariadb_target_switching_to_caching_sha2_is_refused_without_the_password() {
    let cfg = target(greeting(CAPS), |mut s| async move {
        let _ = s.read().await;
        let mut switch = vec![0xFE];
        switch.extend_from_slice(b"caching_sha2_password\0");
        switch.extend_from_slice(&SALT);
        switch.push(0);
        s.send(&switch).await;
        let _ = s.read().await;
    })
    .await;
    let cfg = UpstreamConfig {
        flavor: Some(Flavor::Mariadb),
        ..cfg
    };
    match connect(&cfg, 0, 45).await {
        Err(MysqlError::Login(why)) => {
            assert!(why.contains("caching_sha2_password"), "{why}");
            assert!(!why.contains("s3cret"), "{why}");
        }
        Err(e) => panic!("expected a login error, got {e}"),
        Ok(_) => panic!("answered a method the flavor does not allow"),
    }
}

/// A CA (its PEM in `dir`) and a TLS acceptor with a certificate it signs for `names`.
fn tls_target(
    dir: &std::path::Path,
    names: &[&str],
) -> (std::path::PathBuf, tokio_rustls::TlsAcceptor) {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::pki_types::PrivateKeyDer;
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
    let ca_path = dir.join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, &ca).unwrap();
    let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
    let provider = std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.der().clone()], key)
        .unwrap();
    (
        ca_path,
        tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)),
    )
}

#[tokio::test]
async fn caching_sha2_full_authentication_over_verified_tls_sends_the_password_in_clear() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, acceptor) = tls_target(dir.path(), &["127.0.0.1"]);
    let cfg = target(greeting(CAPS | cap::SSL), |s| async move {
        let mut s = s.start_tls(acceptor).await.unwrap();
        let r = Response::decode(&s.read().await).unwrap();
        assert!(r.capabilities & cap::SSL != 0);
        s.send(&[0x01, 0x04]).await;
        assert_eq!(s.read().await, b"s3cret\0");
        s.send(&OK).await;
        let _ = s.read().await;
    })
    .await;
    let cfg = UpstreamConfig {
        tls: UpstreamTls::VerifyFull { ca: Some(ca) },
        ..cfg
    };
    let up = connect(&cfg, 0, 45).await.unwrap();
    assert!(up.io.is_tls());
}

#[tokio::test]
async fn verify_full_refuses_a_certificate_for_another_host() {
    let dir = tempfile::tempdir().unwrap();
    let (ca, acceptor) = tls_target(dir.path(), &["db.example.com"]);
    let cfg = target(greeting(CAPS | cap::SSL), |s| async move {
        // Vigil refuses the certificate: no session follows.
        assert!(s.start_tls(acceptor).await.is_none());
    })
    .await;
    let cfg = UpstreamConfig {
        tls: UpstreamTls::VerifyFull { ca: Some(ca) },
        ..cfg
    };
    match connect(&cfg, 0, 45).await {
        Err(MysqlError::Login(why)) => {
            assert!(
                why.contains("TLS") && why.to_lowercase().contains("certificate"),
                "{why}"
            )
        }
        Err(e) => panic!("expected a TLS login error, got {e}"),
        Ok(_) => panic!("a certificate for another host was accepted"),
    }
}
