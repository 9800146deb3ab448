//! The recent changes: the last [`HISTORY_LEN`] changes counted, newest first, each with the
//! time it was seen, for people (the landing page, `/api/v1/changes`) rather than Prometheus.
//!
//! The refresh and the re-reads record what they count here, under the same lock as the
//! counters; the state file keeps the list, so a restart keeps the history. An entry is flat
//! (kind, subject, old and new digest) because that is how people and scripts read it, and
//! how it is stored.

use std::collections::VecDeque;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use super::Change;

/// How many changes the history keeps.
pub(crate) const HISTORY_LEN: usize = 200;

/// The newest [`HISTORY_LEN`] entries as stored, newest first, those that cannot be read (a
/// kind a later version added) left out, so that the state file's inventory is never lost
/// over its history.
///
/// Read as a stream, keeping no more than twice what is kept in the end: a file listing a
/// million changes (edited by hand, or written by another program) is read in the memory of
/// a few hundred, not of a million. The result is that of sorting every readable entry by
/// time, newest first, stably, and keeping the first [`HISTORY_LEN`].
pub(crate) fn lenient_entries<'de, D>(deserializer: D) -> Result<Vec<Entry>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    deserializer.deserialize_seq(Newest)
}

/// Visits a stored list of entries, keeping the newest (see [`lenient_entries`]).
struct Newest;

impl<'de> serde::de::Visitor<'de> for Newest {
    type Value = Vec<Entry>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a list of changes")
    }

    fn visit_seq<A>(self, mut seq: A) -> Result<Vec<Entry>, A::Error>
    where
        A: serde::de::SeqAccess<'de>,
    {
        // Each entry with its place in the file, which breaks ties of time as a stable sort
        // of the whole list would.
        let mut kept: Vec<(usize, Entry)> = Vec::with_capacity(2 * HISTORY_LEN);
        let newest_first = |kept: &mut Vec<(usize, Entry)>| {
            kept.sort_by(|(i, a), (j, b)| b.time.total_cmp(&a.time).then(i.cmp(j)));
            kept.truncate(HISTORY_LEN);
        };
        let mut place = 0;
        while let Some(value) = seq.next_element::<serde_json::Value>()? {
            if let Ok(entry) = serde_json::from_value(value) {
                kept.push((place, entry));
                if kept.len() == 2 * HISTORY_LEN {
                    newest_first(&mut kept);
                }
            }
            place += 1;
        }
        newest_first(&mut kept);
        Ok(kept.into_iter().map(|(_, entry)| entry).collect())
    }
}

/// What kind of change an entry is; serialized as the API and the state file name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// A tag appeared.
    TagAdded,
    /// A tag is gone.
    TagRemoved,
    /// A tag points at another digest.
    TagDigestChanged,
    /// A repository appeared.
    RepositoryAdded,
    /// A repository is gone.
    RepositoryRemoved,
}

impl Kind {
    /// The name the API gives the kind.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::TagAdded => "tag_added",
            Kind::TagRemoved => "tag_removed",
            Kind::TagDigestChanged => "tag_digest_changed",
            Kind::RepositoryAdded => "repository_added",
            Kind::RepositoryRemoved => "repository_removed",
        }
    }
}

/// One change as it was seen.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// When it was counted, as Unix seconds.
    pub(crate) time: f64,
    /// What happened.
    pub(crate) kind: Kind,
    /// Namespace name.
    pub(crate) namespace: String,
    /// Repository name within the namespace.
    pub(crate) repository: String,
    /// The tag, for a change of a tag.
    pub(crate) tag: Option<String>,
    /// The digest before: of a tag removed or moved.
    pub(crate) old_digest: Option<String>,
    /// The digest after: of a tag added or moved.
    pub(crate) new_digest: Option<String>,
}

impl Entry {
    /// `change`, seen at `time` (Unix seconds). An empty digest (the Hub had none) is none.
    pub(crate) fn new(change: &Change, time: f64) -> Entry {
        let known = |d: &str| (!d.is_empty()).then(|| d.to_string());
        let (kind, tag, old_digest, new_digest) = match change {
            Change::TagAdded { tag, digest, .. } => {
                (Kind::TagAdded, Some(tag.clone()), None, known(digest))
            }
            Change::TagRemoved { tag, digest, .. } => {
                (Kind::TagRemoved, Some(tag.clone()), known(digest), None)
            }
            Change::TagDigestChanged {
                tag,
                old_digest,
                new_digest,
                ..
            } => (
                Kind::TagDigestChanged,
                Some(tag.clone()),
                known(old_digest),
                known(new_digest),
            ),
            Change::RepositoryAdded { .. } => (Kind::RepositoryAdded, None, None, None),
            Change::RepositoryRemoved { .. } => (Kind::RepositoryRemoved, None, None, None),
        };
        let (namespace, repository, _) = change.subject();
        Entry {
            time,
            kind,
            namespace: namespace.to_string(),
            repository: repository.to_string(),
            tag,
            old_digest,
            new_digest,
        }
    }
}

/// Unix seconds as whole milliseconds, the precision of the history's times.
fn millis(unix_seconds: f64) -> i64 {
    // Saturates; the history's times are decades from either end.
    (unix_seconds * 1000.0).round() as i64
}

/// The last [`HISTORY_LEN`] changes, newest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct History {
    entries: VecDeque<Entry>,
}

impl History {
    /// A history of `entries` as stored, newest first; beyond [`HISTORY_LEN`] the oldest are
    /// dropped, and entries out of order (a file edited by hand) are put in order.
    pub(crate) fn from_stored(mut entries: Vec<Entry>) -> History {
        // Stable: entries of one time keep their stored order.
        entries.sort_by(|a, b| b.time.total_cmp(&a.time));
        entries.truncate(HISTORY_LEN);
        History {
            entries: entries.into(),
        }
    }

    /// Records `changes`, all seen at `at`. They go before every older entry, in the order
    /// given (the diff's: by namespace, repository and tag), and push the oldest out.
    pub(crate) fn record(&mut self, changes: &[Change], at: SystemTime) {
        // To the millisecond, as the API shows it, so that a time read back from the API
        // names exactly the entries it was shown with.
        let time = millis(crate::publication::unix_seconds(at)) as f64 / 1000.0;
        // Never before the newest entry, even when the clock was set back (or the state file
        // came from a host whose clock was ahead): `since` relies on the order.
        let time = self
            .entries
            .front()
            .map_or(time, |newest| time.max(newest.time));
        // Of a batch longer than the history only its first entries fit.
        for change in changes.iter().take(HISTORY_LEN).rev() {
            self.entries.push_front(Entry::new(change, time));
        }
        self.entries.truncate(HISTORY_LEN);
    }

    /// Every entry, newest first.
    pub(crate) fn entries(&self) -> impl ExactSizeIterator<Item = &Entry> + Clone {
        self.entries.iter()
    }

    /// The entries seen after `since` (all when `None`), newest first, at most `limit`.
    pub(crate) fn select(
        &self,
        since: Option<SystemTime>,
        limit: usize,
    ) -> impl Iterator<Item = &Entry> {
        // Cut to the millisecond: an entry in the same millisecond as `since` but after it
        // is no later than `since` at the precision times are kept.
        let since = since.map(|t| (crate::publication::unix_seconds(t) * 1000.0).floor() as i64);
        self.entries
            .iter()
            .take_while(move |e| since.is_none_or(|s| millis(e.time) > s))
            .take(limit)
    }

    /// How many entries there are.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn added(tag: &str) -> Change {
        Change::TagAdded {
            namespace: "acme".into(),
            repository: "api".into(),
            tag: tag.into(),
            digest: format!("sha256:{tag}"),
        }
    }

    fn at(secs: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs)
    }

    fn tags<'a>(entries: impl Iterator<Item = &'a Entry>) -> Vec<String> {
        entries.map(|e| e.tag.clone().unwrap_or_default()).collect()
    }

    #[test]
    fn newest_batch_first_each_batch_in_diff_order() {
        let mut history = History::default();
        history.record(&[added("a"), added("b")], at(10));
        history.record(&[added("c"), added("d")], at(20));
        assert_eq!(tags(history.entries()), ["c", "d", "a", "b"]);
        assert_eq!(history.entries().next().unwrap().time, 20.0);
    }

    #[test]
    fn keeps_only_the_last_entries() {
        let mut history = History::default();
        let many: Vec<Change> = (0..HISTORY_LEN + 50)
            .map(|i| added(&format!("t{i:03}")))
            .collect();
        history.record(&many[..30], at(1));
        history.record(&many[30..], at(2));
        assert_eq!(history.len(), HISTORY_LEN);
        // The second batch is longer than the history: its first entries fill it.
        let kept = tags(history.entries());
        assert_eq!(kept.first().map(String::as_str), Some("t030"));
        assert_eq!(kept.last().map(String::as_str), Some("t229"));
        assert!(!kept.contains(&"t000".to_string()));
    }

    #[test]
    fn since_is_exclusive_and_limit_counts_from_the_newest() {
        let mut history = History::default();
        history.record(&[added("a")], at(10));
        history.record(&[added("b"), added("c")], at(20));
        history.record(&[added("d")], at(30));
        assert_eq!(tags(history.select(Some(at(20)), 10)), ["d"]);
        assert_eq!(tags(history.select(Some(at(19)), 10)), ["d", "b", "c"]);
        assert_eq!(tags(history.select(None, 2)), ["d", "b"]);
        assert_eq!(tags(history.select(None, 0)), Vec::<String>::new());
        assert_eq!(tags(history.select(Some(at(30)), 10)), Vec::<String>::new());
    }

    #[test]
    fn a_clock_set_back_does_not_put_new_entries_behind_old_ones() {
        let mut history = History::default();
        history.record(&[added("a")], at(100));
        history.record(&[added("b")], at(50));
        let times: Vec<f64> = history.entries().map(|e| e.time).collect();
        assert_eq!(times, [100.0, 100.0]);
        assert_eq!(tags(history.entries()), ["b", "a"]);
    }

    #[test]
    fn stored_entries_of_an_unknown_kind_are_left_out() {
        let good = serde_json::to_value(Entry::new(&added("a"), 1.0)).unwrap();
        let mut unknown = good.clone();
        unknown["kind"] = "tag_signed".into();
        let stored = serde_json::json!([unknown, good, {"time": "x"}]);
        let read = lenient_entries(stored).unwrap();
        assert_eq!(tags(read.iter()), ["a"]);
    }

    #[test]
    fn times_are_kept_to_the_millisecond_and_since_compares_them_so() {
        let mut history = History::default();
        let t = UNIX_EPOCH + Duration::from_nanos(1_796_223_845_123_456_789);
        history.record(&[added("a")], t);
        let kept = history.entries().next().unwrap().time;
        assert_eq!(kept, 1_796_223_845.123);
        // The time as the API shows it, read back, excludes the entry; a millisecond
        // earlier includes it.
        let shown = UNIX_EPOCH + Duration::from_millis(1_796_223_845_123);
        assert_eq!(history.select(Some(shown), 10).count(), 0);
        let before = UNIX_EPOCH + Duration::from_millis(1_796_223_845_122);
        assert_eq!(history.select(Some(before), 10).count(), 1);
        // Within the millisecond before it, at a finer precision, too.
        let just_before = UNIX_EPOCH + Duration::from_micros(1_796_223_845_122_600);
        assert_eq!(history.select(Some(just_before), 10).count(), 1);
    }

    #[test]
    fn entries_name_the_digests_that_apply() {
        let moved = Change::TagDigestChanged {
            namespace: "acme".into(),
            repository: "api".into(),
            tag: "latest".into(),
            old_digest: "sha256:old".into(),
            new_digest: "sha256:new".into(),
        };
        let removed = Change::TagRemoved {
            namespace: "acme".into(),
            repository: "api".into(),
            tag: "1.0".into(),
            digest: String::new(),
        };
        let gone = Change::RepositoryRemoved {
            namespace: "acme".into(),
            repository: "api".into(),
        };
        let e = Entry::new(&moved, 5.0);
        assert_eq!(e.kind, Kind::TagDigestChanged);
        assert_eq!(
            (e.old_digest.as_deref(), e.new_digest.as_deref()),
            (Some("sha256:old"), Some("sha256:new"))
        );
        let e = Entry::new(&removed, 5.0);
        assert_eq!(
            (e.kind, e.old_digest, e.new_digest),
            (Kind::TagRemoved, None, None)
        );
        let e = Entry::new(&gone, 5.0);
        assert_eq!((e.kind, e.tag), (Kind::RepositoryRemoved, None));
        assert_eq!(
            serde_json::to_value(Kind::TagDigestChanged).unwrap(),
            "tag_digest_changed"
        );
    }

    #[test]
    fn stored_entries_come_back_in_order_and_bounded() {
        let mut entries: Vec<Entry> = (0..HISTORY_LEN as u64 + 5)
            .map(|i| Entry::new(&added(&format!("t{i}")), i as f64))
            .collect();
        entries.swap(0, 7);
        let history = History::from_stored(entries);
        assert_eq!(history.len(), HISTORY_LEN);
        let times: Vec<f64> = history.entries().map(|e| e.time).collect();
        assert!(times.windows(2).all(|w| w[0] >= w[1]));
        assert_eq!(times[0], (HISTORY_LEN + 4) as f64);
    }

    proptest::proptest! {
        #![proptest_config(crate::testing::cases(64))]

        #[test]
        fn reading_a_long_list_keeps_what_sorting_all_of_it_would(
            stored in proptest::collection::vec((0u8..40, proptest::bool::weighted(0.9)), 0..1200),
        ) {
            // Few distinct times, so that ties are many; some entries unreadable.
            let values: Vec<serde_json::Value> = stored
                .iter()
                .enumerate()
                .map(|(i, (time, readable))| {
                    let mut v = serde_json::to_value(Entry::new(&added(&format!("t{i}")), f64::from(*time))).unwrap();
                    if !readable {
                        v["kind"] = "tag_signed".into();
                    }
                    v
                })
                .collect();
            let mut all: Vec<Entry> = values
                .iter()
                .filter_map(|v| serde_json::from_value(v.clone()).ok())
                .collect();
            all.sort_by(|a, b| b.time.total_cmp(&a.time));
            all.truncate(HISTORY_LEN);
            let read = lenient_entries(serde_json::Value::Array(values)).unwrap();
            proptest::prop_assert_eq!(read, all);
        }
    }
}
