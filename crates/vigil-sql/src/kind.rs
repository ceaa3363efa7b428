//! Names and classes of the statements that need no tree walk.
//!
//! Every statement listed here is not read-only; `ddl` says whether it
//! changes schema, privileges or server configuration. Statements with
//! read-only forms (SELECT, EXPLAIN, SET, ...) are handled in `facts.rs`.

use pg_query::NodeEnum;
use pg_query::protobuf::ObjectType;

/// The kind of a statement `facts.rs` does not handle itself, and whether it is DDL.
pub(crate) fn utility(node: &NodeEnum) -> (&'static str, bool) {
    use NodeEnum as N;
    match node {
        N::CreateStmt(_) => ("create_table", true),
        N::CreateForeignTableStmt(_) => ("create_foreign_table", true),
        N::IndexStmt(_) => ("create_index", true),
        N::ViewStmt(_) => ("create_view", true),
        N::CreateFunctionStmt(f) if f.is_procedure => ("create_procedure", true),
        N::CreateFunctionStmt(_) => ("create_function", true),
        N::CreateRoleStmt(_) => ("create_role", true),
        N::CreateSchemaStmt(_) => ("create_schema", true),
        N::CreateSeqStmt(_) => ("create_sequence", true),
        N::CreateTrigStmt(_) => ("create_trigger", true),
        N::CreateEventTrigStmt(_) => ("create_event_trigger", true),
        N::CreateExtensionStmt(_) => ("create_extension", true),
        N::CreatedbStmt(_) => ("create_database", true),
        N::CreateDomainStmt(_) => ("create_domain", true),
        N::CompositeTypeStmt(_) | N::CreateEnumStmt(_) | N::CreateRangeStmt(_) => {
            ("create_type", true)
        }
        N::CreatePolicyStmt(_) => ("create_policy", true),
        N::CreatePublicationStmt(_) => ("create_publication", true),
        N::CreateSubscriptionStmt(_) => ("create_subscription", true),
        N::CreateTableSpaceStmt(_) => ("create_tablespace", true),
        N::CreateFdwStmt(_) => ("create_foreign_data_wrapper", true),
        N::CreateForeignServerStmt(_) => ("create_server", true),
        N::CreateUserMappingStmt(_) => ("create_user_mapping", true),
        N::CreateAmStmt(_) => ("create_access_method", true),
        N::CreatePlangStmt(_) => ("create_language", true),
        N::CreateCastStmt(_) => ("create_cast", true),
        N::CreateConversionStmt(_) => ("create_conversion", true),
        N::CreateTransformStmt(_) => ("create_transform", true),
        N::CreateOpClassStmt(_) => ("create_operator_class", true),
        N::CreateOpFamilyStmt(_) => ("create_operator_family", true),
        N::CreateStatsStmt(_) => ("create_statistics", true),
        N::RuleStmt(_) => ("create_rule", true),
        N::DefineStmt(d) => (define_kind(d.kind), true),
        N::AlterTableStmt(a) => (alter_kind(a.objtype), true),
        N::AlterTableMoveAllStmt(_) => ("alter_table", true),
        N::AlterDomainStmt(_) => ("alter_domain", true),
        N::AlterRoleStmt(_) | N::AlterRoleSetStmt(_) => ("alter_role", true),
        N::AlterDatabaseStmt(_)
        | N::AlterDatabaseSetStmt(_)
        | N::AlterDatabaseRefreshCollStmt(_) => ("alter_database", true),
        N::AlterSystemStmt(_) => ("alter_system", true),
        N::AlterSeqStmt(_) => ("alter_sequence", true),
        N::AlterFunctionStmt(_) => ("alter_function", true),
        N::AlterEnumStmt(_) | N::AlterTypeStmt(_) => ("alter_type", true),
        N::AlterExtensionStmt(_) | N::AlterExtensionContentsStmt(_) => ("alter_extension", true),
        N::AlterPolicyStmt(_) => ("alter_policy", true),
        N::AlterPublicationStmt(_) => ("alter_publication", true),
        N::AlterSubscriptionStmt(_) => ("alter_subscription", true),
        N::AlterTableSpaceOptionsStmt(_) => ("alter_tablespace", true),
        N::AlterFdwStmt(_) => ("alter_foreign_data_wrapper", true),
        N::AlterForeignServerStmt(_) => ("alter_server", true),
        N::AlterUserMappingStmt(_) => ("alter_user_mapping", true),
        N::AlterEventTrigStmt(_) => ("alter_event_trigger", true),
        N::AlterOpFamilyStmt(_) => ("alter_operator_family", true),
        N::AlterOperatorStmt(_) => ("alter_operator", true),
        N::AlterStatsStmt(_) => ("alter_statistics", true),
        N::AlterCollationStmt(_) => ("alter_collation", true),
        N::AlterTsdictionaryStmt(_) => ("alter_text_search_dictionary", true),
        N::AlterTsconfigurationStmt(_) => ("alter_text_search_configuration", true),
        N::AlterDefaultPrivilegesStmt(_) => ("alter_default_privileges", true),
        N::AlterObjectDependsStmt(_) => ("alter_object_depends", true),
        N::AlterObjectSchemaStmt(_) => ("alter_object_schema", true),
        N::AlterOwnerStmt(_) => ("alter_owner", true),
        N::ReplicaIdentityStmt(_) => ("alter_table", true),
        N::RenameStmt(_) => ("rename", true),
        N::DropStmt(_) => ("drop", true),
        N::DropRoleStmt(_) => ("drop_role", true),
        N::DropdbStmt(_) => ("drop_database", true),
        N::DropTableSpaceStmt(_) => ("drop_tablespace", true),
        N::DropUserMappingStmt(_) => ("drop_user_mapping", true),
        N::DropSubscriptionStmt(_) => ("drop_subscription", true),
        N::DropOwnedStmt(_) => ("drop_owned", true),
        N::ReassignOwnedStmt(_) => ("reassign_owned", true),
        N::GrantStmt(g) if g.is_grant => ("grant", true),
        N::GrantStmt(_) => ("revoke", true),
        N::GrantRoleStmt(g) if g.is_grant => ("grant", true),
        N::GrantRoleStmt(_) => ("revoke", true),
        N::CommentStmt(_) => ("comment", true),
        N::SecLabelStmt(_) => ("security_label", true),
        N::ImportForeignSchemaStmt(_) => ("import_foreign_schema", true),
        N::TruncateStmt(_) => ("truncate", false),
        N::RefreshMatViewStmt(_) => ("refresh_materialized_view", false),
        N::CallStmt(_) => ("call", false),
        N::DoStmt(_) => ("do", false),
        N::NotifyStmt(_) => ("notify", false),
        N::LockStmt(_) => ("lock", false),
        N::VacuumStmt(v) if v.is_vacuumcmd => ("vacuum", false),
        N::VacuumStmt(_) => ("analyze", false),
        N::ClusterStmt(_) => ("cluster", false),
        N::ReindexStmt(_) => ("reindex", false),
        N::CheckPointStmt(_) => ("checkpoint", false),
        N::LoadStmt(_) => ("load", false),
        N::ConstraintsSetStmt(_) => ("set_constraints", false),
        N::ExecuteStmt(_) => ("execute", false),
        _ => ("unknown", false),
    }
}

fn define_kind(kind: i32) -> &'static str {
    match ObjectType::try_from(kind) {
        Ok(ObjectType::ObjectAggregate) => "create_aggregate",
        Ok(ObjectType::ObjectOperator) => "create_operator",
        Ok(ObjectType::ObjectType) => "create_type",
        Ok(ObjectType::ObjectCollation) => "create_collation",
        Ok(ObjectType::ObjectTsparser) => "create_text_search_parser",
        Ok(ObjectType::ObjectTsdictionary) => "create_text_search_dictionary",
        Ok(ObjectType::ObjectTstemplate) => "create_text_search_template",
        Ok(ObjectType::ObjectTsconfiguration) => "create_text_search_configuration",
        _ => "define",
    }
}

fn alter_kind(objtype: i32) -> &'static str {
    match ObjectType::try_from(objtype) {
        Ok(ObjectType::ObjectIndex) => "alter_index",
        Ok(ObjectType::ObjectView) => "alter_view",
        Ok(ObjectType::ObjectMatview) => "alter_materialized_view",
        Ok(ObjectType::ObjectSequence) => "alter_sequence",
        Ok(ObjectType::ObjectForeignTable) => "alter_foreign_table",
        Ok(ObjectType::ObjectType) => "alter_type",
        _ => "alter_table",
    }
}
