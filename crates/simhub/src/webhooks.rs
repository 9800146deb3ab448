//! Webhooks: on every push, a `POST` of the Hub's push payload to the URL set with
//! [`SimHub::set_webhook`](super::SimHub::set_webhook), as a repository webhook on the real Hub
//! would send it. Deletions send nothing, and nothing is signed, as on the Hub.
//!
//! Mutations run under the hub's lock, so they only queue a [`Notice`] with its body already
//! written; the handle sends the queue once the lock is released (see `SimHub::mutate`), one
//! spawned task and one attempt per push, and records the outcome as a [`WebhookDelivery`].
//! Deliveries are independent tasks: they may finish, and be recorded, in any order.
//!
//! Only `http://` URLs are supported, over hyper's client connection; there is no retry, no
//! TLS and no redirect following.

use std::error::Error;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::client::conn::http1;
use hyper::header::{CONNECTION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Uri};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use time::OffsetDateTime;
use tokio::net::TcpStream;
use tracing::debug;

use super::SimHub;
use super::reply::to_json;
use super::state::StoredRepo;

/// How long one delivery may take, from connecting to the receiver's status line. The Hub
/// does not document its own limit; a few seconds keeps a dead receiver from piling up tasks.
const DELIVERY_TIMEOUT: Duration = Duration::from_secs(5);

/// One webhook call the hub made, for assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhookDelivery {
    /// Where it was sent.
    pub url: String,
    /// The repository pushed to, as `namespace/repository`.
    pub repo_name: String,
    /// The tag pushed.
    pub tag: String,
    /// The status the receiver answered; `None` when it could not be reached, broke off or
    /// took too long.
    pub status: Option<u16>,
}

/// A delivery waiting for the lock to be released.
#[derive(Debug, Clone)]
pub(super) struct Notice {
    url: String,
    repo_name: String,
    tag: String,
    /// The JSON payload.
    body: String,
}

/// The webhook setting, the notices not yet sent and the deliveries made.
#[derive(Debug, Clone, Default)]
pub(super) struct Webhooks {
    /// Where pushes are reported; `None` for nowhere.
    pub(super) url: Option<String>,
    /// Notices queued by mutations under the lock, sent once it is released.
    pub(super) outbox: Vec<Notice>,
    /// Deliveries whose outcome is known, in the order they became known.
    pub(super) deliveries: Vec<WebhookDelivery>,
}

impl Webhooks {
    /// Queues the notice of a push of `tag` to `repo` by `pusher` at `at`, if a URL is set.
    pub(super) fn queue(&mut self, repo: &StoredRepo, tag: &str, pusher: &str, at: OffsetDateTime) {
        let Some(url) = &self.url else {
            return;
        };
        let repo_name = format!("{}/{}", repo.namespace, repo.name);
        self.outbox.push(Notice {
            url: url.clone(),
            body: to_json(&payload(repo, &repo_name, tag, pusher, at)),
            repo_name,
            tag: tag.to_string(),
        });
    }
}

#[derive(Serialize)]
struct Payload<'a> {
    callback_url: String,
    push_data: PushData<'a>,
    repository: RepositoryJson<'a>,
}

#[derive(Serialize)]
struct PushData<'a> {
    pushed_at: i64,
    pusher: &'a str,
    tag: &'a str,
    /// The Hub's documentation shows image ids here; what it sends for multi-platform tags is
    /// not documented, so the list stays empty.
    images: [&'a str; 0],
}

#[derive(Serialize)]
struct RepositoryJson<'a> {
    comment_count: u64,
    date_created: i64,
    description: &'a str,
    dockerfile: &'a str,
    full_description: &'a str,
    is_official: bool,
    is_private: bool,
    is_trusted: bool,
    name: &'a str,
    namespace: &'a str,
    owner: &'a str,
    repo_name: &'a str,
    repo_url: String,
    star_count: u64,
    status: &'a str,
}

/// The body the Hub posts for a push, field for field as its documentation shows it.
fn payload<'a>(
    repo: &'a StoredRepo,
    repo_name: &'a str,
    tag: &'a str,
    pusher: &'a str,
    at: OffsetDateTime,
) -> Payload<'a> {
    let official = repo.namespace == "library";
    // A stable id per repository, shaped like the hex ids in the Hub's callback URLs.
    let hook = super::data::fnv1a(repo_name.as_bytes());
    Payload {
        callback_url: format!(
            "https://registry.hub.docker.com/u/{repo_name}/hook/{hook:016x}{:016x}/",
            hook.rotate_left(29)
        ),
        push_data: PushData {
            pushed_at: at.unix_timestamp(),
            pusher,
            tag,
            images: [],
        },
        repository: RepositoryJson {
            comment_count: 0,
            date_created: repo.registered.unix_timestamp(),
            description: &repo.description,
            dockerfile: "",
            full_description: "",
            is_official: official,
            is_private: repo.private,
            is_trusted: false,
            name: &repo.name,
            namespace: &repo.namespace,
            owner: &repo.namespace,
            repo_name,
            repo_url: if official {
                format!("https://hub.docker.com/_/{}", repo.name)
            } else {
                format!("https://hub.docker.com/r/{repo_name}")
            },
            star_count: repo.stars,
            status: "Active",
        },
    }
}

/// Sends each notice in its own task and records its outcome on `hub`. Outside a tokio
/// runtime nothing can be sent: the notices are dropped (and not recorded).
pub(super) fn send(hub: &SimHub, notices: Vec<Notice>) {
    if notices.is_empty() {
        return;
    }
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        debug!(
            notices = notices.len(),
            "simulated hub: no async runtime, webhooks not sent"
        );
        return;
    };
    for notice in notices {
        let hub = hub.clone();
        runtime.spawn(async move {
            let status = match tokio::time::timeout(
                DELIVERY_TIMEOUT,
                post(&notice.url, Bytes::from(notice.body)),
            )
            .await
            {
                Ok(Ok(status)) => Some(status),
                Ok(Err(e)) => {
                    debug!(url = %notice.url, error = %e, "simulated hub: webhook failed");
                    None
                }
                Err(_) => {
                    debug!(url = %notice.url, "simulated hub: webhook timed out");
                    None
                }
            };
            hub.lock().webhooks.deliveries.push(WebhookDelivery {
                url: notice.url,
                repo_name: notice.repo_name,
                tag: notice.tag,
                status,
            });
        });
    }
}

/// Posts `body` as JSON to the `http://` URL `url` and returns the status of the answer (its
/// body is not read).
async fn post(url: &str, body: Bytes) -> Result<u16, Box<dyn Error + Send + Sync>> {
    let uri: Uri = url.parse()?;
    if uri.scheme_str() != Some("http") {
        return Err(format!("not an http:// URL: {url}").into());
    }
    let authority = uri.authority().ok_or("a URL without host")?.clone();
    let port = authority.port_u16().unwrap_or(80);
    let stream = TcpStream::connect((authority.host(), port)).await?;
    let _ = stream.set_nodelay(true);
    let (mut sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(HOST, authority.as_str())
        .header(CONTENT_TYPE, "application/json")
        .header(CONNECTION, "close")
        .body(Full::new(body))?;
    let exchange = sender.send_request(request);
    tokio::pin!(exchange, connection);
    // The connection has to be driven while the answer is awaited; if it ends first, the
    // answer (or the error that ended it) is already waiting in `exchange`.
    let response = tokio::select! {
        response = &mut exchange => response?,
        ended = &mut connection => {
            ended?;
            exchange.await?
        }
    };
    Ok(response.status().as_u16())
}

#[cfg(test)]
mod tests;
