//! Retry-After, X-Retry-After and the X-RateLimit-* headers: any text is read or refused, and
//! a value generated in any of the Hub's forms gives the wait it stands for.

use proptest::prelude::*;

use super::{EPOCH_THRESHOLD, MAX_PAUSE, parse_integer, retry_after, until_reset, x_retry_after};
use crate::testing::*;
use std::time::{Duration, SystemTime};

/// The wait from `now` until `target_nanos` (since the epoch), 0 when past, capped.
fn expected_wait(target_nanos: i128, now: SystemTime) -> Duration {
    let left = (target_nanos - nanos_since_epoch(now)).max(0);
    let left = Duration::from_nanos(u64::try_from(left).unwrap_or(u64::MAX));
    left.min(MAX_PAUSE)
}

/// A "now" anywhere from 1970 to 2100, with nanoseconds.
fn any_now() -> impl Strategy<Value = SystemTime> {
    (0i64..4_102_444_800, 0u32..1_000_000_000).prop_map(|(s, n)| system_time(s, n))
}

/// Text that header values could hold: anything, or digits mixed with the characters that
/// matter to the parsers.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9 ;=wW+\\-.,:GMTSunNov\t]{0,30}",
        "[0-9]{15,25}",
        "[0-9 .\t]{0,25}",
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn header_parsers_take_any_text(value in header_text(), now in any_now()) {
        if let Some(wait) = retry_after(&value, now) {
            prop_assert!(wait <= MAX_PAUSE);
        }
        if let Some(wait) = until_reset(&value, now) {
            prop_assert!(wait <= MAX_PAUSE);
        }
        if let Some(wait) = x_retry_after(&value, now) {
            prop_assert!(wait <= MAX_PAUSE);
        }
        let _ = parse_integer(&value);
    }

    #[test]
    fn retry_after_in_seconds_or_as_a_unix_time(
        n in edgy_u64(),
        now in any_now(),
        pad in "[ \t]{0,2}",
    ) {
        let expected = if n >= EPOCH_THRESHOLD {
            expected_wait(i128::from(n) * 1_000_000_000, now)
        } else {
            Duration::from_secs(n).min(MAX_PAUSE)
        };
        prop_assert_eq!(retry_after(&format!("{pad}{n}{pad}"), now), Some(expected));
    }

    #[test]
    fn retry_after_refuses_negative_and_fractional_numbers(n in edgy_i64(), f in 0u32..1000, now in any_now()) {
        if n < 0 {
            prop_assert_eq!(retry_after(&n.to_string(), now), None);
        }
        prop_assert_eq!(retry_after(&format!("{n}.{f}"), now), None);
    }

    #[test]
    fn retry_after_as_an_http_date_is_the_wait_until_that_date(
        // Up to 9999-12-31T23:59:59Z, the last date an HTTP date can show.
        date in 0i64..=253_402_300_799,
        offset in prop_oneof![-2_000i64..2_000, -100_000i64..100_000],
        nanos in 0u32..1_000_000_000,
    ) {
        let now = system_time(date - offset, nanos);
        let text = httpdate::fmt_http_date(system_time(date, 0));
        let wait = retry_after(&text, now);
        let expected = expected_wait(i128::from(date) * 1_000_000_000, now);
        let wait = wait.ok_or_else(|| TestCaseError::fail(format!("{text:?} not read")))?;
        // Within a second (the date has whole seconds; the wait is in fact exact).
        prop_assert!(wait.abs_diff(expected) < Duration::from_secs(1), "{text:?}: {wait:?} vs {expected:?}");
        prop_assert!(wait <= MAX_PAUSE);
    }

    #[test]
    fn x_retry_after_is_the_wait_until_the_unix_time_it_names(
        seconds in edgy_u64(),
        fraction in proptest::option::of("[0-9]{1,12}"),
        now in any_now(),
        near in proptest::option::of((-1_000i64..1_000, 0u32..1_000_000_000)),
        pad in "[ \t]{0,2}",
    ) {
        // Often a `now` within minutes of the time named, where the wait is neither 0 nor
        // capped and every nanosecond shows.
        let now = match (near, i64::try_from(seconds)) {
            (Some((offset, n)), Ok(s)) if s < 4_102_444_800 => system_time(s - offset, n),
            _ => now,
        };
        let (text, nanos) = match &fraction {
            Some(f) => {
                // The fraction in nanoseconds, rounded up.
                let digits = u32::try_from(f.len()).unwrap_or(u32::MAX);
                let scaled = f.parse::<u128>().unwrap_or(0) * 1_000_000_000;
                let nanos = scaled.div_ceil(10u128.pow(digits));
                (format!("{pad}{seconds}.{f}{pad}"), nanos as i128)
            }
            None => (format!("{pad}{seconds}{pad}"), 0),
        };
        let expected = expected_wait(i128::from(seconds) * 1_000_000_000 + nanos, now);
        prop_assert_eq!(x_retry_after(&text, now), Some(expected));
    }

    #[test]
    fn x_retry_after_refuses_signs_exponents_and_dates(
        n in edgy_i64(),
        e in 0u32..20,
        date in 0i64..=253_402_300_799,
        now in any_now(),
    ) {
        if n < 0 {
            prop_assert_eq!(x_retry_after(&n.to_string(), now), None);
        }
        prop_assert_eq!(x_retry_after(&format!("+{}", n.unsigned_abs()), now), None);
        prop_assert_eq!(x_retry_after(&format!("{}e{e}", n.unsigned_abs()), now), None);
        let text = httpdate::fmt_http_date(system_time(date, 0));
        prop_assert_eq!(x_retry_after(&text, now), None, "{}", text);
    }

    #[test]
    fn integer_headers_read_any_i64_with_or_without_a_window(
        n in edgy_i64(),
        window in proptest::option::of("[0-9a-z=]{0,8}"),
        pad in "[ \t]{0,2}",
    ) {
        let text = match &window {
            Some(w) => format!("{pad}{n}{pad};w={w}"),
            None => format!("{pad}{n}{pad}"),
        };
        prop_assert_eq!(parse_integer(&text), Some(n));
    }

    #[test]
    fn until_reset_is_the_wait_until_a_unix_time(n in edgy_i64(), now in any_now()) {
        let got = until_reset(&n.to_string(), now);
        if n < 0 {
            prop_assert_eq!(got, None);
        } else {
            prop_assert_eq!(got, Some(expected_wait(i128::from(n) * 1_000_000_000, now)));
        }
    }

    #[test]
    fn integer_headers_out_of_range_give_nothing(d in 1u64..1_000_000, now in any_now()) {
        let beyond = (i128::from(i64::MAX) + i128::from(d)).to_string();
        let below = (i128::from(i64::MIN) - i128::from(d)).to_string();
        for text in [&beyond, &below] {
            prop_assert_eq!(parse_integer(text), None);
            prop_assert_eq!(until_reset(text, now), None);
        }
        let beyond_u64 = (u128::from(u64::MAX) + u128::from(d)).to_string();
        prop_assert_eq!(retry_after(&beyond_u64, now), None);
        // As an instant, it is simply beyond any clock.
        prop_assert_eq!(x_retry_after(&beyond_u64, now), Some(MAX_PAUSE));
    }
}
