//! The progress line of `dockerhub_exporter inventory`: while a read of the Hub takes more than
//! a second, one line on standard error, redrawn in place, says how many repositories' tags
//! have been listed of how many, how many requests went out and about how long is left.
//!
//! Only a person at a terminal wants it: when standard error is not a terminal (a pipe, a
//! file, a CI log) nothing is drawn at all. It shares standard error with the log, so the log
//! writes through [`Progress::log_writer`], which takes the line away before each message;
//! the next redraw puts it back below. It observes the refresh through the refresh's own
//! observer trait and reads the client's request count; it changes neither.

use std::io::{self, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use crate::error::ErrorKind;
use crate::hub;
use crate::publication::RefreshStatus;
use crate::refresh::{self, RereadResult};

/// A read that ends within this time shows no progress line.
const SHOW_AFTER: Duration = Duration::from_secs(1);

/// How often the line is redrawn: often enough to look alive, rarely enough not to flicker.
const REDRAW_EVERY: Duration = Duration::from_millis(250);

/// Moves to the start of the line and clears it (carriage return, then ANSI "erase to the end
/// of the line", which every terminal emulator in use understands).
const CLEAR: &str = "\r\x1b[K";

/// How far the read has come, and the line that shows it.
pub(super) struct Progress {
    /// Whether standard error is a terminal; if not, nothing is ever drawn.
    terminal: bool,
    /// When the command started.
    started: Instant,
    /// Tag listings over.
    done: AtomicUsize,
    /// Tag listings started, once every repository listing is read; 0 before.
    total: AtomicUsize,
    /// Whether the line is on the screen. Held while anything writes to standard error, so
    /// that the line and the log never write into each other.
    shown: Mutex<bool>,
}

impl Progress {
    /// Progress of a read starting now, drawn only if `terminal` (whether standard error is a
    /// terminal).
    pub(super) fn new(terminal: bool) -> Arc<Progress> {
        Arc::new(Progress {
            terminal,
            started: Instant::now(),
            done: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
            shown: Mutex::new(false),
        })
    }

    /// Draws the line after [`SHOW_AFTER`], then redraws it every [`REDRAW_EVERY`], with
    /// `client`'s count of requests, until dropped; never when standard error is not a
    /// terminal.
    pub(super) async fn draw(self: Arc<Self>, client: Arc<hub::Client>) {
        if !self.terminal {
            return;
        }
        tokio::time::sleep(SHOW_AFTER).await;
        let mut redraw = tokio::time::interval(REDRAW_EVERY);
        loop {
            redraw.tick().await;
            let text = line(
                self.done.load(Ordering::Relaxed),
                self.total.load(Ordering::Relaxed),
                client.requests_sent(),
                self.started.elapsed(),
            );
            let mut shown = self.lock();
            let mut stderr = io::stderr().lock();
            // A terminal that cannot be written to shows nothing either way.
            if write!(stderr, "{CLEAR}{text}")
                .and_then(|()| stderr.flush())
                .is_ok()
            {
                *shown = true;
            }
        }
    }

    /// Takes the line off the screen, if it is there.
    pub(super) fn clear(&self) {
        let mut shown = self.lock();
        take_away(&mut shown);
    }

    /// Where the log writes: standard error, the progress line taken away first.
    pub(super) fn log_writer(self: &Arc<Self>) -> LogWriter {
        LogWriter(Arc::clone(self))
    }

    fn lock(&self) -> MutexGuard<'_, bool> {
        // A panic while drawing leaves nothing inconsistent behind.
        self.shown.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Clears the line if `shown`.
fn take_away(shown: &mut bool) {
    if *shown {
        let mut stderr = io::stderr().lock();
        let _ = stderr
            .write_all(CLEAR.as_bytes())
            .and_then(|()| stderr.flush());
        *shown = false;
    }
}

impl refresh::Observer for Progress {
    fn restored(&self, _: SystemTime) {}

    fn progress(&self, _: f64) {}

    fn listings_done(&self, done: usize, total: usize) {
        self.total.store(total, Ordering::Relaxed);
        self.done.store(done, Ordering::Relaxed);
    }

    fn listing_failed(&self, _: ErrorKind) {}

    fn finished(&self, _: &RefreshStatus, _: Option<SystemTime>) {}

    fn reread(&self, _: RereadResult) {}

    fn exposition_failed(&self) {}
}

/// Standard error for the log, through which the progress line is taken away before each
/// message.
pub(super) struct LogWriter(Arc<Progress>);

/// Standard error for one log message, the progress line held off the screen while it is
/// written.
pub(super) struct LogLine<'a> {
    _shown: MutexGuard<'a, bool>,
    stderr: io::StderrLock<'static>,
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for LogWriter {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> LogLine<'a> {
        let mut shown = self.0.lock();
        take_away(&mut shown);
        LogLine {
            _shown: shown,
            stderr: io::stderr().lock(),
        }
    }
}

impl Write for LogLine<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stderr.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stderr.flush()
    }
}

/// The progress line: `done` of `total` repositories' tags listed (`total` 0 while the
/// repositories are still being listed), `requests` sent, and the time left, estimated from
/// the `elapsed` time per repository so far.
pub(super) fn line(done: usize, total: usize, requests: u64, elapsed: Duration) -> String {
    let requests = match requests {
        1 => "1 request".to_string(),
        n => format!("{n} requests"),
    };
    if total == 0 {
        return format!(
            "inventory: listing repositories, {requests}, {} so far",
            short(elapsed)
        );
    }
    let left = if done == 0 {
        "time left unknown".to_string()
    } else if done >= total {
        "finishing".to_string()
    } else {
        let per_repository = elapsed.as_secs_f64() / done as f64;
        let left = Duration::try_from_secs_f64(per_repository * (total - done) as f64)
            .unwrap_or(Duration::MAX);
        format!("about {} left", short(left))
    };
    format!("inventory: {done}/{total} repositories, {requests}, {left}")
}

/// A duration as people say it on a progress line: `45s`, `3m05s`, `2h07m`.
fn short(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_says_repositories_done_of_total_requests_and_time_left() {
        assert_eq!(
            line(12, 48, 57, Duration::from_secs(30)),
            "inventory: 12/48 repositories, 57 requests, about 1m30s left"
        );
        assert_eq!(
            line(0, 48, 1, Duration::from_secs(2)),
            "inventory: 0/48 repositories, 1 request, time left unknown"
        );
        assert_eq!(
            line(48, 48, 300, Duration::from_secs(200)),
            "inventory: 48/48 repositories, 300 requests, finishing"
        );
        assert_eq!(
            line(1, 3_000, 9, Duration::from_secs(5)),
            "inventory: 1/3000 repositories, 9 requests, about 4h09m left"
        );
    }

    #[test]
    fn before_the_repositories_are_listed_the_line_says_so() {
        assert_eq!(
            line(0, 0, 3, Duration::from_millis(1_500)),
            "inventory: listing repositories, 3 requests, 1s so far"
        );
    }

    #[test]
    fn the_line_of_a_large_inventory_fits_a_terminal_of_80_columns() {
        // A million repositories, ten million requests, a thousand hours left.
        let widest = line(1, 1_000_000, 10_000_000, Duration::from_secs(3_600));
        assert!(widest.ends_with("about 999999h00m left"), "{widest}");
        assert!(widest.chars().count() <= 80, "{widest}");
        // However long it would take, the estimate is a number, not a failure.
        assert!(line(1, 1_000_000, 1, Duration::MAX).contains(" left"));
    }

    #[test]
    fn off_a_terminal_observing_the_refresh_draws_nothing_and_clearing_is_a_no_op() {
        let progress = Progress::new(false);
        refresh::Observer::listings_done(progress.as_ref(), 3, 10);
        assert_eq!(progress.done.load(Ordering::Relaxed), 3);
        assert_eq!(progress.total.load(Ordering::Relaxed), 10);
        progress.clear();
        assert!(!*progress.lock());
    }
}
