//! Logging in: token renewal, the legacy route, refused credentials.

use std::time::Duration;

use simhub::{Fault, FaultKind, Repo, SimHub};

use crate::support::*;

fn hub_with_account() -> SimHub {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").private().with_tags(3));
    hub.add_account("acme-bot", "dckr_pat_x", &["acme"]);
    hub
}

fn logins(hub: &SimHub) -> usize {
    hub.requests().iter().filter(|r| r.method == "POST").count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_is_renewed_before_requests_are_refused() {
    let hub = hub_with_account();
    hub.set_token_ttl(Duration::from_secs(2));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(
            &running.url(),
            "acme",
            &["--hub.username", "acme-bot", "--refresh.interval", "300ms"],
        ),
        Some("dckr_pat_x"),
    )
    .await;
    // Refresh until a second token has been issued and used.
    exporter
        .wait_for(|m| {
            value(m, "dockerhub_refreshes_total", &[("result", "success")]).unwrap_or(0.0) >= 2.0
                && logins(&hub) >= 2
        })
        .await;
    let m = exporter
        .wait_for(|m| value(m, "dockerhub_up", &[]) == Some(1.0))
        .await;
    assert_eq!(served_tags(&m, "acme", "api").len(), 3);
    let requests = hub.requests();
    assert!(
        requests.iter().all(|r| r.status != 401),
        "the token is renewed before the Hub refuses it"
    );
    let tokens: std::collections::HashSet<_> = requests
        .iter()
        .filter_map(|r| r.authorization.clone())
        .collect();
    assert!(tokens.len() >= 2, "listings used a renewed token");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_401_on_a_listing_logs_in_again_once_and_succeeds() {
    let hub = hub_with_account();
    hub.add_fault(Fault::new("/tags", FaultKind::Status(401)).times(1));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(&running.url(), "acme", &["--hub.username", "acme-bot"]),
        Some("dckr_pat_x"),
    )
    .await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert_eq!(logins(&hub), 2, "one login at start, one after the 401");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_token_route_the_legacy_login_is_used() {
    let hub = hub_with_account();
    hub.set_auth_token_route(false);
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(&running.url(), "acme", &["--hub.username", "acme-bot"]),
        Some("dckr_pat_x"),
    )
    .await;
    let m = exporter.wait_for_refreshes(1).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert_eq!(served_tags(&m, "acme", "api").len(), 3);
    let paths: Vec<String> = hub
        .requests()
        .iter()
        .filter(|r| r.method == "POST")
        .map(|r| r.path.clone())
        .collect();
    assert_eq!(paths, ["/v2/auth/token", "/v2/users/login"]);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_tried_once_per_refresh_and_nothing_is_listed() {
    let hub = hub_with_account();
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(
            &running.url(),
            "acme",
            &["--hub.username", "acme-bot", "--refresh.interval", "200ms"],
        ),
        Some("wrong-secret"),
    )
    .await;
    let m = exporter.wait_for_refreshes(3).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(0.0));
    assert!(value(&m, "dockerhub_refreshes_total", &[("result", "failure")]).unwrap() >= 3.0);
    let finished = refreshes(&m) as usize;
    let requests = hub.requests();
    // One login per started refresh at most, and no listing without a token.
    assert!(
        requests.iter().all(|r| r.method == "POST"),
        "nothing is listed without a token"
    );
    assert!(
        requests.len() <= finished + 1,
        "{} logins for {finished} refreshes",
        requests.len()
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_account_is_a_refused_login_tried_once_per_refresh_and_never_a_pause() {
    let hub = hub_with_account();
    // Locked after the first failed login, as the Hub locks after a few.
    hub.set_login_lockout(Some((1, Duration::from_secs(600))));
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_args(
            &running.url(),
            "acme",
            &["--hub.username", "acme-bot", "--refresh.interval", "200ms"],
        ),
        &[("DOCKERHUB_PASSWORD", "wrong-secret")],
    )
    .await;
    let locked = |r: &simhub::RequestRecord| r.method == "POST" && r.status == 429;
    eventually(|| async {
        (hub.requests().iter().filter(|r| locked(r)).count() >= 3).then_some(())
    })
    .await;
    let m = process.metrics_after_refreshes(3.0).await;
    let requests = hub.requests();
    assert!(
        requests.iter().all(|r| r.method == "POST"),
        "nothing is listed without a token"
    );
    assert!(
        requests.len() as f64 <= refreshes(&m) + 1.0,
        "{} logins for {} refreshes: a 429 to a login is not retried",
        requests.len(),
        refreshes(&m)
    );
    assert!(value(&m, "dockerhub_refresh_errors_total", &[("kind", "auth")]) >= Some(3.0));
    assert_eq!(
        value(
            &m,
            "dockerhub_refresh_errors_total",
            &[("kind", "throttled")]
        ),
        Some(0.0)
    );
    let log = process.log();
    let refusals: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("authentication failed; not trying again before the next refresh"))
        .collect();
    assert!(
        refusals.iter().any(|l| l.contains("HTTP 429")
            && l.contains("too many failed login attempts for username or IP address")),
        "{log}"
    );
    assert!(!log.contains("pausing every request"), "{log}");
    assert!(!log.contains("wrong-secret"));
    assert!(process.terminate().await.success());
}
