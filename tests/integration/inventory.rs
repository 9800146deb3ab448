//! The inventory served equals what the Hub holds, read with the fewest requests.

use simhub::{Repo, SimHub, TagSpec};

use crate::support::*;

/// The requests a full walk needs: repository pages plus, per repository, its tag pages
/// (an empty repository still takes one).
fn minimum_requests(repos: usize, tags_per_repo: &[usize]) -> usize {
    repos.div_ceil(100)
        + tags_per_repo
            .iter()
            .map(|t| t.div_ceil(100).max(1))
            .sum::<usize>()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_repository_and_tag_of_a_namespace_larger_than_one_page_is_served() {
    let hub = SimHub::new();
    let sizes = [0usize, 100, 101, 250, 1, 3];
    for (i, n) in sizes.iter().enumerate() {
        hub.add_repo("acme", Repo::new(&format!("sized-{n}-{i}")).with_tags(*n));
    }
    for i in 0..99 {
        hub.add_repo("acme", Repo::new(&format!("svc-{i:03}")).with_tags(i % 4));
    }
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(
            &running.url(),
            "acme",
            &["--hub.rate-limit", "100000", "--hub.burst", "1000"],
        ),
        None,
    )
    .await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    let repos = hub.repository_names("acme");
    assert_eq!(repos.len(), 105);
    assert_eq!(
        value(&m, "dockerhub_repositories", &[("hub_namespace", "acme")]),
        Some(105.0)
    );
    let mut tag_counts = Vec::new();
    for repo in &repos {
        let truth = hub.tag_names("acme", repo);
        tag_counts.push(truth.len());
        assert_eq!(
            value(
                &m,
                "dockerhub_repository_tags",
                &[("hub_namespace", "acme"), ("repository", repo)]
            ),
            Some(truth.len() as f64),
            "{repo}"
        );
        assert_eq!(served_tags(&m, "acme", repo), truth, "{repo}");
    }
    // The digest served is the Hub's, for every tag.
    for s in series(&m, "dockerhub_tag_info") {
        let label = |name: &str| s.label(name).expect("the label is there");
        assert_eq!(
            Some(label("digest").to_string()),
            hub.tag_digest("acme", label("repository"), label("tag"))
        );
    }
    let requests = hub.requests();
    assert!(
        requests.iter().all(|r| r.query.contains("page_size=100")),
        "every listing asks for 100 a page"
    );
    assert_eq!(
        requests.len(),
        minimum_requests(repos.len(), &tag_counts),
        "no request beyond the minimum"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn private_repositories_are_served_with_credentials_and_not_without() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("public-api").with_tags(2));
    hub.add_repo("acme", Repo::new("secret-api").private().with_tags(3));
    hub.add_account("acme-bot", "dckr_pat_private", &["acme"]);
    let running = hub.start().await.unwrap();
    let url = running.url();

    let anonymous = Exporter::start(&hub_args(&url, "acme", &[]), None).await;
    let m = anonymous.wait_for_refreshes(1).await;
    assert_eq!(
        value(&m, "dockerhub_repositories", &[("hub_namespace", "acme")]),
        Some(1.0)
    );
    assert!(served_tags(&m, "acme", "secret-api").is_empty());
    anonymous.stop().await;

    let authenticated = Exporter::start(
        &hub_args(&url, "acme", &["--hub.username", "acme-bot"]),
        Some("dckr_pat_private"),
    )
    .await;
    let m = authenticated.wait_for_refreshes(1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert_eq!(
        value(&m, "dockerhub_repositories", &[("hub_namespace", "acme")]),
        Some(2.0)
    );
    assert_eq!(
        served_tags(&m, "acme", "secret-api"),
        hub.tag_names("acme", "secret-api")
    );
    assert_eq!(
        value(
            &m,
            "dockerhub_repository_info",
            &[("repository", "secret-api"), ("private", "true")]
        ),
        Some(1.0)
    );
    authenticated.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn platform_images_are_served_without_attestations() {
    let hub = SimHub::new();
    hub.add_repo(
        "library",
        Repo::new("nginx").with_tag(
            TagSpec::new("1.27.3")
                .platform("linux", "amd64", None)
                .platform("linux", "arm64", Some("v8"))
                .attestation()
                .never_pulled(),
        ),
    );
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&hub_args(&running.url(), "library", &[]), None).await;
    let m = exporter.wait_for_refreshes(1).await;
    let images = series(&m, "dockerhub_image_info");
    let mut platforms: Vec<String> = images
        .iter()
        .map(|s| {
            let label = |name: &str| s.label(name).expect("the label is there");
            format!(
                "{}/{}/{}",
                label("os"),
                label("architecture"),
                label("variant")
            )
        })
        .collect();
    platforms.sort();
    assert_eq!(platforms, ["linux/amd64/", "linux/arm64/v8"]);
    assert!(
        value(
            &m,
            "dockerhub_tag_last_pulled_timestamp_seconds",
            &[("tag", "1.27.3")]
        )
        .is_none()
    );
    assert!(
        value(
            &m,
            "dockerhub_tag_last_pushed_timestamp_seconds",
            &[("tag", "1.27.3")]
        )
        .is_some()
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_and_deletes_show_after_the_next_refresh() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(5));
    hub.add_repo("acme", Repo::new("web").with_tags(1));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(&running.url(), "acme", &["--refresh.interval", "200ms"]),
        None,
    )
    .await;
    exporter.wait_for_refreshes(1).await;
    let gone = hub.tag_names("acme", "api")[0].clone();
    assert!(hub.delete_tag("acme", "api", &gone));
    hub.push_tag("acme", "api", TagSpec::new("v9.9.9"));
    assert!(hub.delete_repo("acme", "web"));
    let m = exporter
        .wait_for(|m| served_tags(m, "acme", "api") == hub.tag_names("acme", "api"))
        .await;
    assert!(!served_tags(&m, "acme", "api").contains(&gone));
    assert!(served_tags(&m, "acme", "web").is_empty());
    assert_eq!(
        value(&m, "dockerhub_repositories", &[("hub_namespace", "acme")]),
        Some(1.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_the_hub_marks_inactive_are_counted_per_repository() {
    let month_and_more = std::time::Duration::from_secs(45 * 86_400);
    let hub = SimHub::new();
    let mut stale = Repo::new("stale").with_tag(TagSpec::new("fresh"));
    for i in 0..3 {
        stale = stale.with_tag(
            TagSpec::new(&format!("old-{i}"))
                .pushed_ago(month_and_more)
                .never_pulled(),
        );
    }
    hub.add_repo("acme", stale);
    hub.add_repo("acme", Repo::new("busy").with_tags(4));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&hub_args(&running.url(), "acme", &[]), None).await;
    let m = exporter.wait_for_refreshes(1).await;
    let inactive = |repo: &str| {
        value(
            &m,
            "dockerhub_repository_tags_inactive",
            &[("hub_namespace", "acme"), ("repository", repo)],
        )
    };
    assert_eq!(inactive("stale"), Some(3.0));
    assert_eq!(inactive("busy"), Some(0.0));
    exporter.stop().await;
}
