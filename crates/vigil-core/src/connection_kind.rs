use serde::{Deserialize, Serialize};

/// The protocol a connection speaks: which front-end serves it and which
/// options its `[[connection]]` table takes. Policy sees it as the lower-case
/// string `connection.kind`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConnectionKind {
    #[default]
    Postgres,
    Mysql,
    Ssh,
    Http,
    Kubernetes,
}

impl ConnectionKind {
    /// Every kind, in the order error messages list them.
    pub const ALL: &'static [ConnectionKind] = &[
        ConnectionKind::Postgres,
        ConnectionKind::Mysql,
        ConnectionKind::Ssh,
        ConnectionKind::Http,
        ConnectionKind::Kubernetes,
    ];

    /// The name written in config files, ledgers and CEL (`connection.kind`).
    pub fn as_str(self) -> &'static str {
        match self {
            ConnectionKind::Postgres => "postgres",
            ConnectionKind::Mysql => "mysql",
            ConnectionKind::Ssh => "ssh",
            ConnectionKind::Http => "http",
            ConnectionKind::Kubernetes => "kubernetes",
        }
    }
}

impl std::fmt::Display for ConnectionKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ConnectionKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        ConnectionKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| {
                let accepted: Vec<&str> = ConnectionKind::ALL.iter().map(|k| k.as_str()).collect();
                format!(
                    "unknown connection kind `{s}` (accepted kinds: {})",
                    accepted.join(", ")
                )
            })
    }
}

#[cfg(test)]
mod tests {
    use super::ConnectionKind;

    #[test]
    fn names_round_trip_through_text_and_serde() {
        for kind in ConnectionKind::ALL {
            assert_eq!(kind.as_str().parse::<ConnectionKind>(), Ok(*kind));
            let json = serde_json::to_string(kind).unwrap_or_default();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            let back: Option<ConnectionKind> = serde_json::from_str(&json).ok();
            assert_eq!(back, Some(*kind));
        }
        let err = "oracle".parse::<ConnectionKind>().err().unwrap_or_default();
        assert_eq!(
            err,
            "unknown connection kind `oracle` (accepted kinds: postgres, mysql, ssh, http, kubernetes)"
        );
    }
}
