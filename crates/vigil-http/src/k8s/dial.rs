//! The upstream half of an exec or attach: a WebSocket to the API server,
//! with Vigil's credential, over TLS verified against the connection's CA
//! (or the system's roots), offering the channel protocols the caller
//! offered that Vigil can read.

use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

use crate::target::HttpTarget;

/// The byte stream under the WebSocket: TCP, or TLS over TCP.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub type Upstream = WebSocketStream<Box<dyn Io>>;

/// The largest WebSocket message relayed either way.
pub const MAX_MESSAGE: usize = 4 * 1024 * 1024;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the API server's WebSocket could not be opened. The message is one
/// a caller may read (the API server's own `Status` message, or Vigil's).
#[derive(Debug)]
pub struct DialError {
    pub code: u16,
    pub message: String,
}

impl DialError {
    fn vigil(message: &str) -> Self {
        DialError {
            code: 502,
            message: format!("vigil: {message}"),
        }
    }
}

pub fn config() -> WebSocketConfig {
    WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE))
}

/// Opens the WebSocket for `target_path` (path and query, canonical);
/// returns it and the protocol the API server chose.
pub async fn websocket(
    target: &HttpTarget,
    target_path: &str,
    protocols: &[&str],
) -> Result<(Upstream, String), DialError> {
    let url = target.url_of_target(target_path);
    let (tls, rest) = if let Some(rest) = url.strip_prefix("https://") {
        (true, rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        (false, rest)
    } else {
        return Err(DialError::vigil("the connection's url is not http(s)"));
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let (host, port) = split_authority(authority, if tls { 443 } else { 80 })
        .ok_or_else(|| DialError::vigil("the connection's url has no usable host"))?;
    let ws_url = format!("{}://{rest}", if tls { "wss" } else { "ws" });
    let mut request = ws_url
        .into_client_request()
        .map_err(|_| DialError::vigil("the exec request could not be built"))?;
    let joined = HeaderValue::from_str(&protocols.join(", "))
        .map_err(|_| DialError::vigil("the exec request could not be built"))?;
    request
        .headers_mut()
        .insert("sec-websocket-protocol", joined);
    if let Some((name, value)) = target.credential_header() {
        request.headers_mut().insert(name.clone(), value.clone());
    }
    let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
        .await
        .map_err(|_| DialError::vigil("the API server did not answer in time"))?
        .map_err(|_| DialError::vigil("the API server could not be reached"))?;
    let _ = tcp.set_nodelay(true);
    let io: Box<dyn Io> = if tls {
        let config = client_tls(target)?;
        let name = ServerName::try_from(host.clone())
            .map_err(|_| DialError::vigil("the connection's host is not a TLS name"))?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|_| DialError::vigil("TLS to the API server failed"))?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    match tokio_tungstenite::client_async_with_config(request, io, Some(config())).await {
        Ok((socket, response)) => {
            let chosen = response
                .headers()
                .get("sec-websocket-protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|p| protocols.contains(p))
                .ok_or_else(|| {
                    DialError::vigil("the API server chose no channel protocol Vigil offered")
                })?;
            Ok((socket, chosen.to_string()))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            let code = response.status().as_u16();
            let message = response
                .body()
                .as_deref()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok())
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| format!("the API server refused the exec ({code})"));
            Err(DialError { code, message })
        }
        Err(_) => Err(DialError::vigil(
            "the API server's WebSocket could not be opened",
        )),
    }
}

/// `host:port`, `[v6]:port` or a bare host.
fn split_authority(authority: &str, default_port: u16) -> Option<(String, u16)> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None => default_port,
        };
        return Some((host.to_string(), port));
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None if !authority.is_empty() => Some((authority.to_string(), default_port)),
        None => None,
    }
}

fn client_tls(target: &HttpTarget) -> Result<rustls::ClientConfig, DialError> {
    let mut roots = rustls::RootCertStore::empty();
    match &target.tls.ca_pem {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem).flatten() {
                let _ = roots.add(cert);
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    if roots.is_empty() {
        return Err(DialError::vigil(
            "no CA certificate to verify the API server with",
        ));
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| DialError::vigil("TLS could not be set up"))?
        .with_root_certificates(roots);
    match &target.tls.client {
        None => Ok(builder.with_no_client_auth()),
        Some((cert_pem, key_pem)) => {
            let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(cert_pem)
                .collect::<Result<_, _>>()
                .map_err(|_| DialError::vigil("the client certificate is not usable PEM"))?;
            let key = PrivateKeyDer::from_pem_slice(key_pem.expose())
                .map_err(|_| DialError::vigil("the client key is not usable PEM"))?;
            builder
                .with_client_auth_cert(certs, key)
                .map_err(|_| DialError::vigil("the client certificate is not usable"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::split_authority;

    #[test]
    fn authorities_split_into_host_and_port() {
        assert_eq!(
            split_authority("10.0.0.9:6443", 443),
            Some(("10.0.0.9".into(), 6443))
        );
        assert_eq!(
            split_authority("kube.internal", 443),
            Some(("kube.internal".into(), 443))
        );
        assert_eq!(
            split_authority("[::1]:8443", 443),
            Some(("::1".into(), 8443))
        );
        assert_eq!(split_authority("[::1]", 80), Some(("::1".into(), 80)));
        assert_eq!(split_authority("host:notaport", 80), None);
        assert_eq!(split_authority("", 80), None);
    }
}
