//! Hostile input on the exporter's newer surfaces, seen from outside the binary: webhooks
//! naming dot segments, webhook bodies sent a byte at a time, repositories that do not exist,
//! names with control characters and bidirectional overrides on the pages, in the log and
//! in the `inventory` listings, bad `since` and `limit` values, and the headers the pages
//! send.

use std::time::Duration;

use simhub::{Repo, SimHub, TagSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::signals::{TOKEN, path, token_file};
use crate::support::*;

/// A tag name that reverses what follows it on screen and carries a C1 control.
const BIDI_TAG: &str = "evil\u{202e}gpj.exe\u{85}";

/// The same, as the exporter shows it.
const BIDI_SHOWN: &str = "evil\\u{202e}gpj.exe\\u{85}";

/// An exporter of `hub`'s acme, refreshing once an hour, with the webhook endpoint, then
/// `extra`; once its first refresh is done.
async fn with_webhook(hub_url: &str, name: &str, extra: &[&str]) -> (Process, std::path::PathBuf) {
    let dir = temp_dir(name);
    let token = token_file(&dir);
    let mut all = vec![
        "--refresh.interval",
        "1h",
        "--web.webhook-token-file",
        path(&token),
    ];
    all.extend_from_slice(extra);
    let process = Process::start(&hub_args(hub_url, "acme", &all), &[]).await;
    process.metrics_after_refreshes(1.0).await;
    (process, dir)
}

fn hook(process: &Process) -> String {
    format!("{}/hooks/dockerhub/{TOKEN}", process.url)
}

/// A push payload naming `repository` as Docker Hub's `repository` object.
fn payload(repository: serde_json::Value) -> String {
    serde_json::json!({"push_data": {"tag": "1"}, "repository": repository}).to_string()
}

/// Posts a push of `repo_name` to the webhook; the status answered.
async fn push(process: &Process, repo_name: &str) -> u16 {
    post(
        &hook(process),
        payload(serde_json::json!({"repo_name": repo_name})),
    )
    .await
}

fn counted(m: &str, family: &str, result: &str) -> f64 {
    value(m, family, &[("result", result)]).unwrap_or(0.0)
}

/// Waits until `dockerhub_repository_rereads_total{result="success"}` reaches `n`.
async fn rereads_done(process: &Process, n: f64) -> String {
    eventually(|| async {
        let (_, m) = get(&format!("{}/metrics", process.url)).await;
        (counted(&m, "dockerhub_repository_rereads_total", "success") >= n).then_some(m)
    })
    .await
}

/// Requests the Hub received whose path starts with `prefix`.
fn requests_under(hub: &SimHub, prefix: &str) -> Vec<String> {
    hub.requests()
        .into_iter()
        .filter(|r| r.path.starts_with(prefix))
        .map(|r| r.path)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_webhook_naming_a_dot_segment_is_refused_with_400_and_asks_nothing_of_the_hub() {
    let hub = fixtures::acme();
    let running = hub.start().await.unwrap();
    let (process, dir) = with_webhook(&running.url(), "surfaces-dots", &[]).await;
    hub.clear_requests();
    let refused = [
        serde_json::json!({"repo_name": "acme/.."}),
        serde_json::json!({"repo_name": "acme/."}),
        serde_json::json!({"repo_name": "../api"}),
        serde_json::json!({"namespace": "acme", "name": ".."}),
        serde_json::json!({"namespace": "acme", "name": "."}),
        serde_json::json!({"namespace": "..", "name": "api"}),
        serde_json::json!({"namespace": "acme", "name": "a\u{0}pi"}),
    ];
    for repository in &refused {
        assert_eq!(
            post(&hook(&process), payload(repository.clone())).await,
            400,
            "{repository}"
        );
    }
    // A valid push after them: once its re-read is done, whatever the refused ones could
    // have asked for would have been asked for.
    assert_eq!(push(&process, "acme/api").await, 202);
    let m = rereads_done(&process, 1.0).await;
    assert_eq!(
        counted(&m, "dockerhub_webhook_requests_total", "invalid"),
        refused.len() as f64
    );
    assert_eq!(
        counted(&m, "dockerhub_webhook_requests_total", "accepted"),
        1.0
    );
    let asked: Vec<String> = hub.requests().into_iter().map(|r| r.path).collect();
    assert!(
        asked
            .iter()
            .all(|p| p.starts_with("/v2/namespaces/acme/repositories/api")),
        "only acme/api was read: {asked:?}"
    );
    assert!(
        !process.log().contains("decode"),
        "no request under another name failed to decode: {}",
        process.log()
    );
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_that_does_not_exist_costs_one_details_request_and_is_not_asked_again() {
    let hub = fixtures::acme();
    let running = hub.start().await.unwrap();
    let (process, dir) = with_webhook(
        &running.url(),
        "surfaces-absent",
        &["--refresh.repository-min-interval", "1h"],
    )
    .await;
    hub.clear_requests();
    assert_eq!(push(&process, "acme/ghost").await, 202);
    rereads_done(&process, 1.0).await;
    // Asked again, and then for a repository that exists: once that one is read, the ghost
    // would have been asked for too if it were to be.
    assert_eq!(push(&process, "acme/ghost").await, 202);
    assert_eq!(push(&process, "acme/api").await, 202);
    rereads_done(&process, 2.0).await;
    assert_eq!(
        requests_under(&hub, "/v2/namespaces/acme/repositories/ghost"),
        ["/v2/namespaces/acme/repositories/ghost"],
        "one details request, no tag listing, not asked again within the interval"
    );
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

/// Opens a connection and sends the headers of a webhook request whose body of `length`
/// bytes is to follow, and its first byte.
async fn slow_webhook(address: &str, length: usize) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!(
        "POST /hooks/dockerhub/{TOKEN} HTTP/1.1\r\nHost: exporter\r\n\
         Content-Type: application/json\r\nContent-Length: {length}\r\n\r\n{{"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

/// The status of the answer read from `stream`, if one comes within `wait`.
async fn answer_within(stream: &mut TcpStream, wait: Duration) -> Option<u16> {
    let mut buffer = [0u8; 64];
    let read = tokio::time::timeout(wait, stream.read(&mut buffer))
        .await
        .ok()?
        .ok()?;
    let head = String::from_utf8_lossy(&buffer[..read]).into_owned();
    head.split(' ').nth(1)?.parse().ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_slow_webhook_bodies_leave_health_and_scrapes_answering() {
    let hub = fixtures::acme();
    let running = hub.start().await.unwrap();
    // 40 request slots, the default: fewer than the slow bodies.
    let (process, dir) = with_webhook(&running.url(), "surfaces-slow", &[]).await;
    let address = process.url.trim_start_matches("http://").to_string();
    let mut slow = Vec::new();
    for _ in 0..50 {
        slow.push(slow_webhook(&address, 300).await);
    }
    // All but the webhook's own few slots are turned away at once; those few wait for
    // their bodies, which never come whole.
    let answers: Vec<_> = slow
        .into_iter()
        .map(|mut stream| {
            tokio::spawn(async move {
                let answer = answer_within(&mut stream, Duration::from_secs(1)).await;
                (stream, answer)
            })
        })
        .collect();
    let mut refused = 0;
    let mut waiting = Vec::new();
    for answer in answers {
        match answer.await.unwrap() {
            (_, Some(503)) => refused += 1,
            (_, Some(other)) => panic!("a slow body answered {other}"),
            (stream, None) => waiting.push(stream),
        }
    }
    assert!(!waiting.is_empty() && refused >= 40, "{refused} refused");
    // Throughout, the probes and the scrapes are served.
    for round in 0..5 {
        for page in ["/healthz", "/readyz", "/metrics", "/", "/api/v1/changes"] {
            let (status, body) = get(&format!("{}{page}", process.url)).await;
            assert_eq!(status, 200, "round {round}, {page}: {body}");
        }
        for stream in &mut waiting {
            stream.write_all(b" ").await.unwrap();
        }
    }
    for stream in &mut waiting {
        assert_eq!(
            answer_within(stream, Duration::ZERO).await,
            None,
            "the slow bodies were still being read throughout"
        );
    }
    drop(waiting);
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

/// acme/api with [`BIDI_TAG`] pushed last, and a tag holding a NUL.
fn hostile_hub() -> SimHub {
    let hub = SimHub::new();
    hub.add_repo(
        "acme",
        Repo::new("api")
            .with_tag(TagSpec::new("1.0").pushed_ago(Duration::from_secs(3600)))
            .with_tag(TagSpec::new("nul\u{0}tag").pushed_ago(Duration::from_secs(1800))),
    );
    hub
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hidden_characters_show_escaped_on_the_pages_in_the_log_and_in_the_listings() {
    let hub = hostile_hub();
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_args(&running.url(), "acme", &["--refresh.interval", "200ms"]),
        &[],
    )
    .await;
    process.metrics_after_refreshes(1.0).await;
    hub.push_tag("acme", "api", TagSpec::new(BIDI_TAG));
    let page = eventually(|| async {
        let (_, page) = get(&format!("{}/repositories/acme/api", process.url)).await;
        page.contains(BIDI_SHOWN).then_some(page)
    })
    .await;
    assert!(page.contains("nul\\u{0}tag"), "{page}");
    let (_, landing) = get(&format!("{}/", process.url)).await;
    assert!(
        landing.contains(BIDI_SHOWN),
        "the change is listed: {landing}"
    );
    for shown in [&page, &landing] {
        assert!(
            !shown
                .chars()
                .any(|c| matches!(c, '\u{0}' | '\u{85}' | '\u{202e}')),
            "nothing raw"
        );
    }
    let logged = eventually(|| async {
        let log = process.log();
        log.lines()
            .find(|l| l.contains("tag added"))
            .map(str::to_string)
    })
    .await;
    assert!(logged.contains(BIDI_SHOWN), "{logged}");
    assert!(
        !logged.contains('\u{202e}') && !logged.contains('\u{85}'),
        "{logged}"
    );
    assert!(process.terminate().await.success());

    // The listings of `inventory`: the table escapes, CSV quotes and escapes.
    for (format, expected) in [
        ("table", BIDI_SHOWN.to_string()),
        ("csv", format!("\"{BIDI_SHOWN}\"")),
    ] {
        let out = std::process::Command::new(BIN)
            .args([
                "inventory",
                "--hub.url",
                &running.url(),
                "--hub.namespace",
                "acme",
                "--format",
                format,
            ])
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{format}");
        let printed = String::from_utf8(out.stdout).unwrap();
        assert!(printed.contains(&expected), "{format}: {printed}");
        assert!(
            !printed
                .chars()
                .any(|c| matches!(c, '\u{0}' | '\u{85}' | '\u{202e}')),
            "{format}: nothing raw: {printed:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_send_their_security_headers_and_bad_values_are_quoted_short() {
    let hub = fixtures::acme();
    let running = hub.start().await.unwrap();
    let dir = temp_dir("surfaces-headers");
    let process = Process::start(
        &hub_args(&running.url(), "acme", &["--refresh.interval", "1h"]),
        &[],
    )
    .await;
    process.metrics_after_refreshes(1.0).await;
    let header = |r: &reqwest::Response, name: &str| {
        r.headers()
            .get(name)
            .map(|v| v.to_str().unwrap().to_string())
    };
    const POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; img-src 'self'; \
                          base-uri 'none'; form-action 'none'; frame-ancestors 'none'";
    for page in ["/", "/repositories/acme/api", "/repositories/acme/none"] {
        let r = reqwest::get(format!("{}{page}", process.url))
            .await
            .unwrap();
        assert!(header(&r, "content-type").unwrap().starts_with("text/html"));
        assert_eq!(
            header(&r, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(
            header(&r, "content-security-policy").as_deref(),
            Some(POLICY)
        );
        assert_eq!(
            header(&r, "referrer-policy").as_deref(),
            Some("no-referrer")
        );
    }
    let long = "9".repeat(5000);
    for query in [
        "",
        "?limit=x",
        &format!("?since={long}"),
        &format!("?limit={long}"),
    ] {
        let r = reqwest::get(format!("{}/api/v1/changes{query}", process.url))
            .await
            .unwrap();
        assert_eq!(
            header(&r, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        let body = r.text().await.unwrap();
        assert!(
            !body.contains(&"9".repeat(101)),
            "{query:.20}: at most 100 characters quoted: {body}"
        );
        if query.len() > 100 {
            assert!(body.contains(&"9".repeat(100)), "{body}");
        }
    }
    assert!(process.terminate().await.success());

    // Headers of the web configuration win over the pages' own.
    let config = write(
        &dir,
        "web.yml",
        "http_server_config:\n  headers:\n    Content-Security-Policy: default-src 'self'\n",
    );
    let process = Process::start(
        &hub_args(
            &running.url(),
            "acme",
            &[
                "--refresh.interval",
                "1h",
                "--web.config.file",
                path(&config),
            ],
        ),
        &[],
    )
    .await;
    let r = reqwest::get(format!("{}/", process.url)).await.unwrap();
    assert_eq!(
        header(&r, "content-security-policy").as_deref(),
        Some("default-src 'self'")
    );
    assert_eq!(
        header(&r, "x-content-type-options").as_deref(),
        Some("nosniff")
    );
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}
