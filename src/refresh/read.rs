//! One refresh's reading: every namespace's repositories and the details of every repository
//! named on its own, and the tags of every repository that needs listing, as many at once as
//! the client allows, with progress reported along the way.
//!
//! A repository's tag listing starts as soon as the page of the repository listing that
//! names it has been read, while the rest of that listing is still read (see
//! [`Client::list_repositories_streaming`]), so that no tag listing waits for the whole
//! repository listing, page after page. What is kept is still decided by the
//! repository listing as it is returned in the end, whole: a repository seen only on a read
//! of the listing that did not add up is not kept, one seen on several reads is listed once,
//! and a namespace whose listing fails keeps all of its previous data.
//!
//! [`Client::list_repositories_streaming`]: crate::hub::Client::list_repositories_streaming

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::Shared;
use super::activity::Key;
use crate::error::Error;
use crate::hub::{ListedRepository, TagListing};
use crate::inventory::{NamespaceRead, RepositoryRead, SelectedRead, Snapshot, TagsRead};

/// How often a long refresh logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// What one refresh read, before merging.
pub(super) struct Reads {
    pub(super) namespaces: BTreeMap<String, NamespaceRead>,
    pub(super) failures: Vec<(String, Error)>,
    pub(super) successes: usize,
    /// When each thing was read.
    pub(super) stamps: Stamps,
}

/// The stamps (see `activity`) of what one refresh read.
#[derive(Debug, Default)]
pub(super) struct Stamps {
    /// The stamp of each namespace's repository listing.
    namespaces: HashMap<String, u64>,
    /// The stamp of the newest read of each repository that was read on its own (details, or
    /// tags that were listed or found gone; a failed listing brought nothing newer than its
    /// namespace's listing).
    repositories: HashMap<Key, u64>,
}

impl Stamps {
    /// Whether this refresh listed the tags of `key` (or found it gone).
    pub(super) fn listed(&self, key: &Key) -> bool {
        self.repositories.contains_key(key)
    }

    /// The stamp of this refresh's newest read of `key`: its tags or details, or else its
    /// namespace's listing; `None` when the refresh read nothing of it.
    pub(super) fn stamp_of(&self, key: &Key) -> Option<u64> {
        self.repositories
            .get(key)
            .or_else(|| self.namespaces.get(&key.0))
            .copied()
    }
}

/// What one tag-listing task brings back.
struct Listing {
    key: Key,
    /// Taken when its first request was about to go out; 0 when none did.
    stamp: u64,
    /// `None`: abandoned before its first request (its namespace's listing failed).
    tags: Option<crate::error::Result<Option<TagListing>>>,
}

/// A finished tag listing, ready to be kept if its repository is.
struct Settled {
    tags: TagsRead,
    /// Why it failed, when it did.
    error: Option<Error>,
    stamp: u64,
}

/// The tag listings one refresh has started, each repository's at most once.
#[derive(Default)]
struct TagListings {
    tasks: JoinSet<Listing>,
    /// Every repository whose listing was started, as it was listed when it was.
    started: HashMap<Key, ListedRepository>,
    /// Which repository each task lists.
    ids: HashMap<tokio::task::Id, Key>,
    /// Per namespace, what tells its listings that have not sent anything yet to give up.
    abandon: HashMap<String, watch::Sender<bool>>,
}

impl TagListings {
    /// Starts listing `repo`'s tags, unless it is already being listed.
    fn start(&mut self, shared: &Arc<Shared>, namespace: &str, repo: ListedRepository) {
        let key = (namespace.to_string(), repo.name.clone());
        if self.started.contains_key(&key) {
            return;
        }
        // Marked before the task exists: from now on a re-read of the repository is skipped
        // (this listing has yet to start and will see what the re-read was asked for) or
        // waited for.
        shared.activity.refresh_pending([&key]);
        let abandoned = self
            .abandon
            .entry(namespace.to_string())
            .or_insert_with(|| watch::channel(false).0)
            .subscribe();
        let task = list_tags(Arc::clone(shared), key.clone(), abandoned);
        let handle = self.tasks.spawn(task);
        self.ids.insert(handle.id(), key.clone());
        self.started.insert(key, repo);
    }

    /// The listings of `namespace` that have sent nothing yet give up, and what the others
    /// read will not be kept.
    fn abandon(&mut self, namespace: &str) {
        if let Some(abandon) = self.abandon.get(namespace) {
            abandon.send_replace(true);
        }
    }

    /// Whether `namespace`'s listings were abandoned.
    fn abandoned(&self, namespace: &str) -> bool {
        self.abandon.get(namespace).is_some_and(|a| *a.borrow())
    }
}

/// Lists the tags of `key` for the refresh, once no re-read of it is running, unless
/// `abandoned` turns true before the listing sends its first request.
async fn list_tags(shared: Arc<Shared>, key: Key, mut abandoned: watch::Receiver<bool>) -> Listing {
    let stamp = AtomicU64::new(0);
    let tags = {
        let listing = async {
            shared.activity.refresh_wait(&key).await;
            shared
                .client
                .list_tags_noting_start(&key.0, &key.1, || {
                    stamp.store(shared.activity.refresh_reading(&key), Ordering::Relaxed);
                })
                .await
        };
        tokio::pin!(listing);
        let given_up = async {
            // The sender lives as long as the refresh's reading; without it, nothing gives up.
            if abandoned.wait_for(|a| *a).await.is_err() {
                std::future::pending::<()>().await;
            }
        };
        let tags = tokio::select! {
            biased;
            tags = &mut listing => Some(tags),
            () = given_up => None,
        };
        // A listing that has sent a request is finished rather than dropped, so that no
        // request is left half done or uncounted; one that has not (it holds no permit yet)
        // is dropped.
        match tags {
            None if stamp.load(Ordering::Relaxed) != 0 => Some(listing.await),
            tags => tags,
        }
    };
    shared.activity.refresh_done(&key);
    Listing {
        key,
        stamp: stamp.into_inner(),
        tags,
    }
}

impl Shared {
    /// Reads every namespace; with `full` false, repositories whose `last_updated` is what it
    /// was at their last successful tag listing in `previous` are not listed again.
    pub(super) async fn read_all(self: &Arc<Self>, previous: &Snapshot, full: bool) -> Reads {
        let started = Instant::now();
        let requests_before = self.client.requests_sent();
        let waited_before = self.client.quota_wait();
        let mut reads = Reads {
            namespaces: BTreeMap::new(),
            failures: Vec::new(),
            successes: 0,
            stamps: Stamps::default(),
        };
        let mut by_namespace: BTreeMap<String, Vec<RepositoryRead>> = BTreeMap::new();
        let mut listings = TagListings::default();
        // The repositories whose tag listing is kept: those of whole repository listings and
        // those named on their own, in the order they were settled.
        let mut wanted: Vec<Key> = Vec::new();

        // Repositories named on their own: their details, all asked for at once, while the
        // namespaces are listed.
        let mut kept: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut details = JoinSet::new();
        for (ns, name) in self.options.repositories.iter().cloned() {
            kept.entry(ns.clone()).or_default();
            let shared = Arc::clone(self);
            details.spawn(async move {
                let stamp = shared.activity.stamp();
                let read = shared.client.get_repository(&ns, &name).await;
                (ns, name, stamp, read)
            });
        }

        for ns in &self.options.namespaces {
            reads
                .stamps
                .namespaces
                .insert(ns.clone(), self.activity.stamp());
            // Each page's repositories that need listing are started on as the page comes;
            // the whole listing below decides what is kept.
            let listed = self
                .client
                .list_repositories_streaming(ns, |page| {
                    for repo in page {
                        if self.needs_listing(previous, full, ns, &repo) {
                            listings.start(self, ns, repo);
                        }
                    }
                })
                .await;
            let repos = match listed {
                Ok(repos) => repos,
                Err(e) => {
                    // The namespace keeps its previous data, tags and all: the tag listings
                    // its pages started are thrown away, those already done included, and
                    // those that have not sent a request yet never will.
                    listings.abandon(ns);
                    debug!(hub_namespace = %ns, error = %e, "repository listing failed");
                    reads.failures.push((ns.clone(), e));
                    reads.namespaces.insert(ns.clone(), NamespaceRead::Failed);
                    continue;
                }
            };
            reads.successes += 1;
            if repos.is_empty() {
                warn!(
                    hub_namespace = %ns,
                    "the namespace has no repositories visible; check the namespace's name and, for private repositories, the token's scope"
                );
            }
            let settled = by_namespace.entry(ns.clone()).or_default();
            for repo in repos {
                let repo = match repo {
                    Ok(repo) => repo,
                    Err(e) => {
                        debug!(hub_namespace = %ns, error = %e, "repository left out");
                        reads.failures.push((ns.clone(), e));
                        continue;
                    }
                };
                let key = (ns.clone(), repo.name.clone());
                let tags = if !self.options.repository_filter.matches(&repo.name) {
                    TagsRead::Skipped
                } else if listings.started.contains_key(&key) {
                    // Started from a page of this read or of an earlier one that did not add
                    // up; listed once either way, and kept with the metadata it was started
                    // with: read before its tags, as a `last_updated` must be (an older one
                    // only has the next incremental refresh list it again).
                    wanted.push(key);
                    continue;
                } else if !full && unchanged(previous, ns, &repo) {
                    reads.successes += 1;
                    TagsRead::Unchanged
                } else {
                    // Every page of the whole read was handed over, so this is not expected;
                    // started here should the page and the listing ever disagree.
                    listings.start(self, ns, repo);
                    wanted.push(key);
                    continue;
                };
                settled.push(RepositoryRead {
                    name: repo.name,
                    info: repo.info,
                    tags,
                });
            }
        }

        while let Some(joined) = details.join_next().await {
            let Ok((ns, name, stamp, read)) = joined else {
                continue;
            };
            if read.is_ok() {
                reads
                    .stamps
                    .repositories
                    .insert((ns.clone(), name.clone()), stamp);
            }
            match read {
                Ok(repo) if !full && unchanged(previous, &ns, &repo) => {
                    reads.successes += 1;
                    by_namespace.entry(ns).or_default().push(RepositoryRead {
                        name: repo.name,
                        info: repo.info,
                        tags: TagsRead::Unchanged,
                    });
                }
                Ok(repo) => {
                    let key = (ns.clone(), repo.name.clone());
                    listings.start(self, &ns, repo);
                    wanted.push(key);
                }
                Err(e) => {
                    debug!(hub_namespace = %ns, repository = %name, error = %e, "repository details failed");
                    reads.failures.push((format!("{ns}/{name}"), e));
                    kept.entry(ns).or_default().push(name);
                }
            }
        }
        // A details task that did not complete keeps what was known, like a failed read.
        for (ns, name) in &self.options.repositories {
            let key = (ns.clone(), name.clone());
            let read = by_namespace
                .get(ns)
                .is_some_and(|repos| repos.iter().any(|r| &r.name == name))
                || listings.started.contains_key(&key)
                || kept.get(ns).is_some_and(|names| names.contains(name));
            if !read {
                reads.failures.push((
                    format!("{ns}/{name}"),
                    Error::Task {
                        listing: format!("{ns}/{name}"),
                        reason: "the details task panicked or was cancelled".into(),
                    },
                ));
                kept.entry(ns.clone()).or_default().push(name.clone());
            }
        }

        // Every tag listing is under way; the client decides how many are read at once.
        let total = listings.started.len();
        let mut settled: HashMap<Key, Settled> = HashMap::new();
        let mut done = 0usize;
        let mut progress =
            tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        loop {
            let joined = tokio::select! {
                joined = listings.tasks.join_next_with_id() => joined,
                _ = progress.tick() => {
                    let elapsed = started.elapsed().as_secs_f64();
                    let left = (done > 0).then(|| elapsed / done as f64 * (total - done) as f64);
                    info!(
                        repositories_done = done,
                        repositories_total = total,
                        requests = self.client.requests_sent() - requests_before,
                        quota_wait_seconds = (self.client.quota_wait() - waited_before).as_secs_f64(),
                        elapsed_seconds = elapsed.round(),
                        estimated_seconds_left = left.map(f64::round),
                        "refresh in progress"
                    );
                    continue;
                }
            };
            let Some(joined) = joined else { break };
            done += 1;
            self.observer.listings_done(done, total);
            let listing = match joined {
                Ok((_, listing)) => listing,
                // A task that did not complete never said it was done; what it was to read is
                // made up for below.
                Err(e) => {
                    if let Some(key) = listings.ids.get(&e.id()) {
                        self.activity.refresh_done(key);
                    }
                    continue;
                }
            };
            let Listing { key, stamp, tags } = listing;
            let Some(tags) = tags.filter(|_| !listings.abandoned(&key.0)) else {
                continue;
            };
            let (tags, error) = match tags {
                Ok(Some(listing)) => {
                    let known = previous
                        .namespaces
                        .get(&key.0)
                        .and_then(|n| n.repositories.get(&key.1));
                    if let Some(count) = listing.capped {
                        self.capped
                            .warn_once(&key.0, &key.1, listing.tags.len(), count);
                    }
                    (TagsRead::listed(listing.tags, listing.capped, known), None)
                }
                Ok(None) => (TagsRead::Gone, None),
                Err(e) => (TagsRead::Failed, Some(e)),
            };
            settled.insert(key, Settled { tags, error, stamp });
        }

        for key in wanted {
            let Some(repo) = listings.started.remove(&key) else {
                continue;
            };
            let (ns, name) = key;
            let tags = match settled.remove(&(ns.clone(), name.clone())) {
                Some(Settled {
                    tags,
                    error: None,
                    stamp,
                }) => {
                    reads.successes += 1;
                    if stamp != 0 {
                        reads
                            .stamps
                            .repositories
                            .insert((ns.clone(), name.clone()), stamp);
                    }
                    if matches!(tags, TagsRead::Gone) {
                        debug!(hub_namespace = %ns, repository = %name, "repository gone while listing");
                    }
                    tags
                }
                Some(Settled {
                    tags,
                    error: Some(e),
                    ..
                }) => {
                    debug!(hub_namespace = %ns, repository = %name, error = %e, "tag listing failed");
                    reads.failures.push((format!("{ns}/{name}"), e));
                    tags
                }
                None => {
                    reads.failures.push((
                        format!("{ns}/{name}"),
                        Error::Task {
                            listing: format!("{ns}/{name}"),
                            reason: "the tag listing task panicked or was cancelled".into(),
                        },
                    ));
                    TagsRead::Failed
                }
            };
            by_namespace.entry(ns).or_default().push(RepositoryRead {
                name: repo.name,
                info: repo.info,
                tags,
            });
        }
        for (ns, repos) in by_namespace {
            let read = match kept.remove(&ns) {
                // A namespace of repositories named on their own, not listed.
                Some(names) => NamespaceRead::Selected(
                    repos
                        .into_iter()
                        .map(SelectedRead::Read)
                        .chain(names.into_iter().map(SelectedRead::Kept))
                        .collect(),
                ),
                None => NamespaceRead::Listed(repos),
            };
            reads.namespaces.insert(ns, read);
        }
        for (ns, names) in kept {
            let read = NamespaceRead::Selected(names.into_iter().map(SelectedRead::Kept).collect());
            reads.namespaces.insert(ns, read);
        }
        reads
    }

    /// Whether the refresh lists `repo`'s tags: it is inventoried, and on an incremental
    /// refresh it changed since its tags were last listed.
    fn needs_listing(
        &self,
        previous: &Snapshot,
        full: bool,
        namespace: &str,
        repo: &ListedRepository,
    ) -> bool {
        self.options.repository_filter.matches(&repo.name)
            && (full || !unchanged(previous, namespace, repo))
    }
}

/// Whether `repo` has the `last_updated` it had when its tags were last listed successfully.
fn unchanged(previous: &Snapshot, namespace: &str, repo: &ListedRepository) -> bool {
    let Some(known) = previous
        .namespaces
        .get(namespace)
        .and_then(|n| n.repositories.get(&repo.name))
    else {
        return false;
    };
    known.tags.is_some() && known.tags_as_of.is_some() && known.tags_as_of == repo.info.last_updated
}
