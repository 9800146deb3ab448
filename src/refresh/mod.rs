//! The refresh loop: the only writer of the published inventory.
//!
//! At start it restores what the state file holds (see `restore`), then refreshes at once and
//! every `--refresh.interval` (start to start): it lists every namespace, then the tags of
//! every repository, several at once within the client's limits (see `read`), merges what it
//! read into the previous snapshot (failed listings keep their previous data), counts and
//! logs the changes, renders the exposition once, saves the state file, and publishes the
//! result through a `watch` channel. It reports what it does through an [`Observer`]; it
//! never serves HTTP and never formats text for a client itself.

mod read;
mod report;
mod restore;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tracing::{info, warn};

use crate::changes::{self, Counters};
use crate::error::ErrorKind;
use crate::hub::Client;
use crate::inventory::NameFilter;
use crate::publication::{Published, RefreshResult, RefreshStatus, render};

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
}

/// Receives what the refresh does, as it does it.
pub(crate) trait Observer: Send + Sync {
    /// The state file said a refresh last read everything at `last_success`.
    fn restored(&self, last_success: SystemTime);

    /// The running refresh has come this far, from 0 to 1.
    fn progress(&self, ratio: f64);

    /// A listing failed with an error of this kind.
    fn listing_failed(&self, kind: ErrorKind);

    /// A refresh finished, and its result is already published.
    fn finished(&self, status: &RefreshStatus, last_success: Option<SystemTime>);
}

/// The background task that keeps the inventory up to date.
pub(crate) struct Refresher {
    client: Arc<Client>,
    options: Options,
    observer: Arc<dyn Observer>,
    publish: watch::Sender<Arc<Published>>,
    counters: Arc<Mutex<Counters>>,
    /// When the last full walk that read everything started.
    last_full: Mutex<Option<Instant>>,
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
        let (publish, published) = watch::channel(Arc::new(restored.published));
        let refresher = Refresher {
            client,
            options,
            observer,
            publish,
            counters: Arc::new(Mutex::new(restored.counters)),
            last_full: Mutex::new(None),
        };
        (refresher, published)
    }

    /// Refreshes at once and then every interval until `shutdown` completes; a refresh in
    /// progress is abandoned at shutdown.
    pub(crate) async fn run(self, shutdown: impl Future<Output = ()>) {
        crate::shutdown::every(self.options.interval, shutdown, || self.refresh()).await;
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
    async fn refresh(&self) {
        let started = Instant::now();
        let requests_before = self.client.requests_sent();
        let previous = Arc::clone(&self.publish.borrow());
        let full = self.full_walk_due();
        self.observer.progress(0.0);
        self.client.begin_refresh().await;
        let reads = self.read_all(&previous.snapshot, full).await;
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
        let state_file = self.options.state_file.clone();
        let render = self.options.render.clone();
        // Merging, diffing, rendering and saving a large inventory takes a while; keep it off
        // the runtime's worker threads so that scrapes stay fast.
        let built = tokio::task::spawn_blocking(move || {
            let snapshot = Arc::new(previous_snapshot.merge(reads.namespaces));
            let changes = changes::diff(&previous_snapshot, &snapshot, &render.tag_filter);
            let rendering = Instant::now();
            let published = {
                let mut counters = counters.lock().unwrap_or_else(|e| e.into_inner());
                counters.count(&changes);
                counters.cover(&snapshot);
                let snapshot = Arc::clone(&snapshot);
                Published::new(snapshot, Some(status), last_success, &counters, &render)
            };
            let render_seconds = rendering.elapsed().as_secs_f64();
            if let Some(path) = state_file {
                report::save_state(&path, &snapshot, last_success);
            }
            (published, changes, render_seconds)
        })
        .await;
        let (mut published, changes, render_seconds) = match built {
            Ok(built) => built,
            Err(e) => {
                warn!(error = %e, "rendering the inventory failed; keeping the previous one");
                return;
            }
        };
        report::log_changes(&changes);
        published.ready |= was_ready;
        info!(
            result = result.as_str(),
            full_walk = full,
            duration_seconds = status.duration.as_secs_f64(),
            requests = self.client.requests_sent() - requests_before,
            repositories = published.snapshot.repositories().count(),
            tags = published.snapshot.tag_count(),
            failed_listings = reads.failures.len(),
            render_seconds,
            exposition_bytes = published.exposition_len(),
            "refresh finished"
        );
        // Publish before counting: see `publication::scrape`.
        self.publish.send_replace(Arc::new(published));
        self.observer.finished(&status, last_success);
        self.observer.progress(1.0);
    }
}
