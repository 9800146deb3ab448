//! One refresh's reading: every namespace's repositories, then the tags of every repository
//! that needs listing, as many at once as the client's pacer allows, with progress reported
//! along the way.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use super::Refresher;
use crate::error::Error;
use crate::hub::ListedRepository;
use crate::inventory::{NamespaceRead, RepositoryRead, Snapshot, TagsRead};

/// How often a long refresh logs its progress.
const PROGRESS_EVERY: Duration = Duration::from_secs(10);

/// What one refresh read, before merging.
pub(super) struct Reads {
    pub(super) namespaces: BTreeMap<String, NamespaceRead>,
    pub(super) failures: Vec<(String, Error)>,
    pub(super) successes: usize,
}

impl Refresher {
    /// Reads every namespace; with `full` false, repositories whose `last_updated` is what it
    /// was at their last successful tag listing in `previous` are not listed again.
    pub(super) async fn read_all(&self, previous: &Snapshot, full: bool) -> Reads {
        let started = Instant::now();
        let requests_before = self.client.requests_sent();
        let waited_before = self.client.quota_wait();
        let mut reads = Reads {
            namespaces: BTreeMap::new(),
            failures: Vec::new(),
            successes: 0,
        };
        let mut by_namespace: BTreeMap<String, Vec<RepositoryRead>> = BTreeMap::new();
        let mut to_list: Vec<(String, ListedRepository)> = Vec::new();
        for ns in &self.options.namespaces {
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

        // Every tag listing is started at once; the client decides how many are read at once.
        let total = to_list.len();
        let mut tasks = JoinSet::new();
        for (ns, repo) in to_list.iter().cloned() {
            let client = std::sync::Arc::clone(&self.client);
            tasks.spawn(async move {
                let tags = client.list_tags(&ns, &repo.name).await;
                (ns, repo, tags)
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
            let Ok((ns, repo, tags)) = joined else {
                continue;
            };
            let tags = match tags {
                Ok(Some(tags)) => {
                    reads.successes += 1;
                    TagsRead::Listed(tags)
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
            reads.namespaces.insert(ns, NamespaceRead::Listed(repos));
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
