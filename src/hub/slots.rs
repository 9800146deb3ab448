//! Slots taken in order of priority: a counting semaphore whose waiters of [`Priority::Urgent`]
//! are served before the waiters of [`Priority::Background`] queued earlier, each kind first
//! come, first served; only one slot in [`BACKGROUND_SHARE`] given back while both kinds wait
//! goes to background work, so that it is slowed down but never stopped by urgent work that
//! never ends (a refresh longer than its interval, audit logs read every few seconds). The
//! pacer's request slots and the client's listing permits are such slots, so that a refresh's
//! requests pass the re-reads queued before them.
//!
//! It knows nothing of requests; what is urgent is the caller's to say (see `pace`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

/// Whose request: a refresh's (and the rest of the exporter's), or background work that
/// waits for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Priority {
    /// Served first.
    Urgent,
    /// Served when no urgent request waits.
    Background,
}

/// While both kinds wait, one slot in this many given back goes to background work.
pub(super) const BACKGROUND_SHARE: usize = 10;

/// The free slots and who waits for one.
#[derive(Debug, Default)]
struct State {
    free: usize,
    urgent: VecDeque<oneshot::Sender<()>>,
    background: VecDeque<oneshot::Sender<()>>,
    /// Slots handed to urgent waiters while background ones waited, since one was handed to
    /// background work.
    passed_over: usize,
}

impl State {
    /// The next waiter to hand a slot to: urgent first, but background work in its turn.
    fn next(&mut self) -> Option<oneshot::Sender<()>> {
        let background_turn = self.passed_over + 1 >= BACKGROUND_SHARE;
        if self.background.is_empty() || (!self.urgent.is_empty() && !background_turn) {
            if !self.background.is_empty() {
                self.passed_over += 1;
            }
            return self.urgent.pop_front();
        }
        self.passed_over = 0;
        self.background.pop_front()
    }

    /// Hands a slot to the next waiter that is still there (see [`State::next`]), or frees
    /// it.
    fn release(&mut self) {
        loop {
            let Some(next) = self.next() else {
                self.free += 1;
                return;
            };
            // A waiter that gave up has dropped its receiver: try the next.
            if next.send(()).is_ok() {
                return;
            }
        }
    }
}

/// A fixed number of slots.
#[derive(Debug)]
pub(super) struct Slots {
    state: Arc<Mutex<State>>,
}

/// One slot, given back when dropped.
#[derive(Debug)]
pub(super) struct Slot {
    state: Arc<Mutex<State>>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        lock(&self.state).release();
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// A waiter's place in line; a slot handed to it after it gave up is passed on.
struct Waiting {
    receiver: oneshot::Receiver<()>,
    state: Arc<Mutex<State>>,
    served: bool,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        if !self.served {
            self.receiver.close();
            if self.receiver.try_recv().is_ok() {
                lock(&self.state).release();
            }
        }
    }
}

impl Slots {
    /// `n` slots (at least one).
    pub(super) fn new(n: usize) -> Slots {
        Slots {
            state: Arc::new(Mutex::new(State {
                free: n.max(1),
                ..State::default()
            })),
        }
    }

    /// Waits for a slot: at once if one is free and nobody of this priority or higher waits.
    pub(super) async fn acquire(&self, priority: Priority) -> Slot {
        loop {
            let receiver = {
                let mut state = lock(&self.state);
                let ahead = match priority {
                    Priority::Urgent => !state.urgent.is_empty(),
                    Priority::Background => {
                        !state.urgent.is_empty() || !state.background.is_empty()
                    }
                };
                if state.free > 0 && !ahead {
                    state.free -= 1;
                    return self.slot();
                }
                let (sender, receiver) = oneshot::channel();
                match priority {
                    Priority::Urgent => state.urgent.push_back(sender),
                    Priority::Background => state.background.push_back(sender),
                }
                receiver
            };
            let mut waiting = Waiting {
                receiver,
                state: Arc::clone(&self.state),
                served: false,
            };
            // The sender is dropped unsent only if this waiter was skipped as gone, which it
            // is not: then it simply lines up again.
            if (&mut waiting.receiver).await.is_ok() {
                waiting.served = true;
                return self.slot();
            }
        }
    }

    fn slot(&self) -> Slot {
        Slot {
            state: Arc::clone(&self.state),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn an_urgent_waiter_is_served_before_the_background_waiters_queued_earlier() {
        let slots = Arc::new(Slots::new(1));
        let held = slots.acquire(Priority::Background).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiters = Vec::new();
        for (name, priority) in [
            ("background 1", Priority::Background),
            ("background 2", Priority::Background),
            ("urgent", Priority::Urgent),
        ] {
            let (mine, order) = (Arc::clone(&slots), Arc::clone(&order));
            waiters.push(tokio::spawn(async move {
                let _slot = mine.acquire(priority).await;
                order.lock().unwrap().push(name);
            }));
            // Each in line before the next.
            let waiting = || {
                let state = lock(&slots.state);
                state.urgent.len() + state.background.len()
            };
            while waiting() < waiters.len() {
                tokio::task::yield_now().await;
            }
        }
        drop(held);
        for waiter in waiters {
            waiter.await.unwrap();
        }
        assert_eq!(
            *order.lock().unwrap(),
            ["urgent", "background 1", "background 2"]
        );
    }

    #[tokio::test]
    async fn background_work_gets_its_share_however_much_urgent_work_waits() {
        let slots = Arc::new(Slots::new(1));
        let mut held = Some(slots.acquire(Priority::Urgent).await);
        let background = {
            let slots = Arc::clone(&slots);
            tokio::spawn(async move { slots.acquire(Priority::Background).await })
        };
        let mut handed_to_urgent = 0;
        while !background.is_finished() {
            // Urgent work always waiting: one more in line before each slot is given back.
            let next = {
                let slots = Arc::clone(&slots);
                tokio::spawn(async move { slots.acquire(Priority::Urgent).await })
            };
            let both_wait = || {
                let state = lock(&slots.state);
                !state.urgent.is_empty() && !state.background.is_empty()
            };
            while !both_wait() {
                tokio::task::yield_now().await;
                if background.is_finished() {
                    break;
                }
            }
            drop(held.take());
            tokio::task::yield_now().await;
            if background.is_finished() {
                next.abort();
                break;
            }
            held = Some(next.await.unwrap());
            handed_to_urgent += 1;
            assert!(
                handed_to_urgent < BACKGROUND_SHARE,
                "background work starved"
            );
        }
        assert_eq!(handed_to_urgent, BACKGROUND_SHARE - 1);
        drop(background.await.unwrap());
    }

    #[tokio::test(start_paused = true)]
    async fn a_waiter_that_gives_up_loses_no_slot() {
        let slots = Slots::new(1);
        let held = slots.acquire(Priority::Urgent).await;
        let gave_up =
            tokio::time::timeout(Duration::from_secs(1), slots.acquire(Priority::Urgent)).await;
        assert!(gave_up.is_err());
        drop(held);
        let _again = slots.acquire(Priority::Background).await;
        assert_eq!(lock(&slots.state).free, 0);
    }
}
