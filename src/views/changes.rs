//! `/api/v1/changes`: the recent changes as JSON, for scripts and chat bots.
//!
//! `{"changes": [{"time", "kind", "namespace", "repository", "tag", "old_digest",
//! "new_digest"}]}`, newest first; fields that do not apply to a kind are `null`. Times are
//! RFC 3339, UTC, to the millisecond; `since` takes the changes seen strictly after a time,
//! so a script that passes the newest `time` it has seen gets each change once.

use std::time::SystemTime;

use serde::Serialize;

use super::format::rfc3339_millis;
use crate::changes::{Entry, History};

/// What the query asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Query {
    /// Only changes seen after this time.
    pub(crate) since: Option<SystemTime>,
    /// At most this many, the newest; all kept when `None`.
    pub(crate) limit: Option<usize>,
}

#[derive(Serialize)]
struct Document<'a> {
    changes: Vec<Change<'a>>,
}

#[derive(Serialize)]
struct Change<'a> {
    time: String,
    kind: &'static str,
    namespace: &'a str,
    repository: &'a str,
    tag: Option<&'a str>,
    old_digest: Option<&'a str>,
    new_digest: Option<&'a str>,
}

impl<'a> From<&'a Entry> for Change<'a> {
    fn from(e: &'a Entry) -> Self {
        Change {
            time: rfc3339_millis(e.time).unwrap_or_default(),
            kind: e.kind.as_str(),
            namespace: &e.namespace,
            repository: &e.repository,
            tag: e.tag.as_deref(),
            old_digest: e.old_digest.as_deref(),
            new_digest: e.new_digest.as_deref(),
        }
    }
}

/// The document for `query`.
pub(crate) fn json(history: &History, query: Query) -> Vec<u8> {
    let document = Document {
        changes: history
            .select(query.since, query.limit.unwrap_or(usize::MAX))
            .map(Change::from)
            .collect(),
    };
    let mut body = serde_json::to_vec(&document).unwrap_or_else(|_| b"{\"changes\":[]}".to_vec());
    body.push(b'\n');
    body
}

/// The body of an answer to a query that could not be read: `{"error": "..."}`.
pub(crate) fn error(message: &str) -> Vec<u8> {
    let mut body = serde_json::to_vec(&serde_json::json!({ "error": message }))
        .unwrap_or_else(|_| b"{\"error\":\"bad request\"}".to_vec());
    body.push(b'\n');
    body
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;
    use crate::changes::Change as Counted;

    fn history() -> History {
        let mut history = History::default();
        history.record(
            &[
                Counted::TagDigestChanged {
                    namespace: "acme".into(),
                    repository: "api".into(),
                    tag: "latest".into(),
                    old_digest: "sha256:1".into(),
                    new_digest: "sha256:2".into(),
                },
                Counted::RepositoryAdded {
                    namespace: "acme".into(),
                    repository: "web".into(),
                },
            ],
            UNIX_EPOCH + Duration::from_millis(1_800_000_000_250),
        );
        history
    }

    #[test]
    fn every_field_present_and_null_where_it_does_not_apply() {
        let body = json(&history(), Query::default());
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"changes": [
                {"time": "2027-01-15T08:00:00.250Z", "kind": "tag_digest_changed",
                 "namespace": "acme", "repository": "api", "tag": "latest",
                 "old_digest": "sha256:1", "new_digest": "sha256:2"},
                {"time": "2027-01-15T08:00:00.250Z", "kind": "repository_added",
                 "namespace": "acme", "repository": "web", "tag": null,
                 "old_digest": null, "new_digest": null},
            ]})
        );
    }

    #[test]
    fn limit_and_since_select() {
        let limited = json(
            &history(),
            Query {
                limit: Some(1),
                ..Query::default()
            },
        );
        let v: serde_json::Value = serde_json::from_slice(&limited).unwrap();
        assert_eq!(v["changes"].as_array().unwrap().len(), 1);
        assert_eq!(v["changes"][0]["kind"], "tag_digest_changed");
        let after = json(
            &history(),
            Query {
                since: Some(UNIX_EPOCH + Duration::from_millis(1_800_000_000_250)),
                ..Query::default()
            },
        );
        assert_eq!(after, b"{\"changes\":[]}\n");
    }

    #[test]
    fn errors_are_json() {
        let v: serde_json::Value = serde_json::from_slice(&error("limit: \"x\"")).unwrap();
        assert_eq!(v["error"], "limit: \"x\"");
    }
}
