//! Faults survived: for each, the exporter keeps serving the last good inventory (no tag lost,
//! none invented), `dockerhub_up` is 0 while the fault lasts, the cause is counted in
//! `dockerhub_refresh_errors_total{kind}` and logged once per refresh, and the exporter
//! recovers by itself when the fault ends.

use simhub::{Fault, FaultKind, Repo, SimHub};

use crate::support::*;

const REPOS: [&str; 3] = ["api", "db", "web"];

fn hub() -> SimHub {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(3));
    hub.add_repo("acme", Repo::new("db").with_tags(2));
    hub.add_repo("acme", Repo::new("web").with_tags(150));
    hub
}

fn unfinished(m: &str) -> f64 {
    ["partial", "failure"]
        .iter()
        .map(|r| value(m, "dockerhub_refreshes_total", &[("result", r)]).unwrap_or(0.0))
        .sum()
}

async fn metrics(process: &Process) -> String {
    get(&format!("{}/metrics", process.url)).await.1
}

/// Runs the exporter through one fault and checks everything the module promises.
async fn survives(faults: Vec<Fault>, kind: &str) {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_args(
            &running.url(),
            "acme",
            &[
                "--refresh.interval",
                "300ms",
                "--hub.timeout",
                "1s",
                "--hub.rate-limit",
                "100000",
                "--hub.burst",
                "1000",
            ],
        ),
        &[],
    )
    .await;
    // The baseline is a refresh that read everything; under load a first refresh may lose a
    // request to the 1 s time limit, so wait for one that did (`dockerhub_up` 1).
    process.metrics_after_refreshes(1.0).await;
    let good = eventually(|| async {
        let m = metrics(&process).await;
        (value(&m, "dockerhub_up", &[]) == Some(1.0)).then_some(m)
    })
    .await;
    let before: Vec<Vec<String>> = REPOS
        .iter()
        .map(|r| served_tags(&good, "acme", r))
        .collect();

    for fault in faults {
        hub.add_fault(fault);
    }
    let m = eventually(|| async {
        let m = metrics(&process).await;
        (unfinished(&m) >= 2.0).then_some(m)
    })
    .await;
    let label = kind.to_string();
    for (repo, tags) in REPOS.iter().zip(&before) {
        assert_eq!(
            &served_tags(&m, "acme", repo),
            tags,
            "{label}: {repo} as before"
        );
    }
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(0.0), "{label}");
    assert!(
        value(&m, "dockerhub_refresh_errors_total", &[("kind", kind)]) >= Some(1.0),
        "{label}: counted"
    );
    let failed_refreshes = unfinished(&m);
    let log = process.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("listings failed") && l.contains(&format!("kind={kind}")))
        .count();
    assert!(lines >= 1, "{label}: logged\n{log}");
    assert!(
        lines as f64 <= failed_refreshes + 1.0,
        "{label}: logged once per refresh, not per request ({lines} lines, {failed_refreshes} refreshes)"
    );

    hub.clear_faults();
    let m = eventually(|| async {
        let m = metrics(&process).await;
        (value(&m, "dockerhub_up", &[]) == Some(1.0)).then_some(m)
    })
    .await;
    for repo in REPOS {
        assert_eq!(
            served_tags(&m, "acme", repo),
            hub.tag_names("acme", repo),
            "{label}: recovered"
        );
    }
    assert!(refreshes(&m) > failed_refreshes);
    // Nothing changed at the Hub: nothing may have been counted as added or removed.
    for family in [
        "dockerhub_tags_added_total",
        "dockerhub_tags_removed_total",
        "dockerhub_tags_updated_total",
        "dockerhub_repositories_added_total",
        "dockerhub_repositories_removed_total",
    ] {
        let counted: f64 = series(&m, family).iter().map(|s| s.value).sum();
        assert_eq!(counted, 0.0, "{label}: {family}");
    }
    assert!(process.terminate().await.success());
}

fn on(path: &str, kind: FaultKind) -> Vec<Fault> {
    vec![Fault::new(path, kind)]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_on_every_route_and_on_one_repository() {
    for status in [500, 502, 503] {
        survives(
            on("/repositories/web/tags", FaultKind::Status(status)),
            "server",
        )
        .await;
    }
    survives(on("/acme/", FaultKind::Status(503)), "server").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_bodies_truncated_or_wrong_shaped_json_html_with_200_a_huge_body_and_a_gzip_bomb() {
    survives(
        on("/repositories/api/tags", FaultKind::TruncatedJson),
        "decode",
    )
    .await;
    survives(
        on("/namespaces/acme/repositories?", FaultKind::TruncatedJson),
        "decode",
    )
    .await;
    survives(on("/repositories/db/tags", FaultKind::HtmlOk), "decode").await;
    survives(
        on("/repositories/web/tags", FaultKind::WrongShape),
        "decode",
    )
    .await;
    survives(
        on("/repositories/api/tags", FaultKind::Huge(20 << 20)),
        "protocol",
    )
    .await;
    // A 200 that is not a page is never read as an empty listing, on the tags or on the
    // repository listing.
    for body in [
        r#"{"count":5,"next":null}"#,
        r#"{"detail":"maintenance"}"#,
        "{}",
    ] {
        let answer = || FaultKind::Answer(200, body.to_string());
        survives(on("/repositories/web/tags", answer()), "decode").await;
        survives(on("/namespaces/acme/repositories?", answer()), "decode").await;
    }
    // Small on the wire, 64 MiB once inflated: the body limit counts what is inflated.
    survives(
        on("/repositories/db/tags", FaultKind::GzipBomb(64 << 20)),
        "protocol",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listings_that_never_add_up_keep_their_previous_data() {
    // One tag served, 250 promised, no next page: the rest is not taken for deleted.
    survives(
        on("/repositories/api/tags", FaultKind::Count(250)),
        "inconsistent",
    )
    .await;
    survives(
        on("/namespaces/acme/repositories?", FaultKind::Count(40)),
        "inconsistent",
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_answers_resets_and_hostile_next_links() {
    let slow = FaultKind::Slow(std::time::Duration::from_secs(3));
    survives(on("/repositories/api/tags", slow), "timeout").await;
    survives(
        on("/repositories/db/tags", FaultKind::ResetMidBody),
        "transport",
    )
    .await;
    survives(
        on("/repositories/web/tags", FaultKind::LoopNext),
        "protocol",
    )
    .await;
    let foreign = FaultKind::ForeignNext(
        "http://198.51.100.7/v2/namespaces/acme/repositories/web/tags?page=2".into(),
    );
    survives(on("/repositories/web/tags", foreign), "protocol").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_unreachable_at_start_then_back_and_then_gone_mid_run() {
    // A port with nothing behind it, taken over by the simulated Hub later.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let hub = hub();
    let process = Process::start(
        &hub_args(
            &format!("http://127.0.0.1:{port}"),
            "acme",
            &["--refresh.interval", "300ms"],
        ),
        &[],
    )
    .await;
    let m = eventually(|| async {
        let m = metrics(&process).await;
        (unfinished(&m) >= 1.0).then_some(m)
    })
    .await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(0.0));
    assert!(
        value(
            &m,
            "dockerhub_refresh_errors_total",
            &[("kind", "transport")]
        ) >= Some(1.0)
    );
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    let serving = {
        let hub = hub.clone();
        tokio::spawn(async move { hub.serve(listener).await })
    };
    let m = eventually(|| async {
        let m = metrics(&process).await;
        (value(&m, "dockerhub_up", &[]) == Some(1.0)).then_some(m)
    })
    .await;
    let known = served_tags(&m, "acme", "web");
    assert_eq!(known, hub.tag_names("acme", "web"));
    // The Hub goes away: the inventory stays.
    serving.abort();
    let _ = serving.await;
    let m = eventually(|| async {
        let m = metrics(&process).await;
        (value(&m, "dockerhub_up", &[]) == Some(0.0)).then_some(m)
    })
    .await;
    assert_eq!(served_tags(&m, "acme", "web"), known);
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_storm_of_429s_on_one_listing() {
    // Each request is retried after every 429 as Retry-After says, then given up: the
    // listing fails as throttled and the rest of the inventory stays current.
    survives(
        on("/repositories/db/tags", FaultKind::Throttled),
        "throttled",
    )
    .await;
}
