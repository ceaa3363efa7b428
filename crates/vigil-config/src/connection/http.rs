//! `kind = "http"`: an HTTP API, served by `vigil-http` under
//! `/proxy/<connection>/` on the HTTP listener.

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;
use vigil_core::Secret;

use super::{ClientCert, Invalid, check_target_url, pair};
use crate::expand::{Str, with};

/// What `max_response_bytes` is when absent: 64 MiB.
pub const DEFAULT_MAX_RESPONSE_BYTES: u64 = 64 * 1024 * 1024;

/// `kind = "http"`: the target's base URL and the credential Vigil injects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpOptions {
    /// Base URL; `/proxy/<connection>/<path>` is forwarded to `<url>/<path>`.
    pub url: String,
    /// `None`: Vigil adds no credential.
    pub auth: Option<HttpAuth>,
    /// CA bundle for the target's certificate; the system roots when absent.
    pub ca_file: Option<PathBuf>,
    /// Largest response body Vigil relays (and masks).
    pub max_response_bytes: u64,
    /// Requests are GraphQL: `http.graphql.operation` is set.
    pub graphql: bool,
}

impl HttpOptions {
    /// The keys of an `http` connection besides `name`, `kind` and `via`.
    pub const KEYS: &'static [&'static str] = &[
        "url",
        "bearer",
        "basic_user",
        "basic_password",
        "header_name",
        "header_value",
        "client_cert_file",
        "client_key_file",
        "ca_file",
        "max_response_bytes",
        "graphql",
    ];
}

/// The credential Vigil adds to each request; secrets never print.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HttpAuth {
    /// `Authorization: Bearer <token>`.
    Bearer(Secret<String>),
    /// `Authorization: Basic ...`.
    Basic {
        user: String,
        password: Secret<String>,
    },
    /// One header of the target's choosing (`X-Api-Key: ...`).
    Header { name: String, value: Secret<String> },
    /// A TLS client certificate.
    ClientCert(ClientCert),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawHttp {
    url: Spanned<Str>,
    #[serde(default)]
    bearer: Option<Spanned<Str>>,
    #[serde(default)]
    basic_user: Option<Spanned<Str>>,
    #[serde(default)]
    basic_password: Option<Spanned<Str>>,
    #[serde(default)]
    header_name: Option<Spanned<Str>>,
    #[serde(default)]
    header_value: Option<Spanned<Str>>,
    #[serde(default)]
    client_cert_file: Option<Spanned<Str>>,
    #[serde(default)]
    client_key_file: Option<Spanned<Str>>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    max_response_bytes: Option<Spanned<u64>>,
    #[serde(default)]
    graphql: bool,
}

impl RawHttp {
    pub(crate) fn check(self, _table: &Range<usize>) -> Result<HttpOptions, Invalid> {
        check_target_url(&self.url.get_ref().0).map_err(|m| (self.url.span(), m))?;
        let mut given: Vec<(Range<usize>, HttpAuth)> = Vec::new();
        if let Some(bearer) = self.bearer {
            given.push((
                bearer.span(),
                HttpAuth::Bearer(Secret::new(bearer.into_inner().0)),
            ));
        }
        let basic_span = self.basic_user.as_ref().map(Spanned::span);
        if let Some((user, password)) = pair(
            ("basic_user", self.basic_user),
            ("basic_password", self.basic_password),
        )? {
            let span = basic_span.unwrap_or_default();
            if user.contains(':') {
                return Err((span, "`basic_user` must not contain `:`".to_owned()));
            }
            let password = Secret::new(password);
            given.push((span, HttpAuth::Basic { user, password }));
        }
        let header_span = self.header_name.as_ref().map(Spanned::span);
        if let Some((name, value)) = pair(
            ("header_name", self.header_name),
            ("header_value", self.header_value),
        )? {
            let span = header_span.unwrap_or_default();
            if !is_header_name(&name) {
                return Err((
                    span,
                    format!(
                        "`header_name` `{name}` is not an HTTP header name (letters, digits and `-`)"
                    ),
                ));
            }
            let value = Secret::new(value);
            given.push((span, HttpAuth::Header { name, value }));
        }
        let cert_span = self.client_cert_file.as_ref().map(Spanned::span);
        if let Some((cert, key)) = pair(
            ("client_cert_file", self.client_cert_file),
            ("client_key_file", self.client_key_file),
        )? {
            let cert = ClientCert {
                cert_file: PathBuf::from(cert),
                key_file: PathBuf::from(key),
            };
            given.push((cert_span.unwrap_or_default(), HttpAuth::ClientCert(cert)));
        }
        let auth = one_credential(given)?;
        let max_response_bytes = match self.max_response_bytes {
            Some(max) if *max.get_ref() == 0 => {
                return Err((
                    max.span(),
                    "`max_response_bytes` must be at least 1".to_owned(),
                ));
            }
            Some(max) => max.into_inner(),
            None => DEFAULT_MAX_RESPONSE_BYTES,
        };
        Ok(HttpOptions {
            url: self.url.into_inner().0,
            auth,
            ca_file: self.ca_file,
            max_response_bytes,
            graphql: self.graphql,
        })
    }
}

/// At most one credential: a second one is an error at where it is written.
fn one_credential(given: Vec<(Range<usize>, HttpAuth)>) -> Result<Option<HttpAuth>, Invalid> {
    let mut given = given;
    given.sort_by_key(|(span, _)| span.start);
    let mut it = given.into_iter();
    let first = it.next().map(|(_, auth)| auth);
    match it.next() {
        Some((span, _)) => Err((
            span,
            "an `http` connection takes one credential: `bearer`, `basic_user` + `basic_password`, `header_name` + `header_value`, or `client_cert_file` + `client_key_file`"
                .to_owned(),
        )),
        None => Ok(first),
    }
}

fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c))
}
