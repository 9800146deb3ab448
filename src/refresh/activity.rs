//! Who is reading which repository: the rules that keep a refresh and the re-reads of single
//! repositories out of each other's way, and the stamps that say whose read is newer.
//!
//! A refresh marks the repositories it is going to list as *pending*, and each as *reading*
//! once its listing has sent its first request. A re-read of a pending repository is skipped
//! (the refresh's listing starts later and sees whatever the re-read was asked for), and noted,
//! so that the refresh can ask for it again if that listing then fails; a
//! re-read of a repository being read waits until that listing ends; a refresh's listing of a
//! repository being re-read waits until the re-read is merged. Every read takes a stamp from
//! one counter when it starts, so that of two reads of one repository the later-started is
//! known, whichever is merged first.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::sync::Notify;

use super::reread::Cause;

/// A repository: namespace and name.
pub(super) type Key = (String, String);

/// What a refresh is doing with a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RefreshMark {
    /// It will list the repository's tags; no request for them has gone out yet.
    Pending,
    /// Its listing of the repository's tags has started.
    Reading,
}

/// One repository's readers.
#[derive(Debug, Default)]
struct Readers {
    refresh: Option<RefreshMark>,
    reread: bool,
}

/// What a re-read may do now.
pub(super) enum Start<'a> {
    /// Go ahead; the guard ends the re-read when dropped (after its merge).
    Go(RereadGuard<'a>),
    /// The running refresh will list the repository from its first page: nothing to do.
    Skip,
    /// The running refresh is listing the repository: try again once it is done.
    Busy,
}

/// Readers of every repository being read, and the stamp counter.
#[derive(Debug, Default)]
pub(super) struct Activity {
    clock: AtomicU64,
    readers: Mutex<HashMap<Key, Readers>>,
    changed: Notify,
    /// Re-reads skipped because a refresh was to list their repository, with what asked for
    /// them, until the refresh takes them.
    skipped: Mutex<Vec<(Key, Cause)>>,
}

impl Activity {
    /// A new stamp, later than every stamp taken before.
    pub(super) fn stamp(&self) -> u64 {
        self.clock.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn readers(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Readers>> {
        self.readers.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The refresh will list these repositories' tags.
    pub(super) fn refresh_pending<'a>(&self, keys: impl IntoIterator<Item = &'a Key>) {
        let mut readers = self.readers();
        for key in keys {
            readers.entry(key.clone()).or_default().refresh = Some(RefreshMark::Pending);
        }
    }

    /// Waits until no re-read of `key` is running (the refresh's listing of it is about to
    /// start).
    pub(super) async fn refresh_wait(&self, key: &Key) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.readers().get(key).is_some_and(|r| r.reread) {
                return;
            }
            notified.await;
        }
    }

    /// The refresh's listing of `key` sent its first request; its stamp.
    pub(super) fn refresh_reading(&self, key: &Key) -> u64 {
        let stamp = self.stamp();
        self.readers().entry(key.clone()).or_default().refresh = Some(RefreshMark::Reading);
        stamp
    }

    /// The refresh is done with `key` (listed, failed or abandoned).
    pub(super) fn refresh_done(&self, key: &Key) {
        let mut readers = self.readers();
        if let Some(r) = readers.get_mut(key) {
            r.refresh = None;
            if !r.reread {
                readers.remove(key);
            }
        }
        drop(readers);
        self.changed.notify_waiters();
    }

    /// The refresh is over: whatever it left marked is done.
    pub(super) fn refresh_over(&self) {
        let mut readers = self.readers();
        readers.retain(|_, r| {
            r.refresh = None;
            r.reread
        });
        drop(readers);
        self.changed.notify_waiters();
    }

    /// Whether a re-read of `key`, asked for by `cause`, may start now; a [`Start::Go`] marks
    /// it as re-read until its guard is dropped, a [`Start::Skip`] is noted for the refresh
    /// (see [`Activity::take_skipped`]).
    pub(super) fn begin_reread(&self, key: &Key, cause: Cause) -> Start<'_> {
        let mut readers = self.readers();
        let r = readers.entry(key.clone()).or_default();
        match (r.refresh, r.reread) {
            (Some(RefreshMark::Pending), _) => {
                // Noted while the mark still stands, so that the refresh that set it, which
                // takes the notes after clearing its marks, finds this one.
                self.skipped
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push((key.clone(), cause));
                Start::Skip
            }
            (Some(RefreshMark::Reading), _) | (None, true) => Start::Busy,
            (None, false) => {
                r.reread = true;
                drop(readers);
                Start::Go(RereadGuard {
                    activity: self,
                    key: key.clone(),
                    stamp: self.stamp(),
                })
            }
        }
    }

    /// The re-reads skipped for a refresh's listings since the last call.
    pub(super) fn take_skipped(&self) -> Vec<(Key, Cause)> {
        std::mem::take(&mut *self.skipped.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Waits until neither the refresh nor a re-read is reading `key`.
    pub(super) async fn until_idle(&self, key: &Key) {
        loop {
            let notified = self.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self
                .readers()
                .get(key)
                .is_some_and(|r| r.reread || r.refresh == Some(RefreshMark::Reading))
            {
                return;
            }
            notified.await;
        }
    }
}

/// A re-read in progress; dropping it ends the re-read.
pub(super) struct RereadGuard<'a> {
    activity: &'a Activity,
    key: Key,
    /// Taken when the re-read started.
    pub(super) stamp: u64,
}

impl Drop for RereadGuard<'_> {
    fn drop(&mut self) {
        let mut readers = self.activity.readers();
        if let Some(r) = readers.get_mut(&self.key) {
            r.reread = false;
            if r.refresh.is_none() {
                readers.remove(&self.key);
            }
        }
        drop(readers);
        self.activity.changed.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        ("acme".into(), name.into())
    }

    #[test]
    fn a_reread_of_a_repository_the_refresh_has_yet_to_list_is_skipped() {
        let activity = Activity::default();
        activity.refresh_pending([&key("api")]);
        assert!(matches!(
            activity.begin_reread(&key("api"), Cause::AuditLog),
            Start::Skip
        ));
        assert!(matches!(
            activity.begin_reread(&key("web"), Cause::Webhook),
            Start::Go(_)
        ));
        activity.refresh_over();
        // The skipped one is noted, once, for the refresh to ask again if its listing failed.
        assert_eq!(activity.take_skipped(), [(key("api"), Cause::AuditLog)]);
        assert_eq!(activity.take_skipped(), []);
    }

    #[test]
    fn a_reread_waits_while_the_refresh_lists_the_repository_and_then_goes() {
        let activity = Activity::default();
        activity.refresh_pending([&key("api")]);
        let listing = activity.refresh_reading(&key("api"));
        assert!(matches!(
            activity.begin_reread(&key("api"), Cause::Webhook),
            Start::Busy
        ));
        activity.refresh_done(&key("api"));
        match activity.begin_reread(&key("api"), Cause::Webhook) {
            Start::Go(guard) => {
                assert!(guard.stamp > listing, "the later read has the later stamp")
            }
            _ => panic!("the re-read may go once the listing is done"),
        }
    }

    #[test]
    fn one_repository_is_never_reread_twice_at_once() {
        let activity = Activity::default();
        let first = match activity.begin_reread(&key("api"), Cause::Webhook) {
            Start::Go(guard) => guard,
            _ => panic!("nothing else reads it"),
        };
        assert!(matches!(
            activity.begin_reread(&key("api"), Cause::Webhook),
            Start::Busy
        ));
        drop(first);
        assert!(matches!(
            activity.begin_reread(&key("api"), Cause::Webhook),
            Start::Go(_)
        ));
        assert!(activity.readers().is_empty(), "nothing is left behind");
    }

    #[tokio::test]
    async fn the_refresh_waits_for_a_running_reread_of_the_repository() {
        let activity = std::sync::Arc::new(Activity::default());
        let guard_stamp;
        {
            let Start::Go(guard) = activity.begin_reread(&key("api"), Cause::Webhook) else {
                panic!("nothing else reads it");
            };
            guard_stamp = guard.stamp;
            let waiting = {
                let activity = std::sync::Arc::clone(&activity);
                tokio::spawn(async move { activity.refresh_wait(&key("api")).await })
            };
            tokio::task::yield_now().await;
            assert!(!waiting.is_finished(), "the refresh waits for the re-read");
            drop(guard);
            waiting.await.unwrap();
        }
        assert!(activity.refresh_reading(&key("api")) > guard_stamp);
        activity.refresh_over();
        assert!(activity.readers().is_empty());
    }
}
