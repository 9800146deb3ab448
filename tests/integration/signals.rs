//! Changes seen within seconds: Docker Hub webhooks and audit logs re-read the repository that
//! changed, long before the next scheduled refresh (these exporters refresh once an hour).

use std::path::PathBuf;

use simhub::{Repo, SimHub, TagSpec};

use crate::support::fixtures::acme;
use crate::support::*;

/// The webhook token the tests configure.
const TOKEN: &str = "4f1c0a9be3d2c5a7f60e1b9d8c7a6b5e";
/// The exporter's account at the simulated Hub, which may read acme's audit log.
const USER: &str = "acme-bot";
const SECRET: &str = "dckr_pat_signals";

/// acme's repositories, and an account of acme's.
fn hub() -> SimHub {
    let hub = acme();
    hub.add_account(USER, SECRET, &["acme"]);
    hub
}

/// Arguments for an exporter of acme as acme-bot that refreshes once an hour, then `extra`.
fn args(hub_url: &str, extra: &[&str]) -> Vec<String> {
    refreshing_every("1h", hub_url, extra)
}

/// Arguments for an exporter of acme as acme-bot that refreshes every `interval`, then
/// `extra`.
fn refreshing_every(interval: &str, hub_url: &str, extra: &[&str]) -> Vec<String> {
    let mut args = hub_args(
        hub_url,
        "acme",
        &["--hub.username", USER, "--refresh.interval", interval],
    );
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

fn token_file(dir: &std::path::Path) -> PathBuf {
    write(dir, "webhook-token", &format!("{TOKEN}\n"))
}

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

fn path(p: &std::path::Path) -> &str {
    p.to_str().unwrap()
}

/// POSTs `body` to `url`; the status.
async fn post(url: &str, body: impl Into<reqwest::Body>) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the exporter answers")
        .status()
        .as_u16()
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
