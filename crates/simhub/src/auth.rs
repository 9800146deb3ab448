//! Logging in and checking tokens: `POST /v2/auth/token`, the legacy `POST /v2/users/login`,
//! and the `Authorization` header of every other request.
//!
//! Tokens look like the Hub's JWTs (three base64url parts, `exp`, `iat`, `sub`, `scope`,
//! `jti` claims) but the signature is random bytes: the hub recognises its tokens by
//! remembering every one it issued, with its account and its exact expiry instant. `exp` is
//! `iat` plus the lifetime rounded up to whole seconds, so for sub-second lifetimes the
//! remembered instant, not `exp`, decides. A bad bearer is refused, never treated as anonymous, as on the real Hub.
//! Repeated failed logins lock the username: further attempts, right or wrong, answer 429
//! `too many failed login attempts for username or IP address` and extend the lock, as the
//! real Hub does since 2026.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use bytes::Bytes;
use rand::{Rng, RngExt};
use serde::Deserialize;
use serde_json::json;

use super::reply::{Reply, to_json};
use super::state::{Access, State, Token};

#[derive(Deserialize)]
struct TokenRequest {
    identifier: String,
    secret: String,
}

#[derive(Deserialize)]
struct LoginRequest {
    username: String,
    password: String,
}

/// `POST /v2/auth/token`: `{"identifier", "secret"}` to `{"access_token"}`.
pub(super) fn token_route(state: &mut State, body: Option<&Bytes>) -> Reply {
    let Some(request) = body.and_then(|b| serde_json::from_slice::<TokenRequest>(b).ok()) else {
        return Reply::json(
            400,
            &json!({ "errinfo": {}, "detail": "identifier and secret are required", "message": "invalid request body" }),
        );
    };
    match admit(state, &request.identifier, &request.secret) {
        Admission::Accepted => {}
        Admission::Locked => return locked(),
        Admission::Refused => {
            return Reply::json(
                401,
                &json!({ "errinfo": {}, "detail": "Incorrect authentication credentials", "message": "incorrect username or password" }),
            );
        }
    }
    let token = issue(state, &request.identifier);
    Reply::json(200, &json!({ "access_token": token }))
}

/// `POST /v2/users/login` (deprecated on the real Hub): `{"username", "password"}` to
/// `{"token"}`.
pub(super) fn login_route(state: &mut State, body: Option<&Bytes>) -> Reply {
    let Some(request) = body.and_then(|b| serde_json::from_slice::<LoginRequest>(b).ok()) else {
        return Reply::detail(400, "username and password are required");
    };
    match admit(state, &request.username, &request.password) {
        Admission::Accepted => {}
        Admission::Locked => return locked(),
        Admission::Refused => {
            return Reply::json(
                401,
                &json!({ "detail": "Incorrect authentication credentials", "login_2fa_token": null }),
            );
        }
    }
    let token = issue(state, &request.username);
    Reply::json(200, &json!({ "token": token }))
}

/// What a login attempt gets.
enum Admission {
    Accepted,
    /// Wrong credentials.
    Refused,
    /// The username is locked after too many failed attempts, whatever the credentials.
    Locked,
}

/// Decides a login attempt, counting failures: after the configured number of failed
/// attempts the username is locked, and every attempt while it is locked (right or wrong)
/// is refused and extends the lock, as on the real Hub.
fn admit(state: &mut State, identifier: &str, secret: &str) -> Admission {
    let now = tokio::time::Instant::now();
    let lockout = state.settings.login_lockout;
    let failures = state
        .login_failures
        .entry(identifier.to_string())
        .or_default();
    if let Some((_, lock)) = lockout
        && failures.locked_until.is_some_and(|until| now < until)
    {
        failures.locked_until = Some(now + lock);
        return Admission::Locked;
    }
    let right = state
        .accounts
        .get(identifier)
        .is_some_and(|a| a.secret == secret);
    if right {
        state.login_failures.remove(identifier);
        return Admission::Accepted;
    }
    failures.count = failures.count.saturating_add(1);
    if let Some((after, lock)) = lockout
        && failures.count >= after
    {
        failures.locked_until = Some(now + lock);
    }
    Admission::Refused
}

/// The answer to a login attempt on a locked username.
fn locked() -> Reply {
    Reply::json(
        429,
        &json!({ "errinfo": {}, "message": "too many failed login attempts for username or IP address" }),
    )
}

/// Who the `Authorization` header says the caller is; 401 for anything but no header or a
/// live token of this hub (`Bearer` or the older `JWT` scheme).
pub(super) fn access(state: &State, authorization: Option<&str>) -> Result<Access, Reply> {
    let Some(header) = authorization else {
        return Ok(Access::Anonymous);
    };
    let refused = || Reply::detail(401, "Token is expired or invalid");
    let (scheme, token) = header.trim().split_once(' ').ok_or_else(refused)?;
    if !scheme.eq_ignore_ascii_case("bearer") && !scheme.eq_ignore_ascii_case("jwt") {
        return Err(refused());
    }
    let issued = state.tokens.get(token.trim()).ok_or_else(refused)?;
    if tokio::time::Instant::now() >= issued.expires {
        return Err(refused());
    }
    let account = state.accounts.get(&issued.account).ok_or_else(refused)?;
    Ok(Access::Account(account.namespaces.clone()))
}

/// Issues and remembers a token for `identifier`, valid for the configured lifetime.
fn issue(state: &mut State, identifier: &str) -> String {
    let ttl = state.settings.token_ttl;
    let expires = tokio::time::Instant::now() + ttl;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let iat = now.as_secs();
    // Whole seconds as in a real JWT: exp - iat is the lifetime, rounded up.
    let exp = iat + ttl.as_nanos().div_ceil(1_000_000_000) as u64;
    let (account_id, private) = state
        .accounts
        .get(identifier)
        .map_or((0, false), |a| (a.id, !a.namespaces.is_empty()));
    let jti = format!("{:016x}{:016x}", state.next_id(), state.rng.random::<u64>());
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": "simhub" });
    let claims = json!({
        "aud": "https://hub.docker.com",
        "iss": "https://api.docker.com/",
        "sub": format!("00000000-0000-4000-8000-{account_id:012x}"),
        "scope": if private { "repo:read" } else { "repo:public_read" },
        "iat": iat,
        "exp": exp,
        "jti": jti,
        "https://hub.docker.com": { "username": identifier, "source": "docker_pat|simhub" },
    });
    let mut signature = [0u8; 64];
    state.rng.fill_bytes(&mut signature);
    let token = format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(to_json(&header)),
        URL_SAFE_NO_PAD.encode(to_json(&claims)),
        URL_SAFE_NO_PAD.encode(signature)
    );
    state.tokens.insert(
        token.clone(),
        Token {
            account: identifier.to_string(),
            expires,
        },
    );
    token
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::SimHub;
    use super::super::testclient::{get, post};
    use super::*;

    /// `POST /v2/auth/token` for the account `bot` with `secret`.
    async fn token_for(
        addr: std::net::SocketAddr,
        secret: &str,
    ) -> super::super::testclient::Answer {
        let body = format!(r#"{{"identifier":"bot","secret":"{secret}"}}"#);
        post(addr, "/v2/auth/token", &body).await
    }

    fn claims(token: &str) -> serde_json::Value {
        let payload = token.split('.').nth(1).expect("three parts");
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("base64url")).expect("JSON")
    }

    #[tokio::test]
    async fn a_token_is_a_jwt_whose_exp_is_iat_plus_the_lifetime() {
        let hub = SimHub::new();
        hub.add_account("bot", "s3cret", &["acme"]);
        let running = hub.start().await.unwrap();
        let answer = token_for(running.addr(), "s3cret").await;
        assert_eq!(answer.status, 200);
        let token = answer.json()["access_token"].as_str().unwrap().to_string();
        assert_eq!(token.split('.').count(), 3);
        assert!(!token.contains('='), "base64url without padding");
        let c = claims(&token);
        assert_eq!(c["exp"].as_u64().unwrap() - c["iat"].as_u64().unwrap(), 600);
        assert_eq!(c["scope"], "repo:read");
        let again = token_for(running.addr(), "s3cret").await;
        assert_ne!(
            claims(again.json()["access_token"].as_str().unwrap())["jti"],
            c["jti"]
        );
    }

    #[tokio::test]
    async fn wrong_credentials_get_401_with_the_hubs_bodies_on_both_routes() {
        let hub = SimHub::new();
        hub.add_account("bot", "s3cret", &[]);
        let running = hub.start().await.unwrap();
        let a = token_for(running.addr(), "nope").await;
        assert_eq!(a.status, 401);
        assert_eq!(a.json()["detail"], "Incorrect authentication credentials");
        assert_eq!(a.json()["message"], "incorrect username or password");
        let b = post(
            running.addr(),
            "/v2/users/login",
            r#"{"username":"bot","password":"nope"}"#,
        )
        .await;
        assert_eq!(b.status, 401);
        assert_eq!(b.json()["login_2fa_token"], serde_json::Value::Null);
        let c = post(running.addr(), "/v2/auth/token", "not json").await;
        assert_eq!(c.status, 400);
    }

    #[tokio::test(start_paused = true)]
    async fn repeated_failures_lock_the_username_and_each_attempt_extends_the_lock() {
        let mut state = State::new(rand::make_rng::<rand::rngs::StdRng>());
        state.settings.login_lockout = Some((3, Duration::from_secs(600)));
        state.accounts.insert(
            "bot".into(),
            super::super::state::Account {
                id: 1,
                secret: "right".into(),
                namespaces: Default::default(),
            },
        );
        let outcome = |state: &mut State, secret: &str| match admit(state, "bot", secret) {
            Admission::Accepted => "accepted",
            Admission::Refused => "refused",
            Admission::Locked => "locked",
        };
        assert_eq!(outcome(&mut state, "wrong"), "refused");
        assert_eq!(
            outcome(&mut state, "right"),
            "accepted",
            "a success forgets failures"
        );
        for _ in 0..3 {
            assert_eq!(outcome(&mut state, "wrong"), "refused");
        }
        assert_eq!(
            outcome(&mut state, "right"),
            "locked",
            "even the right secret"
        );
        tokio::time::advance(Duration::from_secs(599)).await;
        assert_eq!(
            outcome(&mut state, "wrong"),
            "locked",
            "and the lock starts again"
        );
        tokio::time::advance(Duration::from_secs(599)).await;
        assert_eq!(outcome(&mut state, "right"), "locked");
        tokio::time::advance(Duration::from_secs(601)).await;
        assert_eq!(outcome(&mut state, "right"), "accepted");
        assert_eq!(outcome(&mut state, "other"), "refused");
        state.settings.login_lockout = None;
        for _ in 0..10 {
            assert_eq!(outcome(&mut state, "wrong"), "refused", "never locked");
        }
    }

    #[tokio::test]
    async fn a_locked_username_gets_429_with_the_hubs_words_on_both_routes() {
        let hub = SimHub::new();
        hub.add_account("bot", "s3cret", &[]);
        hub.set_login_lockout(Some((2, Duration::from_secs(600))));
        let running = hub.start().await.unwrap();
        for _ in 0..2 {
            let wrong = token_for(running.addr(), "nope").await;
            assert_eq!(wrong.status, 401);
        }
        for (path, body) in [
            (
                "/v2/auth/token",
                r#"{"identifier":"bot","secret":"s3cret"}"#,
            ),
            (
                "/v2/users/login",
                r#"{"username":"bot","password":"s3cret"}"#,
            ),
        ] {
            let locked = post(running.addr(), path, body).await;
            assert_eq!(locked.status, 429, "{path}");
            assert_eq!(
                locked.json()["message"],
                "too many failed login attempts for username or IP address"
            );
        }
    }

    #[tokio::test]
    async fn the_token_route_can_be_switched_off_leaving_the_legacy_login() {
        let hub = SimHub::new();
        hub.add_account("bot", "s3cret", &[]);
        hub.set_auth_token_route(false);
        let running = hub.start().await.unwrap();
        let a = token_for(running.addr(), "s3cret").await;
        assert_eq!(a.status, 404);
        let b = post(
            running.addr(),
            "/v2/users/login",
            r#"{"username":"bot","password":"s3cret"}"#,
        )
        .await;
        assert_eq!(b.status, 200);
        let token = b.json()["token"].as_str().unwrap().to_string();
        let listing = get(
            running.addr(),
            "/v2/namespaces/acme/repositories",
            Some(&format!("JWT {token}")),
        )
        .await;
        assert_eq!(listing.status, 200, "the older JWT scheme is accepted");
    }

    #[tokio::test]
    async fn an_expired_or_unknown_token_is_refused_with_401() {
        let hub = SimHub::new();
        hub.add_account("bot", "s3cret", &["acme"]);
        hub.set_token_ttl(Duration::from_millis(300));
        let running = hub.start().await.unwrap();
        let answer = token_for(running.addr(), "s3cret").await;
        let bearer = format!("Bearer {}", answer.json()["access_token"].as_str().unwrap());
        let path = "/v2/namespaces/acme/repositories";
        assert_eq!(get(running.addr(), path, Some(&bearer)).await.status, 200);
        tokio::time::sleep(Duration::from_millis(400)).await;
        let expired = get(running.addr(), path, Some(&bearer)).await;
        assert_eq!(expired.status, 401);
        assert_eq!(expired.json()["detail"], "Token is expired or invalid");
        let forged = get(running.addr(), path, Some("Bearer dckr_pat_raw")).await;
        assert_eq!(forged.status, 401, "a raw PAT is not a token");
        assert_eq!(
            get(running.addr(), path, None).await.status,
            200,
            "no header is anonymous"
        );
    }
}
