//! Tests of the audit-log read against a small local server.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use time::macros::datetime;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

use reqwest::Url;

use super::*;
use crate::hub::{ClientOptions, Observer, RateLimitHeader};

/// Bound on every wait in these tests; generous for a loaded machine.
const WAIT: Duration = Duration::from_secs(10);

/// The start of the window the tests ask for.
const FROM: OffsetDateTime = datetime!(2026-12-02 12:00:00 UTC);

/// An audit-log entry as the Hub sends it, `second` seconds after [`FROM`].
struct Event {
    action: &'static str,
    name: String,
    second: i64,
}

impl Event {
    /// A push of tag `t{second}` to `name`.
    fn push(name: &str, second: i64) -> Event {
        Event {
            action: TAG_PUSH,
            name: name.to_string(),
            second,
        }
    }

    fn action(self, action: &'static str) -> Event {
        Event { action, ..self }
    }

    fn time(&self) -> OffsetDateTime {
        FROM + time::Duration::seconds(self.second)
    }

    fn json(&self) -> Value {
        json!({
            "account": "acme",
            "action": self.action,
            "name": self.name,
            "actor": "jane",
            "data": {"tag": format!("t{}", self.second), "digest": "sha256:0f", "size": 12},
            "timestamp": self.time().format(&Rfc3339).unwrap(),
            "action_description": "pushed a tag",
        })
    }
}

/// A page body holding `events`.
fn page(events: impl IntoIterator<Item = Event>) -> (u16, String) {
    let logs: Vec<Value> = events.into_iter().map(|e| e.json()).collect();
    (200, json!({ "logs": logs }).to_string())
}

/// `n` pushes to `acme/api`, from second `first` on.
fn pushes(first: i64, n: i64) -> impl Iterator<Item = Event> {
    (first..first + n).map(|s| Event::push("acme/api", s))
}

/// Requests as the observer heard them.
#[derive(Default)]
struct Heard(Mutex<Vec<(Endpoint, Option<u16>)>>);

impl Observer for Heard {
    fn request(&self, endpoint: Endpoint, status: Option<u16>) {
        self.0.lock().unwrap().push((endpoint, status));
    }
    fn rate_limit(&self, _: RateLimitHeader, _: i64) {}
    fn waited(&self, _: Duration) {}
}

/// A Hub on a free port that answers each request with `answer(page)`, and the targets
/// (path and query) it was asked for.
struct FakeHub {
    client: Client,
    heard: Arc<Heard>,
    targets: Arc<Mutex<Vec<String>>>,
}

impl FakeHub {
    async fn start(answer: impl Fn(u32) -> (u16, String) + Send + Sync + 'static) -> FakeHub {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("local address");
        let targets = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let recorded = Arc::clone(&targets);
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let answer = Arc::clone(&answer);
                let recorded = Arc::clone(&recorded);
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut buf = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 65536 {
                        match stream.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = String::from_utf8_lossy(&head);
                    let target = head.split(' ').nth(1).unwrap_or("").to_string();
                    let page = Url::parse(&format!("http://hub{target}"))
                        .ok()
                        .and_then(|u| {
                            u.query_pairs()
                                .find(|(k, _)| k == "page")
                                .and_then(|(_, v)| v.parse().ok())
                        })
                        .unwrap_or(0);
                    recorded.lock().unwrap().push(target);
                    let (status, body) = answer(page);
                    let response = format!(
                        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n\
                         content-length: {}\r\nconnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                    let _ = stream.shutdown().await;
                });
            }
        });
        let heard = Arc::new(Heard::default());
        let options = ClientOptions {
            base: Url::parse(&format!("http://{address}")).unwrap(),
            credentials: None,
            rate_limit: 100_000,
            burst: 1_000,
            concurrency: 4,
            timeout: WAIT,
        };
        let client = Client::new(options, Arc::clone(&heard) as Arc<dyn Observer>).unwrap();
        FakeHub {
            client,
            heard,
            targets,
        }
    }

    /// Reads the audit log of `account` since [`FROM`].
    async fn read(&self, account: &str) -> Result<AuditLog> {
        tokio::time::timeout(WAIT, self.client.audit_log(account, FROM))
            .await
            .expect("the read ends in time")
    }

    fn targets(&self) -> Vec<String> {
        self.targets.lock().unwrap().clone()
    }
}

fn events(log: Result<AuditLog>) -> Vec<AuditEvent> {
    match log {
        Ok(AuditLog::Events(events)) => events,
        other => panic!("not events: {other:?}"),
    }
}

#[tokio::test]
async fn a_quiet_poll_is_one_request_for_the_window_reported_as_audit_log() {
    let hub = FakeHub::start(|_| page(pushes(0, 3))).await;
    let events = events(hub.read("acme").await);
    assert_eq!(events.len(), 3);
    let e = &events[0];
    assert_eq!(
        (e.namespace.as_str(), e.repository.as_str()),
        ("acme", "api")
    );
    assert_eq!(
        (e.action.as_str(), e.tag.as_deref()),
        (TAG_PUSH, Some("t0"))
    );
    assert_eq!(
        (e.digest.as_deref(), e.actor.as_deref()),
        (Some("sha256:0f"), Some("jane"))
    );
    assert_eq!(e.timestamp, FROM);
    assert_eq!(
        hub.targets(),
        ["/v2/auditlogs/acme?page_size=100&from=2026-12-02T12%3A00%3A00.000000Z&page=1"]
    );
    assert_eq!(
        *hub.heard.0.lock().unwrap(),
        [(Endpoint::AuditLog, Some(200))]
    );
    assert_eq!(Endpoint::AuditLog.as_str(), "audit_log");
}

#[tokio::test]
async fn full_pages_are_followed_until_a_shorter_one_and_events_come_oldest_first() {
    // Newest first, as the simulated Hub answers.
    let hub = FakeHub::start(|n| match n {
        1 => page(pushes(105, 100).collect::<Vec<_>>().into_iter().rev()),
        2 => page(pushes(5, 100).collect::<Vec<_>>().into_iter().rev()),
        3 => page(pushes(0, 5).collect::<Vec<_>>().into_iter().rev()),
        _ => panic!("page {n} asked for after a short page"),
    })
    .await;
    let events = events(hub.read("acme").await);
    assert_eq!(hub.targets().len(), 3);
    assert_eq!(events.len(), 205);
    assert!(events.windows(2).all(|w| w[0].timestamp < w[1].timestamp));
    assert_eq!(events[0].tag.as_deref(), Some("t0"));
}

#[tokio::test]
async fn an_empty_page_or_a_404_after_a_full_page_ends_the_log() {
    for end in [page([]), (404, r#"{"detail":"Invalid page."}"#.to_string())] {
        let hub = FakeHub::start(move |n| {
            if n == 1 {
                page(pushes(0, 100))
            } else {
                end.clone()
            }
        })
        .await;
        assert_eq!(events(hub.read("acme").await).len(), 100);
        assert_eq!(hub.targets().len(), 2);
    }
}

#[tokio::test]
async fn a_403_or_404_on_the_first_page_means_the_log_is_unavailable() {
    for status in [403, 404] {
        let hub = FakeHub::start(move |_| (status, r#"{"detail":"no"}"#.to_string())).await;
        assert_eq!(
            hub.read("acme").await.unwrap(),
            AuditLog::Unavailable { status }
        );
        assert_eq!(hub.targets().len(), 1, "not retried");
    }
}

#[tokio::test]
async fn other_answers_are_errors_of_the_client() {
    let hub = FakeHub::start(|_| (400, "{}".to_string())).await;
    assert!(matches!(
        hub.read("acme").await,
        Err(Error::Status { status: 400, .. })
    ));
    // The client here is anonymous: a 401 is the Hub refusing anonymous callers, not a
    // refused token.
    let hub =
        FakeHub::start(|_| (401, r#"{"detail":"Authentication required"}"#.to_string())).await;
    match hub.read("acme").await {
        Err(e @ Error::Forbidden { status: 401, .. }) => {
            assert!(
                e.to_string()
                    .ends_with(r#"the Hub said "Authentication required""#),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
    let hub = FakeHub::start(|n| {
        if n == 1 {
            page(pushes(0, 100))
        } else {
            (403, "{}".into())
        }
    })
    .await;
    assert!(matches!(
        hub.read("acme").await,
        Err(Error::Status { status: 403, .. })
    ));
    for body in [
        "<html>busy</html>",
        r#"{"detail":"maintenance","logs":[]}"#,
        r#"{"results":[]}"#,
    ] {
        let hub = FakeHub::start(move |_| (200, body.to_string())).await;
        assert!(
            matches!(hub.read("acme").await, Err(Error::Decode { .. })),
            "{body}"
        );
    }
}

#[tokio::test]
async fn an_event_shifted_onto_the_next_page_is_kept_once() {
    // Two events arrived between the reads: the last two of page 1 are read again.
    let hub = FakeHub::start(|n| match n {
        1 => page(pushes(10, 100)),
        _ => page(pushes(0, 12)),
    })
    .await;
    let events = events(hub.read("acme").await);
    assert_eq!(events.len(), 110);
    assert_eq!(events.iter().collect::<BTreeSet<_>>().len(), 110);
}

#[tokio::test]
async fn only_the_actions_that_change_repositories_and_tags_are_kept() {
    let hub = FakeHub::start(|_| {
        page([
            Event::push("acme/api", 1),
            Event::push("acme/api", 2).action(TAG_DELETE),
            Event::push("acme/web", 3).action(REPOSITORY_CREATE),
            Event::push("acme/old", 4).action(REPOSITORY_DELETE),
            Event::push("acme/api", 5).action("repo.change_privacy"),
            Event::push("acme/owners", 6).action("team.member.add"),
            Event::push("acme/api", 7).action("REPO.TAG.PUSH"),
        ])
    })
    .await;
    let actions: Vec<String> = events(hub.read("acme").await)
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, WATCHED_ACTIONS);
}

#[tokio::test]
async fn a_log_without_end_is_read_to_the_page_bound_and_what_was_read_kept() {
    // A Hub that ignores `page`: the same full page, again and again.
    let hub = FakeHub::start(|_| page(pushes(0, 100))).await;
    assert_eq!(events(hub.read("acme").await).len(), 100);
    assert_eq!(hub.targets().len(), MAX_PAGES as usize);
    // Pages longer than asked, all new: the events bound ends it first.
    let hub = FakeHub::start(|n| page(pushes(i64::from(n) * 1000, 150))).await;
    assert_eq!(events(hub.read("acme").await).len(), 150 * 67);
    assert_eq!(hub.targets().len(), 67);
}

#[tokio::test]
async fn a_hostile_account_name_stays_one_path_segment() {
    let hub = FakeHub::start(|_| page([])).await;
    assert!(events(hub.read("a/../b?x#").await).is_empty());
    let target = hub.targets().remove(0);
    assert!(
        target.starts_with("/v2/auditlogs/a%2F..%2Fb%3Fx%23?page_size=100&"),
        "{target}"
    );
}

#[test]
fn from_is_sent_in_utc_with_microseconds_cut_not_rounded() {
    assert_eq!(
        rfc3339_micros(datetime!(2026-12-02 14:05:01.123456789 +01:00)),
        "2026-12-02T13:05:01.123456Z"
    );
    assert_eq!(
        rfc3339_micros(datetime!(1969-12-31 23:59:59 UTC)),
        "1970-01-01T00:00:00.000000Z"
    );
    assert_eq!(
        rfc3339_micros(datetime!(-9999-01-01 00:00:00 +01:00)),
        "1970-01-01T00:00:00.000000Z"
    );
    assert_eq!(
        rfc3339_micros(datetime!(9999-12-31 23:59:59.999999999 -01:00)),
        "1970-01-01T00:00:00.000000Z",
        "a time that has no UTC date is no window to ask for; the whole log is asked"
    );
}

/// Decodes a page of the given entries for `acme` since [`FROM`].
fn decode(entries: Value) -> Page {
    let body = json!({ "logs": entries }).to_string();
    decode_page(body.as_bytes(), "acme", FROM).expect("a page")
}

#[test]
fn a_name_without_a_slash_takes_the_entry_account_or_else_the_one_asked_for() {
    let page = decode(json!([
        {"action": "repo.create", "name": "api", "account": "other",
         "timestamp": "2026-12-02T13:00:00Z"},
        {"action": "repo.create", "name": "web", "timestamp": "2026-12-02T13:00:00Z"},
    ]));
    let names: Vec<(&str, &str)> = page
        .events
        .iter()
        .map(|e| (e.namespace.as_str(), e.repository.as_str()))
        .collect();
    assert_eq!(names, [("other", "api"), ("acme", "web")]);
}

#[test]
fn entries_that_cannot_be_read_are_skipped_alone() {
    let at = "2026-12-02T13:05:01.123Z";
    let page = decode(json!([
        {"action": TAG_PUSH, "name": "acme/api", "timestamp": at},
        {"action": TAG_PUSH, "name": "acme/api", "timestamp": "yesterday"},
        {"action": TAG_PUSH, "name": "acme/api", "timestamp": 1733144701},
        {"action": TAG_PUSH, "name": "acme/api"},
        {"action": TAG_PUSH, "name": "acme/", "timestamp": at},
        {"action": TAG_PUSH, "name": "/api", "timestamp": at},
        {"action": TAG_PUSH, "name": "acme/a/b", "timestamp": at},
        {"action": TAG_PUSH, "name": "acme/..", "timestamp": at},
        {"action": TAG_PUSH, "name": "acme/a\nb", "timestamp": at},
        {"action": TAG_PUSH, "name": 7, "timestamp": at},
        {"action": TAG_PUSH, "timestamp": at},
        {"action": TAG_PUSH, "name": "acme/old", "timestamp": "2026-12-02T11:59:59.999Z"},
        {"action": "repo.tag.pull", "name": "not a name", "timestamp": "never"},
        {"name": "acme/api", "timestamp": at},
        "a string",
        null,
        [1, 2],
        {"action": TAG_DELETE, "name": "acme/web", "timestamp": "2026-12-02T14:05:01+01:00",
         "actor": "", "data": {"tag": 5, "digest": ["sha256:0f"], "extra": {"deep": [1]}}},
    ]));
    assert_eq!(page.entries, 18);
    assert_eq!(page.skipped.len(), 10, "{:?}", page.skipped);
    let kept: Vec<(&str, OffsetDateTime)> = page
        .events
        .iter()
        .map(|e| (e.repository.as_str(), e.timestamp))
        .collect();
    assert_eq!(
        kept,
        [
            ("api", datetime!(2026-12-02 13:05:01.123 UTC)),
            ("web", datetime!(2026-12-02 13:05:01 UTC)),
        ]
    );
    let web = &page.events[1];
    assert_eq!(web.timestamp.offset(), UtcOffset::UTC);
    assert_eq!((&web.tag, &web.digest, &web.actor), (&None, &None, &None));
}

#[test]
fn a_body_that_is_not_a_page_is_refused() {
    for body in [
        "",
        "[]",
        "null",
        r#"{}"#,
        r#"{"logs":null}"#,
        r#"{"logs":{}}"#,
        r#"{"logs":[],"errors":[{"code":"UNAVAILABLE"}]}"#,
        r#"{"detail":"Rate limit exceeded","error":false}"#,
    ] {
        assert!(
            decode_page(body.as_bytes(), "acme", FROM).is_err(),
            "{body}"
        );
    }
    let empty = decode_page(br#"{"logs":[],"count":3}"#, "acme", FROM).unwrap();
    assert_eq!((empty.entries, empty.events.len()), (0, 0));
}

#[test]
fn deeply_nested_values_are_skipped_without_overflowing_the_stack() {
    let nested = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
    let entry = r#""action":"repo.create","name":"acme/api","timestamp":"2026-12-02T13:00:00Z""#;
    for field in ["data", "actor", "action_description"] {
        let body = format!(r#"{{"logs":[{{{entry},"{field}":{nested}}}]}}"#);
        let page = decode_page(body.as_bytes(), "acme", FROM).expect(field);
        assert_eq!(page.events.len(), 1, "{field}");
    }
    let body = format!(r#"{{"logs":[{nested}],"extra":{nested}}}"#);
    assert_eq!(
        decode_page(body.as_bytes(), "acme", FROM).unwrap().entries,
        1
    );
}
