//! The Hub API's request quota: fixed windows, `X-RateLimit-*` headers on every answer, and
//! 429 with a `Retry-After` in one of the forms the real Hub has been seen to use.
//!
//! Windows are aligned to the Unix epoch (a 60 s window runs from one wall-clock minute to
//! the next), so a window's end is a whole second whenever the window is, and every form of
//! `Retry-After` names the same instant. Time is wall-clock (`SystemTime`) because the headers
//! are. This file decides and formats; recording and routing are elsewhere.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::RetryAfterStyle;
use super::reply::Reply;

/// The shortest window honoured; shorter ones are stretched to this.
const MIN_WINDOW: Duration = Duration::from_millis(1);

/// Counts requests in the current window.
#[derive(Debug, Clone)]
pub(super) struct Limiter {
    limit: u32,
    window_nanos: u128,
    current: u128,
    count: u32,
}

/// The limiter's answer for one request.
#[derive(Debug, Clone, Copy)]
pub(super) struct Verdict {
    /// Whether the request is within the quota.
    pub(super) allowed: bool,
    limit: u32,
    remaining: u32,
    /// End of the window in Unix seconds, rounded up.
    reset: u64,
    /// Seconds from now until the window ends, rounded up, at least 1.
    wait: u64,
}

impl Limiter {
    /// `limit` requests per `window`.
    pub(super) fn new(limit: u32, window: Duration) -> Self {
        Limiter {
            limit,
            window_nanos: window.max(MIN_WINDOW).as_nanos(),
            current: 0,
            count: 0,
        }
    }

    /// Counts one request arriving at `now`.
    pub(super) fn admit(&mut self, now: SystemTime) -> Verdict {
        let now = now
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        let index = now / self.window_nanos;
        if index != self.current {
            self.current = index;
            self.count = 0;
        }
        self.count = self.count.saturating_add(1);
        let end = (index + 1) * self.window_nanos;
        Verdict {
            allowed: self.count <= self.limit,
            limit: self.limit,
            remaining: self.limit.saturating_sub(self.count),
            reset: end.div_ceil(NANOS) as u64,
            wait: ((end - now).div_ceil(NANOS) as u64).max(1),
        }
    }
}

const NANOS: u128 = 1_000_000_000;

impl Verdict {
    /// The `X-RateLimit-*` headers.
    pub(super) fn headers(&self) -> [(&'static str, String); 3] {
        [
            ("x-ratelimit-limit", self.limit.to_string()),
            ("x-ratelimit-remaining", self.remaining.to_string()),
            ("x-ratelimit-reset", self.reset.to_string()),
        ]
    }

    /// The `Retry-After` value in `style`, if the style sends one.
    pub(super) fn retry_after(&self, style: RetryAfterStyle) -> Option<String> {
        match style {
            RetryAfterStyle::Seconds => Some(self.wait.to_string()),
            RetryAfterStyle::UnixTime => Some(self.reset.to_string()),
            RetryAfterStyle::HttpDate => Some(httpdate::fmt_http_date(
                UNIX_EPOCH + Duration::from_secs(self.reset),
            )),
            RetryAfterStyle::Absent => None,
        }
    }

    /// The 429 answer for a request beyond the quota (rate-limit headers are added by the
    /// caller, as for every answer).
    pub(super) fn refusal(&self, style: RetryAfterStyle) -> Reply {
        let reply = Reply::json(
            429,
            &serde_json::json!({ "detail": "Rate limit exceeded", "error": false }),
        );
        match self.retry_after(style) {
            Some(value) => reply.with_header("retry-after", value),
            None => reply,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::SimHub;
    use super::super::testclient::{get, post};
    use super::*;

    fn at(secs: u64, millis: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(millis)
    }

    #[test]
    fn windows_are_aligned_to_the_epoch_and_reset_at_their_end() {
        let mut limiter = Limiter::new(2, Duration::from_secs(60));
        let first = limiter.admit(at(1_800_000_010, 500));
        assert!(first.allowed);
        assert_eq!(first.reset, 1_800_000_060);
        assert_eq!(first.wait, 50);
        assert!(limiter.admit(at(1_800_000_011, 0)).allowed);
        let third = limiter.admit(at(1_800_000_059, 900));
        assert!(!third.allowed);
        assert_eq!(third.remaining, 0);
        assert_eq!(third.wait, 1, "a fraction of a second rounds up to 1");
        assert!(
            limiter.admit(at(1_800_000_060, 0)).allowed,
            "the next window starts afresh"
        );
    }

    #[test]
    fn every_retry_after_style_names_the_end_of_the_window() {
        let mut limiter = Limiter::new(0, Duration::from_secs(60));
        let v = limiter.admit(at(1_800_000_030, 250));
        assert_eq!(
            v.retry_after(RetryAfterStyle::Seconds).as_deref(),
            Some("30")
        );
        assert_eq!(
            v.retry_after(RetryAfterStyle::UnixTime).as_deref(),
            Some("1800000060")
        );
        let date = v.retry_after(RetryAfterStyle::HttpDate).unwrap();
        assert_eq!(
            httpdate::parse_http_date(&date).unwrap(),
            at(1_800_000_060, 0)
        );
        assert_eq!(v.retry_after(RetryAfterStyle::Absent), None);
    }

    #[test]
    fn a_sub_second_window_still_resets_at_a_whole_second_or_later() {
        let mut limiter = Limiter::new(1, Duration::from_millis(200));
        let v = limiter.admit(at(1_800_000_000, 350));
        assert_eq!(v.reset, 1_800_000_001);
        assert_eq!(v.wait, 1);
    }

    #[tokio::test]
    async fn a_429_carries_retry_after_in_each_style() {
        for style in [
            RetryAfterStyle::Seconds,
            RetryAfterStyle::UnixTime,
            RetryAfterStyle::HttpDate,
            RetryAfterStyle::Absent,
        ] {
            let hub = SimHub::new();
            // A day-long window: the two requests cannot straddle a window boundary in practice.
            hub.set_rate_limit(1, Duration::from_secs(86_400));
            hub.set_retry_after(style);
            let running = hub.start().await.unwrap();
            let ok = get(running.addr(), "/v2/namespaces/acme/repositories", None).await;
            assert_eq!(ok.status, 200);
            assert_eq!(ok.header("x-ratelimit-limit"), Some("1"));
            assert_eq!(ok.header("x-ratelimit-remaining"), Some("0"));
            let reset: u64 = ok.header("x-ratelimit-reset").unwrap().parse().unwrap();
            assert_eq!(reset % 86_400, 0, "the window ends at a whole day");
            let refused = post(running.addr(), "/v2/auth/token", "{}").await;
            assert_eq!(refused.status, 429, "logins count too");
            assert_eq!(
                refused.json(),
                serde_json::json!({ "detail": "Rate limit exceeded", "error": false })
            );
            assert_eq!(
                refused.header("x-ratelimit-reset"),
                Some(reset.to_string().as_str())
            );
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let retry = refused.header("retry-after");
            match style {
                RetryAfterStyle::Seconds => {
                    let s: u64 = retry.unwrap().parse().unwrap();
                    assert!(
                        s >= 1 && s.abs_diff(reset - now) <= 1,
                        "{s} vs {}",
                        reset - now
                    );
                }
                RetryAfterStyle::UnixTime => assert_eq!(retry, Some(reset.to_string().as_str())),
                RetryAfterStyle::HttpDate => {
                    let when = httpdate::parse_http_date(retry.unwrap()).unwrap();
                    assert_eq!(when, UNIX_EPOCH + Duration::from_secs(reset));
                }
                RetryAfterStyle::Absent => assert_eq!(retry, None),
            }
            let statuses: Vec<u16> = hub.requests().iter().map(|r| r.status).collect();
            assert_eq!(
                statuses,
                [200, 429],
                "{style:?}: throttled requests are recorded too"
            );
        }
    }

    #[tokio::test]
    async fn without_rate_limit_headers_only_429s_carry_them() {
        let hub = SimHub::new();
        hub.set_rate_limit(1, Duration::from_secs(86_400));
        hub.set_rate_limit_headers(false);
        let running = hub.start().await.unwrap();
        let ok = get(running.addr(), "/v2/namespaces/acme/repositories", None).await;
        assert_eq!(ok.header("x-ratelimit-remaining"), None);
        let refused = get(running.addr(), "/v2/namespaces/acme/repositories", None).await;
        assert_eq!(refused.status, 429);
        assert!(refused.header("x-ratelimit-reset").is_some());
    }
}
