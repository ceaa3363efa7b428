//! FROM items: tables, views, CTEs, subqueries, functions, joins.

use pg_query::NodeEnum;
use pg_query::protobuf::{Alias, JoinExpr, Node, RangeFunction, RangeVar};

use super::ColumnLineage;
use super::scope::{Analyzer, FromNode, Item, Level, Rel, Res, Tail};

/// Built-in set-returning functions whose output columns are known: name and
/// column names (`None`: one column per argument, as `unnest(a, b)`).
const SRF_SHAPES: &[(&str, Option<&[&str]>)] = &[
    ("unnest", None),
    ("json_each", Some(&["key", "value"])),
    ("json_each_text", Some(&["key", "value"])),
    ("jsonb_each", Some(&["key", "value"])),
    ("jsonb_each_text", Some(&["key", "value"])),
];

/// Built-in functions that return one column (named after the function, or its alias).
const ONE_COLUMN: &[&str] = &[
    "generate_series",
    "generate_subscripts",
    "json_array_elements",
    "json_array_elements_text",
    "jsonb_array_elements",
    "jsonb_array_elements_text",
    "json_object_keys",
    "jsonb_object_keys",
    "jsonb_path_query",
    "regexp_matches",
    "regexp_split_to_table",
    "string_to_table",
];

impl Analyzer<'_> {
    /// Builds the level of a FROM clause. Each item sees the items before it
    /// (LATERAL) only when it may.
    pub(crate) fn scan_from(&mut self, from: &[Node]) -> Res<Level> {
        let mut level = Level::default();
        for n in from {
            let node = self.range_item(n, &mut level)?;
            level.tree.push(node);
        }
        Ok(level)
    }

    fn range_item(&mut self, n: &Node, level: &mut Level) -> Res<FromNode> {
        self.nested(|a| a.range_item_inner(n, level))
    }

    fn range_item_inner(&mut self, n: &Node, level: &mut Level) -> Res<FromNode> {
        use NodeEnum as N;
        let (name, schema, rel) = match n.node.as_ref() {
            Some(N::RangeVar(r)) => self.range_var(r),
            Some(N::RangeSubselect(s)) => {
                let rel = match s.subquery.as_deref() {
                    Some(q) if s.lateral => self.with_siblings(level, |a| a.query(q))?,
                    Some(q) => self.query(q)?,
                    None => Rel::opaque("empty subquery"),
                };
                aliased(s.alias.as_ref(), "subquery", None, rel)
            }
            Some(N::RangeFunction(f)) => {
                // A function in FROM may always read the items before it.
                let rel = self.with_siblings(level, |a| a.range_function(f))?;
                let default = first_function_name(f).unwrap_or_else(|| "function".to_owned());
                let rel = single_column_alias(f.alias.as_ref(), rel, &default, f);
                aliased(f.alias.as_ref(), &default, None, rel)
            }
            Some(N::JoinExpr(j)) => return self.join(j, level),
            Some(N::RangeTableSample(t)) => {
                match t.relation.as_deref().and_then(|r| r.node.as_ref()) {
                    Some(N::RangeVar(r)) => self.range_var(r),
                    _ => (
                        "sample".to_owned(),
                        None,
                        Rel::opaque("unsupported TABLESAMPLE source"),
                    ),
                }
            }
            Some(N::RangeTableFunc(t)) => {
                // XMLTABLE: every column is computed from the document and the paths.
                let all = self.with_siblings(level, |a| {
                    let l = a.opt_expr(t.docexpr.as_deref())?;
                    let l = l.union(&a.opt_expr(t.rowexpr.as_deref())?);
                    let l = l.union(&a.exprs(&t.namespaces)?);
                    Ok(l.union(&a.exprs(&t.columns)?))
                })?;
                let cols = t
                    .columns
                    .iter()
                    .filter_map(|c| match &c.node {
                        Some(N::RangeTableFuncCol(c)) => Some((c.colname.clone(), all.clone())),
                        _ => None,
                    })
                    .collect();
                aliased(t.alias.as_ref(), "xmltable", None, Rel::known(cols))
            }
            Some(N::JsonTable(t)) => {
                let all = self.with_siblings(level, |a| {
                    let l = match &t.context_item {
                        Some(v) => a.expr(&Node {
                            node: Some(N::JsonValueExpr(v.clone())),
                        })?,
                        None => ColumnLineage::constant(),
                    };
                    Ok(l.union(&a.exprs(&t.passing)?))
                })?;
                // Nested column paths make the count hard to follow: any name, unknown count.
                let rel = Rel {
                    cols: Vec::new(),
                    tail: Tail::Any(all),
                };
                aliased(t.alias.as_ref(), "json_table", None, rel)
            }
            _ => ("?".to_owned(), None, Rel::opaque("unsupported FROM item")),
        };
        level.items.push(Item { name, schema, rel });
        Ok(FromNode::Item(level.items.len() - 1))
    }

    /// Runs `f` with the items built so far visible as an enclosing level.
    fn with_siblings<T>(&mut self, level: &Level, f: impl FnOnce(&mut Self) -> Res<T>) -> Res<T> {
        self.in_level(level.clone(), f)
    }

    fn range_var(&mut self, r: &RangeVar) -> (String, Option<String>, Rel) {
        let schema = (!r.schemaname.is_empty()).then_some(r.schemaname.as_str());
        let rel = self.relation(schema, &r.relname);
        // `public.customers.email` may name `FROM customers` once it resolves there.
        let schema = match schema {
            Some(s) => Some(s.to_owned()),
            None if !self.ctes.iter().any(|(n, _)| *n == r.relname) => {
                match self.catalog.lineage().schemas_of(&r.relname).as_slice() {
                    [only] => Some(only.clone()),
                    _ => None,
                }
            }
            None => None,
        };
        aliased(r.alias.as_ref(), &r.relname, schema, rel)
    }

    /// The columns of `f(...)`, `ROWS FROM (f(...), g(...))`, `... WITH ORDINALITY`.
    fn range_function(&mut self, f: &RangeFunction) -> Res<Rel> {
        let mut out = Rel::known(Vec::new());
        for item in &f.functions {
            // Each item is a list: the call, then its column definition list.
            let parts: &[Node] = match &item.node {
                Some(NodeEnum::List(l)) => &l.items,
                _ => std::slice::from_ref(item),
            };
            let call = parts.first().and_then(|n| n.node.as_ref());
            let coldefs: &[Node] = match parts.get(1).and_then(|n| n.node.as_ref()) {
                Some(NodeEnum::List(l)) => &l.items,
                _ => &f.coldeflist,
            };
            let rel = match call {
                Some(NodeEnum::FuncCall(call)) => self.function_rel(call, coldefs)?,
                Some(other) => {
                    // `FROM lower('x')` and other SQL-syntax calls parse as expressions.
                    let node = Node {
                        node: Some(other.clone()),
                    };
                    let l = self.expr(&node)?;
                    Rel::known(vec![("?column?".to_owned(), l)])
                }
                None => Rel::opaque("empty function in FROM"),
            };
            if !matches!(out.tail, Tail::None) {
                continue;
            }
            out.cols.extend(rel.cols);
            out.tail = rel.tail;
        }
        if f.ordinality && matches!(out.tail, Tail::None) {
            out.cols
                .push(("ordinality".to_owned(), ColumnLineage::constant()));
        }
        Ok(out)
    }

    fn function_rel(&mut self, call: &pg_query::protobuf::FuncCall, coldefs: &[Node]) -> Res<Rel> {
        if let Some(why) = self.function_is_opaque(&call.funcname) {
            if coldefs.is_empty() {
                return Ok(Rel::opaque(why));
            }
            // `AS f(a int, b text)`: the count is known, the values are not.
            let unknown = ColumnLineage::Unknown(why);
            return Ok(Rel::known(
                coldefs
                    .iter()
                    .map(|c| match &c.node {
                        Some(NodeEnum::ColumnDef(d)) => (d.colname.clone(), unknown.clone()),
                        _ => (String::new(), unknown.clone()),
                    })
                    .collect(),
            ));
        }
        let args = self.exprs(&call.args)?;
        let name = function_name(call);
        if !coldefs.is_empty() {
            let cols = coldefs
                .iter()
                .filter_map(|c| match &c.node {
                    Some(NodeEnum::ColumnDef(d)) => Some((d.colname.clone(), args.clone())),
                    _ => None,
                })
                .collect();
            return Ok(Rel::known(cols));
        }
        if ONE_COLUMN.contains(&name.as_str()) {
            return Ok(Rel::known(vec![(name, args)]));
        }
        match SRF_SHAPES.iter().find(|(n, _)| *n == name) {
            Some((_, Some(names))) => Ok(Rel::known(
                names
                    .iter()
                    .map(|n| ((*n).to_owned(), args.clone()))
                    .collect(),
            )),
            Some((_, None)) => {
                // unnest(a, b, ...): one column per argument, each from its own argument.
                let mut cols = Vec::new();
                for a in &call.args {
                    let l = self.expr(a)?;
                    cols.push(("unnest".to_owned(), l));
                }
                Ok(Rel::known(cols))
            }
            // A built-in whose columns are not listed: every column derives
            // from the arguments, but how many there are is not known.
            None => Ok(Rel {
                cols: Vec::new(),
                tail: Tail::Any(args),
            }),
        }
    }

    fn join(&mut self, j: &JoinExpr, level: &mut Level) -> Res<FromNode> {
        let left = match j.larg.as_deref() {
            Some(l) => self.range_item(l, level)?,
            None => {
                return Ok(FromNode::Item(push_opaque(
                    level,
                    "join without a left side",
                )));
            }
        };
        let right = match j.rarg.as_deref() {
            Some(r) => self.range_item(r, level)?,
            None => {
                return Ok(FromNode::Item(push_opaque(
                    level,
                    "join without a right side",
                )));
            }
        };
        let merged = if j.is_natural {
            let (l, lwhy) = level.expand(&left);
            let (r, rwhy) = level.expand(&right);
            if lwhy.is_some() || rwhy.is_some() {
                None
            } else {
                Some(
                    l.iter()
                        .map(|(n, _)| n.clone())
                        .filter(|n| r.iter().any(|(m, _)| m == n))
                        .collect(),
                )
            }
        } else {
            Some(
                j.using_clause
                    .iter()
                    .filter_map(|n| match &n.node {
                        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
                        _ => None,
                    })
                    .collect::<Vec<_>>(),
            )
        };
        let node = FromNode::Join {
            left: Box::new(left),
            right: Box::new(right),
            merged: merged.clone(),
        };
        if let Some(using_alias) = &j.join_using_alias {
            // `JOIN ... USING (id) AS x`: x.id is the merged column.
            let (cols, _) = level.expand(&node);
            let merged = merged.unwrap_or_default();
            let cols = cols
                .into_iter()
                .filter(|(n, _)| merged.contains(n))
                .collect();
            level.items.push(Item {
                name: using_alias.aliasname.clone(),
                schema: None,
                rel: Rel::known(cols),
            });
            // Not part of `*`: the tree below lists the columns.
        }
        let Some(alias) = &j.alias else {
            return Ok(node);
        };
        // `(a JOIN b) AS j`: one item, whose columns are the join's.
        let (cols, why) = level.expand(&node);
        let mut rel = Rel {
            cols,
            tail: match why {
                Some(why) => Tail::Any(ColumnLineage::Unknown(why)),
                None => Tail::None,
            },
        };
        rel.rename(&alias.colnames);
        // The items inside are hidden behind the alias; keep the level's
        // indices stable by replacing them with an item of no columns.
        hide(level, &node);
        level.items.push(Item {
            name: alias.aliasname.clone(),
            schema: None,
            rel,
        });
        Ok(FromNode::Item(level.items.len() - 1))
    }
}

/// Makes the items under `node` invisible (an aliased join hides them).
fn hide(level: &mut Level, node: &FromNode) {
    match node {
        FromNode::Item(i) => {
            if let Some(item) = level.items.get_mut(*i) {
                item.name.clear();
                item.schema = None;
                item.rel = Rel::known(Vec::new());
            }
        }
        FromNode::Join { left, right, .. } => {
            hide(level, left);
            hide(level, right);
        }
    }
}

fn push_opaque(level: &mut Level, why: &str) -> usize {
    level.items.push(Item {
        name: String::new(),
        schema: None,
        rel: Rel::opaque(why),
    });
    level.items.len() - 1
}

/// Applies `AS alias (cols)`: the reference name, and renamed columns.
fn aliased(
    alias: Option<&Alias>,
    default: &str,
    schema: Option<String>,
    mut rel: Rel,
) -> (String, Option<String>, Rel) {
    match alias {
        Some(a) => {
            rel.rename(&a.colnames);
            (a.aliasname.clone(), None, rel)
        }
        None => (default.to_owned(), schema, rel),
    }
}

/// A function returning a single column takes the alias as its column name
/// (`generate_series(1, 3) AS g` has column `g`).
fn single_column_alias(
    alias: Option<&Alias>,
    mut rel: Rel,
    default: &str,
    f: &RangeFunction,
) -> Rel {
    if f.functions.len() == 1
        && let (Some(a), [col]) = (alias, rel.cols.as_mut_slice())
        && a.colnames.is_empty()
        && matches!(rel.tail, Tail::None)
    {
        col.0 = a.aliasname.clone();
    } else if let [col] = rel.cols.as_mut_slice()
        && col.0 == "?column?"
    {
        col.0 = default.to_owned();
    }
    rel
}

fn function_name(call: &pg_query::protobuf::FuncCall) -> String {
    match call.funcname.last().and_then(|n| n.node.as_ref()) {
        Some(NodeEnum::String(s)) => s.sval.clone(),
        _ => String::new(),
    }
}

fn first_function_name(f: &RangeFunction) -> Option<String> {
    let first = f.functions.first()?;
    let call = match &first.node {
        Some(NodeEnum::List(l)) => l.items.first()?.node.as_ref()?,
        other => other.as_ref()?,
    };
    match call {
        NodeEnum::FuncCall(c) => Some(function_name(c)),
        _ => None,
    }
}
