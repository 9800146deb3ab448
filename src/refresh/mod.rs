//! The refresh loop: the only writer of the published inventory.
//!
//! At start and then every `--refresh.interval` (start to start) it lists every namespace,
//! then the tags of every repository, several at once within the client's limits (see
//! `read`), merges what it read into the previous snapshot (failed listings keep their
//! previous data), counts and logs the changes, renders the exposition once, saves the state
//! file, and publishes the result through a `watch` channel. It never serves HTTP and never
//! formats text for a client itself.

mod read;
mod report;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::watch;
use tracing::{info, warn};

use crate::changes::{self, Counters};
use crate::config::{Config, NameFilter};
use crate::hub::Client;
use crate::metrics::render::Options;
use crate::metrics::{Published, RefreshResult, RefreshStatus, Telemetry};

/// The background task that keeps the inventory up to date.
#[derive(Debug)]
pub struct Refresher {
    client: Arc<Client>,
    namespaces: Vec<String>,
    interval: Duration,
    full_interval: Option<Duration>,
    repository_filter: NameFilter,
    render: Options,
    telemetry: Arc<Telemetry>,
    publish: watch::Sender<Arc<Published>>,
    counters: Arc<Mutex<Counters>>,
    state_file: Option<PathBuf>,
    /// When the last full walk that read everything started.
    last_full: Mutex<Option<Instant>>,
}

impl Refresher {
    /// A refresher for `config`, publishing into `publish` and counting changes into
    /// `counters` (which must already cover what `publish` holds).
    pub fn new(
        client: Arc<Client>,
        config: &Config,
        telemetry: Arc<Telemetry>,
        publish: watch::Sender<Arc<Published>>,
        counters: Counters,
    ) -> Self {
        Refresher {
            client,
            namespaces: config.namespaces.clone(),
            interval: config.refresh_interval,
            full_interval: config.full_interval,
            repository_filter: config.repository_filter.clone(),
            render: render_options(config),
            telemetry,
            publish,
            counters: Arc::new(Mutex::new(counters)),
            state_file: config.state_file.clone(),
            last_full: Mutex::new(None),
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

    /// Whether this refresh must list every repository's tags.
    fn full_walk_due(&self) -> bool {
        let last = *self.last_full.lock().unwrap_or_else(|e| e.into_inner());
        match (self.full_interval, last) {
            (Some(every), Some(last)) => last.elapsed() >= every,
            _ => true,
        }
    }

    /// Runs one refresh and publishes its result.
    pub async fn refresh(&self) {
        let started = Instant::now();
        let requests_before = self.telemetry.requests_sent();
        let previous = Arc::clone(&self.publish.borrow());
        let full = self.full_walk_due();
        self.telemetry.set_progress(0.0);
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
            self.telemetry.count_refresh_error(error.kind());
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
        let state_file = self.state_file.clone();
        let render = self.render.clone();
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
            requests = self.telemetry.requests_sent() - requests_before,
            repositories = published.snapshot.repositories().count(),
            tags = published.snapshot.tag_count(),
            failed_listings = reads.failures.len(),
            render_seconds,
            exposition_bytes = published.exposition.len(),
            "refresh finished"
        );
        // Publish before counting: see `Telemetry::render`.
        self.publish.send_replace(Arc::new(published));
        self.telemetry.record_refresh(&status, last_success);
        self.telemetry.set_progress(1.0);
    }
}

/// The rendering choices of `config`.
pub fn render_options(config: &Config) -> Options {
    Options {
        level: config.series_level,
        tag_filter: config.tag_filter.clone(),
        max_tags_per_repository: config.max_tags_per_repository,
    }
}
