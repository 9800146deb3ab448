//! Strategies shared by the property tests of the parsers of outside input: times, integers
//! near their limits, arbitrary JSON, and fields of generated JSON objects that may be
//! missing, null, well typed or of any other type. Each parser's properties live next to it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Value};

use crate::hub::EPOCH_THRESHOLD;

/// `cases` cases, and no regression files written next to the tests.
pub(crate) fn cases(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// A time from seconds and nanoseconds relative to the Unix epoch, before it when negative.
pub(crate) fn system_time(secs: i64, nanos: u32) -> SystemTime {
    let base = if secs >= 0 {
        UNIX_EPOCH + Duration::from_secs(secs.unsigned_abs())
    } else {
        UNIX_EPOCH - Duration::from_secs(secs.unsigned_abs())
    };
    base + Duration::from_nanos(u64::from(nanos))
}

/// Nanoseconds since the epoch of a time, negative before it.
pub(crate) fn nanos_since_epoch(t: SystemTime) -> i128 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_nanos() as i128,
        Err(e) => -(e.duration().as_nanos() as i128),
    }
}

/// Unsigned integers, many of them near the limits of u64 and i64 and near the threshold
/// between seconds and Unix times.
pub(crate) fn edgy_u64() -> impl Strategy<Value = u64> {
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
pub(crate) fn edgy_i64() -> impl Strategy<Value = i64> {
    prop_oneof![
        any::<i64>(),
        -2_000i64..2_000,
        (0i64..2_000).prop_map(|d| i64::MAX - d),
        (0i64..2_000).prop_map(|d| i64::MIN + d),
        (1_700_000_000i64..1_900_000_000),
    ]
}

/// An arbitrary JSON value, at most a few levels deep.
pub(crate) fn any_json() -> impl Strategy<Value = Value> {
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

/// A field of a generated object.
#[derive(Debug, Clone)]
pub(crate) enum Field {
    /// Left out.
    Missing,
    /// `null`.
    Null,
    /// A value of the type the Hub sends.
    Right(Value),
    /// Any value, most likely of another type.
    Wrong(Value),
}

impl Field {
    pub(crate) fn is_wrong(&self) -> bool {
        matches!(self, Field::Wrong(_))
    }

    pub(crate) fn put(&self, object: &mut Map<String, Value>, key: &str) {
        match self {
            Field::Missing => {}
            Field::Null => {
                object.insert(key.into(), Value::Null);
            }
            Field::Right(v) | Field::Wrong(v) => {
                object.insert(key.into(), v.clone());
            }
        }
    }

    pub(crate) fn right(&self) -> Option<&Value> {
        match self {
            Field::Right(v) => Some(v),
            _ => None,
        }
    }
}

/// An optional field: missing, null, of the right type or, when `wrong`, of any other.
pub(crate) fn optional(
    right: impl Strategy<Value = Value> + 'static,
    wrong: bool,
) -> BoxedStrategy<Field> {
    let well_typed = prop_oneof![
        1 => Just(Field::Missing),
        1 => Just(Field::Null),
        4 => right.prop_map(Field::Right),
    ];
    if wrong {
        prop_oneof![4 => well_typed, 1 => any_json().prop_map(Field::Wrong)].boxed()
    } else {
        well_typed.boxed()
    }
}

/// A string as JSON: any text, or one of the characters names and digests use.
pub(crate) fn string() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        "[a-z0-9:.]{0,16}".prop_map(Value::String),
    ]
}
