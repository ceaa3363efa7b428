//! What Vigil's greeting says it is. Drivers choose their dialect and their
//! first authentication method from the greeting's version string, which is
//! sent before the client names its connection (and before TLS); so Vigil
//! announces its targets' version when they all agree (read from each
//! target's greeting when the listener starts, and again at every login to
//! it), and a MariaDB version of its own otherwise. Only the family and the
//! `major.minor.patch` are announced (`5.5.5-10.11.6-MariaDB`, `8.0.36`),
//! never the build suffix (`-0+deb12u1`, `-log`): enough for a driver's
//! dialect, less for whoever probes the port.

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
        let Some(version) = normalised(version) else {
            return;
        };
        let version = version.as_str();
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

/// The family and `major.minor.patch` of a target's version string; `None`
/// when it has no such number.
fn normalised(version: &str) -> Option<String> {
    let target = Target::from_server_version(version);
    let v = target.version?;
    let number = format!("{}.{}.{}", v / 10_000, v / 100 % 100, v % 100);
    Some(match target.flavor {
        // MariaDB prefixes 5.5.5- for clients that expect a MySQL 5 version.
        Flavor::Mariadb if version.starts_with("5.5.5-") => format!("5.5.5-{number}-MariaDB"),
        Flavor::Mariadb => format!("{number}-MariaDB"),
        Flavor::Mysql => number,
    })
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
        a.seen("crm", "5.5.5-10.11.6-MariaDB-1~bookworm");
        // The family and number only: the build suffix is not announced.
        assert_eq!(
            a.greeting(),
            ("5.5.5-10.11.6-MariaDB".to_string(), "mysql_native_password")
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
            ("5.7.44".to_string(), "mysql_native_password")
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
        a.seen("big", "429497.0.0");
        a.seen("none", "no version");
        assert_eq!(a.greeting().0, OWN_VERSION);
    }
}
