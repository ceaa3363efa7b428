//! The certificate offered to clients: the configured one, or a self-signed
//! one generated once into `data_dir`.

use crate::GatewayError;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use vigil_config::Config;

const GENERATED_CERT: &str = "tls-cert.pem";
const GENERATED_KEY: &str = "tls-key.pem";

pub fn acceptor(config: &Config) -> Result<tokio_rustls::TlsAcceptor, GatewayError> {
    let (cert, key) = paths(config)?;
    let certs = CertificateDer::pem_file_iter(&cert)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| GatewayError::Tls(format!("reading {}: {e}", cert.display())))?;
    let key = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| GatewayError::Tls(format!("reading {}: {e}", key.display())))?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| GatewayError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| GatewayError::Tls(e.to_string()))?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(server)))
}

/// The certificate chain the listeners offer, as PEM (for `vigil kubeconfig`, whose
/// kubectl must trust exactly what the HTTP listener serves).
pub fn cert_pem(config: &Config) -> Result<String, GatewayError> {
    let (cert, _) = paths(config)?;
    std::fs::read_to_string(&cert)
        .map_err(|e| GatewayError::Tls(format!("reading {}: {e}", cert.display())))
}

/// The configured certificate and key, or the generated pair (created on first use).
fn paths(config: &Config) -> Result<(PathBuf, PathBuf), GatewayError> {
    match (&config.tls.cert, &config.tls.key) {
        (Some(c), Some(k)) => Ok((c.clone(), k.clone())),
        _ => generated(&config.server.data_dir),
    }
}

fn generated(data_dir: &Path) -> Result<(PathBuf, PathBuf), GatewayError> {
    let cert_path = data_dir.join(GENERATED_CERT);
    let key_path = data_dir.join(GENERATED_KEY);
    if cert_path.exists() && key_path.exists() {
        return Ok((cert_path, key_path));
    }
    let names = vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ];
    let generated =
        rcgen::generate_simple_self_signed(names).map_err(|e| GatewayError::Tls(e.to_string()))?;
    std::fs::create_dir_all(data_dir)
        .map_err(|e| GatewayError::Tls(format!("creating {}: {e}", data_dir.display())))?;
    write_private(&key_path, generated.signing_key.serialize_pem().as_bytes())?;
    std::fs::write(&cert_path, generated.cert.pem())
        .map_err(|e| GatewayError::Tls(format!("writing {}: {e}", cert_path.display())))?;
    tracing::info!(cert = %cert_path.display(), "generated a self-signed TLS certificate");
    Ok((cert_path, key_path))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), GatewayError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| GatewayError::Tls(format!("writing {}: {e}", path.display())))?;
    f.write_all(bytes)
        .map_err(|e| GatewayError::Tls(format!("writing {}: {e}", path.display())))
}
