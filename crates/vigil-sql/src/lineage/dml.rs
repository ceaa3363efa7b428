//! DML as a source of rows: RETURNING of INSERT, UPDATE, DELETE and MERGE,
//! where each target column reads itself and whatever is assigned to it.

use pg_query::NodeEnum;
use pg_query::protobuf::{
    DeleteStmt, InsertStmt, MergeStmt, Node, RangeVar, ReturningClause, UpdateStmt,
};

use super::ColumnLineage;
use super::scope::{Analyzer, Item, Level, Rel, Res, Tail};
use super::stmt::relation_rel;

impl Analyzer<'_> {
    /// The DML target as RETURNING sees it: each column reads itself and
    /// whatever the statement assigns to it (`SET email = ssn` returns ssn).
    /// A trigger may assign more: that is not visible in the text.
    fn target_item(&mut self, r: &RangeVar) -> Item {
        let rel = relation_rel(self, r);
        match &r.alias {
            Some(a) => Item {
                name: a.aliasname.clone(),
                schema: None,
                rel,
            },
            None => Item {
                name: r.relname.clone(),
                schema: (!r.schemaname.is_empty()).then(|| r.schemaname.clone()),
                rel,
            },
        }
    }

    fn returning(
        &mut self,
        mut level: Level,
        target: usize,
        clause: Option<&ReturningClause>,
    ) -> Res<Rel> {
        let Some(clause) = clause else {
            return Ok(Rel::known(Vec::new()));
        };
        if let Some(t) = level.items.get(target).cloned() {
            // `RETURNING old.*, new.*` (and their renamed forms) read the target too.
            let mut names = vec!["old".to_owned(), "new".to_owned()];
            for o in &clause.options {
                if let Some(NodeEnum::ReturningOption(o)) = &o.node {
                    names.push(o.value.clone());
                }
            }
            for name in names {
                if level.items.iter().all(|i| i.name != name) {
                    level.items.push(Item {
                        name,
                        schema: None,
                        rel: t.rel.clone(),
                    });
                }
            }
        }
        // `*` in RETURNING lists the target's columns, then the other items'.
        level.tree = (0..level.items.len())
            .filter(|i| {
                level
                    .items
                    .get(*i)
                    .is_some_and(|it| !matches!(it.name.as_str(), "old" | "new"))
                    || *i == target
            })
            .map(super::scope::FromNode::Item)
            .collect();
        self.in_level(level, |a| a.target_list(&clause.exprs))
    }

    pub(crate) fn insert(&mut self, s: &InsertStmt) -> Res<Rel> {
        self.with_ctes(s.with_clause.as_ref(), |a| {
            let Some(r) = &s.relation else {
                return Ok(Rel::opaque("INSERT without a target"));
            };
            let mut target = a.target_item(r);
            let source = match s.select_stmt.as_deref() {
                Some(q) => Some(a.query(q)?),
                None => None,
            };
            if let Some(source) = source {
                let names: Vec<String> = if s.cols.is_empty() {
                    target.rel.cols.iter().map(|(n, _)| n.clone()).collect()
                } else {
                    s.cols
                        .iter()
                        .filter_map(|c| match &c.node {
                            Some(NodeEnum::ResTarget(t)) => Some(t.name.clone()),
                            _ => None,
                        })
                        .collect()
                };
                for (i, name) in names.iter().enumerate() {
                    let l = match source.cols.get(i) {
                        Some((_, l)) => l.clone(),
                        None => source.all(),
                    };
                    assign(&mut target.rel, name, &l);
                }
                if s.cols.is_empty() && !matches!(target.rel.tail, Tail::None) {
                    let all = source.all();
                    absorb_all(&mut target.rel, &all);
                }
            }
            if let Some(oc) = &s.on_conflict_clause {
                // DO UPDATE SET ... reads the target and `excluded` (the proposed row).
                let excluded = Item {
                    name: "excluded".to_owned(),
                    schema: None,
                    rel: target.rel.clone(),
                };
                let level = Level {
                    items: vec![target.clone(), excluded],
                    tree: Vec::new(),
                };
                let sets = a.in_level(level, |a| a.assignments(&oc.target_list))?;
                for (name, l) in sets {
                    assign(&mut target.rel, &name, &l);
                }
            }
            let level = Level {
                items: vec![target],
                tree: Vec::new(),
            };
            a.returning(level, 0, s.returning_clause.as_ref())
        })
    }

    pub(crate) fn update(&mut self, s: &UpdateStmt) -> Res<Rel> {
        self.with_ctes(s.with_clause.as_ref(), |a| {
            let Some(r) = &s.relation else {
                return Ok(Rel::opaque("UPDATE without a target"));
            };
            let target = a.target_item(r);
            let mut level = a.scan_from(&s.from_clause)?;
            level.items.insert(0, target);
            let sets = a.in_level(level.clone(), |a| a.assignments(&s.target_list))?;
            if let Some(t) = level.items.first_mut() {
                for (name, l) in sets {
                    assign(&mut t.rel, &name, &l);
                }
            }
            a.returning(level, 0, s.returning_clause.as_ref())
        })
    }

    pub(crate) fn delete(&mut self, s: &DeleteStmt) -> Res<Rel> {
        self.with_ctes(s.with_clause.as_ref(), |a| {
            let Some(r) = &s.relation else {
                return Ok(Rel::opaque("DELETE without a target"));
            };
            let target = a.target_item(r);
            let mut level = a.scan_from(&s.using_clause)?;
            level.items.insert(0, target);
            a.returning(level, 0, s.returning_clause.as_ref())
        })
    }

    /// MERGE: every target column may receive any value a WHEN clause assigns
    /// (kept simple: the union of all of them is added to each column).
    pub(crate) fn merge(&mut self, s: &MergeStmt) -> Res<Rel> {
        self.with_ctes(s.with_clause.as_ref(), |a| {
            let Some(r) = &s.relation else {
                return Ok(Rel::opaque("MERGE without a target"));
            };
            let mut target = a.target_item(r);
            let sources: Vec<Node> = s.source_relation.iter().map(|n| (**n).clone()).collect();
            let source_level = a.scan_from(&sources)?;
            let mut level = source_level.clone();
            level.items.insert(0, target.clone());
            let assigned = a.in_level(level, |a| {
                let mut l = ColumnLineage::constant();
                for w in &s.merge_when_clauses {
                    if let Some(NodeEnum::MergeWhenClause(w)) = &w.node {
                        for (_, v) in a.assignments(&w.target_list)? {
                            l.absorb(&v);
                        }
                        l.absorb(&a.exprs(&w.values)?);
                    }
                }
                Ok(l)
            })?;
            absorb_all(&mut target.rel, &assigned);
            let mut level = source_level;
            level.items.insert(0, target);
            a.returning(level, 0, s.returning_clause.as_ref())
        })
    }

    /// `SET col = expr, (a, b) = (...)`: each assigned column and what it receives.
    fn assignments(&mut self, targets: &[Node]) -> Res<Vec<(String, ColumnLineage)>> {
        let mut out = Vec::new();
        for t in targets {
            if let Some(NodeEnum::ResTarget(r)) = &t.node {
                let l = self.opt_expr(r.val.as_deref())?;
                // `SET col[1] = x`, `SET col.field = x`: the rest of the column stays.
                out.push((r.name.clone(), l));
            }
        }
        Ok(out)
    }
}

/// Adds `l` to the lineage of column `name` of a DML target.
fn assign(rel: &mut Rel, name: &str, l: &ColumnLineage) {
    let mut found = false;
    for (n, c) in &mut rel.cols {
        if n == name {
            c.absorb(l);
            found = true;
        }
    }
    if !found && let Tail::Any(t) = &mut rel.tail {
        t.absorb(l);
    }
}

fn absorb_all(rel: &mut Rel, l: &ColumnLineage) {
    for (_, c) in &mut rel.cols {
        c.absorb(l);
    }
    if let Tail::Any(t) = &mut rel.tail {
        t.absorb(l);
    }
}
