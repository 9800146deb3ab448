//! Pacing of every request to the Hub: the configured quota (a `governor` rate limiter with
//! a burst), the concurrency limit, and pauses the Hub asks for with a 429 or an exhausted
//! `X-RateLimit-Remaining`.
//!
//! One [`Pacer`] is shared by all requests, logins included, so the exporter as a whole never
//! goes above the quota. It does not send anything and does not read headers.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

/// Shared pacing state.
#[derive(Debug)]
pub struct Pacer {
    limiter: RateLimiter<NotKeyed, InMemoryState, DefaultClock>,
    clock: DefaultClock,
    slots: std::sync::Arc<Semaphore>,
    pause_until: Mutex<Option<Instant>>,
}

/// Permission to send one request; the concurrency slot is held until it is dropped.
#[derive(Debug)]
pub struct Permit {
    _slot: OwnedSemaphorePermit,
    /// Time spent waiting for the quota or a pause.
    pub waited: Duration,
}

impl Pacer {
    /// A pacer allowing `per_minute` requests a minute, `burst` back to back, and
    /// `concurrency` in flight.
    pub fn new(per_minute: u32, burst: u32, concurrency: usize) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
        Pacer {
            limiter: RateLimiter::direct(Quota::per_minute(per_minute).allow_burst(burst)),
            clock: DefaultClock::default(),
            slots: std::sync::Arc::new(Semaphore::new(concurrency.max(1))),
            pause_until: Mutex::new(None),
        }
    }

    /// Waits for a concurrency slot, the end of any pause, and a cell of the quota.
    pub async fn acquire(&self) -> Permit {
        // The semaphore is never closed, so acquiring cannot fail.
        let slot = std::sync::Arc::clone(&self.slots)
            .acquire_owned()
            .await
            .expect("the pacer's semaphore is never closed");
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
    pub fn pause_for(&self, wait: Duration) {
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

    #[tokio::test]
    async fn the_burst_passes_at_once_and_the_next_request_waits_for_the_quota() {
        let pacer = Pacer::new(60, 3, 10);
        for _ in 0..3 {
            assert!(pacer.acquire().await.waited < Duration::from_millis(500));
        }
        let permit = pacer.acquire().await;
        // 60 a minute is one a second: the fourth request waits most of a second.
        assert!(
            permit.waited >= Duration::from_millis(500),
            "{:?}",
            permit.waited
        );
    }

    #[tokio::test]
    async fn a_pause_holds_back_the_next_request() {
        let pacer = Pacer::new(6000, 10, 10);
        pacer.pause_for(Duration::from_millis(300));
        let permit = pacer.acquire().await;
        assert!(
            permit.waited >= Duration::from_millis(250),
            "{:?}",
            permit.waited
        );
    }
}
