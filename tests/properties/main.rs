//! Property tests of the parsers of outside input: the Hub's rate-limit headers, the expiry
//! of its tokens, durations from the command line, the Hub's JSON pages, the web
//! configuration file, and the escaping of label values in the exposition.
//!
//! Every parser is fed arbitrary input and must not panic (an error is fine); where a property
//! can be stated (a generated valid input gives the value it was generated from), it is
//! checked too.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::Value;

use dockerhub_exporter::hub::headers::EPOCH_THRESHOLD;

mod durations;
mod exposition;
mod headers;
mod jwt;
mod pages;
mod webconfig;

/// `cases` cases, and no regression files written next to the tests.
fn cases(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A time from seconds and nanoseconds relative to the Unix epoch, before it when negative.
fn system_time(secs: i64, nanos: u32) -> SystemTime {
    let base = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    base + Duration::from_nanos(u64::from(nanos))
}

/// Nanoseconds since the epoch of a time, negative before it.
fn nanos_since_epoch(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Unsigned integers, many of them near the limits of u64 and i64 and near the threshold
/// between seconds and Unix times.
fn edgy_u64() -> impl Strategy<Value = u64> {
    prop_oneof![
        any::<u64>(),
        0u64..2_000,
        (0u64..2_000).prop_map(|d| u64::MAX - d),
        (0u64..2_000).prop_map(|d| i64::MAX as u64 - d),
        (0u64..2_000).prop_map(|d| i64::MAX as u64 + d),
        (0u64..2_000).prop_map(|d| EPOCH_THRESHOLD - 1_000 + d),
        (1_700_000_000u64..1_900_000_000),
    ]
}

/// Signed integers, many of them near the limits of i64.
fn edgy_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -2_000i64..2_000,
        (0i64..2_000).prop_map(|d| i64::MAX - d),
        (0i64..2_000).prop_map(|d| i64::MIN + d),
        (1_700_000_000i64..1_900_000_000),
    ]
}

/// An arbitrary JSON value, at most a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        any::<String>().prop_map(Value::String),
        "[a-z0-9:. -]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{0,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}
