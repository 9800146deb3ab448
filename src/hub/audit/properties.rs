//! Audit-log pages with unknown fields, values of any type, and entries that cannot be read:
//! a page decodes to the events it holds whatever surrounds them, an entry that cannot be read
//! is skipped alone, and no input panics.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;
use time::macros::datetime;
use time::{OffsetDateTime, UtcOffset};

use super::{AuditEvent, Page, WATCHED_ACTIONS, decode_page};
use crate::testing::*;

/// The start of the window every page is decoded for.
const FROM: OffsetDateTime = datetime!(2026-12-02 12:00:00 UTC);

/// The account whose log is decoded.
const ACCOUNT: &str = "acme";

/// A name the Hub could give a namespace or repository.
fn name() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,20}"
}

/// A time at or after [`FROM`], at any offset, as RFC 3339 text, and the instant in UTC.
fn time_in_window() -> impl Strategy<Value = (String, OffsetDateTime)> {
    (0i64..100_000_000, 0u32..1_000_000_000, -1439i32..=1439).prop_filter_map(
        "formattable",
        |(secs, nanos, minutes)| {
            let offset = UtcOffset::from_whole_seconds(minutes * 60).ok()?;
            let t = (FROM + time::Duration::seconds(secs))
                .replace_nanosecond(nanos)
                .ok()?;
            let text = t.to_offset(offset).format(&Rfc3339).ok()?;
            Some((text, t))
        },
    )
}

/// An optional text field and what it must become: absent, or a string (empty means none).
fn text_field() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(String::new())),
        4 => "[a-z0-9:.]{1,16}".prop_map(Some),
        1 => any::<String>().prop_map(Some),
    ]
}

/// A JSON value that is not a string.
fn not_a_string() -> impl Strategy<Value = Value> {
    any_json().prop_filter("not a string", |v| !v.is_string())
}

/// Keys the Hub may add to an entry or to its `data`, none of them read.
fn unknown_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "action_description",
            "id",
            "ip_address",
            "org",
            "size",
            "media_type",
            "visibility",
        ])
        .prop_map(String::from),
        "x_[a-z_]{0,8}",
    ]
}

/// An entry of a watched action that can be read: its plain JSON, the same entry with
/// unknown fields of any value and non-string values where the event has nothing, and the
/// event it must become.
#[derive(Debug, Clone)]
struct Readable {
    plain: Value,
    noisy: Value,
    event: AuditEvent,
}

fn readable() -> impl Strategy<Value = Readable> {
    (
        prop::sample::select(WATCHED_ACTIONS.to_vec()),
        name(),
        name(),
        time_in_window(),
        text_field(),
        text_field(),
        text_field(),
        prop::collection::vec((unknown_key(), any_json()), 0..4),
        prop::collection::vec((unknown_key(), any_json()), 0..4),
        (
            not_a_string(),
            not_a_string(),
            not_a_string(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                action,
                namespace,
                repository,
                (time, timestamp),
                tag,
                digest,
                actor,
                extra,
                extra_data,
                (other_tag, other_digest, other_actor, data_not_an_object),
            )| {
                let mut plain = Map::new();
                plain.insert("action".into(), action.into());
                plain.insert("name".into(), format!("{namespace}/{repository}").into());
                plain.insert("timestamp".into(), time.into());
                let mut data = Map::new();
                for (key, value) in [("tag", &tag), ("digest", &digest)] {
                    if let Some(v) = value {
                        data.insert(key.into(), v.clone().into());
                    }
                }
                if let Some(a) = &actor {
                    plain.insert("actor".into(), a.clone().into());
                }
                // Noise: unknown fields first, so that the known ones written after win.
                let mut noisy: Map<String, Value> = extra.into_iter().collect();
                noisy.extend(plain.clone());
                if actor.is_none() {
                    noisy.insert("actor".into(), other_actor);
                }
                let mut noisy_data: Map<String, Value> = extra_data.into_iter().collect();
                noisy_data.extend(data.clone());
                noisy_data.entry("tag").or_insert(other_tag);
                noisy_data.entry("digest").or_insert(other_digest);
                let nothing_in_data = tag.is_none() && digest.is_none();
                if nothing_in_data && data_not_an_object {
                    noisy.insert("data".into(), json!([noisy_data]));
                } else {
                    noisy.insert("data".into(), Value::Object(noisy_data));
                }
                plain.insert("data".into(), Value::Object(data));
                let present = |v: Option<String>| v.filter(|v| !v.is_empty());
                Readable {
                    plain: Value::Object(plain),
                    noisy: Value::Object(noisy),
                    event: AuditEvent {
                        timestamp,
                        action: action.to_string(),
                        namespace,
                        repository,
                        tag: present(tag),
                        digest: present(digest),
                        actor: present(actor),
                    },
                }
            },
        )
}

/// A name no event may come from: a part missing, empty, `.` or `..`, holding a control
/// character, a `/` too many, or too long.
fn bad_name() -> impl Strategy<Value = Value> {
    (
        name(),
        name(),
        any::<char>().prop_filter("control", |c| c.is_control()),
    )
        .prop_flat_map(|(ns, repository, control)| {
            prop::sample::select(vec![
                Value::String(format!("{ns}/")),
                Value::String(format!("/{repository}")),
                Value::String(String::new()),
                Value::String("/".into()),
                Value::String(format!("{ns}/{repository}/{repository}")),
                Value::String(format!("{ns}/..")),
                Value::String(format!("./{repository}")),
                Value::String(".".into()),
                Value::String(format!("{ns}/{repository}{control}")),
                Value::String(format!("{ns}{control}")),
                Value::String(format!("{ns}/{}", "a".repeat(256))),
                Value::Null,
                json!(42),
                json!([format!("{ns}/{repository}")]),
            ])
        })
}

/// A `timestamp` that is not RFC 3339: any other text, or any other value.
fn bad_time() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        1 => Just(None),
        2 => prop_oneof![
            any::<String>(),
            "[0-9T:.Z+ -]{0,32}",
            Just("2026-12-02 13:05:01".to_string()),
            Just("2026-12-02T13:05:01".to_string()),
            Just("1733144701".to_string()),
        ]
        .prop_filter("not RFC 3339", |t| OffsetDateTime::parse(t, &Rfc3339).is_err())
        .prop_map(|t| Some(Value::String(t))),
        1 => not_a_string().prop_map(Some),
    ]
}

/// An entry of a page with readable and unreadable entries, and what becomes of it.
#[derive(Debug, Clone)]
enum Mixed {
    /// Read into this event.
    Kept(Readable),
    /// A watched action that cannot be read: skipped and reported.
    Skipped(Value),
    /// Not an event the exporter watches (another action, no action, not an object):
    /// dropped without a word.
    Dropped(Value),
}

fn mixed() -> impl Strategy<Value = Mixed> {
    prop_oneof![
        4 => readable().prop_map(Mixed::Kept),
        1 => (readable(), bad_name()).prop_map(|(r, name)| {
            let mut entry = r.noisy;
            entry["name"] = name;
            Mixed::Skipped(entry)
        }),
        1 => (readable(), bad_time()).prop_map(|(r, time)| {
            let mut entry = r.noisy;
            match time {
                Some(t) => entry["timestamp"] = t,
                None => {
                    if let Some(o) = entry.as_object_mut() {
                        o.remove("timestamp");
                    }
                }
            }
            Mixed::Skipped(entry)
        }),
        1 => (readable(), any_json(), any::<bool>()).prop_map(|(r, action, remove)| {
            let mut entry = r.noisy;
            let watched = action.as_str().is_some_and(|a| WATCHED_ACTIONS.contains(&a));
            if remove || watched {
                if let Some(o) = entry.as_object_mut() {
                    o.remove("action");
                }
            } else {
                entry["action"] = action;
            }
            Mixed::Dropped(entry)
        }),
        1 => not_an_object().prop_map(Mixed::Dropped),
    ]
}

/// A JSON value that is not an object.
fn not_an_object() -> impl Strategy<Value = Value> {
    any_json().prop_filter("not an object", |v| !v.is_object())
}

/// A page body of these entries.
fn body(entries: impl IntoIterator<Item = Value>) -> Vec<u8> {
    json!({ "logs": entries.into_iter().collect::<Vec<_>>() })
        .to_string()
        .into_bytes()
}

/// The page `json` holds for [`ACCOUNT`] since `from`; a failure names the body.
fn decoded(json: &[u8], from: OffsetDateTime) -> Result<Page, TestCaseError> {
    decode_page(json, ACCOUNT, from)
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(json))))
}

/// Text that is JSON-like, and often nearly a page, more often than arbitrary text is.
fn json_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[\\[\\]{}\":,0-9a-z .eE+-]{0,60}",
        "\\{\"logs\":[\\[\\]{}\":,0-9a-z .-]{0,40}\\}",
        "\\{\"logs\":\\[\\{\"(action|name|timestamp|data)\":[\\[\\]{}\":,0-9a-z ./-]{0,40}\\}\\]\\}",
    ]
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn unknown_fields_and_values_of_other_types_change_no_event(
        entries in prop::collection::vec(readable(), 0..8),
    ) {
        let expected: Vec<AuditEvent> = entries.iter().map(|e| e.event.clone()).collect();
        for json in [
            body(entries.iter().map(|e| e.plain.clone())),
            body(entries.iter().map(|e| e.noisy.clone())),
        ] {
            let page = decoded(&json, FROM)?;
            prop_assert_eq!(page.entries, entries.len());
            prop_assert!(page.skipped.is_empty(), "{:?}", page.skipped);
            prop_assert_eq!(&page.events, &expected);
        }
    }

    #[test]
    fn an_entry_that_cannot_be_read_is_skipped_and_the_others_kept(
        entries in prop::collection::vec(mixed(), 0..12),
    ) {
        let json = body(entries.iter().map(|e| match e {
            Mixed::Kept(r) => r.noisy.clone(),
            Mixed::Skipped(v) | Mixed::Dropped(v) => v.clone(),
        }));
        let page = decoded(&json, FROM)?;
        let kept: Vec<AuditEvent> = entries
            .iter()
            .filter_map(|e| match e {
                Mixed::Kept(r) => Some(r.event.clone()),
                _ => None,
            })
            .collect();
        let skipped = entries.iter().filter(|e| matches!(e, Mixed::Skipped(_))).count();
        prop_assert_eq!(page.entries, entries.len());
        prop_assert_eq!(page.skipped.len(), skipped, "{:?}", page.skipped);
        prop_assert_eq!(page.events, kept);
    }

    #[test]
    fn any_entries_at_all_leave_the_page_readable(
        entries in prop::collection::vec(any_json(), 0..8),
    ) {
        let page = decoded(&body(entries.clone()), FROM)?;
        prop_assert_eq!(page.entries, entries.len());
        prop_assert!(page.events.len() + page.skipped.len() <= entries.len());
        for event in &page.events {
            prop_assert!(WATCHED_ACTIONS.contains(&event.action.as_str()));
            prop_assert!(event.timestamp >= FROM);
            prop_assert_eq!(event.timestamp.offset(), UtcOffset::UTC);
            prop_assert!(super::check_name(&event.namespace).is_ok());
            prop_assert!(super::check_name(&event.repository).is_ok());
        }
    }

    #[test]
    fn any_value_text_or_bytes_decode_or_fail_without_panicking(
        value in any_json(),
        text in json_text(),
        bytes in prop::collection::vec(any::<u8>(), 0..64),
    ) {
        let value = value.to_string();
        for input in [value.as_bytes(), text.as_bytes(), &bytes] {
            if let Ok(page) = decode_page(input, ACCOUNT, FROM) {
                prop_assert!(page.events.len() <= page.entries);
            }
        }
    }

    #[test]
    fn events_before_the_window_are_left_out(
        entries in prop::collection::vec(readable(), 1..8),
        shift in 0i64..200_000_000,
    ) {
        let from = FROM + time::Duration::seconds(shift);
        let page = decoded(&body(entries.iter().map(|e| e.noisy.clone())), from)?;
        let expected: Vec<AuditEvent> = entries
            .iter()
            .map(|e| e.event.clone())
            .filter(|e| e.timestamp >= from)
            .collect();
        prop_assert_eq!(page.events, expected);
    }
}
