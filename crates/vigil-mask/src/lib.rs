//! Vigil's masking: content detectors with checksum validators, and the
//! styles a masked value takes on its way back to the client.
//!
//! Pure: no I/O, no async, no global mutable state. Patterns are compiled
//! once per process and shared. [`Masker::scan`] runs on every text value of
//! every result row, so it first takes a one-pass byte profile (digits,
//! capitals, `@`, `:` …) and only runs the detectors that profile allows; a
//! clean value returns `None` without allocating.
//!
//! Input is bytes, as the proxy sees them. Every pattern is ASCII, so
//! non-UTF-8 input is scanned as it is and never panics: invalid sequences do
//! not match and are copied through unchanged.
//!
//! ```
//! use vigil_mask::{Detector, MaskKey, Masked, Masker, Style};
//!
//! let m = Masker::new(&[Detector::Email], Style::Redact, MaskKey::new([0; 32]));
//! let (out, hits) = m.scan(b"write to john@example.com").unwrap();
//! assert_eq!(out, Masked::Text(b"write to [REDACTED:email]".to_vec()));
//! assert_eq!(hits.get(Detector::Email), 1);
//! assert!(m.scan(b"nothing to see").is_none());
//! ```

mod detect;
mod json;
mod masker;
mod plan;
mod policy;
mod style;

pub use detect::{Detector, iban_valid, luhn_valid};
pub use json::{JsonMasked, JsonPathError, JsonPaths, parse_json_path};
pub use masker::{Hits, Masked, Masker};
pub use plan::{ColumnOrigin, MaskPlan, ResultShape, SourceColumn};
pub use policy::{MaskPolicy, MaskRule, PolicyError};
pub use style::{HASH_BYTES, HASH_PREFIX, MaskKey, PARTIAL_MAX_STARS, PARTIAL_MIN_CHARS, Style};

/// A detector or style name that the configuration does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error(
        "unknown mask detector `{0}` (accepted: email, phone, credit_card, iban, ssn, ip, aws_key, secret_key, jwt, pem_private_key)"
    )]
    UnknownDetector(String),
    #[error("unknown mask style `{0}` (accepted: redact, partial, hash, null)")]
    UnknownStyle(String),
}
