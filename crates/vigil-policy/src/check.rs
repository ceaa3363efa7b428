//! Compile-time checks of a CEL condition: which variables it reads, and that
//! every variable and field it names exists.
//!
//! The `cel` crate resolves names only when an expression runs, so a typo such
//! as `sql.read_onyl` would otherwise surface as a runtime error on every
//! statement (a deny, since errors fail closed). Walking the AST once at load
//! turns it into a load error with the policy and rule named.

use cel::IdedExpr;
use cel::common::ast::{EntryExpr, Expr};

/// The top-level variables, and the fields each exposes. `now` has none: it is
/// a timestamp, used through functions (`now.getHours()`).
const VARIABLES: &[(&str, &[&str])] = &[
    ("principal", &["name", "groups", "kind", "claims"]),
    ("connection", &["name", "kind"]),
    ("now", &[]),
    (
        "sql",
        &[
            "kind",
            "read_only",
            "writes",
            "ddl",
            "has_where",
            "tables_read",
            "tables_written",
            "functions",
            "settings",
            "text",
        ],
    ),
    (
        "ssh",
        &[
            "request",
            "command",
            "argv",
            "argv0",
            "opaque",
            "opaque_reasons",
            "wrappers",
            "subsystem",
            "forward",
            "sftp",
            "env",
        ],
    ),
    (
        "http",
        &[
            "method",
            "path",
            "path_template",
            "query",
            "headers",
            "host",
            "body",
            "graphql",
        ],
    ),
    (
        "k8s",
        &[
            "verb",
            "group",
            "version",
            "resource",
            "subresource",
            "namespace",
            "name",
            "label_selector",
            "field_selector",
            "dry_run",
            "path",
            "exec",
        ],
    ),
    ("mcp", &["tool", "arguments"]),
];

/// Identifiers CEL itself defines (type names), which are not variables.
const BUILTIN_IDENTS: &[&str] = &[
    "int",
    "uint",
    "double",
    "bool",
    "string",
    "bytes",
    "list",
    "map",
    "null_type",
    "type",
    "dyn",
];

/// The variables a condition reads, as a bit set indexed like [`Var`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VarSet(u16);

/// A top-level CEL variable. The discriminant is its bit in a [`VarSet`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Var {
    Principal = 0,
    Connection = 1,
    Now = 2,
    Sql = 3,
    Ssh = 4,
    Http = 5,
    K8s = 6,
    Mcp = 7,
    /// Not a variable of its own: set with [`Var::Http`] when a condition
    /// reads `http.body`, so the front-end parses request bodies only then.
    HttpBody = 8,
    /// Not a variable of its own: set with [`Var::Sql`] when a condition
    /// reads `sql.text`, or `sql` whole (`sql["text"]`, a comprehension over
    /// it): the statement's text, which differs between statements of the
    /// same shape.
    SqlText = 9,
    /// Not a variable of its own: set with [`Var::Principal`] when a
    /// condition reads `principal.claims`, or `principal` whole: an OIDC
    /// token's claims, which vary from token to token.
    Claims = 10,
}

impl Var {
    fn from_name(name: &str) -> Option<Var> {
        Some(match name {
            "principal" => Var::Principal,
            "connection" => Var::Connection,
            "now" => Var::Now,
            "sql" => Var::Sql,
            "ssh" => Var::Ssh,
            "http" => Var::Http,
            "k8s" => Var::K8s,
            "mcp" => Var::Mcp,
            _ => return None,
        })
    }
}

impl VarSet {
    pub const PROTOCOLS: VarSet = VarSet(
        1 << Var::Sql as u16
            | 1 << Var::Ssh as u16
            | 1 << Var::Http as u16
            | 1 << Var::K8s as u16
            | 1 << Var::Mcp as u16,
    );

    /// What a verdict cache key cannot hold: the time, the statement's
    /// text and a token's claims. A verdict whose rules read any of these is
    /// evaluated afresh every time.
    pub const VOLATILE: VarSet =
        VarSet(1 << Var::Now as u16 | 1 << Var::SqlText as u16 | 1 << Var::Claims as u16);

    pub fn insert(&mut self, var: Var) {
        self.0 |= 1 << var as u16;
    }

    pub fn contains(self, var: Var) -> bool {
        self.0 & (1 << var as u16) != 0
    }

    pub fn union(self, other: VarSet) -> VarSet {
        VarSet(self.0 | other.0)
    }

    pub fn intersects(self, other: VarSet) -> bool {
        self.0 & other.0 != 0
    }
}

/// Checks every name in `expr` and returns the variables it reads, or a
/// message saying what is unknown and what exists.
pub fn check_expression(expr: &IdedExpr) -> Result<VarSet, String> {
    let mut walker = Walker {
        bound: Vec::new(),
        used: VarSet::default(),
    };
    walker.walk(expr)?;
    Ok(walker.used)
}

struct Walker<'e> {
    /// Names bound by enclosing comprehensions (`exists(t, ...)`), innermost last.
    bound: Vec<&'e str>,
    used: VarSet,
}

impl<'e> Walker<'e> {
    fn walk(&mut self, expr: &'e IdedExpr) -> Result<(), String> {
        match &expr.expr {
            Expr::Unspecified | Expr::Literal(_) => Ok(()),
            Expr::Ident(name) => self.ident(name, None),
            Expr::Select(select) => {
                if let Expr::Ident(root) = &select.operand.expr {
                    self.ident(root, Some(&select.field))
                } else {
                    self.walk(&select.operand)
                }
            }
            Expr::Call(call) => {
                if let Some(target) = &call.target {
                    self.walk(target)?;
                }
                call.args.iter().try_for_each(|arg| self.walk(arg))
            }
            Expr::List(list) => list.elements.iter().try_for_each(|e| self.walk(e)),
            Expr::Map(map) => map
                .entries
                .iter()
                .try_for_each(|entry| self.entry(&entry.expr)),
            Expr::Struct(s) => s
                .entries
                .iter()
                .try_for_each(|entry| self.entry(&entry.expr)),
            Expr::Comprehension(c) => {
                self.walk(&c.iter_range)?;
                self.walk(&c.accu_init)?;
                let depth = self.bound.len();
                self.bound.push(&c.iter_var);
                if let Some(second) = &c.iter_var2 {
                    self.bound.push(second);
                }
                self.bound.push(&c.accu_var);
                let result = self
                    .walk(&c.loop_cond)
                    .and_then(|()| self.walk(&c.loop_step))
                    .and_then(|()| self.walk(&c.result));
                self.bound.truncate(depth);
                result
            }
        }
    }

    fn entry(&mut self, entry: &'e EntryExpr) -> Result<(), String> {
        match entry {
            EntryExpr::StructField(field) => self.walk(&field.value),
            EntryExpr::MapEntry(entry) => {
                self.walk(&entry.key)?;
                self.walk(&entry.value)
            }
        }
    }

    /// An identifier, and the field selected on it when there is one.
    fn ident(&mut self, name: &str, field: Option<&str>) -> Result<(), String> {
        if self.bound.contains(&name) || BUILTIN_IDENTS.contains(&name) {
            return Ok(());
        }
        let Some(var) = Var::from_name(name) else {
            let known: Vec<&str> = VARIABLES.iter().map(|(v, _)| *v).collect();
            return Err(format!(
                "unknown variable `{name}` (expected one of: {})",
                known.join(", ")
            ));
        };
        self.used.insert(var);
        // Read whole, a variable may be read through any of its fields.
        match (var, field) {
            (Var::Sql, None | Some("text")) => self.used.insert(Var::SqlText),
            (Var::Principal, None | Some("claims")) => self.used.insert(Var::Claims),
            _ => {}
        }
        let Some(field) = field else { return Ok(()) };
        let fields = VARIABLES
            .iter()
            .find(|(v, _)| *v == name)
            .map(|(_, f)| *f)
            .unwrap_or_default();
        if fields.contains(&field) {
            if var == Var::Http && field == "body" {
                self.used.insert(Var::HttpBody);
            }
            return Ok(());
        }
        if fields.is_empty() {
            return Err(format!("`{name}` has no fields (found `{name}.{field}`)"));
        }
        Err(format!(
            "unknown field `{name}.{field}` (expected one of: {})",
            fields.join(", ")
        ))
    }
}
