//! Publication: what a refresh hands to the HTTP side, and what a scrape of the metrics
//! endpoint sends.
//!
//! The refresh loop builds one [`Published`] per refresh: the snapshot, how the refresh
//! ended, and the inventory's exposition, rendered once ([`render`]) and deflated once
//! ([`gzip`]). It publishes it through a `watch` channel; readers clone the `Arc` out and
//! hold no lock while they answer. [`scrape`] builds the body of one scrape: the exporter's
//! own series, gathered at that moment, followed by the published inventory, in the one order
//! that keeps the two consistent. This module neither calls the Hub nor owns the exporter's
//! own series (see `telemetry`); it never serves HTTP itself.

mod gzip;
pub(crate) mod render;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::watch;
use tracing::warn;

use crate::changes::Counters;
use crate::inventory::Snapshot;

/// How a refresh ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshResult {
    /// Every listing succeeded.
    Success,
    /// Some listings failed; their previous data was kept.
    Partial,
    /// Nothing could be read.
    Failure,
}

impl RefreshResult {
    /// Every result, in the order the metric lists them.
    pub(crate) const ALL: [RefreshResult; 3] = [
        RefreshResult::Success,
        RefreshResult::Partial,
        RefreshResult::Failure,
    ];

    /// The value of the `result` label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            RefreshResult::Success => "success",
            RefreshResult::Partial => "partial",
            RefreshResult::Failure => "failure",
        }
    }
}

/// What the last finished refresh did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RefreshStatus {
    /// How it ended.
    pub(crate) result: RefreshResult,
    /// When it finished.
    pub(crate) finished: SystemTime,
    /// How long it took.
    pub(crate) duration: Duration,
}

/// One published state: a snapshot and its pre-rendered exposition.
#[derive(Debug)]
pub(crate) struct Published {
    /// The inventory.
    pub(crate) snapshot: Arc<Snapshot>,
    /// The last finished refresh; `None` before the first one ends.
    pub(crate) last_refresh: Option<RefreshStatus>,
    /// When a refresh last read everything.
    pub(crate) last_success: Option<SystemTime>,
    /// The inventory families and the change counters in the text exposition format.
    exposition: Bytes,
    /// The same, deflated once, to end the gzip stream of every scrape that asks for gzip.
    deflated: gzip::Deflated,
    /// Whether a refresh of this process has finished fully or in part (`/readyz`).
    pub(crate) ready: bool,
}

impl Published {
    /// The state before anything is known.
    pub(crate) fn empty() -> Self {
        Self::new(
            Arc::new(Snapshot::default()),
            None,
            None,
            &Counters::default(),
            &render::Options::default(),
        )
    }

    /// Publishes a snapshot, rendering its exposition once.
    pub(crate) fn new(
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

    /// Size of the inventory's exposition in bytes, uncompressed.
    pub(crate) fn exposition_len(&self) -> usize {
        self.exposition.len()
    }
}

/// The exporter's own series in the text format, gathered when called.
pub(crate) type OwnSeries = dyn Fn() -> Vec<u8> + Send + Sync;

/// The body of one scrape, as buffers to send in order without joining them.
#[derive(Debug)]
pub(crate) struct Scrape {
    /// The buffers.
    pub(crate) parts: Vec<Bytes>,
    /// Whether they form a gzip stream.
    pub(crate) gzipped: bool,
}

/// The body of one scrape: the exporter's own series, then the published inventory; one gzip
/// stream when `gzip` is asked for.
///
/// The order is the point: the refresh publishes its inventory before it counts itself in
/// the exporter's series, so gathering those first and taking the inventory after means an
/// exposition that counts a refresh always carries that refresh's inventory. Only the small
/// part is encoded (and compressed) here; the inventory's buffers are shared, not copied.
pub(crate) fn scrape(
    own_series: &OwnSeries,
    published: &watch::Receiver<Arc<Published>>,
    gzip: bool,
) -> Scrape {
    let own = own_series();
    let published = Arc::clone(&published.borrow());
    if gzip {
        match gzip::gzip(&own, &published.deflated) {
            Ok(parts) => {
                return Scrape {
                    parts: parts.into(),
                    gzipped: true,
                };
            }
            Err(e) => {
                warn!(error = %e, "gzip of the exporter's series failed; serving them uncompressed");
            }
        }
    }
    Scrape {
        parts: vec![Bytes::from(own), published.exposition.clone()],
        gzipped: false,
    }
}

/// Seconds since the Unix epoch, 0 for times before it.
pub(crate) fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
