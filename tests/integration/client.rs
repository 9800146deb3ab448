//! The Hub client as seen from outside: requests counted by endpoint and status, transient
//! failures retried, oversized and duplicated pages handled, `X-RateLimit-Remaining: 0`
//! obeyed, and the binary's signals, environment and failure logs.

use std::time::Duration;

use simhub::{Fault, FaultKind, Repo, SimHub, TagSpec};

use crate::support::*;

/// The largest body the exporter reads, as docs/operations.md states it.
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The endpoint label the exporter should count a request to `path` under.
fn endpoint_of(path: &str) -> Option<&'static str> {
    if path.ends_with("/tags") {
        Some("tags")
    } else if path.ends_with("/repositories") {
        Some("repositories")
    } else if path == "/v2/auth/token" || path == "/v2/users/login" {
        Some("auth")
    } else {
        None
    }
}

/// How many requests the Hub recorded for `endpoint` and answered with `status`.
fn recorded(hub: &SimHub, endpoint: &str, status: u16) -> usize {
    hub.requests()
        .iter()
        .filter(|r| endpoint_of(&r.path) == Some(endpoint) && r.status == status)
        .count()
}

/// `dockerhub_api_requests_total` for one endpoint and code, 0 when the series is absent.
fn counted(metrics: &str, endpoint: &str, code: &str) -> usize {
    value(
        metrics,
        "dockerhub_api_requests_total",
        &[("endpoint", endpoint), ("code", code)],
    )
    .unwrap_or(0.0) as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_are_counted_per_endpoint_exactly_as_the_hub_received_them() {
    let hub = SimHub::new();
    // 250 tags are three pages of 100.
    hub.add_repo("acme", Repo::new("api").with_tags(250));
    hub.add_repo("acme", Repo::new("web").with_tags(3));
    hub.add_repo("beta", Repo::new("tool").with_tags(1));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&hub_args(&running.url(), "acme,beta", &[]), None).await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert_eq!(
        recorded(&hub, "repositories", 200),
        2,
        "one page a namespace"
    );
    assert_eq!(recorded(&hub, "tags", 200), 3 + 1 + 1, "five tag pages");
    for endpoint in ["repositories", "tags"] {
        assert_eq!(
            counted(&m, endpoint, "200"),
            recorded(&hub, endpoint, 200),
            "{endpoint}"
        );
    }
    assert_eq!(counted(&m, "auth", "200"), 0, "anonymous: no login");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_are_asked_for_gzipped_and_read_the_same_compressed_or_not() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(250));
    hub.add_repo("acme", Repo::new("web").with_tags(3));
    let running = hub.start().await.unwrap();
    let mut served = Vec::new();
    for compression in [true, false] {
        hub.set_compression(compression);
        hub.clear_requests();
        let exporter = Exporter::start(&hub_args(&running.url(), "acme", &[]), None).await;
        let m = exporter.wait_for_refreshes(1).await;
        exporter.stop().await;
        let requests = hub.requests();
        assert!(
            requests.iter().all(|r| r.accepts_gzip),
            "every request asks for gzip"
        );
        let bytes: u64 = requests.iter().map(|r| r.body_bytes).sum();
        assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
        assert_eq!(served_tags(&m, "acme", "api"), hub.tag_names("acme", "api"));
        served.push((served_tags(&m, "acme", "api"), bytes));
    }
    let (compressed, plain) = (&served[0], &served[1]);
    assert_eq!(compressed.0, plain.0, "the same tags either way");
    assert!(
        compressed.1 * 3 < plain.1,
        "compressed pages are several times smaller: {} against {} bytes",
        compressed.1,
        plain.1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_are_counted_under_the_auth_endpoint() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").private().with_tags(2));
    hub.add_account("acme-bot", "dckr_pat_x", &["acme"]);
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(&running.url(), "acme", &["--hub.username", "acme-bot"]),
        Some("dckr_pat_x"),
    )
    .await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert_eq!(served_tags(&m, "acme", "api").len(), 2, "the login worked");
    let logins = recorded(&hub, "auth", 200);
    assert!(logins >= 1, "the exporter logged in");
    assert_eq!(counted(&m, "auth", "200"), logins);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_reset_mid_body_is_counted_as_an_error_and_retried() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(5));
    hub.add_fault(Fault::new("/repositories/api/tags", FaultKind::ResetMidBody).times(1));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&hub_args(&running.url(), "acme", &[]), None).await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(counted(&m, "tags", "error"), 1);
    // The Hub recorded the reset answer as a 200 (its headers said so); the exporter never
    // got the whole body, so it counts that one as an error and the retry as a 200.
    assert_eq!(counted(&m, "tags", "200"), recorded(&hub, "tags", 200) - 1);
    assert_eq!(
        value(&m, "dockerhub_refreshes_total", &[("result", "success")]),
        Some(1.0)
    );
    assert_eq!(served_tags(&m, "acme", "api"), hub.tag_names("acme", "api"));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_503_that_passes_is_retried_and_the_refresh_succeeds() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(7));
    hub.add_repo("acme", Repo::new("web").with_tags(2));
    hub.add_fault(Fault::new("/repositories/api/tags", FaultKind::Status(503)).times(2));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&hub_args(&running.url(), "acme", &[]), None).await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(recorded(&hub, "tags", 503), 2, "both 503s were met");
    assert_eq!(counted(&m, "tags", "503"), 2);
    assert_eq!(
        value(&m, "dockerhub_refreshes_total", &[("result", "success")]),
        Some(1.0)
    );
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert_eq!(served_tags(&m, "acme", "api"), hub.tag_names("acme", "api"));
    assert_eq!(served_tags(&m, "acme", "web"), hub.tag_names("acme", "web"));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_huge_body_fails_only_its_listing_and_the_exporter_keeps_serving() {
    let hub = fixtures::api_and_web();
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(&running.url(), "acme", &["--refresh.interval", "200ms"]),
        None,
    )
    .await;
    let api_before = served_tags(&exporter.wait_for_refreshes(1).await, "acme", "api");
    assert_eq!(api_before, hub.tag_names("acme", "api"));

    hub.add_fault(Fault::new(
        "/repositories/api/tags",
        FaultKind::Huge(4 * BODY_LIMIT),
    ));
    hub.push_tag("acme", "api", TagSpec::new("api-new"));
    hub.push_tag("acme", "web", TagSpec::new("web-new"));
    let m = exporter.wait_for_result("partial", 1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(0.0));
    assert_eq!(
        served_tags(&m, "acme", "api"),
        api_before,
        "the oversized listing keeps its previous tags"
    );
    assert_eq!(
        served_tags(&m, "acme", "web"),
        hub.tag_names("acme", "web"),
        "the other listing is current"
    );
    assert!(
        counted(&m, "tags", "error") >= 1,
        "refused for its size before being read, not read and then found invalid"
    );
    let (status, body) = get(&format!("{}/healthz", exporter.url)).await;
    assert_eq!((status, body.as_str()), (200, "ok\n"));

    hub.clear_faults();
    let m = exporter
        .wait_for(|m| value(m, "dockerhub_up", &[]) == Some(1.0))
        .await;
    assert_eq!(served_tags(&m, "acme", "api"), hub.tag_names("acme", "api"));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_repeated_on_the_next_page_is_counted_once() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(150));
    let running = hub.start().await.unwrap();
    // Page 1 holds tags 1-100; its `next` asks for page 2 of 99-tag pages, which starts at
    // tag 100 again: the overlap a push between the two page requests produces on the Hub.
    let tags = "/v2/namespaces/acme/repositories/api/tags";
    hub.add_fault(
        Fault::new(
            format!("{tags}?page_size=100"),
            FaultKind::ForeignNext(format!("{}{tags}?page=2&page_size=99", running.url())),
        )
        .times(1),
    );
    let exporter = Exporter::start(&hub_args(&running.url(), "acme", &[]), None).await;
    let m = exporter.wait_for_refreshes(1).await;
    let pages: Vec<(String, u16)> = hub
        .requests()
        .iter()
        .filter(|r| r.path == tags)
        .map(|r| (r.query.clone(), r.status))
        .collect();
    assert_eq!(
        pages,
        [
            ("page_size=100&ordering=last_updated".to_string(), 200),
            ("page=2&page_size=99".to_string(), 200)
        ],
        "the two pages overlap by one tag"
    );
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert_eq!(
        value(
            &m,
            "dockerhub_repository_tags",
            &[("hub_namespace", "acme"), ("repository", "api")]
        ),
        Some(150.0)
    );
    assert_eq!(served_tags(&m, "acme", "api"), hub.tag_names("acme", "api"));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_exhausted_rate_limit_window_pauses_requests_until_its_reset() {
    let hub = SimHub::new();
    for i in 0..11 {
        hub.add_repo("acme", Repo::new(&format!("svc-{i:02}")).with_tags(1));
    }
    // Every answer carries X-RateLimit-Remaining and X-RateLimit-Reset (the window's end);
    // the fifth request of a window is answered with Remaining 0, the sixth would get a 429.
    hub.set_rate_limit(5, Duration::from_secs(2));
    let running = hub.start().await.unwrap();
    // The exporter's own quota is far above the Hub's: only the headers can hold it back.
    let exporter =
        Exporter::start(&hub_args(&running.url(), "acme", &ONLY_THE_HUB_PACES), None).await;
    let m = exporter.wait_for_refreshes(1).await;
    let statuses: Vec<u16> = hub.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses.len(), 12, "more requests than one window allows");
    assert!(
        statuses.iter().all(|s| *s == 200),
        "a request was sent into an exhausted window: {statuses:?}"
    );
    assert_eq!(value(&m, "dockerhub_api_throttled_total", &[]), Some(0.0));
    assert_eq!(
        value(&m, "dockerhub_refreshes_total", &[("result", "success")]),
        Some(1.0)
    );
    for i in 0..11 {
        let repo = format!("svc-{i:02}");
        assert_eq!(served_tags(&m, "acme", &repo), hub.tag_names("acme", &repo));
    }
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigint_stops_the_binary_with_success() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(1));
    let running = hub.start().await.unwrap();
    let mut process = Process::start(&hub_args(&running.url(), "acme", &[]), &[]).await;
    process.metrics_after_refreshes(1.0).await;
    let pid = process.child.id().expect("still running").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(10), process.child.wait())
        .await
        .expect("the exporter stops within seconds of SIGINT")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(process.log().contains("shutting down"), "{}", process.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dockerhub_namespaces_with_spaces_inventories_every_namespace() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(2));
    hub.add_repo("beta", Repo::new("tool").with_tags(3));
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_only(&running.url(), &[]),
        &[("DOCKERHUB_NAMESPACES", "acme, beta")],
    )
    .await;
    let m = process.metrics_after_refreshes(1.0).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    for (namespace, repo) in [("acme", "api"), ("beta", "tool")] {
        assert_eq!(
            value(
                &m,
                "dockerhub_repositories",
                &[("hub_namespace", namespace)]
            ),
            Some(1.0),
            "{namespace}"
        );
        assert_eq!(
            served_tags(&m, namespace, repo),
            hub.tag_names(namespace, repo)
        );
    }
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_answer_is_logged_with_the_url_of_its_listing() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(3));
    hub.add_repo("acme", Repo::new("web").with_tags(2));
    hub.add_fault(Fault::new(
        "/repositories/api/tags",
        FaultKind::TruncatedJson,
    ));
    let running = hub.start().await.unwrap();
    let process = Process::start(&hub_args(&running.url(), "acme", &[]), &[]).await;
    let m = process.metrics_after_refreshes(1.0).await;
    assert_eq!(
        value(&m, "dockerhub_refreshes_total", &[("result", "partial")]),
        Some(1.0)
    );
    let url = format!("{}/v2/namespaces/acme/repositories/api/tags", running.url());
    // The failure is logged when the refresh finishes; the log may lag the exposition.
    let line = eventually(|| async {
        process
            .log()
            .lines()
            .find(|l| l.contains("level=warn") && l.contains(&url))
            .map(str::to_string)
    })
    .await;
    assert!(line.contains("not valid"), "{line}");
    assert!(
        !process.log().contains("/repositories/web/tags"),
        "only the failed listing is named"
    );
    process.terminate().await;
}
