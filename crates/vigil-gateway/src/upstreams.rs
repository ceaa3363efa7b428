//! Turns configured connections into the front-ends' upstreams.

use std::collections::HashMap;
use vigil_config::{Config, TlsMode, UpstreamAuth};
use vigil_pg::backend::{AuthMethods, UpstreamConfig, UpstreamTls};

pub fn postgres(config: &Config) -> HashMap<String, UpstreamConfig> {
    config
        .connections
        .iter()
        .filter_map(|c| c.postgres().map(|options| (&c.name, options)))
        .map(|(name, c)| {
            let tls = match c.tls {
                TlsMode::Disable => UpstreamTls::Disable,
                TlsMode::Prefer => UpstreamTls::Prefer,
                TlsMode::Require => UpstreamTls::Require,
                TlsMode::VerifyFull => UpstreamTls::VerifyFull {
                    ca: c.tls_ca.clone(),
                },
            };
            let upstream = UpstreamConfig {
                address: c.address.clone(),
                database: c.database.clone(),
                user: c.user.clone(),
                password: c.password.clone(),
                tls,
                auth: auth_methods(&c.auth_methods),
            };
            (name.clone(), upstream)
        })
        .collect()
}

/// The connection's `auth_methods`, as the backend checks them.
fn auth_methods(methods: &[UpstreamAuth]) -> AuthMethods {
    AuthMethods {
        scram_sha_256: methods.contains(&UpstreamAuth::ScramSha256),
        md5: methods.contains(&UpstreamAuth::Md5),
        password: methods.contains(&UpstreamAuth::Password),
        trust: methods.contains(&UpstreamAuth::Trust),
    }
}

/// The `kind = "ssh"` connections as the SSH front-end's targets. A key file
/// that cannot be read or a `known_host` that is not a key fails the start.
pub fn ssh(config: &Config) -> Result<Vec<vigil_ssh::SshTarget>, crate::GatewayError> {
    config
        .connections
        .iter()
        .filter_map(|c| c.ssh().map(|options| (&c.name, options)))
        .map(|(name, c)| {
            let fail =
                |reason: String| crate::GatewayError::Ssh(format!("connection `{name}`: {reason}"));
            let auth = match &c.auth {
                vigil_config::SshAuth::PrivateKeyFile(path) => {
                    let key = russh_key(path).map_err(fail)?;
                    vigil_ssh::TargetAuth::Key(std::sync::Arc::new(key))
                }
                vigil_config::SshAuth::Password(p) => vigil_ssh::TargetAuth::Password(p.clone()),
            };
            Ok(vigil_ssh::SshTarget {
                name: name.clone(),
                address: c.address.clone(),
                user: c.user.clone(),
                auth,
                known_host: vigil_ssh::SshTarget::parse_known_host(&c.known_host).map_err(fail)?,
                recording_required: c.recording == vigil_config::SshRecording::Required,
                record_input: c.record_input,
                sftp: match c.sftp {
                    vigil_config::SftpMode::Policy => vigil_ssh::SftpMode::Policy,
                    vigil_config::SftpMode::ReadOnly => vigil_ssh::SftpMode::ReadOnly,
                    vigil_config::SftpMode::Deny => vigil_ssh::SftpMode::Deny,
                },
            })
        })
        .collect()
}

fn russh_key(path: &std::path::Path) -> Result<vigil_ssh::PrivateKey, String> {
    vigil_ssh::load_private_key(path)
        .map_err(|e| format!("cannot read `private_key_file` {}: {e}", path.display()))
}

/// The upstream of each `mysql` connection.
pub fn mysql(config: &Config) -> HashMap<String, vigil_mysql::UpstreamConfig> {
    config
        .connections
        .iter()
        .filter_map(|c| match &c.options {
            vigil_config::ConnectionOptions::Mysql(o) => Some((
                c.name.clone(),
                vigil_mysql::UpstreamConfig {
                    address: o.address.clone(),
                    database: o.database.clone(),
                    user: o.user.clone(),
                    password: o.password.clone(),
                    tls: match o.tls {
                        TlsMode::Disable => vigil_mysql::UpstreamTls::Disable,
                        TlsMode::Prefer => vigil_mysql::UpstreamTls::Prefer,
                        TlsMode::Require => vigil_mysql::UpstreamTls::Require,
                        TlsMode::VerifyFull => vigil_mysql::UpstreamTls::VerifyFull {
                            ca: o.tls_ca.clone(),
                        },
                    },
                    flavor: o.flavor.map(|f| match f {
                        vigil_config::MysqlFlavor::Mariadb => vigil_mysql::Flavor::Mariadb,
                        vigil_config::MysqlFlavor::Mysql => vigil_mysql::Flavor::Mysql,
                    }),
                    mirror_version: o.mirror_version,
                },
            )),
            _ => None,
        })
        .collect()
}

/// The `kind = "http"` connections as the HTTP proxy's targets. A CA or
/// client certificate file that cannot be read fails the start.
pub fn http(config: &Config) -> Result<Vec<vigil_http::HttpTarget>, crate::GatewayError> {
    config
        .connections
        .iter()
        .filter_map(|c| match &c.options {
            vigil_config::ConnectionOptions::Http(o) => Some((&c.name, o)),
            _ => None,
        })
        .map(|(name, c)| {
            let fail = |reason: String| {
                crate::GatewayError::Http(format!("connection `{name}`: {reason}"))
            };
            let read = |key: &str, path: &std::path::Path| {
                std::fs::read(path)
                    .map_err(|e| fail(format!("cannot read `{key}` {}: {e}", path.display())))
            };
            let auth = match &c.auth {
                None => None,
                Some(vigil_config::HttpAuth::Bearer(t)) => {
                    Some(vigil_http::UpstreamAuth::Bearer(t.clone()))
                }
                Some(vigil_config::HttpAuth::Basic { user, password }) => {
                    Some(vigil_http::UpstreamAuth::Basic {
                        user: user.clone(),
                        password: password.clone(),
                    })
                }
                Some(vigil_config::HttpAuth::Header { name, value }) => {
                    Some(vigil_http::UpstreamAuth::Header {
                        name: name.clone(),
                        value: value.clone(),
                    })
                }
                Some(vigil_config::HttpAuth::ClientCert(cert)) => {
                    Some(vigil_http::UpstreamAuth::ClientCert {
                        cert_pem: read("client_cert_file", &cert.cert_file)?,
                        key_pem: vigil_core::Secret::new(read("client_key_file", &cert.key_file)?),
                    })
                }
            };
            let ca_pem = match &c.ca_file {
                Some(path) => Some(read("ca_file", path)?),
                None => None,
            };
            vigil_http::HttpTarget::new(vigil_http::HttpTargetConfig {
                name: name.clone(),
                url: c.url.clone(),
                auth,
                ca_pem,
                max_response_bytes: c.max_response_bytes,
                graphql: c.graphql,
            })
            .map_err(|e| crate::GatewayError::Http(e.to_string()))
        })
        .collect()
}

/// The `kind = "kubernetes"` connections as the Kubernetes proxy's targets.
/// Answers are bounded like an HTTP connection's default
/// `max_response_bytes` (a masked answer is read whole; a watch per event).
pub fn kubernetes(config: &Config) -> Result<Vec<vigil_http::HttpTarget>, crate::GatewayError> {
    config
        .connections
        .iter()
        .filter_map(|c| match &c.options {
            vigil_config::ConnectionOptions::Kubernetes(o) => Some((&c.name, o)),
            _ => None,
        })
        .map(|(name, c)| {
            let fail = |reason: String| {
                crate::GatewayError::Http(format!("connection `{name}`: {reason}"))
            };
            let read = |key: &str, path: &std::path::Path| {
                std::fs::read(path)
                    .map_err(|e| fail(format!("cannot read `{key}` {}: {e}", path.display())))
            };
            let auth = match &c.auth {
                vigil_config::KubernetesAuth::Bearer(t) => {
                    vigil_http::UpstreamAuth::Bearer(t.clone())
                }
                vigil_config::KubernetesAuth::ClientCert(cert) => {
                    vigil_http::UpstreamAuth::ClientCert {
                        cert_pem: read("client_cert_file", &cert.cert_file)?,
                        key_pem: vigil_core::Secret::new(read("client_key_file", &cert.key_file)?),
                    }
                }
            };
            let ca_pem = match &c.ca_file {
                Some(path) => Some(read("ca_file", path)?),
                None => None,
            };
            vigil_http::HttpTarget::kubernetes(vigil_http::HttpTargetConfig {
                name: name.clone(),
                url: c.url.clone(),
                auth: Some(auth),
                ca_pem,
                max_response_bytes: vigil_config::DEFAULT_MAX_RESPONSE_BYTES,
                graphql: false,
            })
            .map_err(|e| crate::GatewayError::Http(e.to_string()))
        })
        .collect()
}
