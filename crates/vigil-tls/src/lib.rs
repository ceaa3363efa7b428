//! vigil-tls: the TLS client Vigil's front-ends use towards their targets,
//! after each protocol's own upgrade request (PostgreSQL's SSLRequest,
//! MySQL's SSL request). rustls on aws-lc-rs; two ways to check the
//! target: [`Verify::SignaturesOnly`] (`tls = "require"` and `"prefer"`:
//! encrypted, handshake signatures checked, any certificate) and
//! [`Verify::Chain`] (`"verify-full"`: the chain to a trusted root and the
//! address's host name).

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::net::TcpStream;

/// How the target's certificate is checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verify {
    /// Any certificate; the handshake's signatures still are.
    SignaturesOnly,
    /// Chain and host name; `ca`: the trusted roots (the system's when `None`).
    Chain { ca: Option<PathBuf> },
}

/// The TLS handshake over `tcp` with the target at `address` (`host:port`,
/// whose host is the name checked). Errors are messages without secrets.
pub async fn connect(
    tcp: TcpStream,
    verify: &Verify,
    address: &str,
) -> Result<tokio_rustls::client::TlsStream<TcpStream>, String> {
    let config = client_config(verify)?;
    let host = address.rsplit_once(':').map(|(h, _)| h).unwrap_or(address);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = ServerName::try_from(host.to_string())
        .map_err(|_| format!("invalid server name {host:?}"))?;
    tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
        .map_err(|e| e.to_string())
}

fn client_config(verify: &Verify) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?;
    let config = match verify {
        // The chain must lead to a trusted root and name the address's
        // host (DNS name or IP address): rustls' WebPKI verifier checks both.
        Verify::Chain { ca } => {
            let mut roots = rustls::RootCertStore::empty();
            match ca {
                None => {
                    let found = rustls_native_certs::load_native_certs();
                    let (added, _) = roots.add_parsable_certificates(found.certs);
                    if added == 0 {
                        return Err(
                            "verify-full without tls_ca, and no system CA certificates were found"
                                .into(),
                        );
                    }
                }
                Some(ca) => {
                    let read =
                        |e: rustls::pki_types::pem::Error| format!("reading {}: {e}", ca.display());
                    for cert in CertificateDer::pem_file_iter(ca).map_err(read)? {
                        roots
                            .add(cert.map_err(read)?)
                            .map_err(|e| format!("CA certificate: {e}"))?;
                    }
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Verify::SignaturesOnly => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(SignaturesOnly(provider)))
            .with_no_client_auth(),
    };
    Ok(config)
}

/// Accepts any certificate (like libpq's `sslmode=require`); signatures
/// are still checked, so the handshake is real.
#[derive(Debug)]
struct SignaturesOnly(Arc<rustls::crypto::CryptoProvider>);

impl ServerCertVerifier for SignaturesOnly {
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
