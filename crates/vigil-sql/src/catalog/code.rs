//! Views and row-security policies: relations whose reading runs code.

use std::collections::HashSet;

use super::{Catalog, MAX_VIEW_DEPTH};
use crate::walk::{RelationRef, Walker};

/// A relation whose reading runs code: a view (its definition) or a table with
/// row-security policies (their `USING` expressions).
#[derive(Debug, Clone)]
pub(super) struct CodeRelation {
    pub schema: String,
    pub name: String,
    /// SQL texts evaluated when the relation is read.
    pub bodies: Vec<String>,
}

/// Decides which views and policy-bearing tables are unsafe to read.
///
/// Each body is analysed once against the catalog's functions, operators and
/// casts; then unsafety spreads from a relation to every relation whose body
/// reads it, for at most [`MAX_VIEW_DEPTH`] rounds. A relation still changing
/// after that (a chain too deep to follow) is declared unsafe.
pub(super) fn unsafe_relations(catalog: &Catalog, relations: &[CodeRelation]) -> HashSet<String> {
    // Per relation: locally safe?, and the relations its bodies read.
    let mut local: Vec<(bool, Vec<RelationRef>)> = Vec::with_capacity(relations.len());
    for rel in relations {
        let mut safe = true;
        let mut reads = Vec::new();
        let trusted = super::is_system_schema(&rel.schema);
        for body in &rel.bodies {
            match Walker::analyze_body(body, catalog, trusted) {
                Ok((ro, mut r)) => {
                    safe &= ro;
                    reads.append(&mut r);
                }
                Err(_) => safe = false,
            }
        }
        local.push((safe, reads));
    }
    let key = |r: &CodeRelation| format!("{}.{}", r.schema, r.name);
    let mut unsafe_set: HashSet<String> = relations
        .iter()
        .zip(&local)
        .filter(|(_, (safe, _))| !safe)
        .map(|(r, _)| key(r))
        .collect();
    let mut unsafe_names: HashSet<String> = relations
        .iter()
        .zip(&local)
        .filter(|(_, (safe, _))| !safe)
        .map(|(r, _)| r.name.clone())
        .collect();
    let reads_unsafe =
        |reads: &[(Option<String>, String)], set: &HashSet<String>, names: &HashSet<String>| {
            reads.iter().any(|(s, n)| match s {
                Some(s) => set.contains(&format!("{s}.{n}")),
                None => names.contains(n),
            })
        };
    let mut changed = true;
    let mut rounds = 0;
    while changed {
        changed = false;
        rounds += 1;
        let mut newly = Vec::new();
        for (rel, (_, reads)) in relations.iter().zip(&local) {
            if !unsafe_set.contains(&key(rel)) && reads_unsafe(reads, &unsafe_set, &unsafe_names) {
                newly.push(rel);
            }
        }
        for rel in newly {
            changed = true;
            unsafe_set.insert(key(rel));
            unsafe_names.insert(rel.name.clone());
        }
        if changed && rounds >= MAX_VIEW_DEPTH {
            // Too deep to follow: every relation that reads another code relation is unsafe.
            let all_names: HashSet<&str> = relations.iter().map(|r| r.name.as_str()).collect();
            for (rel, (_, reads)) in relations.iter().zip(&local) {
                if reads.iter().any(|(_, n)| all_names.contains(n.as_str())) {
                    unsafe_set.insert(key(rel));
                    unsafe_names.insert(rel.name.clone());
                }
            }
            break;
        }
    }
    unsafe_set.extend(unsafe_names);
    unsafe_set
}
