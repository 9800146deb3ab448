//! One gzip stream from a small part compressed per scrape and a large part compressed once
//! per refresh.
//!
//! A scrape's body is the exporter's own series (a few kilobytes, new every time) followed by
//! the inventory (up to hundreds of megabytes, the same until the next refresh). Compressing the
//! whole body per scrape would take a second at 100k tags. Instead the inventory is
//! deflated once; per scrape, the small part is deflated and ended with a sync flush (so it
//! stops on a byte boundary with no final block), the inventory's deflate data follows, and
//! the gzip trailer carries the CRC of both parts combined. The result is a single gzip
//! member, which every decoder reads, not two concatenated members, which some do not.

use std::io;

use bytes::Bytes;
use flate2::{Compress, Compression, Crc, Decompress, FlushCompress, FlushDecompress, Status};

/// The gzip header of RFC 1952: deflate, no flags, no time, no extra flags, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// How much text [`Deflated::check`] inflates at a time.
const CHECKED_PIECE: usize = 256 * 1024;

/// How a sync flush ends: the length and its complement of an empty stored block.
const SYNC_MARKER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The last block of every stream: an empty block with fixed codes, marked final.
const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// Text deflated once, to go after a gzip stream's start that is compressed later. Parts
/// deflated apart are joined in one stream: each ends on a byte boundary without a final
/// block, and [`gzip`] ends the stream with [`FINAL_BLOCK`].
#[derive(Debug, Default)]
pub(super) struct Deflated {
    /// Raw deflate data ending with a sync flush; empty for empty text.
    data: Bytes,
    crc: Crc,
    /// Bytes of text deflated.
    len: u64,
}

impl Deflated {
    /// Deflates `text` at the fast level: the exposition is repetitive enough that it still
    /// shrinks about sevenfold.
    pub(super) fn new(text: &[u8]) -> io::Result<Self> {
        let mut stream = DeflateStream::new();
        stream.write(text)?;
        stream.finish()
    }

    /// Bytes of text it holds, inflated.
    pub(super) fn len(&self) -> u64 {
        self.len
    }

    /// Bytes it takes, deflated.
    pub(super) fn deflated_len(&self) -> usize {
        self.data.len()
    }

    /// Checks that the data inflates to as many bytes as were deflated, with the same CRC,
    /// and ends where the data ends: what the joined streams of the scrapes rely on.
    pub(super) fn check(&self) -> io::Result<()> {
        let mut inflating = self.inflate();
        let mut crc = Crc::new();
        let mut len = 0u64;
        while let Some(piece) = inflating.next_piece(CHECKED_PIECE) {
            crc.update(&piece);
            len += piece.len() as u64;
        }
        // The next part starts where this one ends: it must end on the flush's marker, an
        // empty stored block, and inflating must have taken every byte of it.
        let whole = self.data.is_empty()
            || (inflating.decompress.total_in() as usize == self.data.len()
                && self.data.ends_with(&SYNC_MARKER));
        if len == self.len && crc.sum() == self.crc.sum() && whole {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{} bytes deflated into {} inflate to {len} of {} deflated bytes",
                self.len,
                self.data.len(),
                inflating.decompress.total_in()
            )))
        }
    }

    /// The same part with its last `n` bytes of data cut off, as a broken compressor would
    /// leave it.
    #[cfg(test)]
    pub(super) fn cut(mut self, n: usize) -> Deflated {
        self.data = self.data.slice(..self.data.len().saturating_sub(n));
        self
    }

    /// Its text again, a piece at a time.
    pub(super) fn inflate(&self) -> Inflating {
        Inflating {
            data: self.data.clone(),
            decompress: Decompress::new(false),
            left: self.len,
            short: 0,
        }
    }
}

/// Text being deflated a piece at a time into one [`Deflated`], so that the whole text is
/// never held at once.
pub(super) struct DeflateStream {
    compress: Compress,
    data: Vec<u8>,
    crc: Crc,
}

impl DeflateStream {
    pub(super) fn new() -> Self {
        DeflateStream {
            compress: Compress::new(Compression::fast(), false),
            data: Vec::new(),
            crc: Crc::new(),
        }
    }

    /// Deflates `text` after what was written before.
    pub(super) fn write(&mut self, text: &[u8]) -> io::Result<()> {
        if text.is_empty() {
            return Ok(());
        }
        self.crc.update(text);
        deflate(
            &mut self.compress,
            text,
            &mut self.data,
            FlushCompress::None,
        )
    }

    /// Ends the data on a byte boundary, without a final block.
    pub(super) fn finish(mut self) -> io::Result<Deflated> {
        let len = self.compress.total_in();
        if len == 0 {
            return Ok(Deflated::default());
        }
        deflate(&mut self.compress, &[], &mut self.data, FlushCompress::Sync)?;
        self.data.shrink_to_fit();
        Ok(Deflated {
            data: self.data.into(),
            crc: self.crc,
            len,
        })
    }
}

/// A [`Deflated`] being inflated, a piece at a time.
pub(super) struct Inflating {
    data: Bytes,
    decompress: Decompress,
    /// Bytes of text still to come.
    left: u64,
    /// Bytes of text that did not come because the data ended or broke early.
    short: u64,
}

impl Inflating {
    /// Bytes of text that did not come because the data ended or broke early: 0 for data
    /// that passed [`Deflated::check`].
    pub(super) fn short(&self) -> u64 {
        self.short
    }

    /// The next piece of text, at most `max` bytes; `None` at the end. Data that does not
    /// inflate ends the text early (see [`Inflating::short`]).
    pub(super) fn next_piece(&mut self, max: usize) -> Option<Bytes> {
        if self.left == 0 {
            return None;
        }
        let want = max.min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let mut out = Vec::with_capacity(want);
        while out.len() < want {
            let consumed = self.decompress.total_in() as usize;
            let before = out.len();
            let status = self.decompress.decompress_vec(
                &self.data[consumed..],
                &mut out,
                FlushDecompress::None,
            );
            let stuck = out.len() == before && self.decompress.total_in() as usize == consumed;
            if status.is_err() || stuck {
                self.short = self.left - out.len() as u64;
                self.left = 0;
                break;
            }
        }
        self.left = self.left.saturating_sub(out.len() as u64);
        (!out.is_empty()).then(|| Bytes::from(out))
    }
}

/// One gzip member holding `head`, then the text of each of `tail` in order, as buffers to
/// send in order; only `head` is compressed here.
pub(super) fn gzip<'a>(
    head: &[u8],
    tail: impl IntoIterator<Item = &'a Deflated>,
) -> io::Result<Vec<Bytes>> {
    let mut start = Vec::with_capacity(HEADER.len() + head.len() / 3 + 64);
    start.extend_from_slice(&HEADER);
    let mut compress = Compress::new(Compression::fast(), false);
    deflate(&mut compress, head, &mut start, FlushCompress::Sync)?;
    let mut crc = Crc::new();
    crc.update(head);
    let mut parts = vec![Bytes::from(start)];
    for part in tail {
        crc.combine(&part.crc);
        if !part.data.is_empty() {
            parts.push(part.data.clone());
        }
    }
    let mut end = Vec::with_capacity(FINAL_BLOCK.len() + 8);
    end.extend_from_slice(&FINAL_BLOCK);
    end.extend_from_slice(&crc.sum().to_le_bytes());
    end.extend_from_slice(&crc.amount().to_le_bytes());
    parts.push(end.into());
    Ok(parts)
}

/// Appends the raw deflate data of `input` to `out`, ending with `flush`, with `compress`
/// (which keeps its state for the next call).
///
/// A call that fills the output may leave output inside the compressor, and the deflate
/// backend (miniz_oxide) spends the next call only on handing that over: it returns with room
/// to spare although, with [`FlushCompress::Sync`], the text it still holds has not been
/// deflated and the flush marker not written. Ending there cut a part short in the middle of a
/// block, while its length and CRC counted the whole text: the joined gzip stream then broke
/// a few bytes before the end of that part, and a plain scrape inflating it stopped short of
/// its `Content-Length`. So a flush is complete only after a call that found nothing held back
/// (the call before it did not fill the output) and did not fill the output itself. When the
/// first flush did complete, the extra call adds an empty stored block (5 bytes), which every
/// inflater skips.
fn deflate(
    compress: &mut Compress,
    input: &[u8],
    out: &mut Vec<u8>,
    flush: FlushCompress,
) -> io::Result<()> {
    let start = compress.total_in();
    // Whether the last call filled the output, so that the compressor may hold some back.
    let mut held_back = false;
    loop {
        let consumed = (compress.total_in() - start) as usize;
        // Grown by a quarter at a time: the largest family's data is megabytes, and doubling
        // would leave up to as much again unused until it is shrunk.
        if out.capacity() - out.len() < 1024 {
            out.reserve_exact((out.len() / 4).max(64 * 1024));
        }
        let status = compress
            .compress_vec(&input[consumed..], out, flush)
            .map_err(io::Error::other)?;
        if status == Status::StreamEnd {
            return Ok(());
        }
        let all_in = (compress.total_in() - start) as usize == input.len();
        let full = out.len() == out.capacity();
        // Without a flush, what the compressor holds is deflated by a later call; with one,
        // everything must be out.
        let complete = match flush {
            FlushCompress::None => all_in && !full,
            _ => all_in && !full && !held_back,
        };
        if complete {
            return Ok(());
        }
        held_back = full;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read as _;

    use super::*;

    fn gunzip_single_member(parts: &[Bytes]) -> Vec<u8> {
        let joined: Vec<u8> = parts.iter().flat_map(|b| b.iter().copied()).collect();
        // GzDecoder reads one member only, like the strictest clients.
        let mut decoder = flate2::read::GzDecoder::new(&joined[..]);
        let mut out = Vec::new();
        decoder.read_to_end(&mut out).expect("a valid gzip stream");
        out
    }

    #[test]
    fn a_head_and_a_predeflated_tail_make_one_valid_gzip_member() {
        let tail_text: Vec<u8> = (0..200_000)
            .flat_map(|i| format!("dockerhub_tag_info{{tag=\"v{i}\"}} 1\n").into_bytes())
            .collect();
        let tail = Deflated::new(&tail_text).unwrap();
        for head in [&b""[..], b"# HELP x y\nx 1\n", &tail_text[..70_000]] {
            let parts = gzip(head, [&tail]).unwrap();
            let mut expected = head.to_vec();
            expected.extend_from_slice(&tail_text);
            assert_eq!(gunzip_single_member(&parts), expected);
        }
    }

    #[test]
    fn text_deflated_in_pieces_inflates_in_pieces_to_the_same_text() {
        let text: Vec<u8> = (0..50_000)
            .flat_map(|i| format!("dockerhub_tag_info{{tag=\"v{i}\"}} 1\n").into_bytes())
            .collect();
        let mut stream = DeflateStream::new();
        for piece in text.chunks(7_777) {
            stream.write(piece).unwrap();
        }
        let deflated = stream.finish().unwrap();
        assert_eq!(deflated.len(), text.len() as u64);
        assert!(deflated.deflated_len() < text.len() / 5);
        assert_eq!(
            gunzip_single_member(&gzip(b"", [&deflated]).unwrap()),
            text,
            "the same as one deflated at once"
        );
        for max in [1, 1000, 65_536, usize::MAX] {
            let mut inflating = deflated.inflate();
            let mut back = Vec::new();
            while let Some(piece) = inflating.next_piece(max) {
                assert!(piece.len() <= max);
                back.extend_from_slice(&piece);
            }
            assert_eq!(back, text, "pieces of at most {max}");
        }
        assert!(
            Deflated::new(b"")
                .unwrap()
                .inflate()
                .next_piece(10)
                .is_none()
        );
    }

    /// Lines like the inventory's, with digests that hardly compress: about a literal per
    /// byte, so that the compressor's buffer of codes fills every 60 kB or so.
    fn digest_lines(lines: usize) -> Vec<u8> {
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        let mut text = Vec::new();
        for i in 0..lines {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let y = x.wrapping_mul(0x9e37_79b9_7f4a_7c15);
            text.extend_from_slice(
                format!(
                    "dockerhub_image_info{{repository=\"r{}\",tag=\"v{}\",digest=\"sha256:{x:016x}{y:016x}{:016x}\"}} 1\n",
                    i / 100,
                    i % 100,
                    x ^ y
                )
                .as_bytes(),
            );
        }
        text
    }

    /// Raw deflate data without a final block, inflated as far as it goes.
    fn inflate_raw(data: &[u8]) -> Vec<u8> {
        let mut decompress = Decompress::new(false);
        let mut inflated = Vec::with_capacity(data.len() * 20 + 1024);
        decompress
            .decompress_vec(data, &mut inflated, FlushDecompress::Sync)
            .expect("valid deflate data");
        assert_eq!(decompress.total_in() as usize, data.len());
        inflated
    }

    #[test]
    fn a_flush_after_output_held_back_still_deflates_every_byte() {
        // Text of these sizes ends with the compressor's buffer of codes filling during the
        // flush, when the output has less room left than the block: the compressor holds the
        // rest of the block back, and the flush is complete only two calls later. One size
        // in a few hundred does that; this range holds 13 (2,187 to 2,199 lines).
        let mut sizes = 0;
        for lines in 2_150..2_250 {
            let text = digest_lines(lines);
            let deflated = Deflated::new(&text).unwrap();
            assert!(
                inflate_raw(&deflated.data) == text,
                "{lines} lines ({} bytes) inflate to their text",
                text.len()
            );
            deflated.check().unwrap();
            sizes += 1;
        }
        assert_eq!(sizes, 100);
    }

    #[test]
    fn a_part_cut_short_fails_its_check() {
        let text = digest_lines(2_000);
        let deflated = Deflated::new(&text).unwrap();
        deflated.check().unwrap();
        for n in [1, 4, 34, 1_000] {
            let cut = Deflated::new(&text).unwrap().cut(n);
            assert!(cut.check().is_err(), "{n} bytes short");
            let mut inflating = cut.inflate();
            let mut got = 0;
            while let Some(piece) = inflating.next_piece(65_536) {
                got += piece.len() as u64;
            }
            assert_eq!(got + inflating.short(), text.len() as u64);
            // Within the flush's marker the text is whole, but the next part would not join.
            assert_eq!(inflating.short() > 0, n > SYNC_MARKER.len());
        }
    }

    #[test]
    fn an_empty_tail_works_too() {
        let parts = gzip(b"up 1\n", [&Deflated::new(b"").unwrap()]).unwrap();
        assert_eq!(gunzip_single_member(&parts), b"up 1\n");
        let parts = gzip(b"", []).unwrap();
        assert_eq!(gunzip_single_member(&parts), b"");
    }

    #[test]
    fn parts_deflated_apart_join_in_one_member() {
        let texts: [&[u8]; 4] = [b"# HELP a x\n", b"", b"a{b=\"c\"} 1\n", &[b'x'; 100_000]];
        let parts: Vec<Deflated> = texts.iter().map(|t| Deflated::new(t).unwrap()).collect();
        let body = gzip(b"own 1\n", parts.iter().rev()).unwrap();
        let mut expected = b"own 1\n".to_vec();
        for t in texts.iter().rev() {
            expected.extend_from_slice(t);
        }
        assert_eq!(gunzip_single_member(&body), expected);
    }
}
