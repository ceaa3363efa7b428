//! A cache key that lets statements differing only in a number share one
//! analysis: `... WHERE aid = 12345` and `... WHERE aid = 678`.
//!
//! The key is built from the PostgreSQL lexer's own tokens
//! (`pg_query::scan_tokens`), never from a tokenizer of ours, so it cannot
//! disagree with the parser about where a number is. It is the statement text
//! with some numeric constants replaced by a marker that names the token's
//! kind (`\0i` integer, `\0f` other numbers): NUL never occurs in an analysed
//! text (`analyze` refuses it), so a marker is unambiguous, and two texts with
//! equal keys are byte for byte equal outside the replaced numbers.
//!
//! Only numbers whose value cannot change any fact are replaced: a number is
//! replaced when it is an operand of a comparison or arithmetic operator,
//! that is when the token before it is one of `= < > <= >= <> != * / %`, or
//! a `+`/`-` that itself follows one of these (a sign: `= -5`, `+ -3451`).
//! In every such place the grammar reads an expression (or a `name = value`
//! option, or a `SET` value), whose numeric value no fact depends on: the
//! analysers read numbers only in `EXPLAIN`/`COPY` options written as
//! `name value` (`EXPLAIN (ANALYZE 0)`, `(ANALYZE -1)`), where the token
//! before the number is the option's name, and the grammar's own checks on
//! a number's value (`float(0)`, `ALTER INDEX ... ALTER COLUMN 0`) follow a
//! `(` or a keyword. Numbers anywhere else (`LIMIT 5`, `VALUES (1, 2)`,
//! `x - 5`) stay in the key verbatim, which only costs cache hits.
//! `tests/cache.rs` compares the cached path with `analyze` over the case
//! corpus with every number changed.

use std::cell::RefCell;

use pg_query::protobuf::Token;

/// A key and the byte range its replaced numbers span.
pub(crate) type LiteralKey = (String, usize, usize);

/// Texts longer than this are not remembered (the caches do not keep them either).
const REMEMBERED_LEN: usize = crate::cache::MAX_CACHED_LEN;

thread_local! {
    /// The last text keyed on this thread, and its key: the analysis cache
    /// and then the mask lineage cache ask for the same statement's key in
    /// turn, and the lexer scan is the expensive part of a cache hit.
    static LAST: RefCell<Option<(Box<str>, Option<LiteralKey>)>> = const { RefCell::new(None) };
}

/// The key of `sql` and the byte range from the first replaced number's
/// start to the last one's end; `None` when nothing was replaced or the
/// lexer refused the text.
pub(crate) fn literal_key(sql: &str) -> Option<LiteralKey> {
    // Cheap pre-check: no digit, no number.
    if !sql.bytes().any(|b| b.is_ascii_digit()) {
        return None;
    }
    if sql.len() > REMEMBERED_LEN {
        return scan_key(sql);
    }
    let remembered = LAST.with(|last| match &*last.borrow() {
        Some((text, key)) if **text == *sql => Some(key.clone()),
        _ => None,
    });
    if let Some(key) = remembered {
        return key;
    }
    let key = scan_key(sql);
    LAST.with(|last| *last.borrow_mut() = Some((sql.into(), key.clone())));
    key
}

fn scan_key(sql: &str) -> Option<LiteralKey> {
    let tokens = pg_query::scan_tokens(sql).ok()?;
    let mut key = String::with_capacity(sql.len());
    let mut copied = 0usize;
    let (mut first, mut last) = (usize::MAX, 0usize);
    // The two significant tokens before the current one (comments skipped).
    let (mut prev, mut prev2) = (None::<Token>, None::<Token>);
    for t in &tokens {
        let token = Token::try_from(t.token).ok()?;
        if matches!(token, Token::SqlComment | Token::CComment) {
            continue;
        }
        let marker = match token {
            Token::Iconst => Some("\0i"),
            Token::Fconst => Some("\0f"),
            _ => None,
        };
        if let Some(marker) = marker
            && replaceable_after(prev, prev2)
        {
            let start = usize::try_from(t.start).ok()?;
            let end = usize::try_from(t.end).ok()?;
            key.push_str(sql.get(copied..start)?);
            key.push_str(marker);
            copied = end;
            first = first.min(start);
            last = end;
        }
        prev2 = prev;
        prev = Some(token);
    }
    if copied == 0 {
        return None;
    }
    key.push_str(sql.get(copied..)?);
    Some((key, first, last))
}

/// Whether a number after `prev` (and `prev2` before it) is an operand whose
/// value no fact depends on.
fn replaceable_after(prev: Option<Token>, prev2: Option<Token>) -> bool {
    match prev {
        Some(Token::Ascii43 | Token::Ascii45) => prev2.is_some_and(is_operator),
        Some(t) => is_operator(t),
        None => false,
    }
}

/// `= < > <= >= <> != * / % + -`.
fn is_operator(t: Token) -> bool {
    matches!(
        t,
        Token::Ascii61
            | Token::Ascii60
            | Token::Ascii62
            | Token::LessEquals
            | Token::GreaterEquals
            | Token::NotEquals
            | Token::Ascii42
            | Token::Ascii47
            | Token::Ascii37
            | Token::Ascii43
            | Token::Ascii45
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn operands_are_replaced_and_option_values_are_not() {
        let (k, first, last) =
            literal_key("SELECT abalance FROM pgbench_accounts WHERE aid = 12345;").unwrap();
        assert_eq!(k, "SELECT abalance FROM pgbench_accounts WHERE aid = \0i;");
        assert_eq!((first, last), (50, 55));
        let (k, ..) = literal_key("UPDATE a SET b = b + -3451 WHERE aid = 1.5").unwrap();
        assert_eq!(k, "UPDATE a SET b = b + -\0i WHERE aid = \0f");
        for kept in [
            "EXPLAIN (ANALYZE -0) DELETE FROM t",
            "EXPLAIN (ANALYZE 0) DELETE FROM t",
            "SELECT 1::float(0)",
            "SELECT x - 5, y + 1 FROM t LIMIT 5",
            "INSERT INTO t VALUES (1, 2)",
            "ALTER INDEX i ALTER COLUMN 1 SET STATISTICS 5",
            "SELECT 'a = 5', $$ = 5 $$",
            "SELECT x /* = 5 */",
        ] {
            assert_eq!(literal_key(kept), None, "{kept}");
        }
        assert_eq!(literal_key("SELECT 'unterminated = 5"), None);
    }

    #[test]
    fn a_remembered_key_is_the_scanned_one() {
        for sql in ["SELECT 1 WHERE a = 5", "SELECT 1 WHERE a = 6", "SELECT 2"] {
            let first = literal_key(sql);
            assert_eq!(first, scan_key(sql));
            assert_eq!(literal_key(sql), first, "{sql}");
        }
    }
}
