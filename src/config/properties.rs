//! Durations from the command line: any text is read or refused, generated sums parse to
//! their value, and overflow is an error.

use std::time::Duration;

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;

use super::parse_duration;

/// Components near the limits of u64, where overflow lives, and ordinary ones.
fn edgy_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..2_000,
        (0u64..2_000).prop_map(|d| u64::MAX - d),
        (0u64..2_000).prop_map(|d| u64::MAX / 3_600 - 1_000 + d),
    ]
}

const UNITS: [(&str, u128); 4] = [
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// Nanoseconds in `Duration::MAX`.
const MAX_NANOS: u128 = u64::MAX as u128 * 1_000_000_000 + 999_999_999;

/// What `parse_duration` must give for these components: the sum, or an error when a
/// component or the sum does not fit in a `Duration` (or its whole seconds in a u64).
fn expected_duration(parts: &[(u64, usize)]) -> Option<Duration> {
    let mut total: u128 = 0;
    for &(n, unit) in parts {
        let (name, nanos) = UNITS[unit];
        if (name == "m" || name == "h") && n.checked_mul((nanos / 1_000_000_000) as u64).is_none() {
            return None;
        }
        total += u128::from(n) * nanos;
        if total > MAX_NANOS {
            return None;
        }
    }
    let secs = u64::try_from(total / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (total % 1_000_000_000) as u32))
}

fn duration_text(parts: &[(u64, usize)]) -> String {
    parts
        .iter()
        .map(|&(n, unit)| format!("{n}{}", UNITS[unit].0))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn parse_duration_takes_any_text(text in prop_oneof![
        any::<String>(),
        "[0-9msh ]{0,20}",
        "[0-9]{0,25}(ms|s|m|h|d|µs|)[0-9]{0,25}(ms|s|m|h|)",
    ]) {
        let _ = parse_duration(&text);
    }

    #[test]
    fn generated_durations_parse_to_their_sum(
        parts in prop::collection::vec((0u64..=u64::from(u32::MAX), 0usize..4), 1..5),
        pad in "[ \t\n]{0,2}",
    ) {
        let text = format!("{pad}{}{pad}", duration_text(&parts));
        let expected = expected_duration(&parts).expect("small components fit");
        prop_assert_eq!(parse_duration(&text), Ok(expected));
    }

    #[test]
    fn overflowing_durations_are_errors(
        parts in prop::collection::vec((edgy_u64(), 0usize..4), 1..4),
    ) {
        let text = duration_text(&parts);
        match expected_duration(&parts) {
            Some(d) => prop_assert_eq!(parse_duration(&text), Ok(d), "{}", text),
            None => prop_assert!(parse_duration(&text).is_err(), "{}", text),
        }
    }

    #[test]
    fn numbers_too_long_for_u64_are_errors(digits in "[1-9][0-9]{20,40}", unit in 0usize..4) {
        let text = format!("{digits}{}", UNITS[unit].0);
        prop_assert!(parse_duration(&text).is_err());
    }

    #[test]
    fn a_number_without_a_unit_is_an_error(n in any::<u64>(), parts in prop::collection::vec((0u64..1000, 0usize..4), 0..3)) {
        let alone = n.to_string();
        let last = format!("{}{n}", duration_text(&parts));
        prop_assert!(parse_duration(&alone).is_err());
        prop_assert!(parse_duration(&last).is_err());
    }
}
