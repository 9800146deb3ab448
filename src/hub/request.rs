//! One request to the Hub, done right: wait for the shared pacer, send with a time limit, read
//! a bounded body, report it, obey the rate-limit headers, and retry what is transient (5xx,
//! timeouts, broken connections) with exponential backoff and jitter. A 429 pauses every
//! request until the Hub's `Retry-After` or `X-Retry-After`, whichever names the later instant,
//! except a 429 to a login, which is the Hub locking the account and is given back as it is.
//! Listings and logins are built on this; this module knows nothing of pages or tokens beyond
//! sending one.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use reqwest::header::{AUTHORIZATION, HeaderMap};
use reqwest::{Method, StatusCode, Url};
use tracing::{debug, warn};

use super::auth::Token;
use super::observer::{Endpoint, RateLimitHeader};
use super::secret::quote;
use super::slots::Priority;
use super::{Client, headers, pace, wire};
use crate::error::{Error, Result};

/// The largest response body accepted. A page of 100 tags with a dozen platforms each is
/// well under a megabyte; anything far larger is not a page.
pub(crate) const MAX_BODY_BYTES: usize = 16 * 1024 * 1024;

/// How often a request is retried after a 5xx answer, a timeout or a broken connection.
const MAX_RETRIES: u32 = 3;

/// How often a request is retried after a 429 before the listing gives up.
const MAX_THROTTLED_RETRIES: u32 = 8;

/// How long a 429 without a readable `Retry-After`, `X-Retry-After` or `X-RateLimit-Reset`
/// pauses requests.
const DEFAULT_THROTTLE_PAUSE: Duration = Duration::from_secs(60);

/// Backoff before the first retry; it doubles with each further retry.
const BACKOFF_BASE: Duration = Duration::from_millis(500);

/// A response read in full.
pub(super) struct Response {
    pub(super) status: StatusCode,
    pub(super) body: Vec<u8>,
}

impl Client {
    /// GET a document with the session token, renewing it once after a 401; the body of the
    /// successful answer.
    pub(super) async fn get(&self, endpoint: Endpoint, url: &Url) -> Result<Vec<u8>> {
        match self.get_or_status(endpoint, url, &[]).await? {
            Ok(body) => Ok(body),
            Err(answer) => Err(self.status_error(url, &answer)),
        }
    }

    /// [`Client::get`], except that an answer whose status is one of `given_back` is given
    /// back as it came (`Err`) instead of being turned into an error: for routes where a 403
    /// or 404 means something else than a failure.
    ///
    /// A 401 or 403 to a request with a token is a refused token ([`Error::Auth`]); to one
    /// without, the Hub refusing something to anonymous callers ([`Error::Forbidden`]). Either
    /// error, and one for any other status, names what the Hub said.
    pub(super) async fn get_or_status(
        &self,
        endpoint: Endpoint,
        url: &Url,
        given_back: &[StatusCode],
    ) -> Result<std::result::Result<Vec<u8>, Response>> {
        let mut renewed = false;
        loop {
            let token = self.token().await?;
            let response = self
                .send(endpoint, Method::GET, url, token.as_ref(), None)
                .await?;
            match response.status {
                s if s.is_success() => return Ok(Ok(response.body)),
                s if given_back.contains(&s) => return Ok(Err(response)),
                StatusCode::UNAUTHORIZED if token.is_some() && !renewed => {
                    debug!(url = %url, "401 with a session token; logging in again");
                    if let Some(refused) = &token {
                        self.session.lock().await.forget(refused);
                    }
                    renewed = true;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if token.is_some() => {
                    let said = self
                        .said(&response.body)
                        .map(|s| format!("; the Hub said \"{s}\""))
                        .unwrap_or_default();
                    return Err(Error::Auth {
                        reason: format!(
                            "{url} answered HTTP {} to a request with {} token (check the token's scope and kind){said}",
                            response.status.as_u16(),
                            if renewed { "a fresh" } else { "the session" },
                        ),
                    });
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(Error::Forbidden {
                        url: url.to_string(),
                        status: response.status.as_u16(),
                        said: self.said(&response.body),
                    });
                }
                _ => return Err(self.status_error(url, &response)),
            }
        }
    }

    /// The error for an answer with an unexpected status, naming what the Hub said.
    pub(super) fn status_error(&self, url: &Url, answer: &Response) -> Error {
        Error::Status {
            url: url.to_string(),
            status: answer.status.as_u16(),
            said: self.said(&answer.body),
        }
    }

    /// What the Hub said in `body`, as an error may quote it: bounded, control characters
    /// escaped, the secret masked.
    pub(super) fn said(&self, body: &[u8]) -> Option<String> {
        wire::said(body).map(|text| quote(&text, self.secret()))
    }

    /// Sends one request through the pacer, obeying 429s and retrying transient failures.
    pub(super) async fn send(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: &Url,
        token: Option<&Token>,
        json: Option<serde_json::Value>,
    ) -> Result<Response> {
        let mut failures = 0;
        let mut throttled = 0;
        // A 429 to a login is the Hub locking the account after failed logins: an answer to
        // give back, not a pause, since every retry would extend the lock.
        let obeys_429 = endpoint != Endpoint::Auth;
        loop {
            // A login serves every request waiting for the session, urgent ones too.
            let priority = match endpoint {
                Endpoint::Auth => Priority::Urgent,
                _ => pace::priority(),
            };
            let permit = self.pacer.acquire(priority).await;
            self.waited.fetch_add(
                u64::try_from(permit.waited.as_nanos()).unwrap_or(u64::MAX),
                Ordering::Relaxed,
            );
            self.observer.waited(permit.waited);
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
            let mut pause = None;
            if let Ok(Ok((status, headers, _))) = &outcome {
                self.observe_rate_limit(headers);
                if *status == StatusCode::TOO_MANY_REQUESTS && obeys_429 {
                    let wait = throttle_pause(headers);
                    self.pacer.pause_for(wait);
                    pause = Some(wait);
                }
            }
            drop(permit);
            let error = match outcome {
                Err(_) => Error::Timeout {
                    url: url.to_string(),
                },
                Ok(Err(e)) => e,
                Ok(Ok((status, _, body))) => {
                    self.count_request(endpoint, Some(status.as_u16()));
                    if status == StatusCode::TOO_MANY_REQUESTS && obeys_429 {
                        throttled += 1;
                        // Set just above for every 429; read once, so that an unreadable
                        // header is logged once.
                        let wait = pause.unwrap_or(DEFAULT_THROTTLE_PAUSE);
                        warn!(url = %url, wait_seconds = wait.as_secs_f64(), "the Hub answered 429; pausing every request");
                        if throttled > MAX_THROTTLED_RETRIES {
                            return Err(Error::RateLimited {
                                url: url.to_string(),
                                retry_after: wait,
                            });
                        }
                        continue;
                    }
                    let response = Response { status, body };
                    if status.is_server_error() {
                        self.status_error(url, &response)
                    } else {
                        return Ok(response);
                    }
                }
            };
            if !matches!(error, Error::Status { .. }) {
                self.count_request(endpoint, None);
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
        read_bounded(request, url, MAX_BODY_BYTES).await
    }

    /// Counts one request and tells the observer how it was answered.
    fn count_request(&self, endpoint: Endpoint, status: Option<u16>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.observer.request(endpoint, status);
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
                self.observer.rate_limit(which, v);
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

/// How long a 429 pauses requests: until the later of `Retry-After` and `X-Retry-After`, else
/// `X-RateLimit-Reset`, else a minute.
fn throttle_pause(headers: &HeaderMap) -> Duration {
    let now = SystemTime::now();
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    // An unreadable header counts as absent, as if the Hub had not sent it.
    let read = |name: &str, parse: fn(&str, SystemTime) -> Option<Duration>| {
        let raw = headers.get(name)?;
        let wait = raw.to_str().ok().and_then(|v| parse(v, now));
        if wait.is_none() {
            debug!(header = name, value = ?raw, "unreadable header on a 429; ignored");
        }
        wait
    };
    // Both are measured from the same `now`, so the longer wait is the later instant.
    read("retry-after", headers::retry_after)
        .max(read("x-retry-after", headers::x_retry_after))
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

/// Sends `request` and reads the whole body, refusing one over `max_body` bytes (by its
/// `Content-Length` before reading, or as it arrives).
pub(crate) async fn read_bounded(
    request: reqwest::RequestBuilder,
    url: &Url,
    max_body: usize,
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
        reason: format!("the body is larger than {max_body} bytes"),
    };
    if response
        .content_length()
        .is_some_and(|n| n > max_body as u64)
    {
        return Err(too_large());
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(transport)? {
        if body.len() + chunk.len() > max_body {
            return Err(too_large());
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, headers, body))
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

    /// The Unix time `secs` seconds from now, as text with a fraction.
    fn unix_time_in(secs: u64) -> HeaderValue {
        let at = SystemTime::now() + Duration::from_secs(secs);
        let at = at.duration_since(SystemTime::UNIX_EPOCH).unwrap();
        HeaderValue::from_str(&format!("{}.{:09}", at.as_secs(), at.subsec_nanos())).unwrap()
    }

    #[test]
    fn a_429_with_only_x_retry_after_waits_until_its_instant() {
        let mut h = HeaderMap::new();
        h.insert("x-retry-after", unix_time_in(20));
        let wait = throttle_pause(&h);
        assert!(
            wait > Duration::from_secs(19) && wait <= Duration::from_secs(20),
            "{wait:?}"
        );
        // A time already past retries after the least pause, not after the fallback.
        h.insert("x-retry-after", HeaderValue::from_static("1000000000"));
        assert_eq!(throttle_pause(&h), Duration::from_millis(100));
    }

    #[test]
    fn with_both_headers_the_later_instant_wins() {
        let mut h = HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("3"));
        h.insert("x-retry-after", unix_time_in(20));
        let wait = throttle_pause(&h);
        assert!(
            wait > Duration::from_secs(19),
            "X-Retry-After later: {wait:?}"
        );
        h.insert("retry-after", HeaderValue::from_static("40"));
        assert_eq!(
            throttle_pause(&h),
            Duration::from_secs(40),
            "Retry-After later"
        );
        // Either one beats X-RateLimit-Reset, which tells only when the window resets.
        h.insert("x-ratelimit-reset", HeaderValue::from_static("1000000000"));
        assert_eq!(throttle_pause(&h), Duration::from_secs(40));
    }

    #[test]
    fn an_unreadable_x_retry_after_is_ignored() {
        let mut h = HeaderMap::new();
        h.insert("x-retry-after", HeaderValue::from_static("soon"));
        assert_eq!(throttle_pause(&h), DEFAULT_THROTTLE_PAUSE);
        h.insert("retry-after", HeaderValue::from_static("3"));
        assert_eq!(throttle_pause(&h), Duration::from_secs(3));
        h.insert("x-retry-after", HeaderValue::from_bytes(b"\xff17").unwrap());
        assert_eq!(throttle_pause(&h), Duration::from_secs(3));
    }
}
