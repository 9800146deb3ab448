//! The pull-limit headers: any text, and any bytes a header may hold, is read or refused
//! without a panic, a value generated in any of the forms the parser promises to take
//! gives back the count and window it was made from, and the `x-` names say what the plain
//! ones say.

use std::time::Duration;

use proptest::prelude::*;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

use super::{LIMIT, PullLimit, Quota, REMAINING, X_LIMIT, X_REMAINING, parse_quota, pull_limit};
use crate::testing::*;

/// Text that header values could hold: anything, or the characters that matter to the
/// parser in any order.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9 ;,=wW+\\-.\t\"a-z]{0,30}",
        "[0-9]{15,25}(;w=[0-9]{0,25})?",
    ]
}

/// Padding the parser must ignore: spaces and tabs.
fn pad() -> impl Strategy<Value = String> {
    "[ \t]{0,2}"
}

/// A parameter the parser does not know: a name other than `w`, with or without a value.
fn unknown_parameter() -> impl Strategy<Value = String> {
    (
        "[a-vx-zA-VX-Z][a-z0-9_.-]{0,6}",
        proptest::option::of("[a-z0-9\"]{0,8}"),
    )
        .prop_map(|(name, value)| match value {
            Some(v) => format!("{name}={v}"),
            None => name,
        })
}

/// A header's value made from a count (or none), a window and the noise the parser
/// tolerates.
fn written(
    count: Option<u64>,
    window: Option<u64>,
    w: &str,
    pads: &[String; 4],
    before: &[String],
    after: &[String],
) -> String {
    let [a, b, c, d] = pads;
    let count = count.map(|n| n.to_string()).unwrap_or_default();
    let mut text = format!("{a}{count}{b}");
    for p in before {
        text.push_str(&format!(";{c}{p}{d}"));
    }
    if let Some(seconds) = window {
        text.push_str(&format!(";{c}{w}{d}={a}{seconds}{b}"));
    }
    for p in after {
        text.push_str(&format!(";{c}{p}{d}"));
    }
    text
}

fn headers(pairs: &[(&str, &[u8])]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            map.append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        }
    }
    map
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn the_parser_takes_any_text(text in header_text()) {
        if let Ok(q) = parse_quota(&text) {
            prop_assert!(q.window.is_none_or(|w| w > Duration::ZERO));
        }
    }

    #[test]
    fn the_headers_take_any_bytes(
        values in proptest::collection::vec(
            proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40)),
            4,
        ),
    ) {
        let mut pairs: Vec<(&str, &[u8])> = Vec::new();
        for (name, value) in [LIMIT, REMAINING, X_LIMIT, X_REMAINING].into_iter().zip(&values) {
            if let Some(v) = value {
                pairs.push((name, v));
            }
        }
        let map = headers(&pairs);
        let has = |names: [&str; 2]| names.iter().any(|n| map.contains_key(*n));
        let present = has([LIMIT, X_LIMIT]) || has([REMAINING, X_REMAINING]);
        match pull_limit(&map) {
            Ok(PullLimit::Unlimited) => prop_assert!(!present, "headers present, yet unlimited"),
            Ok(PullLimit::Limited { limit, remaining, window }) => {
                prop_assert!(has([LIMIT, X_LIMIT]) && has([REMAINING, X_REMAINING]));
                prop_assert!(
                    limit.is_some() || remaining.is_some() || window.is_some(),
                    "a limit that tells nothing"
                );
            }
            Err(why) => prop_assert!(!why.is_empty()),
        }
    }

    #[test]
    fn the_x_names_say_what_the_plain_ones_say(
        limit in header_text(),
        remaining in header_text(),
    ) {
        let plain = headers(&[(LIMIT, limit.as_bytes()), (REMAINING, remaining.as_bytes())]);
        let x = headers(&[(X_LIMIT, limit.as_bytes()), (X_REMAINING, remaining.as_bytes())]);
        // Read alike; refused alike, each error naming the header it read.
        prop_assert_eq!(pull_limit(&plain).ok(), pull_limit(&x).ok());
        prop_assert_eq!(pull_limit(&plain).is_err(), pull_limit(&x).is_err());
    }

    #[test]
    fn a_count_with_a_window_reads_back_in_any_tolerated_form(
        count in proptest::option::of(edgy_u64()),
        window in proptest::option::of(1u64..=u64::MAX),
        w in prop_oneof![Just("w"), Just("W")],
        pads in [pad(), pad(), pad(), pad()],
        before in proptest::collection::vec(unknown_parameter(), 0..3),
        after in proptest::collection::vec(unknown_parameter(), 0..3),
    ) {
        let text = written(count, window, w, &pads, &before, &after);
        if count.is_none() && window.is_none() {
            prop_assert!(parse_quota(&text).is_err(), "{:?} tells nothing", text);
        } else {
            prop_assert_eq!(
                parse_quota(&text),
                Ok(Quota { count, window: window.map(Duration::from_secs) }),
                "{:?}", text
            );
        }
    }

    #[test]
    fn further_policies_do_not_change_the_first(
        count in edgy_u64(),
        window in 1u64..1_000_000,
        others in proptest::collection::vec((any::<u64>(), 1u64..1_000_000), 1..3),
    ) {
        let mut text = format!("{count};w={window}");
        for (c, w) in others {
            text.push_str(&format!(", {c};w={w}"));
        }
        prop_assert_eq!(
            parse_quota(&text),
            Ok(Quota { count: Some(count), window: Some(Duration::from_secs(window)) })
        );
    }

    #[test]
    fn signs_fractions_and_numbers_beyond_u64_are_refused(
        n in any::<u64>(),
        f in 0u32..1000,
        d in 1u64..1_000_000,
    ) {
        let beyond = (u128::from(u64::MAX) + u128::from(d)).to_string();
        for text in [
            format!("-{n}"),
            format!("+{n}"),
            format!("{n}.{f}"),
            beyond.clone(),
            format!("{n};w={beyond}"),
            format!("{n};w=0"),
        ] {
            let read = parse_quota(&text);
            prop_assert!(read.is_err(), "{:?} read as {:?}", text, read);
        }
    }

    #[test]
    fn both_headers_give_the_limit_and_what_remains(
        limit in edgy_u64(),
        remaining in edgy_u64(),
        window in 1u64..10_000_000,
        upper in any::<bool>(),
    ) {
        let (l, r) = if upper {
            ("RateLimit-Limit", "RATELIMIT-REMAINING")
        } else {
            (LIMIT, REMAINING)
        };
        let limit_text = format!("{limit};w={window}");
        let remaining_text = format!("{remaining};w={window}");
        let map = headers(&[(l, limit_text.as_bytes()), (r, remaining_text.as_bytes())]);
        prop_assert_eq!(
            pull_limit(&map),
            Ok(PullLimit::Limited {
                limit: Some(limit),
                remaining: Some(remaining),
                window: Some(Duration::from_secs(window)),
            })
        );
    }
}
