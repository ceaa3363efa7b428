//! Why a policy set was refused at load time.

/// A policy that cannot be compiled. Each variant names the policy (and the
/// rule when there is one) so `vigil policy check` can point at it.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// The rule's `when` does not parse, or names a variable or field that does not exist.
    #[error("policy '{policy}', rule '{rule}': invalid condition: {message}")]
    Cel {
        policy: String,
        rule: String,
        message: String,
    },
    /// A `review` rule that names nobody could never be approved.
    #[error("policy '{policy}', rule '{rule}': a review rule needs at least one reviewer group")]
    NoReviewers { policy: String, rule: String },
    /// Two rules of one policy share a name, so verdicts and approvals could not tell them apart.
    #[error("policy '{policy}': rule name '{rule}' is used twice")]
    DuplicateRule { policy: String, rule: String },
    /// Two policies share a name.
    #[error("policy name '{policy}' is used twice")]
    DuplicatePolicy { policy: String },
    /// A mask names a detector `vigil-mask` does not have.
    #[error("policy '{policy}': unknown mask detector '{detector}' (expected one of: {known})")]
    UnknownDetector {
        policy: String,
        detector: String,
        known: String,
    },
    /// A mask's `json_paths` entry is not RFC 9535 JSONPath.
    #[error(
        "policy '{policy}': mask json_paths entry `{path}` is not a JSONPath (RFC 9535): {message}"
    )]
    BadJsonPath {
        policy: String,
        path: String,
        message: String,
    },
}
