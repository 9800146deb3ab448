//! The mirror checks as the exporter's own series: the requests to each mirror and its failed
//! reads (ordinary counters), and what its checks found (built at scrape time from each
//! mirror's last [`Figures`], so that a tag back in sync or a repository gone leaves no
//! series behind).
//!
//! The per-repository gauges appear with a repository's first successful read, the per-tag
//! `dockerhub_mirror_tag_mismatch` only for mismatched tags, and the success time with the
//! first check that read every repository: a mirror that could never be read shows none of
//! them, so nothing is counted missing because the mirror could not be read.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{GaugeVec, IntCounterVec, Opts, Registry};

use super::registered;
use crate::error::ErrorKind;
use crate::mirror::{self, Endpoint, Figures, Reason};
use crate::publication::unix_seconds;

/// The label sets of the per-repository gauges.
const REPOSITORY_LABELS: [&str; 3] = ["hub_namespace", "repository", "mirror"];

/// The label set of the per-tag gauge.
const TAG_LABELS: [&str; 5] = ["hub_namespace", "repository", "tag", "mirror", "reason"];

/// The gauges' names, help texts and labels.
const GAUGES: [(&str, &str, &[&str]); 5] = [
    (
        "dockerhub_mirror_tags",
        "Hub tags compared with the mirror (the tracked tags), by Hub namespace, repository and mirror.",
        &REPOSITORY_LABELS,
    ),
    (
        "dockerhub_mirror_tags_missing",
        "Of the Hub tags compared with the mirror, those absent on it.",
        &REPOSITORY_LABELS,
    ),
    (
        "dockerhub_mirror_tags_different",
        "Of the Hub tags compared with the mirror, those on it at another digest.",
        &REPOSITORY_LABELS,
    ),
    (
        "dockerhub_mirror_tag_mismatch",
        "1 for each tag out of sync on the mirror, by reason: missing (absent on the mirror) or digest (at another digest); tags in sync have no series.",
        &TAG_LABELS,
    ),
    (
        "dockerhub_mirror_last_check_success_timestamp_seconds",
        "Unix time at the end of the last check that read every repository of the mirror.",
        &["mirror"],
    ),
];

/// The mirror series, registered in the telemetry's registry.
#[derive(Debug)]
pub(super) struct MirrorSeries {
    requests: IntCounterVec,
    errors: IntCounterVec,
    figures: Arc<Mutex<BTreeMap<String, Arc<Figures>>>>,
}

/// The gauges built from the figures at each scrape.
#[derive(Debug)]
struct FiguresCollector {
    descs: Vec<Desc>,
    figures: Arc<Mutex<BTreeMap<String, Arc<Figures>>>>,
}

impl MirrorSeries {
    /// The families, without series until a mirror is checked.
    pub(super) fn new(registry: &Registry) -> Self {
        let requests = registered(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "dockerhub_mirror_requests_total",
                    "Requests to the mirror registries, by mirror, endpoint (token, tags, manifest) and HTTP status code (error for transport failures).",
                ),
                &["mirror", "endpoint", "code"],
            )
            .expect("valid metric"),
        );
        let errors = registered(
            registry,
            IntCounterVec::new(
                Opts::new(
                    "dockerhub_mirror_check_errors_total",
                    format!(
                        "Reads of a mirror repository that failed, by mirror and the kind of their error: {}.",
                        mirror::ERROR_KINDS.map(ErrorKind::as_str).join(", ")
                    ),
                ),
                &["mirror", "kind"],
            )
            .expect("valid metric"),
        );
        let figures = Arc::new(Mutex::new(BTreeMap::new()));
        let descs = gauges()
            .iter()
            .flat_map(|g| g.desc().into_iter().cloned())
            .collect();
        registry
            .register(Box::new(FiguresCollector {
                descs,
                figures: Arc::clone(&figures),
            }))
            .expect("metric names are unique constants");
        MirrorSeries {
            requests,
            errors,
            figures,
        }
    }

    /// Each mirror's figures as the pages show them, in the order of their labels.
    pub(super) fn views(&self) -> Vec<crate::views::Mirror> {
        self.lock().values().map(|f| view(f)).collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Figures>>> {
        self.figures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One mirror's figures as the views take them.
pub(crate) fn view(f: &Figures) -> crate::views::Mirror {
    let by_tag = |repository: &String, tag: &String| (repository.clone(), tag.clone());
    crate::views::Mirror {
        mirror: f.mirror.clone(),
        hub_namespace: f.hub_namespace.clone(),
        last_success: f.last_success.map(unix_seconds),
        tags: f.repositories.values().map(|r| r.tags).sum(),
        repositories: f.repositories.keys().cloned().collect(),
        mismatches: f
            .repositories
            .iter()
            .flat_map(|(repository, r)| {
                r.mismatches.iter().map(move |(tag, reason)| {
                    let mismatch = match reason {
                        Reason::Missing => crate::views::Mismatch::Missing,
                        Reason::Digest => crate::views::Mismatch::Digest,
                    };
                    (by_tag(repository, tag), mismatch)
                })
            })
            .collect(),
        digests: f
            .repositories
            .iter()
            .flat_map(|(repository, r)| {
                r.digests
                    .iter()
                    .map(move |(tag, digest)| (by_tag(repository, tag), digest.clone()))
            })
            .collect(),
    }
}

impl mirror::Observer for MirrorSeries {
    fn request(&self, mirror: &str, endpoint: Endpoint, status: Option<u16>) {
        let code = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.requests
            .with_label_values(&[mirror, endpoint.as_str(), &code])
            .inc();
    }

    fn watching(&self, mirror: &str) {
        // Shown on the pages as not read yet; no series until a check ends.
        self.lock().entry(mirror.to_string()).or_insert_with(|| {
            Arc::new(Figures {
                mirror: mirror.to_string(),
                ..Figures::default()
            })
        });
        // Every kind shows at 0 from the start, so that rate() sees the first failure.
        for k in mirror::ERROR_KINDS {
            self.errors.with_label_values(&[mirror, k.as_str()]);
        }
    }

    fn check_failed(&self, mirror: &str, kind: ErrorKind) {
        self.errors
            .with_label_values(&[mirror, kind.as_str()])
            .inc();
    }

    fn checked(&self, figures: Arc<Figures>) {
        self.lock().insert(figures.mirror.clone(), figures);
    }
}

/// Fresh gauge families, in the order of [`GAUGES`].
fn gauges() -> Vec<GaugeVec> {
    GAUGES
        .iter()
        .map(|(name, help, labels)| {
            GaugeVec::new(Opts::new(*name, *help), labels).expect("valid metric")
        })
        .collect()
}

impl Collector for FiguresCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let families = gauges();
        let [tags, missing, different, mismatch, last_success] = &families[..] else {
            unreachable!("GAUGES has five entries");
        };
        let figures = self.figures.lock().unwrap_or_else(|e| e.into_inner());
        for f in figures.values() {
            if let Some(t) = f.last_success {
                last_success
                    .with_label_values(&[f.mirror.as_str()])
                    .set(unix_seconds(t));
            }
            for (repository, r) in &f.repositories {
                let labels = [f.hub_namespace.as_str(), repository, f.mirror.as_str()];
                tags.with_label_values(&labels).set(r.tags as f64);
                missing
                    .with_label_values(&labels)
                    .set(r.count(Reason::Missing) as f64);
                different
                    .with_label_values(&labels)
                    .set(r.count(Reason::Digest) as f64);
                for (tag, reason) in &r.mismatches {
                    mismatch
                        .with_label_values(&[
                            f.hub_namespace.as_str(),
                            repository,
                            tag,
                            f.mirror.as_str(),
                            reason.as_str(),
                        ])
                        .set(1.0);
                }
            }
        }
        families
            .iter()
            .flat_map(|g| g.collect())
            .filter(|family| !family.get_metric().is_empty())
            .collect()
    }
}
