//! An answer of the simulated Hub before it becomes an HTTP response, and the response body
//! type that can also misbehave (stream a huge body, or cut the connection mid-body).
//!
//! Pages keep their envelope unrendered until the end so a fault can still rewrite `next`.
//! JSON is written the way the real Hub's Go encoder writes it: `&`, `<` and `>` inside
//! strings come out as `\u0026`, `\u003c` and `\u003e`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::Response;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, HeaderName, HeaderValue};
use hyper::http::StatusCode;
use serde::Serialize;
use tokio::time::Sleep;

/// How long a `ResetMidBody` answer waits after its bytes before dropping the connection, so
/// they reach the client first.
const RESET_PAUSE: Duration = Duration::from_millis(50);

/// The body of a [`Reply`].
pub(super) enum Content {
    /// Rendered JSON.
    Json(Bytes),
    /// A page of a listing, its envelope not yet rendered.
    Page(Page),
    /// An HTML page (`text/html`).
    Html(Bytes),
    /// Plain text (`text/plain`).
    Text(Bytes),
    /// A JSON-looking body of exactly this many bytes, streamed.
    Huge(usize),
    /// These bytes under a much larger content-length, then the connection drops.
    Reset(Bytes),
    /// A gzip stream, sent as it is with `Content-Encoding: gzip`.
    Gzipped(Bytes),
    /// No body.
    Empty,
}

/// A page of a listing: the Hub's `{count, next, previous, results}` envelope.
pub(super) struct Page {
    pub(super) count: usize,
    pub(super) next: Option<String>,
    pub(super) previous: Option<String>,
    /// The `results` array, already rendered.
    pub(super) results: String,
}

impl Page {
    fn render(&self) -> Bytes {
        let link = |l: &Option<String>| serde_json::to_string(l).unwrap_or_else(|_| "null".into());
        let text = format!(
            r#"{{"count":{},"next":{},"previous":{},"results":{}}}"#,
            self.count,
            link(&self.next),
            link(&self.previous),
            self.results
        );
        Bytes::from(go_escape(text))
    }
}

/// Escapes `&`, `<` and `>` as Go's JSON encoder does. They can only occur inside strings in
/// JSON text, so a plain replacement is exact.
pub(super) fn go_escape(json: String) -> String {
    if !json.contains(['&', '<', '>']) {
        return json;
    }
    json.replace('&', "\\u0026")
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
}

/// Renders a value as Go-style JSON; the values rendered here cannot fail to serialize
/// (plain structs and maps with string keys), and "null" stands in if one ever did.
pub(super) fn to_json<T: Serialize>(value: &T) -> String {
    go_escape(serde_json::to_string(value).unwrap_or_else(|_| "null".into()))
}

/// An answer: status, extra headers and content.
pub(super) struct Reply {
    pub(super) status: u16,
    pub(super) headers: Vec<(&'static str, String)>,
    pub(super) content: Content,
}

impl Reply {
    /// A JSON answer.
    pub(super) fn json<T: Serialize>(status: u16, value: &T) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content: Content::Json(Bytes::from(to_json(value))),
        }
    }

    /// A JSON answer whose body is exactly `text` (a body captured from the real Hub).
    pub(super) fn json_text(status: u16, text: &'static str) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            content: Content::Json(Bytes::from_static(text.as_bytes())),
        }
    }

    /// A JSON error of the `{"detail": ...}` kind.
    pub(super) fn detail(status: u16, detail: &str) -> Reply {
        Reply::json(status, &serde_json::json!({ "detail": detail }))
    }

    /// A 200 page of a listing.
    pub(super) fn page(page: Page) -> Reply {
        Reply {
            status: 200,
            headers: Vec::new(),
            content: Content::Page(page),
        }
    }

    /// Adds a header.
    pub(super) fn with_header(mut self, name: &'static str, value: String) -> Reply {
        self.headers.push((name, value));
        self
    }

    /// The body as bytes, for the content kinds that have a definite text.
    pub(super) fn body_bytes(&self) -> Bytes {
        match &self.content {
            Content::Json(b) | Content::Html(b) | Content::Text(b) | Content::Reset(b) => b.clone(),
            Content::Page(p) => p.render(),
            Content::Huge(_) | Content::Gzipped(_) | Content::Empty => Bytes::new(),
        }
    }

    /// The HTTP response; JSON is gzipped when `gzip` (the client accepts it and the hub
    /// compresses).
    pub(super) fn into_response(self, gzip: bool) -> Response<SimBody> {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut encoding = None;
        let (kind, body) = match &self.content {
            Content::Json(_) | Content::Page(_) if gzip => {
                encoding = Some("gzip");
                (
                    Some("application/json"),
                    SimBody::Full(Some(gzipped(&self.body_bytes()))),
                )
            }
            Content::Json(_) | Content::Page(_) => (
                Some("application/json"),
                SimBody::Full(Some(self.body_bytes())),
            ),
            Content::Gzipped(b) => {
                encoding = Some("gzip");
                (Some("application/json"), SimBody::Full(Some(b.clone())))
            }
            Content::Html(b) => (
                Some("text/html; charset=utf-8"),
                SimBody::Full(Some(b.clone())),
            ),
            Content::Text(b) => (Some("text/plain"), SimBody::Full(Some(b.clone()))),
            Content::Huge(n) => (Some("application/json"), SimBody::huge(*n)),
            Content::Reset(b) => (
                Some("application/json"),
                SimBody::Reset {
                    chunk: Some(b.clone()),
                    pause: None,
                },
            ),
            Content::Empty => (None, SimBody::Full(None)),
        };
        let mut response = Response::new(body);
        *response.status_mut() = status;
        let headers = response.headers_mut();
        if let Some(kind) = kind {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static(kind));
        }
        if let Some(encoding) = encoding {
            headers.insert(CONTENT_ENCODING, HeaderValue::from_static(encoding));
        }
        if let Content::Reset(b) = &self.content {
            // Promise far more than is ever sent.
            headers.insert(
                CONTENT_LENGTH,
                HeaderValue::from(b.len() as u64 + 1_000_000),
            );
        }
        for (name, value) in self.headers {
            // Values come from the hub's own data; one that is not a valid header is dropped.
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.append(HeaderName::from_static(name), value);
            }
        }
        response
    }
}

/// `data` as one gzip member, compressed at the fast level as a web server would.
pub(super) fn gzipped(data: &[u8]) -> Bytes {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing into a Vec cannot fail.
    let _ = encoder.write_all(data);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// A gzip stream that inflates to a JSON-looking page of `n` bytes: small on the wire,
/// huge once read. Made once for each size, since it fires again at every request.
pub(super) fn gzip_bomb(n: usize) -> Bytes {
    static MADE: std::sync::Mutex<Vec<(usize, Bytes)>> = std::sync::Mutex::new(Vec::new());
    let mut made = MADE.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, bomb)) = made.iter().find(|(size, _)| *size == n) {
        return bomb.clone();
    }
    let bomb = make_gzip_bomb(n);
    made.push((n, bomb.clone()));
    bomb
}

fn make_gzip_bomb(n: usize) -> Bytes {
    use std::io::Write as _;
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    let (head, tail) = (HUGE_HEAD.as_bytes(), HUGE_TAIL.as_bytes());
    let mut left = n.saturating_sub(head.len() + tail.len());
    let _ = encoder.write_all(head);
    while left > 0 {
        let step = left.min(FILLER.len());
        let _ = encoder.write_all(&FILLER[..step]);
        left -= step;
    }
    let _ = encoder.write_all(tail);
    Bytes::from(encoder.finish().unwrap_or_default())
}

/// How a huge body starts and ends: a page whose one tag has an endless name.
const HUGE_HEAD: &str = r#"{"count":1,"next":null,"previous":null,"results":[{"name":""#;
const HUGE_TAIL: &str = r#""}]}"#;

/// The response body: a whole buffer, a streamed filler, or bytes followed by a broken
/// connection.
pub(super) enum SimBody {
    /// The whole body at once.
    Full(Option<Bytes>),
    /// `head`, then `left` filler bytes, then `tail`.
    Filler {
        head: Option<Bytes>,
        left: usize,
        tail: Option<Bytes>,
    },
    /// `chunk`, a short pause, then an error that makes hyper drop the connection.
    Reset {
        chunk: Option<Bytes>,
        pause: Option<Pin<Box<Sleep>>>,
    },
}

/// Filler for huge bodies: one static buffer handed out again and again without copying.
static FILLER: [u8; 64 * 1024] = [b'x'; 64 * 1024];

impl SimBody {
    /// A JSON-looking body of exactly `n` bytes.
    fn huge(n: usize) -> SimBody {
        const HEAD: &str = HUGE_HEAD;
        const TAIL: &str = HUGE_TAIL;
        if n < HEAD.len() + TAIL.len() {
            return SimBody::Filler {
                head: None,
                left: n,
                tail: None,
            };
        }
        SimBody::Filler {
            head: Some(Bytes::from_static(HEAD.as_bytes())),
            left: n - HEAD.len() - TAIL.len(),
            tail: Some(Bytes::from_static(TAIL.as_bytes())),
        }
    }
}

impl Body for SimBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let data = |b: Bytes| Poll::Ready(Some(Ok(Frame::data(b))));
        match self.get_mut() {
            SimBody::Full(b) => match b.take() {
                Some(b) => data(b),
                None => Poll::Ready(None),
            },
            SimBody::Filler { head, left, tail } => {
                if let Some(h) = head.take() {
                    return data(h);
                }
                if *left > 0 {
                    let n = (*left).min(FILLER.len());
                    *left -= n;
                    return data(Bytes::from_static(&FILLER[..n]));
                }
                match tail.take() {
                    Some(t) => data(t),
                    None => Poll::Ready(None),
                }
            }
            SimBody::Reset { chunk, pause } => {
                if let Some(c) = chunk.take() {
                    return data(c);
                }
                let sleep = pause.get_or_insert_with(|| Box::pin(tokio::time::sleep(RESET_PAUSE)));
                match sleep.as_mut().poll(cx) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(()) => Poll::Ready(Some(Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionReset,
                        "simulated connection reset",
                    )))),
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            SimBody::Full(b) => b.is_none(),
            SimBody::Filler { head, left, tail } => head.is_none() && *left == 0 && tail.is_none(),
            SimBody::Reset { .. } => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            SimBody::Full(b) => SizeHint::with_exact(b.as_ref().map_or(0, |b| b.len() as u64)),
            SimBody::Filler { head, left, tail } => {
                let len = |b: &Option<Bytes>| b.as_ref().map_or(0, |b| b.len() as u64);
                SizeHint::with_exact(len(head) + *left as u64 + len(tail))
            }
            // Unknown, so hyper takes the promised content-length from the header.
            SimBody::Reset { .. } => SizeHint::default(),
        }
    }
}
