//! Tests of tag listings the Hub cuts short for anonymous readers, against the simulated Hub
//! (which refuses anonymous tag pages past offset 1,000, as the real one does): what such a
//! listing returns, which requests it takes the first time and the times after, and what a
//! token, or a listing that shifts while read, changes.

use std::sync::Arc;
use std::time::Duration;

use simhub::{Fault, FaultKind, Repo, RequestRecord, Shift, SimHub};

use crate::error::Error;
use crate::hub::{Client, ClientOptions, Credentials, Secret, TagListing};

/// Bound on every listing in these tests; generous for a loaded machine.
const WAIT: Duration = Duration::from_secs(30);

/// The repository's tags: more than the 1,000 the Hub lists to anonymous readers.
const TAGS: usize = 1_050;

const TAG_PAGES: &str = "/v2/namespaces/acme/repositories/big/tags";

/// A client of the hub at `url`, as `account` when given.
fn client(url: &str, account: Option<(&str, &str)>) -> Client {
    let options = ClientOptions {
        base: url.parse().unwrap(),
        credentials: account.map(|(username, secret)| Credentials {
            username: username.into(),
            secret: Secret::new(secret),
        }),
        rate_limit: 1_000_000,
        burst: 1_000,
        concurrency: 4,
        timeout: Duration::from_secs(10),
    };
    Client::new(options, Arc::new(())).unwrap()
}

fn hub() -> SimHub {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("big").with_tags(TAGS));
    hub.add_account("acme-bot", "pat", &["acme"]);
    hub
}

async fn list(client: &Client) -> crate::error::Result<TagListing> {
    tokio::time::timeout(WAIT, client.list_tags("acme", "big"))
        .await
        .expect("the listing ends")
        .map(|listed| listed.expect("the repository is there"))
}

/// The tag pages asked for, as their queries.
fn tag_pages(requests: &[RequestRecord]) -> Vec<String> {
    requests
        .iter()
        .filter(|r| r.path == TAG_PAGES)
        .map(|r| r.query.clone())
        .collect()
}

fn names(listing: &TagListing) -> Vec<String> {
    let mut names: Vec<String> = listing.tags.iter().map(|t| t.name.clone()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_listing_is_capped_with_the_newest_tags_and_the_hubs_count() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let client = client(&running.url(), None);
    let listing = list(&client).await.expect("capped, not failed");
    assert_eq!(listing.capped, Some(TAGS as u64));
    assert_eq!(listing.tags.len(), 1_000);
    assert_eq!(
        names(&listing),
        hub.newest_tag_names("acme", "big", 1_000),
        "the newest 1,000"
    );
    let pages = tag_pages(&hub.requests());
    assert_eq!(pages.len(), 11, "ten pages and the one refused: {pages:?}");
    assert!(
        pages.iter().all(|q| q.contains("ordering=last_updated")),
        "every page asks for the most recently updated first: {pages:?}"
    );
    let statuses: Vec<u16> = hub.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses.last(), Some(&403));

    // Read again: the Hub is not asked for the page it refused.
    hub.clear_requests();
    let again = list(&client).await.unwrap();
    assert_eq!((again.capped, again.tags.len()), (Some(TAGS as u64), 1_000));
    let pages = tag_pages(&hub.requests());
    assert_eq!(pages.len(), 10, "ceil(1000 / 100) requests: {pages:?}");
    assert!(!pages.iter().any(|q| q.contains("page=11")), "{pages:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_of_exactly_1000_tags_is_whole() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("big").with_tags(1_000));
    let running = hub.start().await.unwrap();
    let listing = list(&client(&running.url(), None)).await.unwrap();
    assert_eq!((listing.capped, listing.tags.len()), (None, 1_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_token_every_tag_is_listed_and_a_403_is_a_refused_token_with_the_hubs_reason() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let client = client(&running.url(), Some(("acme-bot", "pat")));
    let listing = list(&client).await.unwrap();
    assert_eq!((listing.capped, listing.tags.len()), (None, TAGS));

    let refusal =
        include_str!("../../../tests/fixtures/hub/hub_403_pagination_offset_anonymous.json");
    hub.add_fault(Fault::new(
        "page=11",
        FaultKind::Answer(403, refusal.to_string()),
    ));
    match list(&client).await {
        Err(e @ Error::Auth { .. }) => {
            let text = e.to_string();
            assert!(
                text.contains("HTTP 403") && text.contains("pagination offset too large"),
                "{text}"
            );
        }
        other => panic!("a refused token, not {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_capped_listing_shifted_by_a_push_while_read_is_read_again() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    // A tag pushed before page 2 is served: page 2 repeats the last tag of page 1.
    hub.shift_between_pages("acme", "big", Shift::Push, 1);
    let listing = list(&client(&running.url(), None)).await.unwrap();
    assert_eq!(
        listing.capped,
        Some(TAGS as u64 + 1),
        "the count once it is stable"
    );
    assert_eq!(names(&listing), hub.newest_tag_names("acme", "big", 1_000));
    let pages = tag_pages(&hub.requests());
    assert_eq!(
        pages.len(),
        21,
        "ten pages and the refusal, then ten without the refused one: {pages:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_on_the_first_page_is_no_cap_but_a_failure() {
    let hub = hub();
    hub.add_fault(Fault::new(TAG_PAGES, FaultKind::Status(403)));
    let running = hub.start().await.unwrap();
    assert!(matches!(
        list(&client(&running.url(), None)).await,
        Err(Error::Forbidden { status: 403, .. })
    ));
}
