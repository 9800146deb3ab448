//! Metrics: the exporter's own counters and the published inventory exposition.
//!
//! Two kinds of series live here. The exporter's own few series (API requests, throttling,
//! refresh results) are ordinary `prometheus` crate metrics in an owned [`Telemetry`]
//! registry, updated as things happen and encoded at scrape time; they are small, and include
//! the process's own figures, read when a scrape asks (see `process`). The
//! inventory series, which can number hundreds of thousands, are rendered straight from the
//! immutable snapshot into one buffer by [`render`], once per published refresh, and served
//! from memory. This module never calls the Hub.

pub mod gzip;
mod process;
pub mod render;

use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use prometheus::{
    Counter, Encoder, Gauge, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::changes::Counters;
use crate::error::ErrorKind;
use crate::inventory::Snapshot;

/// How a refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefreshResult {
    /// Every listing succeeded.
    Success,
    /// Some listings failed; their previous data was kept.
    Partial,
    /// Nothing could be read.
    Failure,
}

impl RefreshResult {
    /// The value of the `result` label.
    pub fn as_str(self) -> &'static str {
        match self {
            RefreshResult::Success => "success",
            RefreshResult::Partial => "partial",
            RefreshResult::Failure => "failure",
        }
    }
}

/// What the last finished refresh did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RefreshStatus {
    /// How it ended.
    pub result: RefreshResult,
    /// When it finished.
    pub finished: SystemTime,
    /// How long it took.
    pub duration: Duration,
}

/// One published state: a snapshot and its pre-rendered exposition.
#[derive(Debug)]
pub struct Published {
    /// The inventory.
    pub snapshot: Arc<Snapshot>,
    /// The last finished refresh; `None` before the first one ends.
    pub last_refresh: Option<RefreshStatus>,
    /// When a refresh last read everything.
    pub last_success: Option<SystemTime>,
    /// The inventory families and the change counters in the text exposition format.
    pub exposition: bytes::Bytes,
    /// The same, deflated once, to end the gzip stream of every scrape that asks for gzip.
    pub deflated: gzip::Deflated,
    /// Whether a refresh of this process has finished fully or in part (`/readyz`).
    pub ready: bool,
}

impl Published {
    /// The state before any refresh has finished.
    pub fn empty() -> Self {
        Self::new(
            Arc::new(Snapshot::default()),
            None,
            None,
            &Counters::default(),
            &render::Options::default(),
        )
    }

    /// Publishes a snapshot, rendering its exposition once.
    pub fn new(
        snapshot: Arc<Snapshot>,
        last_refresh: Option<RefreshStatus>,
        last_success: Option<SystemTime>,
        changes: &Counters,
        options: &render::Options,
    ) -> Self {
        let mut text = render::render_inventory(&snapshot, options);
        text.extend_from_slice(&render::render_changes(changes));
        // The buffer lives as long as its publication; give back what growing over-reserved.
        text.shrink_to_fit();
        // Compressed once here rather than at every scrape. Compressing into a Vec cannot
        // fail; should it, scrapes that ask for gzip get the exporter's series only.
        let deflated = gzip::Deflated::new(&text).unwrap_or_default();
        Published {
            snapshot,
            last_refresh,
            last_success,
            exposition: text.into(),
            deflated,
            ready: last_refresh.is_some_and(|r| r.result != RefreshResult::Failure),
        }
    }

    /// Whether the last refresh read everything (`dockerhub_up`).
    pub fn up(&self) -> bool {
        matches!(
            self.last_refresh,
            Some(RefreshStatus {
                result: RefreshResult::Success,
                ..
            })
        )
    }
}

/// The exporter's own series, in a registry it owns.
#[derive(Debug)]
pub struct Telemetry {
    registry: Registry,
    api_requests: IntCounterVec,
    throttled: IntCounter,
    rate_limit: [OnceLock<prometheus::IntGauge>; 3],
    limiter_wait: Counter,
    refreshes: IntCounterVec,
    up: Gauge,
    refresh_duration: Gauge,
    last_success: Gauge,
    progress: Gauge,
    refresh_errors: IntCounterVec,
    requests: std::sync::atomic::AtomicU64,
}

/// The endpoints counted in `dockerhub_api_requests_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// A login.
    Auth,
    /// A repository page.
    Repositories,
    /// A tag page.
    Tags,
}

impl Endpoint {
    /// The value of the `endpoint` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Auth => "auth",
            Endpoint::Repositories => "repositories",
            Endpoint::Tags => "tags",
        }
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Self::new()
    }
}

// Registering freshly made metrics in a new registry cannot fail: names are constants and
// unique, so the `expect`s below state programming errors, not runtime conditions.
fn registered<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, m: M) -> M {
    registry
        .register(Box::new(m.clone()))
        .expect("metric names are unique constants");
    m
}

impl Telemetry {
    /// Creates the registry with every series at its initial value.
    pub fn new() -> Self {
        let registry = Registry::new();
        let api_requests = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "dockerhub_api_requests_total",
                    "Requests made to the Docker Hub API, by endpoint and HTTP status code (error for transport failures).",
                ),
                &["endpoint", "code"],
            )
            .expect("valid metric"),
        );
        let throttled = registered(
            &registry,
            IntCounter::new(
                "dockerhub_api_throttled_total",
                "Responses of the Docker Hub API with status 429 (too many requests).",
            )
            .expect("valid metric"),
        );
        let rate_limit = Default::default();
        let limiter_wait = registered(
            &registry,
            Counter::new(
                "dockerhub_rate_limiter_wait_seconds_total",
                "Time requests spent waiting for the configured quota or a pause the Hub asked for, summed over requests.",
            )
            .expect("valid metric"),
        );
        let refreshes = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "dockerhub_refreshes_total",
                    "Finished refreshes of the inventory, by result: success (everything read), partial (some listings failed, their previous data kept), failure (nothing read).",
                ),
                &["result"],
            )
            .expect("valid metric"),
        );
        for r in [
            RefreshResult::Success,
            RefreshResult::Partial,
            RefreshResult::Failure,
        ] {
            refreshes.with_label_values(&[r.as_str()]);
        }
        let up = registered(
            &registry,
            Gauge::new(
                "dockerhub_up",
                "1 if the last refresh read everything from Docker Hub, 0 if it failed in part or in whole or none has finished yet.",
            )
            .expect("valid metric"),
        );
        let refresh_duration = registered(
            &registry,
            Gauge::new(
                "dockerhub_refresh_duration_seconds",
                "Duration of the last finished refresh of the inventory.",
            )
            .expect("valid metric"),
        );
        let last_success = registered(
            &registry,
            Gauge::new(
                "dockerhub_last_refresh_success_timestamp_seconds",
                "Unix time at which a refresh last read everything from Docker Hub (0 if none has).",
            )
            .expect("valid metric"),
        );
        let progress = registered(
            &registry,
            Gauge::new(
                "dockerhub_refresh_progress_ratio",
                "How far the running refresh has come, from 0 to 1 (repositories listed of those to list); 1 between refreshes.",
            )
            .expect("valid metric"),
        );
        let refresh_errors = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "dockerhub_refresh_errors_total",
                    format!(
                        "Listings that failed in refreshes, by the kind of their last error: {}.",
                        ErrorKind::ALL
                            .iter()
                            .map(|k| k.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ),
                &["kind"],
            )
            .expect("valid metric"),
        );
        for kind in ErrorKind::ALL {
            refresh_errors.with_label_values(&[kind.as_str()]);
        }
        let build_info = registered(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "dockerhub_exporter_build_info",
                    "Always 1; labelled with the version of dockerhub_exporter.",
                ),
                &["version"],
            )
            .expect("valid metric"),
        );
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        // The registry is made once, as the exporter starts, inside its runtime.
        registry
            .register(Box::new(process::ProcessCollector::new(SystemTime::now())))
            .expect("metric names are unique constants");
        Telemetry {
            registry,
            api_requests,
            throttled,
            rate_limit,
            limiter_wait,
            refreshes,
            up,
            refresh_duration,
            last_success,
            progress,
            refresh_errors,
            requests: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Requests sent to the Hub since start, all endpoints and answers together.
    pub fn requests_sent(&self) -> u64 {
        self.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Seconds requests have spent waiting for the quota since start.
    pub fn limiter_wait_seconds(&self) -> f64 {
        self.limiter_wait.get()
    }

    /// Counts one failed listing in `dockerhub_refresh_errors_total` by the kind of its error.
    pub fn count_refresh_error(&self, kind: ErrorKind) {
        self.refresh_errors
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    /// Sets `dockerhub_refresh_progress_ratio`.
    pub fn set_progress(&self, ratio: f64) {
        self.progress.set(ratio.clamp(0.0, 1.0));
    }

    /// Counts one API request by endpoint and status (`None` for a transport failure).
    pub fn count_request(&self, endpoint: Endpoint, status: Option<u16>) {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let code = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.api_requests
            .with_label_values(&[endpoint.as_str(), &code])
            .inc();
        if status == Some(429) {
            self.throttled.inc();
        }
    }

    /// Records the X-RateLimit-* values of a response; the gauges appear once a value is seen.
    pub fn observe_rate_limit(&self, which: RateLimitHeader, value: i64) {
        self.rate_limit_gauge(which).set(value);
    }

    fn rate_limit_gauge(&self, which: RateLimitHeader) -> &prometheus::IntGauge {
        // The three gauges are registered on first use so that they are absent, not 0,
        // until the Hub has sent the header.
        self.rate_limit[which as usize].get_or_init(|| {
            let (name, help) = which.metric();
            registered(
                &self.registry,
                prometheus::IntGauge::new(name, help).expect("valid metric"),
            )
        })
    }

    /// Adds time spent waiting for the quota.
    pub fn add_limiter_wait(&self, waited: Duration) {
        self.limiter_wait.inc_by(waited.as_secs_f64());
    }

    /// Sets `dockerhub_last_refresh_success_timestamp_seconds` from a restored state.
    pub fn restore_last_success(&self, last_success: SystemTime) {
        self.last_success.set(unix_seconds(last_success));
    }

    /// Records a finished refresh.
    pub fn record_refresh(&self, status: &RefreshStatus, last_success: Option<SystemTime>) {
        self.refreshes
            .with_label_values(&[status.result.as_str()])
            .inc();
        self.up
            .set(f64::from(u8::from(status.result == RefreshResult::Success)));
        self.refresh_duration.set(status.duration.as_secs_f64());
        if let Some(t) = last_success {
            self.last_success.set(unix_seconds(t));
        }
    }

    /// The exporter's own series in the text exposition format.
    ///
    /// Gather them before taking the published inventory to serve after them: the refresh
    /// publishes its inventory before it counts itself, so an exposition that counts a
    /// refresh always carries that refresh's inventory.
    pub fn own_series(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        // Encoding into a Vec cannot fail for the metric types used here.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }

    /// The content type of [`Telemetry::own_series`]'s output.
    pub fn content_type(&self) -> &'static str {
        prometheus::TEXT_FORMAT
    }
}

/// The X-RateLimit-* headers the exporter reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitHeader {
    /// `X-RateLimit-Limit`.
    Limit,
    /// `X-RateLimit-Remaining`.
    Remaining,
    /// `X-RateLimit-Reset`.
    Reset,
}

impl RateLimitHeader {
    fn metric(self) -> (&'static str, &'static str) {
        match self {
            RateLimitHeader::Limit => (
                "dockerhub_api_rate_limit_limit",
                "Requests per minute the Hub allows, from the last X-RateLimit-Limit header seen.",
            ),
            RateLimitHeader::Remaining => (
                "dockerhub_api_rate_limit_remaining",
                "Requests left in the Hub's current rate-limit window, from the last X-RateLimit-Remaining header seen.",
            ),
            RateLimitHeader::Reset => (
                "dockerhub_api_rate_limit_reset_timestamp_seconds",
                "Unix time at which the Hub's rate-limit window resets, from the last X-RateLimit-Reset header seen.",
            ),
        }
    }
}

/// Seconds since the Unix epoch, 0 for times before it.
pub fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
