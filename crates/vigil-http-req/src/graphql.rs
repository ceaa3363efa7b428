//! `http.graphql.operation`: what a GraphQL request can do.
//!
//! Only the operation types are read, not the whole grammar: a small
//! tokenizer walks the document's top-level definitions (skipping strings,
//! comments and nested selections) and collects `query`, `mutation` and
//! `subscription`. A document with several operations (the client picks
//! one with `operationName`) reports the most powerful of them, so a rule
//! that allows only queries cannot be passed by a mutation beside a query.
//! Anything the walker does not recognise is refused.

use serde_json::Value;

use crate::HttpReqError;

/// An operation type, ordered from least to most powerful.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Operation {
    Query,
    Subscription,
    Mutation,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Query => "query",
            Operation::Subscription => "subscription",
            Operation::Mutation => "mutation",
        }
    }
}

/// The operation of a GraphQL request: a `GET` with a `query` parameter,
/// a body of `application/graphql`, or a JSON body (one request or a
/// batch). `Ok(None)` for a request that carries no document (a `GET` of
/// the endpoint itself).
pub fn operation(
    method: &str,
    query_param: Option<&str>,
    content_type: &str,
    body: &[u8],
) -> Result<Option<Operation>, HttpReqError> {
    if method == "GET" || method == "HEAD" {
        return query_param.map(document).transpose();
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return match query_param {
            Some(q) => document(q).map(Some),
            None => Ok(None),
        };
    }
    // Servers such as express-graphql read the URL's `query` before the
    // body's, even on POST: a document there counts too, whichever wins.
    let from_url = query_param.map(document).transpose()?;
    let media = crate::body::media_type(content_type);
    if media == "application/graphql" {
        let text = std::str::from_utf8(body).map_err(|_| HttpReqError::GraphqlUnreadable)?;
        return Ok(from_url.max(Some(document(text)?)));
    }
    // Only a JSON body is read as one: a form body could hold other
    // parameters (`query=...`) for a server that parses forms.
    if !crate::body::is_json_media(&media) {
        return Err(HttpReqError::GraphqlUnreadable);
    }
    let json = crate::body::parse_json(body)?.ok_or(HttpReqError::GraphqlUnreadable)?;
    let requests = match &json {
        Value::Array(items) if !items.is_empty() => items.iter().collect(),
        Value::Object(_) => vec![&json],
        _ => return Err(HttpReqError::GraphqlUnreadable),
    };
    let mut strongest = None;
    for request in requests {
        // A persisted query (a hash, no text) cannot be read: refused.
        let text = request
            .get("query")
            .and_then(Value::as_str)
            .ok_or(HttpReqError::GraphqlUnreadable)?;
        strongest = strongest.max(Some(document(text)?));
    }
    Ok(strongest.max(from_url))
}

/// The most powerful operation a document defines.
pub fn document(text: &str) -> Result<Operation, HttpReqError> {
    let mut tokens = Tokens {
        bytes: text.as_bytes(),
        at: 0,
    };
    let mut strongest: Option<Operation> = None;
    while let Some(token) = tokens.next()? {
        let op = match token {
            Token::Punct(b'{') => {
                // A shorthand query: its selection set is the definition.
                tokens.skip_block()?;
                strongest = strongest.max(Some(Operation::Query));
                continue;
            }
            Token::Name("query") => Some(Operation::Query),
            Token::Name("mutation") => Some(Operation::Mutation),
            Token::Name("subscription") => Some(Operation::Subscription),
            Token::Name("fragment") => None,
            _ => return Err(HttpReqError::GraphqlUnreadable),
        };
        tokens.skip_definition()?;
        strongest = strongest.max(op);
    }
    strongest.ok_or(HttpReqError::GraphqlUnreadable)
}

#[derive(Debug, PartialEq, Eq)]
enum Token<'a> {
    Name(&'a str),
    Punct(u8),
    /// A string, number or anything else that is not a name or punctuator.
    Other,
}

struct Tokens<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Tokens<'a> {
    fn next(&mut self) -> Result<Option<Token<'a>>, HttpReqError> {
        self.skip_ignored();
        let Some(&b) = self.bytes.get(self.at) else {
            return Ok(None);
        };
        if b == b'_' || b.is_ascii_alphabetic() {
            let start = self.at;
            while self
                .bytes
                .get(self.at)
                .is_some_and(|c| *c == b'_' || c.is_ascii_alphanumeric())
            {
                self.at += 1;
            }
            let name = std::str::from_utf8(&self.bytes[start..self.at])
                .map_err(|_| HttpReqError::GraphqlUnreadable)?;
            return Ok(Some(Token::Name(name)));
        }
        if b == b'"' {
            self.skip_string()?;
            return Ok(Some(Token::Other));
        }
        if b == b'-' || b.is_ascii_digit() {
            while self
                .bytes
                .get(self.at)
                .is_some_and(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.'))
            {
                self.at += 1;
            }
            return Ok(Some(Token::Other));
        }
        if b"!$&()...:=@[]{}|".contains(&b) {
            self.at += 1;
            return Ok(Some(Token::Punct(b)));
        }
        Err(HttpReqError::GraphqlUnreadable)
    }

    /// White space, commas, the byte order mark and `#` comments.
    fn skip_ignored(&mut self) {
        loop {
            match self.bytes.get(self.at) {
                Some(b' ' | b'\t' | b'\n' | b'\r' | b',') => self.at += 1,
                Some(0xEF) if self.bytes.get(self.at..self.at + 3) == Some(b"\xEF\xBB\xBF") => {
                    self.at += 3;
                }
                Some(b'#') => {
                    while self
                        .bytes
                        .get(self.at)
                        .is_some_and(|c| *c != b'\n' && *c != b'\r')
                    {
                        self.at += 1;
                    }
                }
                _ => return,
            }
        }
    }

    /// A `"..."` string (with escapes) or a `"""..."""` block string.
    fn skip_string(&mut self) -> Result<(), HttpReqError> {
        if self.bytes.get(self.at..self.at + 3) == Some(b"\"\"\"") {
            self.at += 3;
            loop {
                match self.bytes.get(self.at) {
                    None => return Err(HttpReqError::GraphqlUnreadable),
                    Some(b'\\') if self.bytes.get(self.at..self.at + 4) == Some(b"\\\"\"\"") => {
                        self.at += 4;
                    }
                    Some(b'"') if self.bytes.get(self.at..self.at + 3) == Some(b"\"\"\"") => {
                        self.at += 3;
                        return Ok(());
                    }
                    Some(_) => self.at += 1,
                }
            }
        }
        self.at += 1;
        loop {
            match self.bytes.get(self.at) {
                None | Some(b'\n' | b'\r') => return Err(HttpReqError::GraphqlUnreadable),
                Some(b'\\') => self.at += 2,
                Some(b'"') => {
                    self.at += 1;
                    return Ok(());
                }
                Some(_) => self.at += 1,
            }
        }
    }

    /// The rest of a definition: its name, variables, directives and
    /// type condition, up to its selection set, which is skipped whole.
    fn skip_definition(&mut self) -> Result<(), HttpReqError> {
        let mut parens = 0usize;
        loop {
            match self.next()? {
                None => return Err(HttpReqError::GraphqlUnreadable),
                Some(Token::Punct(b'(')) => parens += 1,
                Some(Token::Punct(b')')) => {
                    parens = parens
                        .checked_sub(1)
                        .ok_or(HttpReqError::GraphqlUnreadable)?;
                }
                Some(Token::Punct(b'{')) if parens == 0 => return self.skip_block(),
                // An object value inside the variables' defaults.
                Some(Token::Punct(b'{')) => self.skip_block()?,
                Some(_) => {}
            }
        }
    }

    /// Up to the `}` that closes a `{` just read.
    fn skip_block(&mut self) -> Result<(), HttpReqError> {
        let mut depth = 1usize;
        while depth > 0 {
            match self.next()? {
                None => return Err(HttpReqError::GraphqlUnreadable),
                Some(Token::Punct(b'{')) => depth += 1,
                Some(Token::Punct(b'}')) => depth -= 1,
                Some(_) => {}
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Operation, document, operation};
    use crate::HttpReqError;

    #[test]
    fn operation_types_are_read() {
        assert_eq!(document("{ users { id } }"), Ok(Operation::Query));
        assert_eq!(
            document("query Q($a: Int = 1) { u(a: $a) { id } }"),
            Ok(Operation::Query)
        );
        assert_eq!(
            document("mutation { deleteUser(id: \"}\") { id } }"),
            Ok(Operation::Mutation)
        );
        assert_eq!(
            document("subscription S { events { id } }"),
            Ok(Operation::Subscription)
        );
    }

    #[test]
    fn several_operations_report_the_most_powerful() {
        let doc = "query A { a } # mutation in a comment\n mutation B { b } fragment F on T { x }";
        assert_eq!(document(doc), Ok(Operation::Mutation));
        let doc = "query A($o: In = {x: \"mutation\"}) { a } \"\"\"doc { \"\"\" query B { b }";
        assert_eq!(document(doc), Err(HttpReqError::GraphqlUnreadable));
        assert_eq!(
            document("query A($o: In = {x: 1}) { a }"),
            Ok(Operation::Query)
        );
    }

    #[test]
    fn unreadable_documents_are_refused() {
        for doc in [
            "",
            "fragment F on T { x }",
            "type T { a: Int }",
            "query {",
            "{ a } }",
            "query \"x",
        ] {
            assert_eq!(document(doc), Err(HttpReqError::GraphqlUnreadable), "{doc}");
        }
    }

    #[test]
    fn requests_in_each_form() {
        let json = br#"{"query": "mutation { x }", "operationName": null}"#;
        assert_eq!(
            operation("POST", None, "application/json", json),
            Ok(Some(Operation::Mutation))
        );
        let batch = br#"[{"query": "{ a }"}, {"query": "mutation { b }"}]"#;
        assert_eq!(
            operation("POST", None, "application/json", batch),
            Ok(Some(Operation::Mutation))
        );
        let persisted = br#"{"extensions": {"persistedQuery": {"sha256Hash": "abc"}}}"#;
        assert_eq!(
            operation("POST", None, "application/json", persisted),
            Err(HttpReqError::GraphqlUnreadable)
        );
        assert_eq!(
            operation("GET", Some("{ a }"), "", b""),
            Ok(Some(Operation::Query))
        );
        assert_eq!(operation("GET", None, "", b""), Ok(None));
        assert_eq!(
            operation(
                "POST",
                None,
                "application/graphql; charset=utf-8",
                b"mutation { m }"
            ),
            Ok(Some(Operation::Mutation))
        );
    }

    #[test]
    fn a_post_counts_the_urls_document_and_reads_only_json_or_graphql_bodies() {
        // express-graphql runs the URL's `query` before the body's.
        assert_eq!(
            operation(
                "POST",
                Some("mutation { deleteAll }"),
                "application/json",
                br#"{"query": "{ me { id } }"}"#
            ),
            Ok(Some(Operation::Mutation))
        );
        // A form body could carry `query=mutation...` for a form parser.
        assert_eq!(
            operation(
                "POST",
                None,
                "application/x-www-form-urlencoded",
                br#"{"query": "{ a }"}"#
            ),
            Err(HttpReqError::GraphqlUnreadable)
        );
        assert_eq!(
            operation(
                "POST",
                None,
                "application/vnd.api+json",
                br#"{"query": "{ a }"}"#
            ),
            Ok(Some(Operation::Query))
        );
    }
}
