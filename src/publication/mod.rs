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

mod format;
mod gzip;
pub(crate) mod render;

pub(crate) use format::Format;

use std::ops::Range;
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
    /// The families' header lines in OpenMetrics, one after another.
    openmetrics_headers: Bytes,
    /// Where each family's header lines are in `exposition` and in `openmetrics_headers`.
    headers: Vec<(Range<usize>, Range<usize>)>,
    /// The same, deflated once, to end the gzip stream of every scrape that asks for gzip.
    deflated: DeflatedExposition,
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
        let mut rendered = render::render_inventory(&snapshot, options);
        rendered.append(render::render_changes(changes));
        let render::Rendered {
            mut text,
            openmetrics,
            headers,
        } = rendered;
        // The buffer lives as long as its publication; give back what growing over-reserved.
        text.shrink_to_fit();
        // Compressed once here rather than at every scrape.
        let deflated = DeflatedExposition::new(&text, &openmetrics, &headers);
        Published {
            snapshot,
            last_refresh,
            last_success,
            exposition: text.into(),
            openmetrics_headers: openmetrics.into(),
            headers,
            deflated,
            ready: last_refresh.is_some_and(|r| r.result != RefreshResult::Failure),
        }
    }

    /// Size of the inventory's exposition in bytes, uncompressed.
    pub(crate) fn exposition_len(&self) -> usize {
        self.exposition.len()
    }

    /// The exposition in `format` as buffers to send in order, sharing this publication's.
    fn parts(&self, format: Format) -> Vec<Bytes> {
        match format {
            Format::Text => vec![self.exposition.clone()],
            Format::OpenMetrics => {
                let mut parts = Vec::with_capacity(self.headers.len() * 2 + 1);
                let mut at = 0;
                for (text, openmetrics) in &self.headers {
                    parts.push(self.exposition.slice(at..text.start));
                    parts.push(self.openmetrics_headers.slice(openmetrics.clone()));
                    at = text.end;
                }
                parts.push(self.exposition.slice(at..));
                parts
            }
        }
    }
}

/// The exposition deflated once, in parts that a scrape joins: the text between the
/// families' header lines, and the header lines in either format.
#[derive(Debug, Default)]
struct DeflatedExposition {
    /// The text before the first family's headers, between each two, and after the last.
    between: Vec<gzip::Deflated>,
    /// Each family's header lines in the text format, and in OpenMetrics.
    headers: Vec<(gzip::Deflated, gzip::Deflated)>,
}

impl DeflatedExposition {
    fn new(text: &[u8], openmetrics: &[u8], headers: &[(Range<usize>, Range<usize>)]) -> Self {
        let deflate = |bytes: &[u8]| {
            // Compressing into a Vec cannot fail; should it, scrapes that ask for gzip get
            // the exporter's series only.
            gzip::Deflated::new(bytes).ok()
        };
        let mut between = Vec::with_capacity(headers.len() + 1);
        let mut deflated_headers = Vec::with_capacity(headers.len());
        let mut at = 0;
        for (in_text, in_openmetrics) in headers {
            let (Some(before), Some(header), Some(om)) = (
                deflate(&text[at..in_text.start]),
                deflate(&text[in_text.clone()]),
                deflate(&openmetrics[in_openmetrics.clone()]),
            ) else {
                return DeflatedExposition::default();
            };
            between.push(before);
            deflated_headers.push((header, om));
            at = in_text.end;
        }
        match deflate(&text[at..]) {
            Some(rest) => between.push(rest),
            None => return DeflatedExposition::default(),
        }
        DeflatedExposition {
            between,
            headers: deflated_headers,
        }
    }

    /// The parts in order, with the header lines of `format`.
    fn parts(&self, format: Format) -> impl Iterator<Item = &gzip::Deflated> {
        let headers = self.headers.iter().map(move |(text, om)| match format {
            Format::Text => text,
            Format::OpenMetrics => om,
        });
        self.between
            .iter()
            .zip(headers.map(Some).chain(std::iter::repeat(None)))
            .flat_map(|(between, header)| std::iter::once(between).chain(header))
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

/// The body of one scrape in `format`: the exporter's own series, then the published
/// inventory (then `# EOF` for OpenMetrics); one gzip stream when `gzip` is asked for.
///
/// The order is the point: the refresh publishes its inventory before it counts itself in
/// the exporter's series, so gathering those first and taking the inventory after means an
/// exposition that counts a refresh always carries that refresh's inventory. Only the small
/// parts are encoded (and compressed) here; the inventory's buffers are shared, not copied.
pub(crate) fn scrape(
    own_series: &OwnSeries,
    published: &watch::Receiver<Arc<Published>>,
    gzip: bool,
    format: Format,
) -> Scrape {
    let mut own = own_series();
    let published = Arc::clone(&published.borrow());
    if format == Format::OpenMetrics {
        own = format::openmetrics_from_text(&own);
    }
    if gzip {
        let end = match format {
            Format::Text => None,
            Format::OpenMetrics => gzip::Deflated::new(format::EOF).ok(),
        };
        match gzip::gzip(&own, published.deflated.parts(format).chain(end.as_ref())) {
            Ok(parts) => {
                return Scrape {
                    parts,
                    gzipped: true,
                };
            }
            Err(e) => {
                warn!(error = %e, "gzip of the exporter's series failed; serving them uncompressed");
            }
        }
    }
    let mut parts = vec![Bytes::from(own)];
    parts.extend(published.parts(format));
    if format == Format::OpenMetrics {
        parts.push(Bytes::from_static(format::EOF));
    }
    Scrape {
        parts,
        gzipped: false,
    }
}

/// Seconds since the Unix epoch, 0 for times before it.
pub(crate) fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
