//! The connection keys three ways must agree: what each options struct says
//! it takes (`KEYS`), what serde actually reads (the derived field lists), and
//! what `CONFIG.md` documents.
#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)] // tests may fail loudly

use std::collections::BTreeSet;
use std::path::Path;

use serde::Deserialize;
use serde::de::{self, Visitor};

use super::http::RawHttp;
use super::kubernetes::RawKubernetes;
use super::mysql::RawMysql;
use super::parse::RawCommon;
use super::postgres::RawPostgres;
use super::ssh::RawSsh;
use super::{COMMON_KEYS, ConnectionKind, ConnectionOptions};

const CONFIG_MD: &str = include_str!("../../CONFIG.md");

/// A deserializer that only records the field list a derived struct asks for.
struct FieldsOf<'a>(&'a mut Option<&'static [&'static str]>);

impl<'de> de::Deserializer<'de> for FieldsOf<'_> {
    type Error = de::value::Error;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
        Err(de::Error::custom("not a struct"))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        _visitor: V,
    ) -> Result<V::Value, Self::Error> {
        *self.0 = Some(fields);
        Err(de::Error::custom("fields recorded"))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

/// The keys serde reads into `T` (every field, whatever its default).
fn serde_fields<T: for<'de> Deserialize<'de>>() -> BTreeSet<&'static str> {
    let mut fields = None;
    let _ = T::deserialize(FieldsOf(&mut fields));
    fields.expect("a derived struct").iter().copied().collect()
}

fn set(keys: &[&'static str]) -> BTreeSet<&'static str> {
    keys.iter().copied().collect()
}

#[test]
fn each_kinds_keys_are_exactly_what_serde_reads() {
    assert_eq!(serde_fields::<RawCommon>(), set(COMMON_KEYS));
    let cases = [
        (ConnectionKind::Postgres, serde_fields::<RawPostgres>()),
        (ConnectionKind::Mysql, serde_fields::<RawMysql>()),
        (ConnectionKind::Ssh, serde_fields::<RawSsh>()),
        (ConnectionKind::Http, serde_fields::<RawHttp>()),
        (ConnectionKind::Kubernetes, serde_fields::<RawKubernetes>()),
    ];
    assert_eq!(cases.len(), ConnectionKind::ALL.len());
    for (kind, fields) in cases {
        let keys = ConnectionOptions::keys(kind);
        assert_eq!(fields, set(keys), "`{kind}`: KEYS differs from the struct");
        assert_eq!(keys.len(), fields.len(), "`{kind}`: a key is listed twice");
        assert!(
            keys.iter().all(|k| !COMMON_KEYS.contains(k)),
            "`{kind}` repeats a common key"
        );
    }
}

/// `CONFIG.md`'s `[[connection]]` section: the common table first, then one
/// `### kind = "..."` table per kind; the first cell of each row is a key.
fn documented() -> (BTreeSet<String>, Vec<(String, BTreeSet<String>)>) {
    let section = CONFIG_MD
        .split("\n## ")
        .find(|s| s.starts_with("`[[connection]]`"))
        .expect("CONFIG.md has a [[connection]] section");
    let keys_of = |part: &str| -> BTreeSet<String> {
        part.lines()
            .filter_map(|line| line.strip_prefix("| `"))
            .filter_map(|rest| rest.split('`').next())
            .map(str::to_owned)
            .collect()
    };
    let mut parts = section.split("\n### ");
    let common = keys_of(parts.next().unwrap_or_default());
    let kinds = parts
        .map(|part| {
            let heading = part.lines().next().unwrap_or_default();
            let kind = heading
                .strip_prefix("`kind = \"")
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_else(|| panic!("unexpected heading `### {heading}`"));
            (kind.to_owned(), keys_of(part))
        })
        .collect();
    (common, kinds)
}

#[test]
fn config_md_documents_exactly_the_keys_each_kind_takes() {
    let (common, kinds) = documented();
    let owned = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
    assert_eq!(common, owned(COMMON_KEYS), "the common table");
    let documented_kinds: Vec<&str> = kinds.iter().map(|(k, _)| k.as_str()).collect();
    let all: Vec<&str> = ConnectionKind::ALL.iter().map(|k| k.as_str()).collect();
    assert_eq!(
        documented_kinds, all,
        "one `### kind = ...` table per kind, in order"
    );
    for (name, keys) in kinds {
        let kind: ConnectionKind = name.parse().unwrap();
        assert_eq!(
            keys,
            owned(ConnectionOptions::keys(kind)),
            "CONFIG.md's `kind = \"{kind}\"` table"
        );
    }
}

/// The loader itself, not only the lists: a documented key is never an
/// "unknown field" (its value may still be wrong here), and a key no kind
/// documents is one, naming the kind.
#[test]
fn every_documented_key_is_accepted_by_the_loader() {
    let (common, kinds) = documented();
    for (kind, keys) in kinds {
        for key in common.iter().chain(&keys) {
            if key == "name" || key == "kind" {
                continue;
            }
            let text = format!("[[connection]]\nname = \"c\"\nkind = \"{kind}\"\n{key} = \"x\"\n");
            let err = crate::load_str_with_env(&text, Path::new("v.toml"), |_| None)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                !err.contains("unknown field"),
                "`{key}` of `{kind}` is documented but refused: {err}"
            );
        }
        let text = format!("[[connection]]\nname = \"c\"\nkind = \"{kind}\"\nno_such_key = 1\n");
        let err = crate::load_str_with_env(&text, Path::new("v.toml"), |_| None)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.starts_with(&format!(
                "v.toml:4:1: unknown field `no_such_key` for a `{kind}` connection"
            )),
            "{err}"
        );
    }
}
