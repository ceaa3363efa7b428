//! Vigil's policy: compiled once at load, evaluated for every action.
//!
//! Pure: no I/O and no async, so it can be fuzzed and property-tested. A
//! [`PolicySet`] is built from [`PolicySpec`]s (usually by `vigil-config`);
//! CEL conditions are parsed and their names checked once, in
//! [`PolicySet::compile`], so a typo is a load error rather than a deny on
//! every statement. [`PolicySet::evaluate`] then only builds the variables
//! the applicable rules read and runs them, and reuses the answer for a
//! statement of the same shape when those rules read nothing that changes
//! between statements (the verdict cache, which a new set starts empty).

mod activation;
mod cache;
mod check;
mod error;
mod glob;
mod set;
mod spec;

pub use error::PolicyError;
pub use glob::glob_match;
pub use set::{DEFAULT_DENY_RULE, EvalInput, Evaluation, PolicySet};
pub use spec::{
    DEFAULT_APPROVAL_VALID_FOR, DEFAULT_REVIEW_TIMEOUT, Effect, KNOWN_DETECTORS, MaskSpec,
    MaskStyle, PolicySpec, RuleSpec,
};

/// Checks one `[[policy.mask]] json_paths` entry: an RFC 9535 JSONPath, or
/// a message saying why not.
pub fn check_json_path(path: &str) -> Result<(), String> {
    serde_json_path::JsonPath::parse(path)
        .map(|_| ())
        .map_err(|e| format!("`{path}` is not a JSONPath (RFC 9535): {e}"))
}

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn policy_set_is_shareable_across_sessions() {
        assert_send_sync::<crate::PolicySet>();
    }
}
