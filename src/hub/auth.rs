//! Session tokens: when to log in, when to renew, and when to stop trying.
//!
//! The Hub's tokens are JWTs that expire (ten minutes for `/v2/auth/token`); their `exp` claim
//! is read without verifying the signature, only to schedule the renewal. A refused login is
//! remembered until the next refresh, because the Hub locks accounts after repeated failures.
//! The HTTP exchange itself lives in the client; this module holds the state and the rules.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use tokio::time::Instant;

use crate::config::Secret;

/// How long a token without an `exp` claim is used before it is renewed (the Hub's tokens
/// live ten minutes; renewing after nine leaves a margin).
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(9 * 60);

/// How long before its expiry a token is renewed, at most.
pub const RENEW_MARGIN: Duration = Duration::from_secs(60);

/// A session token and when to renew it.
#[derive(Debug, Clone)]
pub struct Token {
    /// The bearer value.
    pub value: Secret,
    /// When to log in again instead of using it.
    pub renew_at: Instant,
}

impl Token {
    /// A token received now, renewed before its `exp` claim (or after nine minutes).
    pub fn received(value: String) -> Token {
        let lifetime = jwt_expiry(&value)
            .and_then(|exp| exp.duration_since(SystemTime::now()).ok())
            .map(|left| left - RENEW_MARGIN.min(left / 4))
            .unwrap_or(DEFAULT_TOKEN_LIFETIME);
        Token {
            value: Secret::new(value),
            renew_at: Instant::now() + lifetime,
        }
    }

    /// Whether the token can still be sent.
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.renew_at
    }
}

/// The `exp` claim of a JWT, unverified; `None` when the token is not a JWT or has none.
pub fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_f64()?;
    if !exp.is_finite() || exp <= 0.0 || exp > 1e11 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_secs_f64(exp))
}

/// What the client knows about its session.
#[derive(Debug, Default)]
pub struct Session {
    /// The current token, if any.
    pub token: Option<Token>,
    /// Why the last login was refused; no login is tried again until the next refresh.
    pub refused: Option<String>,
    /// The Hub answered 404 or 405 on `/v2/auth/token`: use `/v2/users/login`.
    pub legacy_login: bool,
}

/// The reason a login was refused, taken from the Hub's error body.
pub fn refusal_reason(status: u16, body: &[u8]) -> String {
    let detail = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            ["detail", "message"]
                .iter()
                .find_map(|k| v.get(*k).and_then(|d| d.as_str()).map(str::to_string))
        })
        .filter(|d| !d.is_empty());
    match detail {
        Some(d) => format!("the Hub refused the credentials (HTTP {status}): {d}"),
        None => format!("the Hub refused the credentials (HTTP {status})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt(payload: &str) -> String {
        let enc = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            enc.encode(r#"{"alg":"RS256"}"#),
            enc.encode(payload)
        )
    }

    #[test]
    fn the_expiry_is_read_from_the_jwt_payload() {
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1727833827,"iat":1727833227}"#)),
            Some(UNIX_EPOCH + Duration::from_secs(1727833827))
        );
    }

    #[test]
    fn tokens_without_an_expiry_have_none() {
        for t in [
            "opaque",
            "a.b.c",
            &jwt(r#"{"iat":1}"#),
            &jwt(r#"{"exp":"soon"}"#),
            &jwt(r#"{"exp":-1}"#),
        ] {
            assert_eq!(jwt_expiry(t), None, "{t}");
        }
    }

    #[tokio::test]
    async fn a_token_is_renewed_before_it_expires() {
        let exp = SystemTime::now() + Duration::from_secs(600);
        let secs = exp.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let token = Token::received(jwt(&format!(r#"{{"exp":{secs}}}"#)));
        let left = token.renew_at - Instant::now();
        assert!(
            left <= Duration::from_secs(540) && left > Duration::from_secs(500),
            "{left:?}"
        );
        let opaque = Token::received("opaque".into());
        assert!(opaque.renew_at - Instant::now() <= DEFAULT_TOKEN_LIFETIME);
        assert!(opaque.is_fresh());
    }

    #[test]
    fn the_refusal_reason_quotes_the_hub() {
        let r = refusal_reason(401, br#"{"detail":"Incorrect authentication credentials"}"#);
        assert!(r.contains("Incorrect authentication credentials") && r.contains("401"));
        assert_eq!(
            refusal_reason(403, b"<html>"),
            "the Hub refused the credentials (HTTP 403)"
        );
    }
}
