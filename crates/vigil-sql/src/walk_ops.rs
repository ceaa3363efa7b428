//! The operators an expression applies, including those the grammar hides
//! behind a keyword (`BETWEEN`, `IN (SELECT ...)`): each one is checked
//! against the catalog's operator allow-list.

use pg_query::protobuf::{AExpr, AExprKind, SubLink, SubLinkType};

use crate::walk::Walker;

impl Walker<'_> {
    /// The operator of `a op b`, `a LIKE b`, `a IN (...)`, `a BETWEEN b AND c`, ...
    pub(crate) fn a_expr_operator(&mut self, e: &AExpr) {
        match AExprKind::try_from(e.kind) {
            // The name is the keyword; the server compares with these.
            Ok(
                AExprKind::AexprBetween
                | AExprKind::AexprNotBetween
                | AExprKind::AexprBetweenSym
                | AExprKind::AexprNotBetweenSym,
            ) => {
                for op in ["<", ">", "<=", ">="] {
                    self.operator_name(None, op);
                }
            }
            Ok(_) => self.operator(&e.name),
            Err(_) => {
                self.needs_catalog = true;
                self.unsafe_();
            }
        }
    }

    /// The operator of `x op ANY (SELECT ...)`; `x IN (SELECT ...)` has none
    /// written and compares with `=`.
    pub(crate) fn sublink_operator(&mut self, s: &SubLink) {
        let compares = matches!(
            SubLinkType::try_from(s.sub_link_type),
            Ok(SubLinkType::AnySublink | SubLinkType::AllSublink | SubLinkType::RowcompareSublink)
        );
        if s.oper_name.is_empty() && compares {
            self.operator_name(None, "=");
        } else {
            self.operator(&s.oper_name);
        }
    }
}
