//! The shape of `COPY ... TO STDOUT` data, so the gateway can split each row
//! into fields and mask them.

use crate::{AnalysisError, MAX_SQL_LEN, parse, with_stack};
use pg_query::NodeEnum;
use pg_query::protobuf::{CopyStmt, DefElem};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CopyKind {
    Text,
    Csv,
    Binary,
}

/// How one `COPY ... TO` writes its rows (PostgreSQL's defaults filled in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopyOutFormat {
    pub kind: CopyKind,
    /// PostgreSQL accepts only a single one-byte character.
    pub delimiter: u8,
    pub quote: u8,
    pub escape: u8,
    /// The text that stands for NULL: `\N` in text format, empty in CSV.
    pub null: String,
    /// CSV's header line (column names, not data).
    pub header: bool,
}

/// The output format of a `COPY ... TO` statement (one statement's text);
/// `None` for anything else.
pub fn copy_out_format(sql: &str) -> Result<Option<CopyOutFormat>, AnalysisError> {
    if sql.len() > MAX_SQL_LEN {
        return Err(AnalysisError::TooLong);
    }
    with_stack(sql.len(), || {
        let parsed = parse(sql)?;
        let node = parsed
            .stmts
            .first()
            .and_then(|s| s.stmt.as_ref())
            .and_then(|s| s.node.as_ref());
        match node {
            Some(NodeEnum::CopyStmt(c)) if !c.is_from => format_of(c).map(Some),
            _ => Ok(None),
        }
    })
}

fn format_of(c: &CopyStmt) -> Result<CopyOutFormat, AnalysisError> {
    let mut kind = CopyKind::Text;
    let (mut delimiter, mut quote, mut escape, mut null, mut header) =
        (None, None, None, None, false);
    for option in &c.options {
        let Some(NodeEnum::DefElem(d)) = option.node.as_ref() else {
            continue;
        };
        match d.defname.as_str() {
            "format" => {
                kind = match text_arg(d).map(|s| s.to_ascii_lowercase()).as_deref() {
                    Some("csv") => CopyKind::Csv,
                    Some("binary") => CopyKind::Binary,
                    Some("text") | None => CopyKind::Text,
                    Some(other) => return Err(unsupported(other)),
                }
            }
            "delimiter" => delimiter = Some(one_byte(d)?),
            "quote" => quote = Some(one_byte(d)?),
            "escape" => escape = Some(one_byte(d)?),
            "null" => null = text_arg(d),
            "header" => {
                header = !matches!(
                    text_arg(d).map(|s| s.to_ascii_lowercase()).as_deref(),
                    Some("false" | "off" | "0")
                )
            }
            // Quoting every value of some columns: the CSV reader copes.
            "force_quote" => {}
            // ENCODING would send bytes the masker does not read as UTF-8;
            // any option not understood is refused (fail closed).
            other => return Err(unsupported(other)),
        }
    }
    let csv = kind == CopyKind::Csv;
    let quote = quote.unwrap_or(b'"');
    Ok(CopyOutFormat {
        kind,
        delimiter: delimiter.unwrap_or(if csv { b',' } else { b'\t' }),
        quote,
        escape: escape.unwrap_or(quote),
        null: null.unwrap_or_else(|| if csv { String::new() } else { "\\N".to_owned() }),
        header: csv && header,
    })
}

fn text_arg(d: &DefElem) -> Option<String> {
    match d.arg.as_deref().and_then(|n| n.node.as_ref()) {
        Some(NodeEnum::String(s)) => Some(s.sval.clone()),
        Some(NodeEnum::Boolean(b)) => Some(if b.boolval { "true" } else { "false" }.to_owned()),
        Some(NodeEnum::Integer(i)) => Some(i.ival.to_string()),
        _ => None,
    }
}

fn one_byte(d: &DefElem) -> Result<u8, AnalysisError> {
    let value = match d.arg.as_deref().and_then(|n| n.node.as_ref()) {
        Some(NodeEnum::String(s)) => s.sval.clone(),
        _ => String::new(),
    };
    match value.as_bytes() {
        [b] => Ok(*b),
        _ => Err(unsupported(&d.defname)),
    }
}

fn unsupported(what: &str) -> AnalysisError {
    AnalysisError::Parse(format!("unsupported COPY option {what:?}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_per_format() {
        let text = copy_out_format("COPY t TO STDOUT").unwrap().unwrap();
        assert_eq!(
            (text.kind, text.delimiter, text.null.as_str()),
            (CopyKind::Text, b'\t', "\\N")
        );
        let csv = copy_out_format("COPY (SELECT 1) TO STDOUT WITH (FORMAT csv, HEADER)")
            .unwrap()
            .unwrap();
        assert_eq!(
            (csv.kind, csv.delimiter, csv.quote, csv.escape, csv.header),
            (CopyKind::Csv, b',', b'"', b'"', true)
        );
        let old = copy_out_format("COPY t TO STDOUT WITH CSV HEADER")
            .unwrap()
            .unwrap();
        assert_eq!((old.kind, old.header), (CopyKind::Csv, true));
        let bin = copy_out_format("COPY t TO STDOUT (FORMAT binary)")
            .unwrap()
            .unwrap();
        assert_eq!(bin.kind, CopyKind::Binary);
    }

    #[test]
    fn explicit_options() {
        let f = copy_out_format(
            "COPY t TO STDOUT (FORMAT csv, DELIMITER ';', QUOTE '''', ESCAPE '\\', NULL 'NULL')",
        )
        .unwrap()
        .unwrap();
        assert_eq!(
            (f.delimiter, f.quote, f.escape, f.null.as_str()),
            (b';', b'\'', b'\\', "NULL")
        );
    }

    #[test]
    fn not_a_copy_out() {
        assert_eq!(copy_out_format("SELECT 1").unwrap(), None);
        assert_eq!(copy_out_format("COPY t FROM STDIN").unwrap(), None);
    }
}
