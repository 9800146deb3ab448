//! Telemetry: the exporter's own series, about itself rather than about the Hub's contents.
//!
//! API requests, throttling, the rate limit the Hub reports, refresh results and progress
//! are ordinary `prometheus` crate metrics in an owned [`Telemetry`] registry (no globals),
//! updated as the Hub client and the refresh report what they do (through their `Observer`
//! traits, which this type implements) and encoded at scrape time; they are few. The
//! registry's pull quota has its series in `pull_limit`. The
//! process's own figures are read when a scrape asks (see `process`). The inventory series,
//! which can number hundreds of thousands, are not here: see `publication`.

pub(crate) mod mirror;
mod process;
mod pull_limit;

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use prometheus::{
    Counter, Encoder, Gauge, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::error::ErrorKind;
use crate::hub::{self, Endpoint, RateLimitHeader};
use crate::publication::{RefreshResult, RefreshStatus, unix_seconds};
use crate::refresh;
use crate::server;
use crate::version;

/// The exporter's own series, in a registry it owns.
#[derive(Debug)]
pub(crate) struct Telemetry {
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
    exporter_errors: IntCounterVec,
    rereads: IntCounterVec,
    webhook_requests: IntCounterVec,
    pull_limits: pull_limit::PullLimitSeries,
    mirrors: mirror::MirrorSeries,
}

// Registering freshly made metrics in a new registry cannot fail: names are constants and
// unique, so the `expect`s below state programming errors, not runtime conditions.
fn registered<M: prometheus::core::Collector + Clone + 'static>(registry: &Registry, m: M) -> M {
    registry
        .register(Box::new(m.clone()))
        .expect("metric names are unique constants");
    m
}

/// The `kind` of `dockerhub_exporter_errors_total` for a compressed exposition that failed
/// its check.
const EXPOSITION_ERROR: &str = "exposition";

impl Telemetry {
    /// Creates the registry with every series at its initial value.
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        let api_requests = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "dockerhub_api_requests_total",
                    "Requests made to the Docker Hub API, and to its registry for the pull-limit checks, by endpoint and HTTP status code (error for transport failures).",
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
        for r in RefreshResult::ALL {
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
        let exporter_errors = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "dockerhub_exporter_errors_total",
                    "Failures inside the exporter, by kind: exposition (the compressed exposition did not inflate back to its text; it was kept and served uncompressed until the next publication).",
                ),
                &["kind"],
            )
            .expect("valid metric"),
        );
        exporter_errors.with_label_values(&[EXPOSITION_ERROR]);
        let rereads = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "dockerhub_repository_rereads_total",
                    "Re-reads of one repository asked for by a webhook or the audit log, by result: success (read and merged), failure (a request failed, the previous data kept), skipped (the running refresh was about to list it).",
                ),
                &["result"],
            )
            .expect("valid metric"),
        );
        for r in refresh::RereadResult::ALL {
            rereads.with_label_values(&[r.as_str()]);
        }
        let webhook_requests = registered(
            &registry,
            IntCounterVec::new(
                Opts::new(
                    "dockerhub_webhook_requests_total",
                    "Requests to the Docker Hub webhook endpoint, by result: accepted (a re-read asked for), ignored (a repository not inventoried), invalid (a malformed or oversized body), unauthorized (a wrong token).",
                ),
                &["result"],
            )
            .expect("valid metric"),
        );
        for r in server::WebhookResult::ALL {
            webhook_requests.with_label_values(&[r.as_str()]);
        }
        let build_info = registered(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "dockerhub_exporter_build_info",
                    "Always 1; labelled with the version of dockerhub_exporter, the commit it was built from, the compiler and the target.",
                ),
                &["version", "revision", "rustc_version", "target"],
            )
            .expect("valid metric"),
        );
        build_info
            .with_label_values(&[
                version::VERSION,
                version::REVISION,
                version::RUSTC_VERSION,
                version::TARGET,
            ])
            .set(1);
        let pull_limits = pull_limit::PullLimitSeries::new(&registry);
        let mirrors = mirror::MirrorSeries::new(&registry);
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
            exporter_errors,
            rereads,
            webhook_requests,
            pull_limits,
            mirrors,
        }
    }

    /// The exporter's own series in the text exposition format.
    pub(crate) fn own_series(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(4096);
        // Encoding into a Vec cannot fail for the metric types used here.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }

    /// The Hub's rate limit and the registry's pull quotas as last seen, for the landing
    /// page.
    pub(crate) fn quotas(&self) -> crate::views::Quotas {
        let seen = |which: RateLimitHeader| self.rate_limit[which as usize].get().map(|g| g.get());
        crate::views::Quotas {
            rate_limit_remaining: seen(RateLimitHeader::Remaining),
            rate_limit_limit: seen(RateLimitHeader::Limit),
            pulls: self.pull_limits.quotas(),
        }
    }

    /// What the mirror checks found so far, for the pages.
    pub(crate) fn mirrors(&self) -> Vec<crate::views::Mirror> {
        self.mirrors.views()
    }

    fn rate_limit_gauge(&self, which: RateLimitHeader) -> &prometheus::IntGauge {
        // The three gauges are registered on first use so that they are absent, not 0,
        // until the Hub has sent the header.
        self.rate_limit[which as usize].get_or_init(|| {
            let (name, help) = rate_limit_metric(which);
            registered(
                &self.registry,
                prometheus::IntGauge::new(name, help).expect("valid metric"),
            )
        })
    }
}

impl hub::Observer for Telemetry {
    fn request(&self, endpoint: Endpoint, status: Option<u16>) {
        let code = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.api_requests
            .with_label_values(&[endpoint.as_str(), &code])
            .inc();
        if status == Some(429) {
            self.throttled.inc();
        }
    }

    fn rate_limit(&self, header: RateLimitHeader, value: i64) {
        self.rate_limit_gauge(header).set(value);
    }

    fn waited(&self, time: Duration) {
        self.limiter_wait.inc_by(time.as_secs_f64());
    }
}

impl refresh::Observer for Telemetry {
    fn restored(&self, last_success: SystemTime) {
        self.last_success.set(unix_seconds(last_success));
    }

    fn progress(&self, ratio: f64) {
        self.progress.set(ratio.clamp(0.0, 1.0));
    }

    fn listing_failed(&self, kind: ErrorKind) {
        self.refresh_errors
            .with_label_values(&[kind.as_str()])
            .inc();
    }

    fn finished(&self, status: &RefreshStatus, last_success: Option<SystemTime>) {
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

    fn reread(&self, result: refresh::RereadResult) {
        self.rereads.with_label_values(&[result.as_str()]).inc();
    }

    fn exposition_failed(&self) {
        self.exporter_errors
            .with_label_values(&[EXPOSITION_ERROR])
            .inc();
    }
}

impl crate::mirror::Observer for Telemetry {
    fn watching(&self, mirror: &str) {
        crate::mirror::Observer::watching(&self.mirrors, mirror);
    }

    fn request(&self, mirror: &str, endpoint: crate::mirror::Endpoint, status: Option<u16>) {
        crate::mirror::Observer::request(&self.mirrors, mirror, endpoint, status);
    }

    fn check_failed(&self, mirror: &str, kind: ErrorKind) {
        self.mirrors.check_failed(mirror, kind);
    }

    fn checked(&self, figures: std::sync::Arc<crate::mirror::Figures>) {
        self.mirrors.checked(figures);
    }
}

impl server::WebhookObserver for Telemetry {
    fn answered(&self, result: server::WebhookResult) {
        self.webhook_requests
            .with_label_values(&[result.as_str()])
            .inc();
    }
}

/// The gauge's name and help text for a rate-limit header.
fn rate_limit_metric(header: RateLimitHeader) -> (&'static str, &'static str) {
    match header {
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
