//! The re-reads waiting for their turn: one entry per repository, each due when
//! `--refresh.repository-min-interval` since that repository's last re-read is up.
//!
//! A request for a repository already waiting is folded into its entry, so the entries are
//! at most the repositories asked for. They are bounded besides, because anyone who has the
//! webhook token can name made-up repositories of an inventoried namespace: past
//! [`Queue::limit`] entries (those being re-read included), a webhook's request is turned
//! away and its repository left to the next refresh. An audit-log event's request is always
//! taken: the Hub's own log is read a page at a time, and its cursor waits for its re-reads.
//! This module only keeps the entries; what a re-read does is `reread`'s.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use super::activity::Key;
use super::audit::PendingCursor;
use super::reread::{Actor, Cause};

/// The fewest entries the queue holds before it turns webhooks away, whatever the inventory's
/// size: a burst of pushes to a small inventory is never cut.
pub(super) const MIN_LIMIT: usize = 1_000;

/// The most re-reads taken at once, the longest-waiting first. A refresh that must list a
/// repository being re-read waits for its batch to be merged, so a batch is kept short; and
/// the reads of a batch wait in memory for the client's few slots.
pub(super) const MAX_BATCH: usize = 100;

/// How far off a re-read is put when its minimum interval is beyond what a clock can count.
const FAR: Duration = Duration::from_secs(365 * 24 * 3600);

/// A re-read waiting for its time.
#[derive(Debug)]
pub(super) struct Due {
    /// When it may start.
    pub(super) at: Instant,
    /// What asked for it first.
    pub(super) cause: Cause,
    /// Who changed what, as the audit-log events that asked for it tell.
    pub(super) actors: Vec<Actor>,
    /// The audit-log cursors waiting for it.
    pub(super) cursors: Vec<Arc<PendingCursor>>,
}

/// What became of an entry offered to the queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Offered {
    /// Waiting, as a new entry or folded into the repository's entry.
    Taken,
    /// The queue is full; nothing was added.
    Full,
}

/// The entries, and when each repository was last re-read.
#[derive(Debug, Default)]
struct Entries {
    due: BTreeMap<Key, Due>,
    /// When each repository's last re-read started, within the minimum interval.
    last_start: HashMap<Key, Instant>,
    /// Entries taken and not yet done.
    running: usize,
}

/// The waiting re-reads; shared by whoever asks and the one worker that takes them.
#[derive(Debug)]
pub(super) struct Queue {
    entries: Mutex<Entries>,
    changed: Notify,
    min_interval: Duration,
    /// Repositories in the inventory last published.
    inventoried: AtomicUsize,
}

impl Queue {
    /// An empty queue whose repositories are re-read at least `min_interval` apart.
    pub(super) fn new(min_interval: Duration) -> Queue {
        Queue {
            entries: Mutex::new(Entries::default()),
            changed: Notify::new(),
            min_interval,
            inventoried: AtomicUsize::new(0),
        }
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The inventory last published holds `repositories` repositories.
    pub(super) fn set_inventoried(&self, repositories: usize) {
        self.inventoried.store(repositories, Ordering::Relaxed);
    }

    /// How many entries the queue holds before it turns webhooks away: [`MIN_LIMIT`], or the
    /// repositories inventoried, whichever is larger, so that a push to every repository
    /// still fits.
    pub(super) fn limit(&self) -> usize {
        MIN_LIMIT.max(self.inventoried.load(Ordering::Relaxed))
    }

    /// Adds a re-read of `key`, or folds it into the one waiting. A new entry is refused when
    /// `bounded` and the queue holds [`Queue::limit`] entries.
    pub(super) fn offer(
        &self,
        key: Key,
        cause: Cause,
        actors: Vec<Actor>,
        cursors: Vec<Arc<PendingCursor>>,
        bounded: bool,
    ) -> Offered {
        let limit = self.limit();
        let mut entries = self.entries();
        if let Some(waiting) = entries.due.get_mut(&key) {
            waiting.actors.extend(actors);
            waiting.cursors.extend(cursors);
            return Offered::Taken;
        }
        if bounded && entries.due.len() + entries.running >= limit {
            return Offered::Full;
        }
        let now = Instant::now();
        let at = entries.last_start.get(&key).map_or(now, |last| {
            last.checked_add(self.min_interval)
                .unwrap_or(now + FAR)
                .max(now)
        });
        entries.due.insert(
            key,
            Due {
                at,
                cause,
                actors,
                cursors,
            },
        );
        drop(entries);
        self.changed.notify_one();
        Offered::Taken
    }

    /// Waits until an entry is due and takes the entries due, at most [`MAX_BATCH`], those due
    /// first first; they count as waiting until [`Queue::done`].
    pub(super) async fn take_due(&self) -> Vec<(Key, Due)> {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let next = {
                let mut entries = self.entries();
                let now = Instant::now();
                let mut ready: Vec<(Instant, &Key)> = entries
                    .due
                    .iter()
                    .filter(|(_, d)| d.at <= now)
                    .map(|(k, d)| (d.at, k))
                    .collect();
                ready.sort();
                let ready: Vec<Key> = ready
                    .into_iter()
                    .take(MAX_BATCH)
                    .map(|(_, k)| k.clone())
                    .collect();
                if !ready.is_empty() {
                    let taken: Vec<(Key, Due)> = ready
                        .into_iter()
                        .filter_map(|key| entries.due.remove(&key).map(|d| (key, d)))
                        .collect();
                    entries.running = taken.len();
                    return taken;
                }
                entries.due.values().map(|d| d.at).min()
            };
            match next {
                Some(at) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// The entries last taken are done; the re-reads of `started` started at `at`.
    pub(super) fn done(&self, started: Vec<Key>, at: Instant) {
        let mut entries = self.entries();
        entries.running = 0;
        for key in started {
            entries.last_start.insert(key, at);
        }
        let min_interval = self.min_interval;
        entries.last_start.retain(|_, t| t.elapsed() < min_interval);
    }

    /// How many entries wait or run.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        let entries = self.entries();
        entries.due.len() + entries.running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        ("acme".into(), name.into())
    }

    fn offer(queue: &Queue, name: &str, cause: Cause) -> Offered {
        queue.offer(
            key(name),
            cause,
            Vec::new(),
            Vec::new(),
            cause == Cause::Webhook,
        )
    }

    #[test]
    fn webhooks_are_turned_away_past_the_limit_and_audit_log_events_never() {
        let queue = Queue::new(Duration::from_secs(30));
        assert_eq!(queue.limit(), MIN_LIMIT);
        for n in 0..MIN_LIMIT {
            assert_eq!(
                offer(&queue, &format!("r{n}"), Cause::Webhook),
                Offered::Taken
            );
        }
        assert_eq!(offer(&queue, "one-more", Cause::Webhook), Offered::Full);
        // Asking again for one that waits costs nothing and is taken.
        assert_eq!(offer(&queue, "r7", Cause::Webhook), Offered::Taken);
        assert_eq!(offer(&queue, "audited", Cause::AuditLog), Offered::Taken);
        assert_eq!(queue.len(), MIN_LIMIT + 1);
        // A larger inventory raises the limit to its size.
        queue.set_inventoried(MIN_LIMIT + 5);
        assert_eq!(offer(&queue, "one-more", Cause::Webhook), Offered::Taken);
        assert_eq!(queue.len(), MIN_LIMIT + 2);
    }

    #[tokio::test(start_paused = true)]
    async fn what_is_taken_counts_until_done_and_waits_out_its_minimum_interval() {
        let queue = Queue::new(Duration::from_secs(30));
        for n in 0..MIN_LIMIT {
            offer(&queue, &format!("r{n}"), Cause::Webhook);
        }
        let taken = queue.take_due().await;
        assert_eq!(taken.len(), MAX_BATCH, "a batch at a time");
        assert_eq!(taken[0].0, key("r0"), "the longest-waiting first");
        assert_eq!(
            offer(&queue, "new", Cause::Webhook),
            Offered::Full,
            "what is taken counts"
        );
        let started = Instant::now();
        queue.done(taken.into_iter().map(|(k, _)| k).collect(), started);
        assert_eq!(offer(&queue, "new", Cause::Webhook), Offered::Taken);
        while queue.len() > 0 {
            let batch = queue.take_due().await;
            queue.done(batch.into_iter().map(|(k, _)| k).collect(), started);
        }
        assert_eq!(Instant::now(), started, "nothing waited");
        // Asked again: not before its minimum interval since its last re-read.
        assert_eq!(offer(&queue, "r1", Cause::Webhook), Offered::Taken);
        let again = queue.take_due().await;
        assert_eq!(again.len(), 1);
        assert_eq!(Instant::now() - started, Duration::from_secs(30));
    }
}
