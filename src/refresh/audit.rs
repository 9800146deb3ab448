//! Reading the audit logs (`--hub.audit-log.interval`): every interval, the events of each
//! configured namespace since the last one seen, each tag or repository event asking for a
//! re-read of the repository it names, with the actor kept for the log.
//!
//! How far each log was read is a cursor: the time of the newest event seen and the events
//! seen at exactly that time. The next read starts at that time and skips those events, so
//! that none is taken twice and none is lost whether the Hub's `from` includes its time or
//! not. Cursors are saved with the state file; without one, reading starts when the exporter
//! starts (what happened before is the first refresh's to find). A namespace whose plan has
//! no audit log (403 or 404) is logged once and not read again until a restart.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{debug, info, warn};

use super::Shared;
use super::reread::{Actor, Asked, Cause, Rereads};
use crate::hub::{AuditEvent, AuditLog};
use crate::state::AuditCursor;

/// Reads every configured namespace's audit log every `every`, forever.
pub(super) async fn poll(shared: &Arc<Shared>, rereads: &Rereads, every: Duration) {
    let started = OffsetDateTime::now_utc();
    let mut namespaces: Vec<String> = shared.options.namespaces.clone();
    for (ns, _) in &shared.options.repositories {
        if !namespaces.contains(ns) {
            namespaces.push(ns.clone());
        }
    }
    let mut unavailable: HashSet<String> = HashSet::new();
    // How far each log has been read; the shared cursors (those the state file keeps) follow
    // once the re-reads the events asked for are done.
    let mut reading: HashMap<String, AuditCursor> = shared
        .audit_cursors
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .into_iter()
        .collect();
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        for ns in &namespaces {
            if unavailable.contains(ns) {
                continue;
            }
            let cursor = reading.get(ns);
            let (from, seen) = match cursor.and_then(|c| Some((parse(&c.time)?, c))) {
                Some((from, c)) => (from, c.seen.clone()),
                None => (started, Vec::new()),
            };
            // Background work, as the re-reads it asks for: the refresh goes first.
            match crate::hub::in_background(shared.client.audit_log(ns, from)).await {
                Ok(AuditLog::Unavailable { status }) => {
                    info!(
                        hub_namespace = %ns,
                        status,
                        "the namespace has no audit log to read (Docker Team and Business plans have one, and the token must be allowed to read it); it is not read again until a restart"
                    );
                    unavailable.insert(ns.clone());
                }
                Ok(AuditLog::Events(events)) => {
                    let fresh = take_new(events, from, &seen);
                    if fresh.is_empty() {
                        continue;
                    }
                    let next = advance(from, seen, &fresh);
                    reading.insert(ns.clone(), next.clone());
                    ask_for_rereads(ns, &fresh, rereads, next, &shared.audit_cursors);
                }
                Err(e) => {
                    warn!(hub_namespace = %ns, error = %e, "reading the audit log failed; it is read again at the next interval");
                }
            }
        }
    }
}

/// A time as the state file keeps it.
fn parse(time: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(time, &Rfc3339).ok()
}

/// What tells one event from another at the same time.
fn key(event: &AuditEvent) -> String {
    format!(
        "{} {}/{} {} {} {}",
        event.action,
        event.namespace,
        event.repository,
        event.tag.as_deref().unwrap_or(""),
        event.digest.as_deref().unwrap_or(""),
        event.actor.as_deref().unwrap_or(""),
    )
}

/// The events not seen before, oldest first: those after `from`, and those at `from` that are
/// not in `seen`.
fn take_new(mut events: Vec<AuditEvent>, from: OffsetDateTime, seen: &[String]) -> Vec<AuditEvent> {
    events.retain(|e| e.timestamp > from || (e.timestamp == from && !seen.contains(&key(e))));
    events.sort_by_key(|e| e.timestamp);
    events
}

/// The cursor after taking `fresh` (not empty, oldest first) from a read that started at
/// `from` with `seen` already taken.
fn advance(from: OffsetDateTime, mut seen: Vec<String>, fresh: &[AuditEvent]) -> AuditCursor {
    let newest = fresh.last().map_or(from, |e| e.timestamp);
    if newest > from {
        seen.clear();
    }
    for event in fresh.iter().filter(|e| e.timestamp == newest) {
        let k = key(event);
        if !seen.contains(&k) {
            seen.push(k);
        }
    }
    AuditCursor {
        time: newest.format(&Rfc3339).unwrap_or_default(),
        seen,
    }
}

/// How far a namespace's audit log has been read, waiting for the re-reads its events asked
/// for: once the last of them is done (merged, failed or found not needed), it becomes the
/// cursor the state file keeps. A re-read lost at shutdown leaves the older cursor, so that a
/// restart takes those events again rather than missing them.
#[derive(Debug)]
pub(super) struct PendingCursor {
    namespace: String,
    cursor: AuditCursor,
    left: AtomicUsize,
}

impl PendingCursor {
    /// One of the re-reads is done; the last one moves the cursor in `cursors` forward.
    pub(super) fn done(&self, cursors: &Mutex<BTreeMap<String, AuditCursor>>) {
        if self.left.fetch_sub(1, Ordering::AcqRel) == 1 {
            commit(
                &mut cursors.lock().unwrap_or_else(|e| e.into_inner()),
                &self.namespace,
                &self.cursor,
            );
        }
    }
}

/// Moves the cursor of `namespace` to `cursor`, unless it is already further.
fn commit(cursors: &mut BTreeMap<String, AuditCursor>, namespace: &str, cursor: &AuditCursor) {
    let further = cursors
        .get(namespace)
        .and_then(|c| Some((parse(&c.time)?, parse(&cursor.time)?)))
        .is_some_and(|(now, new)| now > new);
    if !further {
        cursors.insert(namespace.to_string(), cursor.clone());
    }
}

/// Logs each event and asks once for a re-read of each repository they name; the cursor
/// after these events is committed once those re-reads are done (at once if none is needed).
fn ask_for_rereads(
    namespace: &str,
    fresh: &[AuditEvent],
    rereads: &Rereads,
    next: AuditCursor,
    cursors: &Mutex<BTreeMap<String, AuditCursor>>,
) {
    let mut by_repository: BTreeMap<(&str, &str), Vec<Actor>> = BTreeMap::new();
    for event in fresh {
        info!(
            hub_namespace = %event.namespace,
            repository = %event.repository,
            action = %event.action,
            tag = event.tag.as_deref().map(tracing::field::display),
            actor = event.actor.as_deref().map(tracing::field::display),
            time = %event.timestamp.format(&Rfc3339).unwrap_or_default(),
            "audit log event"
        );
        let actors = by_repository
            .entry((&event.namespace, &event.repository))
            .or_default();
        if let Some(name) = &event.actor {
            actors.push(Actor {
                tag: event.tag.clone(),
                name: name.clone(),
            });
        }
    }
    let pending = Arc::new(PendingCursor {
        namespace: namespace.to_string(),
        cursor: next,
        // One for this function, released below, so that the cursor waits for every request.
        left: AtomicUsize::new(1),
    });
    for ((ns, repository), actors) in by_repository {
        pending.left.fetch_add(1, Ordering::AcqRel);
        let asked = rereads.request_then(
            ns,
            repository,
            Cause::AuditLog,
            actors,
            Some(Arc::clone(&pending)),
        );
        if asked != Asked::Queued {
            debug!(audit_log = %namespace, hub_namespace = %ns, repository = %repository, "audit log event for a repository not inventoried; ignored");
            pending.done(cursors);
        }
    }
    pending.done(cursors);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(at: &str, action: &str, tag: &str) -> AuditEvent {
        AuditEvent {
            action: action.into(),
            namespace: "acme".into(),
            repository: "api".into(),
            tag: Some(tag.into()),
            digest: None,
            actor: Some("jane".into()),
            timestamp: parse(at).unwrap(),
        }
    }

    #[test]
    fn events_at_the_cursor_are_taken_once_and_later_ones_always() {
        let from = parse("2026-12-02T13:00:00Z").unwrap();
        let first = take_new(
            vec![
                event("2026-12-02T13:00:01Z", "repo.tag.push", "b"),
                event("2026-12-02T13:00:00Z", "repo.tag.push", "a"),
            ],
            from,
            &[],
        );
        let tags: Vec<_> = first.iter().map(|e| e.tag.clone().unwrap()).collect();
        assert_eq!(tags, ["a", "b"], "oldest first, the one at `from` included");
        let cursor = advance(from, Vec::new(), &first);
        assert_eq!(cursor.time, "2026-12-02T13:00:01Z");
        assert_eq!(cursor.seen.len(), 1);

        // The next read starts at the cursor: what was seen there is skipped, a second event
        // of the same second is not.
        let from = parse(&cursor.time).unwrap();
        let second = take_new(
            vec![
                event("2026-12-02T13:00:01Z", "repo.tag.push", "b"),
                event("2026-12-02T13:00:01Z", "repo.tag.delete", "c"),
                event("2026-12-02T12:59:00Z", "repo.tag.push", "old"),
            ],
            from,
            &cursor.seen,
        );
        let tags: Vec<_> = second.iter().map(|e| e.tag.clone().unwrap()).collect();
        assert_eq!(tags, ["c"]);
        let cursor = advance(from, cursor.seen, &second);
        assert_eq!(cursor.time, "2026-12-02T13:00:01Z");
        assert_eq!(
            cursor.seen.len(),
            2,
            "both events of that time are remembered"
        );
    }
}
