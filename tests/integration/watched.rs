//! Repositories named on their own (`--hub.repository`), from namespaces that are not walked:
//! read exactly through every page, their tag pattern limiting series and change tracking but
//! not the count, a missing one leaving the rest alone.

use simhub::{Repo, SimHub, TagSpec};

use crate::support::*;

/// `library/nginx` with 250 tags (three pages) of which a few are 1.27 versions,
/// `library/redis` (never to be read), `bitnami/postgresql`, and `acme/api`.
fn hub() -> SimHub {
    let hub = SimHub::new();
    let mut nginx = Repo::new("nginx").with_tags(244);
    for tag in ["1.27", "1.27.0", "1.27.1", "1.28.0", "latest", "mainline"] {
        nginx = nginx.with_tag(TagSpec::new(tag));
    }
    hub.add_repo("library", nginx);
    hub.add_repo("library", Repo::new("redis").with_tags(5));
    hub.add_repo("bitnami", Repo::new("postgresql").with_tags(4));
    hub.add_repo("acme", Repo::new("api").with_tags(3));
    hub
}

/// Requests for `path`, exactly.
fn requests_for(hub: &SimHub, path: &str) -> usize {
    hub.requests().iter().filter(|r| r.path == path).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_named_repository_is_read_whole_its_pattern_limits_series_and_changes_not_the_count() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(
            &running.url(),
            "acme",
            &[
                "--hub.repository",
                r"nginx:1\.27(\..*)?",
                "--hub.repository",
                "bitnami/postgresql",
                "--refresh.interval",
                "200ms",
            ],
        ),
        None,
    )
    .await;
    let m = exporter.wait_for_result("success", 1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    let count = |m: &str, ns: &str, repo: &str| {
        value(
            m,
            "dockerhub_repository_tags",
            &[("hub_namespace", ns), ("repository", repo)],
        )
    };
    assert_eq!(count(&m, "library", "nginx"), Some(250.0), "every page");
    assert_eq!(count(&m, "bitnami", "postgresql"), Some(4.0));
    assert_eq!(count(&m, "acme", "api"), Some(3.0));
    assert_eq!(count(&m, "library", "redis"), None, "library is not walked");
    assert_eq!(
        served_tags(&m, "library", "nginx"),
        ["1.27", "1.27.0", "1.27.1"],
        "the pattern chooses the per-tag series"
    );
    assert_eq!(served_tags(&m, "bitnami", "postgresql").len(), 4);
    for (ns, repo) in [("library", "nginx"), ("bitnami", "postgresql")] {
        assert_eq!(
            value(
                &m,
                "dockerhub_repository_watched",
                &[("hub_namespace", ns), ("repository", repo)]
            ),
            Some(1.0)
        );
    }
    assert_eq!(
        value(&m, "dockerhub_repository_watched", &[("repository", "api")]),
        None
    );
    assert_eq!(
        requests_for(&hub, "/v2/namespaces/library/repositories"),
        0,
        "no listing of library"
    );
    assert!(requests_for(&hub, "/v2/namespaces/library/repositories/nginx") >= 1);
    assert_eq!(
        requests_for(&hub, "/v2/namespaces/library/repositories/redis/tags"),
        0
    );

    // A version tag the pattern chooses moves: a change. One it leaves out moves: none.
    let refreshes = value(&m, "dockerhub_refreshes_total", &[("result", "success")]).unwrap();
    hub.repush_tag("library", "nginx", "1.27.1").unwrap();
    hub.repush_tag("library", "nginx", "1.28.0").unwrap();
    hub.repush_tag("library", "nginx", "latest").unwrap();
    let m = exporter
        .wait_for_result("success", refreshes as u64 + 2)
        .await;
    assert_eq!(
        value(
            &m,
            "dockerhub_tags_updated_total",
            &[("hub_namespace", "library"), ("repository", "nginx")]
        ),
        Some(1.0),
        "only 1.27.1 counts"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_repository_is_counted_and_the_rest_is_read() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_only(
            &running.url(),
            &[
                "--hub.repository",
                "library/nginx",
                "--hub.repository",
                "library/gone",
                "--hub.repository",
                "nobody/nothing",
            ],
        ),
        None,
    )
    .await;
    let m = exporter.wait_for_result("partial", 1).await;
    assert_eq!(
        value(&m, "dockerhub_up", &[]),
        Some(0.0),
        "not everything was read"
    );
    assert!(
        value(
            &m,
            "dockerhub_refresh_errors_total",
            &[("kind", "not_found")]
        ) >= Some(2.0),
        "{m}"
    );
    assert_eq!(
        value(
            &m,
            "dockerhub_repository_tags",
            &[("hub_namespace", "library"), ("repository", "nginx")]
        ),
        Some(250.0)
    );
    assert_eq!(
        value(
            &m,
            "dockerhub_repositories",
            &[("hub_namespace", "library")]
        ),
        Some(1.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_inside_a_listed_namespace_is_read_once_and_a_username_implies_nothing() {
    let hub = hub();
    hub.add_account("acme-bot", "dckr_pat_watch", &["acme"]);
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_only(
            &running.url(),
            &[
                "--hub.username",
                "acme-bot",
                "--hub.namespace",
                "library",
                "--hub.repository",
                r"nginx:1\.27",
            ],
        ),
        Some("dckr_pat_watch"),
    )
    .await;
    let m = exporter.wait_for_result("success", 1).await;
    exporter.stop().await;
    assert_eq!(
        requests_for(&hub, "/v2/namespaces/library/repositories/nginx"),
        0,
        "no details: the listing of library has them"
    );
    assert_eq!(
        requests_for(&hub, "/v2/namespaces/acme/repositories"),
        0,
        "with a namespace given, the username's is not read"
    );
    assert_eq!(served_tags(&m, "library", "nginx"), ["1.27"]);
    assert_eq!(served_tags(&m, "library", "redis").len(), 5);
}

#[test]
fn nothing_to_inventory_exits_2_naming_both_flags() {
    let out = std::process::Command::new(BIN)
        .args(["--hub.url", "http://127.0.0.1:1"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("--hub.namespace") && said.contains("--hub.repository"),
        "{said}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_environment_names_repositories_as_a_list() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_only(&running.url(), &[]),
        &[(
            "DOCKERHUB_REPOSITORIES",
            r"library/nginx:1\.2[0-9]{1,2}(\..*)?,bitnami/postgresql",
        )],
    )
    .await;
    let m = process.metrics_after_refreshes(1.0).await;
    assert_eq!(
        served_tags(&m, "library", "nginx"),
        ["1.27", "1.27.0", "1.27.1", "1.28.0"]
    );
    assert_eq!(served_tags(&m, "bitnami", "postgresql").len(), 4);
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn between_full_walks_a_named_repository_is_listed_only_when_its_details_moved() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_only(
            &running.url(),
            &[
                "--hub.repository",
                "bitnami/postgresql",
                "--refresh.interval",
                "200ms",
                "--refresh.full-interval",
                "1h",
            ],
        ),
        None,
    )
    .await;
    let tags_path = "/v2/namespaces/bitnami/repositories/postgresql/tags";
    let details_path = "/v2/namespaces/bitnami/repositories/postgresql";
    exporter.wait_for_refreshes(1).await;
    let listed = requests_for(&hub, tags_path);
    let m = exporter.wait_for_refreshes(3).await;
    assert!(
        requests_for(&hub, details_path) >= 3,
        "details every refresh"
    );
    assert_eq!(
        requests_for(&hub, tags_path),
        listed,
        "unchanged details: no tag pages"
    );
    assert_eq!(served_tags(&m, "bitnami", "postgresql").len(), 4);

    hub.push_tag("bitnami", "postgresql", TagSpec::new("17.0"));
    let m = exporter
        .wait_for(|m| served_tags(m, "bitnami", "postgresql").len() == 5)
        .await;
    assert!(requests_for(&hub, tags_path) > listed);
    assert_eq!(
        value(
            &m,
            "dockerhub_tags_added_total",
            &[("hub_namespace", "bitnami"), ("repository", "postgresql")]
        ),
        Some(1.0)
    );
    exporter.stop().await;
}
