//! The lineage of a value expression: the union of what its inputs read.
//!
//! An allowlist like the effect walker: every node kind not listed here makes
//! the value Unknown. Functions are followed only when they are built-ins
//! (every `pg_proc` entry of the name is in `pg_catalog`) that do not read
//! tables by themselves; anything else may run a query and is Unknown.

use pg_query::NodeEnum;
use pg_query::protobuf::{FuncCall, JsonValueExpr, Node, SubLinkType, TypeName};

use super::ColumnLineage;
use super::scope::{Analyzer, Res};
use crate::walk::dotted;

/// `pg_catalog` functions that read relations, files or change streams named
/// by their arguments (or run a query given as text): their result is not
/// derived from their arguments alone.
const OPAQUE_BUILTINS: &[&str] = &[
    "query_to_xml",
    "query_to_xml_and_xmlschema",
    "query_to_xmlschema",
    "table_to_xml",
    "table_to_xml_and_xmlschema",
    "table_to_xmlschema",
    "cursor_to_xml",
    "cursor_to_xmlschema",
    "schema_to_xml",
    "schema_to_xml_and_xmlschema",
    "schema_to_xmlschema",
    "database_to_xml",
    "database_to_xml_and_xmlschema",
    "database_to_xmlschema",
    "ts_stat",
    "ts_rewrite",
    "pg_read_file",
    "pg_read_binary_file",
    "pg_logical_slot_get_changes",
    "pg_logical_slot_peek_changes",
    "pg_logical_slot_get_binary_changes",
    "pg_logical_slot_peek_binary_changes",
    "lo_get",
    "loread",
    "lo_export",
];

impl Analyzer<'_> {
    pub(crate) fn opt_expr(&mut self, n: Option<&Node>) -> Res<ColumnLineage> {
        match n {
            Some(n) => self.expr(n),
            None => Ok(ColumnLineage::constant()),
        }
    }

    /// The union of the lineages of `nodes`.
    pub(crate) fn exprs(&mut self, nodes: &[Node]) -> Res<ColumnLineage> {
        let mut out = ColumnLineage::constant();
        for n in nodes {
            let l = self.expr(n)?;
            out.absorb(&l);
            if out.is_unknown() {
                break;
            }
        }
        Ok(out)
    }

    /// The lineage of one value expression.
    pub(crate) fn expr(&mut self, n: &Node) -> Res<ColumnLineage> {
        let Some(inner) = n.node.as_ref() else {
            return Ok(ColumnLineage::constant());
        };
        self.nested(|a| a.expr_enum(inner))
    }

    fn expr_enum(&mut self, n: &NodeEnum) -> Res<ColumnLineage> {
        use NodeEnum as N;
        let both = |a: ColumnLineage, b: ColumnLineage| a.union(&b);
        Ok(match n {
            // Values from the statement text, the client or the session: no table.
            N::AConst(_)
            | N::ParamRef(_)
            | N::String(_)
            | N::Integer(_)
            | N::Float(_)
            | N::Boolean(_)
            | N::BitString(_)
            | N::SqlvalueFunction(_)
            | N::SetToDefault(_)
            | N::AStar(_) => ColumnLineage::constant(),
            N::ColumnRef(c) => self.column_ref(&c.fields),
            N::List(l) => self.exprs(&l.items)?,
            N::AExpr(e) => {
                if self.operator_is_opaque(&e.name) {
                    return Ok(ColumnLineage::unknown(format!(
                        "operator {} is not a built-in",
                        dotted(&e.name)
                    )));
                }
                let l = self.opt_expr(e.lexpr.as_deref())?;
                both(l, self.opt_expr(e.rexpr.as_deref())?)
            }
            N::BoolExpr(e) => self.exprs(&e.args)?,
            N::FuncCall(f) => self.func_call(f)?,
            N::TypeCast(c) => {
                if let Some(t) = &c.type_name
                    && self.cast_is_opaque(t)
                {
                    return Ok(ColumnLineage::unknown(format!(
                        "cast to {} runs a function that is not a built-in",
                        dotted(&t.names)
                    )));
                }
                self.opt_expr(c.arg.as_deref())?
            }
            N::CollateClause(c) => self.opt_expr(c.arg.as_deref())?,
            N::NamedArgExpr(a) => self.opt_expr(a.arg.as_deref())?,
            N::SubLink(s) => self.sublink(s)?,
            N::CaseExpr(c) => {
                // The conditions count: a CASE can spell out its inputs bit by bit.
                let a = self.opt_expr(c.arg.as_deref())?;
                let a = both(a, self.exprs(&c.args)?);
                both(a, self.opt_expr(c.defresult.as_deref())?)
            }
            N::CaseWhen(c) => {
                let a = self.opt_expr(c.expr.as_deref())?;
                both(a, self.opt_expr(c.result.as_deref())?)
            }
            N::CoalesceExpr(c) => self.exprs(&c.args)?,
            N::MinMaxExpr(m) => self.exprs(&m.args)?,
            N::NullTest(t) => self.opt_expr(t.arg.as_deref())?,
            N::BooleanTest(t) => self.opt_expr(t.arg.as_deref())?,
            N::AArrayExpr(a) => self.exprs(&a.elements)?,
            N::RowExpr(r) => self.exprs(&r.args)?,
            N::AIndirection(a) => {
                let l = self.opt_expr(a.arg.as_deref())?;
                both(l, self.exprs(&a.indirection)?)
            }
            N::AIndices(i) => {
                let l = self.opt_expr(i.lidx.as_deref())?;
                both(l, self.opt_expr(i.uidx.as_deref())?)
            }
            N::GroupingFunc(g) => self.exprs(&g.args)?,
            N::XmlExpr(x) => {
                let l = self.exprs(&x.named_args)?;
                both(l, self.exprs(&x.args)?)
            }
            N::XmlSerialize(x) => self.opt_expr(x.expr.as_deref())?,
            N::ResTarget(r) => self.opt_expr(r.val.as_deref())?,
            N::MultiAssignRef(m) => self.opt_expr(m.source.as_deref())?,
            N::JsonObjectConstructor(j) => self.exprs(&j.exprs)?,
            N::JsonArrayConstructor(j) => self.exprs(&j.exprs)?,
            N::JsonArrayQueryConstructor(j) => match j.query.as_deref() {
                Some(q) => self.query(q)?.all(),
                None => ColumnLineage::constant(),
            },
            N::JsonKeyValue(kv) => {
                let k = self.opt_expr(kv.key.as_deref())?;
                both(k, self.json_value(kv.value.as_deref())?)
            }
            N::JsonObjectAgg(j) => match &j.arg {
                Some(kv) => {
                    let k = self.opt_expr(kv.key.as_deref())?;
                    both(k, self.json_value(kv.value.as_deref())?)
                }
                None => ColumnLineage::constant(),
            },
            N::JsonArrayAgg(j) => self.json_value(j.arg.as_deref())?,
            N::JsonValueExpr(v) => self.json_value(Some(v))?,
            N::JsonParseExpr(p) => self.json_value(p.expr.as_deref())?,
            N::JsonScalarExpr(s) => self.opt_expr(s.expr.as_deref())?,
            N::JsonSerializeExpr(s) => self.json_value(s.expr.as_deref())?,
            N::JsonIsPredicate(p) => self.opt_expr(p.expr.as_deref())?,
            N::JsonArgument(a) => self.json_value(a.val.as_deref())?,
            N::JsonBehavior(b) => self.opt_expr(b.expr.as_deref())?,
            N::JsonFuncExpr(f) => {
                let l = self.json_value(f.context_item.as_deref())?;
                let l = both(l, self.opt_expr(f.pathspec.as_deref())?);
                let l = both(l, self.exprs(&f.passing)?);
                let e = match f.on_empty.as_deref() {
                    Some(b) => self.opt_expr(b.expr.as_deref())?,
                    None => ColumnLineage::constant(),
                };
                let r = match f.on_error.as_deref() {
                    Some(b) => self.opt_expr(b.expr.as_deref())?,
                    None => ColumnLineage::constant(),
                };
                both(both(l, e), r)
            }
            // Not formatted with Debug: that would walk (and recurse through) the subtree.
            _ => ColumnLineage::unknown("an expression kind lineage does not analyse"),
        })
    }

    fn json_value(&mut self, v: Option<&JsonValueExpr>) -> Res<ColumnLineage> {
        match v {
            Some(v) => {
                let l = self.opt_expr(v.raw_expr.as_deref())?;
                Ok(l.union(&self.opt_expr(v.formatted_expr.as_deref())?))
            }
            None => Ok(ColumnLineage::constant()),
        }
    }

    /// A function call: the union of its arguments, when it is a built-in
    /// that reads no table by itself. `FILTER`, the aggregate's `ORDER BY`
    /// and the window's `PARTITION BY`/`ORDER BY` choose and order rows, like
    /// `WHERE` and `ORDER BY`, and are not counted; the `WITHIN GROUP`
    /// order of an ordered-set aggregate is its input, and is.
    fn func_call(&mut self, f: &FuncCall) -> Res<ColumnLineage> {
        if let Some(why) = self.function_is_opaque(&f.funcname) {
            return Ok(ColumnLineage::Unknown(why));
        }
        if f.agg_within_group {
            // Ordered-set aggregates (`mode()`, `percentile_disc`, ...) return
            // one of the values they sort: WITHIN GROUP's ORDER BY is their input.
            let mut inputs = f.args.clone();
            inputs.extend(f.agg_order.iter().filter_map(|s| match &s.node {
                Some(NodeEnum::SortBy(by)) => by.node.as_deref().cloned(),
                _ => None,
            }));
            return self.exprs(&inputs);
        }
        self.exprs(&f.args)
    }

    /// `Some(why)` unless the function named is a built-in whose result derives
    /// from its arguments only.
    pub(crate) fn function_is_opaque(&self, funcname: &[Node]) -> Option<String> {
        let parts: Vec<&str> = funcname
            .iter()
            .filter_map(|n| match &n.node {
                Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                _ => None,
            })
            .collect();
        let shown = parts.join(".");
        let (name, schema) = match parts.as_slice() {
            [name] => (*name, None),
            [.., schema, name] if parts.len() == funcname.len() => (*name, Some(*schema)),
            _ => return Some(format!("function {shown} cannot be resolved")),
        };
        if schema.is_some_and(|s| s != "pg_catalog") {
            return Some(format!("function {shown} is not a built-in"));
        }
        if OPAQUE_BUILTINS.contains(&name) {
            return Some(format!(
                "function {shown} reads data its arguments only name"
            ));
        }
        let mut schemas = self.catalog.function_schemas(name).peekable();
        if schemas.peek().is_none() {
            return Some(format!("function {shown} is not in the catalog"));
        }
        if schema.is_some() {
            // `pg_catalog.f`: only the built-in can be meant.
            return match self
                .catalog
                .function_schemas(name)
                .any(|s| s == "pg_catalog")
            {
                true => None,
                false => Some(format!("function {shown} is not in the catalog")),
            };
        }
        if schemas.any(|s| s != "pg_catalog") {
            // A function of the same name outside pg_catalog may be the one called.
            return Some(format!("function {shown} is not (only) a built-in"));
        }
        None
    }

    fn operator_is_opaque(&self, name: &[Node]) -> bool {
        if name.is_empty() {
            return false;
        }
        let bare = match name.last().and_then(|n| n.node.as_ref()) {
            Some(NodeEnum::String(s)) => s.sval.as_str(),
            _ => "",
        };
        self.catalog
            .lineage()
            .operator_is_opaque(&dotted(name), bare)
    }

    fn cast_is_opaque(&self, t: &TypeName) -> bool {
        let bare = match t.names.last().and_then(|n| n.node.as_ref()) {
            Some(NodeEnum::String(s)) => s.sval.as_str(),
            _ => "",
        };
        self.catalog
            .lineage()
            .cast_is_opaque(&dotted(&t.names), bare)
    }

    /// A subquery used as a value. Scalar and ARRAY subqueries give their
    /// output; EXISTS, IN, ANY, ALL give a boolean computed from the values
    /// compared (the tested expression and the subquery's output), which is
    /// what is counted: the subquery's WHERE chooses rows, as a WHERE does at
    /// top level.
    fn sublink(&mut self, s: &pg_query::protobuf::SubLink) -> Res<ColumnLineage> {
        let test = self.opt_expr(s.testexpr.as_deref())?;
        let output = match s.subselect.as_deref() {
            Some(q) => self.query(q)?.all(),
            None => ColumnLineage::constant(),
        };
        Ok(match SubLinkType::try_from(s.sub_link_type) {
            Ok(
                SubLinkType::ExprSublink
                | SubLinkType::ArraySublink
                | SubLinkType::ExistsSublink
                | SubLinkType::AllSublink
                | SubLinkType::AnySublink
                | SubLinkType::RowcompareSublink
                | SubLinkType::MultiexprSublink,
            ) => test.union(&output),
            _ => ColumnLineage::unknown("unsupported subquery kind"),
        })
    }
}
