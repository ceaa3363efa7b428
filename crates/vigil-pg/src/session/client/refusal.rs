//! How the guard's refusals read in PostgreSQL's words: each class of
//! refusal is one SQLSTATE, here and nowhere else.

use vigil_core::{ActionKind, SqlFacts};
use vigil_guard::RefusalClass;

/// The SQLSTATE a client gets for a refusal of `class`.
pub(super) fn sqlstate(class: RefusalClass) -> &'static str {
    match class {
        // insufficient_privilege
        RefusalClass::Policy
        | RefusalClass::Analysis
        | RefusalClass::Protocol
        | RefusalClass::IdentityExpired
        | RefusalClass::IdentityRevoked => "42501",
        // too_many_connections' class: configuration_limit_exceeded
        RefusalClass::Limit => "53400",
        // feature_not_supported
        RefusalClass::Unsupported => "0A000",
        // system_error
        RefusalClass::LedgerUnavailable => "58000",
        _ => "42501",
    }
}

/// The guard's actions for the statements of one message.
pub(super) fn actions(facts: &[SqlFacts]) -> Vec<ActionKind> {
    facts.iter().cloned().map(ActionKind::Sql).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_class_has_its_sqlstate() {
        assert_eq!(sqlstate(RefusalClass::Policy), "42501");
        assert_eq!(sqlstate(RefusalClass::Limit), "53400");
        assert_eq!(sqlstate(RefusalClass::Unsupported), "0A000");
        assert_eq!(sqlstate(RefusalClass::LedgerUnavailable), "58000");
    }
}
