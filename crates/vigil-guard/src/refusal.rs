//! Why an action was refused, classed so each front-end can answer in its
//! own protocol's words (a SQLSTATE, an HTTP status, an SSH exit status, an
//! MCP outcome) without the guard knowing any of them.

/// What kind of refusal this is. Front-ends map it to their error form;
/// the guard never names a protocol's codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalClass {
    /// A policy rule (a `deny`, or a `review` that did not pass).
    Policy,
    /// The action could not be analysed, so policy could not see it.
    Analysis,
    /// A resource limit of the gateway (prepared statements, bytes held).
    Limit,
    /// A protocol step policy cannot speak about (a fast-path call, a
    /// portal the gateway never saw).
    Protocol,
    /// A step whose effect the gateway cannot mirror exactly, so it is not
    /// supported (PostgreSQL: `0A000`).
    Unsupported,
    /// The ledger could not record the decision: nothing is forwarded.
    LedgerUnavailable,
    /// The session's credential expired (or could not be re-checked).
    IdentityExpired,
    /// The session's credential was revoked.
    IdentityRevoked,
}

impl RefusalClass {
    /// The rule name the ledger records for a refusal policy did not make.
    pub fn rule(self) -> &'static str {
        match self {
            RefusalClass::Policy => "policy",
            RefusalClass::Analysis => "analysis",
            RefusalClass::Limit => "limits",
            RefusalClass::Protocol | RefusalClass::Unsupported => "protocol",
            RefusalClass::LedgerUnavailable => "ledger",
            RefusalClass::IdentityExpired | RefusalClass::IdentityRevoked => crate::EXPIRED_RULE,
        }
    }
}

/// Why an action was refused, in words a client may see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub class: RefusalClass,
    pub rule: String,
    pub reason: String,
}

impl Refusal {
    /// A refusal by the policy rule `rule`.
    pub fn policy(rule: impl Into<String>, reason: impl Into<String>) -> Self {
        Refusal {
            class: RefusalClass::Policy,
            rule: rule.into(),
            reason: reason.into(),
        }
    }

    /// The message ARCHITECTURE.md fixes for every protocol.
    pub fn message(&self) -> String {
        format!("vigil: denied by rule '{}': {}", self.rule, self.reason)
    }
}

/// An operation refused before or outside policy: it could not be
/// analysed, it is a protocol step with nothing to analyse, or it is past a
/// limit. [`Guard::refuse`](crate::Guard::refuse) records it like any other
/// refused statement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unpolicied<'a> {
    pub class: RefusalClass,
    /// What the client sent, as the ledger shows it.
    pub text: &'a str,
    /// The statement kind the ledger shows (`unknown`, `parse`, `bind`, ...).
    pub kind: &'a str,
    pub reason: String,
}

impl<'a> Unpolicied<'a> {
    /// A statement the analyser could not read (`error` says why): fail closed.
    pub fn unanalysable(text: &'a str, error: &str) -> Self {
        Unpolicied {
            class: RefusalClass::Analysis,
            text,
            kind: "unknown",
            reason: format!("the statement could not be analysed: {error}"),
        }
    }

    /// A protocol step of `kind` refused with `reason`, of `class`.
    pub fn step(class: RefusalClass, text: &'a str, kind: &'a str, reason: &str) -> Self {
        Unpolicied {
            class,
            text,
            kind,
            reason: reason.to_string(),
        }
    }
}
