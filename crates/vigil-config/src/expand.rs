//! `${VAR}`, `${VAR:-default}` and `$$` in every string value of the file.
//!
//! Expansion happens while deserialising each string (through [`Str`]), after
//! TOML parsing: a value that contains quotes or newlines cannot change the
//! file's structure, and an error lands on the value's own `file:line:col`
//! because `toml` attaches the value's span to it.

use std::cell::RefCell;
use std::ops::Range;
use std::rc::Rc;

use serde::{Deserialize, Deserializer};
use toml::Spanned;

/// Where `${VAR}` values come from: the process environment, or a map in tests.
pub type Lookup = Rc<dyn Fn(&str) -> Option<String>>;

thread_local! {
    /// The lookup of the load in progress on this thread. Serde offers no way
    /// to hand state to a derived `Deserialize`, so it is installed for the
    /// duration of one parse by [`with_lookup`].
    static LOOKUP: RefCell<Option<Lookup>> = const { RefCell::new(None) };
    /// The span of a list element whose expansion failed. `toml` reports an
    /// element's error at its list, so the element's own span is kept here.
    static ELEMENT_SPAN: RefCell<Option<Range<usize>>> = const { RefCell::new(None) };
}

/// The span of the list element behind the last error, if it came from one.
pub fn take_element_span() -> Option<Range<usize>> {
    ELEMENT_SPAN.with(|s| s.borrow_mut().take())
}

fn current_lookup() -> Lookup {
    LOOKUP
        .with(|l| l.borrow().clone())
        .unwrap_or_else(process_env)
}

/// Runs `f` with `lookup` answering `${VAR}`s, restoring the previous one after.
pub fn with_lookup<R>(lookup: Lookup, f: impl FnOnce() -> R) -> R {
    ELEMENT_SPAN.with(|s| s.borrow_mut().take());
    let previous = LOOKUP.with(|l| l.borrow_mut().replace(lookup));
    let result = f();
    LOOKUP.with(|l| *l.borrow_mut() = previous);
    result
}

/// The process environment; a value that is not valid Unicode counts as unset.
pub fn process_env() -> Lookup {
    Rc::new(|name| std::env::var(name).ok())
}

/// A string value from the file, with its `${VAR}`s expanded.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Str(pub String);

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        let lookup = LOOKUP.with(|l| l.borrow().clone());
        let lookup = lookup.unwrap_or_else(process_env);
        expand(&raw, &*lookup)
            .map(Str)
            .map_err(serde::de::Error::custom)
    }
}

/// A list of strings, each expanded and keeping its own span for errors.
pub fn spanned_strs<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Spanned<Str>>, D::Error> {
    let raw = Vec::<Spanned<String>>::deserialize(d)?;
    let lookup = current_lookup();
    raw.into_iter()
        .map(|item| {
            let span = item.span();
            match expand(item.get_ref(), &*lookup) {
                Ok(value) => Ok(Spanned::new(span, Str(value))),
                Err(message) => {
                    ELEMENT_SPAN.with(|s| *s.borrow_mut() = Some(span));
                    Err(serde::de::Error::custom(message))
                }
            }
        })
        .collect()
}

/// A string value parsed into `T` after expansion (addresses, durations, enums).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed<T>(pub T);

impl<'de, T> Deserialize<'de> for Parsed<T>
where
    T: std::str::FromStr,
    T::Err: std::fmt::Display,
{
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let Str(text) = Str::deserialize(deserializer)?;
        text.parse().map(Parsed).map_err(serde::de::Error::custom)
    }
}

/// `deserialize_with` helpers, so the public config types can hold plain
/// `String`s, `PathBuf`s and parsed values while every string is still expanded.
pub mod with {
    use super::{Parsed, Str};
    use serde::{Deserialize, Deserializer};
    use vigil_core::Secret;

    pub fn string<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        Str::deserialize(d).map(|s| s.0)
    }

    pub fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
        super::spanned_strs(d).map(|v| v.into_iter().map(|s| s.into_inner().0).collect())
    }

    pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        Option::<Str>::deserialize(d).map(|o| o.map(|s| s.0))
    }

    pub fn opt_secret<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Secret<String>>, D::Error> {
        Option::<Str>::deserialize(d).map(|o| o.map(|s| Secret::new(s.0)))
    }

    pub fn parsed<'de, D, T>(d: D) -> Result<T, D::Error>
    where
        D: Deserializer<'de>,
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        Parsed::<T>::deserialize(d).map(|p| p.0)
    }

    pub fn opt_parsed<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
    where
        D: Deserializer<'de>,
        T: std::str::FromStr,
        T::Err: std::fmt::Display,
    {
        Option::<Parsed<T>>::deserialize(d).map(|o| o.map(|p| p.0))
    }
}

/// Expands one value. Error messages name the variable, never a value, since
/// the value may be a password.
pub fn expand(raw: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
        } else if let Some(body) = after.strip_prefix('{') {
            let Some(end) = body.find('}') else {
                return Err("unterminated `${`: expected `${NAME}` or `${NAME:-default}` (write `$$` for a literal `$`)".to_owned());
            };
            out.push_str(&substitute(&body[..end], lookup)?);
            rest = &body[end + 1..];
        } else {
            // A lone `$` (as in `pa$word`) stays as written.
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// The value of one `NAME` or `NAME:-default`.
fn substitute(inner: &str, lookup: &dyn Fn(&str) -> Option<String>) -> Result<String, String> {
    let (name, default) = match inner.split_once(":-") {
        Some((name, default)) => (name, Some(default)),
        None => (inner, None),
    };
    if !is_variable_name(name) {
        return Err(format!(
            "invalid variable name `{name}` in `${{...}}`: expected letters, digits and `_`, not starting with a digit"
        ));
    }
    match (lookup(name), default) {
        // Like the shell, `:-` also replaces a variable set to the empty string.
        (Some(value), Some(default)) if value.is_empty() => Ok(default.to_owned()),
        (Some(value), _) => Ok(value),
        (None, Some(default)) => Ok(default.to_owned()),
        (None, None) => Err(format!(
            "environment variable `{name}` is not set (write `${{{name}:-default}}` to give a default)"
        )),
    }
}

fn is_variable_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::expand;

    fn env(name: &str) -> Option<String> {
        match name {
            "HOST" => Some("db.internal".into()),
            "EMPTY" => Some(String::new()),
            "QUOTED" => Some("a\"b'c\nd".into()),
            _ => None,
        }
    }

    #[test]
    fn expands_every_form() {
        assert_eq!(expand("plain", &env).as_deref(), Ok("plain"));
        assert_eq!(
            expand("${HOST}:5432", &env).as_deref(),
            Ok("db.internal:5432")
        );
        assert_eq!(expand("${NOPE:-local}", &env).as_deref(), Ok("local"));
        assert_eq!(expand("${HOST:-local}", &env).as_deref(), Ok("db.internal"));
        assert_eq!(
            expand("${EMPTY:-fallback}", &env).as_deref(),
            Ok("fallback")
        );
        assert_eq!(expand("${EMPTY}", &env).as_deref(), Ok(""));
        assert_eq!(expand("${NOPE:-}", &env).as_deref(), Ok(""));
        assert_eq!(expand("${NOPE:-a:b/c}", &env).as_deref(), Ok("a:b/c"));
        assert_eq!(expand("$${HOST}", &env).as_deref(), Ok("${HOST}"));
        assert_eq!(expand("cost: $$5", &env).as_deref(), Ok("cost: $5"));
        assert_eq!(expand("pa$word", &env).as_deref(), Ok("pa$word"));
        assert_eq!(
            expand("${HOST}${HOST}", &env).as_deref(),
            Ok("db.internaldb.internal")
        );
        assert_eq!(expand("${QUOTED}", &env).as_deref(), Ok("a\"b'c\nd"));
    }

    #[test]
    fn expanded_values_are_not_expanded_again() {
        let tricky = |_: &str| Some("${HOST}".to_owned());
        assert_eq!(expand("${X}", &tricky).as_deref(), Ok("${HOST}"));
    }

    #[test]
    fn errors_name_the_variable() {
        let err = expand("${NOPE}", &env).err().unwrap_or_default();
        assert!(err.contains("`NOPE` is not set"), "{err}");
        let err = expand("${HOST", &env).err().unwrap_or_default();
        assert!(err.contains("unterminated"), "{err}");
        let err = expand("${1X}", &env).err().unwrap_or_default();
        assert!(err.contains("invalid variable name `1X`"), "{err}");
    }
}
