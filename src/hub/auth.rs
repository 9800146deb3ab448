//! Logging in: when to log in, when to renew the session token, and when to stop trying.
//!
//! The Hub's tokens are JWTs that expire (ten minutes for `/v2/auth/token`); their `exp` claim
//! is read without verifying the signature, only to schedule the renewal. A refused login
//! (401, 403, or the 429 of an account locked after failed logins) is remembered until the next
//! refresh, because the Hub locks accounts after repeated failures and each try extends the
//! lock.
//! The login is `POST /v2/auth/token`, falling back to the older `/v2/users/login` where the
//! Hub lacks the first; it is sent through the same request path as everything else.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use reqwest::Method;
use tokio::time::Instant;
use tracing::{debug, error};

use super::observer::Endpoint;
use super::secret::quote;
use super::{Client, Credentials, Secret, wire};
use crate::error::{Error, Result};

/// How long a token without an `exp` claim is used before it is renewed (the Hub's tokens
/// live ten minutes; renewing after nine leaves a margin).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(9 * 60);

/// How long before its expiry a token is renewed, at most.
const RENEW_MARGIN: Duration = Duration::from_secs(60);

/// A session token and when to renew it.
#[derive(Debug, Clone)]
pub(super) struct Token {
    /// The bearer value.
    pub(super) value: Secret,
    /// When to log in again instead of using it.
    renew_at: Instant,
}

impl Token {
    /// A token received now, renewed before its `exp` claim (or after nine minutes).
    fn received(value: String) -> Token {
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
    fn is_fresh(&self) -> bool {
        Instant::now() < self.renew_at
    }
}

/// The `exp` claim of a JWT, unverified; `None` when the token is not a JWT or has none.
pub(crate) fn jwt_expiry(token: &str) -> Option<SystemTime> {
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
pub(super) struct Session {
    /// The current token, if any.
    token: Option<Token>,
    /// Why the last login was refused; no login is tried again until the next refresh.
    pub(super) refused: Option<String>,
    /// The Hub answered 404 or 405 on `/v2/auth/token`: use `/v2/users/login`.
    legacy_login: bool,
}

impl Session {
    /// Drops `refused`, the token the Hub just refused, unless another request has already
    /// replaced it with a new one.
    pub(super) fn forget(&mut self, refused: &Token) {
        if self.token.as_ref().map(|t| t.value.expose()) == Some(refused.value.expose()) {
            self.token = None;
        }
    }
}

/// The reason a login was refused, quoting what the Hub said (the secret masked).
fn refusal_reason(status: u16, body: &[u8], secret: Option<&Secret>) -> String {
    match wire::said(body) {
        Some(d) => format!(
            "the Hub refused the credentials (HTTP {status}): {}",
            quote(&d, secret)
        ),
        None => format!("the Hub refused the credentials (HTTP {status})"),
    }
}

impl Client {
    /// The current session token, logging in when there is none or it is due for renewal.
    /// `None` for anonymous access.
    pub(super) async fn token(&self) -> Result<Option<Token>> {
        let Some(creds) = &self.credentials else {
            return Ok(None);
        };
        // The lock is held across the login on purpose: concurrent requests wait for one
        // login instead of each logging in.
        let mut session = self.session.lock().await;
        if let Some(reason) = &session.refused {
            return Err(Error::Auth {
                reason: reason.clone(),
            });
        }
        if let Some(token) = session.token.as_ref().filter(|t| t.is_fresh()) {
            return Ok(Some(token.clone()));
        }
        let token = self.login(creds, &mut session).await?;
        session.token = Some(token.clone());
        Ok(Some(token))
    }

    async fn login(&self, creds: &Credentials, session: &mut Session) -> Result<Token> {
        loop {
            let (path, body, field) = if session.legacy_login {
                (
                    ["v2", "users", "login"],
                    serde_json::json!({"username": creds.username, "password": creds.secret.expose()}),
                    "token",
                )
            } else {
                (
                    ["v2", "auth", "token"],
                    serde_json::json!({"identifier": creds.username, "secret": creds.secret.expose()}),
                    "access_token",
                )
            };
            let mut url = self.base.clone();
            if let Ok(mut p) = url.path_segments_mut() {
                p.pop_if_empty().extend(path);
            }
            let response = self
                .send(Endpoint::Auth, Method::POST, &url, None, Some(body))
                .await?;
            let status = response.status.as_u16();
            match status {
                200..=299 => {
                    let value = serde_json::from_slice::<serde_json::Value>(&response.body)
                        .ok()
                        .and_then(|v| v.get(field)?.as_str().map(str::to_string))
                        .filter(|t| !t.is_empty())
                        .ok_or_else(|| Error::Decode {
                            url: url.to_string(),
                            reason: format!("the login answer has no {field}"),
                        })?;
                    debug!(username = %creds.username, "logged in");
                    return Ok(Token::received(value));
                }
                404 | 405 if !session.legacy_login => {
                    debug!("/v2/auth/token is not available; using /v2/users/login");
                    session.legacy_login = true;
                }
                // 429: too many failed logins; the Hub locks the account for a while, and
                // every attempt meanwhile extends the lock.
                401 | 403 | 429 => {
                    let reason = refusal_reason(status, &response.body, Some(&creds.secret));
                    error!(
                        username = %creds.username,
                        reason = %reason,
                        "authentication failed; not trying again before the next refresh (the Hub locks accounts after repeated failures)"
                    );
                    session.refused = Some(reason.clone());
                    return Err(Error::Auth { reason });
                }
                _ => return Err(self.status_error(&url, &response)),
            }
        }
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
    fn the_refusal_reason_quotes_the_hub_without_the_secret() {
        let r = refusal_reason(
            401,
            br#"{"detail":"Incorrect authentication credentials"}"#,
            None,
        );
        assert!(r.contains("Incorrect authentication credentials") && r.contains("401"));
        assert_eq!(
            refusal_reason(403, b"<html>", None),
            "the Hub refused the credentials (HTTP 403)"
        );
        let secret = Secret::new("s3cr3t-pat");
        let echoed = refusal_reason(
            401,
            br#"{"detail":"login failed for acme with password s3cr3t-pat"}"#,
            Some(&secret),
        );
        assert!(
            !echoed.contains("s3cr3t-pat") && echoed.contains("**redacted**"),
            "{echoed}"
        );
    }
}

#[cfg(test)]
mod properties;
