//! Tests of the HTTP endpoints, over real connections to a server on a free port.

use std::io::Read as _;
use std::time::UNIX_EPOCH;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::timeout;

use super::*;
use crate::inventory::fixtures::{info, repository, snapshot};
use crate::inventory::{Repository, RepositoryInfo};
use crate::publication::{RefreshResult, RefreshStatus};

/// The exporter's own series as these tests serve them: always the same text, so that a
/// GET and a HEAD describe the same body.
const OWN_SERIES: &str = "# HELP dockerhub_exporter_build_info Always 1.\n\
    # TYPE dockerhub_exporter_build_info gauge\n\
    dockerhub_exporter_build_info{version=\"test\"} 1\n";

/// Bound on every wait in these tests; generous for a loaded machine.
const WAIT: Duration = Duration::from_secs(10);

struct Running {
    address: SocketAddr,
    in_flight: Arc<tokio::sync::Semaphore>,
    publish: watch::Sender<Arc<Published>>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
}

async fn start(namespaces: &[&str]) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("local address");
    let (publish, published) = watch::channel(Arc::new(Published::empty()));
    let state = State {
        published,
        own_series: Arc::new(|| OWN_SERIES.as_bytes().to_vec()),
        telemetry_path: "/metrics".into(),
        about: About {
            namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
            repositories: vec!["library/nginx".into()],
            refresh_interval: Duration::from_secs(900),
            quotas: Arc::new(crate::views::Quotas::default),
            mirrors: Arc::new(Vec::new),
        },
        in_flight: Arc::new(tokio::sync::Semaphore::new(40)),
        web: webconfig::Watched::open(),
        header_read_timeout: Duration::from_millis(300),
        webhook: None,
    };
    let in_flight = Arc::clone(&state.in_flight);
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(run(Listeners::from(listener), state, async move {
        let _ = stopped.await;
    }));
    Running {
        address,
        in_flight,
        publish,
        stop,
        task,
    }
}

fn published_with(repository_name: &str, result: RefreshResult) -> Arc<Published> {
    let repo = Repository {
        info: RepositoryInfo {
            pull_count: 42,
            star_count: 1,
            ..info()
        },
        ..repository(repository_name, None)
    };
    let snapshot = snapshot(vec![("acme", vec![repo])]);
    let finished = UNIX_EPOCH + Duration::from_secs(1_727_833_827);
    Arc::new(Published::new(
        Arc::new(snapshot),
        Some(RefreshStatus {
            result,
            finished,
            duration: Duration::from_secs(3),
            requests: 12,
        }),
        (result == RefreshResult::Success).then_some(finished),
        &Default::default(),
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
async fn request(address: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Reply {
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
        Some("text/plain; version=0.0.4; charset=utf-8")
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
    assert_eq!(zipped.header("vary"), Some("Accept, Accept-Encoding"));
    assert_eq!(
        zipped.header("content-type"),
        Some(Format::Text.content_type())
    );
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&zipped.body[..])
        .read_to_string(&mut decoded)
        .expect("a valid gzip stream");
    assert!(decoded.starts_with(OWN_SERIES));
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
    assert_eq!(
        head.header("content-type"),
        Some(Format::Text.content_type())
    );
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
    assert!(page.contains("acme, &lt;b&gt;&amp;co</dd>"), "{page}");
    assert!(page.contains("library/nginx</dd>"), "{page}");
    assert!(!page.contains("<b>&co"));
    assert!(page.contains("none finished yet"));
    assert!(page.contains("href=\"./metrics\""));

    running
        .publish
        .send(published_with("api", RefreshResult::Success))
        .expect("the server holds a receiver");
    let after = request(running.address, "GET", "/", &[]).await;
    let page = after.text();
    assert!(
        page.contains("2024-10-02T01:50:27Z, <span class=\"added\">success</span>"),
        "{page}"
    );
    assert!(!page.contains("none finished yet"));
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

#[tokio::test]
async fn a_request_with_a_body_is_refused_unread() {
    let running = start(&["acme"]).await;
    for header in [("Content-Length", "5"), ("Transfer-Encoding", "chunked")] {
        let reply = request(running.address, "GET", "/metrics", &[header]).await;
        assert_eq!(reply.status, 413, "{header:?}");
    }
    let empty = request(
        running.address,
        "GET",
        "/healthz",
        &[("Content-Length", "0")],
    )
    .await;
    assert_eq!(empty.status, 200);
    stop(running).await;
}

#[tokio::test]
async fn beyond_the_concurrent_request_limit_the_answer_is_503() {
    let running = start(&["acme"]).await;
    // Every slot taken, as by 40 requests in progress.
    let held = Arc::clone(&running.in_flight)
        .acquire_many_owned(40)
        .await
        .expect("the slots");
    let refused = request(running.address, "GET", "/metrics", &[]).await;
    assert_eq!(refused.status, 503);
    // The health endpoints take no slot: a liveness probe is never refused for want of one.
    let health = request(running.address, "GET", "/healthz", &[]).await;
    assert_eq!(health.status, 200);
    running
        .publish
        .send_replace(published_with("api", RefreshResult::Success));
    let ready = request(running.address, "GET", "/readyz", &[]).await;
    assert_eq!(ready.status, 200);
    drop(held);
    let served = request(running.address, "GET", "/metrics", &[]).await;
    assert_eq!(served.status, 200);
    stop(running).await;
}

#[tokio::test]
async fn a_client_too_slow_with_its_headers_is_disconnected() {
    let running = start(&["acme"]).await;
    let mut stream = TcpStream::connect(running.address).await.expect("connect");
    // Half a request, then nothing.
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: te")
        .await
        .expect("write");
    let mut rest = Vec::new();
    // The server gives up on the headers and closes; without the timeout this read would
    // wait for WAIT and fail.
    timeout(WAIT, stream.read_to_end(&mut rest))
        .await
        .expect("the server closes the connection")
        .ok();
    let answered = String::from_utf8_lossy(&rest);
    assert!(!answered.contains("200 OK"), "{answered}");
    stop(running).await;
}

/// What Prometheus sends: OpenMetrics first, the text format as a fallback.
const PROMETHEUS_ACCEPT: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

#[tokio::test]
async fn openmetrics_is_served_when_asked_for_plain_and_gzipped_from_the_same_rendering() {
    let running = start(&["acme"]).await;
    running
        .publish
        .send(published_with("api", RefreshResult::Success))
        .expect("the server holds a receiver");
    let text_reply = request(running.address, "GET", "/metrics", &[]).await;
    let text = text_reply.text();
    let plain = request(
        running.address,
        "GET",
        "/metrics",
        &[("Accept", PROMETHEUS_ACCEPT)],
    )
    .await;
    assert_eq!(plain.status, 200);
    assert_eq!(
        plain.header("content-type"),
        Some("application/openmetrics-text; version=1.0.0; charset=utf-8")
    );
    let om = plain.text();
    assert!(om.ends_with("\n# EOF\n"), "{om}");
    assert_eq!(om.matches("# EOF").count(), 1);
    // A counter's family is named without _total, its samples with it.
    assert!(
        om.contains("\n# TYPE dockerhub_repository_pulls counter\n"),
        "{om}"
    );
    assert!(
        !om.contains("# TYPE dockerhub_repository_pulls_total"),
        "{om}"
    );
    assert!(om.contains(
        "dockerhub_repository_pulls_total{hub_namespace=\"acme\",repository=\"api\"} 42\n"
    ));
    assert!(
        om.contains("# UNIT dockerhub_tag_size_bytes bytes\n"),
        "{om}"
    );
    // Sample lines are those of the text format, in the same order.
    let samples = |body: &str| -> Vec<String> {
        body.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(samples(om), samples(text));

    let zipped = request(
        running.address,
        "GET",
        "/metrics",
        &[("Accept", PROMETHEUS_ACCEPT), ("Accept-Encoding", "gzip")],
    )
    .await;
    assert_eq!(zipped.header("content-encoding"), Some("gzip"));
    assert_eq!(zipped.header("content-type"), plain.header("content-type"));
    let mut decoded = String::new();
    flate2::read::GzDecoder::new(&zipped.body[..])
        .read_to_string(&mut decoded)
        .expect("a valid gzip stream");
    assert_eq!(decoded, om);
    stop(running).await;
}

#[test]
fn the_format_follows_the_weights_of_accept() {
    let format = |accept: &str| {
        let mut headers = HeaderMap::new();
        headers.insert(ACCEPT, HeaderValue::from_str(accept).unwrap());
        negotiated_format(&headers)
    };
    assert_eq!(format(PROMETHEUS_ACCEPT), Format::OpenMetrics);
    assert_eq!(format("application/openmetrics-text"), Format::OpenMetrics);
    assert_eq!(
        format("application/openmetrics-text; version=\"1.0.0\""),
        Format::OpenMetrics
    );
    assert_eq!(
        format("text/plain;version=0.0.4;q=1,application/openmetrics-text;q=0.5"),
        Format::Text
    );
    assert_eq!(format("application/openmetrics-text;q=0"), Format::Text);
    assert_eq!(
        format("application/openmetrics-text;version=2.0.0"),
        Format::Text
    );
    assert_eq!(format("*/*"), Format::Text);
    assert_eq!(format("text/html"), Format::Text);
    assert_eq!(format(""), Format::Text);
    assert_eq!(negotiated_format(&HeaderMap::new()), Format::Text);
}
