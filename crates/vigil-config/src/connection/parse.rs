//! From one `[[connection]]` table to its kind's raw options: the common keys
//! first (the kind decides which struct reads the rest), then the kind's own,
//! each error at its own span.

use std::ops::Range;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue, ValueDeserializer};

use super::http::RawHttp;
use super::kubernetes::RawKubernetes;
use super::mysql::RawMysql;
use super::postgres::RawPostgres;
use super::ssh::RawSsh;
use super::{COMMON_KEYS, ConnectionKind, ConnectionOptions, Invalid};
use crate::expand::{self, Parsed, Str};

/// A connection as written, with the spans validation needs.
pub(crate) struct RawConnection {
    pub name: Spanned<Str>,
    pub kind: Spanned<ConnectionKind>,
    pub via: Option<Spanned<Str>>,
    pub options: RawOptions,
    /// The whole table, for errors about a key that is missing.
    pub span: Range<usize>,
}

/// The keys every kind takes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCommon {
    name: Spanned<Str>,
    kind: Spanned<Parsed<ConnectionKind>>,
    #[serde(default)]
    via: Option<Spanned<Str>>,
}

pub(crate) enum RawOptions {
    Postgres(RawPostgres),
    Mysql(RawMysql),
    Ssh(RawSsh),
    Http(RawHttp),
    Kubernetes(RawKubernetes),
}

impl RawOptions {
    pub fn check(self, table: &Range<usize>) -> Result<ConnectionOptions, Invalid> {
        Ok(match self {
            RawOptions::Postgres(raw) => ConnectionOptions::Postgres(raw.check(table)?),
            RawOptions::Mysql(raw) => ConnectionOptions::Mysql(raw.check(table)?),
            RawOptions::Ssh(raw) => ConnectionOptions::Ssh(raw.check(table)?),
            RawOptions::Http(raw) => ConnectionOptions::Http(raw.check(table)?),
            RawOptions::Kubernetes(raw) => ConnectionOptions::Kubernetes(raw.check(table)?),
        })
    }
}

/// Reads the `connection` key of the file: a list of tables. Runs inside
/// [`expand::with_lookup`], like the rest of the file's deserialisation.
pub(crate) fn parse_connections(
    value: Spanned<DeValue<'_>>,
) -> Result<Vec<RawConnection>, Invalid> {
    let span = value.span();
    match value.into_inner() {
        DeValue::Array(items) => items.into_iter().map(parse_one).collect(),
        other => Err((
            span,
            format!(
                "`connection` must be a list of tables (`[[connection]]`), not a {}",
                other.type_str()
            ),
        )),
    }
}

fn parse_one(value: Spanned<DeValue<'_>>) -> Result<RawConnection, Invalid> {
    let span = value.span();
    let DeValue::Table(table) = value.into_inner() else {
        return Err((
            span,
            "a connection must be a table (`[[connection]]`)".to_owned(),
        ));
    };
    let (common, own): (DeTable<'_>, DeTable<'_>) = table
        .into_iter()
        .partition(|(key, _)| COMMON_KEYS.contains(&key.get_ref().as_ref()));
    let common: RawCommon = from_table(common, &span)?;
    let kind = Spanned::new(common.kind.span(), common.kind.get_ref().0);
    let keys = ConnectionOptions::keys(*kind.get_ref());
    if let Some(unknown) = own
        .keys()
        .filter(|key| !keys.contains(&key.get_ref().as_ref()))
        .min_by_key(|key| key.span().start)
    {
        let accepted: Vec<String> = COMMON_KEYS
            .iter()
            .chain(keys)
            .map(|k| format!("`{k}`"))
            .collect();
        return Err((
            unknown.span(),
            format!(
                "unknown field `{}` for a `{}` connection, expected one of {}",
                unknown.get_ref(),
                kind.get_ref(),
                accepted.join(", ")
            ),
        ));
    }
    let options = match *kind.get_ref() {
        ConnectionKind::Postgres => RawOptions::Postgres(from_table(own, &span)?),
        ConnectionKind::Mysql => RawOptions::Mysql(from_table(own, &span)?),
        ConnectionKind::Ssh => RawOptions::Ssh(from_table(own, &span)?),
        ConnectionKind::Http => RawOptions::Http(from_table(own, &span)?),
        ConnectionKind::Kubernetes => RawOptions::Kubernetes(from_table(own, &span)?),
    };
    Ok(RawConnection {
        name: common.name,
        kind,
        via: common.via,
        options,
        span,
    })
}

/// Deserialises `T` from part of a connection's table; an error lands on the
/// value it is about, or on the table when a key is missing.
pub(crate) fn from_table<T: for<'de> Deserialize<'de>>(
    table: DeTable<'_>,
    span: &Range<usize>,
) -> Result<T, Invalid> {
    let de = ValueDeserializer::from(Spanned::new(span.clone(), DeValue::Table(table)));
    T::deserialize(de).map_err(|e| {
        let at = expand::take_element_span()
            .or_else(|| e.span())
            .unwrap_or_else(|| span.clone());
        (at, e.message().trim().to_owned())
    })
}
