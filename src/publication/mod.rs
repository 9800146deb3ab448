//! Publication: what a refresh hands to the HTTP side, and what a scrape of the metrics
//! endpoint sends.
//!
//! The refresh loop builds one [`Published`] per refresh: the snapshot, how the refresh
//! ended, and the inventory's exposition, rendered once ([`render`]) straight into the
//! compressor ([`gzip`]) and kept only deflated, which is what Prometheus asks for; a plain
//! scrape inflates it a piece at a time as it is sent ([`Body`]). It publishes it through a
//! `watch` channel; readers clone the `Arc` out and hold no lock while they answer. [`scrape`] builds the body of one scrape: the exporter's
//! own series, gathered at that moment, followed by the published inventory, in the one order
//! that keeps the two consistent. This module neither calls the Hub nor owns the exporter's
//! own series (see `telemetry`); it never serves HTTP itself.

mod format;
mod gzip;
mod parts;
#[cfg(test)]
mod properties;
pub(crate) mod render;

pub(crate) use format::Format;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::watch;
use tracing::{error, warn};

use crate::changes::{Counters, History};
use crate::inventory::Snapshot;
use parts::Kept;

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
    /// Requests it sent to the Hub.
    pub(crate) requests: u64,
}

/// One published state: a snapshot and its pre-rendered exposition, kept deflated only.
#[derive(Debug)]
pub(crate) struct Published {
    /// The inventory.
    pub(crate) snapshot: Arc<Snapshot>,
    /// The last finished refresh; `None` before the first one ends.
    pub(crate) last_refresh: Option<RefreshStatus>,
    /// When a refresh last read everything.
    pub(crate) last_success: Option<SystemTime>,
    /// The recent changes, newest first.
    pub(crate) changes: Arc<History>,
    /// The inventory families and the change counters, deflated once (see [`parts`]).
    exposition: Kept,
    /// Whether the deflated exposition failed its check, so that it is kept plain.
    exposition_failed: bool,
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
            &History::default(),
            &render::Options::default(),
        )
    }

    /// Publishes a snapshot, rendering its exposition once, straight into the compressor:
    /// the plain text is never held whole.
    pub(crate) fn new(
        snapshot: Arc<Snapshot>,
        last_refresh: Option<RefreshStatus>,
        last_success: Option<SystemTime>,
        counters: &Counters,
        history: &History,
        options: &render::Options,
    ) -> Self {
        let (exposition, exposition_failed) =
            Kept::render(&|output| render::render_to(&snapshot, counters, options, output));
        Published {
            snapshot,
            last_refresh,
            last_success,
            changes: Arc::new(history.clone()),
            exposition,
            exposition_failed,
            ready: last_refresh.is_some_and(|r| r.result != RefreshResult::Failure),
        }
    }

    /// A publication of nothing but the exposition that `render` renders.
    #[cfg(test)]
    fn rendered_by(render: &dyn Fn(&mut dyn render::Output)) -> Self {
        let (exposition, exposition_failed) = Kept::render(render);
        Published {
            snapshot: Arc::default(),
            last_refresh: None,
            last_success: None,
            changes: Arc::default(),
            exposition,
            exposition_failed,
            ready: false,
        }
    }

    /// Size of the inventory's exposition in bytes, uncompressed (text format).
    pub(crate) fn exposition_len(&self) -> u64 {
        self.exposition.len()
    }

    /// Size of the inventory's exposition as kept, deflated (text format), or plain when
    /// the deflated form failed its check.
    pub(crate) fn deflated_len(&self) -> usize {
        self.exposition.kept_len()
    }

    /// Whether the deflated exposition failed its check when this was published, so that
    /// it is kept and served uncompressed.
    pub(crate) fn exposition_failed(&self) -> bool {
        self.exposition_failed
    }
}

/// The exporter's own series in the text format, gathered when called.
pub(crate) type OwnSeries = dyn Fn() -> Vec<u8> + Send + Sync;

/// The body of one scrape, as pieces to send in order.
pub(crate) struct Scrape {
    /// The pieces.
    pub(crate) body: Body,
    /// Whether they form a gzip stream.
    pub(crate) gzipped: bool,
}

/// The body of one scrape in `format`: the exporter's own series, then the published
/// inventory (then `# EOF` for OpenMetrics); one gzip stream when `gzip` is asked for.
///
/// The order is the point: the refresh publishes its inventory before it counts itself in
/// the exporter's series, so gathering those first and taking the inventory after means an
/// exposition that counts a refresh always carries that refresh's inventory. Only the small
/// parts are encoded (and compressed) here; the inventory's deflated buffers are shared, not
/// copied, and a plain scrape inflates them a piece at a time as it is sent.
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
    let eof = (format == Format::OpenMetrics).then_some(Bytes::from_static(format::EOF));
    let parts = match &published.exposition {
        Kept::Deflated(parts) => parts,
        // Kept plain: served as it is, whatever was asked for.
        Kept::Plain(parts) => {
            let body = std::iter::once(Bytes::from(own))
                .chain(parts.iter(format).cloned())
                .chain(eof);
            return Scrape {
                body: Body::from_bytes(body),
                gzipped: false,
            };
        }
    };
    if gzip {
        let end = match format {
            Format::Text => None,
            Format::OpenMetrics => gzip::Deflated::new(format::EOF).ok(),
        };
        match gzip::gzip(&own, parts.iter(format).chain(end.as_ref())) {
            Ok(parts) => {
                return Scrape {
                    body: Body::from_bytes(parts),
                    gzipped: true,
                };
            }
            Err(e) => {
                warn!(error = %e, "gzip of the exporter's series failed; serving them uncompressed");
            }
        }
    }
    let mut pieces: VecDeque<Piece> = VecDeque::new();
    pieces.push_back(Piece::Ready(Bytes::from(own)));
    for part in parts.iter(format) {
        pieces.push_back(Piece::Inflate(part.inflate(), part.len()));
    }
    pieces.extend(eof.map(Piece::Ready));
    Scrape {
        body: Body::new(pieces),
        gzipped: false,
    }
}

/// How much of a deflated part a plain scrape inflates at a time.
const INFLATED_PIECE: usize = 256 * 1024;

/// One piece of a [`Body`].
enum Piece {
    /// A buffer to send as it is.
    Ready(Bytes),
    /// A deflated part to inflate as it is sent, and its length inflated.
    Inflate(gzip::Inflating, u64),
}

/// A response body: buffers sent as they are, shared and never joined, and deflated parts
/// of the exposition inflated a piece at a time, so that no body is ever held whole.
pub(crate) struct Body {
    pieces: VecDeque<Piece>,
    remaining: u64,
}

impl Body {
    fn new(pieces: VecDeque<Piece>) -> Body {
        let remaining = pieces
            .iter()
            .map(|p| match p {
                Piece::Ready(b) => b.len() as u64,
                Piece::Inflate(_, len) => *len,
            })
            .sum();
        Body { pieces, remaining }
    }

    /// A body of these buffers, in order.
    pub(crate) fn from_bytes(parts: impl IntoIterator<Item = Bytes>) -> Body {
        Body::new(
            parts
                .into_iter()
                .filter(|b| !b.is_empty())
                .map(Piece::Ready)
                .collect(),
        )
    }

    /// Bytes still to come.
    pub(crate) fn remaining(&self) -> u64 {
        self.remaining
    }

    /// The next buffer to send; `None` at the end.
    pub(crate) fn next_chunk(&mut self) -> Option<Bytes> {
        loop {
            let chunk = match self.pieces.front_mut()? {
                Piece::Ready(_) => match self.pieces.pop_front() {
                    Some(Piece::Ready(b)) => Some(b),
                    _ => None,
                },
                Piece::Inflate(inflating, _) => match inflating.next_piece(INFLATED_PIECE) {
                    Some(b) => Some(b),
                    None => {
                        if inflating.short() > 0 {
                            // Parts are checked before they are published: not expected.
                            error!(
                                short = inflating.short(),
                                "a deflated part of the exposition ended early; this body is short"
                            );
                        }
                        self.pieces.pop_front();
                        None
                    }
                },
            };
            if let Some(chunk) = chunk
                && !chunk.is_empty()
            {
                self.remaining = self.remaining.saturating_sub(chunk.len() as u64);
                return Some(chunk);
            }
        }
    }

    /// Whether nothing is left to send.
    pub(crate) fn is_end(&self) -> bool {
        self.pieces.is_empty()
    }
}

/// Seconds since the Unix epoch, 0 for times before it.
pub(crate) fn unix_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;
    use crate::changes::TagCounts;
    use crate::inventory::fixtures::{image, repository, snapshot, tag};

    /// An inventory whose exposition is several times [`INFLATED_PIECE`] and the renderer's
    /// chunk, so that every part is sent in several pieces.
    fn large() -> (Snapshot, Counters) {
        let tags: Vec<_> = (0..3000)
            .map(|i| {
                tag(&format!("1.{i}.0"), &format!("sha256:{i:064x}")).with_images(vec![
                    image("linux", "amd64", "", &format!("sha256:{:064x}", i + 1)).sized(i),
                    image("linux", "arm64", "v8", &format!("sha256:{:064x}", i + 2)),
                ])
            })
            .collect();
        let s = snapshot(vec![(
            "acme",
            vec![
                repository("api", Some(tags)),
                repository("empty", None),
                repository("web", Some(vec![tag("latest", "sha256:w")])),
            ],
        )]);
        let mut counters = Counters::default();
        counters.cover(&s);
        counters.tags.insert(
            ("acme".into(), "api".into()),
            TagCounts {
                added: 3,
                ..TagCounts::default()
            },
        );
        (s, counters)
    }

    fn body(mut body: Body) -> Vec<u8> {
        let announced = body.remaining();
        let mut out = Vec::new();
        while let Some(chunk) = body.next_chunk() {
            out.extend_from_slice(&chunk);
        }
        assert_eq!(
            out.len() as u64,
            announced,
            "the length announced is the length sent"
        );
        assert_eq!(body.remaining(), 0);
        out
    }

    #[test]
    fn every_scrape_serves_what_the_renderer_renders_whole() {
        let (s, counters) = large();
        let options = render::Options::default();
        let mut whole = render::render_inventory(&s, &options);
        whole.append(render::render_changes(&counters));
        assert!(
            whole.text.len() > 4 * INFLATED_PIECE,
            "several pieces per part"
        );
        let published = Published::new(
            Arc::new(s),
            None,
            None,
            &counters,
            &History::default(),
            &options,
        );
        assert_eq!(published.exposition_len(), whole.text.len() as u64);
        assert!(published.deflated_len() * 5 < whole.text.len());
        let (_tx, rx) = watch::channel(Arc::new(published));
        let own = || b"own_series 1\n".to_vec();
        for format in [Format::Text, Format::OpenMetrics] {
            let mut expected = b"own_series 1\n".to_vec();
            if format == Format::OpenMetrics {
                expected = format::openmetrics_from_text(&expected);
                expected.extend_from_slice(&whole.openmetrics_text());
                expected.extend_from_slice(format::EOF);
            } else {
                expected.extend_from_slice(&whole.text);
            }
            let plain = scrape(&own, &rx, false, format);
            assert!(!plain.gzipped);
            assert!(body(plain.body) == expected, "{format:?} plain");
            let gzipped = scrape(&own, &rx, true, format);
            assert!(gzipped.gzipped);
            let compressed = body(gzipped.body);
            let mut inflated = Vec::new();
            flate2::read::GzDecoder::new(&compressed[..])
                .read_to_end(&mut inflated)
                .unwrap();
            assert!(inflated == expected, "{format:?} gzip");
        }
    }
}
