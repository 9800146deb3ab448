//! Failed and partial refreshes keep the last good data; hostile links are refused.

use simhub::{Fault, FaultKind, Repo, SimHub};

use crate::support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_repository_keeps_its_previous_tags_and_up_turns_0() {
    let hub = fixtures::api_and_web();
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(&running.url(), "acme", &["--refresh.interval", "200ms"]),
        None,
    )
    .await;
    let api_before = served_tags(&exporter.wait_for_refreshes(1).await, "acme", "api");
    assert_eq!(api_before, hub.tag_names("acme", "api"));

    hub.add_fault(Fault::new("/repositories/api/tags", FaultKind::Status(503)));
    let deleted = api_before[0].clone();
    hub.delete_tag("acme", "api", &deleted);
    let web_deleted = hub.tag_names("acme", "web")[0].clone();
    hub.delete_tag("acme", "web", &web_deleted);

    let m = exporter.wait_for_result("partial", 1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(0.0));
    assert!(
        value(&m, "dockerhub_refresh_errors_total", &[("kind", "server")]) >= Some(1.0),
        "the cause is counted"
    );
    assert_eq!(
        value(&m, "dockerhub_refresh_errors_total", &[("kind", "decode")]),
        Some(0.0)
    );
    assert_eq!(
        served_tags(&m, "acme", "api"),
        api_before,
        "the failed listing keeps every tag"
    );
    assert_eq!(
        served_tags(&m, "acme", "web"),
        hub.tag_names("acme", "web"),
        "the rest is current"
    );

    hub.clear_faults();
    let m = exporter
        .wait_for(|m| value(m, "dockerhub_up", &[]) == Some(1.0))
        .await;
    assert!(!served_tags(&m, "acme", "api").contains(&deleted));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_namespace_listing_keeps_its_repositories() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(2));
    hub.add_repo("other", Repo::new("tool").with_tags(1));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(
            &running.url(),
            "acme,other",
            &["--refresh.interval", "200ms"],
        ),
        None,
    )
    .await;
    exporter.wait_for_refreshes(1).await;
    hub.add_fault(Fault::new(
        "/namespaces/acme/repositories?",
        FaultKind::TruncatedJson,
    ));
    hub.delete_repo("acme", "api");
    let m = exporter.wait_for_result("partial", 1).await;
    assert_eq!(
        value(&m, "dockerhub_repositories", &[("hub_namespace", "acme")]),
        Some(1.0)
    );
    assert_eq!(served_tags(&m, "acme", "api").len(), 2);
    assert_eq!(
        value(&m, "dockerhub_repositories", &[("hub_namespace", "other")]),
        Some(1.0)
    );
    assert!(value(&m, "dockerhub_refresh_errors_total", &[("kind", "decode")]) >= Some(1.0));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_to_another_host_is_refused_and_gets_no_token() {
    let foreign = SimHub::new();
    let foreign_running = foreign.start().await.unwrap();
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").private().with_tags(2));
    hub.add_account("acme-bot", "dckr_pat_x", &["acme"]);
    let stolen = format!(
        "{}/v2/namespaces/acme/repositories?page=2&page_size=100",
        foreign_running.url()
    );
    hub.add_fault(Fault::new(
        "/namespaces/acme/repositories?",
        FaultKind::ForeignNext(stolen),
    ));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(&running.url(), "acme", &["--hub.username", "acme-bot"]),
        Some("dckr_pat_x"),
    )
    .await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(0.0));
    assert!(
        foreign.requests().is_empty(),
        "nothing is sent to the foreign host"
    );
    assert_eq!(
        value(&m, "dockerhub_refreshes_total", &[("result", "failure")]),
        Some(1.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_next_link_looping_back_fails_the_listing_instead_of_spinning() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(150));
    hub.add_fault(Fault::new("/repositories/api/tags", FaultKind::LoopNext));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&hub_args(&running.url(), "acme", &[]), None).await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(0.0));
    assert!(hub.requests().len() < 10);
    exporter.stop().await;
}
