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
pub(crate) mod render;

pub(crate) use format::Format;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tokio::sync::watch;
use tracing::warn;

use crate::changes::{Counters, History};
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
    /// The inventory families and the change counters, deflated once: what ends the gzip
    /// stream of every scrape that asks for gzip, and what a plain scrape inflates as it is
    /// sent.
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
        let mut deflating = Deflating::default();
        render::render_to(&snapshot, counters, options, &mut deflating);
        Published {
            snapshot,
            last_refresh,
            last_success,
            changes: Arc::new(history.clone()),
            deflated: deflating.finish(),
            ready: last_refresh.is_some_and(|r| r.result != RefreshResult::Failure),
        }
    }

    /// Size of the inventory's exposition in bytes, uncompressed (text format).
    pub(crate) fn exposition_len(&self) -> u64 {
        self.deflated
            .parts(Format::Text)
            .map(gzip::Deflated::len)
            .sum()
    }

    /// Size of the inventory's exposition as kept, deflated (text format).
    pub(crate) fn deflated_len(&self) -> usize {
        self.deflated
            .parts(Format::Text)
            .map(gzip::Deflated::deflated_len)
            .sum()
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

/// A [`DeflatedExposition`] being rendered into.
#[derive(Default)]
struct Deflating {
    done: DeflatedExposition,
    current: Option<gzip::DeflateStream>,
    /// Set when compressing failed, which compressing into memory does not.
    failed: bool,
}

impl Deflating {
    /// What was rendered; empty (a scrape then carries the exporter's own series only) if
    /// compressing failed.
    fn finish(mut self) -> DeflatedExposition {
        let last = self.current.take().unwrap_or_else(gzip::DeflateStream::new);
        match last.finish() {
            Ok(last) if !self.failed => {
                self.done.between.push(last);
                self.done
            }
            _ => {
                warn!(
                    "compressing the exposition failed; scrapes carry the exporter's own series only"
                );
                DeflatedExposition::default()
            }
        }
    }
}

impl render::Output for Deflating {
    fn samples(&mut self, text: &[u8]) {
        let current = self.current.get_or_insert_with(gzip::DeflateStream::new);
        self.failed |= current.write(text).is_err();
    }

    fn header(&mut self, text: &[u8], openmetrics: &[u8]) {
        let before = self.current.take().unwrap_or_else(gzip::DeflateStream::new);
        match (
            before.finish(),
            gzip::Deflated::new(text),
            gzip::Deflated::new(openmetrics),
        ) {
            (Ok(before), Ok(text), Ok(openmetrics)) => {
                self.done.between.push(before);
                self.done.headers.push((text, openmetrics));
            }
            _ => self.failed = true,
        }
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
    if gzip {
        let end = match format {
            Format::Text => None,
            Format::OpenMetrics => gzip::Deflated::new(format::EOF).ok(),
        };
        match gzip::gzip(&own, published.deflated.parts(format).chain(end.as_ref())) {
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
    for part in published.deflated.parts(format) {
        pieces.push_back(Piece::Inflate(part.inflate(), part.len()));
    }
    if format == Format::OpenMetrics {
        pieces.push_back(Piece::Ready(Bytes::from_static(format::EOF)));
    }
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
