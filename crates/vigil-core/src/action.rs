use serde::{Deserialize, Serialize};

use crate::ConnectionKind;

/// The connection an action targets, as policy sees it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionRef {
    pub name: String,
    /// `connection.kind` in CEL, as its lower-case name.
    pub kind: ConnectionKind,
}

/// One command a client wants to run, after analysis.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Action {
    pub connection: ConnectionRef,
    pub kind: ActionKind,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ActionKind {
    Sql(SqlFacts),
    Ssh(crate::SshFacts),
    Http(crate::HttpFacts),
    K8s(crate::K8sFacts),
}

/// What one SQL statement does, as the `sql.*` CEL variables expose it.
///
/// `read_only` is sound: true only when the statement provably cannot change
/// data, schema, roles, server settings, files or other sessions.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlFacts {
    /// Lower-case statement kind: `select`, `insert`, `create_table`, `drop`, ...
    pub kind: String,
    pub read_only: bool,
    pub writes: bool,
    pub ddl: bool,
    pub has_where: bool,
    /// `schema.table`; unqualified names are reported as `public.table`.
    pub tables_read: Vec<String>,
    pub tables_written: Vec<String>,
    /// Function names as written, lower case, schema-qualified when the statement qualifies them.
    pub functions: Vec<String>,
    /// Server settings the statement sets or resets, lower case: the name of
    /// a `SET`/`RESET`/`SET LOCAL`/`ALTER SYSTEM` target or of a
    /// `set_config('name', ...)` call, `all` for `RESET ALL`/`DISCARD`, `*`
    /// for a `set_config` whose name is not a constant. Empty for any other statement.
    #[serde(default)]
    pub settings: Vec<String>,
    /// The statement's own text (one statement, without the others of its message).
    pub text: String,
}
