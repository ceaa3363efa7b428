//! Where each policy, rule and connection was written, so errors found by `vigil-policy`
//! (which knows names, not lines) can still say `file:line:col`.

use std::collections::HashMap;
use std::path::Path;

use vigil_policy::PolicyError;

use crate::{ConfigError, Location};

#[derive(Clone, Debug, Default)]
pub(crate) struct Locations {
    policies: HashMap<String, Location>,
    /// (policy, rule) → the rule's `name`, and its `when` if it has one.
    rules: HashMap<(String, String), (Location, Option<Location>)>,
    /// connection → its `kind`, and its `via` if it has one.
    connections: HashMap<String, (Location, Option<Location>)>,
}

impl Locations {
    pub fn add_policy(&mut self, policy: &str, at: Location) {
        self.policies.entry(policy.to_owned()).or_insert(at);
    }

    pub fn add_rule(&mut self, policy: &str, rule: &str, name: Location, when: Option<Location>) {
        self.rules
            .entry((policy.to_owned(), rule.to_owned()))
            .or_insert((name, when));
    }

    pub fn add_connection(&mut self, name: &str, kind: Location, via: Option<Location>) {
        self.connections
            .entry(name.to_owned())
            .or_insert((kind, via));
    }

    /// Where connection `name` wrote its `kind` and `via` (the file's start
    /// for a connection that was not loaded from it).
    pub fn connection(&self, name: &str) -> (Location, Option<Location>) {
        self.connections
            .get(name)
            .copied()
            .unwrap_or((Location { line: 1, col: 1 }, None))
    }

    pub fn locate(&self, file: &Path, error: &PolicyError) -> ConfigError {
        let start = Location { line: 1, col: 1 };
        let rule = |policy: &str, rule: &str| {
            self.rules
                .get(&(policy.to_owned(), rule.to_owned()))
                .copied()
        };
        let policy = |policy: &str| self.policies.get(policy).copied().unwrap_or(start);
        let at = match error {
            PolicyError::Cel {
                policy: p, rule: r, ..
            } => rule(p, r).map_or_else(|| policy(p), |(name, when)| when.unwrap_or(name)),
            PolicyError::NoReviewers { policy: p, rule: r }
            | PolicyError::DuplicateRule { policy: p, rule: r } => {
                rule(p, r).map_or_else(|| policy(p), |(name, _)| name)
            }
            PolicyError::DuplicatePolicy { policy: p }
            | PolicyError::UnknownDetector { policy: p, .. }
            | PolicyError::BadJsonPath { policy: p, .. } => policy(p),
        };
        ConfigError::at(file, at, error)
    }
}
