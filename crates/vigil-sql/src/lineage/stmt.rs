//! Statements: what each kind returns, and the lineage of SELECT (with CTEs,
//! set operations and VALUES); DML's RETURNING is in `dml.rs`.

use pg_query::NodeEnum;
use pg_query::protobuf::{
    CommonTableExpr, CopyStmt, ExplainStmt, Node, RangeVar, SelectStmt, WithClause,
};

use super::scope::{Analyzer, Rel, Res, Tail};
use super::{ColumnLineage, OutputLineage};

/// How many times a recursive CTE is re-evaluated looking for a fixpoint.
const MAX_RECURSION_ROUNDS: usize = 16;

/// The output lineage of one top-level statement (see [`super::output_lineage`]).
pub(crate) fn statement(a: &mut Analyzer<'_>, node: &NodeEnum) -> Res<Option<OutputLineage>> {
    use NodeEnum as N;
    let rows = |rel: Rel| Some(output(rel));
    let unknown = |why: &str| {
        Some(OutputLineage {
            columns: Vec::new(),
            rest: Some(why.to_owned()),
        })
    };
    Ok(match node {
        N::SelectStmt(s) if s.into_clause.is_some() => None,
        N::SelectStmt(s) => rows(a.select(s)?),
        N::InsertStmt(s) if s.returning_clause.is_none() => None,
        N::UpdateStmt(s) if s.returning_clause.is_none() => None,
        N::DeleteStmt(s) if s.returning_clause.is_none() => None,
        N::MergeStmt(s) if s.returning_clause.is_none() => None,
        N::InsertStmt(s) => rows(a.insert(s)?),
        N::UpdateStmt(s) => rows(a.update(s)?),
        N::DeleteStmt(s) => rows(a.delete(s)?),
        N::MergeStmt(s) => rows(a.merge(s)?),
        N::CopyStmt(c) => copy(a, c)?,
        N::ExplainStmt(e) => Some(explain(e)),
        N::VariableShowStmt(v) => {
            // Settings, not table data.
            let n = if v.name.eq_ignore_ascii_case("all") {
                3
            } else {
                1
            };
            Some(OutputLineage {
                columns: vec![ColumnLineage::constant(); n],
                rest: None,
            })
        }
        N::FetchStmt(f) if f.ismove => None,
        N::FetchStmt(_) => unknown("FETCH returns a cursor's rows; its query is not in this text"),
        N::ExecuteStmt(_) => unknown("EXECUTE runs a prepared statement not in this text"),
        N::CallStmt(_) => unknown("CALL returns a procedure's output parameters"),
        N::CreateTableAsStmt(_)
        | N::DeclareCursorStmt(_)
        | N::PrepareStmt(_)
        | N::VariableSetStmt(_)
        | N::TransactionStmt(_)
        | N::ClosePortalStmt(_)
        | N::ListenStmt(_)
        | N::UnlistenStmt(_)
        | N::NotifyStmt(_)
        | N::DeallocateStmt(_)
        | N::DiscardStmt(_) => None,
        other => {
            if crate::kind::utility(other).1 {
                // DDL returns no rows.
                None
            } else {
                unknown("statement kind whose output lineage is not analysed")
            }
        }
    })
}

fn output(rel: Rel) -> OutputLineage {
    let (cols, rest) = rel.expand();
    OutputLineage {
        columns: cols.into_iter().map(|(_, l)| l).collect(),
        rest,
    }
}

fn copy(a: &mut Analyzer<'_>, c: &CopyStmt) -> Res<Option<OutputLineage>> {
    if c.is_from || c.is_program || !c.filename.is_empty() {
        // Nothing is sent to the client (COPY TO a file or program stays on the server).
        return Ok(None);
    }
    if let Some(q) = c.query.as_deref() {
        return Ok(Some(output(a.query(q)?)));
    }
    let Some(r) = &c.relation else {
        return Ok(Some(output(Rel::opaque("COPY without a source"))));
    };
    let rel = relation_rel(a, r);
    if c.attlist.is_empty() {
        return Ok(Some(output(rel)));
    }
    let columns = c
        .attlist
        .iter()
        .map(|n| match &n.node {
            Some(NodeEnum::String(s)) => rel
                .column(&s.sval)
                .unwrap_or_else(|| ColumnLineage::unknown(format!("column {} not found", s.sval))),
            _ => ColumnLineage::unknown("unsupported COPY column"),
        })
        .collect();
    Ok(Some(OutputLineage {
        columns,
        rest: None,
    }))
}

/// EXPLAIN returns plan text. Without ANALYZE nothing is executed: the plan
/// holds the statement's own text, catalog facts and estimates, no table
/// value. With ANALYZE the statement runs, and its output is not followed.
fn explain(e: &ExplainStmt) -> OutputLineage {
    let analyze = e.options.iter().any(|o| match &o.node {
        Some(NodeEnum::DefElem(d)) => {
            d.defname == "analyze"
                && !matches!(d.arg.as_deref().and_then(|n| n.node.as_ref()),
                    Some(NodeEnum::String(s)) if matches!(s.sval.to_ascii_lowercase().as_str(), "false" | "off" | "0" | "no"))
                && !matches!(d.arg.as_deref().and_then(|n| n.node.as_ref()),
                    Some(NodeEnum::Boolean(b)) if !b.boolval)
                && !matches!(d.arg.as_deref().and_then(|n| n.node.as_ref()),
                    Some(NodeEnum::Integer(i)) if i.ival == 0)
        }
        _ => false,
    });
    let column = if analyze {
        ColumnLineage::unknown("EXPLAIN ANALYZE executes the statement")
    } else {
        ColumnLineage::constant()
    };
    OutputLineage {
        columns: vec![column],
        rest: None,
    }
}

pub(super) fn relation_rel(a: &mut Analyzer<'_>, r: &RangeVar) -> Rel {
    let schema = (!r.schemaname.is_empty()).then_some(r.schemaname.as_str());
    a.relation(schema, &r.relname)
}

impl Analyzer<'_> {
    /// The output of a query used as a value, a FROM item or a CTE: SELECT,
    /// or DML with RETURNING.
    pub(crate) fn query(&mut self, n: &Node) -> Res<Rel> {
        use NodeEnum as N;
        self.nested(|a| match n.node.as_ref() {
            Some(N::SelectStmt(s)) => a.select(s),
            Some(N::InsertStmt(s)) => a.insert(s),
            Some(N::UpdateStmt(s)) => a.update(s),
            Some(N::DeleteStmt(s)) => a.delete(s),
            Some(N::MergeStmt(s)) => a.merge(s),
            _ => Ok(Rel::opaque("unsupported subquery")),
        })
    }

    /// Runs `body` with the CTEs of `with` in scope.
    pub(super) fn with_ctes<T>(
        &mut self,
        with: Option<&WithClause>,
        body: impl FnOnce(&mut Self) -> Res<T>,
    ) -> Res<T> {
        let Some(with) = with else {
            return body(self);
        };
        let mark = self.ctes.len();
        let result = (|| {
            for n in &with.ctes {
                let Some(NodeEnum::CommonTableExpr(c)) = &n.node else {
                    continue;
                };
                let rel = self.cte(c, with.recursive)?;
                self.ctes.push((c.ctename.clone(), rel));
            }
            body(self)
        })();
        self.ctes.truncate(mark);
        result
    }

    fn cte(&mut self, c: &CommonTableExpr, recursive: bool) -> Res<Rel> {
        let Some(q) = c.ctequery.as_deref() else {
            return Ok(Rel::opaque("empty CTE"));
        };
        let mut rel = match (recursive, q.node.as_ref()) {
            (true, Some(NodeEnum::SelectStmt(s))) if s.larg.is_some() => {
                self.recursive_cte(c, s)?
            }
            _ => self.query(q)?,
        };
        rel.rename(&c.aliascolnames);
        let all = |rel: &Rel, cols: &[Node]| {
            let mut l = ColumnLineage::constant();
            for n in cols {
                if let Some(NodeEnum::String(s)) = &n.node {
                    l.absorb(
                        &rel.column(&s.sval)
                            .unwrap_or_else(|| ColumnLineage::unknown("CTE column not found")),
                    );
                }
            }
            l
        };
        if let Some(search) = &c.search_clause {
            let l = all(&rel, &search.search_col_list);
            push_col(&mut rel, &search.search_seq_column, l);
        }
        if let Some(cycle) = &c.cycle_clause {
            let l = all(&rel, &cycle.cycle_col_list);
            push_col(&mut rel, &cycle.cycle_mark_column, l.clone());
            push_col(&mut rel, &cycle.cycle_path_column, l);
        }
        Ok(rel)
    }

    /// `WITH RECURSIVE t AS (base UNION step)`: starts from the base term and
    /// re-evaluates with `t` bound to the lineage so far until it stops growing.
    fn recursive_cte(&mut self, c: &CommonTableExpr, s: &SelectStmt) -> Res<Rel> {
        let Some(base) = s.larg.as_deref() else {
            return Ok(Rel::opaque("recursive CTE without a base term"));
        };
        // The base term sees the WITH clause attached to the whole UNION.
        let mut current =
            self.nested(|a| a.with_ctes(s.with_clause.as_ref(), |a| a.select(base)))?;
        current.rename(&c.aliascolnames);
        for _ in 0..MAX_RECURSION_ROUNDS {
            self.ctes.push((c.ctename.clone(), current.clone()));
            let next = self.nested(|a| a.select(s));
            self.ctes.pop();
            let mut next = next?;
            next.rename(&c.aliascolnames);
            let merged = union_rels(&current, &next);
            if same(&merged, &current) {
                return Ok(merged);
            }
            current = merged;
        }
        Ok(Rel::opaque(format!(
            "recursive CTE {} did not settle",
            c.ctename
        )))
    }

    pub(crate) fn select(&mut self, s: &SelectStmt) -> Res<Rel> {
        self.nested(|a| a.with_ctes(s.with_clause.as_ref(), |a| a.select_body(s)))
    }

    fn select_body(&mut self, s: &SelectStmt) -> Res<Rel> {
        if let (Some(l), Some(r)) = (s.larg.as_deref(), s.rarg.as_deref()) {
            // UNION / INTERSECT / EXCEPT: column i of either branch.
            let l = self.select(l)?;
            let r = self.select(r)?;
            return Ok(union_rels(&l, &r));
        }
        if !s.values_lists.is_empty() {
            return self.values(&s.values_lists);
        }
        let level = self.scan_from(&s.from_clause)?;
        self.in_level(level, |a| a.target_list(&s.target_list))
    }

    fn values(&mut self, rows: &[Node]) -> Res<Rel> {
        let mut cols: Vec<(String, ColumnLineage)> = Vec::new();
        for row in rows {
            let items: &[Node] = match &row.node {
                Some(NodeEnum::List(l)) => &l.items,
                _ => return Ok(Rel::opaque("unsupported VALUES row")),
            };
            for (i, item) in items.iter().enumerate() {
                let l = self.expr(item)?;
                match cols.get_mut(i) {
                    Some(c) => c.1.absorb(&l),
                    None => cols.push((format!("column{}", i + 1), l)),
                }
            }
        }
        Ok(Rel::known(cols))
    }

    /// The columns of a target list (SELECT's, or RETURNING's).
    pub(crate) fn target_list(&mut self, targets: &[Node]) -> Res<Rel> {
        let mut cols = Vec::with_capacity(targets.len());
        for t in targets {
            let Some(NodeEnum::ResTarget(r)) = &t.node else {
                return Ok(Rel {
                    cols,
                    tail: Tail::Any(ColumnLineage::unknown("unsupported target")),
                });
            };
            let Some(val) = r.val.as_deref() else {
                cols.push((r.name.clone(), ColumnLineage::constant()));
                continue;
            };
            if let Some(NodeEnum::ColumnRef(c)) = &val.node
                && matches!(
                    c.fields.last().and_then(|f| f.node.as_ref()),
                    Some(NodeEnum::AStar(_))
                )
            {
                let qualifier: Vec<&str> = c
                    .fields
                    .iter()
                    .filter_map(|f| match &f.node {
                        Some(NodeEnum::String(s)) => Some(s.sval.as_str()),
                        _ => None,
                    })
                    .collect();
                let (expanded, why) = self.expand_star(&qualifier);
                cols.extend(expanded);
                if let Some(why) = why {
                    // Later columns' positions are not known either.
                    return Ok(Rel {
                        cols,
                        tail: Tail::Any(ColumnLineage::Unknown(why)),
                    });
                }
                continue;
            }
            if let Some(NodeEnum::AIndirection(ind)) = &val.node
                && matches!(
                    ind.indirection.last().and_then(|f| f.node.as_ref()),
                    Some(NodeEnum::AStar(_))
                )
            {
                // `(c).*`, `(f(x)).*`: one column per field of a composite.
                let whole = self.expr(val)?;
                let single = match ind.arg.as_deref().and_then(|a| a.node.as_ref()) {
                    Some(NodeEnum::ColumnRef(c)) if ind.indirection.len() == 1 => {
                        match c.fields.as_slice() {
                            [n] => match &n.node {
                                Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                                _ => None,
                            },
                            _ => None,
                        }
                    }
                    _ => None,
                };
                let expanded = match single {
                    // A whole-row reference to a FROM item (not a composite column).
                    Some(name)
                        if self.items_named(None, &name).is_some() && !self.is_column(&name) =>
                    {
                        Some(self.expand_star(&[name.as_str()]))
                    }
                    _ => None,
                };
                match expanded {
                    Some((cols_of, None)) => {
                        cols.extend(cols_of);
                        continue;
                    }
                    _ => {
                        return Ok(Rel {
                            cols,
                            tail: Tail::Any(ColumnLineage::Unknown(match whole {
                                ColumnLineage::Unknown(why) => why,
                                ColumnLineage::Derived(_) => {
                                    "the fields of a composite value are not counted".to_owned()
                                }
                            })),
                        });
                    }
                }
            }
            let l = self.expr(val)?;
            let name = if r.name.is_empty() {
                figure_name(val)
            } else {
                r.name.clone()
            };
            cols.push((name, l));
        }
        Ok(Rel::known(cols))
    }
}

fn push_col(rel: &mut Rel, name: &str, l: ColumnLineage) {
    if name.is_empty() {
        return;
    }
    if matches!(rel.tail, Tail::None) {
        rel.cols.push((name.to_owned(), l));
    }
}

/// Column i of `l` combined with column i of `r` (set operations, recursion).
fn union_rels(l: &Rel, r: &Rel) -> Rel {
    let mut cols = Vec::with_capacity(l.cols.len());
    for (i, (name, lin)) in l.cols.iter().enumerate() {
        let other = match r.cols.get(i) {
            Some((_, o)) => o.clone(),
            None => r.all(),
        };
        cols.push((name.clone(), lin.clone().union(&other)));
    }
    let tail = match (&l.tail, &r.tail) {
        (Tail::None, Tail::None) if l.cols.len() == r.cols.len() => Tail::None,
        (Tail::None, Tail::None) => Tail::Any(ColumnLineage::unknown(
            "set operation branches differ in width",
        )),
        _ => Tail::Any(ColumnLineage::Unknown(
            l.expand()
                .1
                .or(r.expand().1)
                .unwrap_or_else(|| "unknown columns".to_owned()),
        )),
    };
    if !matches!(tail, Tail::None) {
        // A column of `l` past `r`'s known ones already took `r.all()`.
        for (i, c) in cols.iter_mut().enumerate() {
            if i >= r.cols.len() {
                c.1.absorb(&r.all());
            }
        }
    }
    Rel { cols, tail }
}

fn same(a: &Rel, b: &Rel) -> bool {
    a.cols.len() == b.cols.len()
        && a.cols.iter().zip(&b.cols).all(|(x, y)| x.1 == y.1)
        && matches!((&a.tail, &b.tail), (Tail::None, Tail::None))
}

/// The column name PostgreSQL gives an unnamed target (near enough: a wrong
/// guess only makes a later reference by name fail, hence Unknown).
fn figure_name(n: &Node) -> String {
    use NodeEnum as N;
    match n.node.as_ref() {
        Some(N::ColumnRef(c)) => match c.fields.last().and_then(|f| f.node.as_ref()) {
            Some(N::String(s)) => s.sval.clone(),
            _ => "?column?".to_owned(),
        },
        Some(N::FuncCall(f)) => match f.funcname.last().and_then(|f| f.node.as_ref()) {
            Some(N::String(s)) => s.sval.clone(),
            _ => "?column?".to_owned(),
        },
        Some(N::TypeCast(c)) => match c.arg.as_deref() {
            Some(arg) if !matches!(arg.node, Some(N::AConst(_))) => figure_name(arg),
            _ => match c
                .type_name
                .as_ref()
                .and_then(|t| t.names.last())
                .and_then(|n| n.node.as_ref())
            {
                Some(N::String(s)) => s.sval.clone(),
                _ => "?column?".to_owned(),
            },
        },
        Some(N::CaseExpr(_)) => "case".to_owned(),
        Some(N::CoalesceExpr(_)) => "coalesce".to_owned(),
        Some(N::AArrayExpr(_)) => "array".to_owned(),
        Some(N::RowExpr(_)) => "row".to_owned(),
        _ => "?column?".to_owned(),
    }
}
