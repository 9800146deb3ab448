//! One refresh's reading: every namespace's repositories and the details of every repository
//! named on its own, then the tags of every repository that needs listing, as many at once as
//! the client allows, with progress reported along the way.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::Shared;
use super::activity::Key;
use crate::error::Error;
use crate::hub::ListedRepository;
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
    /// The stamp of this refresh's newest read of `key`: its tags or details, or else its
    /// namespace's listing; `None` when the refresh read nothing of it.
    pub(super) fn stamp_of(&self, key: &Key) -> Option<u64> {
        self.repositories
            .get(key)
            .or_else(|| self.namespaces.get(&key.0))
            .copied()
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
        let mut to_list: Vec<(String, ListedRepository)> = Vec::new();
        for ns in &self.options.namespaces {
            reads
                .stamps
                .namespaces
                .insert(ns.clone(), self.activity.stamp());
            let repos = match self.client.list_repositories(ns).await {
                Ok(repos) => repos,
                Err(e) => {
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
                let tags = if !self.options.repository_filter.matches(&repo.name) {
                    TagsRead::Skipped
                } else if !full && unchanged(previous, ns, &repo) {
                    reads.successes += 1;
                    TagsRead::Unchanged
                } else {
                    to_list.push((ns.clone(), repo));
                    continue;
                };
                settled.push(RepositoryRead {
                    name: repo.name,
                    info: repo.info,
                    tags,
                });
            }
        }

        // Repositories named on their own: their details, all asked for at once.
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
                Ok(repo) => to_list.push((ns, repo)),
                Err(e) => {
                    debug!(hub_namespace = %ns, repository = %name, error = %e, "repository details failed");
                    reads.failures.push((format!("{ns}/{name}"), e));
                    kept.entry(ns).or_default().push(name);
                }
            }
        }
        // A details task that did not complete keeps what was known, like a failed read.
        for (ns, name) in &self.options.repositories {
            let read = by_namespace
                .get(ns)
                .is_some_and(|repos| repos.iter().any(|r| &r.name == name))
                || to_list.iter().any(|(n, r)| n == ns && &r.name == name)
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

        // Every tag listing is started at once; the client decides how many are read at once.
        // A re-read asked for before a listing sends its first request is not needed.
        let total = to_list.len();
        let keys: Vec<Key> = to_list
            .iter()
            .map(|(ns, repo)| (ns.clone(), repo.name.clone()))
            .collect();
        self.activity.refresh_pending(&keys);
        let mut tasks = JoinSet::new();
        for (ns, repo) in to_list.iter().cloned() {
            let shared = Arc::clone(self);
            tasks.spawn(async move {
                let key = (ns, repo.name.clone());
                shared.activity.refresh_wait(&key).await;
                let stamp = std::sync::atomic::AtomicU64::new(0);
                let tags = shared
                    .client
                    .list_tags_noting_start(&key.0, &repo.name, || {
                        stamp.store(
                            shared.activity.refresh_reading(&key),
                            std::sync::atomic::Ordering::Relaxed,
                        );
                    })
                    .await;
                shared.activity.refresh_done(&key);
                let stamp = stamp.into_inner();
                (key.0, repo, stamp, tags)
            });
        }
        let mut done = 0usize;
        let mut progress =
            tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_EVERY, PROGRESS_EVERY);
        loop {
            let joined = tokio::select! {
                joined = tasks.join_next() => joined,
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
            self.observer.progress(done as f64 / total as f64);
            // A listing task that did not complete is made up for below.
            let Ok((ns, repo, stamp, tags)) = joined else {
                continue;
            };
            if stamp != 0 && tags.is_ok() {
                reads
                    .stamps
                    .repositories
                    .insert((ns.clone(), repo.name.clone()), stamp);
            }
            let tags = match tags {
                Ok(Some(tags)) => {
                    reads.successes += 1;
                    let known = previous
                        .namespaces
                        .get(&ns)
                        .and_then(|n| n.repositories.get(&repo.name));
                    TagsRead::listed(tags, known)
                }
                Ok(None) => {
                    reads.successes += 1;
                    debug!(hub_namespace = %ns, repository = %repo.name, "repository gone while listing");
                    TagsRead::Gone
                }
                Err(e) => {
                    debug!(hub_namespace = %ns, repository = %repo.name, error = %e, "tag listing failed");
                    reads.failures.push((format!("{ns}/{}", repo.name), e));
                    TagsRead::Failed
                }
            };
            by_namespace.entry(ns).or_default().push(RepositoryRead {
                name: repo.name,
                info: repo.info,
                tags,
            });
        }
        for (ns, repo) in to_list {
            let settled = by_namespace.entry(ns.clone()).or_default();
            if !settled.iter().any(|r| r.name == repo.name) {
                reads.failures.push((
                    format!("{ns}/{}", repo.name),
                    Error::Task {
                        listing: format!("{ns}/{}", repo.name),
                        reason: "the tag listing task panicked or was cancelled".into(),
                    },
                ));
                settled.push(RepositoryRead {
                    name: repo.name,
                    info: repo.info,
                    tags: TagsRead::Failed,
                });
            }
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
