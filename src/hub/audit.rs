//! A namespace's audit log (`GET /v2/auditlogs/{account}`, Team and Business plans): the
//! repository events since a given time, for noticing pushes and deletions between full
//! refreshes.
//!
//! The log is read through the same request path as everything else (pacing, time limit,
//! retries, bounded body, the observer hearing [`Endpoint::AuditLog`]), all actions in one
//! listing so that a quiet poll costs one request; only the actions in [`WATCHED_ACTIONS`] are
//! kept. The log has no `count` and no `next`: pages are asked for by number, and a page
//! shorter than [`PAGE_SIZE`] (or empty, or a 404 after a full one) is the last. Pages are
//! offset-based and shift while events arrive, so an event read twice is kept once. A plan
//! without audit logs answers 403 or 404 on the first page: that is [`AuditLog::Unavailable`],
//! not an error to retry.
//!
//! What each action puts in `data` is not specified publicly, so entries are read leniently:
//! unknown fields and values of other types than expected are ignored, and an entry without a
//! readable time or repository name is skipped alone (logged at debug level). Only a body that
//! is not an object with a `logs` array fails the page. This module does not decide what an
//! event means for the inventory; that is the refresh's business.

use std::collections::BTreeSet;
use std::fmt;

use reqwest::StatusCode;
use serde::Deserialize;
use serde::de::{self, IgnoredAny, MapAccess, SeqAccess, Visitor};
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};
use tracing::{debug, warn};

use super::names::check_name;
use super::observer::Endpoint;
use super::secret::quote;
use super::{Client, PAGE_SIZE};
use crate::error::{Error, Result};

/// A tag was pushed (the Hub's action name).
pub(crate) const TAG_PUSH: &str = "repo.tag.push";

/// A tag was deleted (the Hub's action name).
pub(crate) const TAG_DELETE: &str = "repo.tag.delete";

/// A repository was created (the Hub's action name).
pub(crate) const REPOSITORY_CREATE: &str = "repo.create";

/// A repository was deleted (the Hub's action name).
pub(crate) const REPOSITORY_DELETE: &str = "repo.delete";

/// The actions kept: those that change which repositories and tags exist. Every other
/// action (settings, members, tokens) is read and dropped.
pub(crate) const WATCHED_ACTIONS: [&str; 4] =
    [TAG_PUSH, TAG_DELETE, REPOSITORY_CREATE, REPOSITORY_DELETE];

/// Pages read at most in one call: 10,000 entries at 100 a page. A namespace busier than that
/// between two polls is left to the next full refresh.
const MAX_PAGES: u32 = 100;

/// Events kept at most in one call, the bound on memory should the Hub serve pages longer
/// than asked.
const MAX_EVENTS: usize = 10_000;

/// One audit-log event that names a repository.
///
/// The fields are ordered so that the derived order is by time first: events sort oldest
/// first, and two events are the same event when every field is equal.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct AuditEvent {
    /// When it happened, in UTC.
    pub(crate) timestamp: OffsetDateTime,
    /// The Hub's action name, one of [`WATCHED_ACTIONS`].
    pub(crate) action: String,
    /// The repository's namespace: the part of `name` before its `/`, or, when `name` has
    /// none, the entry's `account` (else the account whose log it is).
    pub(crate) namespace: String,
    /// The repository's name within its namespace.
    pub(crate) repository: String,
    /// `data.tag`, when it is a non-empty string.
    pub(crate) tag: Option<String>,
    /// `data.digest`, when it is a non-empty string.
    pub(crate) digest: Option<String>,
    /// Who did it, when the Hub says.
    pub(crate) actor: Option<String>,
}

/// What the audit log of an account holds, or why it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AuditLog {
    /// The events kept, each once, oldest first.
    Events(Vec<AuditEvent>),
    /// The account's plan has no audit log (or the credentials may not read it): the Hub
    /// answered this status (403 or 404) on the first page.
    Unavailable {
        /// The status answered.
        status: u16,
    },
}

impl Client {
    /// Every event of `account` at or after `from` whose action is one of
    /// [`WATCHED_ACTIONS`], all pages read, each event once, oldest first;
    /// [`AuditLog::Unavailable`] when the first page answers 403 or 404.
    ///
    /// Past [`MAX_PAGES`] pages or [`MAX_EVENTS`] events the read stops and what was read is
    /// returned, with a warning: an error would have the caller ask for the same window again
    /// at every poll, each time spending a hundred requests of the quota the full refresh
    /// needs, while the events read are true and the full refresh sees the rest anyway.
    pub(crate) async fn audit_log(&self, account: &str, from: OffsetDateTime) -> Result<AuditLog> {
        // An audit log is a listing: it takes a permit like the others (see `listings`).
        let _permit = self.listings.acquire(super::pace::priority()).await;
        let mut first = self.url(&["v2", "auditlogs", account]);
        let from_text = rfc3339_micros(from);
        first.query_pairs_mut().append_pair("from", &from_text);
        let mut events = BTreeSet::new();
        for number in 1..=MAX_PAGES {
            let mut url = first.clone();
            url.query_pairs_mut()
                .append_pair("page", &number.to_string());
            // A 403 or 404 means "no audit log here" (or no page this far), not a failure.
            let fetched = self
                .get_or_status(
                    Endpoint::AuditLog,
                    &url,
                    &[StatusCode::FORBIDDEN, StatusCode::NOT_FOUND],
                )
                .await?;
            let body = match fetched {
                Ok(body) => body,
                Err(answer) if number == 1 => {
                    let status = answer.status.as_u16();
                    debug!(account = %account, status, "no audit log for this account");
                    return Ok(AuditLog::Unavailable { status });
                }
                // The Hub answers a page past the end with a 404 on its other listings; after
                // a full page, this one may be such a page.
                Err(answer) if answer.status == StatusCode::NOT_FOUND => break,
                Err(answer) => return Err(self.status_error(&url, &answer)),
            };
            let page = decode_page(&body, account, from).map_err(|reason| Error::Decode {
                url: url.to_string(),
                reason: quote(&reason, self.secret()),
            })?;
            drop(body);
            for skipped in &page.skipped {
                debug!(
                    url = %url,
                    value = %quote(&skipped.value, self.secret()),
                    reason = skipped.reason,
                    "audit-log entry skipped"
                );
            }
            debug!(
                url = %url,
                entries = page.entries,
                kept = page.events.len(),
                "audit-log page read"
            );
            events.extend(page.events);
            if page.entries < PAGE_SIZE as usize {
                return Ok(AuditLog::Events(events.into_iter().collect()));
            }
            if events.len() >= MAX_EVENTS || number == MAX_PAGES {
                warn!(
                    account = %account,
                    events = events.len(),
                    max_pages = MAX_PAGES,
                    max_events = MAX_EVENTS,
                    "audit log longer than one read; the rest is left to the next full refresh"
                );
                break;
            }
        }
        Ok(AuditLog::Events(events.into_iter().collect()))
    }
}

/// `t` as the Hub's `from` parameter: RFC 3339 in UTC with microseconds, cut (never rounded)
/// so that the Hub is asked for a little more rather than less. A time before 1970 (older
/// than any Hub event), or one without a UTC date the `time` crate can hold, is sent as 1970:
/// more is asked, never less, and the year keeps its four digits.
pub(super) fn rfc3339_micros(t: OffsetDateTime) -> String {
    let utc = t
        .checked_to_offset(UtcOffset::UTC)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
        .max(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.microsecond()
    )
}

/// One page of an audit log, decoded.
#[derive(Debug)]
pub(super) struct Page {
    /// Entries on the page, skipped and dropped ones included: what the end rule counts.
    pub(super) entries: usize,
    /// The events kept, in the page's order.
    pub(super) events: Vec<AuditEvent>,
    /// Entries of a watched action that could not be read.
    pub(super) skipped: Vec<Skipped>,
}

/// An entry of a watched action left out, and why.
#[derive(Debug)]
pub(super) struct Skipped {
    /// Why it was left out.
    pub(super) reason: &'static str,
    /// The value that could not be read, as the Hub sent it (to be quoted before it is shown).
    pub(super) value: String,
}

/// Decodes one page of `account`'s audit log, keeping the events of [`WATCHED_ACTIONS`] at
/// or after `from`; a body that is not an object with a `logs` array, or that is an error
/// envelope, is refused.
pub(super) fn decode_page(
    body: &[u8],
    account: &str,
    from: OffsetDateTime,
) -> std::result::Result<Page, String> {
    let raw: RawPage = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if raw.detail.is_some() || raw.errors.is_some() || raw.message.is_some() {
        return Err("an error envelope, not an audit-log page".into());
    }
    let mut page = Page {
        entries: raw.logs.len(),
        events: Vec::new(),
        skipped: Vec::new(),
    };
    for entry in raw.logs.into_iter().flat_map(|e| e.0) {
        match entry.into_event(account) {
            Ok(Some(event)) if event.timestamp >= from => page.events.push(event),
            Ok(_) => {}
            Err(skipped) => page.skipped.push(skipped),
        }
    }
    Ok(page)
}

/// A page as it comes over the wire: the `logs` array is required, the rest ignored.
#[derive(Deserialize)]
struct RawPage {
    logs: Vec<Entry>,
    /// The Hub's error envelopes carry these; a page never does.
    #[serde(default)]
    detail: Option<IgnoredAny>,
    #[serde(default)]
    errors: Option<IgnoredAny>,
    #[serde(default)]
    message: Option<IgnoredAny>,
}

/// An entry of `logs`: its fields when it is an object, `None` for any other value.
struct Entry(Option<RawEntry>);

/// The fields of an entry the exporter reads, each a string or nothing.
#[derive(Default)]
struct RawEntry {
    account: Option<String>,
    action: Option<String>,
    name: Option<String>,
    actor: Option<String>,
    timestamp: Option<String>,
    data: Data,
}

/// The fields of `data` the exporter reads.
#[derive(Default)]
struct Data {
    tag: Option<String>,
    digest: Option<String>,
}

impl RawEntry {
    /// The event, `None` for an action not watched, or why the entry cannot be read.
    fn into_event(self, account: &str) -> std::result::Result<Option<AuditEvent>, Skipped> {
        let Some(action) = self
            .action
            .filter(|a| WATCHED_ACTIONS.contains(&a.as_str()))
        else {
            return Ok(None);
        };
        let timestamp = self
            .timestamp
            .as_deref()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .and_then(|t| t.checked_to_offset(UtcOffset::UTC))
            .ok_or_else(|| Skipped {
                reason: "no RFC 3339 timestamp",
                value: self.timestamp.clone().unwrap_or_default(),
            })?;
        let name = self.name.unwrap_or_default();
        let (namespace, repository) = match name.split_once('/') {
            Some((namespace, repository)) => (namespace.to_string(), repository.to_string()),
            None => (
                self.account.unwrap_or_else(|| account.to_string()),
                name.clone(),
            ),
        };
        if check_name(&namespace).is_err() || check_name(&repository).is_err() {
            return Err(Skipped {
                reason: "the name is not namespace/repository",
                value: name,
            });
        }
        let present = |v: Option<String>| v.filter(|v| !v.is_empty());
        Ok(Some(AuditEvent {
            timestamp,
            action,
            namespace,
            repository,
            tag: present(self.data.tag),
            digest: present(self.data.digest),
            actor: present(self.actor),
        }))
    }
}

/// Skips the rest of a sequence, element by element; `serde_json` skips each without
/// recursion, however deep it is.
fn drain_seq<'de, A: SeqAccess<'de>>(mut seq: A) -> std::result::Result<(), A::Error> {
    while seq.next_element::<IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Skips the rest of a map, entry by entry (see [`drain_seq`]).
fn drain_map<'de, A: MapAccess<'de>>(mut map: A) -> std::result::Result<(), A::Error> {
    while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
    Ok(())
}

/// Writes the visitor methods for the values a visitor reads as "something else": each gives
/// `$other`, arrays and objects skipped unread.
macro_rules! read_other_values_as {
    ($other:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> std::result::Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_i64<E: de::Error>(self, _: i64) -> std::result::Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_u64<E: de::Error>(self, _: u64) -> std::result::Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_f64<E: de::Error>(self, _: f64) -> std::result::Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_unit<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_none<E: de::Error>(self) -> std::result::Result<Self::Value, E> {
            Ok($other)
        }
        fn visit_seq<A: SeqAccess<'de>>(
            self,
            seq: A,
        ) -> std::result::Result<Self::Value, A::Error> {
            drain_seq(seq)?;
            Ok($other)
        }
    };
}

/// A value read as text: a string, or `None` for any other value.
struct Text(Option<String>);

impl<'de> Deserialize<'de> for Text {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> std::result::Result<Text, E> {
                Ok(Text(Some(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> std::result::Result<Text, E> {
                Ok(Text(Some(v)))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> std::result::Result<Text, A::Error> {
                drain_map(map)?;
                Ok(Text(None))
            }
            read_other_values_as!(Text(None));
        }
        d.deserialize_any(TextVisitor)
    }
}

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct DataVisitor;
        impl<'de> Visitor<'de> for DataVisitor {
            type Value = Data;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Data, E> {
                Ok(Data::default())
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Data, A::Error> {
                let mut data = Data::default();
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "tag" => data.tag = map.next_value::<Text>()?.0,
                        "digest" => data.digest = map.next_value::<Text>()?.0,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(data)
            }
            read_other_values_as!(Data::default());
        }
        d.deserialize_any(DataVisitor)
    }
}

impl<'de> Deserialize<'de> for Entry {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        struct EntryVisitor;
        impl<'de> Visitor<'de> for EntryVisitor {
            type Value = Entry;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E: de::Error>(self, _: &str) -> std::result::Result<Entry, E> {
                Ok(Entry(None))
            }
            fn visit_map<A: MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<Entry, A::Error> {
                let mut entry = RawEntry::default();
                while let Some(key) = map.next_key::<String>()? {
                    let text = match key.as_str() {
                        "account" => &mut entry.account,
                        "action" => &mut entry.action,
                        "name" => &mut entry.name,
                        "actor" => &mut entry.actor,
                        "timestamp" => &mut entry.timestamp,
                        "data" => {
                            entry.data = map.next_value()?;
                            continue;
                        }
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    *text = map.next_value::<Text>()?.0;
                }
                Ok(Entry(Some(entry)))
            }
            read_other_values_as!(Entry(None));
        }
        d.deserialize_any(EntryVisitor)
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod properties;
