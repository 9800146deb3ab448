//! The Docker Hub client: login, listings followed page by page, pacing and retries.
//!
//! Every request goes through one path (`Client::send`): wait for the shared [`Pacer`],
//! send with a time limit, read a bounded body, count it, read the rate-limit headers. A 429
//! pauses every request until the Hub's `Retry-After`; 5xx answers, timeouts and broken
//! connections are retried a bounded number of times with exponential backoff and jitter.
//! `next` links are followed only on the origin of `--hub.url`, so the token never leaves it.
//! The client returns inventory types; it knows nothing about snapshots or metrics text.

pub mod auth;
pub mod headers;
pub mod pace;
/// The Hub's JSON types; public so that tests outside the crate can decode pages with them.
pub mod wire;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use serde::de::DeserializeOwned;
use tracing::{debug, error, warn};

use crate::config::{Config, Credentials};
use crate::error::{Error, Result};
use crate::inventory::{RepositoryInfo, Tag};
use crate::metrics::{Endpoint, RateLimitHeader, Telemetry};
use auth::{Session, Token};
use pace::Pacer;
use wire::{Page, WireRepository, WireTag};

/// Items per page; the Hub silently caps larger values at 100.
pub const PAGE_SIZE: u32 = 100;

/// The largest response body accepted. A page of 100 tags with a dozen platforms each is
/// well under a megabyte; anything far larger is not a page.
pub const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How often a request is retried after a 5xx answer, a timeout or a broken connection.
pub const MAX_RETRIES: u32 = 3;

/// How often a request is retried after a 429 before the listing gives up.
pub const MAX_THROTTLED_RETRIES: u32 = 8;

/// How long a 429 without `Retry-After` or `X-RateLimit-Reset` pauses requests.
pub const DEFAULT_THROTTLE_PAUSE: Duration = Duration::from_secs(60);

/// Backoff before the first retry; it doubles with each further retry.
pub const BACKOFF_BASE: Duration = Duration::from_millis(500);

/// A repository as listed, with its metadata.
#[derive(Debug, Clone)]
pub struct ListedRepository {
    /// Name within the namespace.
    pub name: String,
    /// Metadata.
    pub info: RepositoryInfo,
}

/// A client for one Hub, shared by all tasks of a refresh.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    credentials: Option<Credentials>,
    session: tokio::sync::Mutex<Session>,
    pacer: Pacer,
    timeout: Duration,
    telemetry: Arc<Telemetry>,
}

/// A response read in full.
struct Response {
    status: StatusCode,
    body: Vec<u8>,
}

impl Client {
    /// Builds a client from the configuration.
    pub fn new(config: &Config, telemetry: Arc<Telemetry>) -> Result<Client> {
        let http = reqwest::Client::builder()
            // A redirect could carry the token elsewhere; the Hub's API does not redirect.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("dockerhub_exporter/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Error::Transport {
                url: config.hub_url.to_string(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Client {
            http,
            base: config.hub_url.clone(),
            credentials: config.credentials.clone(),
            session: tokio::sync::Mutex::new(Session::default()),
            pacer: Pacer::new(config.rate_limit, config.burst, config.concurrency),
            timeout: config.timeout,
            telemetry,
        })
    }

    /// Starts a new refresh: a login refused during the previous one may be tried again.
    pub async fn begin_refresh(&self) {
        self.session.lock().await.refused = None;
    }

    /// Every repository of `namespace` visible to the credentials.
    pub async fn list_repositories(&self, namespace: &str) -> Result<Vec<ListedRepository>> {
        let url = self.url(&["v2", "namespaces", namespace, "repositories"]);
        let items: Vec<WireRepository> = self.list_all(Endpoint::Repositories, url).await?;
        let mut seen = HashSet::new();
        Ok(items
            .into_iter()
            .filter(|r| seen.insert(r.name.clone()))
            .map(|r| ListedRepository {
                info: r.info(),
                name: r.name,
            })
            .collect())
    }

    /// Every tag of a repository, deduplicated by name; `None` when the repository answers
    /// 404 on its first page (it is gone).
    pub async fn list_tags(&self, namespace: &str, repository: &str) -> Result<Option<Vec<Tag>>> {
        let url = self.url(&[
            "v2",
            "namespaces",
            namespace,
            "repositories",
            repository,
            "tags",
        ]);
        match self.list_all::<WireTag>(Endpoint::Tags, url.clone()).await {
            Ok(items) => {
                let mut seen = HashSet::new();
                Ok(Some(
                    items
                        .into_iter()
                        .filter(|t| seen.insert(t.name.clone()))
                        .map(WireTag::into_tag)
                        .collect(),
                ))
            }
            Err(Error::Status {
                url: failed,
                status: 404,
            }) if failed == url.as_str() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The base URL with path segments appended (each percent-encoded).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url.query_pairs_mut()
            .append_pair("page_size", &PAGE_SIZE.to_string());
        url
    }

    /// Follows `next` from `first` until it is null, refusing links to another origin and
    /// links back to a page already read.
    async fn list_all<T: DeserializeOwned>(
        &self,
        endpoint: Endpoint,
        first: Url,
    ) -> Result<Vec<T>> {
        let mut url = first;
        let mut visited = HashSet::new();
        let mut items = Vec::new();
        loop {
            if !visited.insert(url.to_string()) {
                return Err(Error::Protocol {
                    url: url.to_string(),
                    reason: "the next link points back to a page already read".into(),
                });
            }
            let page: Page<T> = self.get_json(endpoint, &url).await?;
            debug!(url = %url, items = page.results.len(), "page read");
            items.extend(page.results);
            match page.next.as_deref().map(str::trim) {
                None | Some("") => return Ok(items),
                Some(next) => url = self.follow(&url, next)?,
            }
        }
    }

    fn follow(&self, current: &Url, next: &str) -> Result<Url> {
        let next_url = current.join(next).map_err(|e| Error::Protocol {
            url: current.to_string(),
            reason: format!("the next link is not a URL: {e}"),
        })?;
        if next_url.origin() != self.base.origin() {
            return Err(Error::Protocol {
                url: current.to_string(),
                reason: format!(
                    "the next link leads to another origin ({}), not followed",
                    next_url.origin().ascii_serialization()
                ),
            });
        }
        Ok(next_url)
    }

    /// GET a JSON document with the session token, renewing it once after a 401.
    async fn get_json<T: DeserializeOwned>(&self, endpoint: Endpoint, url: &Url) -> Result<T> {
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            let response = self
                .send(endpoint, Method::GET, url, token.as_ref(), None)
                .await?;
            match response.status {
                s if s.is_success() => {
                    return serde_json::from_slice(&response.body).map_err(|e| Error::Decode {
                        url: url.to_string(),
                        reason: e.to_string(),
                    });
                }
                StatusCode::UNAUTHORIZED if token.is_some() && !renewed => {
                    debug!(url = %url, "401 with a session token; logging in again");
                    let mut session = self.session.lock().await;
                    // Another request may have renewed the token meanwhile; drop only the
                    // token that was refused.
                    let refused = token.as_ref().map(|t| t.value.expose());
                    if session.token.as_ref().map(|t| t.value.expose()) == refused {
                        session.token = None;
                    }
                    renewed = true;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(Error::Auth {
                        reason: format!(
                            "{url} answered HTTP {}{}",
                            response.status.as_u16(),
                            if token.is_some() {
                                " with a fresh token (check the token's scope)"
                            } else {
                                " to an anonymous request"
                            }
                        ),
                    });
                }
                s => {
                    return Err(Error::Status {
                        url: url.to_string(),
                        status: s.as_u16(),
                    });
                }
            }
        }
    }

    /// The current session token, logging in when there is none or it is due for renewal.
    /// `None` for anonymous access.
    async fn token(&self) -> Result<Option<Token>> {
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
                401 | 403 => {
                    let reason = auth::refusal_reason(status, &response.body);
                    error!(
                        username = %creds.username,
                        reason = %reason,
                        "authentication failed; not trying again before the next refresh (the Hub locks accounts after repeated failures)"
                    );
                    session.refused = Some(reason.clone());
                    return Err(Error::Auth { reason });
                }
                _ => {
                    return Err(Error::Status {
                        url: url.to_string(),
                        status,
                    });
                }
            }
        }
    }

    /// Sends one request through the pacer, obeying 429s and retrying transient failures.
    async fn send(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: &Url,
        token: Option<&Token>,
        json: Option<serde_json::Value>,
    ) -> Result<Response> {
        let mut failures = 0;
        let mut throttled = 0;
        loop {
            let permit = self.pacer.acquire().await;
            self.telemetry.add_limiter_wait(permit.waited);
            let mut request = self.http.request(method.clone(), url.clone());
            if let Some(t) = token {
                request = request.header(AUTHORIZATION, format!("Bearer {}", t.value.expose()));
            }
            if let Some(body) = &json {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.to_string());
            }
            let outcome = tokio::time::timeout(self.timeout, self.exchange(request, url)).await;
            // Pauses take effect before the slot is given back, so that no request waiting
            // for it is sent into a window the Hub has already closed.
            if let Ok(Ok((status, headers, _))) = &outcome {
                self.observe_rate_limit(headers);
                if *status == StatusCode::TOO_MANY_REQUESTS {
                    self.pacer.pause_for(throttle_pause(headers));
                }
            }
            drop(permit);
            let error = match outcome {
                Err(_) => Error::Timeout {
                    url: url.to_string(),
                },
                Ok(Err(e)) => e,
                Ok(Ok((status, headers, body))) => {
                    self.telemetry
                        .count_request(endpoint, Some(status.as_u16()));
                    if status == StatusCode::TOO_MANY_REQUESTS {
                        throttled += 1;
                        let wait = throttle_pause(&headers);
                        warn!(url = %url, wait_seconds = wait.as_secs_f64(), "the Hub answered 429; pausing every request");
                        if throttled > MAX_THROTTLED_RETRIES {
                            return Err(Error::RateLimited {
                                url: url.to_string(),
                                retry_after: wait,
                            });
                        }
                        continue;
                    }
                    if status.is_server_error() {
                        Error::Status {
                            url: url.to_string(),
                            status: status.as_u16(),
                        }
                    } else {
                        return Ok(Response { status, body });
                    }
                }
            };
            if !matches!(error, Error::Status { .. }) {
                self.telemetry.count_request(endpoint, None);
            }
            // Body-size violations are not transient; everything else here is.
            if matches!(error, Error::Protocol { .. }) || failures >= MAX_RETRIES {
                return Err(error);
            }
            let backoff = backoff(failures);
            debug!(url = %url, error = %error, retry_in_seconds = backoff.as_secs_f64(), "request failed; retrying");
            failures += 1;
            tokio::time::sleep(backoff).await;
        }
    }

    /// Sends and reads the whole body, refusing bodies over [`MAX_BODY_BYTES`].
    async fn exchange(
        &self,
        request: reqwest::RequestBuilder,
        url: &Url,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>)> {
        let transport = |e: reqwest::Error| Error::Transport {
            url: url.to_string(),
            // reqwest's message names the URL and the failure; it never includes headers.
            reason: e.without_url().to_string(),
        };
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        let too_large = || Error::Protocol {
            url: url.to_string(),
            reason: format!("the body is larger than {MAX_BODY_BYTES} bytes"),
        };
        if response
            .content_length()
            .is_some_and(|n| n > MAX_BODY_BYTES as u64)
        {
            return Err(too_large());
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > MAX_BODY_BYTES {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, headers, body))
    }

    fn observe_rate_limit(&self, headers: &HeaderMap) {
        let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let parsed = |name: &str| value(name).and_then(headers::parse_integer);
        for (name, which) in [
            ("x-ratelimit-limit", RateLimitHeader::Limit),
            ("x-ratelimit-remaining", RateLimitHeader::Remaining),
            ("x-ratelimit-reset", RateLimitHeader::Reset),
        ] {
            if let Some(v) = parsed(name) {
                self.telemetry.observe_rate_limit(which, v);
            }
        }
        if parsed("x-ratelimit-remaining") == Some(0)
            && let Some(wait) =
                value("x-ratelimit-reset").and_then(|v| headers::until_reset(v, SystemTime::now()))
        {
            debug!(
                wait_seconds = wait.as_secs_f64(),
                "rate-limit window used up; pausing until it resets"
            );
            self.pacer.pause_for(wait);
        }
    }
}

/// How long a 429 pauses requests: `Retry-After`, else `X-RateLimit-Reset`, else a minute.
fn throttle_pause(headers: &HeaderMap) -> Duration {
    let now = SystemTime::now();
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    value("retry-after")
        .and_then(|v| headers::retry_after(v, now))
        .or_else(|| value("x-ratelimit-reset").and_then(|v| headers::until_reset(v, now)))
        .unwrap_or(DEFAULT_THROTTLE_PAUSE)
        // A zero wait would retry at once; wait at least a moment.
        .max(Duration::from_millis(100))
}

/// Exponential backoff with jitter: between half and all of BASE × 2^failures.
fn backoff(failures: u32) -> Duration {
    let full = BACKOFF_BASE * 2u32.saturating_pow(failures.min(10));
    full.mul_f64(rand::random_range(0.5..=1.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn backoff_grows_exponentially_within_its_jitter() {
        for n in 0..4 {
            let b = backoff(n);
            let full = BACKOFF_BASE * 2u32.pow(n);
            assert!(b >= full / 2 && b <= full, "{n}: {b:?}");
        }
    }

    #[test]
    fn a_429_without_retry_after_waits_for_the_rate_limit_reset() {
        let mut h = HeaderMap::new();
        let reset = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 20;
        h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        let wait = throttle_pause(&h);
        assert!(
            wait > Duration::from_secs(18) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(throttle_pause(&h), Duration::from_secs(3));
        assert_eq!(throttle_pause(&HeaderMap::new()), DEFAULT_THROTTLE_PAUSE);
    }
}
