//! One mirror registry's client: its tags lists (`GET /v2/<name>/tags/list?n=…`, following
//! `Link`) and the digests of its tags (`HEAD /v2/<name>/manifests/<tag>`), with whatever
//! authentication the registry asks for in its 401: none, basic, or a bearer token from its
//! token service (anonymous, or asked for with the auth file's credentials), reused per
//! repository until it expires.
//!
//! The method of the manifest request is `HEAD` in one place, here, and nowhere a variable: a
//! `GET` would count as a pull on Docker Hub and transfer the manifest elsewhere. Every request
//! waits for the mirror's own [`Pacer`] (its rate limit and concurrency, never the Hub's), is
//! counted through the [`Observer`], and a 429 pauses the mirror's requests for its
//! `Retry-After` before a bounded number of retries. No redirect is followed, so neither the
//! credentials nor a token go elsewhere; the credentials go only to the registry (basic) or
//! only to its token service (bearer). This file knows nothing of the Hub or of comparisons.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use reqwest::header::{ACCEPT, HeaderMap, LINK, RETRY_AFTER, WWW_AUTHENTICATE};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use tokio::time::Instant;

use super::headers::{Challenge, challenge, next_link};
use super::{Endpoint, Observer};
use crate::error::{Error, Result};
use crate::hub::{Credentials, Pacer, Secret, retry_after};
use crate::registry::shared::{self, MANIFEST_TYPES, http_client, status_error, timed};

/// Tags asked for per page: the most distribution (`tags.maxtags`) and ECR accept; larger
/// registries' pages are followed through `Link`.
const PAGE_SIZE: u32 = 1000;

/// The largest tags page read (1,000 tags of 128 characters, with room to spare).
const MAX_PAGE_BYTES: usize = 1024 * 1024;

/// The largest answer of a token service read.
const MAX_TOKEN_BYTES: usize = 256 * 1024;

/// Pages of one tags list followed at most, so that a list without end ends.
const MAX_PAGES: usize = 1000;

/// Retries of a request answered 429, each after the pause the registry asked for.
const MAX_THROTTLED_RETRIES: u32 = 3;

/// The pause after a 429 without a usable `Retry-After`.
const DEFAULT_PAUSE: Duration = Duration::from_secs(1);

/// The longest pause a `Retry-After` is believed for.
const MAX_PAUSE: Duration = Duration::from_secs(300);

/// How a token is kept before its stated expiry, so that it does not expire in flight.
const EXPIRY_MARGIN: Duration = Duration::from_secs(5);

/// A mirror repository's tags, or its absence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Tags {
    /// The tags the registry lists.
    Listed(BTreeSet<String>),
    /// The repository does not exist (404 on its tags list).
    Absent,
}

/// What a `HEAD` of a tag's manifest found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Manifest {
    /// The tag's manifest digest.
    Digest(String),
    /// No such manifest (404).
    Missing,
}

/// What the registry asked for, as learned from its challenges.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Scheme {
    /// Nothing asked for yet.
    Open,
    /// Basic authentication.
    Basic,
    /// Tokens from this service.
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// A token and when it expires.
#[derive(Debug)]
struct Held {
    secret: Secret,
    expires: Instant,
}

/// What the registry's authentication needs remembered.
#[derive(Debug)]
struct Auth {
    scheme: Scheme,
    /// Tokens by scope.
    tokens: HashMap<String, Held>,
}

/// A tags list page.
#[derive(Deserialize)]
struct WireTags {
    #[serde(default)]
    tags: Option<Vec<String>>,
}

/// The client of one mirror registry.
pub(super) struct Client {
    http: reqwest::Client,
    base: Url,
    label: String,
    credentials: Option<Credentials>,
    pacer: Pacer,
    timeout: Duration,
    observer: Arc<dyn Observer>,
    auth: Mutex<Auth>,
    requests: AtomicU64,
}

impl Client {
    /// A client for the registry at `base` (`https://host[:port]/`), counted as `label`.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        base: Url,
        label: String,
        credentials: Option<Credentials>,
        rate_limit: u32,
        concurrency: usize,
        timeout: Duration,
        observer: Arc<dyn Observer>,
    ) -> Result<Client> {
        let http = http_client(&base)?;
        // A second's worth of the quota may go at once.
        let burst = (rate_limit / 60).max(1);
        Ok(Client {
            http,
            base,
            label,
            credentials,
            pacer: Pacer::new(rate_limit, burst, concurrency),
            timeout,
            observer,
            auth: Mutex::new(Auth {
                scheme: Scheme::Open,
                tokens: HashMap::new(),
            }),
            requests: AtomicU64::new(0),
        })
    }

    /// Requests sent so far.
    pub(super) fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Every tag of the repository `name`, following the pages.
    pub(super) async fn tags(&self, name: &str) -> Result<Tags> {
        let mut url = self.url(name, &["tags", "list"]);
        url.query_pairs_mut()
            .append_pair("n", &PAGE_SIZE.to_string());
        let mut tags = BTreeSet::new();
        for _ in 0..MAX_PAGES {
            let (status, headers, body) = self
                .send(Endpoint::Tags, Method::GET, &url, name, MAX_PAGE_BYTES)
                .await?;
            match status {
                s if s.is_success() => {}
                StatusCode::NOT_FOUND => return Ok(Tags::Absent),
                s => return Err(status_error(&url, s)),
            }
            let page: WireTags = serde_json::from_slice(&body).map_err(|e| Error::Decode {
                url: url.to_string(),
                reason: format!("not a tags list: {e}"),
            })?;
            tags.extend(page.tags.unwrap_or_default());
            let next = match headers.get(LINK).and_then(|v| v.to_str().ok()) {
                Some(link) => next_link(link, &url).map_err(|reason| Error::Protocol {
                    url: url.to_string(),
                    reason,
                })?,
                None => None,
            };
            match next {
                Some(next) if next != url => url = next,
                Some(_) => {
                    return Err(Error::Protocol {
                        url: url.to_string(),
                        reason: "the next link points to the same page".into(),
                    });
                }
                None => return Ok(Tags::Listed(tags)),
            }
        }
        Err(Error::Protocol {
            url: url.to_string(),
            reason: format!("more than {MAX_PAGES} pages"),
        })
    }

    /// The digest of `name:tag`'s manifest, asked for with a `HEAD`.
    pub(super) async fn digest(&self, name: &str, tag: &str) -> Result<Manifest> {
        let url = self.url(name, &["manifests", tag]);
        let (status, headers, _) = self
            .send(Endpoint::Manifest, Method::HEAD, &url, name, 0)
            .await?;
        match status {
            s if s.is_success() => headers
                .get("docker-content-digest")
                .and_then(|v| v.to_str().ok())
                .map(|d| Manifest::Digest(d.trim().to_string()))
                .ok_or_else(|| Error::Decode {
                    url: url.to_string(),
                    reason: "the answer has no Docker-Content-Digest".into(),
                }),
            StatusCode::NOT_FOUND => Ok(Manifest::Missing),
            s => Err(status_error(&url, s)),
        }
    }

    /// `…/v2/<name>/<rest…>` on the registry.
    fn url(&self, name: &str, rest: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .push("v2")
                .extend(name.split('/'))
                .extend(rest);
        }
        url
    }

    /// Sends `method url` with the authentication the registry asked for, answering its
    /// challenge once and its 429s a few times; 401 and 403 after authenticating are
    /// [`Error::Auth`].
    async fn send(
        &self,
        endpoint: Endpoint,
        method: Method,
        url: &Url,
        name: &str,
        max_body: usize,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>)> {
        let scope = format!("repository:{name}:pull");
        let mut challenged = false;
        let mut throttled = 0;
        loop {
            let scheme = self.scheme();
            let mut request = self.http.request(method.clone(), url.clone());
            if endpoint == Endpoint::Manifest {
                request = request.header(ACCEPT, MANIFEST_TYPES);
            }
            match &scheme {
                Scheme::Open => {}
                Scheme::Basic => {
                    if let Some(c) = &self.credentials {
                        request = request.basic_auth(&c.username, Some(c.secret.expose()));
                    }
                }
                Scheme::Bearer { realm, service } => {
                    let token = self.token(realm, service.as_deref(), &scope).await?;
                    request = request.bearer_auth(token.expose());
                }
            }
            let (status, headers, body) = self.exchange(endpoint, request, url, max_body).await?;
            match status {
                StatusCode::UNAUTHORIZED if !challenged => {
                    challenged = true;
                    let learned = headers
                        .get_all(WWW_AUTHENTICATE)
                        .iter()
                        .filter_map(|v| v.to_str().ok())
                        .filter_map(challenge)
                        .max_by_key(|c| matches!(c, Challenge::Bearer { .. }));
                    let next = match learned {
                        Some(Challenge::Basic) if self.credentials.is_some() => Scheme::Basic,
                        Some(Challenge::Bearer { realm, service, .. }) => {
                            Scheme::Bearer { realm, service }
                        }
                        _ => return Err(self.refused(url, status)),
                    };
                    let mut auth = self.lock();
                    if next == scheme && !matches!(scheme, Scheme::Bearer { .. }) {
                        return Err(self.refused(url, status));
                    }
                    // A token refused with the same challenge is forgotten and asked for
                    // again once.
                    auth.tokens.remove(&scope);
                    auth.scheme = next;
                }
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                    return Err(self.refused(url, status));
                }
                StatusCode::TOO_MANY_REQUESTS => {
                    let wait = headers
                        .get(RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| retry_after(v, SystemTime::now()))
                        .unwrap_or(DEFAULT_PAUSE)
                        .min(MAX_PAUSE);
                    if throttled >= MAX_THROTTLED_RETRIES {
                        return Err(Error::RateLimited {
                            url: url.to_string(),
                            retry_after: wait,
                        });
                    }
                    throttled += 1;
                    tracing::debug!(mirror = %self.label, url = %url, wait_ms = wait.as_millis() as u64, "the mirror asked to slow down");
                    self.pacer.pause_for(wait);
                }
                _ => return Ok((status, headers, body)),
            }
        }
    }

    /// A token for `scope` from the token service at `realm`: the one held while it is
    /// fresh, else a new one, asked for with the credentials if there are any.
    async fn token(&self, realm: &str, service: Option<&str>, scope: &str) -> Result<Secret> {
        if let Some(held) = self.lock().tokens.get(scope)
            && held.expires > Instant::now()
        {
            return Ok(held.secret.clone());
        }
        let mut url = Url::parse(realm).map_err(|e| Error::Protocol {
            url: self.base.to_string(),
            reason: format!("the challenge's realm {realm:?} is not a URL: {e}"),
        })?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(Error::Protocol {
                url: self.base.to_string(),
                reason: format!("the challenge's realm {realm:?} is not an http or https URL"),
            });
        }
        {
            let mut query = url.query_pairs_mut();
            if let Some(service) = service {
                query.append_pair("service", service);
            }
            query.append_pair("scope", scope);
            if let Some(c) = &self.credentials {
                query.append_pair("account", &c.username);
            }
        }
        let mut request = self.http.get(url.clone());
        if let Some(c) = &self.credentials {
            request = request.basic_auth(&c.username, Some(c.secret.expose()));
        }
        let received = Instant::now();
        let (status, _, body) = self
            .exchange(Endpoint::Token, request, &url, MAX_TOKEN_BYTES)
            .await?;
        let secret = self.credentials.as_ref().map(|c| &c.secret);
        let token =
            shared::token_from_answer(&url, status, &body, secret, || self.refused(&url, status))?;
        let expires = received + token.lifetime.saturating_sub(EXPIRY_MARGIN);
        self.lock().tokens.insert(
            scope.to_string(),
            Held {
                secret: token.secret.clone(),
                expires,
            },
        );
        Ok(token.secret)
    }

    /// Sends `request` within the mirror's pace and time limit; counts it, answered or not.
    async fn exchange(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
        url: &Url,
        max_body: usize,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>)> {
        let _permit = self.pacer.acquire_for_task().await;
        self.requests.fetch_add(1, Ordering::Relaxed);
        let outcome = timed(self.timeout, request, url, max_body).await;
        self.observer.request(
            &self.label,
            endpoint,
            outcome.as_ref().ok().map(|(status, _, _)| status.as_u16()),
        );
        outcome
    }

    /// The refusal of the registry or its token service, naming whose credentials.
    fn refused(&self, url: &Url, status: StatusCode) -> Error {
        Error::Auth {
            reason: format!(
                "{url} answered HTTP {}{}",
                status.as_u16(),
                match &self.credentials {
                    Some(c) => format!(
                        " to the credentials of {} from --mirror.auth-file",
                        c.username
                    ),
                    None => " to an anonymous request (no entry in --mirror.auth-file)".into(),
                }
            ),
        }
    }

    fn scheme(&self) -> Scheme {
        self.lock().scheme.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Auth> {
        self.auth.lock().unwrap_or_else(|e| e.into_inner())
    }
}
