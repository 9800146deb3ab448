//! The HTTP endpoints: `/metrics` (or the configured telemetry path), `/healthz`, `/readyz`
//! and a landing page at `/`.
//!
//! This module owns the accept loop, TLS and authentication (see [`webconfig`]), the routing,
//! content negotiation (gzip) and the shutdown of open connections. It serves whatever the
//! refresh loop last published, cloning the `Arc<Published>` out of the watch channel per
//! request so that no lock is held while a response is built or sent. It never calls the Hub
//! and never renders series itself: a scrape's body comes from [`crate::publication::scrape`].

mod listeners;
mod pages;
pub(crate) mod webconfig;
mod webhook;

pub use listeners::Listeners;
pub(crate) use pages::About;
pub(crate) use webhook::{PushReceiver, Pushed, Webhook, WebhookObserver, WebhookResult};

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{
    ACCEPT, ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap,
    HeaderValue, VARY,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::publication::{Format, OwnSeries, Published};
use crate::shutdown;

/// Pause after a failed accept, so that running out of file descriptors does not turn the
/// loop into a busy spin while connections close.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(250);

/// How long a client may take to send request headers (hyper's default, made explicit so
/// that the timer it needs is set).
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the HTTP side reads.
pub(crate) struct State {
    /// The published inventory, replaced by the refresh loop.
    pub(crate) published: watch::Receiver<Arc<Published>>,
    /// The exporter's own series, gathered for each scrape.
    pub(crate) own_series: Arc<OwnSeries>,
    /// Path of the metrics endpoint, for example `/metrics`.
    pub(crate) telemetry_path: String,
    /// What the landing page shows beside the inventory.
    pub(crate) about: About,
    /// Requests served at once at most (`--web.max-requests`); beyond, 503.
    pub(crate) in_flight: Arc<tokio::sync::Semaphore>,
    /// TLS and authentication (`--web.config.file`).
    pub(crate) web: webconfig::Watched,
    /// How long a client may take for the TLS handshake and for its request headers
    /// ([`HEADER_READ_TIMEOUT`] in the exporter).
    pub(crate) header_read_timeout: Duration,
    /// The Docker Hub webhook endpoint, if configured (`--web.webhook-token-file`).
    pub(crate) webhook: Option<Webhook>,
}

/// Serves HTTP on `listeners` until `shutdown` completes, then gives open connections
/// [`shutdown::GRACE`] to finish and returns.
pub(crate) async fn run(
    listeners: Listeners,
    state: State,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let state = Arc::new(state);
    let (stop, stopped) = shutdown::channel();
    let mut connections = JoinSet::new();
    let mut shutdown = pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            biased;
            () = &mut shutdown => break,
            Some(finished) = connections.join_next(), if !connections.is_empty() => {
                if let Err(e) = finished {
                    warn!(error = %e, "a connection task failed");
                }
                continue;
            }
            accepted = listeners.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                // A response goes out as a few writes (headers, a small part, the inventory);
                // without this, Nagle's algorithm holds the later ones for the client's
                // delayed acknowledgement, some 40 ms.
                if let Err(e) = stream.set_nodelay(true) {
                    debug!(peer = %peer, error = %e, "cannot set TCP_NODELAY");
                }
                connections.spawn(accept_connection(
                    stream,
                    peer,
                    Arc::clone(&state),
                    stopped.clone(),
                ));
            }
            Err(e) => {
                warn!(error = %e, "accepting a connection failed");
                tokio::select! {
                    () = &mut shutdown => break,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
            }
        }
    }
    drop(listeners);
    stop.fire();
    let drained = tokio::time::timeout(shutdown::GRACE, async {
        while connections.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        debug!(
            open = connections.len(),
            "closing connections still open after the grace"
        );
        connections.shutdown().await;
    }
    Ok(())
}

/// Serves one connection until the client closes it or shutdown asks it to finish.
/// Completes the TLS handshake when the web configuration asks for TLS, then serves.
async fn accept_connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<State>,
    stopped: shutdown::Signal,
) {
    let Some(tls) = state.web.current().tls.clone() else {
        return serve_connection(stream, peer, state, stopped).await;
    };
    let handshake = tokio_rustls::TlsAcceptor::from(tls).accept(stream);
    match tokio::time::timeout(state.header_read_timeout, handshake).await {
        Ok(Ok(stream)) => serve_connection(stream, peer, state, stopped).await,
        Ok(Err(e)) => debug!(peer = %peer, error = %e, "TLS handshake failed"),
        Err(_) => debug!(peer = %peer, "TLS handshake timed out"),
    }
}

async fn serve_connection<S>(
    stream: S,
    peer: SocketAddr,
    state: Arc<State>,
    stopped: shutdown::Signal,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let header_read_timeout = state.header_read_timeout;
    let service = service_fn(move |request: Request<Incoming>| {
        let state = Arc::clone(&state);
        async move {
            let mut response = respond(&state, request).await;
            // `http_server_config.headers`, on every response (401, 404 and 503 too), as the
            // exporter toolkit sets them; none of them is one the server sets itself.
            for (name, value) in state.web.current().response_headers() {
                response.headers_mut().insert(name.clone(), value.clone());
            }
            Ok::<_, Infallible>(response)
        }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout);
    let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = stopped.wait() => {
            // Finishes the request in flight, if any, then closes.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = served {
        debug!(peer = %peer, error = %e, "connection ended with an error");
    }
}

/// Routes one request and builds its response; HEAD gets the GET headers without the body.
async fn respond(state: &State, request: Request<Incoming>) -> Response<Chunks> {
    // Docker Hub sends no credentials: its endpoint is protected by the token in its path.
    // Its bodies arrive slowly, if the sender wants: it has slots of its own, so that it
    // cannot take the scrapes'.
    if let Some(hook) = &state.webhook
        && request.uri().path().starts_with(webhook::PREFIX)
    {
        return hook.answer(request).await;
    }
    let request = &request;
    if has_body(request) {
        return text(
            StatusCode::PAYLOAD_TOO_LARGE,
            "this server accepts no request body\n",
        );
    }
    let path = request.uri().path();
    let web = state.web.current();
    let open = web.open_health_endpoints && matches!(path, "/healthz" | "/readyz");
    // Authentication comes before a slot is taken: a client whose password bcrypt must check
    // waits for its turn without keeping anyone else's request out.
    if web.requires_auth() && !open && !authorized(&state.web, &web, request.headers()).await {
        let mut response = text(StatusCode::UNAUTHORIZED, "unauthorized\n");
        response.headers_mut().insert(
            hyper::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"dockerhub_exporter\""),
        );
        return response;
    }
    // Held until the response is built; sending it does not count. The health endpoints
    // cost nothing and take none: a liveness probe is never refused for want of a slot.
    let _slot = match path {
        "/healthz" | "/readyz" => None,
        _ => match state.in_flight.try_acquire() {
            Ok(slot) => Some(slot),
            Err(_) => return busy(),
        },
    };
    let is_metrics = path == state.telemetry_path;
    let page = pages::Page::at(path);
    let response = if !is_metrics && page.is_none() && !matches!(path, "/healthz" | "/readyz") {
        text(StatusCode::NOT_FOUND, "not found\n")
    } else if request.method() != Method::GET && request.method() != Method::HEAD {
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "method not allowed: use GET or HEAD\n",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        response
    } else if is_metrics {
        metrics(state, request.headers())
    } else if let Some(page) = page {
        pages::respond(state, page, request.uri().query())
    } else if path == "/healthz" {
        text(StatusCode::OK, "ok\n")
    } else {
        readiness(state)
    };
    let (mut parts, mut body) = response.into_parts();
    if request.method() == Method::HEAD {
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.0.remaining()));
        body = Chunks::new([]);
    }
    Response::from_parts(parts, body)
}

/// The answer when `--web.max-requests` requests (or the webhook's own slots) are taken.
fn busy() -> Response<Chunks> {
    text(
        StatusCode::SERVICE_UNAVAILABLE,
        "too many requests at once; try again\n",
    )
}

/// Whether the request carries basic credentials that `web` admits.
async fn authorized(
    watched: &webconfig::Watched,
    web: &Arc<webconfig::WebConfig>,
    headers: &HeaderMap,
) -> bool {
    use base64::Engine as _;
    let Some(credentials) = headers
        .get(hyper::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return false;
    };
    let Some((user, password)) = credentials.split_once(':') else {
        return false;
    };
    watched.admits(web, user, password).await
}

/// Whether the request announces a body (a non-zero length, or chunks), which is refused
/// unread.
fn has_body(request: &Request<Incoming>) -> bool {
    let headers = request.headers();
    headers.contains_key(hyper::header::TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()) != Some(0))
}

/// The exporter's own series then the published inventory, gzipped when the client accepts
/// it (see [`crate::publication::scrape`]).
fn metrics(state: &State, request_headers: &HeaderMap) -> Response<Chunks> {
    let format = negotiated_format(request_headers);
    let scrape = crate::publication::scrape(
        state.own_series.as_ref(),
        &state.published,
        accepts_gzip(request_headers),
        format,
    );
    let mut response = Response::new(Chunks(scrape.body));
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    // Sent on plain answers too: any of the representations may be cached for this URL.
    headers.insert(VARY, HeaderValue::from_static("Accept, Accept-Encoding"));
    if scrape.gzipped {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// A response body sent a buffer at a time (see [`crate::publication::Body`]).
pub(crate) struct Chunks(crate::publication::Body);

impl Chunks {
    fn new(parts: impl IntoIterator<Item = Bytes>) -> Self {
        Chunks(crate::publication::Body::from_bytes(parts))
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        std::task::Poll::Ready(self.0.next_chunk().map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.0.is_end()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.0.remaining())
    }
}

/// Whether `Accept-Encoding` admits gzip (RFC 9110 §12.5.3): an explicit `gzip` (or `x-gzip`)
/// entry decides by its weight, otherwise a `*` entry does; `q=0` or an unreadable weight
/// means no.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut explicit = None;
    let mut wildcard = None;
    for entry in weighted(headers, ACCEPT_ENCODING) {
        let accepted = entry.weight.is_some_and(|q| q > 0.0);
        if entry.value.eq_ignore_ascii_case("gzip") || entry.value.eq_ignore_ascii_case("x-gzip") {
            explicit.get_or_insert(accepted);
        } else if entry.value == "*" {
            wildcard.get_or_insert(accepted);
        }
    }
    explicit.or(wildcard).unwrap_or(false)
}

/// OpenMetrics when `Accept` weighs `application/openmetrics-text` (version 1.0.0 or 0.0.1,
/// or none named) at least as high as every other type it names and above 0; the text
/// format otherwise, as for clients that send no `Accept`.
fn negotiated_format(headers: &HeaderMap) -> Format {
    let mut openmetrics: Option<f64> = None;
    let mut others: Option<f64> = None;
    for entry in weighted(headers, ACCEPT) {
        let Some(weight) = entry.weight else { continue };
        let version = entry
            .params
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("version"))
            .map(|(_, v)| v.trim_matches('"'));
        let best = if entry
            .value
            .eq_ignore_ascii_case("application/openmetrics-text")
            && version.is_none_or(|v| v == "1.0.0" || v == "0.0.1")
        {
            &mut openmetrics
        } else {
            &mut others
        };
        *best = Some(best.map_or(weight, |b| b.max(weight)));
    }
    match openmetrics {
        Some(om) if om > 0.0 && others.is_none_or(|o| om >= o) => Format::OpenMetrics,
        _ => Format::Text,
    }
}

/// One entry of a weighted list header (`Accept`, `Accept-Encoding`).
struct Weighted<'a> {
    /// The media type or coding.
    value: &'a str,
    /// `q`: 1 when absent, `None` when it is not a weight.
    weight: Option<f64>,
    /// The other parameters, trimmed.
    params: Vec<(&'a str, &'a str)>,
}

/// The entries of every `name` header, in order; values that are not text are passed over.
fn weighted(headers: &HeaderMap, name: hyper::header::HeaderName) -> Vec<Weighted<'_>> {
    let mut entries = Vec::new();
    for value in headers.get_all(name) {
        let Ok(value) = value.to_str() else { continue };
        for entry in value.split(',') {
            let mut parts = entry.split(';');
            let mut weighted = Weighted {
                value: parts.next().unwrap_or_default().trim(),
                weight: Some(1.0),
                params: Vec::new(),
            };
            for (param, v) in parts.filter_map(|p| p.split_once('=')) {
                let (param, v) = (param.trim(), v.trim());
                if param.eq_ignore_ascii_case("q") {
                    weighted.weight = parse_weight(v);
                } else {
                    weighted.params.push((param, v));
                }
            }
            entries.push(weighted);
        }
    }
    entries
}

/// A weight between 0 and 1, `None` when it is not one.
fn parse_weight(q: &str) -> Option<f64> {
    // `parse` also takes forms such as `inf` or `1e0` that the grammar does not; the range
    // check rejects the ones that matter.
    q.parse::<f64>().ok().filter(|q| (0.0..=1.0).contains(q))
}

/// 200 once a refresh has finished, fully or in part; 503 before, and while every refresh
/// has failed outright.
fn readiness(state: &State) -> Response<Chunks> {
    let published = Arc::clone(&state.published.borrow());
    if published.ready {
        text(StatusCode::OK, "ready\n")
    } else {
        text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: no refresh has read anything yet\n",
        )
    }
}

fn text(status: StatusCode, body: &'static str) -> Response<Chunks> {
    typed(
        status,
        Bytes::from_static(body.as_bytes()),
        "text/plain; charset=utf-8",
    )
}

/// An answer of `status` with `body` of `content_type`.
fn typed(status: StatusCode, body: Bytes, content_type: &'static str) -> Response<Chunks> {
    let mut response = Response::new(Chunks::new([body]));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests;
