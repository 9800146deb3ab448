//! Shutdown: one signal that every task of the exporter waits for, and the time they get to
//! finish once it is given.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// How long the refresh task, the server and its open connections get to finish once
/// shutdown begins, before they are cut off.
pub(crate) const GRACE: Duration = Duration::from_secs(2);

/// Gives the signal; dropping it gives it too.
pub(crate) struct Trigger(watch::Sender<bool>);

/// Waits for the signal; cheap to clone, one for each task.
#[derive(Clone)]
pub(crate) struct Signal(watch::Receiver<bool>);

/// A new trigger and the signal it gives.
pub(crate) fn channel() -> (Trigger, Signal) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Signal(rx))
}

impl Trigger {
    /// Gives the signal to every waiting task.
    pub(crate) fn fire(&self) {
        self.0.send_replace(true);
    }
}

impl Signal {
    /// Completes once the signal is given (or its trigger is gone).
    pub(crate) async fn wait(mut self) {
        // An error means the trigger is gone, which also means stop.
        let _ = self.0.wait_for(|stopped| *stopped).await;
    }
}

/// Runs `work` at once and then every `interval` (a late round delays the next, none is
/// skipped twice) until `shutdown` completes; a round in progress is abandoned then.
pub(crate) async fn every<F, Fut>(
    interval: Duration,
    shutdown: impl Future<Output = ()>,
    mut work: F,
) where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    tokio::pin!(shutdown);
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = &mut shutdown => return,
            _ = ticker.tick() => {}
        }
        tokio::select! {
            _ = &mut shutdown => return,
            _ = work() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn every_signal_completes_when_the_trigger_fires_or_is_dropped() {
        let (trigger, signal) = channel();
        let waiting = [signal.clone(), signal.clone()].map(|s| tokio::spawn(s.wait()));
        let early = signal.clone();
        assert!(
            tokio::time::timeout(GRACE, early.wait()).await.is_err(),
            "not before the trigger fires"
        );
        trigger.fire();
        for task in waiting {
            task.await.unwrap();
        }
        signal.clone().wait().await;
        let (trigger, signal) = channel();
        drop(trigger);
        signal.wait().await;
    }
}
