use crate::VerdictKind;
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How a `review` rule holds an operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ReviewMode {
    /// The client waits until a reviewer decides.
    #[default]
    Hold,
    /// Refused at once with the approval id; the identical retry passes once approved.
    Retry,
}

/// The guard's answer for one action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Allow {
        rule: String,
    },
    Deny {
        rule: String,
        reason: String,
    },
    Review {
        rule: String,
        reason: String,
        reviewers: Vec<String>,
        mode: ReviewMode,
        timeout: Duration,
        /// How long an approval stays usable once given (retry mode).
        valid_for: Duration,
    },
}

impl Verdict {
    pub fn rule(&self) -> &str {
        match self {
            Verdict::Allow { rule } | Verdict::Deny { rule, .. } | Verdict::Review { rule, .. } => {
                rule
            }
        }
    }

    pub fn kind(&self) -> VerdictKind {
        match self {
            Verdict::Allow { .. } => VerdictKind::Allow,
            Verdict::Deny { .. } => VerdictKind::Deny,
            Verdict::Review { .. } => VerdictKind::Review,
        }
    }

    pub fn label(&self) -> &'static str {
        self.kind().as_str()
    }
}
