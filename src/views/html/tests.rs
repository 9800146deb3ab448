use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use super::repository::PAGE_SIZE;
use super::*;
use crate::changes::{Change, Counters, History};
use crate::inventory::fixtures::{self, image, snapshot, tag};
use crate::publication::{Published, RefreshResult, RefreshStatus, render};
use crate::views::{Mirror, Mismatch, PullQuota, Pulls, Quotas};

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
                pulls: Pulls::Limited {
                    remaining: Some(95),
                    limit: Some(100),
                },
            }],
        },
        mirrors: &[],
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
fn the_pull_quota_says_what_the_registry_told_and_no_count_it_did_not() {
    let namespaces = vec!["acme".to_string()];
    let mut context = context(&namespaces);
    context.quotas.pulls = vec![
        PullQuota {
            account: "anonymous".into(),
            pulls: Pulls::Limited {
                remaining: None,
                limit: None,
            },
        },
        PullQuota {
            account: "bot".into(),
            pulls: Pulls::Limited {
                remaining: Some(7),
                limit: None,
            },
        },
        PullQuota {
            account: "paid".into(),
            pulls: Pulls::Unlimited,
        },
    ];
    let page = landing(&published(vec![], &History::default()), &context, 1).unwrap();
    assert!(
        page.contains(
            "anonymous: limited; the registry did not say how many pulls are left; bot: 7 pulls left; paid: no limit"
        ),
        "{page}"
    );
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
    let first = repository(&published, "acme", "api", 1, "/metrics", &[]).unwrap();
    let second = repository(&published, "acme", "api", 2, "/metrics", &[]).unwrap();
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
    assert!(repository(&published, "acme", "api", 3, "/metrics", &[]).is_none());
    assert!(repository(&published, "acme", "api", 0, "/metrics", &[]).is_none());
    assert!(repository(&published, "acme", "nope", 1, "/metrics", &[]).is_none());
}

#[test]
fn repository_page_escapes_names_and_says_when_tags_are_unknown() {
    let published = published(vec![], &History::default());
    let page = repository(&published, HOSTILE, HOSTILE, 1, "/metrics", &[]).unwrap();
    assert!(!page.contains("<script"), "{page}");
    assert!(page.contains("not been listed yet"));
    let empty = repository(&published, "acme", "api", 1, "/metrics", &[]).unwrap();
    assert!(!empty.contains("<tr><td>"));
}

#[test]
fn both_pages_say_how_many_of_how_many_tags_a_capped_listing_holds() {
    let mut api = fixtures::repository("api", Some(vec![tag("1.0", "sha256:a")]));
    api.counted = Some(1_729);
    let finished = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let published = Published::new(
        Arc::new(snapshot(vec![("acme", vec![api])])),
        None,
        Some(finished),
        &Counters::default(),
        &History::default(),
        &render::Options::default(),
    );
    let namespaces = vec!["acme".to_string()];
    let landing = landing(&published, &context(&namespaces), 1).unwrap();
    assert!(
        landing.contains(">1 of 1,729 tags listed</td>"),
        "{landing}"
    );
    let page = repository(&published, "acme", "api", 1, "/metrics", &[]).unwrap();
    assert!(
        page.contains("<dt>Tags</dt><dd>1 of 1,729 tags listed <span")
            && page.contains("--hub.username"),
        "{page}"
    );
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

/// A mirror `ghcr.io/acme-corp` of acme that lacks `1.0` of api and holds `2.0` at another
/// digest, and the hostile one of the hostile namespace, in sync.
fn mirrors() -> Vec<Mirror> {
    vec![
        Mirror {
            mirror: "ghcr.io/acme-corp".into(),
            hub_namespace: "acme".into(),
            last_success: Some(1_800_000_000.0),
            tags: 3,
            repositories: ["api".to_string()].into(),
            mismatches: [
                (("api".into(), "1.0".into()), Mismatch::Missing),
                (("api".into(), "2.0".into()), Mismatch::Digest),
            ]
            .into(),
            digests: [(("api".into(), "2.0".into()), "sha256:other".into())].into(),
        },
        Mirror {
            mirror: HOSTILE.into(),
            hub_namespace: HOSTILE.into(),
            last_success: None,
            tags: 0,
            repositories: [HOSTILE.to_string()].into(),
            mismatches: Default::default(),
            digests: Default::default(),
        },
        Mirror {
            mirror: "quay.io/acme".into(),
            ..Mirror::default()
        },
    ]
}

#[test]
fn the_landing_page_says_which_mirrors_are_in_sync_and_how_many_tags_differ() {
    let namespaces = vec!["acme".to_string()];
    let published = published(vec![tag("1.0", "sha256:1")], &History::default());
    let mirrors = mirrors();
    let with = Context {
        mirrors: &mirrors,
        ..context(&namespaces)
    };
    let page = landing(&published, &with, 1).unwrap();
    assert!(!page.contains("<script"), "{page}");
    for expected in [
        "<section id=\"mirrors\">",
        "<td>ghcr.io/acme-corp</td><td>acme</td><td class=\"removed\">2 of 3 tags differ: 1 missing, 1 at another digest</td><td><time datetime=\"2027-01-15T08:00:00Z\">",
        "<td>&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;&amp;&quot;</td>",
        "<td class=\"added\">in sync (0 tags)</td><td class=\"muted\">–</td>",
        "<td>quay.io/acme</td><td></td><td class=\"muted\">not read yet</td>",
    ] {
        assert!(page.contains(expected), "{expected} not in {page}");
    }
    let without = landing(&published, &context(&namespaces), 1).unwrap();
    assert!(
        !without.contains("id=\"mirrors\""),
        "no mirrors, no section"
    );
}

#[test]
fn the_repository_page_marks_the_tags_a_mirror_lacks_or_holds_at_another_digest() {
    let tags = vec![
        tag("1.0", "sha256:1").pushed_at(3.0),
        tag("2.0", "sha256:2").pushed_at(2.0),
        tag("3.0", "sha256:3").pushed_at(1.0),
    ];
    let published = published(tags, &History::default());
    let page = repository(&published, "acme", "api", 1, "/metrics", &mirrors()).unwrap();
    assert!(page.contains("<th>Mirrors</th>"));
    let row = |tag: &str| {
        let start = page.find(&format!("<tr><td>{tag}</td>")).unwrap();
        page[start..start + page[start..].find("</tr>").unwrap()].to_string()
    };
    assert!(
        row("1.0")
            .ends_with("<td><span class=\"removed\">missing on ghcr.io/acme-corp</span></td>"),
        "{}",
        row("1.0")
    );
    assert!(
        row("2.0")
            .ends_with("<td><span class=\"moved\">another digest on ghcr.io/acme-corp</span></td>")
    );
    assert!(row("3.0").ends_with("<td class=\"muted\">in sync</td>"));
    // A repository no mirror compares has no such column.
    let plain = repository(&published, "acme", "api", 1, "/metrics", &[]).unwrap();
    assert!(!plain.contains("Mirrors"));
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
