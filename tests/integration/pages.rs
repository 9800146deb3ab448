//! The pages for people and scripts: the landing page in a real browser, a repository's
//! tags a page at a time, hostile names shown as text, and `/api/v1/changes` with its
//! filters and across a restart.

use std::collections::BTreeSet;

use simhub::{Repo, SimHub, TagSpec};

use crate::support::fixtures::acme;
use crate::support::*;

/// A tag name no real Hub would allow, which a hostile or broken one could send.
const HOSTILE: &str = "<script>document.title='owned'</script><img src=x onerror=alert(1)>";

/// Waits until `/api/v1/changes` lists a change of `tag`; the document.
async fn wait_for_change(url: &str, tag: &str) -> serde_json::Value {
    eventually(|| async {
        let (status, body) = get(&format!("{url}/api/v1/changes")).await;
        assert_eq!(status, 200, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).expect("the answer is JSON");
        let listed = v["changes"]
            .as_array()
            .expect("a list of changes")
            .iter()
            .any(|c| c["tag"] == tag);
        listed.then_some(v)
    })
    .await
}

/// The part of `page` from the element with `id` to the end of its section.
fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no section {id} in {page}"));
    let rest = &page[start..];
    &rest[..rest.find("</section>").unwrap_or(rest.len())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_landing_page_in_a_browser_shows_a_change_made_at_the_hub_and_hostile_names_as_text() {
    let Some(chromium) = chromium() else { return };
    let hub = acme();
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(&running.url(), "acme", &["--refresh.interval", "200ms"]),
        None,
    )
    .await;
    exporter.wait_for_refreshes(1).await;
    hub.push_tag("acme", "api", TagSpec::new("2.0.0"));
    hub.push_tag("acme", "api", TagSpec::new(HOSTILE));
    wait_for_change(&exporter.url, HOSTILE).await;

    let dom = dump_dom(&chromium, &format!("{}/", exporter.url)).await;
    let changes = section(&dom, "changes");
    let row = changes
        .split("<tr>")
        .find(|row| row.contains(">2.0.0<"))
        .unwrap_or_else(|| panic!("the change is not on the page: {changes}"));
    assert!(row.contains("tag added"), "{row}");
    assert!(row.contains(">api</a>") && row.contains(">acme<"), "{row}");
    let digest = hub.tag_digest("acme", "api", "2.0.0").unwrap();
    assert!(row.contains(&digest[..19]), "the short digest: {row}");
    // The hostile tag is text in a cell: no element came of it, and no script ran.
    assert!(!dom.contains("<script"), "{dom}");
    assert!(!dom.contains("<img"), "{dom}");
    assert!(dom.contains("&lt;script&gt;document.title="), "{changes}");
    assert!(dom.contains("<title>dockerhub_exporter</title>"));
    // Every repository is listed with a link to its page.
    let repositories = section(&dom, "repositories");
    for name in hub.repository_names("acme") {
        assert!(
            repositories.contains(&format!("href=\"./repositories/acme/{name}\"")),
            "{name}: {repositories}"
        );
    }

    // The repository's page, in the browser too, shows the hostile tag as text.
    let api = dump_dom(
        &chromium,
        &format!("{}/repositories/acme/api", exporter.url),
    )
    .await;
    assert!(!api.contains("<script") && !api.contains("<img"), "{api}");
    assert!(api.contains("&lt;img src=x onerror=alert(1)&gt;"), "{api}");
    exporter.stop().await;
}

/// The tag names on a repository's page, in order, and the link to the next page.
fn tags_on(page: &str) -> (Vec<String>, Option<String>) {
    let table = section(page, "tags");
    let names = table
        .split("<tr><td>")
        .skip(1)
        .map(|row| row[..row.find("</td>").unwrap()].to_string())
        .collect();
    let next = page
        .split("<a href=\"")
        .skip(1)
        .find(|a| a.contains("rel=\"next\""))
        .map(|a| a[..a.find('"').unwrap()].to_string());
    (names, next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repositorys_pages_together_list_every_tag_once() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("web").with_tags(250));
    hub.add_repo("acme", Repo::new("api").with_tags(3));
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&hub_args(&running.url(), "acme", &[]), None).await;
    exporter.wait_for_refreshes(1).await;

    let base = format!("{}/repositories/acme/web", exporter.url);
    let mut url = base.clone();
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let (status, page) = get(&url).await;
        assert_eq!(status, 200, "{url}");
        pages += 1;
        let (names, next) = tags_on(&page);
        assert!(!names.is_empty(), "{page}");
        seen.extend(names);
        match next {
            // Relative to the page, as the browser resolves it.
            Some(query) => url = format!("{base}{query}"),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 250, "no tag twice");
    let expected: BTreeSet<String> = hub.tag_names("acme", "web").into_iter().collect();
    assert_eq!(seen.iter().cloned().collect::<BTreeSet<_>>(), expected);

    let (status, _) = get(&format!("{base}?page=4")).await;
    assert_eq!(status, 404);
    let (status, _) = get(&format!("{base}?page=first")).await;
    assert_eq!(status, 400);
    let (status, _) = get(&format!("{}/repositories/acme/nope", exporter.url)).await;
    assert_eq!(status, 404);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_changes_api_filters_by_time_and_limit_and_keeps_them_across_a_restart() {
    let hub = acme();
    let running = hub.start().await.unwrap();
    let dir = temp_dir("changes-api");
    let state = dir.join("state.json.gz");
    let args = hub_args(
        &running.url(),
        "acme",
        &[
            "--refresh.interval",
            "200ms",
            "--state.file",
            state.to_str().unwrap(),
        ],
    );
    let exporter = Exporter::start(&args, None).await;
    exporter.wait_for_refreshes(1).await;
    hub.push_tag("acme", "api", TagSpec::new("first"));
    let first = wait_for_change(&exporter.url, "first").await;
    let first_time = first["changes"][0]["time"].as_str().unwrap().to_string();
    assert_eq!(first["changes"][0]["kind"], "tag_added");
    assert_eq!(first["changes"][0]["old_digest"], serde_json::Value::Null);
    assert_eq!(
        first["changes"][0]["new_digest"],
        hub.tag_digest("acme", "api", "first").unwrap()
    );
    assert!(hub.delete_tag("acme", "api", "nightly"));
    hub.push_tag("acme", "api", TagSpec::new("second"));
    // The removal and the push may be counted by one refresh or by two.
    let all = eventually(|| async {
        let (_, body) = get(&format!("{}/api/v1/changes", exporter.url)).await;
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        (v["changes"].as_array().unwrap().len() == 3).then_some(v)
    })
    .await;
    let tags = |v: &serde_json::Value| -> Vec<String> {
        v["changes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["tag"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    assert_eq!(tags(&all).last().map(String::as_str), Some("first"));

    let query = |q: String| {
        let url = format!("{}/api/v1/changes?{q}", exporter.url);
        async move {
            let (status, body) = get(&url).await;
            (
                status,
                serde_json::from_str::<serde_json::Value>(&body).unwrap(),
            )
        }
    };
    let (status, since) = query(format!("since={first_time}")).await;
    assert_eq!(status, 200);
    let after_first = tags(&since);
    assert_eq!(after_first.len(), 2, "{since}");
    assert!(!after_first.contains(&"first".to_string()));
    let (_, limited) = query("limit=1".into()).await;
    assert_eq!(tags(&limited), tags(&all)[..1]);
    let (_, none) = query(format!("since={first_time}&limit=0")).await;
    assert_eq!(tags(&none), Vec::<String>::new());
    let (status, error) = query("since=yesterday".into()).await;
    assert_eq!(status, 400);
    assert!(
        error["error"].as_str().unwrap().contains("since"),
        "{error}"
    );
    let (status, _) = query("limit=many".into()).await;
    assert_eq!(status, 400);

    // After a restart, before and after its first refresh, the same changes are served.
    exporter.stop().await;
    let restarted = Exporter::start(&args, None).await;
    let (_, kept) = get(&format!("{}/api/v1/changes", restarted.url)).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&kept).unwrap(),
        all
    );
    restarted.wait_for_refreshes(1).await;
    let (_, kept) = get(&format!("{}/api/v1/changes", restarted.url)).await;
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&kept).unwrap(),
        all
    );
    restarted.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
