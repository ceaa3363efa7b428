//! The bash parser's reading of a string the literal reader accepted: it
//! must be one simple command with no prefix, no redirection and only
//! literal words, and its words after quote removal must be exactly the
//! literal reader's. Any difference is a [`Reason::ParserDisagreement`].
//!
//! Only strings the allow-list lexer accepted reach this parser, so its
//! input has no operators, parentheses or expansions: nothing nests, and a
//! hostile string cannot make it recurse.

use brush_parser::ast::{Command, CommandPrefixOrSuffixItem, SeparatorOperator};
use brush_parser::word::{WordPiece, WordPieceWithSource};
use brush_parser::{ParserOptions, parse_tokens, tokenize_str_with_options};

use crate::Reason;

/// The words of `command` as bash reads them, or why they are not literal.
pub(crate) fn words(command: &str) -> Result<Vec<String>, Reason> {
    let options = ParserOptions {
        enable_extended_globbing: false,
        ..ParserOptions::default()
    };
    let tokens = tokenize_str_with_options(command, &options.tokenizer_options())
        .map_err(|_| Reason::ParseError)?;
    let program = parse_tokens(&tokens, &options).map_err(|_| Reason::ParseError)?;
    let [complete] = program.complete_commands.as_slice() else {
        return Err(Reason::ParserDisagreement);
    };
    let [item] = complete.0.as_slice() else {
        return Err(Reason::ParserDisagreement);
    };
    if !matches!(item.1, SeparatorOperator::Sequence) || !item.0.additional.is_empty() {
        return Err(Reason::ParserDisagreement);
    }
    let pipeline = &item.0.first;
    if pipeline.bang || pipeline.timed.is_some() {
        return Err(Reason::ParserDisagreement);
    }
    let [Command::Simple(simple)] = pipeline.seq.as_slice() else {
        return Err(Reason::ParserDisagreement);
    };
    if simple.prefix.is_some() {
        return Err(Reason::ParserDisagreement);
    }
    let Some(name) = &simple.word_or_name else {
        return Err(Reason::ParserDisagreement);
    };
    let mut out = vec![literal(&name.value, &options)?];
    for item in simple.suffix.iter().flat_map(|s| s.0.iter()) {
        match item {
            CommandPrefixOrSuffixItem::Word(w) => out.push(literal(&w.value, &options)?),
            // A declaration builtin's `NAME=value` argument (`export A=b`).
            CommandPrefixOrSuffixItem::AssignmentWord(_, w) => {
                out.push(literal(&w.value, &options)?)
            }
            _ => return Err(Reason::ParserDisagreement),
        }
    }
    Ok(out)
}

/// One word after quote removal, when every piece of it is literal.
fn literal(word: &str, options: &ParserOptions) -> Result<String, Reason> {
    let pieces = brush_parser::word::parse(word, options).map_err(|_| Reason::ParseError)?;
    let mut out = String::new();
    pieces_into(&pieces, &mut out)?;
    Ok(out)
}

fn pieces_into(pieces: &[WordPieceWithSource], out: &mut String) -> Result<(), Reason> {
    for piece in pieces {
        match &piece.piece {
            WordPiece::Text(s) | WordPiece::SingleQuotedText(s) => out.push_str(s),
            WordPiece::EscapeSequence(s) => {
                let mut chars = s.chars();
                match (chars.next(), chars.next(), chars.next()) {
                    (Some('\\'), Some(c), None) => out.push(c),
                    _ => return Err(Reason::ParserDisagreement),
                }
            }
            WordPiece::DoubleQuotedSequence(inner) => pieces_into(inner, out)?,
            _ => return Err(Reason::ParserDisagreement),
        }
    }
    Ok(())
}
