//! `[[policy]]`, `[[policy.rule]]` and `[[policy.mask]]`, read into
//! `vigil-policy`'s types, with the spans that errors point at.

use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use vigil_core::ReviewMode;
use vigil_policy::{
    DEFAULT_APPROVAL_VALID_FOR, DEFAULT_REVIEW_TIMEOUT, Effect, MaskSpec, MaskStyle, RuleSpec,
};

use crate::expand::{self, Parsed, Str, with};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawPolicy {
    pub name: Spanned<Str>,
    #[serde(default, deserialize_with = "with::opt_string")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "with::strings")]
    pub groups: Vec<String>,
    #[serde(default, deserialize_with = "expand::spanned_strs")]
    pub connections: Vec<Spanned<Str>>,
    #[serde(default)]
    pub rule: Vec<RawRule>,
    #[serde(default)]
    pub mask: Vec<Spanned<RawMask>>,
    /// `k8s_secrets = "reveal" | "mask"` (default `mask`).
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub k8s_secrets: Option<K8sSecrets>,
}

/// `k8s_secrets = "reveal" | "mask"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum K8sSecrets {
    Mask,
    Reveal,
}

impl std::str::FromStr for K8sSecrets {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "mask" => Ok(K8sSecrets::Mask),
            "reveal" => Ok(K8sSecrets::Reveal),
            other => Err(format!(
                "unknown k8s_secrets `{other}`, expected `mask` or `reveal`"
            )),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRule {
    pub name: Spanned<Str>,
    pub effect: Spanned<Parsed<Effect>>,
    #[serde(default)]
    pub when: Option<Spanned<Str>>,
    #[serde(default, deserialize_with = "with::opt_string")]
    pub reason: Option<String>,
    #[serde(default, deserialize_with = "with::strings")]
    pub reviewers: Vec<String>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub mode: Option<Mode>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub timeout: Option<HumanDuration>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub valid_for: Option<HumanDuration>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMask {
    #[serde(default, deserialize_with = "with::strings")]
    pub columns: Vec<String>,
    #[serde(default, deserialize_with = "expand::spanned_strs")]
    pub detectors: Vec<Spanned<Str>>,
    #[serde(default, deserialize_with = "with::opt_parsed")]
    pub style: Option<MaskStyle>,
    #[serde(default, deserialize_with = "expand::spanned_strs")]
    pub json_paths: Vec<Spanned<Str>>,
}

impl RawRule {
    pub fn to_spec(&self) -> RuleSpec {
        RuleSpec {
            name: self.name.get_ref().0.clone(),
            effect: self.effect.get_ref().0,
            when: self.when.as_ref().map(|w| w.get_ref().0.clone()),
            reason: self.reason.clone(),
            reviewers: self.reviewers.clone(),
            mode: self.mode.map_or(ReviewMode::Hold, |m| m.0),
            timeout: self.timeout.map_or(DEFAULT_REVIEW_TIMEOUT, |d| d.0),
            valid_for: self.valid_for.map_or(DEFAULT_APPROVAL_VALID_FOR, |d| d.0),
        }
    }
}

impl RawMask {
    pub fn to_spec(&self) -> MaskSpec {
        MaskSpec {
            columns: self.columns.clone(),
            detectors: self
                .detectors
                .iter()
                .map(|d| d.get_ref().0.clone())
                .collect(),
            style: self.style.unwrap_or_default(),
            json_paths: self
                .json_paths
                .iter()
                .map(|p| p.get_ref().0.clone())
                .collect(),
        }
    }
}

/// `mode = "hold" | "retry"`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Mode(pub ReviewMode);

impl std::str::FromStr for Mode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "hold" => Ok(Mode(ReviewMode::Hold)),
            "retry" => Ok(Mode(ReviewMode::Retry)),
            other => Err(format!(
                "unknown review mode `{other}`, expected `hold` or `retry`"
            )),
        }
    }
}

/// A humantime duration such as `30s`, `5m` or `1h 30m`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HumanDuration(pub Duration);

impl std::str::FromStr for HumanDuration {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        humantime::parse_duration(s)
            .map(HumanDuration)
            .map_err(|e| format!("invalid duration `{s}` ({e}): expected e.g. `30s`, `5m`, `1h`"))
    }
}
