//! Turns configured connections into the PostgreSQL front-end's upstreams.

use std::collections::HashMap;
use vigil_config::{Config, ConnectionKind, TlsMode};
use vigil_pg::backend::{UpstreamConfig, UpstreamTls};

pub fn postgres(config: &Config) -> HashMap<String, UpstreamConfig> {
    config
        .connections
        .iter()
        .filter(|c| c.kind == ConnectionKind::Postgres)
        .map(|c| {
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
            };
            (c.name.clone(), upstream)
        })
        .collect()
}
