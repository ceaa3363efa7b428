//! OIDC identities: JWTs from the company IdP, verified against the issuer's
//! published keys and turned into the same [`Principal`] as a Vigil token.
//!
//! The token's `iss` is read before verification only to pick which
//! configured issuer must verify it; everything else waits for the
//! signature. Every refusal is logged with its reason ([`Reject`]); the
//! client only ever sees "invalid credential" or "credential expired".

mod claims;
pub mod jwk;
pub mod jwt;
mod keys;

use std::time::Duration;

use crate::Principal;
use cel::{Context, Program, Value as CelValue};
use serde_json::Value;
use vigil_core::PrincipalKind;

pub use keys::{DEFAULT_MAX_AGE, MAX_STALE, check_url};

/// Default clock-skew allowance for `exp`, `nbf` and `iat`.
pub const DEFAULT_LEEWAY: Duration = Duration::from_secs(60);
/// Default least time between two key refreshes caused by unknown `kid`s.
pub const DEFAULT_MIN_REFRESH_INTERVAL: Duration = Duration::from_secs(30);

/// One trusted issuer, as configured (`[[identity.oidc]]`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IssuerSettings {
    /// The issuer URL, exactly as tokens carry it in `iss`.
    pub issuer: String,
    /// Accepted audiences: the token's `aud` must name at least one.
    pub audience: Vec<String>,
    /// Dotted path of the claim holding groups (a string or a list).
    pub groups_claim: Option<String>,
    /// Claim that becomes the principal's name.
    pub name_claim: String,
    /// CEL over `claims`: true marks the principal as an agent. Without it,
    /// principals of this issuer are humans.
    pub agent_when: Option<String>,
    /// Added to every principal of this issuer.
    pub groups: Vec<String>,
    pub leeway: Duration,
    /// How long a session may keep running statements after its token expired.
    pub grace: Duration,
    /// Least time between two key refreshes caused by unknown `kid`s.
    pub min_refresh_interval: Duration,
}

impl Default for IssuerSettings {
    fn default() -> Self {
        IssuerSettings {
            issuer: String::new(),
            audience: Vec::new(),
            groups_claim: None,
            name_claim: "sub".into(),
            agent_when: None,
            groups: Vec::new(),
            leeway: DEFAULT_LEEWAY,
            grace: Duration::ZERO,
            min_refresh_interval: DEFAULT_MIN_REFRESH_INTERVAL,
        }
    }
}

/// Why a token was refused: for the log line, never for the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Reject {
    #[error("token larger than 16 KiB")]
    TooLarge,
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    #[error("algorithm `none` refused")]
    AlgNone,
    #[error("HMAC algorithms are refused")]
    AlgHmac,
    #[error("unsupported algorithm")]
    AlgUnsupported,
    #[error("no configured issuer matches the token's `iss`")]
    UnknownIssuer,
    #[error("the token's `kid` is not among the issuer's keys")]
    UnknownKid,
    #[error("the key's type does not match the token's algorithm")]
    KeyMismatch,
    #[error("bad signature")]
    BadSignature,
    #[error("wrong issuer")]
    WrongIssuer,
    #[error("wrong audience")]
    WrongAudience,
    #[error("expired")]
    Expired,
    #[error("not yet valid (`nbf` or `iat` in the future)")]
    NotYetValid,
    #[error("the name claim is missing or unusable")]
    NoName,
    #[error("`agent_when` could not be evaluated")]
    AgentWhen,
    #[error("the issuer's keys could not be fetched")]
    IssuerUnavailable,
}

struct Issuer {
    settings: IssuerSettings,
    agent_when: Option<Program>,
    keys: keys::KeyCache,
}

/// Verifies JWTs from the configured issuers (none by default: every JWT is
/// then refused).
#[derive(Default)]
pub struct OidcVerifier {
    issuers: Vec<Issuer>,
}

impl std::fmt::Debug for OidcVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OidcVerifier")
            .field(
                "issuers",
                &self
                    .issuers
                    .iter()
                    .map(|i| &i.settings.issuer)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// Compiles an `agent_when` expression; the error text says what is wrong.
pub fn compile_agent_when(source: &str) -> Result<Program, String> {
    if source.trim().is_empty() {
        return Err("the expression is empty".into());
    }
    Program::compile(source).map_err(|e| e.to_string().trim().to_owned())
}

impl OidcVerifier {
    /// Checks and compiles the settings once; keys are fetched on first use.
    pub fn new(settings: Vec<IssuerSettings>) -> Result<OidcVerifier, String> {
        let mut issuers = Vec::with_capacity(settings.len());
        for s in settings {
            check_url(&s.issuer)?;
            if s.audience.is_empty() {
                return Err(format!("issuer `{}` has no audience", s.issuer));
            }
            let agent_when = s
                .agent_when
                .as_deref()
                .map(compile_agent_when)
                .transpose()
                .map_err(|e| format!("issuer `{}`: agent_when: {e}", s.issuer))?;
            let keys = keys::KeyCache::new(s.issuer.clone(), s.min_refresh_interval)?;
            issuers.push(Issuer {
                settings: s,
                agent_when,
                keys,
            });
        }
        Ok(OidcVerifier { issuers })
    }

    pub fn is_empty(&self) -> bool {
        self.issuers.is_empty()
    }

    /// Verifies `token` and builds its principal, or says why not (the
    /// reason is also logged, with the issuer when one was chosen).
    pub async fn verify(&self, token: &str, now_ms: i64) -> Result<Principal, Reject> {
        let decoded = match jwt::decode(token) {
            Ok(d) => d,
            Err(why) => {
                tracing::info!(reason = %why, len = token.len(), "OIDC token refused");
                return Err(why);
            }
        };
        // Unverified peek, for routing only: the claims are checked again,
        // after the signature, against the issuer chosen here.
        let iss = decoded.claims.get("iss").and_then(Value::as_str);
        let Some(issuer) = self
            .issuers
            .iter()
            .find(|i| Some(i.settings.issuer.as_str()) == iss)
        else {
            // The unverified `iss` may be anything: log its length, not its text.
            tracing::info!(reason = %Reject::UnknownIssuer, iss_len = iss.map(str::len), "OIDC token refused");
            return Err(Reject::UnknownIssuer);
        };
        let alg = decoded.alg.as_str();
        let kid_len = decoded.kid.as_ref().map(String::len);
        let result = issuer.verify(decoded, now_ms).await;
        if let Err(why) = &result {
            tracing::info!(issuer = %issuer.settings.issuer, reason = %why, alg, ?kid_len, "OIDC token refused");
        }
        result
    }
}

impl Issuer {
    async fn verify(&self, token: jwt::Decoded<'_>, now_ms: i64) -> Result<Principal, Reject> {
        let kid = token.kid.as_deref();
        let keys = self.keys.keys_for(kid).await?;
        keys.verify(token.alg, kid, token.signing_input, &token.signature)?;
        claims::check(&token.claims, &self.settings, now_ms.div_euclid(1000))?;
        let kind = match &self.agent_when {
            None => PrincipalKind::Human,
            Some(program) => agent(program, &token.claims)?,
        };
        claims::principal(token.claims, &self.settings, kind)
    }
}

/// Runs `agent_when` over `claims`. An error or a non-boolean refuses the
/// token (fail closed): write `has(claims.azp) && ...` for optional claims.
fn agent(
    program: &Program,
    claims: &serde_json::Map<String, Value>,
) -> Result<PrincipalKind, Reject> {
    let value = cel::to_value(claims).map_err(|_| Reject::AgentWhen)?;
    let mut ctx = Context::default();
    ctx.add_variable_from_value("claims", value);
    match program.execute(&ctx) {
        Ok(CelValue::Bool(true)) => Ok(PrincipalKind::Agent),
        Ok(CelValue::Bool(false)) => Ok(PrincipalKind::Human),
        _ => Err(Reject::AgentWhen),
    }
}
