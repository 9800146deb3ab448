//! The inventory's exposition as a publication keeps it: in parts that a scrape joins (the
//! text before, between and after the families' header lines, and the header lines in either
//! format), deflated once per publication.
//!
//! Every deflated part is inflated once and checked against the text that went in before it
//! is published, because a scrape sends a `Content-Length` (the text's length) before it
//! inflates a single byte: a part that did not inflate whole would be served short, or as a
//! gzip stream that breaks near its end, to every scrape until the next publication. Should a
//! part fail the check, the exposition is rendered again and kept plain, and every scrape is
//! served uncompressed: larger, never wrong. This module does not render (see `render`) and
//! does not build the bodies of scrapes.

use std::io;

use bytes::Bytes;
use tracing::error;

use super::{Format, gzip, render};

/// An exposition in parts of one kind, in the order they are rendered.
#[derive(Debug, Default)]
pub(super) struct Parts<T> {
    /// The text before the first family's headers, between each two, and after the last.
    between: Vec<T>,
    /// Each family's header lines in the text format, and in OpenMetrics.
    headers: Vec<(T, T)>,
}

impl<T> Parts<T> {
    /// The parts in order, with the header lines of `format`.
    pub(super) fn iter(&self, format: Format) -> impl Iterator<Item = &T> {
        let headers = self.headers.iter().map(move |(text, om)| match format {
            Format::Text => text,
            Format::OpenMetrics => om,
        });
        self.between
            .iter()
            .zip(headers.map(Some).chain(std::iter::repeat(None)))
            .flat_map(|(between, header)| std::iter::once(between).chain(header))
    }

    /// Every part, whatever its format, in no particular order.
    fn all(&self) -> impl Iterator<Item = &T> {
        self.between
            .iter()
            .chain(self.headers.iter().flat_map(|(text, om)| [text, om]))
    }
}

/// The exposition as kept between publications.
#[derive(Debug)]
pub(super) enum Kept {
    /// Deflated once: what ends the gzip stream of every scrape that asks for gzip, and what
    /// a plain scrape inflates as it is sent.
    Deflated(Parts<gzip::Deflated>),
    /// Plain, because the deflated parts failed their check: every scrape is served as it is.
    Plain(Parts<Bytes>),
}

impl Default for Kept {
    fn default() -> Self {
        Kept::Deflated(Parts::default())
    }
}

impl Kept {
    /// Renders the exposition with `render` straight into the compressor, so that the plain
    /// text is never held whole, and checks every part. Parts that fail the check are logged
    /// at error level and the exposition is rendered again, plain; the `bool` tells whether
    /// that happened.
    pub(super) fn render(render: &dyn Fn(&mut dyn render::Output)) -> (Kept, bool) {
        Self::render_checked(render, |parts| parts)
    }

    /// [`Kept::render`], with `damage` standing between the compressor and the check.
    fn render_checked(
        render: &dyn Fn(&mut dyn render::Output),
        damage: impl FnOnce(Parts<gzip::Deflated>) -> Parts<gzip::Deflated>,
    ) -> (Kept, bool) {
        let mut deflating = Deflating::default();
        render(&mut deflating);
        let checked = deflating.finish().map(damage).and_then(|parts| {
            parts.all().try_for_each(gzip::Deflated::check)?;
            Ok(parts)
        });
        match checked {
            Ok(parts) => (Kept::Deflated(parts), false),
            Err(e) => {
                error!(
                    error = %e,
                    "the compressed exposition does not inflate to its text; keeping it uncompressed, and serving every scrape uncompressed until the next publication"
                );
                let mut collecting = Collecting::default();
                render(&mut collecting);
                (Kept::Plain(collecting.finish()), true)
            }
        }
    }

    /// Size of the exposition in bytes, uncompressed (text format).
    pub(super) fn len(&self) -> u64 {
        match self {
            Kept::Deflated(parts) => parts.iter(Format::Text).map(gzip::Deflated::len).sum(),
            Kept::Plain(parts) => parts.iter(Format::Text).map(|b| b.len() as u64).sum(),
        }
    }

    /// Size of the exposition as kept (text format).
    pub(super) fn kept_len(&self) -> usize {
        match self {
            Kept::Deflated(parts) => parts
                .iter(Format::Text)
                .map(gzip::Deflated::deflated_len)
                .sum(),
            Kept::Plain(parts) => parts.iter(Format::Text).map(Bytes::len).sum(),
        }
    }
}

/// [`Parts`] being deflated as they are rendered.
#[derive(Default)]
struct Deflating {
    done: Parts<gzip::Deflated>,
    current: Option<gzip::DeflateStream>,
    /// The first error of compressing, which compressing into memory does not have.
    failed: Option<io::Error>,
}

impl Deflating {
    fn finish(mut self) -> io::Result<Parts<gzip::Deflated>> {
        if let Some(e) = self.failed {
            return Err(e);
        }
        let last = self.current.take().unwrap_or_else(gzip::DeflateStream::new);
        self.done.between.push(last.finish()?);
        Ok(self.done)
    }

    fn header_parts(&mut self, text: &[u8], openmetrics: &[u8]) -> io::Result<()> {
        let before = self.current.take().unwrap_or_else(gzip::DeflateStream::new);
        let before = before.finish()?;
        let headers = (
            gzip::Deflated::new(text)?,
            gzip::Deflated::new(openmetrics)?,
        );
        self.done.between.push(before);
        self.done.headers.push(headers);
        Ok(())
    }
}

impl render::Output for Deflating {
    fn samples(&mut self, text: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        let current = self.current.get_or_insert_with(gzip::DeflateStream::new);
        if let Err(e) = current.write(text) {
            self.failed = Some(e);
        }
    }

    fn header(&mut self, text: &[u8], openmetrics: &[u8]) {
        if self.failed.is_some() {
            return;
        }
        if let Err(e) = self.header_parts(text, openmetrics) {
            self.failed = Some(e);
        }
    }
}

/// [`Parts`] kept plain as they are rendered.
#[derive(Default)]
struct Collecting {
    done: Parts<Bytes>,
    current: Vec<u8>,
}

impl Collecting {
    fn finish(mut self) -> Parts<Bytes> {
        self.done.between.push(Bytes::from(self.current));
        self.done
    }
}

impl render::Output for Collecting {
    fn samples(&mut self, text: &[u8]) {
        self.current.extend_from_slice(text);
    }

    fn header(&mut self, text: &[u8], openmetrics: &[u8]) {
        let before = std::mem::take(&mut self.current);
        self.done.between.push(Bytes::from(before));
        self.done.headers.push((
            Bytes::copy_from_slice(text),
            Bytes::copy_from_slice(openmetrics),
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two families whose parts are large enough to be deflated in many blocks.
    fn render_two_families(out: &mut dyn render::Output) {
        for family in ["a", "b"] {
            out.header(
                format!("# HELP {family} x\n# TYPE {family} counter\n").as_bytes(),
                format!("# HELP {family} x\n# TYPE {family} counter\n").as_bytes(),
            );
            for i in 0..20_000 {
                out.samples(format!("{family}_total{{tag=\"v{i}\"}} {i}\n").as_bytes());
            }
        }
    }

    fn text_of(parts: &Parts<Bytes>, format: Format) -> Vec<u8> {
        parts.iter(format).flat_map(|b| b.iter().copied()).collect()
    }

    #[test]
    fn parts_that_pass_the_check_are_kept_deflated() {
        let (kept, failed) = Kept::render(&render_two_families);
        assert!(!failed);
        let Kept::Deflated(parts) = &kept else {
            panic!("kept plain")
        };
        assert_eq!(parts.iter(Format::Text).count(), 5);
        assert!(kept.kept_len() * 5 < kept.len() as usize);
    }

    #[test]
    fn a_part_cut_short_is_caught_and_the_exposition_kept_plain_and_whole() {
        for cut in [1, 34, 1000] {
            let (kept, failed) = Kept::render_checked(&render_two_families, |mut parts| {
                let last = parts.between.pop().unwrap();
                parts.between.push(last.cut(cut));
                parts
            });
            assert!(failed, "a part {cut} bytes short is caught");
            let Kept::Plain(parts) = &kept else {
                panic!("kept deflated")
            };
            let mut collecting = Collecting::default();
            render_two_families(&mut collecting);
            let expected = collecting.finish();
            for format in [Format::Text, Format::OpenMetrics] {
                assert!(text_of(parts, format) == text_of(&expected, format));
            }
            assert_eq!(kept.len(), text_of(&expected, Format::Text).len() as u64);
        }
    }
}
