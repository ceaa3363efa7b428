//! TLS towards the target, negotiated with SSLRequest.

use super::{BackendError, UpstreamTls};
use crate::protocol::MessageWriter;
use crate::stream::PgStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use std::sync::Arc;
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
        return Err(BackendError::TlsRefused);
    }
    let config = client_config(mode)?;
    let host = address.rsplit_once(':').map(|(h, _)| h).unwrap_or(address);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| BackendError::Tls(format!("invalid server name {host:?}")))?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tls = connector
        .connect(name, tcp)
        .await
        .map_err(|e| BackendError::Tls(e.to_string()))?;
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

fn client_config(mode: &UpstreamTls) -> Result<rustls::ClientConfig, BackendError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| BackendError::Tls(e.to_string()))?;
    let config = match mode {
        UpstreamTls::VerifyFull { ca } => {
            let mut roots = rustls::RootCertStore::empty();
            if let Some(ca) = ca {
                let certs = CertificateDer::pem_file_iter(ca)
                    .map_err(|e| BackendError::Tls(format!("reading {}: {e}", ca.display())))?;
                for cert in certs {
                    let cert = cert
                        .map_err(|e| BackendError::Tls(format!("reading {}: {e}", ca.display())))?;
                    roots
                        .add(cert)
                        .map_err(|e| BackendError::Tls(format!("CA certificate: {e}")))?;
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        _ => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(EncryptOnly(provider)))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// `tls = "require"`: encrypt, but accept any certificate, like libpq's
/// `sslmode=require`. Signatures are still checked, so the handshake is real.
#[derive(Debug)]
struct EncryptOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
