//! The HTTP endpoints: `/metrics` (or the configured telemetry path), `/healthz`, `/readyz`
//! and a landing page at `/`.
//!
//! This module owns the accept loop, the routing, content negotiation (gzip) and the shutdown
//! of open connections. It serves whatever the refresh loop last published, cloning the
//! `Arc<Published>` out of the watch channel per request so that no lock is held while a
//! response is built or sent. It never calls the Hub and never renders inventory series
//! itself: the exposition comes pre-rendered from [`crate::metrics`].

use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use hyper::header::{
    ACCEPT_ENCODING, ALLOW, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderMap, HeaderValue,
    VARY,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinSet;
use tracing::{debug, warn};

use crate::metrics::{Published, Telemetry, unix_seconds};

/// The content type of the text exposition format 0.0.4, which is UTF-8.
const METRICS_CONTENT_TYPE: &str = "text/plain; version=0.0.4";

/// How long open connections may finish their requests once shutdown begins; the caller in
/// `lib.rs` waits a little longer than this before aborting the whole server.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Pause after a failed accept, so that running out of file descriptors does not turn the
/// loop into a busy spin while connections close.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(250);

/// How long a client may take to send request headers (hyper's default, made explicit so
/// that the timer it needs is set).
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// What the HTTP side reads.
pub struct ServerState {
    /// The published inventory, replaced by the refresh loop.
    pub published: watch::Receiver<Arc<Published>>,
    /// The exporter's own series.
    pub telemetry: Arc<Telemetry>,
    /// Path of the metrics endpoint, for example `/metrics`.
    pub telemetry_path: String,
    /// Configured namespaces, shown on the landing page.
    pub namespaces: Vec<String>,
}

/// Serves HTTP on `listener` until `shutdown` completes, then gives open connections a short
/// grace to finish and returns.
pub async fn run(
    listener: TcpListener,
    state: ServerState,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let state = Arc::new(state);
    let (stop, stopped) = watch::channel(false);
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
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                // A response goes out as a few writes (headers, a small part, the inventory);
                // without this, Nagle's algorithm holds the later ones for the client's
                // delayed acknowledgement, some 40 ms.
                if let Err(e) = stream.set_nodelay(true) {
                    debug!(peer = %peer, error = %e, "cannot set TCP_NODELAY");
                }
                connections.spawn(serve_connection(
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
    drop(listener);
    // Every connection task holds a receiver, so this cannot fail while any is open.
    let _ = stop.send(true);
    let drained = tokio::time::timeout(SHUTDOWN_GRACE, async {
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
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    state: Arc<ServerState>,
    stopped: watch::Receiver<bool>,
) {
    let service = service_fn(move |request: Request<Incoming>| {
        let state = Arc::clone(&state);
        async move { Ok::<_, Infallible>(respond(&state, &request).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let mut connection = pin!(builder.serve_connection(TokioIo::new(stream), service));
    let served = tokio::select! {
        served = connection.as_mut() => served,
        () = until_stopped(stopped) => {
            // Finishes the request in flight, if any, then closes.
            connection.as_mut().graceful_shutdown();
            connection.await
        }
    };
    if let Err(e) = served {
        debug!(peer = %peer, error = %e, "connection ended with an error");
    }
}

async fn until_stopped(mut stopped: watch::Receiver<bool>) {
    // An error means the sender is gone, which happens only once the server is done: stop too.
    let _ = stopped.wait_for(|s| *s).await;
}

/// Routes one request and builds its response; HEAD gets the GET headers without the body.
async fn respond(state: &ServerState, request: &Request<Incoming>) -> Response<Chunks> {
    let path = request.uri().path();
    let is_metrics = path == state.telemetry_path;
    let response = if !is_metrics && !matches!(path, "/" | "/healthz" | "/readyz") {
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
    } else {
        match path {
            "/healthz" => text(StatusCode::OK, "ok\n"),
            "/readyz" => readiness(state),
            _ => landing_page(state),
        }
    };
    let (mut parts, mut body) = response.into_parts();
    if request.method() == Method::HEAD {
        parts
            .headers
            .insert(CONTENT_LENGTH, HeaderValue::from(body.remaining));
        body = Chunks::new([]);
    }
    Response::from_parts(parts, body)
}

/// The exporter's own series then the published inventory, gzipped when the client accepts it.
///
/// The inventory is rendered and deflated once per refresh; a scrape encodes (and compresses)
/// only the exporter's own few series and sends the shared buffers after them, without copying
/// them (see [`crate::metrics::gzip`]).
fn metrics(state: &ServerState, request_headers: &HeaderMap) -> Response<Chunks> {
    let gzip = accepts_gzip(request_headers);
    // Gathered before the inventory is taken: see `Telemetry::own_series`.
    let own = state.telemetry.own_series();
    let published = Arc::clone(&state.published.borrow());
    let plain = |own: Vec<u8>| Chunks::new([Bytes::from(own), published.exposition.clone()]);
    let (body, gzipped) = match gzip.then(|| crate::metrics::gzip::gzip(&own, &published.deflated))
    {
        Some(Ok(parts)) => (Chunks::new(parts), true),
        Some(Err(e)) => {
            warn!(error = %e, "gzip of the exporter's series failed; serving them uncompressed");
            (plain(own), false)
        }
        None => (plain(own), false),
    };
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(METRICS_CONTENT_TYPE));
    // Sent on plain answers too: either representation may be cached for this URL.
    headers.insert(VARY, HeaderValue::from_static("Accept-Encoding"));
    if gzipped {
        headers.insert(CONTENT_ENCODING, HeaderValue::from_static("gzip"));
    }
    response
}

/// A response body sent as a few shared buffers, one frame each, without joining them.
pub struct Chunks {
    parts: VecDeque<Bytes>,
    remaining: u64,
}

impl Chunks {
    fn new(parts: impl IntoIterator<Item = Bytes>) -> Self {
        let parts: VecDeque<Bytes> = parts.into_iter().filter(|b| !b.is_empty()).collect();
        let remaining = parts.iter().map(|b| b.len() as u64).sum();
        Chunks { parts, remaining }
    }
}

impl hyper::body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let next = self.parts.pop_front();
        if let Some(b) = &next {
            self.remaining -= b.len() as u64;
        }
        std::task::Poll::Ready(next.map(|b| Ok(Frame::data(b))))
    }

    fn is_end_stream(&self) -> bool {
        self.parts.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// Whether `Accept-Encoding` admits gzip (RFC 9110 §12.5.3): an explicit `gzip` (or `x-gzip`)
/// entry decides by its weight, otherwise a `*` entry does; `q=0` or an unreadable weight
/// means no.
fn accepts_gzip(headers: &HeaderMap) -> bool {
    let mut explicit = None;
    let mut wildcard = None;
    for value in headers.get_all(ACCEPT_ENCODING) {
        let Ok(value) = value.to_str() else { continue };
        for entry in value.split(',') {
            let mut params = entry.split(';');
            let coding = params.next().unwrap_or_default().trim();
            let weight = params
                .filter_map(|p| p.split_once('='))
                .find(|(name, _)| name.trim().eq_ignore_ascii_case("q"))
                .map_or(Some(1.0), |(_, q)| parse_weight(q.trim()));
            let accepted = weight.is_some_and(|q| q > 0.0);
            if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
                explicit.get_or_insert(accepted);
            } else if coding == "*" {
                wildcard.get_or_insert(accepted);
            }
        }
    }
    explicit.or(wildcard).unwrap_or(false)
}

/// A weight between 0 and 1, `None` when it is not one.
fn parse_weight(q: &str) -> Option<f64> {
    // `parse` also takes forms such as `inf` or `1e0` that the grammar does not; the range
    // check rejects the ones that matter.
    q.parse::<f64>().ok().filter(|q| (0.0..=1.0).contains(q))
}

/// 200 once a refresh has finished, fully or in part; 503 before, and while every refresh
/// has failed outright.
fn readiness(state: &ServerState) -> Response<Chunks> {
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

fn landing_page(state: &ServerState) -> Response<Chunks> {
    let published = Arc::clone(&state.published.borrow());
    let mut page = String::with_capacity(1024);
    page.push_str(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\">",
        "<title>dockerhub_exporter</title></head>\n<body>\n<h1>dockerhub_exporter</h1>\n",
        "<p>Version ",
        env!("CARGO_PKG_VERSION"),
        "</p>\n<h2>Namespaces</h2>\n<ul>\n",
    ));
    for namespace in &state.namespaces {
        page.push_str("<li>");
        page.push_str(&escape_html(namespace));
        page.push_str("</li>\n");
    }
    page.push_str("</ul>\n<h2>Refresh</h2>\n<dl>\n<dt>Last refresh</dt><dd>");
    match &published.last_refresh {
        Some(status) => {
            page.push_str("finished ");
            page.push_str(&rfc3339(status.finished));
            page.push_str(", ");
            page.push_str(status.result.as_str());
        }
        None => page.push_str("no refresh has finished yet"),
    }
    page.push_str("</dd>\n<dt>Last successful refresh</dt><dd>");
    match published.last_success {
        Some(t) => page.push_str(&rfc3339(t)),
        None => page.push_str("none yet"),
    }
    page.push_str("</dd>\n</dl>\n<p><a href=\"");
    page.push_str(&escape_html(&relative_link(&state.telemetry_path)));
    page.push_str("\">Metrics</a></p>\n</body>\n</html>\n");

    let mut response = Response::new(Chunks::new([Bytes::from(page)]));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

/// A link to `path` relative to `/`, so that it still works behind a proxy that adds a
/// prefix; the `./` keeps a first segment with a colon from reading as a URL scheme.
fn relative_link(path: &str) -> String {
    match path.strip_prefix('/') {
        Some(rest) => format!("./{rest}"),
        None => path.to_string(),
    }
}

/// `t` in RFC 3339, UTC, to the second.
fn rfc3339(t: SystemTime) -> String {
    // Seconds are whole and non-negative here, so the cast only drops the fraction.
    time::OffsetDateTime::from_unix_timestamp(unix_seconds(t).floor() as i64)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "(time out of range)".to_string())
}

fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn text(status: StatusCode, body: &'static str) -> Response<Chunks> {
    let mut response = Response::new(Chunks::new([Bytes::from_static(body.as_bytes())]));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::io::Read as _;
    use std::time::UNIX_EPOCH;

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;
    use tokio::time::timeout;

    use super::*;
    use crate::inventory::{Namespace, Repository, RepositoryInfo, Snapshot};
    use crate::metrics::{RefreshResult, RefreshStatus};

    /// Bound on every wait in these tests; generous for a loaded machine.
    const WAIT: Duration = Duration::from_secs(10);

    struct Running {
        address: SocketAddr,
        publish: watch::Sender<Arc<Published>>,
        stop: oneshot::Sender<()>,
        task: JoinHandle<std::io::Result<()>>,
    }

    async fn start(namespaces: &[&str]) -> Running {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("local address");
        let (publish, published) = watch::channel(Arc::new(Published::empty()));
        let state = ServerState {
            published,
            telemetry: Arc::new(Telemetry::new()),
            telemetry_path: "/metrics".into(),
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(run(listener, state, async move {
            let _ = stopped.await;
        }));
        Running {
            address,
            publish,
            stop,
            task,
        }
    }

    fn published_with(repository: &str, result: RefreshResult) -> Arc<Published> {
        let repo = Repository {
            name: repository.into(),
            info: RepositoryInfo {
                private: false,
                repository_type: "image".into(),
                pull_count: 42,
                star_count: 1,
                last_updated: None,
                storage_size: None,
            },
            tags: None,
            tags_as_of: None,
        };
        let snapshot = Snapshot {
            namespaces: BTreeMap::from([(
                "acme".to_string(),
                Namespace {
                    repositories: BTreeMap::from([(repository.to_string(), repo)]),
                    visible: 1,
                },
            )]),
        };
        let finished = UNIX_EPOCH + Duration::from_secs(1_727_833_827);
        Arc::new(Published::new(
            Arc::new(snapshot),
            Some(RefreshStatus {
                result,
                finished,
                duration: Duration::from_secs(3),
            }),
            (result == RefreshResult::Success).then_some(finished),
            &Default::default(),
            &Default::default(),
        ))
    }

    struct Reply {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Reply {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }

        fn text(&self) -> &str {
            std::str::from_utf8(&self.body).expect("a UTF-8 body")
        }
    }

    /// Sends one HTTP/1.1 request with `Connection: close` and reads the whole answer.
    async fn request(
        address: SocketAddr,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut stream = timeout(WAIT, TcpStream::connect(address))
            .await
            .expect("connect in time")
            .expect("connect");
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str("\r\n");
        stream.write_all(head.as_bytes()).await.expect("write");
        let mut raw = Vec::new();
        timeout(WAIT, stream.read_to_end(&mut raw))
            .await
            .expect("answer in time")
            .expect("read");
        parse_reply(&raw)
    }

    fn parse_reply(raw: &[u8]) -> Reply {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("end of headers");
        let head = std::str::from_utf8(&raw[..split]).expect("ASCII headers");
        let mut lines = head.split("\r\n");
        let status = lines
            .next()
            .and_then(|l| l.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
            .expect("status line");
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
            .collect();
        Reply {
            status,
            headers,
            body: raw[split + 4..].to_vec(),
        }
    }

    async fn stop(running: Running) {
        let _ = running.stop.send(());
        timeout(WAIT, running.task)
            .await
            .expect("the server returns in time")
            .expect("the server task does not panic")
            .expect("the server returns Ok");
    }

    #[tokio::test]
    async fn metrics_serve_the_telemetry_then_the_inventory_as_text() {
        let running = start(&["acme"]).await;
        running
            .publish
            .send(published_with("api", RefreshResult::Success))
            .expect("the server holds a receiver");
        let reply = request(running.address, "GET", "/metrics", &[]).await;
        assert_eq!(reply.status, 200);
        assert_eq!(
            reply.header("content-type"),
            Some("text/plain; version=0.0.4")
        );
        assert_eq!(reply.header("content-encoding"), None);
        let body = reply.text();
        let own = body
            .find("dockerhub_exporter_build_info")
            .expect("the exporter's own series");
        let inventory = body
            .find("# HELP dockerhub_repositories ")
            .expect("the inventory");
        assert!(own < inventory);
        assert!(body.contains(
            "dockerhub_repository_pulls_total{hub_namespace=\"acme\",repository=\"api\"} 42\n"
        ));
        stop(running).await;
    }

    #[tokio::test]
    async fn metrics_are_gzipped_for_a_client_that_accepts_gzip() {
        let running = start(&["acme"]).await;
        running
            .publish
            .send(published_with("api", RefreshResult::Success))
            .expect("the server holds a receiver");
        let plain = request(running.address, "GET", "/metrics", &[]).await;
        let zipped = request(
            running.address,
            "GET",
            "/metrics",
            &[("Accept-Encoding", "deflate, gzip;q=0.5")],
        )
        .await;
        assert_eq!(zipped.status, 200);
        assert_eq!(zipped.header("content-encoding"), Some("gzip"));
        assert_eq!(zipped.header("vary"), Some("Accept-Encoding"));
        assert_eq!(zipped.header("content-type"), Some(METRICS_CONTENT_TYPE));
        let mut decoded = String::new();
        flate2::read::GzDecoder::new(&zipped.body[..])
            .read_to_string(&mut decoded)
            .expect("a valid gzip stream");
        assert_eq!(decoded, plain.text());
        stop(running).await;
    }

    #[tokio::test]
    async fn a_client_refusing_gzip_with_q_zero_gets_plain_text() {
        let running = start(&["acme"]).await;
        let reply = request(
            running.address,
            "GET",
            "/metrics",
            &[("Accept-Encoding", "gzip;q=0, identity")],
        )
        .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.header("content-encoding"), None);
        assert!(reply.text().starts_with("# HELP "));
        stop(running).await;
    }

    #[test]
    fn accept_encoding_is_read_by_coding_and_weight() {
        let accepts = |values: &[&str]| {
            let mut headers = HeaderMap::new();
            for v in values {
                headers.append(ACCEPT_ENCODING, HeaderValue::from_str(v).expect("valid"));
            }
            accepts_gzip(&headers)
        };
        assert!(accepts(&["gzip"]));
        assert!(accepts(&["br, GZIP"]));
        assert!(accepts(&["x-gzip"]));
        assert!(accepts(&["*"]));
        assert!(accepts(&["gzip ; q=0.001"]));
        assert!(accepts(&["br", "gzip;q=1.0"]));
        assert!(accepts(&["br, *;q=0.1"]));
        assert!(!accepts(&[]));
        assert!(!accepts(&[""]));
        assert!(!accepts(&["identity, br"]));
        assert!(!accepts(&["gzip;q=0"]));
        assert!(!accepts(&["gzip;Q=0.000"]));
        assert!(!accepts(&["*;q=0"]));
        assert!(!accepts(&["gzip;q=0, *"]));
        assert!(!accepts(&["gzip;q=high"]));
        assert!(!accepts(&["gzipped"]));
    }

    #[tokio::test]
    async fn head_on_metrics_has_the_headers_of_get_and_no_body() {
        let running = start(&["acme"]).await;
        let get = request(running.address, "GET", "/metrics", &[]).await;
        let head = request(running.address, "HEAD", "/metrics", &[]).await;
        assert_eq!(head.status, 200);
        assert_eq!(head.header("content-type"), Some(METRICS_CONTENT_TYPE));
        let length = get.body.len().to_string();
        assert_eq!(head.header("content-length"), Some(length.as_str()));
        assert!(head.body.is_empty());
        stop(running).await;
    }

    #[tokio::test]
    async fn readyz_answers_503_until_a_refresh_has_finished_then_200() {
        let running = start(&["acme"]).await;
        let before = request(running.address, "GET", "/readyz", &[]).await;
        assert_eq!(before.status, 503);
        running
            .publish
            .send(published_with("api", RefreshResult::Failure))
            .expect("the server holds a receiver");
        let failed = request(running.address, "GET", "/readyz", &[]).await;
        assert_eq!(failed.status, 503, "a refresh that read nothing");
        running
            .publish
            .send(published_with("api", RefreshResult::Partial))
            .expect("the server holds a receiver");
        let after = request(running.address, "GET", "/readyz", &[]).await;
        assert_eq!(after.status, 200);
        let health = request(running.address, "GET", "/healthz", &[]).await;
        assert_eq!((health.status, health.text()), (200, "ok\n"));
        stop(running).await;
    }

    #[tokio::test]
    async fn the_landing_page_shows_the_version_and_escaped_namespaces() {
        let running = start(&["acme", "<b>&co"]).await;
        let before = request(running.address, "GET", "/", &[]).await;
        assert_eq!(before.status, 200);
        assert_eq!(
            before.header("content-type"),
            Some("text/html; charset=utf-8")
        );
        let page = before.text();
        assert!(page.contains(env!("CARGO_PKG_VERSION")));
        assert!(page.contains("<li>&lt;b&gt;&amp;co</li>"), "{page}");
        assert!(!page.contains("<b>&co"));
        assert!(page.contains("no refresh has finished yet"));
        assert!(page.contains("href=\"./metrics\""));

        running
            .publish
            .send(published_with("api", RefreshResult::Success))
            .expect("the server holds a receiver");
        let after = request(running.address, "GET", "/", &[]).await;
        let page = after.text();
        assert!(
            page.contains("finished 2024-10-02T01:50:27Z, success"),
            "{page}"
        );
        assert!(!page.contains("no refresh has finished yet"));
        stop(running).await;
    }

    #[tokio::test]
    async fn an_unknown_path_is_404_and_a_post_is_405() {
        let running = start(&["acme"]).await;
        let missing = request(running.address, "GET", "/metrics/extra", &[]).await;
        assert_eq!(missing.status, 404);
        let post = request(
            running.address,
            "POST",
            "/metrics",
            &[("Content-Length", "0")],
        )
        .await;
        assert_eq!(post.status, 405);
        assert_eq!(post.header("allow"), Some("GET, HEAD"));
        stop(running).await;
    }

    #[tokio::test]
    async fn the_server_returns_after_shutdown_even_with_an_idle_connection_open() {
        let running = start(&["acme"]).await;
        let mut idle = TcpStream::connect(running.address).await.expect("connect");
        idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
            .await
            .expect("write");
        let mut answer = Vec::new();
        while !answer.ends_with(b"ok\n") {
            let mut chunk = [0u8; 1024];
            let n = timeout(WAIT, idle.read(&mut chunk))
                .await
                .expect("answer in time")
                .expect("read");
            assert!(n > 0, "the connection stays open after one request");
            answer.extend_from_slice(&chunk[..n]);
        }
        stop(running).await;
        let mut rest = Vec::new();
        timeout(WAIT, idle.read_to_end(&mut rest))
            .await
            .expect("the idle connection is closed")
            .expect("read");
        assert!(rest.is_empty());
    }
}
