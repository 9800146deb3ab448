//! Docker Hub webhooks: a push announced at `/hooks/dockerhub/{token}` re-reads the repository
//! within seconds, long before the next scheduled refresh (these exporters refresh once an
//! hour); pushes close together are read once more, not once each; other repositories, wrong
//! tokens and bad bodies are counted and read nothing; behind TLS and basic auth the hook
//! needs HTTPS but no password. Deletions send no webhook: see `audit_log`.

use std::path::PathBuf;

use std::time::Duration;

use simhub::{Fault, FaultKind, Repo, SimHub, TagSpec};

use crate::support::signals::*;
use crate::support::*;

/// An exporter of acme (refreshing once an hour) with the webhook endpoint and `extra`, once
/// its first refresh is done; and the temporary directory that holds its token.
async fn with_webhook(hub_url: &str, name: &str, extra: &[&str]) -> (Exporter, PathBuf) {
    let dir = temp_dir(name);
    let token = token_file(&dir);
    let mut all = vec!["--web.webhook-token-file", path(&token)];
    all.extend_from_slice(extra);
    let exporter = Exporter::start(&args(hub_url, &all), Some(SECRET)).await;
    exporter.wait_for_refreshes(1).await;
    (exporter, dir)
}

/// A Docker Hub push payload for `repo_name`.
fn push_payload(repo_name: &str) -> String {
    let (namespace, name) = repo_name.split_once('/').unwrap();
    serde_json::json!({
        "callback_url": "https://registry.hub.docker.com/u/acme/api/hook/x/",
        "push_data": {"pushed_at": 1764680000, "pusher": "jane", "tag": "1.5.0", "images": []},
        "repository": {
            "repo_name": repo_name, "namespace": namespace, "name": name,
            "is_private": false, "status": "Active", "star_count": 0
        }
    })
    .to_string()
}

fn webhook_count(metrics: &str, result: &str) -> f64 {
    value(
        metrics,
        "dockerhub_webhook_requests_total",
        &[("result", result)],
    )
    .unwrap_or(0.0)
}

/// Requests the Hub received for the tags of acme/`repo`.
fn tag_listings(hub: &SimHub, repo: &str) -> usize {
    let prefix = format!("/v2/namespaces/acme/repositories/{repo}/tags");
    hub.requests()
        .iter()
        .filter(|r| r.path.starts_with(&prefix))
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_is_counted_through_the_webhook_long_before_the_next_refresh() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let (exporter, dir) = with_webhook(&running.url(), "webhook-push", &[]).await;
    hub.set_webhook(Some(&format!("{}/hooks/dockerhub/{TOKEN}", exporter.url)));

    hub.push_tag("acme", "api", TagSpec::new("1.5.0"));
    let metrics = exporter
        .wait_for(|m| value(m, "dockerhub_tags_added_total", &[("repository", "api")]) == Some(1.0))
        .await;
    assert_eq!(refreshes(&metrics), 1.0, "no refresh ran but the first");
    assert!(served_tags(&metrics, "acme", "api").contains(&"1.5.0".to_string()));
    assert_eq!(webhook_count(&metrics, "accepted"), 1.0);
    assert_eq!(
        value(
            &metrics,
            "dockerhub_repository_rereads_total",
            &[("result", "success")]
        ),
        Some(1.0)
    );
    // The Hub heard 202, at once.
    let deliveries = hub.webhook_deliveries();
    assert_eq!(deliveries.len(), 1, "{deliveries:?}");
    assert_eq!(deliveries[0].status, Some(202));
    // Only acme/api was read again, with its details and one page of tags.
    assert_eq!(
        tag_listings(&hub, "web"),
        2,
        "web's two pages, at the first refresh only"
    );
    assert_eq!(tag_listings(&hub, "api"), 2);
    exporter.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_for_one_repository_within_the_minimum_interval_are_read_once_more() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let (exporter, dir) = with_webhook(
        &running.url(),
        "webhook-coalesce",
        &["--refresh.repository-min-interval", "5s"],
    )
    .await;
    let hook = format!("{}/hooks/dockerhub/{TOKEN}", exporter.url);
    let listed_at_start = tag_listings(&hub, "api");
    for n in 0..5 {
        hub.push_tag("acme", "api", TagSpec::new(&format!("2.0.{n}")));
        assert_eq!(post(&hook, push_payload("acme/api")).await, 202);
    }
    // The first re-read at once; the four asked for during it or after it wait for the
    // minimum interval and are read as one.
    let metrics = exporter
        .wait_for(|m| {
            value(
                m,
                "dockerhub_repository_rereads_total",
                &[("result", "success")],
            ) == Some(2.0)
        })
        .await;
    assert_eq!(webhook_count(&metrics, "accepted"), 5.0);
    assert_eq!(tag_listings(&hub, "api") - listed_at_start, 2);
    assert_eq!(
        value(
            &metrics,
            "dockerhub_tags_added_total",
            &[("repository", "api")]
        ),
        Some(5.0),
        "every push is counted"
    );
    exporter.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_ignores_other_repositories_and_refuses_wrong_tokens_and_bad_bodies() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let (exporter, dir) = with_webhook(
        &running.url(),
        "webhook-refusals",
        &["--filter.repository-exclude", "old"],
    )
    .await;
    hub.clear_requests();
    let hook = format!("{}/hooks/dockerhub/{TOKEN}", exporter.url);

    // Not inventoried: another namespace, or a repository the filter leaves out.
    assert_eq!(post(&hook, push_payload("other/thing")).await, 200);
    assert_eq!(post(&hook, push_payload("acme/old")).await, 200);
    // Wrong tokens, and other paths under /hooks/.
    for wrong in [
        format!("{}/hooks/dockerhub/{}", exporter.url, &TOKEN[1..]),
        format!("{}/hooks/dockerhub/{TOKEN}x", exporter.url),
        format!("{}/hooks/dockerhub/", exporter.url),
        format!("{}/hooks/github/{TOKEN}", exporter.url),
    ] {
        assert_eq!(post(&wrong, push_payload("acme/api")).await, 404, "{wrong}");
    }
    // Malformed and oversized bodies.
    assert_eq!(post(&hook, "not json").await, 400);
    assert_eq!(
        post(&hook, r#"{"repository": {"repo_name": 3}}"#).await,
        400
    );
    let oversized = format!(
        r#"{{"repository": {{"repo_name": "acme/api", "description": "{}"}}}}"#,
        "x".repeat(70 * 1024)
    );
    assert_eq!(post(&hook, oversized).await, 400);
    // Not a POST.
    let (status, _) = get(&hook).await;
    assert_eq!(status, 405);

    let metrics = exporter.metrics().await;
    assert_eq!(webhook_count(&metrics, "ignored"), 2.0);
    assert_eq!(webhook_count(&metrics, "unauthorized"), 4.0);
    assert_eq!(webhook_count(&metrics, "invalid"), 4.0);
    assert_eq!(webhook_count(&metrics, "accepted"), 0.0);
    assert!(
        hub.requests().is_empty(),
        "nothing was read: {:?}",
        hub.requests()
    );
    // A token that is not configured opens no endpoint at all.
    let plain = Exporter::start(&args(&running.url(), &[]), Some(SECRET)).await;
    let status = post(&format!("{}/hooks/dockerhub/{TOKEN}", plain.url), "").await;
    assert_eq!(status, 404);
    plain.stop().await;
    exporter.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn behind_tls_and_basic_auth_the_webhook_needs_https_but_no_password() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let dir = temp_dir("webhook-tls");
    let token = token_file(&dir);
    let server = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    write(&dir, "server.crt", &server.cert.pem());
    write(&dir, "server.key", &server.signing_key.serialize_pem());
    let hash = bcrypt::hash("scrape-secret", 4).unwrap();
    let config = write(
        &dir,
        "web.yml",
        &format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\nbasic_auth_users:\n  prometheus: '{hash}'\n"
        ),
    );
    let exporter = Process::start(
        &args(
            &running.url(),
            &[
                "--web.webhook-token-file",
                path(&token),
                "--web.config.file",
                path(&config),
            ],
        ),
        &[("DOCKERHUB_PASSWORD", SECRET)],
    )
    .await;
    let address = exporter.url.trim_start_matches("http://");
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(server.cert.pem().as_bytes()).unwrap())
        .resolve("localhost", address.parse().unwrap())
        .build()
        .unwrap();
    let https = exporter
        .url
        .replace("http://127.0.0.1", "https://localhost");
    let metrics = |auth: bool| {
        let request = client.get(format!("{https}/metrics"));
        let request = if auth {
            request.basic_auth("prometheus", Some("scrape-secret"))
        } else {
            request
        };
        async move { request.send().await.unwrap() }
    };
    eventually(|| async {
        let m = metrics(true).await.text().await.unwrap();
        (refreshes(&m) >= 1.0).then_some(())
    })
    .await;
    assert_eq!(
        metrics(false).await.status().as_u16(),
        401,
        "metrics need the password"
    );

    let hook = format!("{https}/hooks/dockerhub/{TOKEN}");
    hub.push_tag("acme", "api", TagSpec::new("1.5.0"));
    let answer = client
        .post(&hook)
        .body(push_payload("acme/api"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.status().as_u16(),
        202,
        "no password needed for the hook"
    );
    // Plain HTTP gets no answer at all, token or not.
    let plain = reqwest::Client::new()
        .post(format!("{}/hooks/dockerhub/{TOKEN}", exporter.url))
        .body(push_payload("acme/api"))
        .send()
        .await;
    assert!(plain.is_err(), "no plain HTTP: {plain:?}");
    eventually(|| async {
        let m = metrics(true).await.text().await.unwrap();
        (value(&m, "dockerhub_tags_added_total", &[("repository", "api")]) == Some(1.0))
            .then_some(())
    })
    .await;
    assert!(exporter.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_reread_a_failed_refresh_listing_took_over_is_reread_after_that_refresh() {
    // Two pages of repositories, aaa on the first. Read one request at a time, the refresh
    // marks aaa for listing as soon as page 1 is read, and lists it only once page 2 is in.
    let hub = hub();
    for i in 0..100 {
        hub.add_repo("acme", Repo::new(&format!("p-{i:03}")).with_tags(1));
    }
    hub.add_repo("acme", Repo::new("aaa").with_tags(2));
    let running = hub.start().await.unwrap();
    let dir = temp_dir("webhook-taken-over");
    let token = token_file(&dir);
    let extra = [
        "--web.webhook-token-file",
        path(&token),
        "--hub.concurrency",
        "1",
        "--hub.rate-limit",
        "60000",
        "--hub.burst",
        "100",
    ];
    let exporter = Exporter::start(
        &refreshing_every("15s", &running.url(), &extra),
        Some(SECRET),
    )
    .await;
    exporter.wait_for_refreshes(1).await;

    hub.push_tag("acme", "aaa", TagSpec::new("9.9.9"));
    hub.clear_requests();
    // In the second refresh, page 2 takes seconds, and then its listing of aaa fails (a 400
    // is not retried).
    hub.add_fault(
        Fault::new(
            "acme/repositories?page=2",
            FaultKind::Slow(Duration::from_secs(3)),
        )
        .times(1),
    );
    hub.add_fault(Fault::new("/repositories/aaa/tags", FaultKind::Status(400)).times(1));
    // The push is announced while page 2 is on its way: aaa is marked for the refresh's
    // listing, which takes the re-read over.
    eventually(|| async {
        hub.requests()
            .iter()
            .any(|r| r.path == "/v2/namespaces/acme/repositories" && r.query.starts_with("page=2"))
            .then_some(())
    })
    .await;
    let hook = format!("{}/hooks/dockerhub/{TOKEN}", exporter.url);
    assert_eq!(post(&hook, push_payload("acme/aaa")).await, 202);

    // Counted by a re-read after the second refresh, not by the third (15 s later).
    let metrics = exporter
        .wait_for(|m| value(m, "dockerhub_tags_added_total", &[("repository", "aaa")]) == Some(1.0))
        .await;
    assert_eq!(refreshes(&metrics), 2.0, "counted before the next refresh");
    assert_eq!(
        value(
            &metrics,
            "dockerhub_refreshes_total",
            &[("result", "partial")]
        ),
        Some(1.0),
        "the second refresh could not list aaa"
    );
    let rereads = |result: &str| {
        value(
            &metrics,
            "dockerhub_repository_rereads_total",
            &[("result", result)],
        )
    };
    assert_eq!(
        rereads("skipped"),
        Some(1.0),
        "the refresh took the re-read over"
    );
    assert_eq!(rereads("success"), Some(1.0), "and asked for it again");
    exporter.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
