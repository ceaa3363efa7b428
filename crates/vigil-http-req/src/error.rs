//! Why a request was refused before policy. The messages name the rule
//! that was broken, never the bytes that broke it.

/// A request Vigil will not forward because it could be read in more
/// than one way (by Vigil and by the target), or is past a limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HttpReqError {
    #[error("the request target is not /proxy/<connection>/<path>")]
    NotProxied,
    #[error("the connection name in the path is not a plain name")]
    BadConnectionName,
    #[error("the request target has a fragment")]
    Fragment,
    #[error("the path has an encoded `/` or `\\`")]
    EncodedSeparator,
    #[error("the path has a raw `\\`")]
    Backslash,
    #[error("the path has a `.` or `..` segment (raw or percent-encoded)")]
    DotSegment,
    #[error("the path has an empty segment (`//`)")]
    EmptySegment,
    #[error("the path has a `;` (path parameters are not forwarded)")]
    PathParameter,
    #[error("the path or query has an encoded `%` (double encoding)")]
    EncodedPercent,
    #[error("the path or query has an invalid percent escape")]
    InvalidEscape,
    #[error("the path or query decodes to something that is not UTF-8")]
    NotUtf8,
    #[error("the path or query decodes to a control character")]
    ControlCharacter,
    #[error("the path has a character that some servers read as `/`, `\\` or `.`")]
    LookAlike,
    #[error("the request target has a character that must be percent-encoded")]
    RawCharacter,
    #[error("the query has a `;` (some servers split on it, others do not)")]
    QuerySemicolon,
    #[error("the query has too many parameters")]
    TooManyQueryParameters,
    #[error("the method is not an upper-case token (or is CONNECT, TRACE or TRACK)")]
    BadMethod,
    #[error("the absolute-form target names another host than the Host header")]
    AuthorityMismatch,
    #[error("the request has more than one Host header")]
    DuplicateHost,
    #[error("the request has too many header fields")]
    TooManyHeaders,
    #[error("the request's header fields are too large")]
    HeadersTooLarge,
    #[error("the request has both Content-Length and Transfer-Encoding")]
    LengthAndChunked,
    #[error("the request has more than one Content-Length")]
    DuplicateContentLength,
    #[error("the request's Content-Length is not a number")]
    BadContentLength,
    #[error("the request's Transfer-Encoding is not exactly `chunked`")]
    BadTransferEncoding,
    #[error("the request body is encoded (Content-Encoding) and a rule reads it")]
    EncodedBody,
    #[error("the JSON body has a duplicate key (or a value Vigil cannot represent)")]
    DuplicateJsonKey,
    #[error("the GraphQL request could not be read")]
    GraphqlUnreadable,
    #[error("the request has more than one Content-Type")]
    DuplicateContentType,
    #[error(
        "the request has a field some servers read as another method or path (X-HTTP-Method-Override, X-Original-URL, ...)"
    )]
    OverrideHeader,
}

impl HttpReqError {
    /// The HTTP status a client gets: 431 for header limits, 400 otherwise.
    pub fn status(self) -> u16 {
        match self {
            HttpReqError::TooManyHeaders | HttpReqError::HeadersTooLarge => 431,
            _ => 400,
        }
    }
}
