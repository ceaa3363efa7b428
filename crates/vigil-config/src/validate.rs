//! From TOML text to a checked [`Config`]: parse (expanding as we go), then
//! the checks that need the whole file, each reported at its own line.

use std::collections::HashMap;
use std::path::Path;

use serde::Deserialize;
use serde::de::IgnoredAny;
use toml::Spanned;
use toml::de::DeTable;
use vigil_policy::{Effect, KNOWN_DETECTORS, PolicySet, PolicySpec, glob_match};

use crate::connection::{ConnectionConfig, RawConnection, parse_connections};
use crate::expand::{self, Lookup};
use crate::identity::{IdentityConfig, RawIdentity};
use crate::locate::Locations;
use crate::policy::RawPolicy;
use crate::server::{LedgerConfig, ListenConfig, LogConfig, ServerConfig, TlsConfig};
use crate::{Config, ConfigError, Location};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    server: ServerConfig,
    #[serde(default)]
    listen: ListenConfig,
    #[serde(default)]
    tls: Option<Spanned<TlsConfig>>,
    #[serde(default)]
    ledger: Option<Spanned<LedgerConfig>>,
    #[serde(default)]
    log: LogConfig,
    /// Read apart, once its `kind` says which keys it takes
    /// ([`parse_connections`]); named here so errors list it among the keys.
    #[serde(default, rename = "connection")]
    _connection: Option<IgnoredAny>,
    #[serde(default)]
    policy: Vec<RawPolicy>,
    #[serde(default)]
    identity: RawIdentity,
    #[serde(default)]
    notify: Vec<crate::notify::RawNotify>,
    #[serde(default)]
    console: Option<Spanned<crate::console::RawConsole>>,
}

/// Parses and checks `text`; `origin` names the file in errors.
pub(crate) fn load(text: &str, origin: &Path, lookup: Lookup) -> Result<Config, ConfigError> {
    let at = |span: Option<std::ops::Range<usize>>, message: &str| {
        ConfigError::at(origin, Location::of_span(text, span), message.trim())
    };
    // `message()` alone: toml's Display quotes the source line, which may hold a secret.
    let toml_error = |e: toml::de::Error| {
        let span = expand::take_element_span().or_else(|| e.span());
        at(span, e.message())
    };
    let (raw, connections) = expand::with_lookup(lookup, || {
        let mut root = DeTable::parse(text).map_err(toml_error)?;
        let connections = root.get_mut().remove("connection");
        let raw = RawConfig::deserialize(toml::de::Deserializer::from(root)).map_err(toml_error)?;
        let connections = match connections {
            Some(value) => parse_connections(value).map_err(|(span, m)| at(Some(span), &m))?,
            None => Vec::new(),
        };
        Ok::<_, ConfigError>((raw, connections))
    })?;
    Checker { text, origin }.check(raw, connections)
}

struct Checker<'a> {
    text: &'a str,
    origin: &'a Path,
}

impl Checker<'_> {
    fn err<T>(
        &self,
        span: std::ops::Range<usize>,
        message: impl std::fmt::Display,
    ) -> Result<T, ConfigError> {
        Err(ConfigError::at(self.origin, self.loc(span), message))
    }

    fn loc(&self, span: std::ops::Range<usize>) -> Location {
        Location::of(self.text, span.start)
    }

    fn check(
        &self,
        raw: RawConfig,
        raw_connections: Vec<RawConnection>,
    ) -> Result<Config, ConfigError> {
        let tls = match raw.tls {
            Some(tls) => {
                let span = tls.span();
                let tls = tls.into_inner();
                if tls.cert.is_some() != tls.key.is_some() {
                    return self.err(span, "[tls] needs both `cert` and `key`, or neither (to use a generated certificate)");
                }
                tls
            }
            None => TlsConfig::default(),
        };
        let ledger = match raw.ledger {
            Some(ledger) => {
                let span = ledger.span();
                let ledger = ledger.into_inner();
                if ledger.checkpoint_every == 0 {
                    return self.err(span, "[ledger] `checkpoint_every` must be at least 1");
                }
                ledger
            }
            None => LedgerConfig::default(),
        };

        let mut locations = Locations::default();
        let connections = self.check_connections(raw_connections, &mut locations)?;

        let mut policies = Vec::with_capacity(raw.policy.len());
        let mut policy_names: HashMap<String, Location> = HashMap::new();
        for policy in &raw.policy {
            policies.push(self.check_policy(
                policy,
                &connections,
                &mut policy_names,
                &mut locations,
            )?);
        }
        // Compiling is the only way to know every condition is valid CEL.
        if let Err(e) = PolicySet::compile(policies.clone()) {
            return Err(locations.locate(self.origin, &e));
        }

        let identity = self.check_identity(&raw.identity)?;
        let mut notify = Vec::with_capacity(raw.notify.len());
        for entry in &raw.notify {
            match entry.check() {
                Ok(n) => notify.push(n),
                Err((span, message)) => return self.err(span, message),
            }
        }

        let console = match raw.console {
            Some(console) => {
                let span = console.span();
                let issuers: Vec<&str> = identity.oidc.iter().map(|o| o.issuer.as_str()).collect();
                match console.into_inner().check(&issuers, span) {
                    Ok(c) => c,
                    Err((span, message)) => return self.err(span, message),
                }
            }
            None => crate::ConsoleConfig::default(),
        };
        Ok(Config {
            identity,
            notify,
            console,
            server: raw.server,
            listen: raw.listen,
            tls,
            ledger,
            log: raw.log,
            connections,
            policies,
            source: self.origin.to_owned(),
            locations,
        })
    }

    fn check_connections(
        &self,
        raw: Vec<RawConnection>,
        locations: &mut Locations,
    ) -> Result<Vec<ConnectionConfig>, ConfigError> {
        let mut names: HashMap<String, Location> = HashMap::new();
        let mut connections = Vec::with_capacity(raw.len());
        for conn in raw {
            let name = conn.name.get_ref().0.clone();
            if name.is_empty() {
                return self.err(conn.name.span(), "connection `name` must not be empty");
            }
            if let Some(first) = names.get(&name) {
                return self.err(
                    conn.name.span(),
                    format!(
                        "duplicate connection name `{name}` (first defined at line {})",
                        first.line
                    ),
                );
            }
            names.insert(name.clone(), self.loc(conn.name.span()));
            if let Some(via) = &conn.via
                && via.get_ref().0.is_empty()
            {
                return self.err(via.span(), "`via` must name a connector");
            }
            locations.add_connection(
                &name,
                self.loc(conn.kind.span()),
                conn.via.as_ref().map(|v| self.loc(v.span())),
            );
            let options = match conn.options.check(&conn.span) {
                Ok(options) => options,
                Err((span, message)) => return self.err(span, message),
            };
            connections.push(ConnectionConfig {
                name,
                via: conn.via.map(|v| v.into_inner().0),
                options,
            });
        }
        Ok(connections)
    }

    fn check_identity(&self, raw: &RawIdentity) -> Result<IdentityConfig, ConfigError> {
        use crate::identity::{check_agent_when, check_issuer_url};
        let mut seen: HashMap<&str, Location> = HashMap::new();
        let mut oidc = Vec::with_capacity(raw.oidc.len());
        for entry in &raw.oidc {
            let issuer = entry.issuer.get_ref().0.as_str();
            if let Err(message) = check_issuer_url(issuer) {
                return self.err(entry.issuer.span(), message);
            }
            if let Some(first) = seen.get(issuer) {
                return self.err(
                    entry.issuer.span(),
                    format!(
                        "duplicate issuer `{issuer}` (first defined at line {})",
                        first.line
                    ),
                );
            }
            seen.insert(issuer, self.loc(entry.issuer.span()));
            if entry.audience().iter().all(String::is_empty) {
                return self.err(
                    entry.audience.span(),
                    "`audience` must name at least one audience",
                );
            }
            if let Some(when) = &entry.agent_when
                && let Err(message) = check_agent_when(&when.get_ref().0)
            {
                return self.err(when.span(), message);
            }
            let config = entry.to_config();
            if config.name_claim.is_empty() {
                return self.err(entry.issuer.span(), "`name_claim` must not be empty");
            }
            oidc.push(config);
        }
        Ok(IdentityConfig {
            oidc,
            token_cache: raw
                .token_cache
                .map_or(crate::identity::DEFAULT_TOKEN_CACHE, |t| t.0),
        })
    }

    fn check_policy(
        &self,
        policy: &RawPolicy,
        connections: &[ConnectionConfig],
        seen: &mut HashMap<String, Location>,
        locations: &mut Locations,
    ) -> Result<PolicySpec, ConfigError> {
        let name = policy.name.get_ref().0.clone();
        if name.is_empty() {
            return self.err(policy.name.span(), "policy `name` must not be empty");
        }
        if let Some(first) = seen.get(&name) {
            return self.err(
                policy.name.span(),
                format!(
                    "duplicate policy name `{name}` (first defined at line {})",
                    first.line
                ),
            );
        }
        seen.insert(name.clone(), self.loc(policy.name.span()));
        locations.add_policy(&name, self.loc(policy.name.span()));

        for pattern in &policy.connections {
            let pattern_text = &pattern.get_ref().0;
            if !connections
                .iter()
                .any(|c| glob_match(pattern_text, &c.name))
            {
                let known: Vec<&str> = connections.iter().map(|c| c.name.as_str()).collect();
                return self.err(
                    pattern.span(),
                    format!(
                        "policy `{name}` names connection `{pattern_text}`, which no [[connection]] defines (defined: {})",
                        if known.is_empty() { "none".to_owned() } else { known.join(", ") }
                    ),
                );
            }
        }

        let mut rule_names: HashMap<&str, Location> = HashMap::new();
        let mut rules = Vec::with_capacity(policy.rule.len());
        for rule in &policy.rule {
            let rule_name = rule.name.get_ref().0.as_str();
            if rule_name.is_empty() {
                return self.err(rule.name.span(), "rule `name` must not be empty");
            }
            if let Some(first) = rule_names.get(rule_name) {
                return self.err(
                    rule.name.span(),
                    format!(
                        "duplicate rule name `{rule_name}` in policy `{name}` (first defined at line {})",
                        first.line
                    ),
                );
            }
            rule_names.insert(rule_name, self.loc(rule.name.span()));
            if rule.effect.get_ref().0 == Effect::Review && rule.reviewers.is_empty() {
                return self.err(
                    rule.effect.span(),
                    format!("rule `{rule_name}` has effect \"review\" but no `reviewers`: name the groups that may approve"),
                );
            }
            let when = rule.when.as_ref().map(|w| self.loc(w.span()));
            locations.add_rule(&name, rule_name, self.loc(rule.name.span()), when);
            rules.push(rule.to_spec());
        }

        let mut masks = Vec::with_capacity(policy.mask.len());
        for mask in &policy.mask {
            let raw = mask.get_ref();
            if raw.columns.is_empty() && raw.detectors.is_empty() && raw.json_paths.is_empty() {
                return self.err(
                    mask.span(),
                    "a [[policy.mask]] needs `columns`, `detectors` or `json_paths`",
                );
            }
            for path in &raw.json_paths {
                let p = &path.get_ref().0;
                if let Err(e) = vigil_policy::check_json_path(p) {
                    return self.err(path.span(), e);
                }
            }
            for detector in &raw.detectors {
                let d = &detector.get_ref().0;
                if !KNOWN_DETECTORS.contains(&d.as_str()) {
                    return self.err(
                        detector.span(),
                        format!(
                            "unknown mask detector `{d}` (accepted: {})",
                            KNOWN_DETECTORS.join(", ")
                        ),
                    );
                }
            }
            masks.push(raw.to_spec());
        }

        Ok(PolicySpec {
            name,
            description: policy.description.clone(),
            groups: policy.groups.clone(),
            connections: policy
                .connections
                .iter()
                .map(|c| c.get_ref().0.clone())
                .collect(),
            rules,
            masks,
            reveal_k8s_secrets: policy.k8s_secrets == Some(crate::policy::K8sSecrets::Reveal),
        })
    }
}
