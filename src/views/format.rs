//! How values are written for people: times, digests and sizes.

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// Unix seconds in RFC 3339, UTC, to the second (`2026-12-02T15:04:05Z`); `None` for a time
/// out of range.
pub(crate) fn rfc3339(unix_seconds: f64) -> Option<String> {
    // `as` saturates, and out-of-range values fail in `from_unix_timestamp` below.
    let t = OffsetDateTime::from_unix_timestamp(unix_seconds.floor() as i64).ok()?;
    t.format(&Rfc3339).ok()
}

/// Unix seconds in RFC 3339, UTC, to the nearest millisecond (`2026-12-02T15:04:05.123Z`).
pub(crate) fn rfc3339_millis(unix_seconds: f64) -> Option<String> {
    let millis = (unix_seconds * 1000.0).round() as i128;
    let t = OffsetDateTime::from_unix_timestamp_nanos(millis * 1_000_000).ok()?;
    let whole = t.replace_nanosecond(0).ok()?.format(&Rfc3339).ok()?;
    let stem = whole.strip_suffix('Z')?;
    Some(format!("{stem}.{:03}Z", t.millisecond()))
}

/// A digest shortened for a table: the algorithm and the first 12 hexadecimal digits
/// (`sha256:0123456789ab`), as `docker images` shortens IDs; other text as it is, up to 19
/// characters.
pub(crate) fn short_digest(digest: &str) -> &str {
    let cut = match digest.split_once(':') {
        Some((algorithm, _)) => algorithm.len() + 1 + 12,
        None => 19,
    };
    match digest.char_indices().nth(cut) {
        Some((i, _)) => &digest[..i],
        None => digest,
    }
}

/// Bytes in decimal units, as the Hub shows sizes (`29.2 MB`).
pub(crate) fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1000.0;
    let mut unit = 0;
    while value >= 999.95 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_in_rfc_3339() {
        assert_eq!(
            rfc3339(1_727_833_827.9).as_deref(),
            Some("2024-10-02T01:50:27Z")
        );
        assert_eq!(
            rfc3339_millis(1_727_833_827.25).as_deref(),
            Some("2024-10-02T01:50:27.250Z")
        );
        assert_eq!(
            rfc3339_millis(1_727_833_827.0).as_deref(),
            Some("2024-10-02T01:50:27.000Z")
        );
        assert_eq!(rfc3339(1e300), None);
        assert_eq!(
            rfc3339_millis(f64::NAN).as_deref(),
            Some("1970-01-01T00:00:00.000Z")
        );
    }

    #[test]
    fn digests_shortened_without_splitting_a_character() {
        let d = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(short_digest(d), "sha256:0123456789ab");
        assert_eq!(short_digest("sha256:abc"), "sha256:abc");
        assert_eq!(short_digest(""), "");
        assert_eq!(short_digest("ééééééééééééééééééééé"), "ééééééééééééééééééé");
    }

    #[test]
    fn sizes_in_decimal_units() {
        assert_eq!(size(0), "0 B");
        assert_eq!(size(999), "999 B");
        assert_eq!(size(1000), "1.0 kB");
        assert_eq!(size(29_150_123), "29.2 MB");
        assert_eq!(size(999_999), "1.0 MB");
        assert_eq!(size(u64::MAX), "18446.7 PB");
    }
}
