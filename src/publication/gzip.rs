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
use flate2::{Compress, Compression, Crc, FlushCompress, Status};

/// The gzip header of RFC 1952: deflate, no flags, no time, no extra flags, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// Text deflated once, to end a gzip stream whose start is compressed later.
#[derive(Debug, Default)]
pub(super) struct Deflated {
    /// Raw deflate data, ending with a final block.
    data: Bytes,
    crc: Crc,
}

impl Deflated {
    /// Deflates `text` at the fast level: the exposition is repetitive enough that it still
    /// shrinks about sevenfold.
    pub(super) fn new(text: &[u8]) -> io::Result<Self> {
        let mut data = Vec::with_capacity(text.len() / 6 + 64);
        deflate(text, &mut data, FlushCompress::Finish)?;
        data.shrink_to_fit();
        let mut crc = Crc::new();
        crc.update(text);
        Ok(Deflated {
            data: data.into(),
            crc,
        })
    }
}

/// One gzip member holding `head` then the text of `tail`, as three buffers to send in order.
pub(super) fn gzip(head: &[u8], tail: &Deflated) -> io::Result<[Bytes; 3]> {
    let mut start = Vec::with_capacity(HEADER.len() + head.len() / 3 + 64);
    start.extend_from_slice(&HEADER);
    deflate(head, &mut start, FlushCompress::Sync)?;
    let mut crc = Crc::new();
    crc.update(head);
    crc.combine(&tail.crc);
    let mut trailer = Vec::with_capacity(8);
    trailer.extend_from_slice(&crc.sum().to_le_bytes());
    trailer.extend_from_slice(&crc.amount().to_le_bytes());
    Ok([start.into(), tail.data.clone(), trailer.into()])
}

/// Appends the raw deflate data of `input` to `out`, ending with `flush`.
fn deflate(input: &[u8], out: &mut Vec<u8>, flush: FlushCompress) -> io::Result<()> {
    let mut compress = Compress::new(Compression::fast(), false);
    loop {
        let consumed = compress.total_in() as usize;
        if out.capacity() - out.len() < 1024 {
            out.reserve(out.len().max(4096));
        }
        let status = compress
            .compress_vec(&input[consumed..], out, flush)
            .map_err(io::Error::other)?;
        let done = compress.total_in() as usize == input.len();
        match (status, flush) {
            (Status::StreamEnd, _) => return Ok(()),
            // A sync flush is complete once all input is in and the output did not fill up.
            (_, FlushCompress::Sync) if done && out.len() < out.capacity() => return Ok(()),
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
            let parts = gzip(head, &tail).unwrap();
            let mut expected = head.to_vec();
            expected.extend_from_slice(&tail_text);
            assert_eq!(gunzip_single_member(&parts), expected);
        }
    }

    #[test]
    fn an_empty_tail_works_too() {
        let parts = gzip(b"up 1\n", &Deflated::new(b"").unwrap()).unwrap();
        assert_eq!(gunzip_single_member(&parts), b"up 1\n");
    }
}
