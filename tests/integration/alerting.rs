//! The shipped alert rules, evaluated by a real Prometheus server scraping the exporter,
//! which reads the simulated Hub while tags are deleted, pushed and pushed again.
//!
//! Skipped with a message where `prometheus` or `promtool` is missing, unless CI's
//! `DOCKERHUB_EXPORTER_REQUIRE_PROMETHEUS` says they are required.

use simhub::TagSpec;

use crate::support::fixtures::acme;
use crate::support::*;

fn exporter_args(hub_url: &str, listen: &str) -> Vec<String> {
    hub_args(
        hub_url,
        "acme",
        &[
            "--refresh.interval",
            "1s",
            "--hub.rate-limit",
            "100000",
            "--web.listen-address",
            listen,
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_fires_the_change_alerts_for_the_changed_repository_only() {
    let Some(binary) = tool("prometheus") else {
        return;
    };
    let hub = acme();
    let running = hub.start().await.unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let exporter = Process::start(&exporter_args(&running.url(), &listen), &[]).await;
    let prometheus = Prometheus::start(&binary, &listen, "changes").await;
    // A baseline: the change counters scraped at 0 before anything changes.
    prometheus
        .wait_for_samples(r#"dockerhub_tags_removed_total{repository="api"}"#, 2.0)
        .await;
    assert!(
        prometheus.firing().await.is_empty(),
        "nothing fires before a change"
    );
    // Prometheus asks for OpenMetrics first and got it: only OpenMetrics carries units.
    let metadata = prometheus
        .api(
            "/api/v1/metadata",
            &[("metric", "dockerhub_tag_size_bytes")],
        )
        .await
        .expect("metadata");
    assert_eq!(
        metadata["dockerhub_tag_size_bytes"][0]["unit"], "bytes",
        "{metadata}"
    );

    assert!(hub.delete_tag("acme", "api", "nightly"));
    hub.push_tag("acme", "api", TagSpec::new("1.5.0"));
    hub.repush_tag("acme", "api", "1.4.2").unwrap();

    let firing = prometheus
        .wait_for_alerts(
            &[
                "DockerHubTagRemoved",
                "DockerHubTagAdded",
                "DockerHubTagDigestChanged",
            ],
            "api",
        )
        .await;
    let moved: Vec<_> = firing
        .iter()
        .filter(|a| a["labels"]["alertname"] == "DockerHubTagDigestChanged")
        .map(|a| a["labels"]["tag"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(moved, ["1.4.2"], "only the version tag that moved");
    let untouched: Vec<_> = firing
        .iter()
        .filter(|a| a["labels"]["repository"] != "api")
        .collect();
    assert!(
        untouched.is_empty(),
        "alerts for untouched repositories: {untouched:?}"
    );
    prometheus.stop().await;
    assert!(exporter.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_deleted_while_the_exporter_was_down_fires_after_a_restart_with_state() {
    let Some(binary) = tool("prometheus") else {
        return;
    };
    let hub = acme();
    let running = hub.start().await.unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let state_dir = std::env::temp_dir().join(format!(
        "dockerhub-exporter-alerting-state-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&state_dir);
    std::fs::create_dir_all(&state_dir).unwrap();
    let state = state_dir.join("state.json");
    let hub_url = running.url();
    let mut args = exporter_args(&hub_url, &listen);
    args.extend(["--state.file", state.to_str().unwrap()].map(String::from));

    let exporter = Process::start(&args, &[]).await;
    let prometheus = Prometheus::start(&binary, &listen, "restart").await;
    prometheus
        .wait_for_samples(r#"dockerhub_tags_removed_total{repository="api"}"#, 2.0)
        .await;
    assert!(exporter.terminate().await.success());

    assert!(hub.delete_tag("acme", "api", "nightly"));
    let exporter = Process::start(&args, &[]).await;
    let firing = prometheus
        .wait_for_alerts(&["DockerHubTagRemoved"], "api")
        .await;
    assert!(
        firing
            .iter()
            .all(|a| a["labels"]["alertname"] == "DockerHubTagRemoved"),
        "only the removal fires: {firing:?}"
    );
    assert_eq!(
        prometheus
            .scalar(r#"dockerhub_tags_removed_total{repository="api"}"#)
            .await,
        Some(1.0)
    );
    prometheus.stop().await;
    assert!(exporter.terminate().await.success());
    std::fs::remove_dir_all(state_dir).unwrap();
}

#[test]
fn promtool_accepts_the_shipped_rules_and_their_unit_tests_pass() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts.test.yml"],
        vec!["check", "config", "prometheus.yml"],
    ] {
        let out = std::process::Command::new(&promtool)
            .args(&args)
            .current_dir(examples())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_fires_watched_tag_moved_with_both_digests_for_a_watched_repository_only() {
    let Some(binary) = tool("prometheus") else {
        return;
    };
    let hub = acme();
    hub.add_repo(
        "library",
        simhub::Repo::new("nginx")
            .with_tag(TagSpec::new("1.27"))
            .with_tag(TagSpec::new("latest")),
    );
    let running = hub.start().await.unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let mut args = exporter_args(&running.url(), &listen);
    args.extend(["--hub.repository".to_string(), "nginx".to_string()]);
    let exporter = Process::start(&args, &[]).await;
    let prometheus = Prometheus::start(&binary, &listen, "watched").await;
    prometheus
        .wait_for_samples(
            r#"dockerhub_tags_updated_total{hub_namespace="library",repository="nginx"}"#,
            2.0,
        )
        .await;
    let old = prometheus
        .api(
            "/api/v1/query",
            &[(
                "query",
                r#"dockerhub_tag_info{repository="nginx",tag="latest"}"#,
            )],
        )
        .await
        .expect("a query")["result"][0]["metric"]["digest"]
        .as_str()
        .expect("the digest of latest")
        .to_string();

    // Both move; only the watched one is named by the rule.
    let new = hub.repush_tag("library", "nginx", "latest").unwrap();
    hub.repush_tag("acme", "api", "latest").unwrap();
    let firing = eventually(|| async {
        let firing = prometheus.firing().await;
        firing
            .iter()
            .any(|a| {
                a["labels"]["alertname"] == "DockerHubWatchedTagMoved"
                    && a["labels"]["repository"] == "nginx"
            })
            .then_some(firing)
    })
    .await;
    let watched: Vec<_> = firing
        .iter()
        .filter(|a| a["labels"]["alertname"] == "DockerHubWatchedTagMoved")
        .collect();
    assert_eq!(watched.len(), 1, "{watched:?}");
    let alert = watched[0];
    assert_eq!(alert["labels"]["hub_namespace"], "library");
    assert_eq!(alert["labels"]["tag"], "latest");
    let description = alert["annotations"]["description"].as_str().unwrap();
    assert!(
        description.contains(&format!("now points at {new}, before at {old}.")),
        "{description}"
    );
    prometheus.stop().await;
    exporter.terminate().await;
}

/// The tag-deleted scenario of the mirror checks on a real registry, with the alert on a real
/// Prometheus. The shipped `DockerHubMirrorOutOfSync` waits 30 minutes (`for: 30m`) before it
/// fires, which a test cannot wait for; so Prometheus loads the shipped rules as they are and
/// beside them a copy of that one rule whose `for:` is 2 seconds and which carries the label
/// `for_shortened_by_test` (see `shortened_rule`). The copy fires, naming the tag, its
/// mirror and the reason; the shipped rule, with the same expression, is meanwhile pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_deleted_on_a_mirror_registry_fires_mirror_out_of_sync_for_that_tag() {
    let Some(binary) = tool("prometheus") else {
        return;
    };
    let Some(registry) = Registry::start("alert", None).await else {
        return;
    };
    let one = registry.push("mirrored/api", "1.0", "one").await;
    let two = registry.push("mirrored/api", "2.0", "two").await;
    let hub = simhub::SimHub::new();
    hub.add_repo(
        "acme",
        simhub::Repo::new("api")
            .with_tag(TagSpec::new("1.0").digest(&one))
            .with_tag(TagSpec::new("2.0").digest(&two)),
    );
    let running = hub.start().await.unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let label = format!("{}/mirrored", registry.host);
    let mut args = exporter_args(&running.url(), &listen);
    args.extend(
        [
            "--mirror",
            &format!("acme={label}"),
            "--mirror.insecure-registry",
            &registry.host,
        ]
        .map(String::from),
    );
    let exporter = Process::start(&args, &[]).await;
    let rule = shortened_rule("DockerHubMirrorOutOfSync", "2s", registry.dir());
    let prometheus = Prometheus::start_with_rules(&binary, &listen, "mirror", &[&rule]).await;
    // A baseline in sync: the mirror's figures scraped, nothing out of sync.
    prometheus
        .wait_for_samples(r#"dockerhub_mirror_tags_missing{repository="api"}"#, 2.0)
        .await;
    assert!(prometheus.firing().await.is_empty());

    registry.delete("mirrored/api", "1.0").await;
    let firing = prometheus
        .wait_for_alerts(&["DockerHubMirrorOutOfSync"], "api")
        .await;
    let alert = firing
        .iter()
        .find(|a| a["labels"]["alertname"] == "DockerHubMirrorOutOfSync")
        .unwrap();
    assert_eq!(alert["labels"][SHORTENED], "true", "only the copy fires");
    assert_eq!(alert["labels"]["tag"], "1.0");
    assert_eq!(alert["labels"]["reason"], "missing");
    assert_eq!(alert["labels"]["mirror"], label.as_str());
    assert_eq!(firing.len(), 1, "2.0 is in sync: {firing:?}");
    let all = prometheus.api("/api/v1/alerts", &[]).await.unwrap();
    let pending: Vec<_> = all["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| {
            a["labels"]["alertname"] == "DockerHubMirrorOutOfSync"
                && a["labels"][SHORTENED].is_null()
        })
        .map(|a| (a["state"].clone(), a["labels"]["tag"].clone()))
        .collect();
    assert_eq!(
        pending,
        [("pending".into(), "1.0".into())],
        "the shipped rule holds it for 30 minutes"
    );
    prometheus.stop().await;
    assert!(exporter.terminate().await.success());
}
