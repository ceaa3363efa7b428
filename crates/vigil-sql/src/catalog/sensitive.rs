//! System catalogs whose contents are secrets or copies of user data:
//! reading them is never plain `read_only` (policy may still allow it
//! explicitly, e.g. on `sql.tables_read`), and output lineage treats them as
//! opaque, so a mask that could apply covers every column read from them.
//!
//! A user view that reads one of them is unsafe too (its definition is
//! analysed like a statement). The views of `pg_catalog` and
//! `information_schema` are trusted to hide what they must (`pg_roles` shows
//! `********` for the password it reads from `pg_authid`), so only the system
//! views listed here are sensitive themselves.

/// The relations, as `(schema, name)`: `pg_catalog` relations holding
/// passwords, connection strings, settings values, server configuration
/// files, large-object data, or planner statistics (which hold sample values
/// of any column, masked ones included), and the system views that show them.
pub const SENSITIVE_CATALOGS: &[(&str, &str)] = &[
    // Passwords and connection secrets.
    ("pg_catalog", "pg_authid"),
    ("pg_catalog", "pg_shadow"),
    ("pg_catalog", "pg_user_mapping"),
    ("pg_catalog", "pg_user_mappings"),
    ("information_schema", "_pg_user_mappings"),
    ("information_schema", "user_mapping_options"),
    ("pg_catalog", "pg_subscription"),
    // Per-role and per-database setting values.
    ("pg_catalog", "pg_db_role_setting"),
    // Server configuration files.
    ("pg_catalog", "pg_hba_file_rules"),
    ("pg_catalog", "pg_ident_file_mappings"),
    ("pg_catalog", "pg_file_settings"),
    // Large-object contents, read past their access checks.
    ("pg_catalog", "pg_largeobject"),
    // Planner statistics: most common values, histograms, MCV lists.
    ("pg_catalog", "pg_statistic"),
    ("pg_catalog", "pg_statistic_ext_data"),
    ("pg_catalog", "pg_stats"),
    ("pg_catalog", "pg_stats_ext"),
    ("pg_catalog", "pg_stats_ext_exprs"),
    // Other sessions' statement text, literals included: every Vigil
    // session of a connection logs in as the same upstream role.
    ("pg_catalog", "pg_stat_activity"),
];

/// Built-in functions that read what [`SENSITIVE_CATALOGS`] hold (other
/// sessions' statement text): never read-only.
pub const SENSITIVE_FUNCTIONS: &[&str] = &["pg_stat_get_activity", "pg_stat_get_backend_activity"];

/// Whether a relation as written (`schema` when qualified) is one of
/// [`SENSITIVE_CATALOGS`]. Unqualified names match whatever the schema:
/// `pg_catalog` comes first in every search path unless it is placed
/// explicitly, and a user relation of the same name is treated the same way
/// (fail closed).
pub(crate) fn is_sensitive(schema: Option<&str>, name: &str) -> bool {
    SENSITIVE_CATALOGS
        .iter()
        .any(|(s, n)| *n == name && schema.is_none_or(|schema| schema == *s))
}

/// Whether a relation is a view of the system (`pg_catalog`,
/// `information_schema`), whose definition is trusted to hide what it reads.
pub(crate) fn is_system_schema(schema: &str) -> bool {
    matches!(schema, "pg_catalog" | "information_schema")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualified_unqualified_and_other_schemas() {
        assert!(is_sensitive(None, "pg_authid"));
        assert!(is_sensitive(Some("pg_catalog"), "pg_statistic"));
        assert!(!is_sensitive(Some("public"), "pg_authid"));
        assert!(!is_sensitive(None, "pg_class"));
        assert!(!is_sensitive(Some("pg_catalog"), "PG_AUTHID"));
        assert!(is_sensitive(None, "user_mapping_options"));
        assert!(is_sensitive(
            Some("information_schema"),
            "user_mapping_options"
        ));
        assert!(!is_sensitive(Some("pg_catalog"), "user_mapping_options"));
    }
}
