//! Tests of listings: how the pages after the first are planned, and repository listings
//! read against the simulated Hub, whose record of every request shows what was asked for
//! and when.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::Url;
use simhub::{Fault, FaultKind, Repo, RequestRecord, SimHub};

use super::*;
use crate::hub::{ClientOptions, ListedRepository};

/// Bound on every listing in these tests; generous for a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

fn url(s: &str) -> Url {
    Url::parse(s).unwrap()
}

#[test]
fn the_pages_are_planned_from_the_hubs_own_link_to_page_2() {
    let first = url("http://hub:1/v2/namespaces/acme/repositories?page_size=100");
    let next = url("http://hub:1/v2/namespaces/acme/repositories?page=2&page_size=100");
    let plan = PagePlan::new(&first, &next, 100, 350).expect("the link agrees");
    assert_eq!(plan.last, 4);
    assert_eq!(plan.url(2), next);
    assert_eq!(
        plan.url(4).as_str(),
        "http://hub:1/v2/namespaces/acme/repositories?page=4&page_size=100"
    );
    // Exactly full pages: no page beyond.
    assert_eq!(PagePlan::new(&first, &next, 100, 400).unwrap().last, 4);
    assert_eq!(PagePlan::new(&first, &next, 100, 401).unwrap().last, 5);
}

#[test]
fn a_link_that_is_not_page_2_of_the_same_listing_is_followed_page_by_page_instead() {
    let first = url("http://hub:1/v2/namespaces/acme/repositories?page_size=100");
    let plan = |next: &str, served: u64, count: u64| {
        PagePlan::new(&first, &url(next), served, count).map(|p| p.last)
    };
    let base = "http://hub:1/v2/namespaces/acme/repositories";
    assert_eq!(
        plan(&format!("{base}?page=2&page_size=100"), 100, 101),
        Some(2)
    );
    for (next, why) in [
        (format!("{base}?page=3&page_size=100"), "not page 2"),
        (format!("{base}?page_size=100"), "no page"),
        (format!("{base}?page=2&page=2&page_size=100"), "page twice"),
        (format!("{base}?page=2&page_size=50"), "another page size"),
        (format!("{base}?page=2"), "no page size"),
        (
            format!("{base}?page=2&page_size=100&ordering=name"),
            "another parameter",
        ),
        (format!("{base}/?page=2&page_size=100"), "another path"),
        (
            "http://hub:2/v2/namespaces/acme/repositories?page=2&page_size=100".to_string(),
            "another origin",
        ),
    ] {
        assert_eq!(plan(&next, 100, 350), None, "{why}");
    }
    let next = format!("{base}?page=2&page_size=100");
    assert_eq!(
        plan(&next, 99, 350),
        None,
        "page 1 not full at its links' size"
    );
    assert_eq!(plan(&next, 100, 100), None, "the count needs one page only");
    assert_eq!(plan(&next, 100, 0), None, "the count needs no page");
}

/// A client of `hub` with `concurrency` requests in flight and no quota to speak of.
fn client(hub: &str, concurrency: usize) -> Client {
    let options = ClientOptions {
        base: url(hub),
        credentials: None,
        rate_limit: 1_000_000,
        burst: 1_000,
        concurrency,
        timeout: Duration::from_secs(10),
    };
    Client::new(options, Arc::new(())).unwrap()
}

/// A hub with `n` repositories `svc-000`, `svc-001`, ... in `acme`, one tag each.
fn hub_with(n: usize) -> SimHub {
    let hub = SimHub::new();
    for i in 0..n {
        hub.add_repo("acme", Repo::new(&format!("svc-{i:03}")).with_tags(1));
    }
    hub
}

/// The repository pages the hub was asked for, as their queries, in arrival order.
fn repository_pages(requests: &[RequestRecord]) -> Vec<&RequestRecord> {
    requests
        .iter()
        .filter(|r| r.path == "/v2/namespaces/acme/repositories")
        .collect()
}

/// A page handed over: when, and the names on it.
type HandedPage = (Instant, Vec<String>);

/// What a streaming listing handed over, page by page.
#[derive(Default, Clone)]
struct Handed(Arc<Mutex<Vec<HandedPage>>>);

impl Handed {
    fn note(&self, page: Vec<ListedRepository>) {
        let names = page.into_iter().map(|r| r.name).collect();
        self.0.lock().unwrap().push((Instant::now(), names));
    }

    fn pages(&self) -> Vec<HandedPage> {
        self.0.lock().unwrap().clone()
    }
}

/// Lists `acme` through `client`, noting what was handed over.
async fn list(client: &Client, handed: &Handed) -> Result<Vec<String>> {
    let listed = tokio::time::timeout(
        WAIT,
        client.list_repositories_streaming("acme", |page| handed.note(page)),
    )
    .await
    .expect("the listing ends")?;
    Ok(listed.into_iter().map(|r| r.unwrap().name).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_after_the_first_are_asked_for_at_once_with_no_request_more() {
    let hub = hub_with(350);
    let latency = Duration::from_millis(200);
    hub.set_latency(latency);
    let running = hub.start().await.unwrap();
    let client = client(&running.url(), 4);
    let handed = Handed::default();
    let names = list(&client, &handed).await.unwrap();
    assert_eq!(names, hub.repository_names("acme"), "whole, in page order");
    let requests = hub.requests();
    let pages = repository_pages(&requests);
    let queries: Vec<&str> = pages.iter().map(|r| r.query.as_str()).collect();
    assert_eq!(queries[0], "page_size=100", "page 1 first");
    let mut rest = queries[1..].to_vec();
    rest.sort();
    assert_eq!(
        rest,
        [
            "page=2&page_size=100",
            "page=3&page_size=100",
            "page=4&page_size=100"
        ],
        "each other page once, at the URL the Hub's own links name"
    );
    assert_eq!(requests.len(), 4, "four pages, nothing else");
    // Pages 2 to 4 were all asked for before the first of them was answered: at once, not
    // each after the one before.
    let answered = pages[1..].iter().map(|r| r.at).min().unwrap() + latency;
    assert!(
        pages[1..].iter().all(|r| r.at < answered),
        "pages 2-4 went out together"
    );
    // Page 1's repositories were handed over before the last page was answered.
    let handed = handed.pages();
    assert_eq!(handed.len(), 4);
    assert_eq!(handed[0].1, names[..100], "page 1 first");
    let last_answered = pages.iter().map(|r| r.at).max().unwrap() + latency;
    assert!(handed[0].0 < last_answered, "page 1 was handed over early");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_shifts_while_read_is_read_again_and_lists_each_repository_once() {
    let hub = hub_with(250);
    let running = hub.start().await.unwrap();
    let client = client(&running.url(), 4);
    let handed = Handed::default();
    // A repository of page 1 is deleted once page 1 is read: pages 2 and 3 then start one
    // repository later, and the pages count one fewer.
    let deleter = hub.clone();
    let mut deleted = false;
    let listed = tokio::time::timeout(
        WAIT,
        client.list_repositories_streaming("acme", |page| {
            if !deleted {
                deleted = deleter.delete_repo("acme", "svc-050");
            }
            handed.note(page);
        }),
    )
    .await
    .expect("the listing ends")
    .unwrap();
    let names: Vec<String> = listed.into_iter().map(|r| r.unwrap().name).collect();
    assert!(deleted);
    assert_eq!(
        names,
        hub.repository_names("acme"),
        "the second read is whole"
    );
    assert_eq!(names.len(), 249);
    let requests = hub.requests();
    let pages = repository_pages(&requests);
    assert_eq!(pages.len(), 6, "two reads of three pages: {pages:?}");
    // The second read followed the Hub's links, one after the other.
    let second: Vec<&str> = pages[3..].iter().map(|r| r.query.as_str()).collect();
    assert_eq!(
        second,
        [
            "page_size=100",
            "page=2&page_size=100",
            "page=3&page_size=100"
        ]
    );
    // The first read handed over the deleted repository; the listing does not hold it.
    let seen: Vec<String> = handed.pages().into_iter().flat_map(|(_, n)| n).collect();
    assert!(seen.iter().any(|n| n == "svc-050"));
    assert!(!names.iter().any(|n| n == "svc-050"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_page_gone_before_it_is_read_makes_the_read_inconsistent_not_failed() {
    let hub = hub_with(250);
    hub.add_fault(
        Fault::new(
            "/namespaces/acme/repositories?page=3",
            FaultKind::Status(404),
        )
        .times(1),
    );
    let running = hub.start().await.unwrap();
    let client = client(&running.url(), 4);
    let names = list(&client, &Handed::default()).await.unwrap();
    assert_eq!(names, hub.repository_names("acme"));
    assert_eq!(repository_pages(&hub.requests()).len(), 6, "read twice");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_whose_pages_never_agree_is_given_up_after_its_reads() {
    let hub = hub_with(250);
    // The last page counts one more than the first, read at once or page by page.
    hub.add_fault(Fault::new(
        "/namespaces/acme/repositories?page=3",
        FaultKind::Count(251),
    ));
    let running = hub.start().await.unwrap();
    let client = client(&running.url(), 4);
    let error = list(&client, &Handed::default()).await.unwrap_err();
    assert!(matches!(error, Error::Inconsistent { .. }), "{error}");
    assert_eq!(
        repository_pages(&hub.requests()).len(),
        3 * READS as usize,
        "each read reads three pages"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_off_the_hub_on_a_later_page_is_refused_and_never_sent_to() {
    let foreign = SimHub::new();
    let foreign_running = foreign.start().await.unwrap();
    let hub = hub_with(250);
    let stolen = format!(
        "{}/v2/namespaces/acme/repositories?page=3&page_size=100",
        foreign_running.url()
    );
    hub.add_fault(Fault::new(
        "/namespaces/acme/repositories?page=2",
        FaultKind::ForeignNext(stolen),
    ));
    let running = hub.start().await.unwrap();
    let client = client(&running.url(), 4);
    let error = list(&client, &Handed::default()).await.unwrap_err();
    assert!(
        matches!(&error, Error::Protocol { reason, .. } if reason.contains("another origin")),
        "{error}"
    );
    assert!(
        foreign.requests().is_empty(),
        "nothing went to the other host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_first_link_that_disagrees_is_followed_page_by_page() {
    let hub = hub_with(250);
    let running = hub.start().await.unwrap();
    // Page 1 links to pages of 50: the pages cannot be counted from page 1, so each is read
    // from the link before it.
    let path = "/v2/namespaces/acme/repositories";
    hub.add_fault(
        Fault::new(
            format!("{path}?page_size=100"),
            FaultKind::ForeignNext(format!("{}{path}?page=2&page_size=50", running.url())),
        )
        .times(1),
    );
    let client = client(&running.url(), 4);
    let names = list(&client, &Handed::default()).await.unwrap();
    assert_eq!(names, hub.repository_names("acme"));
    let queries: Vec<String> = repository_pages(&hub.requests())
        .iter()
        .map(|r| r.query.clone())
        .collect();
    assert_eq!(
        queries,
        [
            "page_size=100",
            "page=2&page_size=50",
            "page=3&page_size=50",
            "page=4&page_size=50",
            "page=5&page_size=50"
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_page_fails_the_listing_once_the_pages_in_flight_are_answered() {
    let hub = hub_with(450);
    // Page 2 fails at once, while pages 3 to 5 are still on their way.
    hub.add_fault(Fault::new(
        "/namespaces/acme/repositories?page=2",
        FaultKind::TruncatedJson,
    ));
    hub.add_fault(Fault::new(
        "/namespaces/acme/repositories?page=",
        FaultKind::Slow(Duration::from_millis(300)),
    ));
    let running = hub.start().await.unwrap();
    let heard = Arc::new(Counted::default());
    let client = Client::new(
        ClientOptions {
            base: url(&running.url()),
            credentials: None,
            rate_limit: 1_000_000,
            burst: 1_000,
            concurrency: 4,
            timeout: Duration::from_secs(10),
        },
        heard.clone(),
    )
    .unwrap();
    let error = list(&client, &Handed::default()).await.unwrap_err();
    assert!(matches!(error, Error::Decode { .. }), "{error}");
    let sent = repository_pages(&hub.requests()).len();
    assert!(sent >= 2, "{sent}");
    assert_eq!(
        *heard.0.lock().unwrap(),
        sent,
        "every request the Hub received was answered and counted"
    );
}

/// Counts the requests answered.
#[derive(Default)]
struct Counted(Mutex<usize>);

impl crate::hub::Observer for Counted {
    fn request(&self, _: Endpoint, _: Option<u16>) {
        *self.0.lock().unwrap() += 1;
    }
    fn rate_limit(&self, _: crate::hub::RateLimitHeader, _: i64) {}
    fn waited(&self, _: Duration) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_read_at_once_is_still_bounded_in_bytes() {
    let hub = SimHub::new();
    hub.set_compression(false);
    // Every page holds 100 repositories of about 1.3 MB in all and counts a billion: far
    // more pages than the listing's byte bound lets it read.
    hub.add_fault(Fault::new(
        "/namespaces/acme/repositories",
        FaultKind::Endless {
            count: 1_000_000_000,
            items: 100,
            fat: 13_000,
        },
    ));
    let running = hub.start().await.unwrap();
    let client = client(&running.url(), 4);
    let error = list(&client, &Handed::default()).await.unwrap_err();
    assert!(
        matches!(&error, Error::Protocol { reason, .. } if reason.contains("bytes")),
        "{error}"
    );
    let pages = repository_pages(&hub.requests()).len();
    let per_page = LISTING_BYTES / (100 * 13_000);
    assert!(
        pages <= per_page + 1 + 4,
        "{pages} pages: no more than the bound and those in flight"
    );
}
