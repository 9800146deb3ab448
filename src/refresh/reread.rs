//! Re-reads of one repository between refreshes, asked for by a webhook or the audit log.
//!
//! [`Rereads`] is the handle others ask through: it says at once whether the repository is
//! inventoried, and queues the request (see `queue`, which folds requests by repository and
//! bounds them). One worker takes them as they come due: a repository asked for again within
//! `--refresh.repository-min-interval` of its last re-read is re-read once, when that time is
//! up; every repository due is re-read in one batch, several at once within the client's
//! limits (the same limiter and retries as a refresh, but behind the refresh's requests: a
//! refresh never waits for re-reads), and the batch is merged, counted, logged, rendered,
//! saved and published in one step, like a refresh. A re-read starts with the repository's
//! details, so a repository that does not exist costs that one request. See `activity` for
//! how re-reads and refreshes keep out of each other's way.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::activity::{Key, Start};
use super::audit::PendingCursor;
use super::queue::{Due, Offered, Queue};
use super::{Shared, report};
use crate::changes::{self, Change};
use crate::error::Error;
use crate::inventory::{NameFilter, RepositoryRead, Reread, TagsRead};
use crate::publication::Published;

/// What asked for a re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Cause {
    /// A Docker Hub webhook (a push).
    Webhook,
    /// An audit-log event.
    AuditLog,
}

impl Cause {
    fn as_str(self) -> &'static str {
        match self {
            Cause::Webhook => "webhook",
            Cause::AuditLog => "audit_log",
        }
    }
}

/// How one re-read ended, as `dockerhub_repository_rereads_total` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum RereadResult {
    /// Read and merged.
    Success,
    /// A request failed; what was known is kept.
    Failure,
    /// Not needed: the running refresh lists the repository from its first page.
    Skipped,
}

impl RereadResult {
    /// Every result, in the order the metric lists them.
    pub(crate) const ALL: [RereadResult; 3] = [
        RereadResult::Success,
        RereadResult::Failure,
        RereadResult::Skipped,
    ];

    /// The value of the `result` label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RereadResult::Success => "success",
            RereadResult::Failure => "failure",
            RereadResult::Skipped => "skipped",
        }
    }
}

/// Who changed what, as an audit-log event tells: logged with the changes a re-read finds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Actor {
    /// The tag the event is about, if any.
    pub(crate) tag: Option<String>,
    /// The account that made the change.
    pub(crate) name: String,
}

/// Which repositories are inventoried: those of the listed namespaces that the repository
/// filter lets through, and those named on their own.
#[derive(Debug, Clone)]
pub(super) struct Scope {
    namespaces: Vec<String>,
    named: Vec<(String, String)>,
    filter: NameFilter,
}

impl Scope {
    pub(super) fn new(
        namespaces: Vec<String>,
        named: Vec<(String, String)>,
        filter: NameFilter,
    ) -> Scope {
        Scope {
            namespaces,
            named,
            filter,
        }
    }

    /// Whether `namespace/repository` is inventoried.
    pub(super) fn contains(&self, namespace: &str, repository: &str) -> bool {
        (self.namespaces.iter().any(|n| n == namespace) && self.filter.matches(repository))
            || self
                .named
                .iter()
                .any(|(n, r)| n == namespace && r == repository)
    }

    /// Whether `namespace` is one of repositories named on their own (not listed).
    fn is_named_only(&self, namespace: &str) -> bool {
        !self.namespaces.iter().any(|n| n == namespace)
    }
}

/// What became of a request for a re-read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Asked {
    /// Queued, or folded into a re-read of the repository already waiting.
    Queued,
    /// The repository is not inventoried; nothing was asked.
    NotInventoried,
    /// Too many re-reads are waiting (see [`Queue::limit`]); the repository is left to the
    /// next refresh.
    QueueFull,
}

/// Asks for re-reads; cheap to clone.
#[derive(Clone)]
pub(crate) struct Rereads {
    queue: Arc<Queue>,
    scope: Arc<Scope>,
}

impl Rereads {
    /// A handle on an empty queue of re-reads at least `min_interval` apart.
    pub(super) fn new(scope: Scope, min_interval: Duration) -> Rereads {
        Rereads {
            queue: Arc::new(Queue::new(min_interval)),
            scope: Arc::new(scope),
        }
    }

    /// The inventory last published holds `repositories` repositories, which bounds the
    /// queue (see [`Queue::limit`]).
    pub(super) fn set_inventoried(&self, repositories: usize) {
        self.queue.set_inventoried(repositories);
    }

    /// Asks for a re-read of `namespace/repository`.
    pub(crate) fn request(
        &self,
        namespace: &str,
        repository: &str,
        cause: Cause,
        actors: Vec<Actor>,
    ) -> Asked {
        self.request_then(namespace, repository, cause, actors, None)
    }

    /// [`Rereads::request`], and once the re-read is done (merged, failed or not needed),
    /// `cursor` is how far that namespace's audit log has been read. Only a webhook's request
    /// is ever turned away for a full queue.
    pub(super) fn request_then(
        &self,
        namespace: &str,
        repository: &str,
        cause: Cause,
        actors: Vec<Actor>,
        cursor: Option<Arc<PendingCursor>>,
    ) -> Asked {
        if !self.scope.contains(namespace, repository) {
            return Asked::NotInventoried;
        }
        let key = (namespace.to_string(), repository.to_string());
        let bounded = cause == Cause::Webhook;
        match self
            .queue
            .offer(key, cause, actors, cursor.into_iter().collect(), bounded)
        {
            Offered::Taken => Asked::Queued,
            Offered::Full => {
                debug!(
                    hub_namespace = %namespace,
                    repository = %repository,
                    cause = cause.as_str(),
                    limit = self.queue.limit(),
                    reason = "too many re-reads are waiting",
                    "re-read not queued; the repository is left to the next refresh"
                );
                Asked::QueueFull
            }
        }
    }
}

/// Takes the re-reads as they come due, in batches, until the task is dropped.
pub(super) async fn work(shared: Arc<Shared>, handle: Rereads) {
    loop {
        let batch = handle.queue.take_due().await;
        let now = Instant::now();
        let started = run_batch(&shared, &handle, batch).await;
        handle.queue.done(started, now);
    }
}

/// What a re-read of one repository found.
enum Found {
    /// Read: merge it.
    Read(Reread),
    /// A request failed: keep what is known.
    Failed(Error),
}

/// Re-reads every repository of `batch` and publishes the result; the repositories it read
/// (or tried to).
///
/// The reads are background work for the client (see `hub::in_background`): they wait while
/// a refresh wants the quota, so that a flood of webhooks cannot delay a refresh.
async fn run_batch(shared: &Arc<Shared>, handle: &Rereads, batch: Vec<(Key, Due)>) -> Vec<Key> {
    let mut guards = Vec::new();
    let mut tasks = JoinSet::new();
    let mut actors: HashMap<Key, Vec<Actor>> = HashMap::new();
    let mut cursors = Vec::new();
    let mut started = Vec::new();
    for (key, due) in batch {
        match shared.activity.begin_reread(&key, due.cause) {
            Start::Skip => {
                debug!(hub_namespace = %key.0, repository = %key.1, "re-read not needed: the running refresh lists the repository");
                shared.observer.reread(RereadResult::Skipped);
                commit_cursors(shared, due.cursors);
            }
            Start::Busy => {
                // Asked again once the reader is done; the request keeps its place otherwise.
                let shared = Arc::clone(shared);
                let handle = handle.clone();
                tokio::spawn(async move {
                    shared.activity.until_idle(&key).await;
                    // Taken once already: never turned away now.
                    handle
                        .queue
                        .offer(key, due.cause, due.actors, due.cursors, false);
                });
            }
            Start::Go(guard) => {
                info!(hub_namespace = %key.0, repository = %key.1, cause = due.cause.as_str(), "re-reading a repository");
                let stamp = guard.stamp;
                guards.push(guard);
                started.push(key.clone());
                actors.insert(key.clone(), due.actors);
                cursors.extend(due.cursors);
                let reader = Arc::clone(shared);
                let named_only = shared.scope.is_named_only(&key.0);
                tasks.spawn(crate::hub::in_background(async move {
                    let found = read_one(&reader, &key, named_only).await;
                    (key, stamp, found)
                }));
            }
        }
    }
    if started.is_empty() {
        return started;
    }
    let requests_before = shared.client.requests_sent();
    let mut reads = Vec::new();
    while let Some(joined) = tasks.join_next().await {
        let Ok((key, stamp, found)) = joined else {
            shared.observer.reread(RereadResult::Failure);
            continue;
        };
        match found {
            Found::Read(read) => reads.push((key, stamp, read)),
            Found::Failed(e) => {
                warn!(hub_namespace = %key.0, repository = %key.1, error = %e, "re-reading a repository failed; what was known is kept");
                shared.observer.listing_failed(e.kind());
                shared.observer.reread(RereadResult::Failure);
            }
        }
    }
    let (changes, merged, stale) = merge(shared, reads, cursors).await;
    for _ in 0..merged {
        shared.observer.reread(RereadResult::Success);
    }
    for _ in 0..stale {
        shared.observer.reread(RereadResult::Skipped);
    }
    report::log_changes(&changes, |change| actor_of(&actors, change));
    debug!(
        repositories = merged,
        changes = changes.len(),
        requests = shared.client.requests_sent() - requests_before,
        "re-reads merged"
    );
    // The re-reads end once merged, so a refresh's listing of these repositories starts
    // after them and is merged after them.
    drop(guards);
    started
}

/// Reads one repository's details and then its tags. A repository named on its own whose
/// details are not found is kept, as a refresh keeps it.
async fn read_one(shared: &Shared, (namespace, name): &Key, named_only: bool) -> Found {
    let client = &shared.client;
    let repo = match client.get_repository(namespace, name).await {
        Ok(repo) => repo,
        Err(Error::NotFound { .. }) if !named_only => {
            return Found::Read(Reread::Gone(name.clone()));
        }
        Err(e) => return Found::Failed(e),
    };
    let tags = match client.list_tags(namespace, name).await {
        Ok(Some(listing)) => {
            if let Some(count) = listing.capped {
                shared
                    .capped
                    .warn_once(namespace, name, listing.tags.len(), count);
            }
            TagsRead::listed(listing.tags, listing.capped, None)
        }
        Ok(None) => return Found::Read(Reread::Gone(name.clone())),
        Err(e) => return Found::Failed(e),
    };
    Found::Read(Reread::Read(RepositoryRead {
        name: repo.name,
        info: repo.info,
        tags,
    }))
}

/// Merges the reads into the published snapshot and publishes it; the changes found, how
/// many reads were merged, and how many were left out as older than what is published (a
/// refresh merged in the meantime read the repository later).
///
/// The audit-log `cursors` of these re-reads are committed before the state file is written,
/// so that the file never holds their changes without their events.
async fn merge(
    shared: &Arc<Shared>,
    reads: Vec<(Key, u64, Reread)>,
    cursors: Vec<Arc<PendingCursor>>,
) -> (Vec<Change>, usize, usize) {
    // Repositories found absent that the inventory never held change nothing: nothing to
    // render, save or publish, so that webhooks for made-up names cost only their requests.
    if cursors.is_empty() {
        let current = Arc::clone(&shared.publish.borrow());
        let never_held = |((namespace, name), _, read): &(Key, u64, Reread)| {
            matches!(read, Reread::Gone(_))
                && !current
                    .snapshot
                    .namespaces
                    .get(namespace)
                    .is_some_and(|ns| ns.repositories.contains_key(name))
        };
        if reads.iter().all(never_held) {
            return (Vec::new(), reads.len(), 0);
        }
    }
    let mut writer = Arc::clone(&shared.writer).lock_owned().await;
    let current = Arc::clone(&shared.publish.borrow());
    let shared_for_build = Arc::clone(shared);
    let built = tokio::task::spawn_blocking(move || {
        let shared = shared_for_build;
        let mut next = (*current.snapshot).clone();
        let (mut merged, mut stale) = (0, 0);
        for (key, stamp, read) in reads {
            if writer.newest(&key).is_some_and(|newest| newest > stamp) {
                debug!(hub_namespace = %key.0, repository = %key.1, "re-read left out: a later read of the repository is merged already");
                stale += 1;
                continue;
            }
            let create = shared.scope.is_named_only(&key.0);
            if next.apply_reread(&key.0, read, create) {
                writer.rereads.insert(key, stamp);
                merged += 1;
            } else {
                debug!(hub_namespace = %key.0, repository = %key.1, "re-read left for the first refresh: the namespace was never listed");
                stale += 1;
            }
        }
        let next = Arc::new(next);
        let changes = changes::diff(
            &current.snapshot,
            &next,
            &shared.options.render.tag_filter,
        );
        let mut published = {
            writer.counters.count(&changes);
            writer.counters.cover(&next);
            writer.history.record(&changes, SystemTime::now());
            Published::new(
                Arc::clone(&next),
                current.last_refresh,
                current.last_success,
                &writer.counters,
                &writer.history,
                &shared.options.render,
            )
        };
        published.ready = current.ready;
        commit_cursors(&shared, cursors);
        shared.save_state(&next, current.last_success, &writer.history);
        let exposition_failed = published.exposition_failed();
        shared.publish.send_replace(Arc::new(published));
        if exposition_failed {
            shared.observer.exposition_failed();
        }
        drop(writer);
        (changes, merged, stale)
    })
    .await;
    match built {
        Ok(built) => built,
        Err(e) => {
            warn!(error = %e, "merging re-reads failed; keeping the previous inventory");
            (Vec::new(), 0, 0)
        }
    }
}

/// These re-reads asked for by audit-log events are done (see [`PendingCursor`]).
fn commit_cursors(shared: &Shared, cursors: Vec<Arc<PendingCursor>>) {
    for cursor in cursors {
        cursor.done(&shared.audit_cursors);
    }
}

/// The actor an audit-log event named for the tag (or, failing that, the repository) of
/// `change`.
fn actor_of<'a>(actors: &'a HashMap<Key, Vec<Actor>>, change: &Change) -> Option<&'a str> {
    let (namespace, repository, tag) = change.subject();
    let known = actors.get(&(namespace.to_string(), repository.to_string()))?;
    known
        .iter()
        .rev()
        .find(|a| tag.is_some() && a.tag.as_deref() == tag)
        .or_else(|| known.iter().rev().find(|a| a.tag.is_none()))
        .or_else(|| tag.is_none().then(|| known.last()).flatten())
        .map(|a| a.name.as_str())
}
