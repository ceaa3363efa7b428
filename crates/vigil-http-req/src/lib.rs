//! Pure analysis of a request to Vigil's HTTP proxy (no I/O, fuzzable).
//!
//! `GET /proxy/<connection>/<path>?<query>` becomes the
//! [`vigil_core::HttpFacts`] that the `http.*` CEL variables show, and the
//! exact path and query that are forwarded. A request that the gateway and
//! the target could read differently is refused here, before policy:
//! encoded separators, dot segments, empty segments, `;` parameters,
//! double encoding, invalid escapes, control characters, fragments,
//! absolute-form targets that disagree with `Host`, and the framing of
//! request smuggling (both `Content-Length` and `Transfer-Encoding`, two
//! `Content-Length`s). See `docs/http.md` for the whole list and why.
//!
//! Layout: `target.rs` (the request line: prefix, connection, method,
//! authority), `path.rs`, `query.rs`, `decode.rs` (percent-decoding),
//! `headers.rs` (framing, limits, the allow-list, which fields cross),
//! `body.rs` (strict JSON), `graphql.rs` (operation types).

mod body;
mod decode;
mod error;
pub mod graphql;
pub mod headers;
mod path;
pub mod query;
mod target;

pub use body::media_type;
pub use body::parse_json;
pub use error::HttpReqError;
pub use path::NormalPath;
pub use target::{
    Analysed, BodyFacts, RequestHead, analyse_body, analyse_head, connection_of, content_type,
    method_ok,
};
