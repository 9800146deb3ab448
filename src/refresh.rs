//! The refresh loop: the only writer of the published inventory.
//!
//! At start and then every `--refresh.interval` (start to start) it lists every namespace,
//! then the tags of every repository, several at once within the client's limits, merges
//! what it read into the previous snapshot (failed listings keep their previous data), renders
//! the exposition once, and publishes the result through a `watch` channel. It never serves
//! HTTP and never formats text for a client itself.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, info, warn};

use crate::changes::{self, Change, Counters};
use crate::error::Error;
use crate::hub::Client;
use crate::inventory::{NamespaceRead, RepositoryRead, TagsRead};
use crate::metrics::{Published, RefreshResult, RefreshStatus, Telemetry};

/// The background task that keeps the inventory up to date.
#[derive(Debug)]
pub struct Refresher {
    client: Arc<Client>,
    namespaces: Vec<String>,
    interval: Duration,
    telemetry: Arc<Telemetry>,
    publish: watch::Sender<Arc<Published>>,
    counters: Arc<Mutex<Counters>>,
    state_file: Option<PathBuf>,
}

/// What one refresh read, before merging.
struct Reads {
    namespaces: BTreeMap<String, NamespaceRead>,
    failures: Vec<(String, Error)>,
    successes: usize,
}

impl Refresher {
    /// A refresher publishing into `publish`, counting changes into `counters` (which must
    /// already cover what `publish` holds) and saving each result to `state_file` if given.
    pub fn new(
        client: Arc<Client>,
        namespaces: Vec<String>,
        interval: Duration,
        telemetry: Arc<Telemetry>,
        publish: watch::Sender<Arc<Published>>,
        counters: Counters,
        state_file: Option<PathBuf>,
    ) -> Self {
        Refresher {
            client,
            namespaces,
            interval,
            telemetry,
            publish,
            counters: Arc::new(Mutex::new(counters)),
            state_file,
        }
    }

    /// Refreshes at once and then every interval until `shutdown` completes; a refresh in
    /// progress is abandoned at shutdown.
    pub async fn run(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = &mut shutdown => return,
                _ = ticker.tick() => {}
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.refresh() => {}
            }
        }
    }

    /// Runs one refresh and publishes its result.
    pub async fn refresh(&self) {
        let started = Instant::now();
        let previous = Arc::clone(&self.publish.borrow());
        self.client.begin_refresh().await;
        let reads = self.read_all().await;
        let result = match (reads.failures.is_empty(), reads.successes) {
            (true, _) => RefreshResult::Success,
            (false, 0) => RefreshResult::Failure,
            (false, _) => RefreshResult::Partial,
        };
        report_failures(&reads.failures);
        let status = RefreshStatus {
            result,
            finished: SystemTime::now(),
            duration: started.elapsed(),
        };
        let last_success = if result == RefreshResult::Success {
            Some(status.finished)
        } else {
            previous.last_success
        };
        let previous_snapshot = Arc::clone(&previous.snapshot);
        let was_ready = previous.ready;
        drop(previous);
        let counters = Arc::clone(&self.counters);
        let state_file = self.state_file.clone();
        // Merging, diffing, rendering and saving a large inventory takes a while; keep it off
        // the runtime's worker threads so that scrapes stay fast.
        let built = tokio::task::spawn_blocking(move || {
            let snapshot = Arc::new(previous_snapshot.merge(reads.namespaces));
            let changes = changes::diff(&previous_snapshot, &snapshot);
            let published = {
                let mut counters = counters.lock().unwrap_or_else(|e| e.into_inner());
                counters.count(&changes);
                counters.cover(&snapshot);
                Published::new(Arc::clone(&snapshot), Some(status), last_success, &counters)
            };
            if let Some(path) = state_file {
                save_state(&path, &snapshot, last_success);
            }
            (published, changes)
        })
        .await;
        let (mut published, changes) = match built {
            Ok(built) => built,
            Err(e) => {
                warn!(error = %e, "rendering the inventory failed; keeping the previous one");
                return;
            }
        };
        log_changes(&changes);
        published.ready |= was_ready;
        info!(
            result = result.as_str(),
            duration_seconds = status.duration.as_secs_f64(),
            repositories = published.snapshot.repositories().count(),
            tags = published.snapshot.tag_count(),
            failed_listings = reads.failures.len(),
            "refresh finished"
        );
        // Publish before counting: see `Telemetry::render`.
        self.publish.send_replace(Arc::new(published));
        self.telemetry.record_refresh(&status, last_success);
    }

    async fn read_all(&self) -> Reads {
        let mut reads = Reads {
            namespaces: BTreeMap::new(),
            failures: Vec::new(),
            successes: 0,
        };
        let mut listed = Vec::new();
        for ns in &self.namespaces {
            match self.client.list_repositories(ns).await {
                Ok(repos) => {
                    reads.successes += 1;
                    if repos.is_empty() {
                        warn!(
                            hub_namespace = %ns,
                            "the namespace has no repositories visible; check the namespace's name and, for private repositories, the token's scope"
                        );
                    }
                    listed.push((ns.clone(), repos));
                }
                Err(e) => {
                    debug!(hub_namespace = %ns, error = %e, "repository listing failed");
                    reads.failures.push((ns.clone(), e));
                    reads.namespaces.insert(ns.clone(), NamespaceRead::Failed);
                }
            }
        }
        // Every tag listing is started at once; the client's pacer decides how many run.
        let mut tasks = JoinSet::new();
        for (ns, repos) in &listed {
            for repo in repos {
                let client = Arc::clone(&self.client);
                let (ns, repo) = (ns.clone(), repo.clone());
                tasks.spawn(async move {
                    let tags = client.list_tags(&ns, &repo.name).await;
                    (ns, repo, tags)
                });
            }
        }
        let mut by_namespace: BTreeMap<String, Vec<RepositoryRead>> = listed
            .iter()
            .map(|(ns, _)| (ns.clone(), Vec::new()))
            .collect();
        while let Some(joined) = tasks.join_next().await {
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
        for (ns, repos) in &listed {
            for repo in repos {
                let done = by_namespace
                    .get(ns)
                    .is_some_and(|v| v.iter().any(|r| r.name == repo.name));
                if !done {
                    reads.failures.push((
                        format!("{ns}/{}", repo.name),
                        Error::Protocol {
                            url: repo.name.clone(),
                            reason: "the tag listing task did not complete".into(),
                        },
                    ));
                    let read = RepositoryRead {
                        name: repo.name.clone(),
                        info: repo.info.clone(),
                        tags: TagsRead::Failed,
                    };
                    by_namespace.entry(ns.clone()).or_default().push(read);
                }
            }
        }
        for (ns, repos) in by_namespace {
            reads.namespaces.insert(ns, NamespaceRead::Listed(repos));
        }
        reads
    }
}

fn save_state(
    path: &std::path::Path,
    snapshot: &crate::inventory::Snapshot,
    last_success: Option<SystemTime>,
) {
    if let Err(e) = crate::state::save(path, snapshot, last_success) {
        warn!(path = %path.display(), error = %e, "writing the state file failed; the previous one stays");
    }
}

/// Logs every change at info level, so that a person can see what happened without PromQL.
fn log_changes(changes: &[Change]) {
    for change in changes {
        match change {
            Change::TagAdded {
                namespace,
                repository,
                tag,
                digest,
            } => {
                info!(hub_namespace = %namespace, repository = %repository, tag = %tag, digest = %digest, "tag added")
            }
            Change::TagRemoved {
                namespace,
                repository,
                tag,
                digest,
            } => {
                info!(hub_namespace = %namespace, repository = %repository, tag = %tag, digest = %digest, "tag removed")
            }
            Change::TagDigestChanged {
                namespace,
                repository,
                tag,
                old_digest,
                new_digest,
            } => {
                info!(hub_namespace = %namespace, repository = %repository, tag = %tag, old_digest = %old_digest, new_digest = %new_digest, "tag digest changed")
            }
            Change::RepositoryAdded {
                namespace,
                repository,
            } => {
                info!(hub_namespace = %namespace, repository = %repository, "repository added")
            }
            Change::RepositoryRemoved {
                namespace,
                repository,
            } => {
                info!(hub_namespace = %namespace, repository = %repository, "repository removed")
            }
        }
    }
}

/// Logs the failures of one refresh once, grouped by kind, instead of once per request.
fn report_failures(failures: &[(String, Error)]) {
    let mut by_kind: BTreeMap<&str, Vec<&(String, Error)>> = BTreeMap::new();
    for f in failures {
        by_kind.entry(f.1.kind()).or_default().push(f);
    }
    for (kind, list) in by_kind {
        let (what, first) = list[0];
        warn!(
            kind,
            listings = list.len(),
            first = %what,
            error = %first,
            "listings failed; their previous data is kept"
        );
    }
}
