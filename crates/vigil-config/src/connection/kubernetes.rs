//! `kind = "kubernetes"`: a Kubernetes API server, served under
//! `/k8s/<connection>/` by the HTTP front-end.

use std::ops::Range;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;
use vigil_core::Secret;

use super::{ClientCert, Invalid, check_target_url, pair};
use crate::expand::{Str, with};

/// `kind = "kubernetes"`: the API server and the credential Vigil injects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KubernetesOptions {
    /// The API server's URL (`https://10.0.0.9:6443`).
    pub url: String,
    /// CA bundle for the API server's certificate; the system roots when absent.
    pub ca_file: Option<PathBuf>,
    pub auth: KubernetesAuth,
}

impl KubernetesOptions {
    /// The keys of a `kubernetes` connection besides `name`, `kind` and `via`.
    pub const KEYS: &'static [&'static str] = &[
        "url",
        "ca_file",
        "bearer",
        "client_cert_file",
        "client_key_file",
    ];
}

/// How Vigil authenticates to the API server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KubernetesAuth {
    /// A service account token.
    Bearer(Secret<String>),
    /// A client certificate.
    ClientCert(ClientCert),
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKubernetes {
    url: Spanned<Str>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    ca_file: Option<PathBuf>,
    #[serde(default)]
    bearer: Option<Spanned<Str>>,
    #[serde(default)]
    client_cert_file: Option<Spanned<Str>>,
    #[serde(default)]
    client_key_file: Option<Spanned<Str>>,
}

impl RawKubernetes {
    pub(crate) fn check(self, table: &Range<usize>) -> Result<KubernetesOptions, Invalid> {
        check_target_url(&self.url.get_ref().0).map_err(|m| (self.url.span(), m))?;
        let cert = pair(
            ("client_cert_file", self.client_cert_file),
            ("client_key_file", self.client_key_file),
        )?;
        let auth = match (self.bearer, cert) {
            (Some(bearer), None) => KubernetesAuth::Bearer(Secret::new(bearer.into_inner().0)),
            (None, Some((cert, key))) => KubernetesAuth::ClientCert(ClientCert {
                cert_file: PathBuf::from(cert),
                key_file: PathBuf::from(key),
            }),
            (Some(bearer), Some(_)) => {
                return Err((
                    bearer.span(),
                    "give `bearer` or `client_cert_file` + `client_key_file`, not both".to_owned(),
                ));
            }
            (None, None) => {
                return Err((
                    table.clone(),
                    "a `kubernetes` connection needs `bearer` or `client_cert_file` + `client_key_file`"
                        .to_owned(),
                ));
            }
        };
        Ok(KubernetesOptions {
            url: self.url.into_inner().0,
            ca_file: self.ca_file,
            auth,
        })
    }
}
