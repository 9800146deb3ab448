//! How values are written for people: times, digests and sizes.

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

use crate::inventory::Image;

/// `n` with its thousands set apart by commas, as people read counts: `1,729`.
pub(crate) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// What a listing the Hub cut short holds, for people: `1,000 of 1,729 tags listed`.
pub(crate) fn listed_of(listed: usize, counted: u64) -> String {
    format!("{} of {} tags listed", count(listed as u64), count(counted))
}

/// Unix seconds in RFC 3339, UTC, to the second (`2026-12-02T15:04:05Z`); `None` for a time
/// RFC 3339 cannot write (before year 0 or after 9999, not finite).
pub(crate) fn rfc3339(unix_seconds: f64) -> Option<String> {
    format_time(
        unix_seconds,
        0,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z"),
    )
}

/// Unix seconds in RFC 3339, UTC, to the nearest millisecond (`2026-12-02T15:04:05.123Z`).
pub(crate) fn rfc3339_millis(unix_seconds: f64) -> Option<String> {
    format_time(
        unix_seconds,
        3,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"),
    )
}

/// Unix seconds in RFC 3339, UTC, to the nearest microsecond, the precision the Hub gives
/// (`2024-10-02T01:50:27.905360Z`).
pub(crate) fn rfc3339_micros(unix_seconds: f64) -> Option<String> {
    format_time(
        unix_seconds,
        6,
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z"),
    )
}

/// `unix_seconds` rounded to `digits` decimal places of a second, in `format`.
fn format_time(
    unix_seconds: f64,
    digits: u32,
    format: &[BorrowedFormatItem<'_>],
) -> Option<String> {
    if !unix_seconds.is_finite() {
        return None;
    }
    // The whole seconds and the fraction apart (the subtraction is exact), so that rounding
    // the fraction gives back the digits the Hub wrote: a time of this century is held to
    // within a quarter of a microsecond.
    let whole = unix_seconds.floor();
    let unit = 10i128.pow(9 - digits);
    // To the second a time is cut, as clocks show it; finer it is rounded.
    let fraction = match digits {
        0 => 0,
        _ => ((unix_seconds - whole) * 10f64.powi(digits as i32)).round() as i128,
    };
    let nanos = (whole as i128)
        .checked_mul(1_000_000_000)?
        .checked_add(fraction * unit)?;
    let t = OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()?;
    if !(0..=9999).contains(&t.year()) {
        return None;
    }
    t.format(format).ok()
}

/// A platform as `os/architecture`, with `/variant` when there is one.
pub(crate) fn platform(image: &Image) -> String {
    if image.variant.is_empty() {
        format!("{}/{}", image.os, image.architecture)
    } else {
        format!("{}/{}/{}", image.os, image.architecture, image.variant)
    }
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
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn counts_set_their_thousands_apart() {
        for (n, text) in [
            (0, "0"),
            (999, "999"),
            (1_000, "1,000"),
            (1_729, "1,729"),
            (123_456_789, "123,456,789"),
            (u64::MAX, "18,446,744,073,709,551,615"),
        ] {
            assert_eq!(count(n), text);
        }
        assert_eq!(listed_of(1_000, 1_729), "1,000 of 1,729 tags listed");
    }

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
        assert_eq!(rfc3339_millis(f64::NAN), None);
        assert_eq!(rfc3339(-62_167_219_201.0), None, "before year 0");
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

    #[test]
    fn times_the_table_and_json_cannot_write_are_left_out() {
        for bad in [f64::NAN, f64::INFINITY, -1e15, 1e15] {
            assert_eq!(rfc3339_micros(bad), None, "{bad}");
        }
        assert_eq!(
            rfc3339_micros(0.0).as_deref(),
            Some("1970-01-01T00:00:00.000000Z")
        );
        assert_eq!(
            rfc3339(1_727_833_827.905_36).as_deref(),
            Some("2024-10-02T01:50:27Z")
        );
        // A fraction that rounds up to the next second carries into it.
        assert_eq!(
            rfc3339_micros(1_727_833_827.999_999_9).as_deref(),
            Some("2024-10-02T01:50:28.000000Z")
        );
    }

    proptest::proptest! {
        #![proptest_config(crate::testing::cases(256))]

        #[test]
        fn a_time_of_this_century_comes_back_to_the_microsecond_the_hub_gave(
            micros in 946_684_800_000_000i64..2_147_483_647_000_000,
        ) {
            let given = OffsetDateTime::from_unix_timestamp_nanos(i128::from(micros) * 1_000).unwrap();
            // As the client reads a time from the Hub.
            let seconds = given.unix_timestamp_nanos() as f64 / 1e9;
            let written = rfc3339_micros(seconds).unwrap();
            let back = OffsetDateTime::parse(&written, &time::format_description::well_known::Rfc3339).unwrap();
            prop_assert_eq!(back, given);
        }
    }
}
