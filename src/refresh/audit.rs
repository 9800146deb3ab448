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

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tracing::{debug, info, warn};

use super::Shared;
use super::reread::{Actor, Cause, Rereads};
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
    let mut ticker = tokio::time::interval(every);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        for ns in &namespaces {
            if unavailable.contains(ns) {
                continue;
            }
            let cursor = shared
                .audit_cursors
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get(ns)
                .cloned();
            let (from, seen) = match cursor.as_ref().and_then(|c| Some((parse(&c.time)?, c))) {
                Some((from, c)) => (from, c.seen.clone()),
                None => (started, Vec::new()),
            };
            match shared.client.audit_log(ns, from).await {
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
                    ask_for_rereads(ns, &fresh, rereads);
                    let next = advance(from, seen, &fresh);
                    shared
                        .audit_cursors
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(ns.clone(), next);
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

/// Logs each event and asks once for a re-read of each repository they name.
fn ask_for_rereads(namespace: &str, fresh: &[AuditEvent], rereads: &Rereads) {
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
    for ((ns, repository), actors) in by_repository {
        if !rereads.request(ns, repository, Cause::AuditLog, actors) {
            debug!(audit_log = %namespace, hub_namespace = %ns, repository = %repository, "audit log event for a repository not inventoried; ignored");
        }
    }
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
