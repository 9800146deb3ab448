//! A flood of valid-token webhooks naming made-up repositories of an inventoried namespace:
//! every one is answered 202, the re-reads they queue are bounded (the rest counted
//! `ignored`), each costs at most one details request, the scheduled refresh still starts on
//! time and ends quickly, and the exporter's memory hardly grows.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use crate::support::signals::{TOKEN, path, token_file};
use crate::support::*;

/// Webhooks sent.
const WEBHOOKS: usize = 10_000;
/// Connections they are sent over at once: the endpoint's own slots.
const SENDERS: usize = 4;
/// The refresh interval.
const INTERVAL: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_webhooks_for_made_up_repositories_neither_delay_the_refresh_nor_grow_memory()
{
    let hub = fixtures::acme();
    let running = hub.start().await.unwrap();
    let dir = temp_dir("webhook-flood");
    let token = token_file(&dir);
    let interval = format!("{}s", INTERVAL.as_secs());
    let process = Process::start(
        &hub_args(
            &running.url(),
            "acme",
            &[
                "--refresh.interval",
                &interval,
                "--web.webhook-token-file",
                path(&token),
                // Ten requests a second: a thousand re-reads take 100 s of quota.
                "--hub.rate-limit",
                "600",
            ],
        ),
        &[],
    )
    .await;
    process.metrics_after_refreshes(1.0).await;
    let pid = process.child.id().expect("running");
    let listing = "/v2/namespaces/acme/repositories";
    let first_start = hub
        .requests()
        .iter()
        .find(|r| r.path == listing)
        .expect("the first refresh listed acme")
        .at;
    let rss_before = status_bytes(pid, "VmRSS");

    // The flood, over a few kept-alive connections.
    let hook = format!("{}/hooks/dockerhub/{TOKEN}", process.url);
    let client = reqwest::Client::new();
    let statuses = Arc::new(std::sync::Mutex::new(HashMap::<u16, usize>::new()));
    let senders: Vec<_> = (0..SENDERS)
        .map(|sender| {
            let (client, hook, statuses) = (client.clone(), hook.clone(), Arc::clone(&statuses));
            tokio::spawn(async move {
                for n in (sender..WEBHOOKS).step_by(SENDERS) {
                    let body = serde_json::json!({
                        "push_data": {"tag": "latest"},
                        "repository": {"repo_name": format!("acme/made-up-{n}")}
                    });
                    let status = client
                        .post(&hook)
                        .header("content-type", "application/json")
                        .body(body.to_string())
                        .send()
                        .await
                        .expect("the exporter answers")
                        .status()
                        .as_u16();
                    *statuses.lock().unwrap().entry(status).or_default() += 1;
                }
            })
        })
        .collect();
    for sender in senders {
        sender.await.unwrap();
    }
    assert_eq!(
        *statuses.lock().unwrap(),
        HashMap::from([(202, WEBHOOKS)]),
        "every webhook answered 202"
    );

    // The next refresh: its first request within 2 s of its time, its end within 10 s.
    let m = process.metrics_after_refreshes(2.0).await;
    let second_start = hub
        .requests()
        .iter()
        .filter(|r| r.path == listing)
        .nth(1)
        .expect("the second refresh listed acme")
        .at;
    let late = (second_start - first_start).saturating_sub(INTERVAL);
    let duration = value(&m, "dockerhub_refresh_duration_seconds", &[]).expect("a duration");
    println!(
        "refresh started {:.3} s after its time, took {duration:.3} s",
        late.as_secs_f64()
    );
    assert!(late < Duration::from_secs(2), "started {late:?} late");
    assert!(
        late.as_secs_f64() + duration < 10.0,
        "ended {:.1} s after its time",
        late.as_secs_f64() + duration
    );

    // Bounded: what was not queued is counted ignored; each made-up name cost at most one
    // details request and never a tag listing.
    let count = |result: &str| {
        value(
            &m,
            "dockerhub_webhook_requests_total",
            &[("result", result)],
        )
        .unwrap_or(0.0)
    };
    assert_eq!(count("accepted") + count("ignored"), WEBHOOKS as f64);
    assert!(
        count("ignored") >= (WEBHOOKS - 2 * 1000) as f64,
        "{}",
        count("ignored")
    );
    let mut asked: HashMap<String, usize> = HashMap::new();
    for r in hub.requests() {
        if let Some(rest) = r
            .path
            .strip_prefix("/v2/namespaces/acme/repositories/made-up-")
        {
            assert!(!rest.contains('/'), "only details: {}", r.path);
            *asked.entry(r.path).or_default() += 1;
        }
    }
    assert!(asked.values().all(|n| *n == 1), "each asked once");
    assert!(asked.len() as f64 <= count("accepted"));

    let growth = status_bytes(pid, "VmRSS").saturating_sub(rss_before);
    println!(
        "resident set grew by {:.1} MB over {WEBHOOKS} webhooks",
        growth as f64 / 1e6
    );
    assert!(growth < 10_000_000, "grew by {growth} bytes");
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}
