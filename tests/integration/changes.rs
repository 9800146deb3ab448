//! Change tracking: tags added, removed and moved, repositories added and removed, counted
//! and logged; and the state file that carries the inventory across restarts.

use simhub::{Repo, TagSpec};

use crate::support::fixtures::acme;
use crate::support::*;

fn counter(m: &str, name: &str, repository: &str) -> Option<f64> {
    value(
        m,
        name,
        &[("hub_namespace", "acme"), ("repository", repository)],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_are_counted_per_repository_and_logged_and_nothing_else_counts() {
    let hub = acme();
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_args(&running.url(), "acme", &["--refresh.interval", "200ms"]),
        &[],
    )
    .await;
    let m = process.metrics_after_refreshes(1.0).await;
    for repo in ["api", "web", "old"] {
        for family in [
            "dockerhub_tags_added_total",
            "dockerhub_tags_removed_total",
            "dockerhub_tags_updated_total",
        ] {
            assert_eq!(counter(&m, family, repo), Some(0.0), "{family} {repo}");
        }
    }
    let old_digest = hub.tag_digest("acme", "api", "1.4.2").unwrap();

    assert!(hub.delete_tag("acme", "api", "nightly"));
    hub.push_tag("acme", "api", TagSpec::new("1.5.0"));
    let new_digest = hub.repush_tag("acme", "api", "1.4.2").unwrap();
    assert_ne!(old_digest, new_digest);
    assert!(hub.delete_repo("acme", "old"));
    hub.add_repo("acme", Repo::new("fresh").with_tags(2));

    let m = eventually(|| async {
        let (_, m) = get(&format!("{}/metrics", process.url)).await;
        let done = counter(&m, "dockerhub_tags_updated_total", "api") == Some(1.0)
            && counter(&m, "dockerhub_tags_removed_total", "old") == Some(3.0)
            && value(
                &m,
                "dockerhub_repositories_added_total",
                &[("hub_namespace", "acme")],
            ) == Some(1.0);
        done.then_some(m)
    })
    .await;
    // Several refreshes may have passed: the counts stay exact.
    let m = {
        let n = refreshes(&m);
        process.metrics_after_refreshes(n + 2.0).await
    };
    assert_eq!(counter(&m, "dockerhub_tags_added_total", "api"), Some(1.0));
    assert_eq!(
        counter(&m, "dockerhub_tags_removed_total", "api"),
        Some(1.0)
    );
    assert_eq!(
        counter(&m, "dockerhub_tags_updated_total", "api"),
        Some(1.0)
    );
    for family in [
        "dockerhub_tags_added_total",
        "dockerhub_tags_removed_total",
        "dockerhub_tags_updated_total",
    ] {
        assert_eq!(counter(&m, family, "web"), Some(0.0), "{family} web");
        // A new repository's first listing counts no tags.
        assert_eq!(counter(&m, family, "fresh"), Some(0.0), "{family} fresh");
    }
    // The gone repository's series stay, with all its tags counted as removed.
    assert_eq!(counter(&m, "dockerhub_tags_added_total", "old"), Some(0.0));
    assert_eq!(
        counter(&m, "dockerhub_tags_removed_total", "old"),
        Some(3.0)
    );
    assert_eq!(
        value(
            &m,
            "dockerhub_repositories_removed_total",
            &[("hub_namespace", "acme")]
        ),
        Some(1.0)
    );
    assert_eq!(
        value(
            &m,
            "dockerhub_repositories_added_total",
            &[("hub_namespace", "acme")]
        ),
        Some(1.0)
    );

    let log = process.log();
    let line = |msg: &str, needles: &[&str]| {
        log.lines()
            .any(|l| l.contains(&format!("msg=\"{msg}\"")) && needles.iter().all(|n| l.contains(n)))
    };
    assert!(
        line(
            "tag added",
            &["hub_namespace=acme", "repository=api", "tag=1.5.0"]
        ),
        "{log}"
    );
    assert!(
        line("tag removed", &["repository=api", "tag=nightly"]),
        "{log}"
    );
    assert!(
        line(
            "tag digest changed",
            &[
                "tag=1.4.2",
                &format!("old_digest={old_digest}"),
                &format!("new_digest={new_digest}")
            ]
        ),
        "{log}"
    );
    assert!(line("repository removed", &["repository=old"]), "{log}");
    assert!(line("repository added", &["repository=fresh"]), "{log}");
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_listing_counts_no_change() {
    use simhub::{Fault, FaultKind};
    let hub = acme();
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_args(&running.url(), "acme", &["--refresh.interval", "200ms"]),
        &[],
    )
    .await;
    process.metrics_after_refreshes(1.0).await;
    // Every listing of web's tags fails from now on: nothing may look removed.
    hub.add_fault(Fault::new("/repositories/web/tags", FaultKind::Status(503)));
    let m = eventually(|| async {
        let (_, m) = get(&format!("{}/metrics", process.url)).await;
        (value(&m, "dockerhub_refreshes_total", &[("result", "partial")]) >= Some(2.0)).then_some(m)
    })
    .await;
    assert_eq!(
        counter(&m, "dockerhub_tags_removed_total", "web"),
        Some(0.0)
    );
    assert_eq!(served_tags(&m, "acme", "web"), hub.tag_names("acme", "web"));
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_state_file_serves_the_inventory_at_restart_and_counts_changes_made_while_down() {
    let hub = acme();
    let running = hub.start().await.unwrap();
    let dir = std::env::temp_dir().join(format!(
        "dockerhub-exporter-it-state-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let state_arg = state.to_str().unwrap();
    let args = |url: &str| hub_args(url, "acme", &["--state.file", state_arg]);

    let first = Process::start(&(args(&running.url())), &[]).await;
    first.metrics_after_refreshes(1.0).await;
    assert!(first.terminate().await.success());
    assert!(state.exists(), "the state file is written after a refresh");
    let api_tags = hub.tag_names("acme", "api");

    // While the exporter is down, a tag goes.
    assert!(hub.delete_tag("acme", "api", "nightly"));

    // Restarted where the Hub cannot be reached: the stored inventory is served, marked down.
    let unreachable = Process::start(&(args("http://127.0.0.1:9")), &[]).await;
    let (_, m) = get(&format!("{}/metrics", unreachable.url)).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(0.0));
    assert_eq!(served_tags(&m, "acme", "api"), api_tags);
    assert_eq!(
        counter(&m, "dockerhub_tags_removed_total", "api"),
        Some(0.0)
    );
    assert!(
        value(&m, "dockerhub_last_refresh_success_timestamp_seconds", &[]).unwrap() > 0.0,
        "the last success survives the restart"
    );
    assert!(unreachable.terminate().await.success());

    // Restarted with the Hub back: the deletion made while down is counted.
    let second = Process::start(&(args(&running.url())), &[]).await;
    let m = second.metrics_after_refreshes(1.0).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert_eq!(
        counter(&m, "dockerhub_tags_removed_total", "api"),
        Some(1.0)
    );
    assert_eq!(counter(&m, "dockerhub_tags_added_total", "api"), Some(0.0));
    assert_eq!(served_tags(&m, "acme", "api"), hub.tag_names("acme", "api"));
    assert!(second.log().contains("tag=nightly"), "{}", second.log());
    assert!(second.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_state_file_is_set_aside_and_the_exporter_runs() {
    let hub = acme();
    let running = hub.start().await.unwrap();
    let dir = std::env::temp_dir().join(format!(
        "dockerhub-exporter-it-corrupt-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    std::fs::write(&state, "{\"version\":1,\"snapsh").unwrap();
    let process = Process::start(
        &hub_args(
            &running.url(),
            "acme",
            &["--state.file", state.to_str().unwrap()],
        ),
        &[],
    )
    .await;
    let m = process.metrics_after_refreshes(1.0).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    let aside: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("state.json.corrupt-"))
        })
        .collect();
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(
        std::fs::read_to_string(&aside[0]).unwrap(),
        "{\"version\":1,\"snapsh"
    );
    assert!(process.log().contains("set aside"), "{}", process.log());
    assert!(process.terminate().await.success());
    eventually(|| async { state.exists().then_some(()) }).await;
    std::fs::remove_dir_all(dir).unwrap();
}
