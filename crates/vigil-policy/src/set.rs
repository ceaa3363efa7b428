//! The compiled policy set and its evaluation.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::SystemTime;

use cel::{Context, Env, Program, Value};
use vigil_core::{ActionKind, ConnectionRef, PrincipalRecord, Verdict};

use crate::PolicyError;
use crate::activation;
use crate::cache::{self, VerdictCache};
use crate::check::{self, VarSet};
use crate::glob::glob_match;
use crate::spec::{Effect, KNOWN_DETECTORS, MaskSpec, PolicySpec, RuleSpec};

/// Rule name of the verdict given when no rule allows an action.
pub const DEFAULT_DENY_RULE: &str = "default-deny";
const DEFAULT_DENY_REASON: &str = "no policy rule allows this statement";
const DEFAULT_DENY_RULE_REASON: &str = "the statement matched a deny rule";
const DEFAULT_REVIEW_REASON: &str = "the statement needs a reviewer's approval";

/// What the guard asks about one action.
#[derive(Clone, Copy, Debug)]
pub struct EvalInput<'a> {
    pub principal: &'a PrincipalRecord,
    /// The connection the action targets.
    pub connection: &'a ConnectionRef,
    /// What the action does (borrowed: the guard evaluates a client's
    /// actions without copying them).
    pub action: &'a ActionKind,
    /// The `now` CEL variable; passed in so evaluation stays pure and testable.
    pub now: SystemTime,
}

/// The answer: a verdict, and the masks of every policy that matched.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Evaluation {
    pub verdict: Verdict,
    pub masks: Vec<MaskSpec>,
}

/// Policies compiled once at load; shared by every session (`Send + Sync`).
pub struct PolicySet {
    env: Arc<Env>,
    policies: Vec<CompiledPolicy>,
    /// Some condition reads `http.body`.
    reads_http_body: bool,
    /// Verdicts that no volatile input went into; `None` when turned off.
    cache: Option<VerdictCache>,
}

impl std::fmt::Debug for PolicySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicySet")
            .field("policies", &self.policies)
            .field("cache", &self.cache)
            .finish_non_exhaustive()
    }
}

#[derive(Debug)]
struct CompiledPolicy {
    spec: PolicySpec,
    rules: Vec<CompiledRule>,
}

#[derive(Debug)]
struct CompiledRule {
    /// `None` when the rule has no `when`: it matches every action.
    program: Option<Program>,
    uses: VarSet,
}

/// How one rule answered.
enum Outcome {
    Match,
    NoMatch,
    /// The condition failed to evaluate or was not a bool; `why` carries no values.
    Failed(&'static str),
}

impl PolicySet {
    /// Parses and checks every condition once. Rejects syntax errors, unknown
    /// variables and fields, duplicate names, reviewless review rules and
    /// unknown mask detectors, each naming its policy and rule.
    pub fn compile(specs: Vec<PolicySpec>) -> Result<PolicySet, PolicyError> {
        let env = Arc::new(environment());
        let mut seen_policies = HashSet::new();
        let mut policies = Vec::with_capacity(specs.len());
        for spec in specs {
            if !seen_policies.insert(spec.name.clone()) {
                return Err(PolicyError::DuplicatePolicy { policy: spec.name });
            }
            let mut seen_rules = HashSet::new();
            let mut rules = Vec::with_capacity(spec.rules.len());
            for rule in &spec.rules {
                if !seen_rules.insert(rule.name.as_str()) {
                    return Err(PolicyError::DuplicateRule {
                        policy: spec.name.clone(),
                        rule: rule.name.clone(),
                    });
                }
                rules.push(compile_rule(&env, &spec.name, rule)?);
            }
            check_masks(&spec)?;
            policies.push(CompiledPolicy { spec, rules });
        }
        let reads_http_body = policies
            .iter()
            .flat_map(|p| p.rules.iter())
            .any(|r| r.uses.contains(check::Var::HttpBody));
        Ok(PolicySet {
            env,
            policies,
            reads_http_body,
            cache: Some(VerdictCache::new(cache::DEFAULT_CAPACITY)),
        })
    }

    /// Does any policy speak about this principal on this connection? Checked
    /// at connect time: no grant means the connection is refused.
    pub fn grants(&self, principal: &PrincipalRecord, connection: &str) -> bool {
        self.policies
            .iter()
            .any(|p| p.applies_to(principal) && p.covers(connection))
    }

    /// The connection names and globs granted to `principal` (`*` when a policy
    /// names no connection), deduplicated, in policy order.
    pub fn connections_for(&self, principal: &PrincipalRecord) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for policy in self.policies.iter().filter(|p| p.applies_to(principal)) {
            let names: Vec<&str> = if policy.spec.connections.is_empty() {
                vec!["*"]
            } else {
                policy.spec.connections.iter().map(String::as_str).collect()
            };
            for name in names {
                if !out.contains(&name) {
                    out.push(name);
                }
            }
        }
        out
    }

    /// The masks of every policy that matches this principal on this
    /// connection. They depend on nothing else, so a session computes them
    /// once; `evaluate` reports the same set.
    pub fn masks_for(&self, principal: &PrincipalRecord, connection: &str) -> Vec<MaskSpec> {
        self.policies
            .iter()
            .filter(|p| p.applies_to(principal) && p.covers(connection))
            .flat_map(|p| p.spec.masks.iter().cloned())
            .collect()
    }

    /// Whether a policy that matches this principal on this connection says
    /// `k8s_secrets = "reveal"`.
    pub fn reveals_k8s_secrets(&self, principal: &PrincipalRecord, connection: &str) -> bool {
        self.policies
            .iter()
            .filter(|p| p.applies_to(principal) && p.covers(connection))
            .any(|p| p.spec.reveal_k8s_secrets)
    }

    /// Whether any condition reads `http.body`: the HTTP front-end parses
    /// request bodies as JSON only then.
    pub fn reads_http_body(&self) -> bool {
        self.reads_http_body
    }

    /// The policies' names, in load order.
    pub fn policy_names(&self) -> impl Iterator<Item = &str> {
        self.policies.iter().map(|p| p.spec.name.as_str())
    }

    /// Decides one action: any matching deny (or failing condition) wins, then
    /// review, then allow; nothing matching means deny.
    ///
    /// A SQL statement's answer is reused for a later statement with the same
    /// facts (text aside), principal and connection when the rules that gave
    /// it read neither `now`, `sql.text` nor `principal.claims` (see
    /// `cache.rs`).
    pub fn evaluate(&self, input: &EvalInput<'_>) -> Evaluation {
        match self.cached(input) {
            Some(hit) => Evaluation::clone(&hit),
            None => self.evaluate_and_keep(input),
        }
    }

    /// [`PolicySet::evaluate`]'s verdict alone, without copying the masks:
    /// the guard's per-statement question.
    pub fn verdict(&self, input: &EvalInput<'_>) -> Verdict {
        match self.cached(input) {
            Some(hit) => hit.verdict.clone(),
            None => self.evaluate_and_keep(input).verdict,
        }
    }

    /// Keeps at most about `capacity` cached verdicts (the default is
    /// 4096); `0` turns the cache off, so every action is evaluated afresh.
    pub fn with_verdict_cache(mut self, capacity: usize) -> Self {
        self.cache = (capacity > 0).then(|| VerdictCache::new(capacity));
        self
    }

    /// How many verdicts the cache holds.
    #[cfg(test)]
    pub(crate) fn cached_verdicts(&self) -> usize {
        self.cache.as_ref().map_or(0, VerdictCache::len)
    }

    fn cached(&self, input: &EvalInput<'_>) -> Option<Arc<Evaluation>> {
        self.cache.as_ref()?.get(input)
    }

    fn evaluate_and_keep(&self, input: &EvalInput<'_>) -> Evaluation {
        let mut needed = VarSet::default();
        let evaluation = self.evaluate_afresh(input, &mut needed);
        if let Some(cache) = &self.cache {
            cache.put(input, needed, &evaluation);
        }
        evaluation
    }

    /// The evaluation; `needed_out` is set to the variables the rules that gave
    /// it read.
    fn evaluate_afresh(&self, input: &EvalInput<'_>, needed_out: &mut VarSet) -> Evaluation {
        let principal = input.principal;
        let connection = input.connection.name.as_str();
        let protocol = activation::protocol_of(input.action);
        let mut protocol_set = VarSet::default();
        protocol_set.insert(protocol);

        let matching: Vec<&CompiledPolicy> = self
            .policies
            .iter()
            .filter(|p| p.applies_to(principal) && p.covers(connection))
            .collect();
        // A rule that speaks only of another protocol's variables does not apply.
        let applies = |rule: &CompiledRule| {
            !rule.uses.intersects(VarSet::PROTOCOLS) || rule.uses.intersects(protocol_set)
        };
        let needed = matching
            .iter()
            .flat_map(|p| p.rules.iter())
            .filter(|r| applies(r))
            .fold(VarSet::default(), |acc, r| acc.union(r.uses));
        *needed_out = needed;
        let ctx = activation::build(&self.env, input, needed);
        let masks = matching
            .iter()
            .flat_map(|p| p.spec.masks.iter().cloned())
            .collect();

        let rules_with = |effect: Effect| {
            matching.iter().flat_map(move |p| {
                p.spec
                    .rules
                    .iter()
                    .zip(&p.rules)
                    .filter(move |(spec, rule)| spec.effect == effect && applies(rule))
            })
        };

        // Denies first: the first one that matches is the answer.
        for (spec, rule) in rules_with(Effect::Deny) {
            match rule.run(&ctx) {
                Outcome::NoMatch => {}
                Outcome::Match => {
                    let reason = spec.reason.as_deref().unwrap_or(DEFAULT_DENY_RULE_REASON);
                    return deny(&spec.name, reason.to_owned(), masks);
                }
                Outcome::Failed(why) => return deny(&spec.name, failed(spec, why), masks),
            }
        }
        // Then every review and allow rule: any failure still denies.
        let mut review: Option<&RuleSpec> = None;
        let mut allow: Option<&RuleSpec> = None;
        for effect in [Effect::Review, Effect::Allow] {
            for (spec, rule) in rules_with(effect) {
                match rule.run(&ctx) {
                    Outcome::NoMatch => {}
                    Outcome::Match => {
                        let slot = if effect == Effect::Review {
                            &mut review
                        } else {
                            &mut allow
                        };
                        slot.get_or_insert(spec);
                    }
                    Outcome::Failed(why) => return deny(&spec.name, failed(spec, why), masks),
                }
            }
        }
        let verdict = match (review, allow) {
            (Some(r), _) => Verdict::Review {
                rule: r.name.clone(),
                reason: r
                    .reason
                    .clone()
                    .unwrap_or_else(|| DEFAULT_REVIEW_REASON.to_owned()),
                reviewers: r.reviewers.clone(),
                mode: r.mode,
                timeout: r.timeout,
                valid_for: r.valid_for,
            },
            (None, Some(a)) => Verdict::Allow {
                rule: a.name.clone(),
            },
            (None, None) => Verdict::Deny {
                rule: DEFAULT_DENY_RULE.to_owned(),
                reason: DEFAULT_DENY_REASON.to_owned(),
            },
        };
        Evaluation { verdict, masks }
    }
}

impl CompiledPolicy {
    fn applies_to(&self, principal: &PrincipalRecord) -> bool {
        let groups = &self.spec.groups;
        groups.is_empty()
            || groups.iter().any(|pattern| {
                pattern == "*" || principal.groups.iter().any(|g| glob_match(pattern, g))
            })
    }

    fn covers(&self, connection: &str) -> bool {
        let connections = &self.spec.connections;
        connections.is_empty() || connections.iter().any(|c| glob_match(c, connection))
    }
}

impl CompiledRule {
    fn run(&self, ctx: &Context<'_, '_>) -> Outcome {
        let Some(program) = &self.program else {
            return Outcome::Match;
        };
        match program.execute(ctx) {
            Ok(Value::Bool(true)) => Outcome::Match,
            Ok(Value::Bool(false)) => Outcome::NoMatch,
            Ok(_) => Outcome::Failed("did not evaluate to true or false"),
            Err(_) => Outcome::Failed("could not be evaluated"),
        }
    }
}

/// The standard library plus the string extension (`lowerAscii`, `split`, ...),
/// which conditions over `sql.text` need.
fn environment() -> Env {
    let mut env = Env::stdlib();
    // The extension only adds functions to a fresh environment; if it ever
    // failed, conditions using it would be rejected at compile time instead.
    let _ = env.add_extension(cel::extensions::strings);
    env
}

fn compile_rule(env: &Env, policy: &str, rule: &RuleSpec) -> Result<CompiledRule, PolicyError> {
    let cel_error = |message: String| PolicyError::Cel {
        policy: policy.to_owned(),
        rule: rule.name.clone(),
        message,
    };
    if rule.effect == Effect::Review && rule.reviewers.is_empty() {
        return Err(PolicyError::NoReviewers {
            policy: policy.to_owned(),
            rule: rule.name.clone(),
        });
    }
    let Some(source) = rule.when.as_deref() else {
        return Ok(CompiledRule {
            program: None,
            uses: VarSet::default(),
        });
    };
    if source.trim().is_empty() {
        return Err(cel_error("the condition is empty".to_owned()));
    }
    let program = env
        .compile(source)
        .map_err(|e| cel_error(e.to_string().trim().to_owned()))?;
    let uses = check::check_expression(program.expression()).map_err(cel_error)?;
    Ok(CompiledRule {
        program: Some(program),
        uses,
    })
}

fn check_masks(spec: &PolicySpec) -> Result<(), PolicyError> {
    for path in spec.masks.iter().flat_map(|m| m.json_paths.iter()) {
        if let Err(e) = serde_json_path::JsonPath::parse(path) {
            return Err(PolicyError::BadJsonPath {
                policy: spec.name.clone(),
                path: path.clone(),
                message: e.to_string(),
            });
        }
    }
    for detector in spec.masks.iter().flat_map(|m| m.detectors.iter()) {
        if !KNOWN_DETECTORS.contains(&detector.as_str()) {
            return Err(PolicyError::UnknownDetector {
                policy: spec.name.clone(),
                detector: detector.clone(),
                known: KNOWN_DETECTORS.join(", "),
            });
        }
    }
    Ok(())
}

fn deny(rule: &str, reason: String, masks: Vec<MaskSpec>) -> Evaluation {
    Evaluation {
        verdict: Verdict::Deny {
            rule: rule.to_owned(),
            reason,
        },
        masks,
    }
}

/// The reason for a condition that failed. Names the rule, never the values
/// it was looking at (they may be statement text or secrets).
fn failed(rule: &RuleSpec, why: &str) -> String {
    format!(
        "the condition of rule '{}' {why}; failing closed",
        rule.name
    )
}
