//! Rate limits: the configured quota is never exceeded, and the Hub's 429s are obeyed.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use simhub::{Fault, FaultKind, Repo, RetryAfterStyle, SimHub};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_configured_quota_is_never_exceeded_in_any_window() {
    let hub = SimHub::new();
    for i in 0..40 {
        hub.add_repo("acme", Repo::new(&format!("svc-{i:02}")).with_tags(1));
    }
    let running = hub.start().await.unwrap();
    // 600 a minute is 10 a second, 5 back to back: at most 5 + 10 in any second.
    let (per_second, burst) = (10usize, 5usize);
    let exporter = Exporter::start(
        &hub_args(
            &running.url(),
            "acme",
            &[
                "--hub.rate-limit",
                "600",
                "--hub.burst",
                "5",
                "--hub.concurrency",
                "8",
            ],
        ),
        None,
    )
    .await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    let times: Vec<_> = hub.requests().iter().map(|r| r.at).collect();
    assert_eq!(times.len(), 41);
    let most_in_a_second = times
        .iter()
        .map(|start| {
            times
                .iter()
                .filter(|t| **t >= *start && **t - *start < Duration::from_secs(1))
                .count()
        })
        .max()
        .unwrap();
    assert!(
        most_in_a_second <= burst + per_second,
        "{most_in_a_second} requests within one second"
    );
    exporter.stop().await;
}

async fn obeys_retry_after(style: RetryAfterStyle) {
    let hub = SimHub::new();
    for i in 0..6 {
        hub.add_repo("acme", Repo::new(&format!("svc-{i}")).with_tags(2));
    }
    // The Hub allows 3 requests a second; the exporter is configured far above that, so
    // only the Hub's 429s and rate-limit headers can keep it in line.
    hub.set_rate_limit(3, Duration::from_secs(1));
    hub.set_retry_after(style);
    // Without X-RateLimit-* on successful answers the exporter cannot see the window run
    // out, so it does meet 429s (which keep their headers).
    hub.set_rate_limit_headers(false);
    let running = hub.start().await.unwrap();
    let exporter =
        Exporter::start(&hub_args(&running.url(), "acme", &ONLY_THE_HUB_PACES), None).await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0), "{style:?}");
    for i in 0..6 {
        let repo = format!("svc-{i}");
        assert_eq!(served_tags(&m, "acme", &repo), hub.tag_names("acme", &repo));
    }
    // With one request in flight, a request right after a 429 that waited as told lands in
    // the next window and succeeds; one that did not wait is refused again.
    let requests = hub.requests();
    assert!(
        requests.iter().any(|r| r.status == 429),
        "{style:?}: the test met no 429"
    );
    for pair in requests.windows(2) {
        if pair[0].status == 429 {
            assert_eq!(pair[1].status, 200, "{style:?}: retried before Retry-After");
        }
    }
    let throttled = value(&m, "dockerhub_api_throttled_total", &[]).unwrap();
    assert_eq!(
        throttled as usize,
        requests.iter().filter(|r| r.status == 429).count()
    );
    assert!(value(&m, "dockerhub_api_rate_limit_limit", &[]) == Some(3.0));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_in_seconds_pauses_until_then() {
    obeys_retry_after(RetryAfterStyle::Seconds).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_as_a_unix_time_pauses_until_then() {
    obeys_retry_after(RetryAfterStyle::UnixTime).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_retry_after_as_an_http_date_pauses_until_then() {
    obeys_retry_after(RetryAfterStyle::HttpDate).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_without_retry_after_waits_for_the_rate_limit_reset() {
    obeys_retry_after(RetryAfterStyle::Absent).await;
}

/// How soon after the instant a 429 names the exporter must be back: generous for a loaded
/// machine, and far below the minute it pauses when no header says how long.
const RESUME_MARGIN: Duration = Duration::from_secs(5);

/// The first request of a refresh gets a 429 whose `X-Retry-After` names a whole second 2 to
/// 3 s ahead, with `Retry-After: retry_after_seconds` beside it if given. No request may
/// arrive before that instant, the next comes soon after it, and the refresh completes.
async fn obeys_x_retry_after(retry_after_seconds: Option<u64>) {
    let hub = SimHub::new();
    for i in 0..3 {
        hub.add_repo("acme", Repo::new(&format!("svc-{i}")).with_tags(2));
    }
    // The instant on the clock of the hub's request log; that clock is read first, so the
    // conversion can only put the instant a few nanoseconds early, never late.
    let (clock, now) = (Instant::now(), SystemTime::now());
    let at =
        UNIX_EPOCH + Duration::from_secs(now.duration_since(UNIX_EPOCH).unwrap().as_secs() + 3);
    let instant = clock + at.duration_since(now).unwrap();
    let kind = FaultKind::ThrottledUntil {
        at,
        retry_after_seconds,
    };
    hub.add_fault(Fault::new("", kind).times(1));
    let running = hub.start().await.unwrap();
    let exporter =
        Exporter::start(&hub_args(&running.url(), "acme", &ONLY_THE_HUB_PACES), None).await;
    // Bounded well below the fallback pause, so that ignoring the header fails here at once.
    let deadline = tokio::time::Instant::from_std(instant + 2 * RESUME_MARGIN);
    let m = tokio::time::timeout_at(deadline, exporter.wait_for_refreshes(1))
        .await
        .expect("the refresh completes within seconds of the instant named");
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    for i in 0..3 {
        let repo = format!("svc-{i}");
        assert_eq!(served_tags(&m, "acme", &repo), hub.tag_names("acme", &repo));
    }
    assert_eq!(value(&m, "dockerhub_api_throttled_total", &[]), Some(1.0));
    let requests = hub.requests();
    let statuses: Vec<u16> = requests.iter().map(|r| r.status).collect();
    assert_eq!(
        statuses,
        [429, 200, 200, 200, 200],
        "one listing, three tag listings"
    );
    let next = requests[1].at;
    assert!(
        next >= instant,
        "retried {:?} before the instant named",
        instant - next
    );
    assert!(
        next < instant + RESUME_MARGIN,
        "retried {:?} after the instant named",
        next - instant
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_only_x_retry_after_pauses_until_that_instant_and_no_longer() {
    obeys_x_retry_after(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_with_both_headers_pauses_until_the_later_x_retry_after() {
    // Retry-After ends about a second after the 429, a second or more before X-Retry-After.
    obeys_x_retry_after(Some(1)).await;
}
