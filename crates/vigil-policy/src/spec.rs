//! The policy as written: plain data, before any CEL is compiled.
//!
//! `vigil-config` builds these from the TOML file; tests and the admin API may
//! build them directly. [`crate::PolicySet::compile`] turns them into the form
//! the guard evaluates.

use std::time::Duration;
use vigil_core::ReviewMode;

/// How long a review waits for a reviewer when the rule does not say.
pub const DEFAULT_REVIEW_TIMEOUT: Duration = Duration::from_secs(5 * 60);
/// How long an approval stays usable when the rule does not say.
pub const DEFAULT_APPROVAL_VALID_FOR: Duration = Duration::from_secs(15 * 60);

/// One `[[policy]]`: who it speaks about, where, and its rules and masks.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PolicySpec {
    pub name: String,
    /// Free text for people reading the config; not used in decisions.
    pub description: Option<String>,
    /// Principal groups the policy applies to; empty or `"*"` means everyone.
    pub groups: Vec<String>,
    /// Connection names or globs (`*`, `?`); empty means every connection.
    pub connections: Vec<String>,
    pub rules: Vec<RuleSpec>,
    pub masks: Vec<MaskSpec>,
    /// `k8s_secrets = "reveal"`: the principals it speaks about read the
    /// values of Kubernetes Secrets on its connections; without it (the
    /// default) they are masked.
    pub reveal_k8s_secrets: bool,
}

/// What a matching rule asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    #[default]
    Deny,
    Review,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
            Effect::Review => "review",
        }
    }
}

impl std::str::FromStr for Effect {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "allow" => Ok(Effect::Allow),
            "deny" => Ok(Effect::Deny),
            "review" => Ok(Effect::Review),
            other => Err(format!(
                "expected `allow`, `deny` or `review`, found `{other}`"
            )),
        }
    }
}

/// One `[[policy.rule]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RuleSpec {
    pub name: String,
    pub effect: Effect,
    /// A CEL condition; `None` matches every action.
    pub when: Option<String>,
    /// Shown to the client on deny and to reviewers on review.
    pub reason: Option<String>,
    /// Groups whose members may decide a review.
    pub reviewers: Vec<String>,
    pub mode: ReviewMode,
    /// How long a held statement waits for a decision.
    pub timeout: Duration,
    /// How long an approval stays usable once given (retry mode).
    pub valid_for: Duration,
}

impl Default for RuleSpec {
    fn default() -> Self {
        Self {
            name: String::new(),
            effect: Effect::Deny,
            when: None,
            reason: None,
            reviewers: Vec::new(),
            mode: ReviewMode::Hold,
            timeout: DEFAULT_REVIEW_TIMEOUT,
            valid_for: DEFAULT_APPROVAL_VALID_FOR,
        }
    }
}

impl RuleSpec {
    /// A rule with the given name, effect and condition, other fields defaulted.
    pub fn new(name: impl Into<String>, effect: Effect, when: Option<&str>) -> Self {
        Self {
            name: name.into(),
            effect,
            when: when.map(str::to_owned),
            ..Self::default()
        }
    }
}

/// How a masked value is rewritten.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum MaskStyle {
    /// Replaced by a fixed marker.
    #[default]
    Redact,
    /// Keeps a few characters (`j***@example.com`).
    Partial,
    /// A stable keyed hash, so equal values still join.
    Hash,
    /// SQL NULL.
    Null,
}

impl MaskStyle {
    pub fn as_str(self) -> &'static str {
        match self {
            MaskStyle::Redact => "redact",
            MaskStyle::Partial => "partial",
            MaskStyle::Hash => "hash",
            MaskStyle::Null => "null",
        }
    }
}

impl std::str::FromStr for MaskStyle {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "redact" => Ok(MaskStyle::Redact),
            "partial" => Ok(MaskStyle::Partial),
            "hash" => Ok(MaskStyle::Hash),
            "null" => Ok(MaskStyle::Null),
            other => Err(format!(
                "expected `redact`, `partial`, `hash` or `null`, found `{other}`"
            )),
        }
    }
}

/// Content detectors a mask may name; `vigil-mask` implements each.
pub const KNOWN_DETECTORS: &[&str] = &[
    "email",
    "phone",
    "credit_card",
    "iban",
    "ssn",
    "ip",
    "aws_key",
    "secret_key",
    "jwt",
    "pem_private_key",
];

/// One `[[policy.mask]]`: columns (`table.column`, globs allowed), content
/// detectors, and JSONPath expressions (RFC 9535) for JSON answers.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MaskSpec {
    pub columns: Vec<String>,
    pub detectors: Vec<String>,
    pub style: MaskStyle,
    /// Nodes of an HTTP connection's JSON answers masked whole
    /// (`$..email`, `$.items[*].ssn`).
    pub json_paths: Vec<String>,
}
