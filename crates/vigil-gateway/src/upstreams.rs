//! Turns configured connections into the PostgreSQL front-end's upstreams.

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
                },
            )),
            _ => None,
        })
        .collect()
}
