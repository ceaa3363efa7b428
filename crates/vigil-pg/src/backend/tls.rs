//! TLS towards the target, negotiated with SSLRequest; the handshake and
//! the certificate checks are `vigil_tls`'s.

use super::{BackendError, UpstreamTls};
use crate::protocol::MessageWriter;
use crate::stream::PgStream;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn start(
    mut tcp: TcpStream,
    mode: &UpstreamTls,
    address: &str,
) -> Result<PgStream, BackendError> {
    let mut w = MessageWriter::new();
    w.ssl_request();
    tcp.write_all(&w.take()).await?;
    let mut answer = [0u8; 1];
    tcp.read_exact(&mut answer).await?;
    if answer[0] != b'S' {
        if *mode == UpstreamTls::Prefer && answer[0] == b'N' {
            return Ok(PgStream::Plain(tcp));
        }
        return Err(BackendError::TlsRefused);
    }
    let verify = match mode {
        UpstreamTls::VerifyFull { ca } => vigil_tls::Verify::Chain { ca: ca.clone() },
        _ => vigil_tls::Verify::SignaturesOnly,
    };
    let tls = vigil_tls::connect(tcp, &verify, address)
        .await
        .map_err(BackendError::Tls)?;
    Ok(PgStream::Tls(Box::new(tokio_rustls::TlsStream::Client(
        tls,
    ))))
}

/// SHA-256 of the target's certificate, for SCRAM channel binding. RFC 5929
/// says to use the certificate's own signature hash, upgraded to SHA-256
/// for MD5 and SHA-1; SHA-256 is also what PostgreSQL's own certificates
/// and libpq use in practice.
pub fn server_end_point(stream: &PgStream) -> Option<Vec<u8>> {
    let PgStream::Tls(tls) = stream else {
        return None;
    };
    let tokio_rustls::TlsStream::Client(client) = tls.as_ref() else {
        return None;
    };
    let cert = client.get_ref().1.peer_certificates()?.first()?;
    Some(
        aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.as_ref())
            .as_ref()
            .to_vec(),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    use std::sync::Arc;
    use tokio::net::TcpListener;

    /// A CA in `dir` (its PEM path) and a server certificate it signs for `names`.
    fn ca_and_server(
        dir: &std::path::Path,
        names: &[&str],
    ) -> (
        std::path::PathBuf,
        CertificateDer<'static>,
        PrivateKeyDer<'static>,
    ) {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let ca_path = dir.join("ca.pem");
        std::fs::write(&ca_path, ca.pem()).unwrap();
        let key = KeyPair::generate().unwrap();
        let params =
            CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        let key = PrivateKeyDer::try_from(key.serialize_der()).unwrap();
        (ca_path, cert.der().clone(), key)
    }

    /// A one-shot server that answers SSLRequest with `S`, then TLS with `cert`.
    async fn server(cert: CertificateDer<'static>, key: PrivateKeyDer<'static>) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert], key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            tcp.read_exact(&mut request).await.unwrap();
            tcp.write_all(b"S").await.unwrap();
            // The client may refuse the handshake: that is the point.
            if let Ok(mut tls) = acceptor.accept(tcp).await {
                let _ = tls.write_all(b"ok").await;
            }
        });
        addr
    }

    async fn dial(addr: &str, ca: std::path::PathBuf) -> Result<PgStream, BackendError> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        start(tcp, &UpstreamTls::VerifyFull { ca: Some(ca) }, addr).await
    }

    #[tokio::test]
    async fn verify_full_accepts_a_certificate_for_the_address() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = ca_and_server(dir.path(), &["127.0.0.1"]);
        let addr = server(cert, key).await;
        assert!(dial(&addr, ca).await.is_ok());
    }

    #[tokio::test]
    async fn verify_full_refuses_a_certificate_for_another_host() {
        let dir = tempfile::tempdir().unwrap();
        let (ca, cert, key) = ca_and_server(dir.path(), &["db.example.com"]);
        let addr = server(cert, key).await;
        match dial(&addr, ca).await {
            Err(BackendError::Tls(why)) => {
                assert!(why.to_lowercase().contains("certificate"), "{why}")
            }
            Err(other) => panic!("expected a certificate error, got {other}"),
            Ok(_) => panic!("a certificate for another host was accepted"),
        }
    }

    #[tokio::test]
    async fn verify_full_refuses_a_certificate_from_another_ca() {
        let dir = tempfile::tempdir().unwrap();
        let other = tempfile::tempdir().unwrap();
        let (_, cert, key) = ca_and_server(dir.path(), &["127.0.0.1"]);
        let (wrong_ca, _, _) = ca_and_server(other.path(), &["127.0.0.1"]);
        let addr = server(cert, key).await;
        assert!(matches!(
            dial(&addr, wrong_ca).await,
            Err(BackendError::Tls(_))
        ));
    }

    /// A one-shot server that answers SSLRequest with `answer` and stops.
    async fn answering(answer: u8) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move {
            let (mut tcp, _) = listener.accept().await.unwrap();
            let mut request = [0u8; 8];
            tcp.read_exact(&mut request).await.unwrap();
            tcp.write_all(&[answer]).await.unwrap();
            let _ = tcp.read(&mut request).await;
        });
        addr
    }

    #[tokio::test]
    async fn prefer_goes_on_in_plaintext_when_the_server_refuses_tls() {
        let addr = answering(b'N').await;
        let tcp = TcpStream::connect(&addr).await.unwrap();
        let stream = start(tcp, &UpstreamTls::Prefer, &addr).await.unwrap();
        assert!(matches!(stream, PgStream::Plain(_)));
        // `require` does not.
        let addr = answering(b'N').await;
        let tcp = TcpStream::connect(&addr).await.unwrap();
        assert!(matches!(
            start(tcp, &UpstreamTls::Require, &addr).await,
            Err(BackendError::TlsRefused)
        ));
    }

    #[tokio::test]
    async fn prefer_uses_tls_when_the_server_agrees() {
        let dir = tempfile::tempdir().unwrap();
        let (_, cert, key) = ca_and_server(dir.path(), &["127.0.0.1"]);
        let addr = server(cert, key).await;
        let tcp = TcpStream::connect(&addr).await.unwrap();
        let stream = start(tcp, &UpstreamTls::Prefer, &addr).await.unwrap();
        assert!(matches!(stream, PgStream::Tls(_)));
    }
}
