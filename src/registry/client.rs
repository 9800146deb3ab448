//! The two requests of a pull-limit check: a pull token from the registry's token service
//! (`GET <auth-url>?service=registry.docker.io&scope=repository:ratelimitpreview/test:pull`,
//! with the account's credentials as basic authentication, or none when anonymous), then a
//! `HEAD` of `ratelimitpreview/test:latest` on the registry with that token.
//!
//! The method of the manifest request is `HEAD` in one place, here, and nowhere a variable:
//! a `GET` would spend a pull. The credentials go only to the token service and the token only
//! to the registry; no redirect is followed, so neither can be carried elsewhere. Each request
//! has the Hub client's time limit, is counted through the [`Observer`], and is not retried:
//! the next check comes soon enough. This file knows nothing of accounts' labels or metrics.

use std::sync::Arc;
use std::time::Duration;

use super::Observer;
use super::headers::{self, PullLimit};
use super::shared::{self, MANIFEST_TYPES, http_client, status_error, timed};
use crate::error::{Error, Result};
use crate::hub::{Credentials, Endpoint, Secret, quote};
use reqwest::header::{ACCEPT, HeaderMap};
use reqwest::{StatusCode, Url};

/// The `service` the token is asked for: Docker Hub's registry.
const SERVICE: &str = "registry.docker.io";

/// The repository Docker documents for checking the pull limit.
const REPOSITORY: [&str; 2] = ["ratelimitpreview", "test"];

/// The tag whose manifest is asked for.
const REFERENCE: &str = "latest";

/// The largest answer of the token service read; Docker Hub's tokens are a few kilobytes.
const MAX_TOKEN_BYTES: usize = 256 * 1024;

/// What a check found.
#[derive(Debug, Clone)]
pub(super) struct Checked {
    /// The pull quota.
    pub(super) limit: PullLimit,
    /// What the quota is counted for (`docker-ratelimit-source`): an IP address or an account.
    pub(super) source: Option<String>,
}

/// The registry and its token service, as one client.
pub(super) struct Client {
    http: reqwest::Client,
    registry: Url,
    auth: Url,
    timeout: Duration,
    observer: Arc<dyn Observer>,
}

impl Client {
    /// A client for the registry at `registry`, whose tokens come from `auth`.
    pub(super) fn new(
        registry: Url,
        auth: Url,
        timeout: Duration,
        observer: Arc<dyn Observer>,
    ) -> Result<Client> {
        let http = http_client(&registry)?;
        Ok(Client {
            http,
            registry,
            auth,
            timeout,
            observer,
        })
    }

    /// Checks the pull quota of `credentials`' account, or of this address when `None`.
    pub(super) async fn check(&self, credentials: Option<&Credentials>) -> Result<Checked> {
        let secret = credentials.map(|c| &c.secret);
        let token = self.token(credentials).await?;
        let url = self.manifest_url();
        let request = self
            .http
            .head(url.clone())
            .bearer_auth(token.expose())
            .header(ACCEPT, MANIFEST_TYPES);
        let (status, answer, _) = self
            .exchange(Endpoint::RegistryManifest, request, &url, 0)
            .await?;
        let decode = |reason: String| Error::Decode {
            url: url.to_string(),
            reason: quote(&reason, secret),
        };
        let limit = match status {
            s if s.is_success() => headers::pull_limit(&answer).map_err(decode)?,
            // A registry that refuses for the quota may still say what it is.
            StatusCode::TOO_MANY_REQUESTS => match headers::pull_limit(&answer) {
                Ok(limit @ PullLimit::Limited { .. }) => limit,
                _ => return Err(status_error(&url, status)),
            },
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(Error::Auth {
                    reason: format!(
                        "{url} answered HTTP {} to a HEAD with the token service's token",
                        status.as_u16()
                    ),
                });
            }
            s => return Err(status_error(&url, s)),
        };
        let source = answer
            .get(headers::SOURCE)
            .and_then(|v| v.to_str().ok())
            .map(|v| quote(v, secret));
        Ok(Checked { limit, source })
    }

    /// A pull token for the repository, asked for as `credentials`, or anonymously.
    async fn token(&self, credentials: Option<&Credentials>) -> Result<Secret> {
        let secret = credentials.map(|c| &c.secret);
        let url = self.token_url();
        let mut request = self.http.get(url.clone());
        if let Some(c) = credentials {
            request = request.basic_auth(&c.username, Some(c.secret.expose()));
        }
        let (status, _, body) = self
            .exchange(Endpoint::RegistryToken, request, &url, MAX_TOKEN_BYTES)
            .await?;
        let refused = || Error::Auth {
            reason: format!(
                "the registry's token service at {url} answered HTTP {}{}",
                status.as_u16(),
                if credentials.is_some() {
                    " (check --hub.username and the secret)"
                } else {
                    " to an anonymous request"
                }
            ),
        };
        shared::token_from_answer(&url, status, &body, secret, refused).map(|t| t.secret)
    }

    /// Sends `request` within the time limit and reads at most `max_body` bytes of the
    /// answer's body; counts the request, answered or not.
    async fn exchange(
        &self,
        endpoint: Endpoint,
        request: reqwest::RequestBuilder,
        url: &Url,
        max_body: usize,
    ) -> Result<(StatusCode, HeaderMap, Vec<u8>)> {
        let outcome = timed(self.timeout, request, url, max_body).await;
        self.observer.request(
            endpoint,
            outcome.as_ref().ok().map(|(status, _, _)| status.as_u16()),
        );
        outcome
    }

    /// `…/v2/ratelimitpreview/test/manifests/latest` under the registry's URL.
    fn manifest_url(&self) -> Url {
        let mut url = self.registry.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty()
                .push("v2")
                .extend(REPOSITORY)
                .extend(["manifests", REFERENCE]);
        }
        url
    }

    /// The token service's URL with the service and the pull scope of the repository.
    fn token_url(&self) -> Url {
        let mut url = self.auth.clone();
        url.query_pairs_mut()
            .append_pair("service", SERVICE)
            .append_pair(
                "scope",
                &format!("repository:{}:pull", REPOSITORY.join("/")),
            );
        url
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(registry: &str, auth: &str) -> Client {
        Client::new(
            Url::parse(registry).unwrap(),
            Url::parse(auth).unwrap(),
            Duration::from_secs(1),
            Arc::new(()),
        )
        .unwrap()
    }

    #[test]
    fn the_manifest_is_asked_for_under_the_registrys_path() {
        for (registry, expected) in [
            (
                "https://registry-1.docker.io",
                "https://registry-1.docker.io/v2/ratelimitpreview/test/manifests/latest",
            ),
            (
                "http://127.0.0.1:5000/registry",
                "http://127.0.0.1:5000/registry/v2/ratelimitpreview/test/manifests/latest",
            ),
            (
                "http://127.0.0.1:5000/registry/",
                "http://127.0.0.1:5000/registry/v2/ratelimitpreview/test/manifests/latest",
            ),
        ] {
            let c = client(registry, "https://auth.docker.io/token");
            assert_eq!(c.manifest_url().as_str(), expected);
        }
    }

    #[test]
    fn the_token_is_asked_for_the_registry_and_the_pull_scope() {
        let c = client(
            "https://registry-1.docker.io",
            "https://auth.docker.io/token",
        );
        let url = c.token_url();
        assert_eq!(url.path(), "/token");
        let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
        assert_eq!(
            pairs,
            [
                ("service".into(), "registry.docker.io".into()),
                (
                    "scope".into(),
                    "repository:ratelimitpreview/test:pull".into()
                ),
            ]
        );
    }
}
