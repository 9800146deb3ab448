//! A refresh as a pipeline: the tag listings of a page's repositories start while the rest
//! of the repository listing is read, the repository pages after the first go out at once,
//! and still no request is made beyond the minimum, no repository is listed twice, and a
//! namespace whose listing fails keeps its previous data.

use std::time::Duration;

use simhub::{Fault, FaultKind, Repo, RequestRecord, SimHub, TagSpec};

use crate::support::*;

/// The repository listing of `acme`.
const REPOSITORIES: &str = "/v2/namespaces/acme/repositories";

/// Every tenth repository: 25 of the 250, 10 of them on page 1.
const EVERY_TENTH: &str = "svc-..0";

/// Arguments for an exporter of acme that lists the tags of every tenth repository only.
fn every_tenth(url: &str) -> Vec<String> {
    hub_args(
        url,
        "acme",
        &[
            "--hub.rate-limit",
            "100000",
            "--filter.repository",
            EVERY_TENTH,
        ],
    )
}

/// A hub with 250 repositories `svc-000` to `svc-249` in `acme` (three pages), one tag each.
fn three_pages() -> SimHub {
    let hub = SimHub::new();
    for i in 0..250 {
        hub.add_repo("acme", Repo::new(&format!("svc-{i:03}")).with_tags(1));
    }
    hub
}

/// The repository named in a tag page's path.
fn tag_listing_of(r: &RequestRecord) -> Option<&str> {
    r.path
        .strip_prefix("/v2/namespaces/acme/repositories/")?
        .strip_suffix("/tags")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_of_the_first_page_are_read_before_the_last_repository_page_is_answered() {
    let hub = three_pages();
    let latency = Duration::from_millis(300);
    hub.set_latency(latency);
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&every_tenth(&running.url()), None).await;
    let m = exporter.wait_for_refreshes(1).await;
    exporter.stop().await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    let requests = hub.requests();
    let pages: Vec<&RequestRecord> = requests.iter().filter(|r| r.path == REPOSITORIES).collect();
    let tags: Vec<&RequestRecord> = requests
        .iter()
        .filter(|r| tag_listing_of(r).is_some())
        .collect();
    assert_eq!(pages.len(), 3, "each repository page once");
    assert_eq!(
        tags.len(),
        25,
        "each selected repository's one tag page once"
    );
    assert_eq!(requests.len(), 3 + 25, "nothing beyond the minimum");
    let mut listed: Vec<&str> = tags.iter().filter_map(|r| tag_listing_of(r)).collect();
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), 25, "no repository listed twice");

    // Pages 2 and 3 went out together, not page 3 after page 2's answer.
    let (second, third) = (pages[1].at.min(pages[2].at), pages[1].at.max(pages[2].at));
    assert!(
        third < second + latency,
        "pages 2 and 3 were asked for at once"
    );
    // A repository of page 1 had its tags asked for before the last repository page was
    // answered: reading the repository pages did not hold the tag listings back.
    let last_answered = third + latency;
    let first_tag = tags.iter().map(|r| r.at).min().unwrap();
    assert!(
        first_tag < last_answered,
        "the first tag page went out {:?} after the last repository page was answered",
        first_tag.saturating_duration_since(last_answered)
    );
    for repo in hub.repository_names("acme").iter().step_by(10) {
        assert_eq!(
            served_tags(&m, "acme", repo),
            hub.tag_names("acme", repo),
            "{repo}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_listing_read_twice_lists_each_repositorys_tags_once() {
    let hub = three_pages();
    // The first read's last page counts one more than its first: the listing is read again.
    hub.add_fault(Fault::new(format!("{REPOSITORIES}?page=3"), FaultKind::Count(251)).times(1));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&every_tenth(&running.url()), None).await;
    let m = exporter.wait_for_refreshes(1).await;
    exporter.stop().await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert_eq!(
        value(&m, "dockerhub_repositories", &[("hub_namespace", "acme")]),
        Some(250.0)
    );
    let requests = hub.requests();
    let pages = requests.iter().filter(|r| r.path == REPOSITORIES).count();
    assert_eq!(pages, 6, "two reads of three pages");
    let mut listed: Vec<&str> = requests.iter().filter_map(tag_listing_of).collect();
    assert_eq!(listed.len(), 25, "one tag page per selected repository");
    listed.sort();
    listed.dedup();
    assert_eq!(listed.len(), 25, "no repository listed twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_listing_failing_on_a_later_page_keeps_the_namespace_as_it_was() {
    let hub = three_pages();
    hub.add_repo("other", Repo::new("tool").with_tags(2));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(
            &running.url(),
            "acme,other",
            &[
                "--hub.rate-limit",
                "100000",
                "--filter.repository",
                &format!("{EVERY_TENTH}|tool"),
                "--refresh.interval",
                "200ms",
            ],
        ),
        None,
    )
    .await;
    let before = exporter.wait_for_refreshes(1).await;
    assert_eq!(
        value(
            &before,
            "dockerhub_repositories",
            &[("hub_namespace", "acme")]
        ),
        Some(250.0)
    );
    let first_page_tags = served_tags(&before, "acme", "svc-000");
    // Page 3 now fails to decode, after page 1's repositories were handed over; meanwhile
    // a repository of page 1 gets a tag, and one of page 2 goes.
    hub.add_fault(Fault::new(
        format!("{REPOSITORIES}?page=3"),
        FaultKind::TruncatedJson,
    ));
    hub.push_tag("acme", "svc-000", TagSpec::new("new"));
    hub.delete_repo("acme", "svc-150");
    hub.push_tag("other", "tool", TagSpec::new("new"));
    let m = exporter.wait_for_result("partial", 1).await;
    exporter.stop().await;
    assert_eq!(
        value(&m, "dockerhub_repositories", &[("hub_namespace", "acme")]),
        Some(250.0),
        "no repository removed"
    );
    assert_eq!(
        served_tags(&m, "acme", "svc-000"),
        first_page_tags,
        "the tags of a page-1 repository are the previous ones, whatever its listing read"
    );
    assert!(!served_tags(&m, "acme", "svc-150").is_empty());
    assert_eq!(
        served_tags(&m, "other", "tool"),
        hub.tag_names("other", "tool"),
        "the other namespace is current"
    );
    assert!(value(&m, "dockerhub_refresh_errors_total", &[("kind", "decode")]) >= Some(1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_listings_not_yet_sent_are_abandoned_when_the_repository_listing_fails() {
    let hub = SimHub::new();
    for i in 0..150 {
        hub.add_repo("acme", Repo::new(&format!("svc-{i:03}")).with_tags(1));
    }
    hub.set_latency(Duration::from_millis(100));
    // Page 2 fails on every try: the listing gives up after its retries (seconds of
    // backoff), while the tag listings of page 1's hundred repositories go one at a time.
    hub.add_fault(Fault::new(
        format!("{REPOSITORIES}?page=2"),
        FaultKind::Status(500),
    ));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(
            &running.url(),
            "acme",
            &["--hub.rate-limit", "100000", "--hub.concurrency", "2"],
        ),
        None,
    )
    .await;
    let m = exporter.wait_for_refreshes(1).await;
    let tag_pages = hub.requests().iter().filter_map(tag_listing_of).count();
    exporter.stop().await;
    assert_eq!(
        value(&m, "dockerhub_refreshes_total", &[("result", "failure")]),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "dockerhub_repositories", &[("hub_namespace", "acme")]),
        None,
        "nothing invented for a namespace never listed whole"
    );
    assert!(tag_pages > 0, "page 1's repositories were started on");
    assert!(
        tag_pages < 100,
        "{tag_pages} tag pages: those not sent when the listing failed never were"
    );
    assert_eq!(
        hub.requests().iter().filter_map(tag_listing_of).count(),
        tag_pages,
        "nothing more once the refresh is over"
    );
}
