use serde::{Deserialize, Serialize};

/// The protocol a client reached Vigil with: a label of sessions and
/// rejected logins in the ledger and the metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// The PostgreSQL wire protocol (psql, drivers, pools).
    Postgres,
    /// The MySQL/MariaDB wire protocol.
    Mysql,
    /// SSH (exec, shells, SFTP).
    Ssh,
    /// The HTTP API proxy.
    Http,
    /// The Kubernetes API proxy.
    Kubernetes,
    /// MCP tool calls over streamable HTTP.
    Mcp,
    /// Vigil's own REST API (`/api/v1`).
    Rest,
}

impl Protocol {
    /// The ledger's and the metrics' spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Postgres => "postgres",
            Protocol::Mysql => "mysql",
            Protocol::Ssh => "ssh",
            Protocol::Http => "http",
            Protocol::Kubernetes => "kubernetes",
            Protocol::Mcp => "mcp",
            Protocol::Rest => "rest",
        }
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Protocol;

    #[test]
    fn the_ledger_spells_protocols_in_lower_case() {
        for p in [
            Protocol::Postgres,
            Protocol::Mcp,
            Protocol::Rest,
            Protocol::Ssh,
        ] {
            let json = serde_json::to_string(&p).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", p.as_str()));
        }
    }
}
