//! The Hub's JSON pages with random nulls, missing fields, wrong types and unknown fields:
//! each decodes to what was generated or fails, never panics.

use serde_json::Map;

use proptest::prelude::*;
use serde_json::Value;

use super::{Page, WireRepository, WireTag, said, unix_time};
use crate::hub::secret::{Secret, quote};
use crate::inventory::{RepositoryInfo, Tag, TagStatus};
use crate::testing::*;

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

/// A `tag_status` or `status` as the Hub could send it: absent, one of its two words, or any
/// JSON at all, which is no status rather than a failure.
fn any_status() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::from("active"))),
        Just(Some(Value::from("inactive"))),
        any_json().prop_map(Some),
    ]
}

/// The status a tag object must decode to: its `tag_status`, else its `status`, when either
/// is `active` or `inactive`.
fn expected_status(json: &Value) -> Option<TagStatus> {
    let word = |key: &str| match json.get(key).and_then(Value::as_str) {
        Some("active") => Some(TagStatus::Active),
        Some("inactive") => Some(TagStatus::Inactive),
        _ => None,
    };
    word("tag_status").or_else(|| word("status"))
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
        (any_status(), any_status()),
    )
        .prop_map(
            |(
                name,
                digest,
                full_size,
                pushed,
                pulled,
                updated,
                (images, images_ok),
                unknown,
                (tag_status, status),
            )| {
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
                if let Value::Object(map) = &mut generated.json {
                    for (key, value) in [("tag_status", tag_status), ("status", status)] {
                        if let Some(value) = value {
                            map.insert(key.into(), value);
                        }
                    }
                }
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
        required(size(), wrong),
        optional(next_link(), wrong),
        unknown_fields(),
    )
        .prop_map(move |(results, next, count, previous, unknown)| {
            let (results_field, results_ok, items) = match results {
                // A page without its results is not a page: nothing may be read as empty.
                Results::Missing => (Field::Missing, false, vec![]),
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
                well_typed: !next.is_wrong() && results_ok && count.right().is_some(),
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
        let decoded = Page::<WireTag>::decode(text.as_bytes());
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
            // Kept as long as the tag: no room held for images it does not have.
            prop_assert_eq!(tag.images.capacity(), tag.images.len());
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
                prop_assert_eq!(tag.status, expected_status(&generated.generated.json));
            }
        }
    }

    #[test]
    fn a_repositories_page_of_any_shape_decodes_or_fails_without_panicking(
        page in any::<bool>()
            .prop_flat_map(|wrong| page(wire_repository(wrong), repository_generated, wrong)),
    ) {
        let text = page.json.to_string();
        let decoded = Page::<WireRepository>::decode(text.as_bytes());
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
            if let Ok(page) = Page::<WireTag>::decode(input) {
                let _: Vec<Tag> = page.results.into_iter().map(WireTag::into_tag).collect();
            }
            if let Ok(page) = Page::<WireRepository>::decode(input) {
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

proptest! {
    #![proptest_config(cases(512))]

    /// Whatever the body of an error answer, reading what the Hub said neither panics nor
    /// lets a control character, the secret or more than the quoted length through.
    #[test]
    fn what_the_hub_said_is_read_from_any_body_and_quoted_short_escaped_and_masked(
        text in any::<String>(),
        body in prop::collection::vec(any::<u8>(), 0..512),
        json in json_text(),
        secret in "[A-Za-z0-9_]{8,24}",
        key in prop::sample::select(vec!["message", "detail", "text"]),
    ) {
        let secret = Secret::new(secret);
        for body in [&body[..], json.as_bytes()] {
            if let Some(read) = said(body) {
                prop_assert!(!read.is_empty());
            }
        }
        let sent = format!("{text} {} {text}", secret.expose());
        let body = serde_json::json!({ key: sent, "errinfo": {} }).to_string();
        let read = said(body.as_bytes());
        prop_assert_eq!(read.as_deref(), Some(sent.trim()));
        let quoted = quote(&read.unwrap_or_default(), Some(&secret));
        prop_assert!(!quoted.contains(secret.expose()), "{}", quoted);
        prop_assert!(!quoted.chars().any(char::is_control), "{}", quoted);
        prop_assert!(quoted.chars().count() <= 201, "{}", quoted);
    }
}

#[test]
fn deeply_nested_json_is_refused_or_ignored_without_overflowing_the_stack() {
    // serde_json stops at 128 levels of the values it builds and skips ignored fields
    // without recursion; the client decodes on tokio's worker threads, whose stacks are as
    // large as this test thread's (2 MiB).
    for depth in [200, 10_000] {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        let read = format!(r#"{{"count":1,"results":[{{"name":"x","images":{nested}}}]}}"#);
        assert!(Page::<WireTag>::decode(read.as_bytes()).is_err());
        let ignored = [
            format!(r#"{{"count":1,"results":[{{"name":"x","creator":{nested}}}]}}"#),
            format!(r#"{{"count":1,"previous":{nested},"results":[{{"name":"x"}}]}}"#),
        ];
        for text in ignored.iter().chain([&read]) {
            let page = Page::<WireRepository>::decode(text.as_bytes()).unwrap();
            assert_eq!(page.results[0].name, "x");
        }
        for text in &ignored {
            let page = Page::<WireTag>::decode(text.as_bytes()).unwrap();
            assert_eq!(page.results[0].name, "x");
        }
        let deep_count = format!(r#"{{"count":{nested},"results":[]}}"#);
        assert!(Page::<WireTag>::decode(deep_count.as_bytes()).is_err());
        let deep_tags = format!(
            r#"{{"count":1,"results":{}{}}}"#,
            "[{\"name\":\"x\",\"images\":".repeat(depth),
            "]".repeat(depth)
        );
        assert!(Page::<WireTag>::decode(deep_tags.as_bytes()).is_err());
    }
}
