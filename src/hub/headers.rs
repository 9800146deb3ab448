//! Parsing of the Hub's rate-limit headers: `Retry-After`, `X-Retry-After` and `X-RateLimit-*`.
//!
//! The Hub has sent `Retry-After` both as seconds and as a Unix time, and HTTP allows a date,
//! so [`retry_after`] accepts all three. `X-Retry-After` is documented only as a Unix time
//! (older Hub API references), so [`x_retry_after`] reads nothing else. Missing, empty or
//! malformed values give `None`, never a panic and never a made-up 0. Nothing here sleeps or
//! counts.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Numbers at least this large in `Retry-After` are Unix times, not seconds (about 2001-09).
pub const EPOCH_THRESHOLD: u64 = 1_000_000_000;

/// The longest pause the exporter accepts from the Hub's headers; longer values are capped
/// so that a wrong clock or a malformed header cannot stall the exporter for hours.
pub const MAX_PAUSE: Duration = Duration::from_secs(15 * 60);

/// How long to wait according to a `Retry-After` value, measured from `now`.
pub fn retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(n) = value.parse::<u64>() {
        let wait = if n >= EPOCH_THRESHOLD {
            until_unix(n, now)
        } else {
            Duration::from_secs(n)
        };
        return Some(wait.min(MAX_PAUSE));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(
        date.duration_since(now)
            .unwrap_or(Duration::ZERO)
            .min(MAX_PAUSE),
    )
}

/// How long to wait according to an `X-Retry-After` value, measured from `now`, capped.
///
/// The value is a Unix time in seconds, perhaps with a fraction (`1746136938`,
/// `1746136938.25`); a time already past is no wait, and a small number is such a time (1970),
/// not a number of seconds to wait. Signs, exponents and dates are refused.
pub fn x_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let (whole, fraction) = value.split_once('.').unwrap_or((value, "0"));
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return None;
    }
    // More digits than u64 holds is a time beyond any clock: the longest pause.
    let Ok(seconds) = whole.parse::<u64>() else {
        return Some(MAX_PAUSE);
    };
    // Nanoseconds, rounded up so that the wait never ends before the instant named.
    let (nanos, rest) = fraction.split_at(fraction.len().min(9));
    let nanos =
        format!("{nanos:0<9}").parse::<u64>().ok()? + u64::from(rest.bytes().any(|b| b != b'0'));
    let at = Duration::from_secs(seconds).checked_add(Duration::from_nanos(nanos));
    Some(
        at.map_or(MAX_PAUSE, |at| until_epoch(at, now))
            .min(MAX_PAUSE),
    )
}

/// How long until the Unix time `reset` (an `X-RateLimit-Reset` value), capped.
pub fn until_reset(value: &str, now: SystemTime) -> Option<Duration> {
    let reset = parse_integer(value)?;
    Some(until_unix(u64::try_from(reset).ok()?, now).min(MAX_PAUSE))
}

/// An integer header value; `None` when missing, empty or malformed.
pub fn parse_integer(value: &str) -> Option<i64> {
    // Some rate-limit headers carry a window (`100;w=21600`); the number comes first.
    value.split(';').next()?.trim().parse().ok()
}

/// How long until the Unix time `epoch_seconds`; a time too far out for the clock counts as
/// the longest pause (the caller caps it).
fn until_unix(epoch_seconds: u64, now: SystemTime) -> Duration {
    until_epoch(Duration::from_secs(epoch_seconds), now)
}

/// How long until `since_epoch` after the Unix epoch; like [`until_unix`], with a fraction.
fn until_epoch(since_epoch: Duration, now: SystemTime) -> Duration {
    match UNIX_EPOCH.checked_add(since_epoch) {
        Some(at) => at.duration_since(now).unwrap_or(Duration::ZERO),
        None => MAX_PAUSE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_retry_after_beyond_the_clock_is_the_longest_pause_not_a_panic() {
        let now = SystemTime::now();
        for v in ["9223372036854775808", "18446744073709551615"] {
            assert_eq!(retry_after(v, now), Some(MAX_PAUSE), "{v}");
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    #[test]
    fn retry_after_in_seconds_is_a_delay() {
        assert_eq!(
            retry_after("7", at(1_800_000_000)),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(" 0 ", at(0)), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_as_a_unix_time_is_measured_from_now() {
        let now = at(1_746_136_930);
        assert_eq!(retry_after("1746136938", now), Some(Duration::from_secs(8)));
        assert_eq!(retry_after("1746136900", now), Some(Duration::ZERO));
    }

    #[test]
    fn retry_after_as_an_http_date_is_measured_from_now() {
        let now = at(784_111_777 - 30);
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now),
            Some(Duration::from_secs(30))
        );
    }

    #[test]
    fn absurd_waits_are_capped() {
        assert_eq!(retry_after("99999999", at(0)), Some(MAX_PAUSE));
        assert_eq!(
            until_reset("4000000000", at(1_800_000_000)),
            Some(MAX_PAUSE)
        );
    }

    #[test]
    fn x_retry_after_is_a_unix_time_measured_from_now() {
        let now = at(1_746_136_930);
        let secs = Duration::from_secs;
        assert_eq!(x_retry_after("1746136938", now), Some(secs(8)));
        assert_eq!(x_retry_after(" \t1746136938 ", now), Some(secs(8)));
        assert_eq!(
            x_retry_after("1746136938.25", now),
            Some(Duration::from_millis(8_250))
        );
        assert_eq!(x_retry_after("01746136938.000", now), Some(secs(8)));
        // Beyond nanoseconds, the wait is rounded up, never down.
        assert_eq!(
            x_retry_after("1746136930.0000000001", now),
            Some(Duration::from_nanos(1))
        );
        assert_eq!(x_retry_after("1746136930.9999999999", now), Some(secs(1)));
    }

    #[test]
    fn x_retry_after_in_the_past_is_no_wait() {
        let now = at(1_746_136_930);
        for v in [
            "1746136929",
            "1746136929.999",
            "1746136930",
            "0",
            "30",
            "0.5",
        ] {
            assert_eq!(x_retry_after(v, now), Some(Duration::ZERO), "{v:?}");
        }
    }

    #[test]
    fn absurd_x_retry_afters_are_capped() {
        let now = at(1_800_000_000);
        for v in [
            "4000000000",
            "9223372036854775808",
            "18446744073709551615.999999999",
            "18446744073709551616",
            "99999999999999999999999999999999999999999",
        ] {
            assert_eq!(x_retry_after(v, now), Some(MAX_PAUSE), "{v:?}");
        }
    }

    #[test]
    fn malformed_x_retry_afters_give_nothing() {
        for v in [
            "",
            " ",
            "soon",
            "-5",
            "+1746136938",
            "1746136938.",
            ".5",
            "1.2.3",
            "1e9",
            "1746136938 1",
            "1746136938;w=60",
            "inf",
            "NaN",
            "Sun, 06 Nov 1994 08:49:37 GMT",
        ] {
            assert_eq!(x_retry_after(v, at(0)), None, "{v:?}");
        }
    }

    #[test]
    fn malformed_values_give_nothing() {
        for v in ["", "soon", "-5", "1.5", ";w=21600", "18446744073709551616"] {
            assert_eq!(retry_after(v, at(0)), None, "{v:?}");
        }
        assert_eq!(parse_integer(";w=21600"), None);
        assert_eq!(parse_integer("100;w=21600"), Some(100));
        assert_eq!(until_reset("x", at(0)), None);
    }
}

#[cfg(test)]
mod properties;
