use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::repository::PAGE_SIZE;
use super::*;
use crate::changes::{Change, Counters, History};
use crate::inventory::fixtures::{self, image, snapshot, tag};
use crate::publication::{Published, RefreshResult, RefreshStatus, render};
use crate::views::{PullQuota, Quotas};

const HOSTILE: &str = "<script>alert('x')</script>&\"";

fn published(tags: Vec<crate::inventory::Tag>, history: &History) -> Published {
    let s = snapshot(vec![
        ("acme", vec![fixtures::repository("api", Some(tags))]),
        (HOSTILE, vec![fixtures::repository(HOSTILE, None)]),
    ]);
    let finished = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    Published::new(
        Arc::new(s),
        Some(RefreshStatus {
            result: RefreshResult::Success,
            finished,
            duration: Duration::from_secs(30),
            requests: 77,
        }),
        Some(finished),
        &Counters::default(),
        history,
        &render::Options::default(),
    )
}

fn context<'a>(namespaces: &'a [String]) -> Context<'a> {
    Context {
        namespaces,
        repositories: &[],
        refresh_interval: Duration::from_secs(900),
        metrics_path: "/metrics",
        quotas: Quotas {
            rate_limit_remaining: Some(170),
            rate_limit_limit: Some(180),
            pulls: vec![PullQuota {
                account: "anonymous".into(),
                remaining_of: Some((95, 100)),
            }],
        },
    }
}

fn hostile_history() -> History {
    let mut history = History::default();
    history.record(
        &[Change::TagDigestChanged {
            namespace: "acme".into(),
            repository: "api".into(),
            tag: HOSTILE.into(),
            old_digest: "sha256:<b>".into(),
            new_digest: "sha256:0123456789abcdef0123".into(),
        }],
        UNIX_EPOCH + Duration::from_secs(1_800_000_000),
    );
    history
}

#[test]
fn landing_page_escapes_what_the_hub_sent_and_shows_the_status() {
    let namespaces = vec!["acme".to_string(), HOSTILE.to_string()];
    let page = landing(
        &published(vec![tag(HOSTILE, "sha256:1")], &hostile_history()),
        &context(&namespaces),
        1,
    )
    .unwrap();
    assert!(!page.contains("<script"), "{page}");
    assert!(!page.contains("<b>"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;"));
    // The hostile repository's link stays one path segment, and escaped.
    assert!(
        page.contains("href=\"./repositories/%3Cscript%3Ealert%28%27x%27%29%3C%2Fscript%3E%26%22/")
    );
    for expected in [
        "2027-01-15T08:00:00Z, <span class=\"added\">success</span>, took 30.0 s, 77 requests",
        "<dt>Next refresh</dt><dd>2027-01-15T08:14:30Z</dd>",
        "<dt>dockerhub_up</dt><dd>1</dd>",
        "170 of 180 requests left",
        "anonymous: 95 of 100 pulls left",
        "2 repositories, 1 tags",
        "<code title=\"sha256:0123456789abcdef0123\">sha256:0123456789ab</code>",
        "<a href=\"./repositories/acme/api\">api</a>",
        "<a href=\"./metrics\">Metrics</a>",
    ] {
        assert!(page.contains(expected), "{expected} not in {page}");
    }
    assert!(!page.contains("href=\"/"), "every link is relative: {page}");
}

#[test]
fn repository_page_lists_tags_newest_first_a_page_at_a_time() {
    let tags: Vec<_> = (0..PAGE_SIZE + 20)
        .map(|i| {
            tag(&format!("t{i:03}"), &format!("sha256:{i:064x}"))
                .pushed_at(1_700_000_000.0 + i as f64)
                .with_images(vec![
                    image("linux", "amd64", "", "sha256:a"),
                    image("linux", "arm64", "v8", "sha256:b"),
                ])
        })
        .collect();
    let published = published(tags, &History::default());
    let first = repository(&published, "acme", "api", 1, "/metrics").unwrap();
    let second = repository(&published, "acme", "api", 2, "/metrics").unwrap();
    let names = |page: &str| -> Vec<String> {
        page.split("<tr><td>")
            .skip(1)
            .map(|row| row.split('<').next().unwrap().to_string())
            .collect()
    };
    let (first_names, second_names) = (names(&first), names(&second));
    assert_eq!(first_names.len(), PAGE_SIZE);
    assert_eq!(first_names[0], format!("t{:03}", PAGE_SIZE + 19));
    assert_eq!(second_names.len(), 20);
    assert_eq!(second_names.last().map(String::as_str), Some("t000"));
    assert!(first.contains("linux/amd64, linux/arm64/v8"));
    assert!(first.contains("<a href=\"?page=2\" rel=\"next\">"));
    assert!(first.contains("Page 1 of 2: tags 1–100 of 120"));
    assert!(second.contains("<a href=\"?page=1\" rel=\"prev\">"));
    assert!(first.contains("<a href=\"../../\">All repositories</a>"));
    assert!(first.contains("href=\"../../metrics\""));
    assert!(repository(&published, "acme", "api", 3, "/metrics").is_none());
    assert!(repository(&published, "acme", "api", 0, "/metrics").is_none());
    assert!(repository(&published, "acme", "nope", 1, "/metrics").is_none());
}

#[test]
fn repository_page_escapes_names_and_says_when_tags_are_unknown() {
    let published = published(vec![], &History::default());
    let page = repository(&published, HOSTILE, HOSTILE, 1, "/metrics").unwrap();
    assert!(!page.contains("<script"), "{page}");
    assert!(page.contains("not been listed yet"));
    let empty = repository(&published, "acme", "api", 1, "/metrics").unwrap();
    assert!(!empty.contains("<tr><td>"));
}

#[test]
fn path_segments_keep_names_whole() {
    assert_eq!(path_segment("api-v1.2_x~"), "api-v1.2_x~");
    assert_eq!(path_segment("a/b?c#d e"), "a%2Fb%3Fc%23d%20e");
    assert_eq!(path_segment(".."), "%2E%2E");
    assert_eq!(path_segment("é"), "%C3%A9");
}

#[test]
fn the_landing_page_lists_many_repositories_a_page_at_a_time() {
    use super::landing::REPOSITORIES_PAGE_SIZE;
    let count = REPOSITORIES_PAGE_SIZE + 5;
    let repos = (0..count)
        .map(|i| fixtures::repository(&format!("r{i:05}"), None))
        .collect();
    let published = Published::new(
        Arc::new(snapshot(vec![("acme", repos)])),
        None,
        None,
        &Counters::default(),
        &History::default(),
        &render::Options::default(),
    );
    let namespaces = vec!["acme".to_string()];
    let rows = |page: &str| page.matches("<a href=\"./repositories/acme/").count();
    let first = landing(&published, &context(&namespaces), 1).unwrap();
    let second = landing(&published, &context(&namespaces), 2).unwrap();
    assert_eq!(rows(&first), REPOSITORIES_PAGE_SIZE);
    assert_eq!(rows(&second), 5);
    assert!(first.contains("<a href=\"?page=2\" rel=\"next\">"));
    assert!(second.contains(&format!("repositories 1001–{count} of {count}")));
    assert!(second.contains(">r01004</a>"));
    assert!(landing(&published, &context(&namespaces), 3).is_none());
}

#[test]
fn control_characters_and_bidirectional_overrides_show_escaped() {
    let mut out = String::new();
    escape_into(&mut out, "gpj.\u{202e}exe\u{0}<b>\u{1b}[2J\u{85}\u{2066}é");
    assert_eq!(
        out,
        "gpj.\\u{202e}exe\\u{0}&lt;b&gt;\\u{1b}[2J\\u{85}\\u{2066}é"
    );
}
