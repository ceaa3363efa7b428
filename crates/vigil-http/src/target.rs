//! One `kind = "http"` connection: its base URL, the credential Vigil
//! injects and the client that reaches it (TLS verified against the
//! connection's CA, no redirects followed, no proxy from the environment).

use std::time::Duration;

use base64::Engine;
use reqwest::header::{HeaderName, HeaderValue};
use vigil_core::Secret;

use crate::HttpError;

/// How long connecting to a target may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a target may stay silent while answering.
const READ_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a Kubernetes API server may stay silent: a watch waits for
/// changes (the server itself ends a watch after `timeoutSeconds`, at most
/// its `--min-request-timeout` range of 30 to 60 minutes).
const WATCH_READ_TIMEOUT: Duration = Duration::from_secs(60 * 60);

/// The credential Vigil adds to every request to the target.
#[derive(Clone, Debug)]
pub enum UpstreamAuth {
    Bearer(Secret<String>),
    Basic {
        user: String,
        password: Secret<String>,
    },
    Header {
        name: String,
        value: Secret<String>,
    },
    /// A TLS client certificate and its key, PEM.
    ClientCert {
        cert_pem: Vec<u8>,
        key_pem: Secret<Vec<u8>>,
    },
}

/// What the gateway's configuration says of one HTTP connection.
#[derive(Clone, Debug)]
pub struct HttpTargetConfig {
    pub name: String,
    /// Base URL; `/proxy/<name>/<path>` goes to `<url>/<path>`.
    pub url: String,
    pub auth: Option<UpstreamAuth>,
    /// PEM CA bundle for the target's certificate; system roots when absent.
    pub ca_pem: Option<Vec<u8>>,
    pub max_response_bytes: u64,
    pub graphql: bool,
}

/// A connection ready to use.
pub struct HttpTarget {
    pub name: String,
    base: String,
    /// The header Vigil sets (name, value), when the credential is one.
    header: Option<(HeaderName, HeaderValue)>,
    pub max_response_bytes: u64,
    pub graphql: bool,
    pub(crate) client: reqwest::Client,
    /// What a connection made outside reqwest (a Kubernetes exec's
    /// WebSocket) needs to verify the target and present Vigil's certificate.
    pub(crate) tls: TlsMaterial,
}

/// The connection's CA bundle and client certificate, PEM.
#[derive(Default)]
pub(crate) struct TlsMaterial {
    pub ca_pem: Option<Vec<u8>>,
    pub client: Option<(Vec<u8>, Secret<Vec<u8>>)>,
}

impl HttpTarget {
    pub fn new(config: HttpTargetConfig) -> Result<HttpTarget, HttpError> {
        Self::build(config, READ_TIMEOUT)
    }

    /// A Kubernetes API server: as [`HttpTarget::new`], with a read
    /// timeout a watch can live with.
    pub fn kubernetes(config: HttpTargetConfig) -> Result<HttpTarget, HttpError> {
        Self::build(config, WATCH_READ_TIMEOUT)
    }

    fn build(config: HttpTargetConfig, read_timeout: Duration) -> Result<HttpTarget, HttpError> {
        let setup = |reason: String| HttpError::Setup {
            connection: config.name.clone(),
            reason,
        };
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(CONNECT_TIMEOUT)
            .read_timeout(read_timeout);
        if let Some(pem) = &config.ca_pem {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|_| setup("`ca_file` holds no usable PEM certificate".into()))?;
            builder = builder.tls_certs_only(roots);
        }
        let header = match &config.auth {
            None => None,
            Some(UpstreamAuth::Bearer(token)) => Some((
                reqwest::header::AUTHORIZATION,
                secret_value(&format!("Bearer {}", token.expose()))
                    .ok_or_else(|| setup("`bearer` is not a valid header value".into()))?,
            )),
            Some(UpstreamAuth::Basic { user, password }) => {
                let pair = format!("{user}:{}", password.expose());
                let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
                Some((
                    reqwest::header::AUTHORIZATION,
                    secret_value(&format!("Basic {encoded}"))
                        .ok_or_else(|| setup("the basic credential is not valid".into()))?,
                ))
            }
            Some(UpstreamAuth::Header { name, value }) => Some((
                HeaderName::from_bytes(name.as_bytes())
                    .map_err(|_| setup("`header_name` is not a header name".into()))?,
                secret_value(value.expose())
                    .ok_or_else(|| setup("`header_value` is not a valid header value".into()))?,
            )),
            Some(UpstreamAuth::ClientCert { cert_pem, key_pem }) => {
                let mut pem = cert_pem.clone();
                pem.push(b'\n');
                pem.extend_from_slice(key_pem.expose());
                let identity = reqwest::Identity::from_pem(&pem)
                    .map_err(|_| setup("the client certificate or key is not usable PEM".into()))?;
                builder = builder.identity(identity);
                None
            }
        };
        let client = builder
            .build()
            .map_err(|_| setup("the HTTP client could not be built".into()))?;
        let client_cert = match &config.auth {
            Some(UpstreamAuth::ClientCert { cert_pem, key_pem }) => {
                Some((cert_pem.clone(), key_pem.clone()))
            }
            _ => None,
        };
        Ok(HttpTarget {
            tls: TlsMaterial {
                ca_pem: config.ca_pem.clone(),
                client: client_cert,
            },
            base: config.url.trim_end_matches('/').to_string(),
            name: config.name,
            header,
            max_response_bytes: config.max_response_bytes,
            graphql: config.graphql,
            client,
        })
    }

    /// The URL of a request: the base URL, the canonical path, the query.
    pub(crate) fn url(&self, path: &str, query: Option<&str>) -> String {
        match query {
            Some(q) => format!("{}{path}?{q}", self.base),
            None => format!("{}{path}", self.base),
        }
    }

    /// The URL of a request target (path and query) already in canonical
    /// form, appended to the base URL as it is.
    pub(crate) fn url_of_target(&self, target: &str) -> String {
        format!("{}{target}", self.base)
    }

    /// The header that carries Vigil's credential, if the credential is one.
    pub(crate) fn credential_header(&self) -> Option<&(HeaderName, HeaderValue)> {
        self.header.as_ref()
    }
}

/// A header value marked sensitive (HTTP/2 never indexes it; Debug hides it).
fn secret_value(text: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(text).ok()?;
    value.set_sensitive(true);
    Some(value)
}
