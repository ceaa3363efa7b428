//! What a principal may reach, for front-ends that list it (MCP's
//! `list_connections` and `tools/list`). Listing decides nothing: every
//! session still goes through [`Guard::open_session`].

use crate::Guard;
use crate::Principal;
use vigil_core::ConnectionRef;

impl Guard {
    /// The configured connections some policy grants `principal` (names and
    /// globs resolved), sorted by name.
    pub fn connections_for(&self, principal: &Principal) -> Vec<ConnectionRef> {
        let mut granted: Vec<ConnectionRef> = self
            .connections
            .values()
            .filter(|c| self.policies.grants(principal, &c.name))
            .cloned()
            .collect();
        granted.sort_by(|a, b| a.name.cmp(&b.name));
        granted
    }

    /// Whether review rules can hold requests (the store keeps approvals).
    pub fn approvals_supported(&self) -> bool {
        self.store.approvals().is_some()
    }
}
