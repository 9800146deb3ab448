//! Tests of the simulated webhooks: what a push sends to the receiver set with
//! `SimHub::set_webhook`, how each delivery is recorded, and that deletions send nothing and
//! pushes without a runtime still happen.

use std::convert::Infallible;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::super::{Repo, SimHub, TagSpec};
use super::*;

/// The longest a test waits for deliveries.
const WAIT: Duration = Duration::from_secs(10);

/// A request the test receiver got: content type and JSON body.
struct Received {
    path: String,
    content_type: Option<String>,
    body: serde_json::Value,
}

/// A receiver on a free port that answers `status` to every request and passes each on
/// through the channel; it lives as long as the test's runtime.
async fn receiver(status: StatusCode) -> (String, mpsc::UnboundedReceiver<Received>) {
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let url = format!(
        "http://{}/hooks/acme?source=hub",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let path = request.uri().to_string();
                        let content_type = request
                            .headers()
                            .get(CONTENT_TYPE)
                            .and_then(|v| v.to_str().ok())
                            .map(str::to_string);
                        let bytes = request.into_body().collect().await.unwrap().to_bytes();
                        let body = serde_json::from_slice(&bytes).unwrap();
                        let _ = tx.send(Received {
                            path,
                            content_type,
                            body,
                        });
                        let mut answer = Response::new(Full::new(Bytes::new()));
                        *answer.status_mut() = status;
                        Ok::<_, Infallible>(answer)
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (url, rx)
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a webhook in time")
        .expect("the receiver is running")
}

/// The deliveries once there are `n`, or a panic after [`WAIT`].
async fn deliveries(hub: &SimHub, n: usize) -> Vec<WebhookDelivery> {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let done = hub.webhook_deliveries();
        if done.len() >= n {
            return done;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} of {n} deliveries",
            done.len()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_push_and_a_re_push_post_the_hubs_payload_and_a_delete_posts_nothing() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").private().stars(4).with_tags(2));
    let (url, mut rx) = receiver(StatusCode::OK).await;
    hub.set_webhook(Some(&url));
    hub.set_actor("jane");
    hub.push_tag("acme", "api", TagSpec::new("1.2.4"));
    let first = next(&mut rx).await;
    assert_eq!(first.path, "/hooks/acme?source=hub");
    assert_eq!(first.content_type.as_deref(), Some("application/json"));
    let pushed_at = first.body["push_data"]["pushed_at"].as_i64().unwrap();
    let now = OffsetDateTime::now_utc().unix_timestamp();
    assert!(
        (now - 60..=now).contains(&pushed_at),
        "{pushed_at} vs {now}"
    );
    let date_created = first.body["repository"]["date_created"].as_i64().unwrap();
    assert!(date_created < pushed_at);
    let callback = first.body["callback_url"].as_str().unwrap();
    assert!(
        callback.starts_with("https://registry.hub.docker.com/u/acme/api/hook/"),
        "{callback}"
    );
    assert_eq!(
        first.body,
        serde_json::json!({
            "callback_url": callback,
            "push_data": { "pushed_at": pushed_at, "pusher": "jane", "tag": "1.2.4", "images": [] },
            "repository": {
                "comment_count": 0,
                "date_created": date_created,
                "description": "The api image",
                "dockerfile": "",
                "full_description": "",
                "is_official": false,
                "is_private": true,
                "is_trusted": false,
                "name": "api",
                "namespace": "acme",
                "owner": "acme",
                "repo_name": "acme/api",
                "repo_url": "https://hub.docker.com/r/acme/api",
                "star_count": 4,
                "status": "Active",
            },
        })
    );

    assert!(hub.delete_tag("acme", "api", "1.0.0"));
    hub.set_actor("ci-bot");
    hub.repush_tag("acme", "api", "1.0.1").unwrap();
    let second = next(&mut rx).await;
    assert_eq!(
        (
            second.body["push_data"]["tag"].as_str(),
            second.body["push_data"]["pusher"].as_str()
        ),
        (Some("1.0.1"), Some("ci-bot")),
        "the deletion before the re-push sent nothing"
    );
    let done = deliveries(&hub, 2).await;
    let summary: Vec<(&str, &str, Option<u16>)> = done
        .iter()
        .map(|d| (d.repo_name.as_str(), d.tag.as_str(), d.status))
        .collect();
    assert_eq!(
        summary,
        [
            ("acme/api", "1.2.4", Some(200)),
            ("acme/api", "1.0.1", Some(200))
        ]
    );
    assert!(done.iter().all(|d| d.url == url));
    assert!(rx.try_recv().is_err(), "nothing else was sent");
}

#[test]
fn only_pushes_queue_a_notice() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(3));
    hub.add_repo("acme", Repo::new("old").with_tags(1));
    let mut state = hub.lock();
    state.webhooks.url = Some("http://127.0.0.1:9/".into());
    assert!(state.delete_tag("acme", "api", "1.0.0", "sam"));
    assert!(state.delete_repo("acme", "old", "sam"));
    assert!(state.webhooks.outbox.is_empty());
    state.push_tag("acme", "api", &TagSpec::new("2.0.0"), "sam");
    state.repush_tag("acme", "api", "1.0.1", "sam");
    let tags: Vec<&str> = state
        .webhooks
        .outbox
        .iter()
        .map(|n| n.tag.as_str())
        .collect();
    assert_eq!(tags, ["2.0.0", "1.0.1"]);
}

#[tokio::test]
async fn the_receivers_status_is_recorded_and_an_unreachable_one_gives_none() {
    let hub = SimHub::new();
    hub.add_repo("library", Repo::new("nginx").with_tags(1));
    let (url, mut rx) = receiver(StatusCode::INTERNAL_SERVER_ERROR).await;
    hub.set_webhook(Some(&url));
    hub.push_tag("library", "nginx", TagSpec::new("1.27.3"));
    let official = next(&mut rx).await.body;
    assert_eq!(official["repository"]["is_official"], true);
    assert_eq!(
        official["repository"]["repo_url"],
        "https://hub.docker.com/_/nginx"
    );
    assert_eq!(official["push_data"]["pusher"], "simhub");
    assert_eq!(deliveries(&hub, 1).await[0].status, Some(500));

    let closed = TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
    let gone = format!("http://{}/", closed.local_addr().unwrap());
    drop(closed);
    hub.set_webhook(Some(&gone));
    hub.repush_tag("library", "nginx", "1.27.3");
    hub.set_webhook(Some("https://example.invalid/hook"));
    hub.push_tag("library", "nginx", TagSpec::new("1.27.4"));
    let done = deliveries(&hub, 3).await;
    let failed: Vec<(&str, Option<u16>)> = done[1..]
        .iter()
        .map(|d| (d.url.as_str(), d.status))
        .collect();
    assert!(failed.contains(&(gone.as_str(), None)), "{failed:?}");
    assert!(
        failed.contains(&("https://example.invalid/hook", None)),
        "{failed:?}"
    );

    hub.set_webhook(None);
    hub.push_tag("library", "nginx", TagSpec::new("1.27.5"));
    assert!(hub.lock().webhooks.outbox.is_empty(), "nothing queued");
}

#[tokio::test]
async fn the_churn_and_page_shifts_send_webhooks_too() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(30));
    let (url, mut rx) = receiver(StatusCode::OK).await;
    hub.set_webhook(Some(&url));
    hub.shift_between_pages("acme", "api", crate::Shift::Push, 1);
    let running = hub.start().await.unwrap();
    let page = "/v2/namespaces/acme/repositories/api/tags?page=2";
    assert_eq!(
        super::super::testclient::get(running.addr(), page, None)
            .await
            .status,
        200
    );
    assert_eq!(next(&mut rx).await.body["push_data"]["tag"], "shifted-1");
    let churn = hub.start_churn(Duration::from_millis(1), 3);
    let pushed = next(&mut rx).await.body;
    churn.abort();
    assert!(["jane", "ci-bot", "sam"].contains(&pushed["push_data"]["pusher"].as_str().unwrap()));
}

#[test]
fn without_a_runtime_pushes_still_happen_and_nothing_is_sent() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api"));
    hub.set_webhook(Some("http://127.0.0.1:9/"));
    hub.push_tag("acme", "api", TagSpec::new("1.0.0"));
    assert_eq!(hub.tag_names("acme", "api"), ["1.0.0"]);
    assert!(hub.webhook_deliveries().is_empty());
    assert!(hub.lock().webhooks.outbox.is_empty(), "dropped, not kept");
}
