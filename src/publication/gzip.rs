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

    /// Its text again, a piece at a time.
    pub(super) fn inflate(&self) -> Inflating {
        Inflating {
            data: self.data.clone(),
            decompress: Decompress::new(false),
            left: self.len,
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
}

impl Inflating {
    /// The next piece of text, at most `max` bytes; `None` at the end. Data that does not
    /// inflate (which this module never makes) ends the text early.
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
fn deflate(
    compress: &mut Compress,
    input: &[u8],
    out: &mut Vec<u8>,
    flush: FlushCompress,
) -> io::Result<()> {
    let start = compress.total_in();
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
        let done = (compress.total_in() - start) as usize == input.len();
        match (status, flush) {
            (Status::StreamEnd, _) => return Ok(()),
            // Complete once all input is in and the output did not fill up.
            _ if done && out.len() < out.capacity() => return Ok(()),
            _ => {}
        }
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
