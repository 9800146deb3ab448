//! The Docker Hub webhook endpoint, `POST /hooks/dockerhub/<token>`
//! (`--web.webhook-token-file`).
//!
//! Docker Hub signs nothing and sends no credentials, so the secret token in the path is the
//! endpoint's only protection: it is compared in constant time, and any other path under
//! `/hooks/` is 404. Basic authentication does not apply here; TLS does, like everywhere. The
//! payload is a hint, never data: only the repository it names is taken from it, and a
//! repository the exporter does not inventory is ignored, and a name the Hub could not hold
//! (`..`, a control character) is refused unread. The answer never waits for the re-read:
//! `202` once it is asked for (or, counted as ignored, when too many re-reads wait and the
//! next refresh will read it), `400` for a body that is malformed, names no repository the
//! Hub could hold, is over [`MAX_BODY`] or is not sent within [`BODY_TIMEOUT`]. The endpoint
//! has [`SLOTS`] request slots of its own, apart from the other endpoints'.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use hyper::body::{Body, Incoming};
use hyper::header::{ALLOW, CONTENT_LENGTH, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tracing::debug;

use super::{Chunks, text};
use crate::inventory::check_name;

/// Where the endpoints live.
pub(crate) const PREFIX: &str = "/hooks/";

/// The endpoint under [`PREFIX`], followed by the token.
const ENDPOINT: &str = "/hooks/dockerhub/";

/// The largest body read; Docker Hub's payloads are a few KiB.
pub(crate) const MAX_BODY: usize = 64 * 1024;

/// How long a client may take to send the body.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Webhook requests answered at once at most, beyond which the answer is 503. Their own,
/// apart from `--web.max-requests`: a body may take [`BODY_TIMEOUT`] to arrive, and slow
/// bodies must not take the slots of the scrapes. Docker Hub sends one request per push.
pub(crate) const SLOTS: usize = 4;

/// How a request to the endpoint ended, as `dockerhub_webhook_requests_total` counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WebhookResult {
    /// A re-read was asked for (or folded into one already due).
    Accepted,
    /// The repository is not inventoried, or too many re-reads wait (answered 202 all the
    /// same: the next refresh reads it).
    Ignored,
    /// The body is malformed or too large, or the method is not POST.
    Invalid,
    /// The token is wrong.
    Unauthorized,
}

impl WebhookResult {
    /// Every result, in the order the metric lists them.
    pub(crate) const ALL: [WebhookResult; 4] = [
        WebhookResult::Accepted,
        WebhookResult::Ignored,
        WebhookResult::Invalid,
        WebhookResult::Unauthorized,
    ];

    /// The value of the `result` label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            WebhookResult::Accepted => "accepted",
            WebhookResult::Ignored => "ignored",
            WebhookResult::Invalid => "invalid",
            WebhookResult::Unauthorized => "unauthorized",
        }
    }
}

/// Hears how each request to the endpoint ended.
pub(crate) trait WebhookObserver: Send + Sync {
    /// A request was answered.
    fn answered(&self, result: WebhookResult);
}

/// What became of a push the endpoint heard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    /// A re-read was asked for (or folded into one already waiting).
    Queued,
    /// The repository is not inventoried; nothing was done.
    NotInventoried,
    /// Too many re-reads are waiting; the repository is left to the next refresh.
    QueueFull,
}

/// Takes the repositories that webhooks name.
pub(crate) trait PushReceiver: Send + Sync {
    /// A push to `namespace/repository` was announced.
    fn pushed(&self, namespace: &str, repository: &str) -> Pushed;
}

/// The endpoint: its token, and where what it hears goes.
pub(crate) struct Webhook {
    /// The secret path segment.
    token: String,
    /// Takes the pushes announced.
    receiver: Arc<dyn PushReceiver>,
    /// Counts the answers.
    observer: Arc<dyn WebhookObserver>,
    /// The endpoint's own request slots (see [`SLOTS`]).
    slots: Semaphore,
}

impl Webhook {
    /// The endpoint at the path ending in `token`, handing pushes to `receiver` and its
    /// answers to `observer`.
    pub(crate) fn new(
        token: String,
        receiver: Arc<dyn PushReceiver>,
        observer: Arc<dyn WebhookObserver>,
    ) -> Webhook {
        Webhook {
            token,
            receiver,
            observer,
            slots: Semaphore::new(SLOTS),
        }
    }

    /// Whether `path` is this endpoint's, with the right token.
    pub(crate) fn authorized(&self, path: &str) -> bool {
        path.strip_prefix(ENDPOINT)
            .is_some_and(|token| same(token.as_bytes(), self.token.as_bytes()))
    }

    /// Answers a request whose path starts with [`PREFIX`]; with the right token, in one of
    /// the endpoint's own slots, or 503 when they are all taken.
    pub(crate) async fn answer(&self, request: Request<Incoming>) -> Response<Chunks> {
        let _slot = match self.authorized(request.uri().path()) {
            true => match self.slots.try_acquire() {
                Ok(slot) => Some(slot),
                Err(_) => return super::busy(),
            },
            false => None,
        };
        let (result, response) = self.handle(request).await;
        self.observer.answered(result);
        response
    }

    async fn handle(&self, request: Request<Incoming>) -> (WebhookResult, Response<Chunks>) {
        if !self.authorized(request.uri().path()) {
            return (
                WebhookResult::Unauthorized,
                text(StatusCode::NOT_FOUND, "not found\n"),
            );
        }
        if request.method() != Method::POST {
            let mut response = text(
                StatusCode::METHOD_NOT_ALLOWED,
                "method not allowed: Docker Hub webhooks use POST\n",
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("POST"));
            return (WebhookResult::Invalid, response);
        }
        let body = match read_body(request).await {
            Ok(body) => body,
            Err(why) => {
                debug!(reason = why, "webhook body refused");
                return (
                    WebhookResult::Invalid,
                    text(StatusCode::BAD_REQUEST, "invalid webhook body\n"),
                );
            }
        };
        let (namespace, repository) = match pushed_repository(&body) {
            Ok(named) => named,
            Err(why) => {
                debug!(reason = %why, "webhook payload refused");
                return (
                    WebhookResult::Invalid,
                    text(
                        StatusCode::BAD_REQUEST,
                        "invalid webhook payload: expected a Docker Hub push with repository.repo_name\n",
                    ),
                );
            }
        };
        // The log escapes what a terminal would act on (see `logging`).
        match self.receiver.pushed(&namespace, &repository) {
            Pushed::Queued => {
                debug!(hub_namespace = %namespace, repository = %repository, "webhook: re-read asked for");
                (
                    WebhookResult::Accepted,
                    text(StatusCode::ACCEPTED, "accepted\n"),
                )
            }
            Pushed::NotInventoried => {
                debug!(hub_namespace = %namespace, repository = %repository, reason = "not inventoried", "webhook ignored");
                (
                    WebhookResult::Ignored,
                    text(
                        StatusCode::OK,
                        "ignored: the repository is not inventoried\n",
                    ),
                )
            }
            // Docker Hub retries what is not a 2xx; the next refresh reads the repository
            // anyway, so the push is taken, and counted as ignored.
            Pushed::QueueFull => {
                debug!(hub_namespace = %namespace, repository = %repository, reason = "too many re-reads are waiting; left to the next refresh", "webhook ignored");
                (
                    WebhookResult::Ignored,
                    text(
                        StatusCode::ACCEPTED,
                        "accepted: too many re-reads are waiting; the next refresh reads the repository\n",
                    ),
                )
            }
        }
    }
}

/// Whether `a` and `b` are equal, in a time that depends on their lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    let mut differ = a.len() ^ b.len();
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).copied().unwrap_or(0);
        let y = b.get(i).copied().unwrap_or(0);
        differ |= usize::from(x ^ y);
    }
    std::hint::black_box(differ) == 0
}

/// The body, if it is at most [`MAX_BODY`] and arrives within [`BODY_TIMEOUT`].
async fn read_body(request: Request<Incoming>) -> Result<Bytes, &'static str> {
    let announced = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY as u64) {
        return Err("the body announced is over the limit");
    }
    let mut body = request.into_body();
    let read = async {
        let mut buffer = BytesMut::new();
        loop {
            let frame =
                std::future::poll_fn(|cx| std::pin::Pin::new(&mut body).poll_frame(cx)).await;
            match frame {
                None => return Ok(buffer.freeze()),
                Some(Err(_)) => return Err("the body could not be read"),
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        if buffer.len() + data.len() > MAX_BODY {
                            return Err("the body is over the limit");
                        }
                        buffer.extend_from_slice(&data);
                    }
                }
            }
        }
    };
    tokio::time::timeout(BODY_TIMEOUT, read)
        .await
        .unwrap_or(Err("the body was not sent in time"))
}

/// The part of a Docker Hub push payload that is read; everything else is ignored.
#[derive(Deserialize)]
struct Payload {
    repository: Option<PayloadRepository>,
}

/// The payload's `repository`: any of its fields may be missing or of another type.
#[derive(Deserialize)]
struct PayloadRepository {
    #[serde(default)]
    repo_name: serde_json::Value,
    #[serde(default)]
    namespace: serde_json::Value,
    #[serde(default)]
    name: serde_json::Value,
}

/// The repository a push payload names: `repository.repo_name` (`namespace/name`), or else
/// `repository.namespace` and `repository.name`.
pub(crate) fn pushed_repository(body: &[u8]) -> Result<(String, String), String> {
    let payload: Payload = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let repository = payload.repository.ok_or("no repository")?;
    let named = repository
        .repo_name
        .as_str()
        .and_then(|full| full.split_once('/'))
        .map(|(ns, name)| (ns.to_string(), name.to_string()))
        .or_else(|| {
            Some((
                repository.namespace.as_str()?.to_string(),
                repository.name.as_str()?.to_string(),
            ))
        })
        .ok_or("no repository.repo_name, nor repository.namespace and repository.name")?;
    // The inventory's check, as for the audit log's names: `acme/..` would otherwise reach
    // the Hub as a request for another path. Whitespace is no Hub name either.
    for part in [&named.0, &named.1] {
        let checked = check_name(part).and_then(|()| match part.chars().any(char::is_whitespace) {
            true => Err("holds whitespace"),
            false => Ok(()),
        });
        if let Err(why) = checked {
            return Err(format!(
                "{part:?} {why}: not a namespace or repository name"
            ));
        }
    }
    Ok(named)
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_repository_comes_from_repo_name_or_namespace_and_name() {
        let full = br#"{"push_data": {"tag": "1.2.4", "pusher": "jane", "pushed_at": 1764680000},
            "repository": {"repo_name": "acme/api", "namespace": "other", "name": "other",
            "is_private": true, "status": "Active"}, "callback_url": "https://x"}"#;
        assert_eq!(
            pushed_repository(full),
            Ok(("acme".to_string(), "api".to_string()))
        );
        let parts = br#"{"repository": {"namespace": "acme", "name": "web"}}"#;
        assert_eq!(
            pushed_repository(parts),
            Ok(("acme".to_string(), "web".to_string()))
        );
    }

    #[test]
    fn payloads_that_name_no_repository_are_refused() {
        for body in [
            &b""[..],
            b"not json",
            b"[]",
            b"{}",
            br#"{"repository": null}"#,
            br#"{"repository": {"repo_name": 7}}"#,
            br#"{"repository": {"repo_name": "no-slash"}}"#,
            br#"{"repository": {"repo_name": "acme/a/b"}}"#,
            br#"{"repository": {"repo_name": "acme/"}}"#,
            br#"{"repository": {"repo_name": "acme/a b"}}"#,
            br#"{"repository": {"repo_name": "acme/.."}}"#,
            br#"{"repository": {"repo_name": "acme/."}}"#,
            br#"{"repository": {"repo_name": "../api"}}"#,
            br#"{"repository": {"namespace": "acme", "name": ".."}}"#,
            br#"{"repository": {"namespace": ".", "name": "api"}}"#,
            br#"{"repository": {"repo_name": "acme/a\u0000b"}}"#,
        ] {
            assert!(
                pushed_repository(body).is_err(),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn tokens_are_equal_only_when_every_byte_and_the_length_are() {
        assert!(same(b"abc", b"abc"));
        assert!(same(b"", b""));
        for other in [&b"abd"[..], b"ab", b"abcd", b"", b"ABC"] {
            assert!(!same(b"abc", other), "{other:?}");
        }
    }

    #[test]
    fn only_the_path_with_the_token_is_the_endpoint() {
        struct Nobody;
        impl PushReceiver for Nobody {
            fn pushed(&self, _: &str, _: &str) -> Pushed {
                Pushed::NotInventoried
            }
        }
        impl WebhookObserver for Nobody {
            fn answered(&self, _: WebhookResult) {}
        }
        let hook = Webhook::new(
            "0123456789abcdef".into(),
            Arc::new(Nobody),
            Arc::new(Nobody),
        );
        assert!(hook.authorized("/hooks/dockerhub/0123456789abcdef"));
        for path in [
            "/hooks/dockerhub/0123456789abcdeg",
            "/hooks/dockerhub/0123456789abcdef/",
            "/hooks/dockerhub/",
            "/hooks/other/0123456789abcdef",
            "/hooks/",
        ] {
            assert!(!hook.authorized(path), "{path}");
        }
    }
}
