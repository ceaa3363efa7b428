//! From verified claims to a [`Principal`]: the time and audience checks,
//! then name, groups and kind as the issuer's settings say.

use crate::Principal;
use serde_json::{Map, Value};
use vigil_core::{PrincipalKind, PrincipalRecord};

use super::{IssuerSettings, Reject};

/// Most groups taken from one token (the claim's extra entries are ignored).
const MAX_GROUPS: usize = 256;
/// Longest group or name taken from a token.
const MAX_NAME_LEN: usize = 256;

/// Checks `iss`, `aud`, `exp`, `nbf` and `iat` against `now_s` (Unix
/// seconds) with the issuer's leeway. `exp` is required.
pub fn check(claims: &Map<String, Value>, s: &IssuerSettings, now_s: i64) -> Result<(), Reject> {
    if claims.get("iss").and_then(Value::as_str) != Some(s.issuer.as_str()) {
        return Err(Reject::WrongIssuer);
    }
    let audience_ok = match claims.get("aud") {
        Some(Value::String(aud)) => s.audience.iter().any(|a| a == aud),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(Value::as_str)
            .any(|aud| s.audience.iter().any(|a| a == aud)),
        _ => false,
    };
    if !audience_ok {
        return Err(Reject::WrongAudience);
    }
    let leeway = i64::try_from(s.leeway.as_secs()).unwrap_or(i64::MAX);
    let exp = time_claim(claims, "exp")?.ok_or(Reject::Malformed("no `exp` claim"))?;
    if now_s >= exp.saturating_add(leeway) {
        return Err(Reject::Expired);
    }
    if let Some(nbf) = time_claim(claims, "nbf")?
        && now_s.saturating_add(leeway) < nbf
    {
        return Err(Reject::NotYetValid);
    }
    if let Some(iat) = time_claim(claims, "iat")?
        && now_s.saturating_add(leeway) < iat
    {
        return Err(Reject::NotYetValid);
    }
    Ok(())
}

/// A NumericDate claim as whole seconds; `Err` when present but not a number.
fn time_claim(claims: &Map<String, Value>, name: &'static str) -> Result<Option<i64>, Reject> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(|f| f.floor() as i64)
            })
            .map(Some)
            .ok_or(Reject::Malformed("a time claim is not a number")),
        Some(_) => Err(Reject::Malformed("a time claim is not a number")),
    }
}

/// The value at a dotted path such as `realm_access.roles`. A key that itself
/// contains dots (`https://example.com/groups`) is found when written whole.
pub fn at_path<'a>(claims: &'a Map<String, Value>, path: &str) -> Option<&'a Value> {
    if let Some(v) = claims.get(path) {
        return Some(v);
    }
    let mut parts = path.split('.');
    let mut current = claims.get(parts.next()?)?;
    for part in parts {
        current = current.as_object()?.get(part)?;
    }
    Some(current)
}

/// Builds the principal of verified `claims`.
pub fn principal(
    claims: Map<String, Value>,
    s: &IssuerSettings,
    kind: PrincipalKind,
) -> Result<Principal, Reject> {
    let name = match at_path(&claims, &s.name_claim) {
        Some(Value::String(n)) if usable(n) => n.clone(),
        _ => return Err(Reject::NoName),
    };
    let mut groups: Vec<String> = Vec::new();
    if let Some(path) = &s.groups_claim {
        let mut add = |g: &str| {
            if usable(g) && groups.len() < MAX_GROUPS && !groups.iter().any(|x| x == g) {
                groups.push(g.to_owned());
            }
        };
        match at_path(&claims, path) {
            Some(Value::String(g)) => add(g),
            Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).for_each(add),
            _ => {}
        }
    }
    for g in &s.groups {
        if !groups.contains(g) {
            groups.push(g.clone());
        }
    }
    let subject = claims.get("sub").and_then(Value::as_str).map(str::to_owned);
    let expires_at_ms = time_claim(&claims, "exp")?.map(|exp| {
        let extra = s.leeway.saturating_add(s.grace).as_millis();
        exp.saturating_mul(1000)
            .saturating_add(i64::try_from(extra).unwrap_or(i64::MAX))
    });
    let record = PrincipalRecord {
        name,
        groups,
        kind,
        issuer: s.issuer.clone(),
        run_id: None,
        subject,
        expires_at_ms,
        claims: Some(Value::Object(claims)),
    };
    Ok(Principal::verified(record, None))
}

fn usable(s: &str) -> bool {
    !s.is_empty() && s.chars().count() <= MAX_NAME_LEN && !s.chars().any(char::is_control)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn settings() -> IssuerSettings {
        IssuerSettings {
            issuer: "https://idp.example".into(),
            audience: vec!["vigil".into()],
            groups_claim: Some("realm_access.roles".into()),
            groups: vec!["oidc".into()],
            leeway: Duration::from_secs(60),
            ..IssuerSettings::default()
        }
    }

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn times_are_checked_with_the_leeway() {
        let s = settings();
        let base = json!({"iss": "https://idp.example", "aud": ["x", "vigil"], "sub": "a"});
        let with = |extra: Value| {
            let mut c = claims(base.clone());
            c.extend(claims(extra));
            c
        };
        let now = 1_000_000;
        assert_eq!(check(&with(json!({"exp": now + 1})), &s, now), Ok(()));
        assert_eq!(check(&with(json!({"exp": now - 59})), &s, now), Ok(()));
        assert_eq!(
            check(&with(json!({"exp": now - 60})), &s, now),
            Err(Reject::Expired)
        );
        assert_eq!(
            check(&with(json!({"exp": now + 9, "nbf": now + 61})), &s, now),
            Err(Reject::NotYetValid)
        );
        assert_eq!(
            check(&with(json!({"exp": now + 9, "iat": now + 3600})), &s, now),
            Err(Reject::NotYetValid)
        );
        assert_eq!(
            check(&with(json!({"exp": "soon"})), &s, now),
            Err(Reject::Malformed("a time claim is not a number"))
        );
        assert_eq!(
            check(&with(json!({})), &s, now),
            Err(Reject::Malformed("no `exp` claim"))
        );
        let mut c = with(json!({"exp": now + 1}));
        c.insert("aud".into(), json!("other"));
        assert_eq!(check(&c, &s, now), Err(Reject::WrongAudience));
        c.insert("aud".into(), json!("vigil"));
        c.insert("iss".into(), json!("https://idp.example/"));
        assert_eq!(check(&c, &s, now), Err(Reject::WrongIssuer));
    }

    #[test]
    fn groups_come_from_the_claim_and_the_settings() {
        let s = settings();
        let c = claims(json!({
            "sub": "u-1", "exp": 10,
            "realm_access": {"roles": ["analysts", "dba", "analysts", 7, ""]}
        }));
        let p = principal(c, &s, PrincipalKind::Human).unwrap();
        assert_eq!(p.name, "u-1");
        assert_eq!(p.groups, vec!["analysts", "dba", "oidc"]);
        assert_eq!(p.issuer, "https://idp.example");
        assert_eq!(p.subject.as_deref(), Some("u-1"));
        assert_eq!(p.expires_at_ms, Some(70_000));

        let s = IssuerSettings {
            groups_claim: Some("https://example.com/groups".into()),
            name_claim: "email".into(),
            ..settings()
        };
        let c =
            claims(json!({"sub": "u-1", "email": "a@b.c", "https://example.com/groups": "ops"}));
        let p = principal(c, &s, PrincipalKind::Agent).unwrap();
        assert_eq!(p.name, "a@b.c");
        assert_eq!(p.groups, vec!["ops", "oidc"]);
        let c = claims(json!({"sub": "u-1"}));
        assert_eq!(principal(c, &s, PrincipalKind::Agent), Err(Reject::NoName));
    }
}
