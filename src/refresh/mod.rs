//! The refresh loop and the re-reads between refreshes: together the only writer of the
//! published inventory.
//!
//! At start it restores what the state file holds (see `restore`), then refreshes at once and
//! every `--refresh.interval` (start to start): it lists every namespace and, as each page of
//! repositories arrives, the tags of its repositories, several at once within the client's
//! limits (see `read`), merges what it
//! read into the published snapshot (failed listings keep their previous data), counts and
//! logs the changes, renders the exposition once, saves the state file, and publishes the
//! result through a `watch` channel. Between refreshes, webhooks and the audit log (see
//! `audit`) ask for re-reads of single repositories (see `reread`), merged and published the
//! same way; `activity` keeps the two from reading one repository at once, and tells whose
//! read is newer when both are merged. It reports what it does through an [`Observer`]; it
//! never serves HTTP and never formats text for a client itself.

mod activity;
mod audit;
mod once;
mod queue;
mod read;
mod report;
mod reread;
mod restore;

pub(crate) use reread::{Asked, Cause, RereadResult, Rereads};

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tracing::{debug, info, warn};

use crate::changes::{self, Counters, History};
use crate::error::ErrorKind;
use crate::hub::Client;
use crate::inventory::NameFilter;
use crate::publication::{Published, RefreshResult, RefreshStatus, render};
use crate::state::AuditCursor;
use std::collections::{BTreeMap, HashMap};

/// What the refresh needs to know: what to read, how often, how to render it and where to
/// keep it.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Namespaces to inventory, without duplicates.
    pub(crate) namespaces: Vec<String>,
    /// Repositories read on their own (`--hub.repository`), as namespace and name, none of
    /// them in `namespaces`.
    pub(crate) repositories: Vec<(String, String)>,
    /// From the start of one refresh to the start of the next.
    pub(crate) interval: Duration,
    /// Full walks at most this far apart; `None`: every refresh is a full walk.
    pub(crate) full_interval: Option<Duration>,
    /// Which repositories are inventoried.
    pub(crate) repository_filter: NameFilter,
    /// What the exposition holds; its tag filter also decides which tags' changes count.
    pub(crate) render: render::Options,
    /// Where the inventory is kept across restarts, if anywhere.
    pub(crate) state_file: Option<PathBuf>,
    /// Time between two reads of each audit log; `None`: audit logs are not read.
    pub(crate) audit_log_interval: Option<Duration>,
    /// Re-reads of one repository at least this far apart.
    pub(crate) repository_min_interval: Duration,
}

/// Receives what the refresh does, as it does it.
pub(crate) trait Observer: Send + Sync {
    /// The state file said a refresh last read everything at `last_success`.
    fn restored(&self, last_success: SystemTime);

    /// The running refresh has come this far, from 0 to 1.
    fn progress(&self, ratio: f64);

    /// `done` of the `total` tag listings of the running refresh are over; by default, told
    /// as [`progress`](Observer::progress).
    fn listings_done(&self, done: usize, total: usize) {
        self.progress(done as f64 / total as f64);
    }

    /// A listing failed with an error of this kind.
    fn listing_failed(&self, kind: ErrorKind);

    /// A refresh finished, and its result is already published.
    fn finished(&self, status: &RefreshStatus, last_success: Option<SystemTime>);

    /// A re-read of one repository ended so.
    fn reread(&self, result: RereadResult);

    /// A publication's compressed exposition failed its check, so that it is served
    /// uncompressed until the next publication.
    fn exposition_failed(&self);
}

/// The background tasks that keep the inventory up to date.
pub(crate) struct Refresher {
    shared: Arc<Shared>,
    rereads: Rereads,
}

/// What the refresh and the re-reads share.
pub(super) struct Shared {
    client: Arc<Client>,
    options: Options,
    observer: Arc<dyn Observer>,
    publish: watch::Sender<Arc<Published>>,
    /// Held while a refresh or a batch of re-reads merges and publishes, so that each merges
    /// into what the other published.
    writer: Arc<tokio::sync::Mutex<Writer>>,
    /// Who is reading which repository.
    activity: activity::Activity,
    /// Which repositories are inventoried.
    scope: reread::Scope,
    /// How far each namespace's audit log has been read.
    audit_cursors: Mutex<BTreeMap<String, AuditCursor>>,
    /// When the last full walk that read everything started.
    last_full: Mutex<Option<Instant>>,
    /// Asks for re-reads, of repositories whose re-read a refresh took over and could not do.
    rereads: Rereads,
    /// The repositories whose capped listing the log has told of.
    capped: report::Capped,
}

/// What only the one merging may touch.
pub(super) struct Writer {
    /// The change counters.
    counters: Counters,
    /// The recent changes.
    history: History,
    /// The stamps of the re-reads merged since the last refresh was merged, by repository.
    rereads: HashMap<activity::Key, u64>,
    /// The stamps of what the last refresh merged read.
    refreshed: read::Stamps,
}

impl Writer {
    /// The stamp of the newest read of `key` merged so far, if any is known.
    fn newest(&self, key: &activity::Key) -> Option<u64> {
        let reread = self.rereads.get(key).copied();
        let refreshed = self.refreshed.stamp_of(key);
        reread.max(refreshed)
    }
}

impl Refresher {
    /// A refresher reading through `client`, with the inventory of the state file (if any)
    /// already published; the receiver gets every publication from now on.
    pub(crate) fn new(
        client: Arc<Client>,
        options: Options,
        observer: Arc<dyn Observer>,
    ) -> (Refresher, watch::Receiver<Arc<Published>>) {
        let restored = restore::restore(&options, observer.as_ref());
        let inventoried = restored.published.snapshot.repositories().count();
        let (publish, published) = watch::channel(Arc::new(restored.published));
        let scope = reread::Scope::new(
            options.namespaces.clone(),
            options.repositories.clone(),
            options.repository_filter.clone(),
        );
        let rereads = Rereads::new(scope.clone(), options.repository_min_interval);
        rereads.set_inventoried(inventoried);
        let shared = Arc::new(Shared {
            client,
            options,
            observer,
            publish,
            writer: Arc::new(tokio::sync::Mutex::new(Writer {
                counters: restored.counters,
                history: restored.history,
                rereads: HashMap::new(),
                refreshed: read::Stamps::default(),
            })),
            activity: activity::Activity::default(),
            scope,
            audit_cursors: Mutex::new(restored.audit_log),
            last_full: Mutex::new(None),
            rereads: rereads.clone(),
            capped: report::Capped::default(),
        });
        let refresher = Refresher { shared, rereads };
        (refresher, published)
    }

    /// The handle through which webhooks ask for re-reads.
    pub(crate) fn rereads(&self) -> Rereads {
        self.rereads.clone()
    }

    /// Refreshes at once and then every interval, re-reads what is asked for in between, and
    /// reads the audit logs if asked to, until `shutdown` completes; what is in progress then
    /// is abandoned.
    pub(crate) async fn run(self, shutdown: impl Future<Output = ()>) {
        let Refresher { shared, rereads } = self;
        let refreshes =
            crate::shutdown::every(shared.options.interval, std::future::pending(), || {
                shared.refresh()
            });
        let worker = reread::work(Arc::clone(&shared), rereads.clone());
        let audit = async {
            match shared.options.audit_log_interval {
                Some(every) => audit::poll(&shared, &rereads, every).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = shutdown => {}
            _ = refreshes => {}
            _ = worker => {}
            _ = audit => {}
        }
    }
}

impl Shared {
    /// Saves the state file, if there is one, with the audit-log cursors as they are now.
    fn save_state(
        &self,
        snapshot: &crate::inventory::Snapshot,
        last_success: Option<SystemTime>,
        history: &History,
    ) {
        if let Some(path) = &self.options.state_file {
            let cursors = self
                .audit_cursors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            report::save_state(path, snapshot, last_success, &cursors, history);
        }
    }

    /// Whether this refresh must list every repository's tags.
    fn full_walk_due(&self) -> bool {
        let last = *self.last_full.lock().unwrap_or_else(|e| e.into_inner());
        match (self.options.full_interval, last) {
            (Some(every), Some(last)) => last.elapsed() >= every,
            _ => true,
        }
    }

    /// Runs one refresh and publishes its result.
    async fn refresh(self: &Arc<Self>) {
        let started = Instant::now();
        let requests_before = self.client.requests_sent();
        let full = self.full_walk_due();
        self.observer.progress(0.0);
        self.client.begin_refresh().await;
        let reads = {
            // Whatever the refresh marked is done when it ends, also when it is abandoned.
            let _over = RefreshOver(&self.activity);
            let previous = Arc::clone(&self.publish.borrow().snapshot);
            self.read_all(&previous, full).await
        };
        // Re-reads skipped because this refresh was to list their repository are asked for
        // again where that listing failed: what they announced is not left to the next
        // refresh.
        for (key, cause) in self.activity.take_skipped() {
            if !reads.stamps.listed(&key) {
                debug!(hub_namespace = %key.0, repository = %key.1, "the refresh could not list a repository whose re-read it had taken over; re-reading it");
                // An audit-log cause is never turned away; a webhook's is left to the next
                // refresh when too many re-reads wait.
                let _ = self.rereads.request(&key.0, &key.1, cause, Vec::new());
            }
        }
        let result = match (reads.failures.is_empty(), reads.successes) {
            (true, _) => RefreshResult::Success,
            (false, 0) => RefreshResult::Failure,
            (false, _) => RefreshResult::Partial,
        };
        if full && result == RefreshResult::Success {
            *self.last_full.lock().unwrap_or_else(|e| e.into_inner()) = Some(started);
        }
        report::report_failures(&reads.failures);
        for (_, error) in &reads.failures {
            self.observer.listing_failed(error.kind());
        }
        let status = RefreshStatus {
            result,
            finished: SystemTime::now(),
            duration: started.elapsed(),
            requests: self.client.requests_sent() - requests_before,
        };
        let failed_listings = reads.failures.len();
        // Merged into what is published now, which re-reads may have changed since the
        // refresh began.
        let mut writer = Arc::clone(&self.writer).lock_owned().await;
        let current = Arc::clone(&self.publish.borrow());
        let last_success = if result == RefreshResult::Success {
            Some(status.finished)
        } else {
            current.last_success
        };
        // Merging, diffing, rendering and saving a large inventory takes a while; keep it off
        // the runtime's worker threads so that scrapes stay fast.
        let shared = Arc::clone(self);
        let built = tokio::task::spawn_blocking(move || {
            let render = &shared.options.render;
            let rereads = std::mem::take(&mut writer.rereads);
            // A repository re-read after this refresh read it keeps the re-read's data.
            let newer: Vec<&activity::Key> = rereads
                .iter()
                .filter(|(key, stamp)| {
                    reads
                        .stamps
                        .stamp_of(key)
                        .is_some_and(|read| **stamp > read)
                })
                .map(|(key, _)| key)
                .collect();
            let mut next = current.snapshot.merge(reads.namespaces);
            next.keep_repositories(
                &current.snapshot,
                newer.iter().map(|(ns, r)| (ns.as_str(), r.as_str())),
            );
            let snapshot = Arc::new(next);
            writer.refreshed = reads.stamps;
            let changes = changes::diff(&current.snapshot, &snapshot, &render.tag_filter);
            let rendering = Instant::now();
            writer.counters.count(&changes);
            writer.counters.cover(&snapshot);
            writer.history.record(&changes, SystemTime::now());
            let mut published = Published::new(
                Arc::clone(&snapshot),
                Some(status),
                last_success,
                &writer.counters,
                &writer.history,
                render,
            );
            published.ready |= current.ready;
            let render_seconds = rendering.elapsed().as_secs_f64();
            shared.save_state(&snapshot, last_success, &writer.history);
            (published, changes, render_seconds, writer)
        })
        .await;
        let (published, changes, render_seconds, writer) = match built {
            Ok(built) => built,
            Err(e) => {
                warn!(error = %e, "rendering the inventory failed; keeping the previous one");
                return;
            }
        };
        report::log_changes(&changes, |_| None);
        let repositories = published.snapshot.repositories().count();
        self.rereads.set_inventoried(repositories);
        info!(
            result = result.as_str(),
            full_walk = full,
            duration_seconds = status.duration.as_secs_f64(),
            requests = status.requests,
            repositories,
            tags = published.snapshot.tag_count(),
            failed_listings,
            render_seconds,
            exposition_bytes = published.exposition_len(),
            exposition_deflated_bytes = published.deflated_len(),
            "refresh finished"
        );
        let exposition_failed = published.exposition_failed();
        // Publish before counting: see `publication::scrape`.
        self.publish.send_replace(Arc::new(published));
        if exposition_failed {
            self.observer.exposition_failed();
        }
        drop(writer);
        self.observer.finished(&status, last_success);
        self.observer.progress(1.0);
    }
}

/// Ends the refresh's marks on the repositories it was to read, when dropped.
struct RefreshOver<'a>(&'a activity::Activity);

impl Drop for RefreshOver<'_> {
    fn drop(&mut self) {
        self.0.refresh_over();
    }
}
