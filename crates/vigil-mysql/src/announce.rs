//! What Vigil's greeting says it is. Drivers choose their dialect and their
//! first authentication method from the greeting's version string, which is
//! sent before the client names its connection; so Vigil announces its
//! targets' own version when they all agree (read from each target's
//! greeting when the listener starts, and again at every login to it), and
//! a MariaDB version of its own otherwise.

use std::collections::HashMap;
use std::sync::{PoisonError, RwLock};
use vigil_mysql_sql::{Flavor, Target};

/// Announced when the targets' versions are unknown or differ.
pub(crate) const OWN_VERSION: &str = "10.11.99-MariaDB-vigil";
/// The longest target version string mirrored (a greeting allows more).
const MAX_VERSION_LEN: usize = 60;

/// The targets' versions as last seen, by connection name.
#[derive(Default)]
pub(crate) struct Announced {
    versions: RwLock<HashMap<String, String>>,
}

impl Announced {
    /// Records the version `connection`'s target announced. Only configured
    /// connections are recorded, so the map stays as small as the config.
    pub(crate) fn seen(&self, connection: &str, version: &str) {
        if version.len() > MAX_VERSION_LEN || version.bytes().any(|b| !(0x20..0x7f).contains(&b)) {
            return;
        }
        let mut versions = self
            .versions
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        if versions.get(connection).map(String::as_str) != Some(version) {
            versions.insert(connection.to_string(), version.to_string());
        }
    }

    /// The version string and default authentication method to greet with.
    pub(crate) fn greeting(&self) -> (String, &'static str) {
        let versions = self.versions.read().unwrap_or_else(PoisonError::into_inner);
        let mut seen = versions.values();
        let version = match seen.next() {
            Some(first) if seen.all(|v| v == first) => first.clone(),
            _ => OWN_VERSION.to_string(),
        };
        drop(versions);
        let plugin = default_plugin(&version);
        (version, plugin)
    }
}

/// MySQL 8 and later greet with `caching_sha2_password`, and their drivers
/// expect it; MariaDB and older MySQL with `mysql_native_password`.
fn default_plugin(version: &str) -> &'static str {
    let target = Target::from_server_version(version);
    match (target.flavor, target.version) {
        (Flavor::Mysql, Some(v)) if v >= 80000 => crate::client_auth::CACHING_SHA2,
        _ => "mysql_native_password",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_seen_announces_vigils_own_version() {
        let a = Announced::default();
        assert_eq!(
            a.greeting(),
            (OWN_VERSION.to_string(), "mysql_native_password")
        );
    }

    #[test]
    fn targets_that_agree_are_mirrored() {
        let a = Announced::default();
        a.seen("shop", "5.5.5-10.11.6-MariaDB-0+deb12u1");
        a.seen("crm", "5.5.5-10.11.6-MariaDB-0+deb12u1");
        assert_eq!(
            a.greeting(),
            (
                "5.5.5-10.11.6-MariaDB-0+deb12u1".to_string(),
                "mysql_native_password"
            )
        );
    }

    #[test]
    fn a_mysql_8_target_greets_with_caching_sha2() {
        let a = Announced::default();
        a.seen("shop", "8.0.36");
        assert_eq!(
            a.greeting(),
            ("8.0.36".to_string(), "caching_sha2_password")
        );
        a.seen("shop", "5.7.44-log");
        assert_eq!(
            a.greeting(),
            ("5.7.44-log".to_string(), "mysql_native_password")
        );
    }

    #[test]
    fn targets_that_differ_announce_vigils_own_version() {
        let a = Announced::default();
        a.seen("shop", "8.0.36");
        a.seen("crm", "10.11.6-MariaDB");
        assert_eq!(a.greeting().0, OWN_VERSION);
    }

    #[test]
    fn versions_a_greeting_cannot_carry_are_not_mirrored() {
        let a = Announced::default();
        a.seen("shop", "8.0.36\0evil");
        a.seen("crm", &"9".repeat(200));
        assert_eq!(a.greeting().0, OWN_VERSION);
    }
}
