//! Changes seen within seconds through both signals together: Docker Hub webhooks and audit
//! logs re-read the repository that changed, long before the next scheduled refresh (these
//! exporters refresh once an hour). Each signal alone is tested in `webhooks` and
//! `audit_log`; this file keeps what takes both: the change alerts firing in Prometheus, and
//! re-reads counting the same changes as full refreshes.

use simhub::{Repo, SimHub, TagSpec};

use crate::support::signals::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_fires_the_change_alerts_seconds_after_a_push_and_a_deletion() {
    let Some(binary) = tool("prometheus") else {
        return;
    };
    let hub = hub();
    let running = hub.start().await.unwrap();
    let dir = temp_dir("signals-alerts");
    let token = token_file(&dir);
    let listen = format!("127.0.0.1:{}", free_port());
    let exporter = Process::start(
        &args(
            &running.url(),
            &[
                "--web.webhook-token-file",
                path(&token),
                "--hub.audit-log.interval",
                "500ms",
                "--web.listen-address",
                &listen,
            ],
        ),
        &[("DOCKERHUB_PASSWORD", SECRET)],
    )
    .await;
    let prometheus = Prometheus::start(&binary, &listen, "signals").await;
    prometheus
        .wait_for_samples(r#"dockerhub_tags_removed_total{repository="api"}"#, 2.0)
        .await;
    hub.set_webhook(Some(&format!("http://{listen}/hooks/dockerhub/{TOKEN}")));

    // A push, announced by the webhook; a deletion, which only the audit log tells.
    hub.push_tag("acme", "api", TagSpec::new("1.5.0"));
    assert!(hub.delete_tag("acme", "api", "nightly"));
    let firing = prometheus
        .wait_for_alerts(&["DockerHubTagAdded", "DockerHubTagRemoved"], "api")
        .await;
    assert!(
        firing.iter().all(|a| a["labels"]["repository"] == "api"),
        "{firing:?}"
    );
    assert_eq!(
        prometheus.scalar("sum(dockerhub_refreshes_total)").await,
        Some(1.0),
        "the alerts fired before any scheduled refresh"
    );
    prometheus.stop().await;
    assert!(exporter.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

/// The changes every consistency run makes, in order, each announced as Docker Hub would.
async fn make_changes(hub: &SimHub) {
    hub.set_actor("jane");
    hub.push_tag("acme", "api", TagSpec::new("1.5.0"));
    assert!(hub.delete_tag("acme", "api", "nightly"));
    hub.repush_tag("acme", "api", "1.4.2").unwrap();
    hub.add_repo("acme", Repo::new("new").with_tag(TagSpec::new("0.1.0")));
    assert!(hub.delete_repo("acme", "old"));
    for n in 0..3 {
        hub.push_tag("acme", "web", TagSpec::new(&format!("9.9.{n}")));
    }
    let web = hub.tag_names("acme", "web");
    assert!(hub.delete_tag("acme", "web", &web[0]));
}

/// The change counters of every repository, as served.
fn counters(metrics: &str) -> Vec<(String, String, f64)> {
    let mut all = Vec::new();
    for name in [
        "dockerhub_tags_added_total",
        "dockerhub_tags_removed_total",
        "dockerhub_tags_updated_total",
        "dockerhub_repositories_added_total",
        "dockerhub_repositories_removed_total",
    ] {
        for sample in series(metrics, name) {
            all.push((
                name.to_string(),
                format!("{:?}", sample.labels),
                sample.value,
            ));
        }
    }
    all.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    all
}

/// Runs the exporter refreshing every `interval` with `extra` against a fresh copy of the
/// hub, makes the changes, and returns the counters and inventory once the served inventory
/// holds every change and `settled` says so.
async fn consistency_run(
    interval: &str,
    extra: &[&str],
    settled: impl Fn(&str) -> bool,
) -> (Vec<(String, String, f64)>, Vec<Vec<String>>) {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let dir = temp_dir(&format!("consistency-{interval}-{}", extra.len()));
    let token = token_file(&dir);
    let mut extra: Vec<&str> = extra.to_vec();
    extra.extend(["--web.webhook-token-file", path(&token)]);
    let all = refreshing_every(interval, &running.url(), &extra);
    let exporter = Exporter::start(&all, Some(SECRET)).await;
    exporter.wait_for_refreshes(1).await;
    hub.set_webhook(Some(&format!("{}/hooks/dockerhub/{TOKEN}", exporter.url)));
    make_changes(&hub).await;
    let truth: Vec<Vec<String>> = ["api", "web", "new"]
        .iter()
        .map(|r| hub.tag_names("acme", r))
        .collect();
    let metrics = exporter
        .wait_for(|m| {
            let served: Vec<Vec<String>> = ["api", "web", "new"]
                .iter()
                .map(|r| {
                    let mut tags = served_tags(m, "acme", r);
                    tags.sort();
                    tags
                })
                .collect();
            served == truth && served_tags(m, "acme", "old").is_empty() && settled(m)
        })
        .await;
    exporter.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
    (counters(&metrics), truth)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_reads_count_the_same_changes_as_full_refreshes() {
    // Full refreshes only, every 300 ms.
    let (by_refresh, truth) = consistency_run("300ms", &[], |_| true).await;
    assert!(
        by_refresh.iter().any(|(_, _, v)| *v > 0.0),
        "the changes were counted: {by_refresh:?}"
    );
    // Webhooks and the audit log only: the one refresh is the first.
    let (by_rereads, truth_again) = consistency_run(
        "1h",
        &[
            "--hub.audit-log.interval",
            "200ms",
            "--refresh.repository-min-interval",
            "0",
        ],
        |m| refreshes(m) == 1.0,
    )
    .await;
    assert_eq!(truth, truth_again, "both runs saw the same Hub");
    assert_eq!(by_rereads, by_refresh);
    // Both at once: re-reads merged between and during refreshes.
    let (mixed, _) = consistency_run(
        "150ms",
        &[
            "--hub.audit-log.interval",
            "100ms",
            "--refresh.repository-min-interval",
            "0",
        ],
        |_| true,
    )
    .await;
    assert_eq!(mixed, by_refresh);
}
