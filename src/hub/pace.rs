//! Pacing of every request to the Hub: the configured quota (a `governor` rate limiter with
//! a burst), the concurrency limit, and pauses the Hub asks for with a 429 or an exhausted
//! `X-RateLimit-Remaining`.
//!
//! One [`Pacer`] is shared by all requests, logins included, so the exporter as a whole never
//! goes above the quota. It does not send anything and does not read headers.
//!
//! Requests made inside [`in_background`] (the audit logs, and the re-reads that webhooks and
//! the audit log ask for) give way to the others: a request slot given back goes to a
//! refresh's request before them, but for one in [`BACKGROUND_SHARE`] (see `slots`), so that
//! however many of them are queued a refresh starts on time and takes most of the quota,
//! and they are slowed down, never stopped, by a refresh that never ends.

use std::future::Future;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::time::Instant;

#[cfg(doc)]
use super::slots::BACKGROUND_SHARE;
use super::slots::{Priority, Slot, Slots};

tokio::task_local! {
    /// Set for the requests of background work (see [`in_background`]).
    static PRIORITY: Priority;
}

/// Runs `work` as background work: its requests to the Hub give way to every other request.
pub(crate) async fn in_background<F: Future>(work: F) -> F::Output {
    PRIORITY.scope(Priority::Background, work).await
}

/// The priority of the requests of the running task.
pub(super) fn priority() -> Priority {
    PRIORITY.try_with(|p| *p).unwrap_or(Priority::Urgent)
}

/// The runtime's clock, as the rate limiter reads time: the time since the pacer was made.
/// Using tokio's clock rather than the system's keeps the quota, the pauses and the sleeps
/// on one time line, which tests can also pause and advance.
#[derive(Debug, Clone)]
struct RuntimeClock {
    start: Instant,
}

impl Clock for RuntimeClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.start.elapsed()
    }
}

/// Shared pacing state.
#[derive(Debug)]
pub(crate) struct Pacer {
    limiter: RateLimiter<NotKeyed, InMemoryState, RuntimeClock, NoOpMiddleware<Duration>>,
    clock: RuntimeClock,
    slots: Slots,
    pause_until: Mutex<Option<Instant>>,
}

/// Permission to send one request; the concurrency slot is held until it is dropped.
#[derive(Debug)]
pub(crate) struct Permit {
    _slot: Slot,
    /// Time spent waiting for the quota or a pause.
    pub(super) waited: Duration,
}

impl Pacer {
    /// A pacer allowing `per_minute` requests a minute, `burst` back to back, and
    /// `concurrency` in flight.
    pub(crate) fn new(per_minute: u32, burst: u32, concurrency: usize) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        let clock = RuntimeClock {
            start: Instant::now(),
        };
        Pacer {
            limiter: RateLimiter::direct_with_clock(
                Quota::per_minute(per_minute).allow_burst(burst),
                clock.clone(),
            ),
            clock,
            slots: Slots::new(concurrency),
            pause_until: Mutex::new(None),
        }
    }

    /// [`Pacer::acquire`] at the calling task's priority: urgent unless it runs through
    /// [`in_background`]. For pacers of their own outside the Hub client (a mirror's), whose
    /// requests are all of one kind.
    pub(crate) async fn acquire_for_task(&self) -> Permit {
        self.acquire(priority()).await
    }

    /// Waits for a concurrency slot (in the order of `priority`, see `slots`), the end of
    /// any pause, and a cell of the quota.
    pub(super) async fn acquire(&self, priority: Priority) -> Permit {
        let slot = self.slots.acquire(priority).await;
        let started = Instant::now();
        self.wait_for_pause().await;
        loop {
            match self.limiter.check() {
                Ok(()) => break,
                Err(not_until) => {
                    tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
                }
            }
        }
        // A pause may have begun while this request waited for the quota.
        self.wait_for_pause().await;
        Permit {
            _slot: slot,
            waited: started.elapsed(),
        }
    }

    /// Holds every request back for `wait` from now (a later pause already set stands).
    pub(crate) fn pause_for(&self, wait: Duration) {
        let until = Instant::now() + wait;
        let mut pause = self.pause_until.lock().unwrap_or_else(|e| e.into_inner());
        if pause.is_none_or(|p| p < until) {
            *pause = Some(until);
        }
    }

    async fn wait_for_pause(&self) {
        loop {
            let until = *self.pause_until.lock().unwrap_or_else(|e| e.into_inner());
            match until {
                Some(t) if t > Instant::now() => tokio::time::sleep_until(t).await,
                _ => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn the_burst_passes_at_once_and_then_requests_follow_the_quota() {
        let pacer = Pacer::new(60, 3, 10);
        for _ in 0..3 {
            assert_eq!(pacer.acquire(Priority::Urgent).await.waited, Duration::ZERO);
        }
        // 60 a minute is one a second: each further request waits a second for its cell.
        for _ in 0..3 {
            let permit = pacer.acquire(Priority::Urgent).await;
            assert!(
                permit.waited >= Duration::from_millis(999)
                    && permit.waited <= Duration::from_secs(1),
                "{:?}",
                permit.waited
            );
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_pause_holds_back_the_next_request_for_exactly_its_length() {
        let pacer = Pacer::new(6000, 10, 10);
        pacer.pause_for(Duration::from_secs(7));
        assert_eq!(
            pacer.acquire(Priority::Urgent).await.waited,
            Duration::from_secs(7)
        );
        // A shorter pause does not cut a longer one short.
        pacer.pause_for(Duration::from_secs(5));
        pacer.pause_for(Duration::from_secs(1));
        assert_eq!(
            pacer.acquire(Priority::Urgent).await.waited,
            Duration::from_secs(5)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_thousand_background_requests_queued_first_hardly_delay_an_urgent_one() {
        // One a second, two at a time.
        let pacer = std::sync::Arc::new(Pacer::new(60, 1, 2));
        let background: Vec<_> = (0..1000)
            .map(|_| {
                let pacer = std::sync::Arc::clone(&pacer);
                tokio::spawn(in_background(async move {
                    pacer.acquire(priority()).await;
                }))
            })
            .collect();
        tokio::task::yield_now().await;
        // The urgent one waits for the next slot given back, and its cell: a few seconds at
        // most, not the thousand the background requests need.
        let start = Instant::now();
        let permit = pacer.acquire(Priority::Urgent).await;
        assert!(
            start.elapsed() <= Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        drop(permit);
        for task in background {
            task.abort();
        }
    }

    #[tokio::test(start_paused = true)]
    async fn no_more_requests_are_in_flight_than_the_concurrency_allows() {
        let pacer = std::sync::Arc::new(Pacer::new(6000, 100, 2));
        let first = pacer.acquire(Priority::Urgent).await;
        let _second = pacer.acquire(Priority::Urgent).await;
        let waiting = tokio::spawn({
            let pacer = std::sync::Arc::clone(&pacer);
            async move { pacer.acquire(Priority::Urgent).await.waited }
        });
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!waiting.is_finished(), "a third request waits for a slot");
        drop(first);
        assert!(waiting.await.unwrap() >= Duration::ZERO);
    }
}
