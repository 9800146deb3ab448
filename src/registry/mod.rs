//! The registry's pull quota: how many image pulls Docker Hub allows in its window, and how
//! many are left, checked at start and then every `--pull-limit.interval`, anonymously (the
//! quota of this IP address) and, when credentials are given, as the account.
//!
//! A check asks the registry's token service for a pull token and sends a `HEAD` of a
//! manifest with it (see `client`): a `HEAD` does not count as a pull. The answer carries
//! `ratelimit-limit` and `ratelimit-remaining`, or neither for an account without a limit (see
//! `headers`). The registry is another service than the Hub API, with limits of its own, and a
//! check is two requests: they do not wait for the Hub API's quota (the Hub client's `Pacer`),
//! but keep its time limit, its `User-Agent` and its refusal of redirects. A failed check is
//! logged with its kind and changes nothing, so the last values stay; it is not retried before
//! the next interval. This runs beside the refresh, on its own clock, and reports through an
//! [`Observer`]; it knows nothing of the inventory, metrics or flags.

mod client;
mod headers;
pub(crate) mod shared;

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Url;
use tracing::{debug, warn};

use crate::error::Result;
use crate::hub::{Credentials, Endpoint};
pub(crate) use headers::PullLimit;

/// The `account` label of the anonymous check.
pub(crate) const ANONYMOUS: &str = "anonymous";

/// What the checks need to know: where the registry and its token service are, who to check
/// as besides anonymously, how often, and how long a request may take.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Base URL of the registry (`…/v2/` is appended).
    pub(crate) registry: Url,
    /// URL of the registry's token service.
    pub(crate) auth: Url,
    /// The account to check as well, or `None` for the anonymous check only.
    pub(crate) credentials: Option<Credentials>,
    /// From the start of one check to the start of the next.
    pub(crate) interval: Duration,
    /// Time limit of one request.
    pub(crate) timeout: Duration,
}

/// Receives what the checks do, as they do it.
pub(crate) trait Observer: Send + Sync {
    /// A request was answered with `status`, or failed without an answer (`None`).
    fn request(&self, endpoint: Endpoint, status: Option<u16>);

    /// A check of `account` (`anonymous` or the username) succeeded at `at`.
    fn checked(&self, account: &str, limit: PullLimit, at: SystemTime);
}

/// An observer that ignores everything, for checks nobody watches.
impl Observer for () {
    fn request(&self, _: Endpoint, _: Option<u16>) {}
    fn checked(&self, _: &str, _: PullLimit, _: SystemTime) {}
}

/// The background task that checks the pull quota.
pub(crate) struct Checker {
    client: client::Client,
    credentials: Option<Credentials>,
    interval: Duration,
    observer: Arc<dyn Observer>,
}

impl Checker {
    /// A checker reporting to `observer`.
    pub(crate) fn new(options: Options, observer: Arc<dyn Observer>) -> Result<Checker> {
        Ok(Checker {
            client: client::Client::new(
                options.registry,
                options.auth,
                options.timeout,
                observer.clone(),
            )?,
            credentials: options.credentials,
            interval: options.interval,
            observer,
        })
    }

    /// Checks at once and then every interval until `shutdown` completes; a check in
    /// progress is abandoned at shutdown.
    pub(crate) async fn run(self, shutdown: impl Future<Output = ()>) {
        crate::shutdown::every(self.interval, shutdown, || self.check_all()).await;
    }

    /// Checks anonymously, then as the account if there is one.
    async fn check_all(&self) {
        self.check(None).await;
        if let Some(credentials) = &self.credentials {
            self.check(Some(credentials)).await;
        }
    }

    /// One check; its result goes to the observer, its failure to the log.
    async fn check(&self, credentials: Option<&Credentials>) {
        let account = credentials.map_or(ANONYMOUS, |c| c.username.as_str());
        match self.client.check(credentials).await {
            Ok(checked) => {
                let (unlimited, limit, remaining, window) = match checked.limit {
                    PullLimit::Limited {
                        limit,
                        remaining,
                        window,
                    } => (false, limit, remaining, window.map(|w| w.as_secs())),
                    PullLimit::Unlimited => (true, None, None, None),
                };
                debug!(
                    account,
                    unlimited,
                    limit,
                    remaining,
                    window_seconds = window,
                    source = checked.source.as_deref().unwrap_or(""),
                    "pull limit checked"
                );
                self.observer
                    .checked(account, checked.limit, SystemTime::now());
            }
            Err(e) => warn!(
                account,
                kind = %e.kind(),
                error = %e,
                "pull limit check failed; the last values stay"
            ),
        }
    }
}
