//! The Docker Hub client: login, paginated listings, pacing and retries.
//!
//! Every request goes through one path (see `request`): wait for the shared [`Pacer`] (where
//! the requests of background work, see [`in_background`], give way to the others), send
//! with a time limit, read a bounded body, report it, read the rate-limit headers, retry what
//! is transient. Listings (see `listing`) are returned only when whole, or, for anonymous tag
//! listings the Hub cuts short (see `cap`), as far as the Hub lets them go; `next` links are
//! followed only on the origin of `--hub.url`, and the pages of a repository listing asked
//! for at once are made from its first `next`, so the token never leaves it. The client
//! takes its own [`ClientOptions`], reports what it does through an [`Observer`], and
//! returns inventory types; it knows nothing about snapshots, metrics or the command line.

mod audit;
mod auth;
mod cap;
mod headers;
mod listing;
mod names;
mod observer;
mod pace;
mod request;
mod secret;
mod slots;
mod wire;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use reqwest::Url;

use crate::error::{Error, Result};
use crate::inventory::{RepositoryInfo, Tag};
pub(crate) use audit::{AuditEvent, AuditLog};
use auth::Session;
#[cfg(test)]
pub(crate) use headers::EPOCH_THRESHOLD;
pub(crate) use headers::retry_after;
use names::check_name;
pub(crate) use observer::{Endpoint, Observer, RateLimitHeader};
pub(crate) use pace::Pacer;
pub(crate) use pace::in_background;
pub(crate) use request::read_bounded;
pub(crate) use secret::Secret;
pub(crate) use secret::quote;
use slots::Slots;
use wire::{WireRepository, WireTag};

/// Items per page; the Hub silently caps larger values at 100.
const PAGE_SIZE: u32 = 100;

/// The order tags are listed in: captures of the Hub show the most recently updated tag first
/// with this `ordering` (and without one), so that a listing the Hub cuts short for anonymous
/// readers holds the newest tags.
const TAG_ORDERING: &str = "last_updated";

/// Credentials for logging in to the Hub.
#[derive(Debug, Clone)]
pub(crate) struct Credentials {
    /// Account or organization name.
    pub(crate) username: String,
    /// Password, personal access token or organization access token.
    pub(crate) secret: Secret,
}

/// What the client needs to know: where the Hub is, who to log in as, and how fast to go.
#[derive(Debug, Clone)]
pub(crate) struct ClientOptions {
    /// Base URL of the Hub API, without a trailing slash.
    pub(crate) base: Url,
    /// Credentials, or `None` for anonymous access.
    pub(crate) credentials: Option<Credentials>,
    /// Requests per minute, all requests together.
    pub(crate) rate_limit: u32,
    /// Requests that may go back to back.
    pub(crate) burst: u32,
    /// Requests in flight at most.
    pub(crate) concurrency: usize,
    /// Time limit of one request.
    pub(crate) timeout: Duration,
}

/// A repository as listed, with its metadata.
#[derive(Debug, Clone)]
pub(crate) struct ListedRepository {
    /// Name within the namespace.
    pub(crate) name: String,
    /// Metadata.
    pub(crate) info: RepositoryInfo,
}

/// The tags of a repository as listed.
#[derive(Debug, Clone)]
pub(crate) struct TagListing {
    /// The tags read, each once: every tag, or the newest ones when `capped`.
    pub(crate) tags: Vec<Tag>,
    /// `Some(count)` when the Hub stopped the listing early, as it does past 1,000 tags to
    /// anonymous readers: its count of the repository's tags, more than `tags` holds.
    pub(crate) capped: Option<u64>,
}

/// A client for one Hub, shared by all tasks of a refresh.
pub(crate) struct Client {
    http: reqwest::Client,
    base: Url,
    credentials: Option<Credentials>,
    session: tokio::sync::Mutex<Session>,
    pacer: Pacer,
    /// One permit per listing being read (a repository listing whose pages are asked for at
    /// once holds one too): no more listings are read at once than requests may be in
    /// flight, so the pages held while listings are read stay within
    /// `concurrency` × [`listing::LISTING_BYTES`], however many are waiting.
    listings: Slots,
    /// Requests in flight at most, and so pages of one listing asked for at once.
    concurrency: usize,
    /// Where the Hub cut anonymous tag listings short.
    caps: cap::Caps,
    timeout: Duration,
    observer: Arc<dyn Observer>,
    /// Requests sent since start, answered or not.
    requests: AtomicU64,
    /// Nanoseconds requests spent waiting for the quota or a pause, summed.
    waited: AtomicU64,
}

impl Client {
    /// Builds a client; `observer` hears of every request.
    pub(crate) fn new(options: ClientOptions, observer: Arc<dyn Observer>) -> Result<Client> {
        let http = reqwest::Client::builder()
            // A redirect could carry the token elsewhere; the Hub's API does not redirect.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(crate::version::USER_AGENT)
            .build()
            .map_err(|e| Error::Transport {
                url: options.base.to_string(),
                reason: format!("cannot build the HTTP client: {e}"),
            })?;
        Ok(Client {
            http,
            pacer: Pacer::new(options.rate_limit, options.burst, options.concurrency),
            listings: Slots::new(options.concurrency),
            concurrency: options.concurrency.max(1),
            caps: cap::Caps::default(),
            base: options.base,
            credentials: options.credentials,
            session: tokio::sync::Mutex::new(Session::default()),
            timeout: options.timeout,
            observer,
            requests: AtomicU64::new(0),
            waited: AtomicU64::new(0),
        })
    }

    /// The secret sent to the Hub, to be masked in what the Hub says.
    fn secret(&self) -> Option<&Secret> {
        self.credentials.as_ref().map(|c| &c.secret)
    }

    /// Starts a new refresh: a login refused during the previous one may be tried again.
    pub(crate) async fn begin_refresh(&self) {
        self.session.lock().await.refused = None;
    }

    /// Requests sent to the Hub since start, all endpoints and outcomes together.
    pub(crate) fn requests_sent(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Time requests have spent waiting for the quota or a pause since start, summed.
    pub(crate) fn quota_wait(&self) -> Duration {
        Duration::from_nanos(self.waited.load(Ordering::Relaxed))
    }

    /// Every repository of `namespace` visible to the credentials. A repository whose name
    /// the Hub could not have given (see [`names::check_name`]) comes as an error of its own, so that
    /// it is never fetched under another name and the others are still read.
    ///
    /// The pages after the first are asked for at once when the first says how many there
    /// are (see `listing`), and each page's repositories with a valid name are handed to
    /// `on_page` as soon as the page is read, so that the caller can start on them while
    /// the rest is read. They are not yet known to be the listing: a read that does not add
    /// up is read again, so a repository may come more than once (with newer metadata), one
    /// may come that the listing returned in the end does not hold, and the listing may
    /// still fail. Only what is returned is the namespace's listing.
    pub(crate) async fn list_repositories_streaming(
        &self,
        namespace: &str,
        mut on_page: impl FnMut(Vec<ListedRepository>) + Send,
    ) -> Result<Vec<Result<ListedRepository>>> {
        let url = self.url(&["v2", "namespaces", namespace, "repositories"]);
        // Not a tag listing: never capped, so the items are the whole listing.
        let items: Vec<WireRepository> = self
            .list_pages(
                Endpoint::Repositories,
                url.clone(),
                listing::Pages::Concurrent,
                || {},
                |page: &[WireRepository]| {
                    on_page(
                        page.iter()
                            .filter(|r| check_name(&r.name).is_ok())
                            .map(|r| ListedRepository {
                                name: r.name.clone(),
                                info: r.info(),
                            })
                            .collect(),
                    );
                },
            )
            .await?
            .items;
        Ok(items
            .into_iter()
            .map(|r| match check_name(&r.name) {
                Ok(()) => Ok(ListedRepository {
                    info: r.info(),
                    name: r.name,
                }),
                Err(why) => Err(Error::Decode {
                    url: url.to_string(),
                    reason: quote(
                        &format!("a repository named {:?} {why}; left out", r.name),
                        self.secret(),
                    ),
                }),
            })
            .collect())
    }

    /// One repository's details (`--hub.repository`), in one request; [`Error::NotFound`]
    /// when the Hub answers 404.
    pub(crate) async fn get_repository(
        &self,
        namespace: &str,
        repository: &str,
    ) -> Result<ListedRepository> {
        let url = names::endpoint(
            &self.base,
            &["v2", "namespaces", namespace, "repositories", repository],
        );
        let body = match self.get(Endpoint::Repository, &url).await {
            Ok(body) => body,
            Err(Error::Status {
                url: failed,
                status: 404,
                said,
            }) if failed == url.as_str() => {
                return Err(Error::NotFound {
                    url: failed,
                    status: 404,
                    said,
                });
            }
            Err(e) => return Err(e),
        };
        let details = wire::decode_repository(&body).map_err(|reason| Error::Decode {
            url: url.to_string(),
            reason: quote(&reason, self.secret()),
        })?;
        Ok(ListedRepository {
            info: details.info(),
            name: repository.to_string(),
        })
    }

    /// Every tag of a repository, each once, or the newest ones as far as the Hub lets an
    /// anonymous reader go; `None` when the repository answers 404 on its first page (it is
    /// gone).
    pub(crate) async fn list_tags(
        &self,
        namespace: &str,
        repository: &str,
    ) -> Result<Option<TagListing>> {
        self.list_tags_noting_start(namespace, repository, || {})
            .await
    }

    /// [`Client::list_tags`], calling `started` once the listing may send its first request
    /// (it has its listing permit): until then, nothing of the repository has been read.
    pub(crate) async fn list_tags_noting_start(
        &self,
        namespace: &str,
        repository: &str,
        started: impl FnOnce(),
    ) -> Result<Option<TagListing>> {
        let mut url = self.url(&[
            "v2",
            "namespaces",
            namespace,
            "repositories",
            repository,
            "tags",
        ]);
        url.query_pairs_mut().append_pair("ordering", TAG_ORDERING);
        match self
            .list_all_noting_start::<WireTag>(Endpoint::Tags, url.clone(), started)
            .await
        {
            Ok(listed) => Ok(Some(TagListing {
                tags: listed.items.into_iter().map(WireTag::into_tag).collect(),
                capped: listed.capped,
            })),
            Err(Error::Status {
                url: failed,
                status: 404,
                ..
            }) if failed == url.as_str() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The base URL with path segments appended, each one segment (see [`names::endpoint`]).
    fn url(&self, segments: &[&str]) -> Url {
        let mut url = names::endpoint(&self.base, segments);
        url.query_pairs_mut()
            .append_pair("page_size", &PAGE_SIZE.to_string());
        url
    }
}
