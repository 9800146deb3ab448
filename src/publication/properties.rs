//! Joining: whatever the exposition, every scrape body (gzip or plain, text or OpenMetrics)
//! is exactly the exporter's own series followed by the rendered text, and as long as it says.

use std::io::Read as _;
use std::sync::Arc;

use proptest::prelude::*;
use tokio::sync::watch;

use super::{Body, Format, Published, format, render, scrape};

/// One family as the renderer hands it over: its header lines in either format, then its
/// samples in the pieces they are written in.
#[derive(Debug, Clone)]
struct Family {
    text_header: Vec<u8>,
    openmetrics_header: Vec<u8>,
    pieces: Vec<Vec<u8>>,
}

impl Family {
    fn samples(&self) -> impl Iterator<Item = u8> + '_ {
        self.pieces.iter().flatten().copied()
    }
}

/// Sample lines of the shapes the inventory has: many alike but for a counter (which
/// compress to long matches), or carrying digests (which hardly compress), long or short.
fn sample_lines(name: String) -> impl Strategy<Value = Vec<u8>> {
    let alike = (0usize..6_000, any::<u16>()).prop_map({
        let name = name.clone();
        move |(lines, seed)| {
            (0..lines)
                .flat_map(|i| {
                    format!("{name}{{repository=\"r{seed}\",tag=\"1.{i}.0\"}} {i}\n").into_bytes()
                })
                .collect::<Vec<u8>>()
        }
    });
    let digests = (0usize..3_000, any::<u64>()).prop_map(move |(lines, seed)| {
        let mut x = seed | 1;
        (0..lines)
            .flat_map(|i| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                let y = x.rotate_left(23).wrapping_mul(0x9e37_79b9_7f4a_7c15);
                format!(
                    "{name}{{tag=\"v{i}\",digest=\"sha256:{x:016x}{y:016x}{:016x}\"}} {}\n",
                    x ^ y,
                    x % 1_000_000_007
                )
                .into_bytes()
            })
            .collect::<Vec<u8>>()
    });
    prop_oneof![Just(Vec::new()), alike, digests]
}

fn family() -> impl Strategy<Value = Family> {
    let name = "[a-z][a-z_]{0,20}";
    (name, any::<bool>(), any::<bool>())
        .prop_flat_map(|(name, counter, unit)| {
            let kind = if counter { "counter" } else { "gauge" };
            let text_header = format!("# HELP {name} Help of {name}.\n# TYPE {name} {kind}\n");
            let mut openmetrics_header = text_header.clone();
            if unit {
                openmetrics_header.push_str(&format!("# UNIT {name} bytes\n"));
            }
            let sample = if counter {
                format!("{name}_total")
            } else {
                name
            };
            (
                Just(text_header.into_bytes()),
                Just(openmetrics_header.into_bytes()),
                sample_lines(sample),
                prop::collection::vec(1usize..100_000, 1..8),
            )
        })
        .prop_map(|(text_header, openmetrics_header, samples, cuts)| {
            // Cut the samples where the renderer might hand them over.
            let mut pieces = Vec::new();
            let mut rest = &samples[..];
            for cut in cuts.into_iter().cycle() {
                if rest.is_empty() {
                    break;
                }
                let (piece, after) = rest.split_at(cut.min(rest.len()));
                pieces.push(piece.to_vec());
                rest = after;
            }
            Family {
                text_header,
                openmetrics_header,
                pieces,
            }
        })
}

/// Text before the first header, families, text after the last: as the renderer writes.
fn exposition() -> impl Strategy<Value = (Vec<u8>, Vec<Family>, Vec<u8>)> {
    (
        prop::collection::vec(any::<u8>(), 0..200),
        prop::collection::vec(family(), 0..5),
        prop::collection::vec(any::<u8>(), 0..200),
    )
}

fn render_to(before: &[u8], families: &[Family], after: &[u8], output: &mut dyn render::Output) {
    output.samples(before);
    for family in families {
        output.header(&family.text_header, &family.openmetrics_header);
        for piece in &family.pieces {
            output.samples(piece);
        }
    }
    output.samples(after);
}

fn expected(before: &[u8], families: &[Family], after: &[u8], format: Format) -> Vec<u8> {
    let mut text = b"own_series 1\n".to_vec();
    if format == Format::OpenMetrics {
        text = format::openmetrics_from_text(&text);
    }
    text.extend_from_slice(before);
    for family in families {
        text.extend_from_slice(match format {
            Format::Text => &family.text_header,
            Format::OpenMetrics => &family.openmetrics_header,
        });
        text.extend(family.samples());
    }
    text.extend_from_slice(after);
    if format == Format::OpenMetrics {
        text.extend_from_slice(format::EOF);
    }
    text
}

fn sent(mut body: Body) -> Vec<u8> {
    let announced = body.remaining();
    let mut out = Vec::new();
    while let Some(chunk) = body.next_chunk() {
        out.extend_from_slice(&chunk);
    }
    assert_eq!(out.len() as u64, announced, "as long as it says");
    out
}

proptest! {
    // The shapes that once broke a part (a flush during which the compressor's buffer of
    // codes fills) come about one family size in a few hundred, which this many cases reach
    // now and then; `gzip`'s unit tests hit them every time.
    #![proptest_config(crate::testing::cases(96))]

    #[test]
    fn every_joined_body_inflates_to_exactly_the_rendered_text(
        (before, families, after) in exposition()
    ) {
        let published = Published::rendered_by(&|output| render_to(&before, &families, &after, output));
        prop_assert!(!published.exposition_failed());
        let (_tx, rx) = watch::channel(Arc::new(published));
        let own = || b"own_series 1\n".to_vec();
        for format in [Format::Text, Format::OpenMetrics] {
            let expected = expected(&before, &families, &after, format);
            let plain = scrape(&own, &rx, false, format);
            prop_assert!(!plain.gzipped);
            prop_assert!(sent(plain.body) == expected, "{:?} plain", format);
            let gzipped = scrape(&own, &rx, true, format);
            prop_assert!(gzipped.gzipped);
            let compressed = sent(gzipped.body);
            let mut inflated = Vec::new();
            // One member, read as the strictest clients read it.
            flate2::read::GzDecoder::new(&compressed[..])
                .read_to_end(&mut inflated)
                .map_err(|e| TestCaseError::fail(format!("{format:?} gzip: {e}")))?;
            prop_assert!(inflated == expected, "{:?} gzip", format);
        }
    }
}
