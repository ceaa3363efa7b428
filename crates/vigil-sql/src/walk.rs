//! One pass over a statement's parse tree, collecting what it reads, writes
//! and calls, and whether anything in it may change state.
//!
//! The walk is an allowlist: every node kind it does not know how to look
//! inside makes the statement not read-only, so a grammar addition can only
//! make the analyser more cautious, never less.

use pg_query::NodeEnum;
use pg_query::protobuf::{
    FuncCall, JsonAggConstructor, JsonBehavior, JsonValueExpr, Node, RangeVar, TypeName, WindowDef,
};

use crate::AnalysisError;
use crate::catalog::Catalog;

/// How deep the walk follows the tree before giving up with `TooDeep`: the
/// analyser's practical nesting limit (about 510 terms of `1+1+...`, 500
/// nested function calls or CASE expressions). libpg_query accepts deeper
/// trees (up to 10 000 protobuf messages) and they are decoded, on a stack
/// sized for them (see `with_stack`), but not walked.
pub const MAX_DEPTH: usize = 512;

pub(crate) type Walked = Result<(), AnalysisError>;

/// A relation as a statement names it: its schema when qualified, and its name.
pub(crate) type RelationRef = (Option<String>, String);

/// What the walk has found so far in one statement.
#[derive(Debug)]
pub(crate) struct Walker<'c> {
    catalog: &'c Catalog,
    depth: usize,
    /// CTE names visible at the current point (innermost last).
    pub(crate) ctes: Vec<String>,
    /// Stays true until something that may change state is seen.
    pub read_only: bool,
    pub writes: bool,
    pub ddl: bool,
    pub tables_read: Vec<String>,
    pub tables_written: Vec<String>,
    pub functions: Vec<String>,
    /// Relations read, as written (schema if any, name): for view analysis.
    pub refs: Vec<RelationRef>,
    /// Settings set or reset (see `SqlFacts::settings`).
    pub settings: Vec<String>,
    /// Whether the facts depend on the catalog: a function, operator or cast
    /// was judged, or a relation read. Analysis refuses such a statement
    /// when the catalog is not loaded.
    pub needs_catalog: bool,
    /// Analysing the definition of a system view: reading a sensitive
    /// catalog does not make it unsafe (see `catalog::sensitive`).
    trusted_body: bool,
}

impl<'c> Walker<'c> {
    pub(crate) fn new(catalog: &'c Catalog) -> Self {
        Walker {
            catalog,
            depth: 0,
            ctes: Vec::new(),
            read_only: true,
            writes: false,
            ddl: false,
            tables_read: Vec::new(),
            tables_written: Vec::new(),
            functions: Vec::new(),
            refs: Vec::new(),
            settings: Vec::new(),
            needs_catalog: false,
            trusted_body: false,
        }
    }

    /// Analyses a view definition or policy expression from the catalog:
    /// whether it is read-only (ignoring the relations it reads) and which
    /// relations it reads. `trusted`: the definition of a system view.
    pub(crate) fn analyze_body(
        sql: &str,
        catalog: &Catalog,
        trusted: bool,
    ) -> Result<(bool, Vec<RelationRef>), AnalysisError> {
        crate::with_stack(sql.len(), || {
            let parsed = crate::parse(sql)?;
            let mut walker = Walker::new(catalog);
            walker.trusted_body = trusted;
            for raw in &parsed.stmts {
                match raw.stmt.as_ref().and_then(|s| s.node.as_ref()) {
                    Some(NodeEnum::SelectStmt(s)) => walker.select(s)?,
                    _ => walker.read_only = false,
                }
            }
            Ok((walker.read_only, walker.refs))
        })
    }

    /// Marks the statement as possibly changing state.
    pub(crate) fn unsafe_(&mut self) {
        self.read_only = false;
    }

    pub(crate) fn enter(&mut self) -> Walked {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(AnalysisError::TooDeep);
        }
        Ok(())
    }

    pub(crate) fn leave(&mut self) {
        self.depth = self.depth.saturating_sub(1);
    }

    pub(crate) fn opt(&mut self, n: Option<&Node>) -> Walked {
        match n {
            Some(n) => self.node(n),
            None => Ok(()),
        }
    }

    pub(crate) fn list(&mut self, nodes: &[Node]) -> Walked {
        nodes.iter().try_for_each(|n| self.node(n))
    }

    /// Walks any node that may appear inside a statement.
    pub(crate) fn node(&mut self, n: &Node) -> Walked {
        let Some(inner) = n.node.as_ref() else {
            return Ok(());
        };
        self.enter()?;
        let result = self.node_enum(inner);
        self.leave();
        result
    }

    fn node_enum(&mut self, n: &NodeEnum) -> Walked {
        use NodeEnum as N;
        match n {
            // Leaves that run nothing.
            N::ColumnRef(_)
            | N::ParamRef(_)
            | N::AConst(_)
            | N::AStar(_)
            | N::String(_)
            | N::Integer(_)
            | N::Float(_)
            | N::Boolean(_)
            | N::BitString(_)
            | N::SqlvalueFunction(_)
            | N::SetToDefault(_)
            | N::CurrentOfExpr(_)
            | N::Alias(_)
            | N::JsonFormat(_)
            | N::JsonOutput(_)
            | N::JsonReturning(_) => Ok(()),
            N::TypeName(_) => Ok(()),
            N::List(l) => self.list(&l.items),
            N::AExpr(e) => {
                self.a_expr_operator(e);
                self.opt(e.lexpr.as_deref())?;
                self.opt(e.rexpr.as_deref())
            }
            N::BoolExpr(e) => self.list(&e.args),
            N::FuncCall(f) => self.func_call(f),
            N::TypeCast(c) => {
                if let Some(t) = &c.type_name {
                    self.cast(t);
                }
                self.opt(c.arg.as_deref())
            }
            N::SubLink(s) => {
                self.sublink_operator(s);
                self.opt(s.testexpr.as_deref())?;
                self.opt(s.subselect.as_deref())
            }
            N::CaseExpr(c) => {
                if c.arg.is_some() {
                    // `CASE x WHEN v`: compares with `=`.
                    self.operator_name(None, "=");
                }
                self.opt(c.arg.as_deref())?;
                self.list(&c.args)?;
                self.opt(c.defresult.as_deref())
            }
            N::CaseWhen(c) => {
                self.opt(c.expr.as_deref())?;
                self.opt(c.result.as_deref())
            }
            N::CoalesceExpr(c) => self.list(&c.args),
            N::MinMaxExpr(m) => self.list(&m.args),
            N::NullTest(t) => self.opt(t.arg.as_deref()),
            N::BooleanTest(t) => self.opt(t.arg.as_deref()),
            N::AArrayExpr(a) => self.list(&a.elements),
            N::AIndirection(a) => {
                self.opt(a.arg.as_deref())?;
                self.list(&a.indirection)
            }
            N::AIndices(i) => {
                self.opt(i.lidx.as_deref())?;
                self.opt(i.uidx.as_deref())
            }
            N::RowExpr(r) => self.list(&r.args),
            N::CollateClause(c) => self.opt(c.arg.as_deref()),
            N::NamedArgExpr(a) => self.opt(a.arg.as_deref()),
            N::GroupingSet(g) => self.list(&g.content),
            N::GroupingFunc(g) => self.list(&g.args),
            N::XmlExpr(x) => {
                self.list(&x.named_args)?;
                self.list(&x.args)
            }
            N::XmlSerialize(x) => {
                if let Some(t) = &x.type_name {
                    self.cast(t);
                }
                self.opt(x.expr.as_deref())
            }
            N::ResTarget(r) => {
                self.list(&r.indirection)?;
                self.opt(r.val.as_deref())
            }
            N::MultiAssignRef(m) => self.opt(m.source.as_deref()),
            N::SortBy(s) => {
                self.operator(&s.use_op);
                self.opt(s.node.as_deref())
            }
            N::WindowDef(w) => self.window(w),
            N::RangeVar(r) => {
                self.read_relation(r);
                Ok(())
            }
            N::RangeSubselect(r) => self.opt(r.subquery.as_deref()),
            N::RangeFunction(r) => {
                self.list(&r.functions)?;
                self.list(&r.coldeflist)
            }
            N::ColumnDef(c) => self.opt(c.raw_default.as_deref()),
            N::JoinExpr(j) => {
                self.opt(j.larg.as_deref())?;
                self.opt(j.rarg.as_deref())?;
                self.opt(j.quals.as_deref())
            }
            N::RangeTableSample(r) => {
                // The sampling method is a C handler (BERNOULLI, SYSTEM, ...); only
                // superusers can add one, and it reads, so its name is not a call.
                self.opt(r.relation.as_deref())?;
                self.list(&r.args)?;
                self.opt(r.repeatable.as_deref())
            }
            N::RangeTableFunc(r) => {
                self.opt(r.docexpr.as_deref())?;
                self.opt(r.rowexpr.as_deref())?;
                self.list(&r.namespaces)?;
                self.list(&r.columns)
            }
            N::RangeTableFuncCol(c) => {
                if let Some(t) = &c.type_name {
                    self.cast(t);
                }
                self.opt(c.colexpr.as_deref())?;
                self.opt(c.coldefexpr.as_deref())
            }
            N::SelectStmt(s) => self.select(s),
            N::InsertStmt(s) => self.insert(s),
            N::UpdateStmt(s) => self.update(s),
            N::DeleteStmt(s) => self.delete(s),
            N::MergeStmt(s) => self.merge(s),
            N::CommonTableExpr(c) => self.opt(c.ctequery.as_deref()),
            N::MergeWhenClause(m) => {
                self.opt(m.condition.as_deref())?;
                self.list(&m.target_list)?;
                self.list(&m.values)
            }
            N::OnConflictClause(o) => {
                if let Some(infer) = &o.infer {
                    self.list(&infer.index_elems)?;
                    self.opt(infer.where_clause.as_deref())?;
                }
                self.list(&o.target_list)?;
                self.opt(o.where_clause.as_deref())
            }
            N::IndexElem(i) => self.opt(i.expr.as_deref()),
            N::LockingClause(_) => {
                self.unsafe_();
                Ok(())
            }
            N::JsonObjectConstructor(j) => self.list(&j.exprs),
            N::JsonArrayConstructor(j) => self.list(&j.exprs),
            N::JsonArrayQueryConstructor(j) => self.opt(j.query.as_deref()),
            N::JsonObjectAgg(j) => {
                if let Some(c) = &j.constructor {
                    self.json_agg(c)?;
                }
                if let Some(kv) = &j.arg {
                    self.opt(kv.key.as_deref())?;
                    self.json_value(kv.value.as_deref())?;
                }
                Ok(())
            }
            N::JsonArrayAgg(j) => {
                if let Some(c) = &j.constructor {
                    self.json_agg(c)?;
                }
                self.json_value(j.arg.as_deref())
            }
            N::JsonKeyValue(kv) => {
                self.opt(kv.key.as_deref())?;
                self.json_value(kv.value.as_deref())
            }
            N::JsonValueExpr(v) => self.json_value(Some(v)),
            N::JsonParseExpr(p) => self.json_value(p.expr.as_deref()),
            N::JsonScalarExpr(s) => self.opt(s.expr.as_deref()),
            N::JsonSerializeExpr(s) => self.json_value(s.expr.as_deref()),
            N::JsonIsPredicate(p) => self.opt(p.expr.as_deref()),
            N::JsonArgument(a) => self.json_value(a.val.as_deref()),
            N::JsonBehavior(b) => self.opt(b.expr.as_deref()),
            N::JsonFuncExpr(f) => {
                self.json_value(f.context_item.as_deref())?;
                self.opt(f.pathspec.as_deref())?;
                self.list(&f.passing)?;
                self.json_behavior(f.on_empty.as_deref())?;
                self.json_behavior(f.on_error.as_deref())
            }
            N::JsonTable(t) => {
                self.json_value(t.context_item.as_deref())?;
                self.list(&t.passing)?;
                self.list(&t.columns)?;
                self.json_behavior(t.on_error.as_deref())
            }
            N::JsonTableColumn(c) => {
                if let Some(t) = &c.type_name {
                    self.cast(t);
                }
                self.list(&c.columns)?;
                self.json_behavior(c.on_empty.as_deref())?;
                self.json_behavior(c.on_error.as_deref())
            }
            // Anything else inside a statement: we cannot prove it harmless.
            _ => {
                self.unsafe_();
                Ok(())
            }
        }
    }

    fn json_value(&mut self, v: Option<&JsonValueExpr>) -> Walked {
        match v {
            Some(v) => {
                self.opt(v.raw_expr.as_deref())?;
                self.opt(v.formatted_expr.as_deref())
            }
            None => Ok(()),
        }
    }

    fn json_behavior(&mut self, b: Option<&JsonBehavior>) -> Walked {
        match b {
            Some(b) => self.opt(b.expr.as_deref()),
            None => Ok(()),
        }
    }

    fn json_agg(&mut self, c: &JsonAggConstructor) -> Walked {
        self.opt(c.agg_filter.as_deref())?;
        self.list(&c.agg_order)?;
        match &c.over {
            Some(w) => self.window(w),
            None => Ok(()),
        }
    }

    fn window(&mut self, w: &WindowDef) -> Walked {
        self.list(&w.partition_clause)?;
        self.list(&w.order_clause)?;
        self.opt(w.start_offset.as_deref())?;
        self.opt(w.end_offset.as_deref())
    }

    /// A function call: recorded, and checked against the catalog.
    pub(crate) fn func_call(&mut self, f: &FuncCall) -> Walked {
        let parts: Vec<&str> = f
            .funcname
            .iter()
            .filter_map(|n| match &n.node {
                Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                _ => None,
            })
            .collect();
        self.needs_catalog = true;
        match parts.split_last() {
            Some((name, qualifiers)) if parts.len() == f.funcname.len() => {
                let schema = qualifiers.last().copied();
                if !self.catalog.function_is_safe(schema, name) {
                    self.unsafe_();
                }
                if *name == "set_config" && schema.is_none_or(|s| s == "pg_catalog") {
                    // Changes a setting whatever the catalog says of it.
                    self.unsafe_();
                    self.settings
                        .push(crate::settings::set_config_target(&f.args));
                }
                self.functions.push(parts.join(".").to_lowercase());
            }
            _ => self.unsafe_(),
        }
        self.list(&f.args)?;
        self.list(&f.agg_order)?;
        self.opt(f.agg_filter.as_deref())?;
        match &f.over {
            Some(w) => self.window(w),
            None => Ok(()),
        }
    }

    /// An operator name list (`+`, or `OPERATOR(schema.+++)`): read-only
    /// only when the catalog lists the operator and none of that name is volatile.
    pub(crate) fn operator(&mut self, name: &[Node]) {
        if name.is_empty() {
            return;
        }
        match schema_and_name(name) {
            Some((schema, op)) => self.operator_name(schema, op),
            None => {
                self.needs_catalog = true;
                self.unsafe_();
            }
        }
    }

    pub(crate) fn operator_name(&mut self, schema: Option<&str>, op: &str) {
        self.needs_catalog = true;
        if !self.catalog.operator_is_safe(schema, op) {
            self.unsafe_();
        }
    }

    /// A cast to `t`: read-only only when the catalog lists the type and no
    /// cast to it may run a volatile function.
    fn cast(&mut self, t: &TypeName) {
        self.needs_catalog = true;
        match schema_and_name(&t.names) {
            Some((schema, name)) if !t.pct_type => {
                if !self.catalog.cast_is_safe(schema, name) {
                    self.unsafe_();
                }
            }
            _ => self.unsafe_(),
        }
    }

    /// A relation in FROM, JOIN, USING, a subquery...: read, unless it names a CTE.
    pub(crate) fn read_relation(&mut self, r: &RangeVar) {
        if r.schemaname.is_empty() && self.ctes.contains(&r.relname) {
            return;
        }
        let schema = (!r.schemaname.is_empty()).then_some(r.schemaname.as_str());
        self.needs_catalog = true;
        if self.catalog.relation_is_unsafe(schema, &r.relname)
            || !self.catalog.relation_is_known(schema, &r.relname)
            || (!self.trusted_body && crate::catalog::is_sensitive(schema, &r.relname))
        {
            self.unsafe_();
        }
        self.refs
            .push((schema.map(str::to_owned), r.relname.clone()));
        self.tables_read.push(table_name(r));
    }

    /// The target of INSERT, UPDATE, DELETE, MERGE, TRUNCATE, COPY FROM, ...
    pub(crate) fn write_relation(&mut self, r: &RangeVar) {
        self.tables_written.push(table_name(r));
    }

    /// A data-changing statement, wherever it appears (top level or in a CTE).
    pub(crate) fn mark_write(&mut self) {
        self.writes = true;
        self.unsafe_();
    }
}

/// `schema.table` for a relation, with `public` for unqualified names.
pub(crate) fn table_name(r: &RangeVar) -> String {
    let schema = if r.schemaname.is_empty() {
        "public"
    } else {
        r.schemaname.as_str()
    };
    format!("{schema}.{}", r.relname)
}

/// `(schema, name)` of a name list (`["name"]`, `["schema", "name"]`); a
/// catalog-qualified name (`db.schema.name`) keeps its last two parts. `None`
/// when a part is not a plain string.
pub(crate) fn schema_and_name(names: &[Node]) -> Option<(Option<&str>, &str)> {
    let mut parts = Vec::with_capacity(names.len());
    for n in names {
        match &n.node {
            Some(NodeEnum::String(s)) => parts.push(s.sval.as_str()),
            _ => return None,
        }
    }
    match parts.as_slice() {
        [name] => Some((None, name)),
        [.., schema, name] => Some((Some(schema), name)),
        [] => None,
    }
}

/// Joins a name list (`["s", "f"]`) with dots.
pub(crate) fn dotted(names: &[Node]) -> String {
    let mut out = String::new();
    for n in names {
        if let Some(NodeEnum::String(s)) = &n.node {
            if !out.is_empty() {
                out.push('.');
            }
            out.push_str(&s.sval);
        }
    }
    out
}
