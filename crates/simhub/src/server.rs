//! The HTTP side: accepting connections, reading each request, and wrapping the router with
//! what applies to every request in this order: rate limit, fault, route, rate-limit headers,
//! record, then latency. The rate limit and its headers are the Hub API's, so they skip the
//! simulated registry's paths.
//!
//! The answer is decided under the lock at arrival, then the lock is released before any
//! sleeping or writing, so slow answers never block other requests or the test's own calls.
//! Connection tasks live in a `JoinSet` owned by the serve future: aborting the server (as
//! `RunningHub`'s drop does) closes every open connection too.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{ACCEPT_ENCODING, AUTHORIZATION, HOST};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tracing::{debug, warn};

use hyper::body::Body as _;

use super::reply::{Reply, SimBody};
use super::routes::{self, HubRequest};
use super::state::State;
use super::{RequestRecord, SimHub, faults, registry, webhooks};

/// Login bodies are tiny; anything larger is refused unread.
const MAX_BODY: usize = 64 * 1024;

/// Pause after a failed accept (e.g. out of file descriptors) before trying again.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(50);

/// Serves `hub` on `listener` until the future is dropped; with `registry_root`, the
/// registry's `/v2/` at the root of the port instead of the Hub API's.
pub(super) async fn serve(
    hub: SimHub,
    listener: TcpListener,
    registry_root: bool,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(connection(hub.clone(), stream, local, registry_root));
                }
                Err(e) => {
                    warn!(error = %e, "simulated hub: accept failed");
                    tokio::time::sleep(ACCEPT_BACKOFF).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

async fn connection(hub: SimHub, stream: TcpStream, local: SocketAddr, registry_root: bool) {
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |request| {
        let hub = hub.clone();
        async move { Ok::<_, Infallible>(handle(hub, request, local, registry_root).await) }
    });
    if let Err(e) = http1::Builder::new()
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        debug!(error = %e, "simulated hub: connection ended with an error");
    }
}

async fn handle(
    hub: SimHub,
    request: Request<Incoming>,
    local: SocketAddr,
    registry_root: bool,
) -> Response<SimBody> {
    let at = Instant::now();
    let header = |name| {
        request
            .headers()
            .get(name)
            .and_then(|v: &hyper::header::HeaderValue| v.to_str().ok())
            .map(str::to_string)
    };
    let authorization = header(AUTHORIZATION);
    let accepts_gzip = request
        .headers()
        .get_all(ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| coding.split(';').next().is_some_and(|c| c.trim() == "gzip"));
    let host = header(HOST).unwrap_or_else(|| local.to_string());
    let method = request.method().clone();
    let mut path = request.uri().path().to_string();
    let registry_root = registry_root && (path == "/v2" || path.starts_with("/v2/"));
    if registry_root {
        path = format!("{}{path}", registry::PREFIX);
    }
    let query = request.uri().query().unwrap_or("").to_string();
    let body = if method == Method::POST {
        Limited::new(request.into_body(), MAX_BODY)
            .collect()
            .await
            .ok()
            .map(|c| c.to_bytes())
    } else {
        Some(Bytes::new())
    };
    let req = HubRequest {
        method,
        path,
        query,
        authorization,
        host,
        body,
        accepts_gzip,
        registry_root,
    };
    let (reply, gzip, record, delay) = respond(&mut hub.lock(), &req, at);
    // A page shift may have pushed a tag; its webhook goes out now the lock is released.
    let notices = std::mem::take(&mut hub.lock().webhooks.outbox);
    webhooks::send(&hub, notices);
    // Rendered and compressed outside the lock, as concurrent requests would be on the Hub.
    let response = reply.into_response(gzip);
    let body_bytes = response.body().size_hint().exact().unwrap_or_else(|| {
        response
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok())
            .unwrap_or(0)
    });
    if let Some(r) = hub.lock().requests.get_mut(record) {
        r.body_bytes = body_bytes;
    }
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    response
}

/// Decides the answer to `req` and records the request; says whether to gzip the answer,
/// where the record is (its body size is filled in once the body exists), and how long to
/// wait before sending the answer.
fn respond(state: &mut State, req: &HubRequest, at: Instant) -> (Reply, bool, usize, Duration) {
    // The registry is another service, outside the Hub API's quota.
    let verdict = match &mut state.limiter {
        Some(l) if !registry::owns(&req.path) => Some(l.admit(SystemTime::now())),
        _ => None,
    };
    let (mut reply, slow) = match verdict {
        Some(v) if !v.allowed => (v.refusal(state.settings.retry_after), Duration::ZERO),
        _ => match faults::take(&mut state.faults, &req.target()) {
            None => (routes::route(state, req), Duration::ZERO),
            Some(kind) => faults::answer(
                kind,
                || routes::route(state, req),
                |page| req.page_url(page, req.page_size()),
                req.page_number(),
                &req.host,
            ),
        },
    };
    if let Some(v) = verdict
        && (state.settings.rate_limit_headers || reply.status == 429)
    {
        reply.headers.extend(v.headers());
    }
    state.requests.push(RequestRecord {
        at,
        method: req.method.to_string(),
        path: req.path.clone(),
        query: req.query.clone(),
        authorization: req.authorization.clone(),
        status: reply.status,
        body_bytes: 0,
        accepts_gzip: req.accepts_gzip,
    });
    let gzip = req.accepts_gzip && state.settings.compression;
    let record = state.requests.len() - 1;
    (
        reply,
        gzip,
        record,
        state.settings.latency.saturating_add(slow),
    )
}
