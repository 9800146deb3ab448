//! Cheaper refreshes, cardinality controls and progress: what is listed, what is exported,
//! and that counts stay exact whatever is left out.

use simhub::{Repo, SimHub, TagSpec};

use crate::support::*;

/// Paths of the tag listings the Hub answered, one per request.
fn tag_requests(hub: &SimHub) -> Vec<String> {
    hub.requests()
        .into_iter()
        .filter(|r| r.path.ends_with("/tags"))
        .map(|r| r.path)
        .collect()
}

fn acme(repos: usize, tags: usize) -> SimHub {
    let hub = SimHub::new();
    for i in 0..repos {
        hub.add_repo("acme", Repo::new(&format!("svc-{i}")).with_tags(tags));
    }
    hub
}

fn fast(url: &str) -> Vec<String> {
    hub_args(
        url,
        "acme",
        &[
            "--refresh.interval",
            "100ms",
            "--hub.rate-limit",
            "100000",
            "--hub.burst",
            "1000",
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn between_full_walks_only_repositories_whose_last_updated_moved_are_listed() {
    let hub = acme(6, 30);
    let running = hub.start().await.unwrap();
    let url = running.url();
    let mut args = fast(&url);
    args.extend(["--refresh.full-interval", "1h"].map(String::from));
    let exporter = Exporter::start(&args, None).await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(
        tag_requests(&hub).len(),
        6,
        "the first refresh is a full walk"
    );

    // Nothing changed: later refreshes list repositories only.
    hub.clear_requests();
    let n = refreshes(&m) as u64;
    exporter.wait_for_refreshes(n + 3).await;
    assert!(tag_requests(&hub).is_empty(), "{:?}", tag_requests(&hub));
    assert!(!hub.requests().is_empty());

    // A push moves last_updated: that repository, and only it, is listed again.
    hub.push_tag("acme", "svc-2", TagSpec::new("2.0.0"));
    let m = exporter
        .wait_for(|m| served_tags(m, "acme", "svc-2").contains(&"2.0.0".to_string()))
        .await;
    let listed = tag_requests(&hub);
    assert!(
        !listed.is_empty() && listed.iter().all(|p| p.contains("/svc-2/")),
        "{listed:?}"
    );
    assert_eq!(
        value(&m, "dockerhub_tags_added_total", &[("repository", "svc-2")]),
        Some(1.0)
    );

    // A deletion that leaves last_updated alone is not seen before the next full walk.
    hub.set_delete_touches_repository(false);
    let victim = hub.tag_names("acme", "svc-4")[0].clone();
    assert!(hub.delete_tag("acme", "svc-4", &victim));
    let n = refreshes(&exporter.metrics().await) as u64;
    let m = exporter.wait_for_refreshes(n + 3).await;
    assert!(served_tags(&m, "acme", "svc-4").contains(&victim));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_next_full_walk_catches_a_deletion_that_left_last_updated_alone() {
    let hub = acme(3, 5);
    hub.set_delete_touches_repository(false);
    let running = hub.start().await.unwrap();
    let url = running.url();
    let mut args = fast(&url);
    args.extend(["--refresh.full-interval", "1s"].map(String::from));
    let exporter = Exporter::start(&args, None).await;
    exporter.wait_for_refreshes(1).await;
    let victim = hub.tag_names("acme", "svc-1")[0].clone();
    assert!(hub.delete_tag("acme", "svc-1", &victim));
    let m = exporter
        .wait_for(|m| !served_tags(m, "acme", "svc-1").contains(&victim))
        .await;
    assert_eq!(
        served_tags(&m, "acme", "svc-1"),
        hub.tag_names("acme", "svc-1")
    );
    assert_eq!(
        value(
            &m,
            "dockerhub_tags_removed_total",
            &[("repository", "svc-1")]
        ),
        Some(1.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn filters_choose_what_is_inventoried_and_counts_stay_exact() {
    let hub = SimHub::new();
    hub.add_repo(
        "acme",
        Repo::new("api")
            .with_tag(TagSpec::new("1.0"))
            .with_tag(TagSpec::new("1.1"))
            .with_tag(TagSpec::new("sha-0a1b2c"))
            .with_tag(TagSpec::new("sha-3d4e5f")),
    );
    hub.add_repo("acme", Repo::new("web").with_tags(5));
    hub.add_repo("acme", Repo::new("internal-tool").with_tags(3));
    let running = hub.start().await.unwrap();
    let url = running.url();
    let mut args = fast(&url);
    args.extend(
        [
            "--filter.repository-exclude",
            "internal-.*",
            "--filter.tag-exclude",
            "sha-[0-9a-f]+",
        ]
        .map(String::from),
    );
    let exporter = Exporter::start(&args, None).await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert!(
        !tag_requests(&hub)
            .iter()
            .any(|p| p.contains("internal-tool")),
        "a filtered-out repository costs no tag requests"
    );
    assert_eq!(
        value(&m, "dockerhub_repositories", &[("hub_namespace", "acme")]),
        Some(3.0),
        "every visible repository is counted"
    );
    assert!(
        !series(&m, "dockerhub_repository_info")
            .iter()
            .any(|s| s.labels.iter().any(|(_, v)| v == "internal-tool"))
    );
    assert_eq!(
        value(&m, "dockerhub_repository_tags", &[("repository", "api")]),
        Some(4.0),
        "the tag count covers every tag"
    );
    assert_eq!(served_tags(&m, "acme", "api"), ["1.0", "1.1"]);
    assert_eq!(served_tags(&m, "acme", "web"), hub.tag_names("acme", "web"));

    // A new tag the filter leaves out counts no change.
    hub.push_tag("acme", "api", TagSpec::new("sha-999999"));
    let m = exporter
        .wait_for(|m| value(m, "dockerhub_repository_tags", &[("repository", "api")]) == Some(5.0))
        .await;
    assert_eq!(
        value(&m, "dockerhub_tags_added_total", &[("repository", "api")]),
        Some(0.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_series_level_and_the_newest_n_limit_per_tag_series_only() {
    let hub = acme(2, 120);
    let running = hub.start().await.unwrap();
    let url = running.url();
    for (extra, tag_series, image_series) in [
        (vec!["--metrics.tags", "none"], 0, 0),
        (vec!["--metrics.tags", "tags"], 240, 0),
        (vec!["--metrics.max-tags-per-repository", "7"], 14, 14),
    ] {
        let mut args = fast(&url);
        args.extend(extra.iter().map(|a| a.to_string()));
        let exporter = Exporter::start(&args, None).await;
        let m = exporter.wait_for_refreshes(1).await;
        assert_eq!(
            series(&m, "dockerhub_tag_info").len(),
            tag_series,
            "{extra:?}"
        );
        let images = series(&m, "dockerhub_image_info");
        assert_eq!(images.is_empty(), image_series == 0, "{extra:?}");
        for repo in ["svc-0", "svc-1"] {
            assert_eq!(
                value(&m, "dockerhub_repository_tags", &[("repository", repo)]),
                Some(120.0),
                "{extra:?}"
            );
        }
        exporter.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_refresh_logs_its_progress_and_shows_it_in_a_gauge() {
    let hub = acme(14, 3);
    let running = hub.start().await.unwrap();
    // One request a second after the first: the refresh takes about 14 seconds.
    let process = Process::start(
        &hub_args(
            &running.url(),
            "acme",
            &[
                "--hub.rate-limit",
                "60",
                "--hub.burst",
                "1",
                "--hub.concurrency",
                "1",
            ],
        ),
        &[],
    )
    .await;
    let during = eventually(|| async {
        let (_, m) = get(&format!("{}/metrics", process.url)).await;
        let ratio = value(&m, "dockerhub_refresh_progress_ratio", &[])?;
        (ratio > 0.0 && ratio < 1.0).then_some(ratio)
    })
    .await;
    assert!(during > 0.0 && during < 1.0);
    let line = eventually(|| async {
        process
            .log()
            .lines()
            .find(|l| l.contains("refresh in progress"))
            .map(str::to_string)
    })
    .await;
    for field in [
        "repositories_done=",
        "repositories_total=14",
        "requests=",
        "quota_wait_seconds=",
        "estimated_seconds_left=",
    ] {
        assert!(line.contains(field), "{field} missing in {line}");
    }
    let m = process.metrics_after_refreshes(1.0).await;
    assert_eq!(
        value(&m, "dockerhub_refresh_progress_ratio", &[]),
        Some(1.0)
    );
    assert!(process.terminate().await.success());
}
