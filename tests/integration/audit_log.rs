//! Docker Hub audit logs: the exporter reads each namespace's log every few hundred
//! milliseconds and re-reads the repository an event names, so a deletion, which sends no
//! webhook, is counted within seconds and logged with its actor; a namespace without audit
//! logs is asked once; a restart neither misses nor repeats an event.

use simhub::{Repo, TagSpec};

use crate::support::signals::*;
use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deletion_is_counted_through_the_audit_log_and_logged_with_its_actor() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let exporter = Process::start(
        &args(&running.url(), &["--hub.audit-log.interval", "200ms"]),
        &[("DOCKERHUB_PASSWORD", SECRET)],
    )
    .await;
    exporter.metrics_after_refreshes(1.0).await;

    hub.set_actor("jane");
    assert!(hub.delete_tag("acme", "api", "nightly"));
    let metrics = eventually(|| async {
        let (_, m) = get(&format!("{}/metrics", exporter.url)).await;
        (value(&m, "dockerhub_tags_removed_total", &[("repository", "api")]) == Some(1.0))
            .then_some(m)
    })
    .await;
    assert_eq!(refreshes(&metrics), 1.0, "no refresh ran but the first");
    assert!(!served_tags(&metrics, "acme", "api").contains(&"nightly".to_string()));
    assert!(
        value(
            &metrics,
            "dockerhub_api_requests_total",
            &[("endpoint", "audit_log"), ("code", "200")]
        )
        .unwrap_or(0.0)
            >= 1.0
    );
    let log = exporter.log();
    let removed = log
        .lines()
        .find(|l| l.contains("tag removed"))
        .unwrap_or_else(|| panic!("the removal is logged: {log}"));
    assert!(
        removed.contains("tag=nightly") && removed.contains("actor=jane"),
        "{removed}"
    );
    assert!(
        !metrics.contains("jane"),
        "the actor is never a label or a value"
    );
    assert!(exporter.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_without_audit_logs_is_logged_once_and_not_asked_again() {
    let hub = hub();
    hub.add_repo("beta", Repo::new("tool").with_tags(2));
    hub.add_account(USER, SECRET, &["acme", "beta"]);
    hub.set_audit_log("acme", false);
    let running = hub.start().await.unwrap();
    let exporter = Process::start(
        &args(
            &running.url(),
            &[
                "--hub.namespace",
                "beta",
                "--hub.audit-log.interval",
                "100ms",
            ],
        ),
        &[("DOCKERHUB_PASSWORD", SECRET)],
    )
    .await;
    let audit_reads = |ns: &str| {
        let path = format!("/v2/auditlogs/{ns}");
        hub.requests().iter().filter(|r| r.path == path).count()
    };
    eventually(|| async { (audit_reads("beta") >= 3).then_some(()) }).await;
    assert_eq!(audit_reads("acme"), 1, "asked once, then not again");
    let log = exporter.log();
    assert_eq!(
        log.lines().filter(|l| l.contains("no audit log")).count(),
        1,
        "{log}"
    );
    // The rest goes on: beta's changes still come through its audit log.
    hub.set_actor("sam");
    assert!(hub.delete_tag("beta", "tool", &hub.tag_names("beta", "tool")[0]));
    eventually(|| async {
        let (_, m) = get(&format!("{}/metrics", exporter.url)).await;
        (value(
            &m,
            "dockerhub_tags_removed_total",
            &[("repository", "tool")],
        ) == Some(1.0))
        .then_some(())
    })
    .await;
    assert!(exporter.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_neither_misses_nor_repeats_audit_events() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let dir = temp_dir("audit-restart");
    let state = dir.join("state.json");
    let args = args(
        &running.url(),
        &[
            "--hub.audit-log.interval",
            "200ms",
            "--state.file",
            path(&state),
        ],
    );
    let env = [("DOCKERHUB_PASSWORD", SECRET)];
    let events = |log: &str, tag: &str| {
        log.lines()
            .filter(|l| l.contains("audit log event") && l.contains(&format!("tag={tag} ")))
            .count()
    };

    let first = Process::start(&args, &env).await;
    first.metrics_after_refreshes(1.0).await;
    hub.set_actor("jane");
    assert!(hub.delete_tag("acme", "api", "nightly"));
    eventually(|| async {
        let (_, m) = get(&format!("{}/metrics", first.url)).await;
        (value(&m, "dockerhub_tags_removed_total", &[("repository", "api")]) == Some(1.0))
            .then_some(())
    })
    .await;
    assert_eq!(events(&first.log(), "nightly"), 1);
    assert!(first.terminate().await.success());

    // Made while the exporter is down, before it starts again.
    hub.set_actor("sam");
    hub.push_tag("acme", "api", TagSpec::new("1.5.0"));
    let second = Process::start(&args, &env).await;
    eventually(|| async { (events(&second.log(), "1.5.0") == 1).then_some(()) }).await;
    // A few more reads of the log, which must not bring the old event back.
    let reads_now = hub
        .requests()
        .iter()
        .filter(|r| r.path == "/v2/auditlogs/acme")
        .count();
    eventually(|| async {
        let reads = hub
            .requests()
            .iter()
            .filter(|r| r.path == "/v2/auditlogs/acme")
            .count();
        (reads >= reads_now + 3).then_some(())
    })
    .await;
    let log = second.log();
    assert_eq!(events(&log, "nightly"), 0, "not repeated: {log}");
    assert_eq!(events(&log, "1.5.0"), 1, "not missed, once: {log}");
    assert!(second.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}
