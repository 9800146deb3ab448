//! Hostile and broken input from the Hub: listings that shift while they are read, listings
//! without end, names that are not names. Each keeps the old data, invents nothing, and
//! leaves the rest of the refresh alone.

use simhub::{Fault, FaultKind, Repo, Shift, SimHub};

use crate::support::*;

/// Requests the simulated Hub received for the tag listing of acme/`repo`.
fn tag_pages(hub: &SimHub, repo: &str) -> usize {
    let path = format!("/v2/namespaces/acme/repositories/{repo}/tags");
    hub.requests().iter().filter(|r| r.path == path).count()
}

/// `dockerhub_tags_{added,removed}_total` of acme/`repo`.
fn changes(m: &str, repo: &str) -> (f64, f64) {
    let counter = |family: &str| {
        value(
            m,
            family,
            &[("hub_namespace", "acme"), ("repository", repo)],
        )
        .unwrap_or(0.0)
    };
    (
        counter("dockerhub_tags_added_total"),
        counter("dockerhub_tags_removed_total"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_that_shifts_while_it_is_read_counts_only_what_really_changed() {
    for (shift, added, removed) in [(Shift::Delete, 0.0, 1.0), (Shift::Push, 1.0, 0.0)] {
        let hub = SimHub::new();
        hub.add_repo("acme", Repo::new("web").with_tags(250));
        let running = hub.start().await.unwrap();
        let exporter = Exporter::start(
            &hub_args(&running.url(), "acme", &["--refresh.interval", "200ms"]),
            None,
        )
        .await;
        exporter.wait_for_refreshes(1).await;
        // The next read of the listing meets a push or a deletion between its pages: offset
        // pagination then repeats an item or skips one.
        let pages_before = tag_pages(&hub, "web");
        hub.shift_between_pages("acme", "web", shift, 1);
        let m = exporter.wait_for(|m| changes(m, "web") != (0.0, 0.0)).await;
        assert!(
            tag_pages(&hub, "web") - pages_before > 3,
            "{shift:?}: the shifted read was read again"
        );
        // A few more refreshes: nothing comes back, nothing else goes.
        let n = refreshes(&m);
        let m = exporter.wait_for_refreshes(n as u64 + 3).await;
        assert_eq!(changes(&m, "web"), (added, removed), "{shift:?}");
        assert_eq!(served_tags(&m, "acme", "web"), hub.tag_names("acme", "web"));
        assert_eq!(
            value(
                &m,
                "dockerhub_refresh_errors_total",
                &[("kind", "inconsistent")]
            ),
            Some(0.0),
            "{shift:?}: the second read added up"
        );
        exporter.stop().await;
    }
}

/// Runs the exporter against a Hub whose tag listing of acme/api is `endless`, and returns
/// the exposition once a refresh with it has finished, and the pages it asked for.
async fn read_endless(endless: FaultKind) -> (String, usize) {
    let hub = fixtures::api_and_web();
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(&running.url(), "acme", &["--refresh.interval", "200ms"]),
        None,
    )
    .await;
    let before = exporter.wait_for_refreshes(1).await;
    let api = served_tags(&before, "acme", "api");
    hub.add_fault(Fault::new("/repositories/api/tags", endless).times(1_000_000));
    let pages_before = tag_pages(&hub, "api");
    let m = exporter.wait_for_result("partial", 1).await;
    exporter.stop().await;
    assert_eq!(
        served_tags(&m, "acme", "api"),
        api,
        "the previous tags stay"
    );
    assert_eq!(served_tags(&m, "acme", "web"), hub.tag_names("acme", "web"));
    assert!(
        value(
            &m,
            "dockerhub_refresh_errors_total",
            &[("kind", "protocol")]
        ) >= Some(1.0)
    );
    assert_eq!(changes(&m, "api"), (0.0, 0.0));
    (m, tag_pages(&hub, "api") - pages_before)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_without_end_stop_at_their_bounds() {
    // Empty pages that always link to another: the first one ends the listing.
    let (_, pages) = read_endless(FaultKind::Endless {
        count: 1_000_000,
        items: 0,
        fat: 0,
    })
    .await;
    assert_eq!(pages, 1, "an empty page with a next link ends it");

    // Full pages past their count: the count of 250 needs 3 pages; 2 more are allowed.
    let (m, pages) = read_endless(FaultKind::Endless {
        count: 250,
        items: 100,
        fat: 0,
    })
    .await;
    assert!(
        (5..=10).contains(&pages),
        "{pages} pages: 5 for the refresh that failed, a few more for one that began"
    );
    assert!(
        served_tags(&m, "acme", "api")
            .iter()
            .all(|t| !t.starts_with("endless"))
    );

    // Fat pages that claim an enormous count: 8 MiB each, 128 MiB in all is the bound.
    let (_, pages) = read_endless(FaultKind::Endless {
        count: 1_000_000_000,
        items: 1,
        fat: 8 << 20,
    })
    .await;
    assert!((16..=40).contains(&pages), "{pages} pages of 8 MiB");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_name_that_is_not_a_name_is_left_out_and_never_read_as_another() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("newline").with_tags(3));
    for hostile in ["new\nline", "new\tline", "..", ".", "a/b", &"x".repeat(300)] {
        hub.add_repo("acme", Repo::new(hostile).with_tags(5));
    }
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&hub_args(&running.url(), "acme", &[]), None).await;
    let m = exporter.wait_for_refreshes(1).await;
    exporter.stop().await;
    assert_eq!(
        served_tags(&m, "acme", "newline"),
        hub.tag_names("acme", "newline"),
        "newline's own tags, read once"
    );
    let repositories: Vec<String> = series(&m, "dockerhub_repository_info")
        .iter()
        .filter_map(|s| s.label("repository").map(str::to_string))
        .collect();
    assert_eq!(repositories, ["newline"]);
    let tag_paths: Vec<String> = hub
        .requests()
        .iter()
        .filter(|r| r.path.ends_with("/tags"))
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(
        tag_paths,
        ["/v2/namespaces/acme/repositories/newline/tags"],
        "no other listing was asked for"
    );
    assert_eq!(
        value(&m, "dockerhub_refreshes_total", &[("result", "partial")]),
        Some(1.0)
    );
    assert_eq!(
        value(&m, "dockerhub_refresh_errors_total", &[("kind", "decode")]),
        Some(6.0),
        "each name left out is counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_listings_are_read_at_once_than_the_concurrency_allows() {
    // Each listing holds its pages until it ends, so the listings read at once bound memory.
    let hub = SimHub::new();
    let names: Vec<String> = (0..6).map(|i| format!("repo-{i}")).collect();
    for name in &names {
        hub.add_repo("acme", Repo::new(name).with_tags(250));
    }
    hub.set_latency(std::time::Duration::from_millis(5));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(&running.url(), "acme", &["--hub.concurrency", "2"]),
        None,
    )
    .await;
    let m = exporter.wait_for_refreshes(1).await;
    exporter.stop().await;
    for name in &names {
        assert_eq!(served_tags(&m, "acme", name).len(), 250, "{name}");
    }

    // A listing is open from its first page request to its last.
    let order: Vec<String> = hub
        .requests()
        .iter()
        .filter_map(|r| r.path.strip_suffix("/tags").map(str::to_string))
        .collect();
    let spans: Vec<(usize, usize)> = names
        .iter()
        .map(|name| {
            let path = format!("/v2/namespaces/acme/repositories/{name}");
            let first = order.iter().position(|p| *p == path).expect("listed");
            let last = order.iter().rposition(|p| *p == path).expect("listed");
            assert_eq!(order.iter().filter(|p| **p == path).count(), 3, "{name}");
            (first, last)
        })
        .collect();
    let most_open = (0..order.len())
        .map(|i| spans.iter().filter(|(a, b)| (*a..=*b).contains(&i)).count())
        .max();
    assert_eq!(most_open, Some(2), "{order:?}");
}
