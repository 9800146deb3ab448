//! Property tests of the parsers of outside input: the Hub's rate-limit headers, the expiry
//! of its tokens, durations from the command line, the Hub's JSON pages, the web
//! configuration file, and the escaping of label values in the exposition.
//!
//! Every parser is fed arbitrary input and must not panic (an error is fine); where a property
//! can be stated (a generated valid input gives the value it was generated from), it is
//! checked too.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::{Map, Value, json};

use dockerhub_exporter::config::parse_duration;
use dockerhub_exporter::hub::auth::jwt_expiry;
use dockerhub_exporter::hub::headers::{
    EPOCH_THRESHOLD, MAX_PAUSE, parse_integer, retry_after, until_reset,
};
use dockerhub_exporter::hub::wire::{Page, WireRepository, WireTag, unix_time};
use dockerhub_exporter::inventory::{Image, Namespace, Repository, RepositoryInfo, Snapshot, Tag};
use dockerhub_exporter::metrics::render::{Options, render_inventory};
use dockerhub_exporter::webconfig::WebConfig;

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

/// Text that header values could hold: anything, or digits mixed with the characters that
/// matter to the parsers.
fn header_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9 ;=wW+\\-.,:GMTSunNov\t]{0,30}",
        "[0-9]{15,25}",
    ]
}

// ---------------------------------------------------------------------------------------------
// 1. Retry-After and X-RateLimit-*
// ---------------------------------------------------------------------------------------------

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
    }
}

// ---------------------------------------------------------------------------------------------
// 2. The expiry of a JWT
// ---------------------------------------------------------------------------------------------

/// A base64 text of arbitrary bytes in one of the alphabets and paddings found in the wild.
fn base64_segment() -> impl Strategy<Value = String> {
    (prop::collection::vec(any::<u8>(), 0..64), 0usize..4).prop_map(|(bytes, engine)| {
        use base64::engine::general_purpose as gp;
        match engine {
            0 => gp::URL_SAFE_NO_PAD.encode(&bytes),
            1 => gp::URL_SAFE.encode(&bytes),
            2 => gp::STANDARD.encode(&bytes),
            _ => gp::STANDARD_NO_PAD.encode(&bytes),
        }
    })
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

fn jwt(header: &str, payload: &str, signature: &str) -> String {
    format!("{header}.{payload}.{signature}")
}

fn b64(text: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn jwt_expiry_takes_any_text(token in any::<String>()) {
        let _ = jwt_expiry(&token);
    }

    #[test]
    fn jwt_expiry_takes_any_base64_segments(
        header in base64_segment(),
        payload in base64_segment(),
        signature in base64_segment(),
        extra in proptest::option::of(base64_segment()),
    ) {
        let mut token = jwt(&header, &payload, &signature);
        if let Some(extra) = extra {
            token = format!("{token}.{extra}");
        }
        let _ = jwt_expiry(&token);
        let _ = jwt_expiry(&format!("{header}.{payload}"));
    }

    #[test]
    fn jwt_expiry_takes_any_json_payload(claims in any_json(), exp in any_json()) {
        let _ = jwt_expiry(&jwt(&b64("{}"), &b64(&claims.to_string()), "sig"));
        let payload = json!({ "exp": exp, "iat": 1 }).to_string();
        if let Some(t) = jwt_expiry(&jwt(&b64("{}"), &b64(&payload), "sig")) {
            // Whatever is read is a time from the epoch to the year 5138.
            let d = t.duration_since(UNIX_EPOCH).expect("not before the epoch");
            prop_assert!(d <= Duration::from_secs(100_000_000_000));
        }
    }

    #[test]
    fn a_well_formed_token_gives_its_exp(
        exp in 1u64..=100_000_000_000,
        other in prop::collection::btree_map("[a-df-z_]{1,8}", any_json(), 0..4),
        padded in any::<bool>(),
        signature in "[A-Za-z0-9_-]{0,40}",
    ) {
        let mut claims: Map<String, Value> = other.into_iter().collect();
        claims.insert("exp".into(), Value::from(exp));
        let payload = Value::Object(claims).to_string();
        let engine = if padded {
            base64::engine::general_purpose::URL_SAFE
        } else {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
        };
        let token = jwt(&b64(r#"{"alg":"RS256","typ":"JWT"}"#), &engine.encode(&payload), &signature);
        prop_assert_eq!(jwt_expiry(&token), Some(UNIX_EPOCH + Duration::from_secs(exp)));
    }

    #[test]
    fn a_fractional_exp_is_read_to_the_microsecond(whole in 1u64..10_000_000_000, micros in 0u32..1_000_000) {
        let exp = whole as f64 + f64::from(micros) / 1e6;
        let token = jwt(&b64("{}"), &b64(&json!({ "exp": exp }).to_string()), "");
        let got = jwt_expiry(&token).expect("an expiry");
        let expected = UNIX_EPOCH + Duration::from_secs(whole) + Duration::from_micros(u64::from(micros));
        let diff = nanos_since_epoch(got) - nanos_since_epoch(expected);
        // Exact but for the precision of an f64 exp (about 2 µs for times near 1e10).
        let tolerance = 1 + (exp * 4.0 * f64::EPSILON * 1e9) as i128;
        prop_assert!(diff.abs() <= tolerance, "{exp}: off by {diff} ns");
    }

    #[test]
    fn an_exp_out_of_range_gives_nothing(exp in prop_oneof![
        i64::MIN..=0,
        100_000_000_001i64..=i64::MAX,
    ]) {
        let token = jwt(&b64("{}"), &b64(&json!({ "exp": exp }).to_string()), "");
        prop_assert_eq!(jwt_expiry(&token), None);
    }
}

// ---------------------------------------------------------------------------------------------
// 3. Durations
// ---------------------------------------------------------------------------------------------

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
    #![proptest_config(cases(512))]

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

// ---------------------------------------------------------------------------------------------
// 4. The Hub's JSON pages
// ---------------------------------------------------------------------------------------------

/// A field of a generated object.
#[derive(Debug, Clone)]
enum Field {
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
    fn is_wrong(&self) -> bool {
        matches!(self, Field::Wrong(_))
    }

    fn put(&self, object: &mut Map<String, Value>, key: &str) {
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

    fn right(&self) -> Option<&Value> {
        match self {
            Field::Right(v) => Some(v),
            _ => None,
        }
    }
}

/// An optional field: missing, null, of the right type or, when `wrong`, of any other.
fn optional(right: impl Strategy<Value = Value> + 'static, wrong: bool) -> BoxedStrategy<Field> {
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

/// A required field: of the right type or, when `wrong`, missing, null or of any other.
fn required(right: impl Strategy<Value = Value> + 'static, wrong: bool) -> BoxedStrategy<Field> {
    if wrong {
        prop_oneof![
            6 => right.prop_map(Field::Right),
            1 => Just(Field::Missing),
            1 => Just(Field::Null),
            1 => any_json().prop_map(Field::Wrong),
        ]
        .boxed()
    } else {
        right.prop_map(Field::Right).boxed()
    }
}

/// An RFC 3339 time (from year 0 to 9999, any offset) and its Unix seconds.
fn rfc3339() -> impl Strategy<Value = (String, f64)> {
    (
        -62_167_219_200i64..=253_402_300_799,
        0u32..1_000_000_000,
        -1439i32..=1439,
    )
        .prop_filter_map("formattable", |(secs, nanos, minutes)| {
            use time::format_description::well_known::Rfc3339;
            let offset = time::UtcOffset::from_whole_seconds(minutes * 60).ok()?;
            let t = time::OffsetDateTime::from_unix_timestamp(secs)
                .ok()?
                .replace_nanosecond(nanos)
                .ok()?
                .to_offset(offset);
            let text = t.format(&Rfc3339).ok()?;
            Some((text, secs as f64 + f64::from(nanos) / 1e9))
        })
}

/// A time as the Hub could send it: RFC 3339, or any text.
fn time_text() -> impl Strategy<Value = Value> {
    prop_oneof![
        3 => rfc3339().prop_map(|(t, _)| Value::String(t)),
        1 => any::<String>().prop_map(Value::String),
        1 => "[0-9T:.Z+-]{0,32}".prop_map(Value::String),
    ]
}

fn string() -> impl Strategy<Value = Value> {
    prop_oneof![
        any::<String>().prop_map(Value::String),
        "[a-z0-9:.]{0,16}".prop_map(Value::String),
    ]
}

fn size() -> impl Strategy<Value = Value> {
    edgy_u64().prop_map(Value::from)
}

/// Fields the Hub sends that the exporter ignores, with any values.
fn unknown_fields() -> impl Strategy<Value = Vec<(String, Value)>> {
    prop::collection::vec(
        (
            prop::sample::select(vec![
                "creator",
                "id",
                "last_updater",
                "v2",
                "tag_status",
                "media_type",
                "content_type",
                "status",
                "features",
                "os_features",
                "os_version",
                "last_pulled",
                "last_pushed",
                "namespace",
                "description",
            ])
            .prop_map(String::from),
            any_json(),
        ),
        0..4,
    )
}

/// A generated object: its JSON and whether every field has the right type or none.
#[derive(Debug, Clone)]
struct Generated {
    json: Value,
    well_typed: bool,
}

fn object(fields: &[(&str, &Field)], unknown: &[(String, Value)]) -> Generated {
    let mut map = Map::new();
    for (key, value) in unknown {
        map.insert(key.clone(), value.clone());
    }
    for (key, field) in fields {
        field.put(&mut map, key);
    }
    Generated {
        json: Value::Object(map),
        well_typed: fields.iter().all(|(_, f)| !f.is_wrong()),
    }
}

fn wire_image(wrong: bool) -> impl Strategy<Value = Generated> {
    let platform = || {
        prop_oneof![
            Just(Value::from("linux")),
            Just(Value::from("unknown")),
            string()
        ]
    };
    (
        optional(platform(), wrong),
        optional(platform(), wrong),
        optional(string(), wrong),
        optional(string(), wrong),
        optional(size(), wrong),
        unknown_fields(),
    )
        .prop_map(|(os, architecture, variant, digest, size, unknown)| {
            object(
                &[
                    ("os", &os),
                    ("architecture", &architecture),
                    ("variant", &variant),
                    ("digest", &digest),
                    ("size", &size),
                ],
                &unknown,
            )
        })
}

/// A list of generated objects as one field; well typed when the list and every item are.
fn list_field(
    item: impl Strategy<Value = Generated> + 'static,
    len: std::ops::Range<usize>,
    wrong: bool,
) -> impl Strategy<Value = (Field, bool)> {
    let well_typed = prop_oneof![
        1 => Just((Field::Missing, true)),
        1 => Just((Field::Null, true)),
        6 => prop::collection::vec(item, len).prop_map(|items| {
            let ok = items.iter().all(|i| i.well_typed);
            (Field::Right(Value::Array(items.into_iter().map(|i| i.json).collect())), ok)
        }),
    ];
    if wrong {
        prop_oneof![8 => well_typed, 1 => any_json().prop_map(|v| (Field::Wrong(v), false))].boxed()
    } else {
        well_typed.boxed()
    }
}

/// A tag object with the fields the exporter reads, and what it must become.
#[derive(Debug, Clone)]
struct GeneratedTag {
    generated: Generated,
    name: Field,
    digest: Field,
    full_size: Field,
}

fn wire_tag(wrong: bool) -> impl Strategy<Value = GeneratedTag> {
    (
        required(string(), wrong),
        optional(string(), wrong),
        optional(size(), wrong),
        optional(time_text(), wrong),
        optional(time_text(), wrong),
        optional(time_text(), wrong),
        list_field(wire_image(wrong), 0..5, wrong),
        unknown_fields(),
    )
        .prop_map(
            |(name, digest, full_size, pushed, pulled, updated, (images, images_ok), unknown)| {
                let mut generated = object(
                    &[
                        ("name", &name),
                        ("digest", &digest),
                        ("full_size", &full_size),
                        ("tag_last_pushed", &pushed),
                        ("tag_last_pulled", &pulled),
                        ("last_updated", &updated),
                        ("images", &images),
                    ],
                    &unknown,
                );
                generated.well_typed &= images_ok && name.right().is_some();
                GeneratedTag {
                    generated,
                    name,
                    digest,
                    full_size,
                }
            },
        )
}

fn wire_repository(wrong: bool) -> impl Strategy<Value = Generated> {
    (
        required(string(), wrong),
        optional(prop_oneof![Just(Value::from("image")), string()], wrong),
        optional(any::<bool>().prop_map(Value::Bool), wrong),
        optional(size(), wrong),
        optional(size(), wrong),
        optional(time_text(), wrong),
        optional(size(), wrong),
        unknown_fields(),
    )
        .prop_map(
            |(name, kind, private, stars, pulls, updated, storage, unknown)| {
                let mut generated = object(
                    &[
                        ("name", &name),
                        ("repository_type", &kind),
                        ("is_private", &private),
                        ("star_count", &stars),
                        ("pull_count", &pulls),
                        ("last_updated", &updated),
                        ("storage_size", &storage),
                    ],
                    &unknown,
                );
                generated.well_typed &= name.right().is_some();
                generated
            },
        )
}

/// The `results` of a generated page.
#[derive(Debug, Clone)]
enum Results<T> {
    Missing,
    Null,
    Wrong(Value),
    List(Vec<T>),
}

fn results<T: std::fmt::Debug + Clone + 'static>(
    item: impl Strategy<Value = T> + 'static,
    wrong: bool,
) -> impl Strategy<Value = Results<T>> {
    let list = prop::collection::vec(item, 0..4).prop_map(Results::List);
    if wrong {
        prop_oneof![
            1 => Just(Results::Missing),
            1 => Just(Results::Null),
            1 => any_json().prop_map(Results::Wrong),
            6 => list,
        ]
        .boxed()
    } else {
        prop_oneof![1 => Just(Results::Missing), 8 => list].boxed()
    }
}

/// A generated page: its JSON, whether it is well typed, its `next` link and its items.
#[derive(Debug, Clone)]
struct GeneratedPage<T> {
    json: Value,
    well_typed: bool,
    next: Option<String>,
    items: Vec<T>,
}

fn next_link() -> impl Strategy<Value = Value> {
    prop_oneof![
        "https://hub\\.docker\\.com/v2/repositories/[a-z]{1,8}/tags/\\?page=[0-9]{1,3}&page_size=100"
            .prop_map(Value::String),
        string(),
    ]
}

fn page<T: std::fmt::Debug + Clone + 'static>(
    item: impl Strategy<Value = T> + 'static,
    generated: fn(&T) -> &Generated,
    wrong: bool,
) -> impl Strategy<Value = GeneratedPage<T>> {
    (
        results(item, wrong),
        optional(next_link(), wrong),
        optional(size(), wrong),
        optional(next_link(), wrong),
        unknown_fields(),
    )
        .prop_map(move |(results, next, count, previous, unknown)| {
            let (results_field, results_ok, items) = match results {
                Results::Missing => (Field::Missing, true, vec![]),
                // `results: null` is not a list; only a missing `results` means none.
                Results::Null => (Field::Null, false, vec![]),
                Results::Wrong(v) => (Field::Wrong(v), false, vec![]),
                Results::List(items) => {
                    let ok = items.iter().all(|i| generated(i).well_typed);
                    let json = items.iter().map(|i| generated(i).json.clone()).collect();
                    (Field::Right(Value::Array(json)), ok, items)
                }
            };
            let object = object(
                &[
                    ("count", &count),
                    ("next", &next),
                    ("previous", &previous),
                    ("results", &results_field),
                ],
                &unknown,
            );
            GeneratedPage {
                json: object.json,
                well_typed: !next.is_wrong() && results_ok,
                next: next.right().and_then(Value::as_str).map(String::from),
                items,
            }
        })
}

fn tag_generated(t: &GeneratedTag) -> &Generated {
    &t.generated
}

fn repository_generated(r: &Generated) -> &Generated {
    r
}

/// Text that is JSON-like more often than arbitrary text is.
fn json_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\[\\]{}\":,0-9a-z .eE+-]{0,60}",
        "\\{\"(next|results|count)\":[\\[\\]{}\":,0-9a-z .-]{0,40}\\}",
        "\\{\"results\":\\[\\{\"name\":[\\[\\]{}\":,0-9a-z .-]{0,40}\\}\\]\\}",
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn a_tags_page_of_any_shape_decodes_or_fails_without_panicking(page in any::<bool>().prop_flat_map(|wrong| page(wire_tag(wrong), tag_generated, wrong))) {
        let text = page.json.to_string();
        let decoded = serde_json::from_slice::<Page<WireTag>>(text.as_bytes());
        if page.well_typed {
            prop_assert!(decoded.is_ok(), "{}: {:?}", text, decoded.err());
        }
        let Ok(decoded) = decoded else { return Ok(()) };
        if page.well_typed {
            prop_assert_eq!(&decoded.next, &page.next);
            prop_assert_eq!(decoded.results.len(), page.items.len());
        }
        let well_typed = page.well_typed;
        let expected = page.items;
        let tags: Vec<Tag> = decoded.results.into_iter().map(WireTag::into_tag).collect();
        for tag in &tags {
            prop_assert!(tag.images.iter().all(|i| !i.is_attestation()));
            for t in [tag.last_pushed, tag.last_pulled].into_iter().flatten() {
                prop_assert!(t.is_finite());
            }
        }
        if well_typed {
            for (tag, generated) in tags.iter().zip(&expected) {
                let text = |f: &Field| f.right().and_then(Value::as_str).map(String::from);
                prop_assert_eq!(Some(tag.name.clone()), text(&generated.name));
                prop_assert_eq!(&tag.digest, &text(&generated.digest).unwrap_or_default());
                prop_assert_eq!(tag.full_size, generated.full_size.right().and_then(Value::as_u64));
            }
        }
    }

    #[test]
    fn a_repositories_page_of_any_shape_decodes_or_fails_without_panicking(
        page in any::<bool>()
            .prop_flat_map(|wrong| page(wire_repository(wrong), repository_generated, wrong)),
    ) {
        let text = page.json.to_string();
        let decoded = serde_json::from_slice::<Page<WireRepository>>(text.as_bytes());
        if page.well_typed {
            prop_assert!(decoded.is_ok(), "{}: {:?}", text, decoded.err());
        }
        let Ok(decoded) = decoded else { return Ok(()) };
        for (repository, generated) in decoded.results.iter().zip(&page.items) {
            let info = repository.info();
            if let Some(t) = info.last_updated {
                prop_assert!(t.is_finite());
            }
            if page.well_typed {
                let field = |key: &str| generated.json.get(key).cloned().unwrap_or(Value::Null);
                prop_assert_eq!(Value::from(repository.name.clone()), field("name"));
                prop_assert_eq!(info.pull_count, field("pull_count").as_u64().unwrap_or(0));
                prop_assert_eq!(info.star_count, field("star_count").as_u64().unwrap_or(0));
                prop_assert_eq!(info.private, field("is_private").as_bool().unwrap_or(false));
                prop_assert_eq!(info.storage_size, field("storage_size").as_u64());
            }
        }
    }

    #[test]
    fn any_text_or_bytes_fail_to_decode_without_panicking(
        text in json_text(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        for input in [text.as_bytes(), &bytes] {
            if let Ok(page) = serde_json::from_slice::<Page<WireTag>>(input) {
                let _: Vec<Tag> = page.results.into_iter().map(WireTag::into_tag).collect();
            }
            if let Ok(page) = serde_json::from_slice::<Page<WireRepository>>(input) {
                let _: Vec<RepositoryInfo> = page.results.iter().map(WireRepository::info).collect();
            }
        }
    }

    #[test]
    fn rfc3339_times_are_read_to_the_microsecond(time in rfc3339(), garbage in any::<String>()) {
        let (text, expected) = time;
        let got = unix_time(Some(&text));
        let got = got.ok_or_else(|| TestCaseError::fail(format!("{text:?} not read")))?;
        let tolerance = 1e-6 + expected.abs() * 4.0 * f64::EPSILON;
        prop_assert!((got - expected).abs() <= tolerance, "{text}: {got} vs {expected}");
        if let Some(t) = unix_time(Some(&garbage)) {
            prop_assert!(t.is_finite());
        }
    }
}

#[test]
fn deeply_nested_json_is_refused_or_ignored_without_overflowing_the_stack() {
    // serde_json stops at 128 levels of the values it builds and skips ignored fields
    // without recursion; the client decodes on tokio's worker threads, whose stacks are as
    // large as this test thread's (2 MiB).
    for depth in [200, 10_000] {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let read = format!(r#"{{"results":[{{"name":"x","images":{nested}}}]}}"#);
        assert!(serde_json::from_str::<Page<WireTag>>(&read).is_err());
        let ignored = [
            format!(r#"{{"results":[{{"name":"x","creator":{nested}}}]}}"#),
            format!(r#"{{"count":{nested},"results":[{{"name":"x"}}]}}"#),
        ];
        for text in ignored.iter().chain([&read]) {
            let page = serde_json::from_str::<Page<WireRepository>>(text).unwrap();
            assert_eq!(page.results[0].name, "x");
        }
        for text in &ignored {
            let page = serde_json::from_str::<Page<WireTag>>(text).unwrap();
            assert_eq!(page.results[0].name, "x");
        }
        let deep_tags = format!(
            r#"{{"results":{}{}}}"#,
            "[{\"name\":\"x\",\"images\":".repeat(depth),
            "]".repeat(depth)
        );
        assert!(serde_json::from_str::<Page<WireTag>>(&deep_tags).is_err());
    }
}

// ---------------------------------------------------------------------------------------------
// 5. The web configuration file
// ---------------------------------------------------------------------------------------------

/// A folder of files a web configuration can name, removed when dropped.
struct WebFiles {
    dir: PathBuf,
}

impl WebFiles {
    fn new(name: &str) -> WebFiles {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "dhx-properties-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(dir.join("subdir")).unwrap();
        let server = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca =
            rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
                .unwrap();
        let cert = server.cert.pem();
        let files = [
            ("cert.pem", cert.clone()),
            ("key.pem", server.signing_key.serialize_pem()),
            ("ca.pem", ca.pem()),
            ("empty.pem", String::new()),
            ("half.pem", cert[..cert.len() / 2].to_string()),
            ("random.pem", String::new()),
        ];
        for (name, text) in files {
            std::fs::write(dir.join(name), text).unwrap();
        }
        WebFiles { dir }
    }
}

impl Drop for WebFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A bcrypt hash of "secret" at the lowest cost, so that checking it is quick.
fn cheap_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| bcrypt::hash("secret", 4).unwrap())
}

/// A password hash: valid and cheap, or broken in one of many ways (never valid and costly,
/// which would only make the test slow).
fn hash_text() -> impl Strategy<Value = (String, bool)> {
    let valid = cheap_hash().to_string();
    let salt_and_hash = valid[7..].to_string();
    prop_oneof![
        3 => Just((valid.clone(), true)),
        1 => (prop::sample::select(vec!["$2a$", "$2b$", "$2x$", "$2y$", "$2$", "$3$", "2b$", ""]),
              prop::sample::select(vec!["04", "4", "00", "03", "32", "99", "ab", "", "-1", "040"]),
              "[./A-Za-z0-9$]{0,60}")
            .prop_map(|(prefix, cost, rest)| (format!("{prefix}{cost}${rest}"), false)),
        1 => (0usize..60).prop_map(move |n| (valid[..n.min(valid.len())].to_string(), false)),
        1 => any::<String>().prop_map(|s| (s, false)),
        1 => "[./A-Za-z0-9]{53}".prop_map(move |rest| {
            let valid_shape = format!("$2b$04${rest}");
            // Valid in shape and cheap; it may or may not decode.
            (valid_shape, false)
        }),
        1 => Just((format!("$2y$05${salt_and_hash}"), false)),
    ]
}

/// A file name as a web configuration could give it.
fn path_text() -> impl Strategy<Value = Value> {
    prop_oneof![
        prop::sample::select(vec![
            "cert.pem",
            "key.pem",
            "ca.pem",
            "empty.pem",
            "half.pem",
            "random.pem",
            "missing.pem",
            "subdir",
            ".",
            "",
            "./cert.pem",
            "subdir/../key.pem",
        ])
        .prop_map(Value::from),
        "[a-z.]{1,8}".prop_map(Value::String),
    ]
}

/// Text for `random.pem`.
fn pem_text() -> impl Strategy<Value = String> {
    let blocks = prop::sample::select(vec![
        "CERTIFICATE",
        "PRIVATE KEY",
        "RSA PRIVATE KEY",
        "EC PRIVATE KEY",
        "X509 CRL",
    ]);
    prop_oneof![
        any::<String>(),
        (
            blocks,
            prop::collection::vec(any::<u8>(), 0..200),
            any::<bool>()
        )
            .prop_map(|(label, bytes, end)| {
                let body = base64::engine::general_purpose::STANDARD.encode(bytes);
                let end = if end {
                    format!("-----END {label}-----\n")
                } else {
                    String::new()
                };
                format!("-----BEGIN {label}-----\n{body}\n{end}")
            }),
    ]
}

/// A generated web configuration: its YAML and, when it is valid, whether it has TLS and
/// which users.
#[derive(Debug, Clone)]
struct GeneratedWeb {
    yaml: String,
    valid: Option<(bool, Vec<String>)>,
}

fn yaml(v: &Value) -> serde_yaml::Value {
    serde_yaml::to_value(v).unwrap()
}

/// The `tls_server_config` of a generated web configuration.
#[derive(Debug, Clone)]
enum TlsShape {
    Absent,
    Null,
    Wrong(Value),
    /// cert_file, key_file, client_auth_type, client_ca_file, min_version, an unknown key.
    Map(Box<[Field; 5]>, Option<(String, Value)>),
}

/// Whether `field` is one of `options`, `""` standing for missing or null.
fn is_one_of(field: &Field, options: &[&str]) -> bool {
    match field {
        Field::Missing | Field::Null => options.contains(&""),
        Field::Right(v) | Field::Wrong(v) => v.as_str().is_some_and(|v| options.contains(&v)),
    }
}

/// A web configuration of any values; when `sane`, only of values the exporter accepts.
fn web_config(sane: bool) -> impl Strategy<Value = GeneratedWeb> {
    let wrong = !sane;
    let (tls, users, user_hashes) = if sane {
        let path = |names: &[&'static str]| {
            prop::sample::select(names.to_vec()).prop_map(|n| Field::Right(Value::from(n)))
        };
        let tls_map = (
            [
                path(&["cert.pem", "./cert.pem"]).boxed(),
                path(&["key.pem", "subdir/../key.pem"]).boxed(),
                prop_oneof![Just(Field::Missing), path(&["NoClientCert"])].boxed(),
                optional(path_text(), false),
                prop_oneof![Just(Field::Missing), path(&["TLS12", "TLS13"])].boxed(),
            ],
            Just(None),
        );
        let tls = prop_oneof![
            Just(TlsShape::Absent),
            Just(TlsShape::Null),
            tls_map.prop_map(|(fields, unknown)| TlsShape::Map(Box::new(fields), unknown)),
        ];
        let users = prop_oneof![Just(Field::Missing), Just(Field::Right(Value::Null))];
        let hash = Just((cheap_hash().to_string(), true));
        (tls.boxed(), users.boxed(), hash.boxed())
    } else {
        let auth = prop_oneof![
            prop::sample::select(vec![
                "NoClientCert",
                "RequireAndVerifyClientCert",
                "VerifyClientCertIfGiven",
                "RequireAnyClientCert",
            ])
            .prop_map(Value::from),
            string(),
        ];
        let min_version = prop_oneof![
            prop::sample::select(vec!["TLS12", "TLS13", "TLS11", "tls12"]).prop_map(Value::from),
            string(),
        ];
        let tls_map = (
            [
                optional(path_text(), true),
                optional(path_text(), true),
                optional(auth, true),
                optional(path_text(), true),
                optional(min_version, true),
            ],
            proptest::option::weighted(0.1, ("[a-z_]{1,10}", any_json())),
        )
            .prop_map(|(fields, unknown)| TlsShape::Map(Box::new(fields), unknown));
        let tls = prop_oneof![
            2 => Just(TlsShape::Absent),
            1 => Just(TlsShape::Null),
            1 => any_json().prop_map(TlsShape::Wrong),
            6 => tls_map,
        ];
        let users = prop_oneof![
            1 => Just(Field::Missing),
            1 => Just(Field::Null),
            1 => any_json().prop_map(Field::Wrong),
            6 => Just(Field::Right(Value::Null)),
        ];
        (tls.boxed(), users.boxed(), hash_text().boxed())
    };
    let user_hashes = prop::collection::btree_map(
        prop_oneof![any::<String>(), "[a-z]{1,8}"],
        user_hashes,
        0..3,
    );
    let unknown = if sane {
        Just(None).boxed()
    } else {
        proptest::option::weighted(0.1, ("[a-z_]{1,10}", any_json())).boxed()
    };
    (
        tls,
        users,
        user_hashes,
        optional(any::<bool>().prop_map(Value::Bool), wrong),
        optional(any_json(), wrong),
        unknown,
    )
        .prop_map(|(tls, users_shape, users, open, http, unknown)| {
            let mut root = serde_yaml::Mapping::new();
            let mut valid = true;
            let mut has_tls = false;
            match tls {
                TlsShape::Absent => {}
                TlsShape::Null => {
                    root.insert("tls_server_config".into(), serde_yaml::Value::Null);
                }
                TlsShape::Wrong(v) => {
                    root.insert("tls_server_config".into(), yaml(&v));
                    valid = false;
                }
                TlsShape::Map(fields, unknown) => {
                    let [cert, key, auth, ca, min_version] = *fields;
                    let mut map = Map::new();
                    if let Some((k, v)) = unknown {
                        map.insert(k, v);
                        valid = false;
                    }
                    for (name, field) in [
                        ("cert_file", &cert),
                        ("key_file", &key),
                        ("client_auth_type", &auth),
                        ("client_ca_file", &ca),
                        ("min_version", &min_version),
                    ] {
                        field.put(&mut map, name);
                    }
                    root.insert("tls_server_config".into(), yaml(&Value::Object(map)));
                    // Valid only in the simplest case: the real certificate and key, no
                    // client certificates, a known minimum version.
                    valid &= is_one_of(&cert, &["cert.pem", "./cert.pem"])
                        && is_one_of(&key, &["key.pem", "subdir/../key.pem"])
                        && is_one_of(&auth, &["NoClientCert", ""])
                        && is_one_of(&min_version, &["TLS12", "TLS13", ""])
                        && !ca.is_wrong();
                    has_tls = true;
                }
            }
            match users_shape {
                Field::Wrong(v) => {
                    root.insert("basic_auth_users".into(), yaml(&v));
                    valid = false;
                }
                Field::Null => {
                    root.insert("basic_auth_users".into(), serde_yaml::Value::Null);
                    valid = false;
                }
                Field::Missing if users.is_empty() => {}
                Field::Missing | Field::Right(_) => {
                    let mut map = serde_yaml::Mapping::new();
                    for (user, (hash, ok)) in &users {
                        map.insert(user.as_str().into(), hash.as_str().into());
                        valid &= ok;
                    }
                    root.insert("basic_auth_users".into(), serde_yaml::Value::Mapping(map));
                }
            }
            open.put_yaml(&mut root, "open_health_endpoints");
            // A `null` bool is not a bool.
            valid &= matches!(open, Field::Missing | Field::Right(_));
            http.put_yaml(&mut root, "http_server_config");
            if let Some((k, v)) = unknown
                && !root.contains_key(k.as_str())
            {
                root.insert(k.into(), yaml(&v));
                valid = false;
            }
            GeneratedWeb {
                yaml: serde_yaml::to_string(&serde_yaml::Value::Mapping(root)).unwrap(),
                valid: valid.then(|| (has_tls, users.keys().cloned().collect())),
            }
        })
}

impl Field {
    fn put_yaml(&self, root: &mut serde_yaml::Mapping, key: &str) {
        let mut map = Map::new();
        self.put(&mut map, key);
        if let Some(v) = map.get(key) {
            root.insert(key.into(), yaml(v));
        }
    }
}

/// Runs `check` on `cases` generated values, each written to a file in a fresh folder.
fn run_web<S: Strategy>(
    name: &str,
    cases_count: u32,
    strategy: S,
    check: impl Fn(&WebFiles, &Path, S::Value) -> Result<(), TestCaseError>,
) {
    let files = WebFiles::new(name);
    let path = files.dir.join("web.yml");
    let mut runner = proptest::test_runner::TestRunner::new(cases(cases_count));
    let result = runner.run(&strategy, |value| check(&files, &path, value));
    drop(files);
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn the_web_configuration_takes_any_text() {
    let text = prop_oneof![
        any::<String>(),
        "[a-z_:{}\\[\\]\"' \n\t#&*!|>-]{0,60}",
        "(tls_server_config|basic_auth_users|open_health_endpoints|http_server_config): [a-z{}\\[\\]:\"' \n-]{0,40}",
    ];
    let bytes = prop::collection::vec(any::<u8>(), 0..64);
    run_web("text", 256, (text, bytes), |_, path, (text, bytes)| {
        std::fs::write(path, &text).unwrap();
        let _ = WebConfig::load(path);
        std::fs::write(path, &bytes).unwrap();
        let _ = WebConfig::load(path);
        Ok(())
    });
}

#[test]
fn the_web_configuration_takes_any_values_in_its_own_shape() {
    run_web(
        "shaped",
        256,
        (any::<bool>().prop_flat_map(web_config), pem_text()),
        |files, path, (web, pem)| {
            std::fs::write(files.dir.join("random.pem"), &pem).unwrap();
            std::fs::write(path, &web.yaml).unwrap();
            let loaded = WebConfig::load(path);
            if let Some((tls, users)) = &web.valid {
                let config =
                    loaded.map_err(|e| TestCaseError::fail(format!("{}: {e}", web.yaml)))?;
                prop_assert_eq!(config.tls.is_some(), *tls, "{}", web.yaml);
                prop_assert_eq!(config.requires_auth(), !users.is_empty());
                if let Some(user) = users.first() {
                    prop_assert!(config.check(user, "secret"), "{}", web.yaml);
                    prop_assert!(!config.check(user, "wrong"));
                }
            }
            Ok(())
        },
    );
}

#[test]
fn a_deeply_nested_web_configuration_is_refused_without_overflowing_the_stack() {
    // serde_yaml stops at 128 levels. (Parsing deep nesting is quadratic in a debug build:
    // 1,000 levels take milliseconds, 100,000 take minutes; the file is the operator's.)
    let files = WebFiles::new("deep");
    let path = files.dir.join("web.yml");
    let depth = 1_000;
    for nested in [
        format!("{}{}", "[".repeat(depth), "]".repeat(depth)),
        format!("{}1{}", "{a: ".repeat(depth), "}".repeat(depth)),
    ] {
        std::fs::write(&path, format!("http_server_config: {nested}\n")).unwrap();
        assert!(WebConfig::load(&path).is_err());
    }
}

#[test]
fn a_web_configuration_of_many_aliases_is_refused_quickly() {
    let files = WebFiles::new("aliases");
    let path = files.dir.join("web.yml");
    let mut text = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..12 {
        let prev = i - 1;
        text.push_str(&format!(
            "l{i}: &l{i} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
            p = if prev == 0 {
                "a".to_string()
            } else {
                format!("l{prev}")
            },
        ));
    }
    text.push_str("http_server_config: *l11\n");
    std::fs::write(&path, text).unwrap();
    assert!(WebConfig::load(&path).is_err());
}

// ---------------------------------------------------------------------------------------------
// 6. Label escaping in the exposition
// ---------------------------------------------------------------------------------------------

/// Names with everything the escaping must handle: any Unicode, and often the characters
/// that matter to the text format.
fn label_text() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '\\', '"', '\n', '\r', '\t', '\0', '\u{7f}', '\u{85}', '\u{2028}', '\u{feff}', '{', '}',
        '=', ',', ' ', '#', 'n', 'a', 'é', '😀',
    ]);
    prop_oneof![
        any::<String>(),
        prop::collection::vec(prop_oneof![3 => special, 1 => any::<char>()], 0..12)
            .prop_map(|chars| chars.into_iter().collect()),
    ]
}

fn any_time() -> impl Strategy<Value = Option<f64>> {
    proptest::option::of(prop_oneof![
        4 => 0.0f64..4e9,
        1 => any::<f64>(),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 5e-324, f64::MAX]),
    ])
}

fn any_image() -> impl Strategy<Value = Image> {
    let platform = || {
        prop_oneof![
            Just("linux".to_string()),
            Just("unknown".to_string()),
            label_text()
        ]
    };
    (
        platform(),
        platform(),
        prop_oneof![Just(String::new()), label_text()],
        prop_oneof![Just(String::new()), label_text()],
        proptest::option::of(edgy_u64()),
    )
        .prop_map(|(os, architecture, variant, digest, size)| Image {
            os,
            architecture,
            variant,
            digest,
            size,
        })
}

/// A tag without its name.
fn any_tag() -> impl Strategy<Value = (String, Option<u64>, Option<f64>, Option<f64>, Vec<Image>)> {
    (
        label_text(),
        proptest::option::of(edgy_u64()),
        any_time(),
        any_time(),
        prop::collection::vec(any_image(), 0..4),
    )
}

fn any_repository() -> impl Strategy<Value = (RepositoryInfo, Option<Vec<(String, Tag)>>)> {
    let info = (
        any::<bool>(),
        label_text(),
        edgy_u64(),
        edgy_u64(),
        any_time(),
        proptest::option::of(edgy_u64()),
    )
        .prop_map(
            |(private, repository_type, pull_count, star_count, last_updated, storage_size)| {
                RepositoryInfo {
                    private,
                    repository_type,
                    pull_count,
                    star_count,
                    last_updated,
                    storage_size,
                }
            },
        );
    let tags = proptest::option::of(
        prop::collection::btree_map(label_text(), any_tag(), 0..4).prop_map(|tags| {
            tags.into_iter()
                .map(
                    |(name, (digest, full_size, last_pushed, last_pulled, images))| {
                        let tag = Tag {
                            name: name.clone(),
                            digest,
                            full_size,
                            last_pushed,
                            last_pulled,
                            images,
                        };
                        (name, tag)
                    },
                )
                .collect()
        }),
    );
    (info, tags)
}

fn any_snapshot() -> impl Strategy<Value = Snapshot> {
    prop::collection::btree_map(
        label_text(),
        (
            prop::collection::btree_map(label_text(), any_repository(), 0..4),
            0usize..10,
        ),
        0..3,
    )
    .prop_map(|namespaces| Snapshot {
        namespaces: namespaces
            .into_iter()
            .map(|(ns, (repositories, visible))| {
                let repositories = repositories
                    .into_iter()
                    .map(|(name, (info, tags))| {
                        let repository = Repository {
                            name: name.clone(),
                            info,
                            tags: tags.map(|t: Vec<(String, Tag)>| {
                                Arc::from(t.into_iter().map(|(_, t)| t).collect::<Vec<_>>())
                            }),
                            tags_as_of: None,
                        };
                        (name, repository)
                    })
                    .collect();
                (
                    ns,
                    Namespace {
                        repositories,
                        visible,
                    },
                )
            })
            .collect(),
    })
}

/// One sample line of the text format 0.0.4, label values unescaped.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: String,
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A value as this exporter writes it: an integer, a decimal without exponent, NaN or ±Inf.
fn is_value(value: &str) -> bool {
    if matches!(value, "NaN" | "+Inf" | "-Inf") {
        return true;
    }
    let digits = value.strip_prefix('-').unwrap_or(value);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && fraction.is_none_or(all_digits)
}

/// Parses one sample line strictly: `name{label="value",...} value`, no timestamp, label
/// values with only `\\`, `\"` and `\n` escaped, and nothing else escaped.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let brace = line.find('{').ok_or("no {")?;
    let name = &line[..brace];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[brace + 1..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('}') {
        rest = r;
    } else {
        loop {
            let eq = rest.find('=').ok_or("no =")?;
            let label = &rest[..eq];
            if !is_label_name(label) {
                return Err(format!("bad label name {label:?}"));
            }
            rest = rest[eq + 1..].strip_prefix('"').ok_or("no opening quote")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next() {
                    None => return Err("unterminated label value".into()),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => return Err(format!("bad escape {other:?}")),
                    },
                    Some((_, '\n')) => return Err("raw line feed".into()),
                    Some((_, c)) => value.push(c),
                }
            };
            rest = &rest[close + 1..];
            labels.push((label.to_string(), value));
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else {
                rest = rest.strip_prefix('}').ok_or("no , or }")?;
                break;
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    if !is_value(value) {
        return Err(format!("bad value {value:?}"));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value: value.to_string(),
    })
}

/// Parses a whole exposition: families of `# HELP`, `# TYPE` and samples of that family.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let body = text.strip_suffix('\n').ok_or("no final line feed")?;
    let mut family: Option<String> = None;
    let mut samples = Vec::new();
    let mut lines = body.split('\n').peekable();
    while let Some(line) = lines.next() {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let (name, _) = help.split_once(' ').ok_or("HELP without text")?;
            let kind = lines.next().ok_or("HELP without TYPE")?;
            let kind = kind
                .strip_prefix(&format!("# TYPE {name} "))
                .ok_or_else(|| format!("TYPE of {name} missing: {kind:?}"))?;
            if !matches!(kind, "gauge" | "counter") {
                return Err(format!("bad type {kind:?}"));
            }
            family = Some(name.to_string());
            continue;
        }
        let sample = parse_sample(line).map_err(|e| format!("{e}: {line:?}"))?;
        if family.as_deref() != Some(sample.name.as_str()) {
            return Err(format!("sample outside its family: {line:?}"));
        }
        samples.push(sample);
    }
    Ok(samples)
}

fn label<'a>(sample: &'a Sample, name: &str) -> Option<&'a str> {
    sample
        .labels
        .iter()
        .find(|(l, _)| l == name)
        .map(|(_, v)| v.as_str())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn every_sample_line_parses_and_label_values_survive_escaping(snapshot in any_snapshot()) {
        let text = String::from_utf8(render_inventory(&snapshot, &Options::default()))
            .map_err(|e| TestCaseError::fail(format!("not UTF-8: {e}")))?;
        let samples = parse_exposition(&text).map_err(TestCaseError::fail)?;

        // One repository info series per repository, with its names as they were.
        let repositories: Vec<(&str, &str, &str)> = snapshot
            .repositories()
            .map(|(ns, r)| (ns, r.name.as_str(), r.info.repository_type.as_str()))
            .collect();
        let info: Vec<(&str, &str, &str)> = samples
            .iter()
            .filter(|s| s.name == "dockerhub_repository_info")
            .map(|s| {
                (
                    label(s, "hub_namespace").unwrap_or("?"),
                    label(s, "repository").unwrap_or("?"),
                    label(s, "repository_type").unwrap_or("?"),
                )
            })
            .collect();
        prop_assert_eq!(info, repositories);

        // One tag info series per tag, with its names and digest as they were.
        let tags: Vec<(&str, &str, &str, &str)> = snapshot
            .repositories()
            .flat_map(|(ns, r)| {
                r.tags.iter().flat_map(|t| t.iter()).map(move |t| {
                    (ns, r.name.as_str(), t.name.as_str(), t.digest.as_str())
                })
            })
            .collect();
        let tag_info: Vec<(&str, &str, &str, &str)> = samples
            .iter()
            .filter(|s| s.name == "dockerhub_tag_info")
            .map(|s| {
                (
                    label(s, "hub_namespace").unwrap_or("?"),
                    label(s, "repository").unwrap_or("?"),
                    label(s, "tag").unwrap_or("?"),
                    label(s, "digest").unwrap_or("?"),
                )
            })
            .collect();
        prop_assert_eq!(tag_info, tags);

        // Image series name an image of their tag, as it was.
        for s in samples.iter().filter(|s| s.name.starts_with("dockerhub_image_")) {
            let ns = &snapshot.namespaces[label(s, "hub_namespace").unwrap()];
            let repository = &ns.repositories[label(s, "repository").unwrap()];
            let tag_name = label(s, "tag").unwrap();
            let tag = repository.tags.iter().flat_map(|t| t.iter()).find(|t| t.name == tag_name);
            let tag = tag.ok_or_else(|| TestCaseError::fail(format!("no tag {tag_name:?}")))?;
            let found = tag.images.iter().any(|i| {
                Some(i.os.as_str()) == label(s, "os")
                    && Some(i.architecture.as_str()) == label(s, "architecture")
                    && Some(i.variant.as_str()) == label(s, "variant")
                    && label(s, "digest").is_none_or(|d| d == i.digest)
                    && !i.is_attestation()
            });
            prop_assert!(found, "{:?}", s);
        }

        // No family holds two identical label sets.
        let mut seen = BTreeSet::new();
        for s in &samples {
            prop_assert!(seen.insert((&s.name, &s.labels)), "duplicate series {:?}", s);
        }

        // Values as they were, for the series that copy one.
        for s in samples.iter().filter(|s| s.name == "dockerhub_repository_pulls_total") {
            let ns = &snapshot.namespaces[label(s, "hub_namespace").unwrap()];
            let repository = &ns.repositories[label(s, "repository").unwrap()];
            prop_assert_eq!(&s.value, &repository.info.pull_count.to_string());
        }
    }
}

#[test]
fn the_strict_parser_refuses_what_the_format_does_not_allow() {
    for line in [
        "m{a=\"x\"} 1",
        "m{a=\"x\\ty\"} 1",
        "m{a=\"x\"y\"} 1",
        "m{a=\"x\",} 1",
        "m{1a=\"x\"} 1",
        "m{a=\"x\"}  1",
        "m{a=\"x\"} 1e5",
        "m{a=\"x\"} 1 123",
        "m{a=x} 1",
        "1m{a=\"x\"} 1",
    ] {
        if line == "m{a=\"x\"} 1" {
            assert!(parse_sample(line).is_ok());
        } else {
            assert!(parse_sample(line).is_err(), "{line:?}");
        }
    }
    let sample = parse_sample(r#"m{a="\\\"\n",b=""} -0.5"#).unwrap();
    assert_eq!(sample.labels[0].1, "\\\"\n");
    assert_eq!(sample.labels[1].1, "");
}
