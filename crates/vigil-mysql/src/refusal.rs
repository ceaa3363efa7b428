//! A guard refusal in MySQL's words: an error number, a SQLSTATE and the
//! message every protocol shares.

use crate::wire::err_packet;
use vigil_guard::{Refusal, RefusalClass};

/// ER_SPECIFIC_ACCESS_DENIED_ERROR, the contract's code for a denial.
pub const DENIED: (u16, &str) = (1227, "42000");

/// The error number and SQLSTATE of each class.
pub fn code(class: RefusalClass) -> (u16, &'static str) {
    match class {
        RefusalClass::Policy | RefusalClass::IdentityExpired | RefusalClass::IdentityRevoked => {
            DENIED
        }
        // ER_PARSE_ERROR
        RefusalClass::Analysis => (1064, "42000"),
        // ER_USER_LIMIT_REACHED
        RefusalClass::Limit => (1226, "42000"),
        // ER_UNKNOWN_COM_ERROR
        RefusalClass::Protocol => (1047, "08S01"),
        // ER_NOT_SUPPORTED_YET
        RefusalClass::Unsupported => (1235, "42000"),
        // ER_UNKNOWN_ERROR
        RefusalClass::LedgerUnavailable => (1105, "HY000"),
        _ => DENIED,
    }
}

/// The ERR payload of a refusal.
pub fn packet(refusal: &Refusal) -> Vec<u8> {
    let (code, state) = code(refusal.class);
    err_packet(code, state, &refusal.message())
}

/// The ERR payload when the ledger could not record a decision.
pub fn ledger_down() -> Vec<u8> {
    err_packet(
        1105,
        "HY000",
        "vigil: the audit ledger is unavailable, so nothing can be forwarded",
    )
}
