//! The walker over SELECT and DML: scopes for CTEs, what each statement
//! reads and writes, and RETURNING.

use pg_query::protobuf::{
    self, CommonTableExpr, DeleteStmt, InsertStmt, MergeStmt, SelectStmt, UpdateStmt, WithClause,
};

use pg_query::NodeEnum;

use crate::walk::{Walked, Walker};

impl Walker<'_> {
    /// Walks a WITH clause, then `body` with its CTE names in scope.
    pub(crate) fn with_scope(
        &mut self,
        with: Option<&WithClause>,
        body: impl FnOnce(&mut Self) -> Walked,
    ) -> Walked {
        let Some(with) = with else {
            return body(self);
        };
        let mark = self.ctes.len();
        let ctes: Vec<&CommonTableExpr> = with
            .ctes
            .iter()
            .filter_map(|n| match &n.node {
                Some(NodeEnum::CommonTableExpr(c)) => Some(c.as_ref()),
                _ => None,
            })
            .collect();
        if ctes.len() != with.ctes.len() {
            self.unsafe_();
        }
        let result = (|| {
            if with.recursive {
                self.ctes.extend(ctes.iter().map(|c| c.ctename.clone()));
            }
            for cte in &ctes {
                // A non-recursive CTE sees only the CTEs before it: inside its own
                // body its name still means the real table.
                self.opt(cte.ctequery.as_deref())?;
                if !with.recursive {
                    self.ctes.push(cte.ctename.clone());
                }
            }
            body(self)
        })();
        self.ctes.truncate(mark);
        result
    }

    pub(crate) fn select(&mut self, s: &SelectStmt) -> Walked {
        self.enter()?;
        let result = self.with_scope(s.with_clause.as_ref(), |w| {
            if let Some(into) = &s.into_clause {
                w.mark_write();
                if let Some(rel) = &into.rel {
                    w.write_relation(rel);
                }
            }
            if !s.locking_clause.is_empty() {
                w.unsafe_();
            }
            w.list(&s.from_clause)?;
            w.list(&s.distinct_clause)?;
            w.list(&s.target_list)?;
            w.opt(s.where_clause.as_deref())?;
            w.list(&s.group_clause)?;
            w.opt(s.having_clause.as_deref())?;
            w.list(&s.window_clause)?;
            w.list(&s.values_lists)?;
            w.list(&s.sort_clause)?;
            w.opt(s.limit_offset.as_deref())?;
            w.opt(s.limit_count.as_deref())?;
            if let Some(l) = s.larg.as_deref() {
                w.select(l)?;
            }
            if let Some(r) = s.rarg.as_deref() {
                w.select(r)?;
            }
            Ok(())
        });
        self.leave();
        result
    }

    pub(crate) fn insert(&mut self, s: &InsertStmt) -> Walked {
        self.mark_write();
        self.with_scope(s.with_clause.as_ref(), |w| {
            if let Some(rel) = &s.relation {
                w.write_relation(rel);
            }
            w.opt(s.select_stmt.as_deref())?;
            if let Some(oc) = &s.on_conflict_clause {
                if let Some(infer) = &oc.infer {
                    w.list(&infer.index_elems)?;
                    w.opt(infer.where_clause.as_deref())?;
                }
                w.list(&oc.target_list)?;
                w.opt(oc.where_clause.as_deref())?;
            }
            w.returning(s.returning_clause.as_ref())
        })
    }

    pub(crate) fn update(&mut self, s: &UpdateStmt) -> Walked {
        self.mark_write();
        self.with_scope(s.with_clause.as_ref(), |w| {
            if let Some(rel) = &s.relation {
                w.write_relation(rel);
            }
            w.list(&s.target_list)?;
            w.list(&s.from_clause)?;
            w.opt(s.where_clause.as_deref())?;
            w.returning(s.returning_clause.as_ref())
        })
    }

    pub(crate) fn delete(&mut self, s: &DeleteStmt) -> Walked {
        self.mark_write();
        self.with_scope(s.with_clause.as_ref(), |w| {
            if let Some(rel) = &s.relation {
                w.write_relation(rel);
            }
            w.list(&s.using_clause)?;
            w.opt(s.where_clause.as_deref())?;
            w.returning(s.returning_clause.as_ref())
        })
    }

    pub(crate) fn merge(&mut self, s: &MergeStmt) -> Walked {
        self.mark_write();
        self.with_scope(s.with_clause.as_ref(), |w| {
            if let Some(rel) = &s.relation {
                w.write_relation(rel);
            }
            w.opt(s.source_relation.as_deref())?;
            w.opt(s.join_condition.as_deref())?;
            w.list(&s.merge_when_clauses)?;
            w.returning(s.returning_clause.as_ref())
        })
    }

    pub(crate) fn returning(&mut self, r: Option<&protobuf::ReturningClause>) -> Walked {
        match r {
            Some(r) => self.list(&r.exprs),
            None => Ok(()),
        }
    }
}
