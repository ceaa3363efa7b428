//! A principal's masks on one connection, compiled once per session: which
//! source columns are masked and how, and which detectors run over every
//! text value. The masks of every matching policy add up; where two rules
//! mask the same column, the stronger style wins.

use crate::{Detector, MaskKey, Masker, ParseError, Style};
use std::sync::Arc;

/// One `[[policy.mask]]` entry, as configured.
pub struct MaskRule<'a> {
    pub columns: &'a [String],
    pub detectors: &'a [String],
    pub style: Style,
}

/// `table.column` or `schema.table.column`, each part a glob (`*` matches
/// any run of characters).
#[derive(Clone, Debug, PartialEq, Eq)]
struct ColumnPattern {
    schema: Option<String>,
    table: String,
    column: String,
}

impl ColumnPattern {
    fn parse(text: &str) -> Option<ColumnPattern> {
        let parts: Vec<&str> = text.split('.').map(str::trim).collect();
        let lower = |s: &str| s.to_ascii_lowercase();
        match parts.as_slice() {
            [table, column] if !table.is_empty() && !column.is_empty() => Some(ColumnPattern {
                schema: None,
                table: lower(table),
                column: lower(column),
            }),
            [schema, table, column]
                if !schema.is_empty() && !table.is_empty() && !column.is_empty() =>
            {
                Some(ColumnPattern {
                    schema: Some(lower(schema)),
                    table: lower(table),
                    column: lower(column),
                })
            }
            _ => None,
        }
    }

    fn matches(&self, schema: &str, table: &str, column: &str) -> bool {
        self.schema.as_deref().is_none_or(|s| glob(s, schema))
            && glob(&self.table, table)
            && glob(&self.column, column)
    }
}

/// Strength of a style when two rules cover the same value: the one that
/// reveals least wins.
fn strength(style: Style) -> u8 {
    match style {
        Style::Null => 4,
        Style::Redact => 3,
        Style::Hash => 2,
        Style::Partial => 1,
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error(transparent)]
    Name(#[from] ParseError),
    #[error("mask column `{0}` is not `table.column` or `schema.table.column`")]
    Column(String),
}

/// The compiled masks of one session.
#[derive(Clone, Default)]
pub struct MaskPolicy {
    /// Strongest style first, so the first match is the one to apply.
    columns: Vec<(ColumnPattern, Arc<Masker>)>,
    content: Option<Arc<Masker>>,
    /// `json_paths` (HTTP answers).
    json: crate::JsonPaths,
}

impl MaskPolicy {
    pub fn compile<'a>(
        rules: impl IntoIterator<Item = MaskRule<'a>>,
        key: &MaskKey,
    ) -> Result<MaskPolicy, PolicyError> {
        let mut columns: Vec<(ColumnPattern, Style)> = Vec::new();
        let mut detectors: Vec<Detector> = Vec::new();
        let mut content_style: Option<Style> = None;
        for rule in rules {
            for c in rule.columns {
                let pattern =
                    ColumnPattern::parse(c).ok_or_else(|| PolicyError::Column(c.clone()))?;
                columns.push((pattern, rule.style));
            }
            for d in rule.detectors {
                let d: Detector = d.parse()?;
                if !detectors.contains(&d) {
                    detectors.push(d);
                }
                if content_style.is_none_or(|s| strength(rule.style) > strength(s)) {
                    content_style = Some(rule.style);
                }
            }
        }
        columns.sort_by_key(|(_, style)| std::cmp::Reverse(strength(*style)));
        let mut maskers: Vec<(Style, Arc<Masker>)> = Vec::new();
        let mut masker_for = |style: Style| -> Arc<Masker> {
            if let Some((_, m)) = maskers.iter().find(|(s, _)| *s == style) {
                return m.clone();
            }
            let m = Arc::new(Masker::new(&[], style, key.clone()));
            maskers.push((style, m.clone()));
            m
        };
        let columns = columns
            .into_iter()
            .map(|(p, style)| (p, masker_for(style)))
            .collect();
        let content =
            content_style.map(|style| Arc::new(Masker::new(&detectors, style, key.clone())));
        Ok(MaskPolicy {
            columns,
            content,
            json: crate::JsonPaths::default(),
        })
    }

    /// Adds the `json_paths` of each rule (`(paths, style)`), which apply to
    /// JSON answers of HTTP connections.
    pub fn with_json_paths<'a>(
        mut self,
        rules: impl IntoIterator<Item = (&'a [String], Style)>,
        key: &MaskKey,
    ) -> Result<MaskPolicy, crate::JsonPathError> {
        self.json = crate::JsonPaths::compile(rules, key)?;
        Ok(self)
    }

    /// The compiled `json_paths`.
    pub fn json_paths(&self) -> &crate::JsonPaths {
        &self.json
    }

    /// Nothing to mask at all: the proxy can skip every result.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty() && self.content.is_none() && self.json.is_empty()
    }

    pub fn has_column_rules(&self) -> bool {
        !self.columns.is_empty()
    }

    /// The masker of a source column, when a rule covers it.
    pub fn for_column(&self, schema: &str, table: &str, column: &str) -> Option<&Arc<Masker>> {
        self.columns
            .iter()
            .find(|(p, _)| p.matches(schema, table, column))
            .map(|(_, m)| m)
    }

    /// For an output column whose lineage could not be proven: the strongest
    /// column masker, when there is any column rule (fail closed).
    pub fn for_unproven(&self) -> Option<&Arc<Masker>> {
        self.columns.first().map(|(_, m)| m)
    }

    /// The detectors that run over every text value, if any.
    pub fn content(&self) -> Option<&Arc<Masker>> {
        self.content.as_ref()
    }
}

/// `*` matches any run of characters; everything else matches itself.
fn glob(pattern: &str, text: &str) -> bool {
    let (p, t) = (pattern.as_bytes(), text.as_bytes());
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Masked;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn column_patterns_match_with_and_without_schema_and_globs() {
        let cols = strings(&["customers.email", "*.ssn", "billing.cards.number"]);
        let p = MaskPolicy::compile(
            [MaskRule {
                columns: &cols,
                detectors: &[],
                style: Style::Partial,
            }],
            &MaskKey::new([1; 32]),
        )
        .unwrap();
        assert!(p.for_column("public", "customers", "email").is_some());
        assert!(p.for_column("sales", "customers", "email").is_some());
        assert!(p.for_column("public", "people", "ssn").is_some());
        assert!(p.for_column("billing", "cards", "number").is_some());
        assert!(p.for_column("public", "cards", "number").is_none());
        assert!(p.for_column("public", "customers", "name").is_none());
        assert!(p.has_column_rules());
        assert!(p.content().is_none());
    }

    #[test]
    fn the_strongest_style_wins_for_a_column_and_for_unproven_lineage() {
        let email = strings(&["customers.email"]);
        let p = MaskPolicy::compile(
            [
                MaskRule {
                    columns: &email,
                    detectors: &[],
                    style: Style::Partial,
                },
                MaskRule {
                    columns: &email,
                    detectors: &[],
                    style: Style::Null,
                },
            ],
            &MaskKey::new([1; 32]),
        )
        .unwrap();
        let m = p.for_column("public", "customers", "email").unwrap();
        assert_eq!(m.mask_value(b"ada@example.com"), Masked::Null);
        assert_eq!(p.for_unproven().unwrap().mask_value(b"x"), Masked::Null);
    }

    #[test]
    fn detectors_add_up_under_the_strongest_style() {
        let a = strings(&["email"]);
        let b = strings(&["credit_card"]);
        let p = MaskPolicy::compile(
            [
                MaskRule {
                    columns: &[],
                    detectors: &a,
                    style: Style::Partial,
                },
                MaskRule {
                    columns: &[],
                    detectors: &b,
                    style: Style::Redact,
                },
            ],
            &MaskKey::new([1; 32]),
        )
        .unwrap();
        let content = p.content().unwrap();
        assert_eq!(content.style(), Style::Redact);
        assert!(content.scan(b"ada@example.com").is_some());
        assert!(content.scan(b"4111 1111 1111 1111").is_some());
        assert!(!p.has_column_rules());
        assert!(p.for_unproven().is_none());
    }

    #[test]
    fn bad_names_are_errors() {
        let bad = strings(&["email"]);
        assert!(
            MaskPolicy::compile(
                [MaskRule {
                    columns: &bad,
                    detectors: &[],
                    style: Style::Null
                }],
                &MaskKey::new([0; 32])
            )
            .is_err()
        );
        let det = strings(&["nope"]);
        assert!(
            MaskPolicy::compile(
                [MaskRule {
                    columns: &[],
                    detectors: &det,
                    style: Style::Null
                }],
                &MaskKey::new([0; 32])
            )
            .is_err()
        );
        assert!(
            MaskPolicy::compile([], &MaskKey::new([0; 32]))
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn glob_matches_like_a_shell_star() {
        assert!(glob("*", "anything"));
        assert!(glob("cust*", "customers"));
        assert!(glob("*ssn", "customer_ssn"));
        assert!(glob("a*b*c", "a--b--c"));
        assert!(!glob("a*b", "a--c"));
        assert!(!glob("ssn", "ssn2"));
    }
}
