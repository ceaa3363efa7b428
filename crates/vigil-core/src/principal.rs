use serde::{Deserialize, Serialize};

/// Whether an identity belongs to a person or to an autonomous agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum PrincipalKind {
    Human,
    #[default]
    Agent,
}

impl PrincipalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Human => "human",
            PrincipalKind::Agent => "agent",
        }
    }
}

impl std::str::FromStr for PrincipalKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "human" => Ok(PrincipalKind::Human),
            "agent" => Ok(PrincipalKind::Agent),
            other => Err(format!("expected `agent` or `human`, found `{other}`")),
        }
    }
}

/// What is known about an authenticated identity: what policy speaks about
/// and what the ledger keeps.
///
/// A record proves nothing by itself: sessions are opened for a
/// `vigil_identity::Principal`, which only the identity gate makes from a
/// credential and which reads as this record.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrincipalRecord {
    pub name: String,
    pub groups: Vec<String>,
    pub kind: PrincipalKind,
    /// Where the identity came from: `vigil` for Vigil tokens, the issuer URL for OIDC.
    pub issuer: String,
    /// Ties the events of one agent run together, when the client says so
    /// (set in the ledger's copy from the session's login input).
    pub run_id: Option<String>,
    /// The credential's subject at its issuer (OIDC `sub`), which may differ
    /// from `name` when the issuer's `name_claim` is `email` or similar.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// When the session's statements stop being accepted (Unix ms): an OIDC
    /// token's `exp` plus the issuer's leeway and grace. `None`: no deadline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at_ms: Option<i64>,
    /// The verified claims of an OIDC token, for policy (`principal.claims`).
    /// Not serialised: the ledger keeps name, issuer and subject, not every claim.
    #[serde(skip)]
    pub claims: Option<serde_json::Value>,
}

impl PrincipalRecord {
    pub fn in_group(&self, group: &str) -> bool {
        self.groups.iter().any(|g| g == group)
    }

    /// Who this is, whatever they are called: see [`IdentityKey`].
    pub fn identity(&self) -> IdentityKey {
        IdentityKey {
            issuer: self.issuer.clone(),
            subject: self.subject.clone().unwrap_or_else(|| self.name.clone()),
        }
    }
}

/// A person or agent as its issuer knows it: the issuer that vouched (`vigil`
/// for Vigil tokens, the OIDC `iss`) and the subject there (the token's name,
/// the OIDC `sub`). Approvals, grants and the self-approval check compare
/// these, never bare names: an OIDC "alice" and a Vigil token named "alice"
/// are different people.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct IdentityKey {
    pub issuer: String,
    pub subject: String,
}
