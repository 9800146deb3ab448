//! Injected failures: what a test can make the simulated Hub do wrong, and how each kind of
//! fault turns the normal answer into a bad one.
//!
//! A fault matches by substring of `path?query` and fires a limited or unlimited number of
//! times. Only the first matching fault fires for a request. Rate limiting is decided before
//! faults, so a throttled request does not use up a fault.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;

use super::reply::{Content, Page, Reply};

/// A failure to inject: requests whose `path?query` contains `path_contains` get `kind`.
#[derive(Debug, Clone)]
pub struct Fault {
    /// Substring of `path?query` (just the path when there is no query); "" matches every
    /// request.
    pub path_contains: String,
    /// What goes wrong.
    pub kind: FaultKind,
    /// How many more times it fires; `None` until cleared.
    pub times: Option<u32>,
}

impl Fault {
    /// A fault that fires on every matching request until cleared.
    pub fn new(path_contains: impl Into<String>, kind: FaultKind) -> Self {
        Fault {
            path_contains: path_contains.into(),
            kind,
            times: None,
        }
    }

    /// Makes the fault fire on the next `n` matching requests only.
    pub fn times(mut self, n: u32) -> Self {
        self.times = Some(n);
        self
    }
}

/// What goes wrong when a [`Fault`] fires.
#[derive(Debug, Clone)]
pub enum FaultKind {
    /// Answer with this status and a small JSON error body.
    Status(u16),
    /// 200 with the real body cut in half.
    TruncatedJson,
    /// Wait this long before answering normally.
    Slow(Duration),
    /// 200 with an HTML error page, content-type `text/html`.
    HtmlOk,
    /// 200 with valid JSON of the wrong shape: `results` an object, `count` a string.
    WrongShape,
    /// 429 with `Retry-After: 1`, as in a storm of them.
    Throttled,
    /// 429 naming when to retry in `X-Retry-After`, as a Unix time (the form older Hub API
    /// references document), and in no other header unless asked: a rate limit set with
    /// `set_rate_limit` still adds its `X-RateLimit-*`, as to every 429.
    ThrottledUntil {
        /// The instant named: whole Unix seconds, or with as many decimals as it has.
        at: SystemTime,
        /// A `Retry-After` of this many seconds sent beside it, if any.
        retry_after_seconds: Option<u64>,
    },
    /// 200 with a JSON-looking body of this many bytes.
    Huge(usize),
    /// The normal page, but `next` replaced by this absolute URL.
    ForeignNext(String),
    /// The normal page, but `next` pointing back to page 1.
    LoopNext,
    /// Headers with a large content-length, some bytes, then the connection drops.
    ResetMidBody,
    /// 200 with a small gzip stream that inflates to a JSON-looking body of this many bytes.
    GzipBomb(usize),
    /// This status with exactly this body (JSON or not).
    Answer(u16, String),
    /// The Hub's anti-abuse refusal as captured: 429 with `Retry-After: 60` and the plain-text
    /// body `Too Many Requests (HAP429).`, no rate-limit headers of its own.
    AntiAbuse,
    /// This status and a body captured from the real Hub, served as JSON with every
    /// `https://hub.docker.com` in it changed to this hub's own address, as the Hub makes its
    /// links from the address it was asked at (see [`SimHub::replay`](crate::SimHub::replay)).
    Captured(u16, String),
    /// The normal page, but its `count` replaced by this.
    Count(usize),
    /// A listing without end: every page claims `count` items in all, holds `items` tags
    /// (each with a digest of `fat` bytes) and links to the next page.
    Endless {
        /// The `count` every page claims.
        count: usize,
        /// Tags on each page.
        items: usize,
        /// Length of each tag's digest.
        fat: usize,
    },
}

/// The origin of the real Hub, as its links name it.
const REAL_HUB: &str = "https://hub.docker.com";

/// The page a misconfigured proxy in front of the Hub might serve.
const HTML_ERROR_PAGE: &str = "<!DOCTYPE html>\n<html><head><title>Docker Hub</title></head>\
<body><h1>Something went wrong</h1><p>We are working on it. Please try again later.</p>\
</body></html>\n";

/// The first fault matching `target` that has firings left, counting this firing.
pub(super) fn take(faults: &mut Vec<Fault>, target: &str) -> Option<FaultKind> {
    faults.retain(|f| f.times != Some(0));
    let fault = faults
        .iter_mut()
        .find(|f| target.contains(f.path_contains.as_str()))?;
    if let Some(n) = &mut fault.times {
        *n -= 1;
    }
    Some(fault.kind.clone())
}

/// The answer when `kind` fires: `normal` computes the answer the Hub would have given,
/// `page_url` gives the URL of a page of this listing, `page` is the page asked for. Also
/// returns an extra delay.
pub(super) fn answer(
    kind: FaultKind,
    normal: impl FnOnce() -> Reply,
    page_url: impl Fn(usize) -> String,
    page: usize,
    host: &str,
) -> (Reply, Duration) {
    let reply = match kind {
        FaultKind::Status(code) => Reply::json(
            code,
            &serde_json::json!({ "detail": reason(code), "message": reason(code).to_lowercase() }),
        ),
        FaultKind::HtmlOk => Reply {
            status: 200,
            headers: Vec::new(),
            content: Content::Html(Bytes::from_static(HTML_ERROR_PAGE.as_bytes())),
        },
        FaultKind::Throttled => {
            let mut reply = Reply::detail(429, "Too Many Requests");
            reply.headers.push(("retry-after", "1".to_string()));
            reply
        }
        FaultKind::ThrottledUntil {
            at,
            retry_after_seconds,
        } => {
            let reply = Reply::json(
                429,
                &serde_json::json!({ "detail": "Rate limit exceeded", "error": false }),
            )
            .with_header("x-retry-after", unix_time(at));
            match retry_after_seconds {
                Some(s) => reply.with_header("retry-after", s.to_string()),
                None => reply,
            }
        }
        FaultKind::WrongShape => Reply::json(
            200,
            &serde_json::json!({ "count": "many", "next": 7, "results": { "name": "x" } }),
        ),
        FaultKind::Huge(n) => Reply {
            status: 200,
            headers: Vec::new(),
            content: Content::Huge(n),
        },
        FaultKind::GzipBomb(n) => Reply {
            status: 200,
            headers: Vec::new(),
            content: Content::Gzipped(super::reply::gzip_bomb(n)),
        },
        FaultKind::Slow(delay) => return (normal(), delay),
        FaultKind::TruncatedJson => {
            let mut reply = normal();
            let body = reply.body_bytes();
            reply.status = 200;
            reply.content = Content::Json(body.slice(..body.len() / 2));
            reply
        }
        FaultKind::ResetMidBody => {
            let mut reply = normal();
            let body = reply.body_bytes();
            reply.status = 200;
            reply.content = Content::Reset(body.slice(..body.len().div_ceil(2)));
            reply
        }
        FaultKind::ForeignNext(url) => with_next(normal(), url),
        FaultKind::LoopNext => with_next(normal(), page_url(1)),
        FaultKind::Answer(status, text) => Reply {
            status,
            headers: Vec::new(),
            content: Content::Json(Bytes::from(text)),
        },
        FaultKind::AntiAbuse => Reply {
            status: 429,
            headers: vec![
                ("cache-control", "no-cache".to_string()),
                ("retry-after", "60".to_string()),
            ],
            content: Content::Text(Bytes::from_static(b"Too Many Requests (HAP429).\n")),
        },
        FaultKind::Captured(status, text) => Reply {
            status,
            headers: Vec::new(),
            content: Content::Json(Bytes::from(
                text.replace(REAL_HUB, &format!("http://{host}")),
            )),
        },
        FaultKind::Count(count) => {
            let mut reply = normal();
            if let Content::Page(p) = &mut reply.content {
                p.count = count;
            }
            reply
        }
        FaultKind::Endless { count, items, fat } => {
            let digest = "f".repeat(fat);
            let results: Vec<serde_json::Value> = (0..items)
                .map(|i| serde_json::json!({ "name": format!("endless-{page}-{i}"), "digest": digest }))
                .collect();
            Reply::page(Page {
                count,
                next: Some(page_url(page + 1)),
                previous: (page > 1).then(|| page_url(page - 1)),
                results: serde_json::to_string(&results).unwrap_or_else(|_| "[]".into()),
            })
        }
    };
    (reply, Duration::ZERO)
}

/// `at` as Unix seconds, with only the decimals it needs (none for a whole second); 0 before
/// the epoch.
fn unix_time(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    match since.subsec_nanos() {
        0 => since.as_secs().to_string(),
        nanos => {
            let decimals = format!("{nanos:09}");
            format!("{}.{}", since.as_secs(), decimals.trim_end_matches('0'))
        }
    }
}

/// Replaces `next` of a page; other answers pass unchanged.
fn with_next(mut reply: Reply, url: String) -> Reply {
    if let Content::Page(page) = &mut reply.content {
        page.next = Some(url);
    }
    reply
}

/// A short reason for an injected status, in the words the Hub uses where known.
fn reason(code: u16) -> &'static str {
    match code {
        400 => "Bad request",
        401 => "Token is expired or invalid",
        403 => "Forbidden",
        404 => "Not found",
        429 => "Rate limit exceeded",
        500 => "Internal server error",
        502 => "Bad gateway",
        503 => "Service unavailable",
        504 => "Gateway timeout",
        _ => "Simulated failure",
    }
}

#[cfg(test)]
mod tests {
    use super::super::SimHub;
    use super::super::model::Repo;
    use super::super::testclient::get;
    use super::*;

    const TAGS: &str = "/v2/namespaces/acme/repositories/api/tags";

    #[test]
    fn a_fault_with_times_fires_that_often_and_is_then_dropped() {
        let mut faults = vec![Fault::new("/tags", FaultKind::Status(503)).times(2)];
        assert!(take(&mut faults, "/v2/x/tags?page=1").is_some());
        assert!(
            take(&mut faults, "/v2/repositories/x/").is_none(),
            "no match"
        );
        assert!(take(&mut faults, "/v2/x/tags?page=2").is_some());
        assert!(take(&mut faults, "/v2/x/tags?page=3").is_none());
        assert!(faults.is_empty());
    }

    #[test]
    fn only_the_first_matching_fault_fires() {
        let mut faults = vec![
            Fault::new("", FaultKind::Status(500)).times(1),
            Fault::new("/tags", FaultKind::LoopNext),
        ];
        assert!(matches!(
            take(&mut faults, "/tags"),
            Some(FaultKind::Status(500))
        ));
        assert!(matches!(
            take(&mut faults, "/tags"),
            Some(FaultKind::LoopNext)
        ));
    }

    #[tokio::test]
    async fn a_fault_with_times_1_fires_once() {
        let hub = SimHub::new();
        hub.add_repo("acme", Repo::new("api").with_tags(3));
        hub.add_fault(Fault::new("/tags", FaultKind::Status(503)).times(1));
        let running = hub.start().await.unwrap();
        let failed = get(running.addr(), TAGS, None).await;
        assert_eq!(failed.status, 503);
        failed.json();
        assert_eq!(get(running.addr(), TAGS, None).await.status, 200);
        let statuses: Vec<u16> = hub.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [503, 200]);
    }

    #[tokio::test]
    async fn a_throttled_until_fault_names_its_instant_in_x_retry_after_alone() {
        let hub = SimHub::new();
        hub.add_repo("acme", Repo::new("api").with_tags(3));
        let running = hub.start().await.unwrap();
        let at = UNIX_EPOCH + Duration::from_millis(1_800_000_000_250);
        hub.add_fault(
            Fault::new(
                "/tags",
                FaultKind::ThrottledUntil {
                    at,
                    retry_after_seconds: None,
                },
            )
            .times(1),
        );
        let only = get(running.addr(), TAGS, None).await;
        assert_eq!(only.status, 429);
        assert_eq!(only.header("x-retry-after"), Some("1800000000.25"));
        for absent in ["retry-after", "x-ratelimit-reset", "x-ratelimit-remaining"] {
            assert_eq!(only.header(absent), None, "{absent}");
        }
        assert_eq!(only.json()["detail"], "Rate limit exceeded");

        hub.add_fault(
            Fault::new(
                "/tags",
                FaultKind::ThrottledUntil {
                    at: UNIX_EPOCH + Duration::from_secs(1_800_000_000),
                    retry_after_seconds: Some(1),
                },
            )
            .times(1),
        );
        let both = get(running.addr(), TAGS, None).await;
        assert_eq!(both.status, 429);
        assert_eq!(both.header("x-retry-after"), Some("1800000000"));
        assert_eq!(both.header("retry-after"), Some("1"));
        assert_eq!(get(running.addr(), TAGS, None).await.status, 200);
    }

    #[tokio::test]
    async fn the_anti_abuse_429_is_plain_text_with_retry_after_60() {
        let hub = SimHub::new();
        hub.add_repo("acme", Repo::new("api").with_tags(3));
        hub.add_fault(Fault::new("/tags", FaultKind::AntiAbuse).times(1));
        let running = hub.start().await.unwrap();
        let refused = get(running.addr(), TAGS, None).await;
        assert_eq!(refused.status, 429);
        assert_eq!(refused.header("content-type"), Some("text/plain"));
        assert_eq!(refused.header("retry-after"), Some("60"));
        assert_eq!(refused.text(), "Too Many Requests (HAP429).\n");
        assert_eq!(get(running.addr(), TAGS, None).await.status, 200);
    }

    #[tokio::test]
    async fn a_replayed_capture_is_served_as_captured_its_links_leading_here() {
        let hub = SimHub::new();
        let captured = r#"{"count":2,"next":"https://hub.docker.com/v2/repositories/ubuntu/tags/?page=2\u0026page_size=1","previous":null,"results":[]}"#;
        hub.replay(
            "/v2/namespaces/library/repositories/ubuntu/tags",
            200,
            captured,
        );
        let running = hub.start().await.unwrap();
        let answer = get(
            running.addr(),
            "/v2/namespaces/library/repositories/ubuntu/tags?page_size=100",
            None,
        )
        .await;
        assert_eq!(answer.status, 200);
        assert_eq!(
            answer.text(),
            captured.replace("https://hub.docker.com", &running.url()),
            "byte for byte but the origin"
        );
    }

    #[tokio::test]
    async fn body_faults_break_the_answer_as_described() {
        let hub = SimHub::new();
        hub.add_repo("acme", Repo::new("api").with_tags(30));
        let running = hub.start().await.unwrap();
        let fire = |kind| hub.add_fault(Fault::new("/tags", kind).times(1));
        let path = format!("{TAGS}?page=2&page_size=10");

        fire(FaultKind::TruncatedJson);
        let truncated = get(running.addr(), &path, None).await;
        assert_eq!(truncated.status, 200);
        assert!(serde_json::from_slice::<serde_json::Value>(&truncated.body).is_err());

        fire(FaultKind::HtmlOk);
        let html = get(running.addr(), &path, None).await;
        assert_eq!(
            (html.status, html.header("content-type")),
            (200, Some("text/html; charset=utf-8"))
        );

        fire(FaultKind::WrongShape);
        let shaped = get(running.addr(), &path, None).await.json();
        assert!(shaped["results"].is_object());

        fire(FaultKind::Huge(3_000_000));
        assert_eq!(get(running.addr(), &path, None).await.body.len(), 3_000_000);

        fire(FaultKind::LoopNext);
        let looped = get(running.addr(), &path, None).await.json();
        assert_eq!(
            looped["next"],
            format!("{}{TAGS}?page=1&page_size=10", running.url())
        );

        fire(FaultKind::ForeignNext("http://evil.example/v2/x".into()));
        assert_eq!(
            get(running.addr(), &path, None).await.json()["next"],
            "http://evil.example/v2/x"
        );

        fire(FaultKind::ResetMidBody);
        let reset = get(running.addr(), &path, None).await;
        let promised: usize = reset.header("content-length").unwrap().parse().unwrap();
        assert!(
            !reset.body.is_empty() && reset.body.len() < promised,
            "{} of {promised} bytes",
            reset.body.len()
        );

        fire(FaultKind::Slow(Duration::from_millis(300)));
        let started = std::time::Instant::now();
        assert_eq!(get(running.addr(), &path, None).await.status, 200);
        assert!(started.elapsed() >= Duration::from_millis(300));
    }
}
