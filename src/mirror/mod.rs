//! The mirror checks: every tracked Hub tag compared with the registries the same images are
//! mirrored to (`--mirror HUB_NAMESPACE=REGISTRY[/PATH]`), through the OCI distribution API
//! that every registry speaks.
//!
//! Each mirror has a task of its own, its own client (see `client`) and its own pace, so a
//! slow mirror delays only its own figures, and none of them ever slows the Hub's refresh:
//! a check starts after a refresh publishes, on the snapshot it published, and reads nothing
//! else of the refresh. A check reads every repository's tags list, asks for the digests
//! `compare` says must be asked for, and publishes the mirror's [`Figures`] through the
//! [`Observer`]. A repository whose read fails keeps its last figures (none before its first
//! success), the failure is logged and counted, and the mirror's success time stays; nothing
//! here changes `dockerhub_up`. This module knows nothing of flags, metrics or pages.

mod client;
mod compare;
mod headers;

pub(crate) use compare::{Reason, RepositoryFigures};

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Url;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{info, warn};

use crate::error::{Error, ErrorKind, Result};
use crate::hub::Credentials;
use crate::inventory::{Snapshot, TagSelection};
use crate::publication::Published;
use client::Client;

/// The endpoints of a mirror, as `dockerhub_mirror_requests_total` labels them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// The registry's token service.
    Token,
    /// A page of a tags list.
    Tags,
    /// A `HEAD` of a manifest.
    Manifest,
}

impl Endpoint {
    /// The value of the `endpoint` label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Endpoint::Token => "token",
            Endpoint::Tags => "tags",
            Endpoint::Manifest => "manifest",
        }
    }
}

/// The kinds of failure a mirror's read can have, as `dockerhub_mirror_check_errors_total`
/// labels them: those of the Hub side that apply.
pub(crate) const ERROR_KINDS: [ErrorKind; 7] = [
    ErrorKind::Auth,
    ErrorKind::Throttled,
    ErrorKind::Server,
    ErrorKind::Timeout,
    ErrorKind::Decode,
    ErrorKind::Transport,
    ErrorKind::Protocol,
];

/// One mirror's checks: where it is, as whom, how fast, and what to compare.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// `REGISTRY[/PATH]`, the `mirror` label.
    pub(crate) label: String,
    /// The Hub namespace whose repositories are mirrored.
    pub(crate) hub_namespace: String,
    /// The registry's base URL (`https://host[:port]/`).
    pub(crate) registry: Url,
    /// The path under which the repositories are on the registry; may be empty.
    pub(crate) path: String,
    /// Credentials for the registry, if any.
    pub(crate) credentials: Option<Credentials>,
    /// Requests per minute at most.
    pub(crate) rate_limit: u32,
    /// Requests in flight at most.
    pub(crate) concurrency: usize,
    /// Every digest asked for again at least this often.
    pub(crate) full_interval: Duration,
    /// Time limit of one request.
    pub(crate) timeout: Duration,
    /// The tracked tags.
    pub(crate) tags: TagSelection,
}

/// One mirror's figures, as its checks found them so far.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Figures {
    /// `REGISTRY[/PATH]`.
    pub(crate) mirror: String,
    /// The Hub namespace compared with it.
    pub(crate) hub_namespace: String,
    /// The end of the last check that read every repository.
    pub(crate) last_success: Option<SystemTime>,
    /// Each repository read successfully at least once, by name.
    pub(crate) repositories: BTreeMap<String, RepositoryFigures>,
}

/// Receives what the checks do, as they do it.
pub(crate) trait Observer: Send + Sync {
    /// `mirror` will be checked.
    fn watching(&self, mirror: &str);

    /// A request to `mirror` was answered with `status`, or failed without an answer.
    fn request(&self, mirror: &str, endpoint: Endpoint, status: Option<u16>);

    /// A repository's read on `mirror` failed with an error of this kind.
    fn check_failed(&self, mirror: &str, kind: ErrorKind);

    /// A check of a mirror ended; these are its figures now.
    fn checked(&self, figures: Arc<Figures>);
}

/// An observer that ignores everything, for checks nobody watches.
impl Observer for () {
    fn watching(&self, _: &str) {}
    fn request(&self, _: &str, _: Endpoint, _: Option<u16>) {}
    fn check_failed(&self, _: &str, _: ErrorKind) {}
    fn checked(&self, _: Arc<Figures>) {}
}

/// The checks of one mirror.
pub(crate) struct Checker {
    options: Options,
    client: Arc<Client>,
    observer: Arc<dyn Observer>,
    figures: Figures,
    known: HashMap<String, compare::Known>,
    last_full: Option<Instant>,
}

/// What one repository's read found.
struct Read {
    figures: RepositoryFigures,
    known: compare::Known,
}

impl Checker {
    /// A checker reporting to `observer`.
    pub(crate) fn new(options: Options, observer: Arc<dyn Observer>) -> Result<Checker> {
        let client = Client::new(
            options.registry.clone(),
            options.label.clone(),
            options.credentials.clone(),
            options.rate_limit,
            options.concurrency,
            options.timeout,
            observer.clone(),
        )?;
        observer.watching(&options.label);
        Ok(Checker {
            figures: Figures {
                mirror: options.label.clone(),
                hub_namespace: options.hub_namespace.clone(),
                ..Figures::default()
            },
            options,
            client: Arc::new(client),
            observer,
            known: HashMap::new(),
            last_full: None,
        })
    }

    /// Checks after each refresh that publishes, on what it published, until `shutdown`
    /// completes; a check in progress is then abandoned. A refresh that ends during a check
    /// is checked after it, once, however many ended meanwhile.
    pub(crate) async fn run(
        mut self,
        mut published: watch::Receiver<Arc<Published>>,
        shutdown: impl Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        let mut last_checked = None;
        loop {
            let next = {
                let p = published.borrow_and_update();
                p.last_refresh
                    .as_ref()
                    .filter(|r| Some(r.finished) != last_checked)
                    .map(|r| (r.finished, Arc::clone(&p.snapshot)))
            };
            if let Some((finished, snapshot)) = next {
                last_checked = Some(finished);
                tokio::select! {
                    _ = &mut shutdown => return,
                    _ = self.check(&snapshot) => {}
                }
                continue;
            }
            tokio::select! {
                _ = &mut shutdown => return,
                changed = published.changed() => if changed.is_err() { return },
            }
        }
    }

    /// One check of every repository of the snapshot's namespace; its figures go to the
    /// observer.
    pub(crate) async fn check(&mut self, snapshot: &Snapshot) {
        let started = Instant::now();
        let requests_before = self.client.requests_sent();
        let full = self
            .last_full
            .is_none_or(|t| t.elapsed() >= self.options.full_interval);
        let hub = self.hub_tags(snapshot);
        let mut reads = JoinSet::new();
        for (repository, tags) in &hub {
            let known = self.known.get(repository).cloned().unwrap_or_default();
            let client = Arc::clone(&self.client);
            let name = self.mirror_name(repository);
            let repository = repository.clone();
            let tags = tags.clone();
            reads.spawn(async move {
                let read = read(&client, &name, &tags, &known, full).await;
                (repository, read)
            });
        }
        let mut failures = 0usize;
        while let Some(joined) = reads.join_next().await {
            let (repository, read) = match joined {
                Ok(r) => r,
                // A read task cannot panic on input; if one did, its repository keeps its
                // figures and is read in full next time.
                Err(e) => {
                    warn!(mirror = %self.options.label, error = %e, "a mirror read did not complete");
                    failures += 1;
                    continue;
                }
            };
            match read {
                Ok(read) => {
                    self.figures
                        .repositories
                        .insert(repository.clone(), read.figures);
                    self.known.insert(repository, read.known);
                }
                Err(e) => {
                    failures += 1;
                    self.observer.check_failed(&self.options.label, e.kind());
                    // What it knew is asked for again next time.
                    self.known.remove(&repository);
                    warn!(
                        mirror = %self.options.label,
                        repository = %repository,
                        kind = %e.kind(),
                        error = %e,
                        "mirror read failed; its last figures stay"
                    );
                }
            }
        }
        // Repositories no longer on the Hub (or no longer inventoried) leave.
        self.figures
            .repositories
            .retain(|name, _| hub.contains_key(name));
        self.known.retain(|name, _| hub.contains_key(name));
        // A full check is done once it ran, whatever failed in it: a repository that failed
        // forgot what it knew and is asked for in full next time anyway, and the others need
        // no second full check until the interval is up, even while one repository keeps
        // failing.
        if full {
            self.last_full = Some(started);
        }
        if failures == 0 {
            self.figures.last_success = Some(SystemTime::now());
        }
        let figures = &self.figures;
        let count =
            |reason| -> usize { figures.repositories.values().map(|r| r.count(reason)).sum() };
        info!(
            mirror = %self.options.label,
            hub_namespace = %self.options.hub_namespace,
            repositories = hub.len(),
            tags = figures.repositories.values().map(|r| r.tags).sum::<usize>(),
            missing = count(Reason::Missing),
            different = count(Reason::Digest),
            failures,
            full,
            requests = self.client.requests_sent() - requests_before,
            duration_ms = started.elapsed().as_millis() as u64,
            "mirror checked"
        );
        self.observer.checked(Arc::new(self.figures.clone()));
    }

    /// The tracked tags of each repository of the namespace whose tags are known, as name
    /// and Hub digest.
    fn hub_tags(&self, snapshot: &Snapshot) -> BTreeMap<String, Vec<(String, String)>> {
        let namespace = &self.options.hub_namespace;
        let Some(ns) = snapshot.namespaces.get(namespace) else {
            return BTreeMap::new();
        };
        ns.repositories
            .values()
            .filter_map(|repo| {
                let tags = repo.tags.as_ref()?;
                let tracked = tags
                    .iter()
                    .filter(|t| self.options.tags.matches(namespace, &repo.name, &t.name))
                    .map(|t| (t.name.clone(), t.digest.clone()))
                    .collect();
                Some((repo.name.clone(), tracked))
            })
            .collect()
    }

    /// The repository's name on the mirror.
    fn mirror_name(&self, repository: &str) -> String {
        if self.options.path.is_empty() {
            repository.to_string()
        } else {
            format!("{}/{}", self.options.path, repository)
        }
    }
}

/// Reads one repository on the mirror: its tags list, then the digests to ask for, several
/// at once within the client's pace.
async fn read(
    client: &Arc<Client>,
    name: &str,
    hub: &[(String, String)],
    known: &compare::Known,
    full: bool,
) -> Result<Read> {
    let tags = client.tags(name).await?;
    let planned = compare::plan(hub, &tags, known, full);
    let mut heads = JoinSet::new();
    for tag in planned {
        let client = Arc::clone(client);
        let name = name.to_string();
        heads.spawn(async move {
            let found = client.digest(&name, &tag).await;
            (tag, found)
        });
    }
    let mut asked = BTreeMap::new();
    let mut failed: Option<Error> = None;
    while let Some(joined) = heads.join_next().await {
        match joined {
            Ok((tag, Ok(found))) => {
                asked.insert(tag, found);
            }
            Ok((_, Err(e))) => {
                failed.get_or_insert(e);
            }
            Err(e) => {
                failed.get_or_insert(Error::Task {
                    listing: name.to_string(),
                    reason: e.to_string(),
                });
            }
        }
    }
    if let Some(e) = failed {
        return Err(e);
    }
    let (figures, known) = compare::conclude(hub, &tags, &asked, known);
    Ok(Read { figures, known })
}
