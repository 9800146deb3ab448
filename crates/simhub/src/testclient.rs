//! A tiny HTTP/1.1 client for the unit tests: one request per connection
//! (`Connection: close`), the whole answer read to the end. Not for anything but tests; the
//! crate's real client lives in `hub`.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The longest a test waits for an answer.
const TIMEOUT: Duration = Duration::from_secs(10);

/// An answer as received.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) headers: Vec<(String, String)>,
    pub(super) body: Vec<u8>,
}

impl Answer {
    /// A header's value, names compared case-insensitively.
    pub(super) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON; panics if it is not.
    pub(super) fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub(super) fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Logs in on `/v2/auth/token` and returns the `Authorization` value, `Bearer ...`.
pub(super) async fn login(addr: SocketAddr, identifier: &str, secret: &str) -> String {
    let body = format!(r#"{{"identifier":"{identifier}","secret":"{secret}"}}"#);
    let answer = post(addr, "/v2/auth/token", &body).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    format!(
        "Bearer {}",
        answer.json()["access_token"].as_str().unwrap_or_default()
    )
}

/// `GET path_and_query`, with `authorization` as the header if given.
pub(super) async fn get(
    addr: SocketAddr,
    path_and_query: &str,
    authorization: Option<&str>,
) -> Answer {
    let auth = authorization
        .map(|a| format!("Authorization: {a}\r\n"))
        .unwrap_or_default();
    send(
        addr,
        &format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: {addr}\r\n{auth}Connection: close\r\n\r\n"
        ),
    )
    .await
}

/// `POST path` with a JSON body.
pub(super) async fn post(addr: SocketAddr, path: &str, body: &str) -> Answer {
    send(
        addr,
        &format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
    .await
}

/// Sends a raw request and reads until the server closes (or breaks) the connection.
pub(super) async fn send(addr: SocketAddr, request: &str) -> Answer {
    let exchange = async {
        let mut stream = TcpStream::connect(addr).await.expect("connects");
        stream.write_all(request.as_bytes()).await.expect("sends");
        let mut raw = Vec::new();
        // A reset connection ends the read early; what arrived before is the answer.
        let _ = stream.read_to_end(&mut raw).await;
        raw
    };
    let raw = tokio::time::timeout(TIMEOUT, exchange)
        .await
        .expect("answers in time");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a complete head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()))
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}
