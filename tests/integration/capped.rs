//! Repositories of more than 1,000 tags read anonymously, which the Hub lists only as far as
//! its newest 1,000 (it refuses page 11 with a 403): the listing is capped, not failed, and
//! the binary serves what it read, counts changes only within the window, warns once, asks
//! for no refused page again, and says so on its pages; with an account it reads them all.

use simhub::{Fault, FaultKind, TagSpec};

use crate::support::fixtures::{AGENT_TAGS, agent};
use crate::support::*;

/// The Hub's 403 to a page past offset 1,000, as Harbor's log quoted it.
const OFFSET_403: &str = include_str!("../fixtures/hub/hub_403_pagination_offset_anonymous.json");

fn repo(name: &str) -> [(&'static str, &str); 2] {
    [("hub_namespace", "acme"), ("repository", name)]
}

/// `dockerhub_repository_tags` and `dockerhub_repository_tags_listed` of acme/`name`.
fn counts(m: &str, name: &str) -> (Option<f64>, Option<f64>) {
    (
        value(m, "dockerhub_repository_tags", &repo(name)),
        value(m, "dockerhub_repository_tags_listed", &repo(name)),
    )
}

/// The `requests=` of each `refresh finished` line of `log`, in order.
fn requests_per_refresh(log: &str) -> Vec<u64> {
    log.lines()
        .filter(|l| l.contains("refresh finished"))
        .filter_map(|l| {
            l.split(" requests=")
                .nth(1)?
                .split(' ')
                .next()?
                .parse()
                .ok()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_anonymous_listing_past_1000_tags_is_capped_with_the_newest_and_the_refresh_succeeds() {
    let hub = agent();
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_args(&running.url(), "acme", &["--refresh.interval", "200ms"]),
        &[],
    )
    .await;
    let m = process.metrics_after_refreshes(3.0).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert_eq!(
        refreshes(&m),
        value(&m, "dockerhub_refreshes_total", &[("result", "success")]).unwrap()
    );
    assert_eq!(
        counts(&m, "agent"),
        (Some(AGENT_TAGS as f64), Some(1_000.0))
    );
    assert_eq!(counts(&m, "small"), (Some(5.0), Some(5.0)));
    assert_eq!(
        served_tags(&m, "acme", "agent"),
        hub.newest_tag_names("acme", "agent", 1_000),
        "series for the newest 1,000 tags, none for the others"
    );
    let errors: f64 = series(&m, "dockerhub_refresh_errors_total")
        .iter()
        .map(|s| s.value)
        .sum();
    assert_eq!(errors, 0.0);

    let log = process.log();
    let warnings: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("lists only the newest"))
        .collect();
    assert_eq!(
        warnings.len(),
        1,
        "once per repository, not per refresh:\n{log}"
    );
    assert!(
        warnings[0].contains("level=warn")
            && warnings[0].contains("repository=agent")
            && warnings[0].contains("1000 of the repository's 1729 tags")
            && warnings[0].contains("--hub.username"),
        "{}",
        warnings[0]
    );
    // One repository page; agent's ten pages, and page 11 refused the first time only;
    // small's one page.
    let per_refresh = requests_per_refresh(&log);
    assert!(per_refresh.len() >= 3, "{log}");
    assert_eq!(per_refresh[0], 1 + 11 + 1);
    assert!(
        per_refresh[1..].iter().all(|n| *n == 1 + 10 + 1),
        "{per_refresh:?}"
    );
    let refused: Vec<u16> = hub
        .requests()
        .iter()
        .filter(|r| r.query.contains("page=11"))
        .map(|r| r.status)
        .collect();
    assert_eq!(refused, [403], "page 11 asked for once");
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pushes_to_a_capped_repository_are_added_and_only_deletions_within_the_window_removed() {
    let hub = agent();
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &hub_args(&running.url(), "acme", &["--refresh.interval", "200ms"]),
        None,
    )
    .await;
    exporter.wait_for_refreshes(1).await;
    let counter = |m: &str, name: &str| value(m, name, &repo("agent")).unwrap_or(0.0);
    for i in 0..5 {
        hub.push_tag("acme", "agent", TagSpec::new(&format!("new-{i}")));
    }
    let m = exporter
        .wait_for(|m| counter(m, "dockerhub_tags_added_total") >= 5.0)
        .await;
    assert_eq!(counter(&m, "dockerhub_tags_added_total"), 5.0);
    assert_eq!(
        counter(&m, "dockerhub_tags_removed_total"),
        0.0,
        "the five tags pushed out of the window are not removed"
    );
    assert_eq!(
        counts(&m, "agent"),
        (Some(AGENT_TAGS as f64 + 5.0), Some(1_000.0))
    );

    // A tag deleted inside the window is removed; one deleted beyond it is not seen.
    assert!(hub.delete_tag("acme", "agent", "new-0"));
    let m = exporter
        .wait_for(|m| counter(m, "dockerhub_tags_removed_total") >= 1.0)
        .await;
    assert_eq!(counter(&m, "dockerhub_tags_removed_total"), 1.0);
    let within = hub.newest_tag_names("acme", "agent", 1_001);
    let beyond = hub
        .tag_names("acme", "agent")
        .into_iter()
        .find(|t| !within.contains(t))
        .expect("a tag beyond the window");
    assert!(hub.delete_tag("acme", "agent", &beyond));
    let m = exporter
        .wait_for(|m| counts(m, "agent").0 == Some(AGENT_TAGS as f64 + 3.0))
        .await;
    assert_eq!(counter(&m, "dockerhub_tags_removed_total"), 1.0);
    assert_eq!(counter(&m, "dockerhub_tags_added_total"), 5.0);
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_lists_every_tag_and_its_403_is_a_failure_with_the_hubs_reason() {
    let hub = agent();
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_args(
            &running.url(),
            "acme",
            &["--refresh.interval", "200ms", "--hub.username", "acme-bot"],
        ),
        &[("DOCKERHUB_PASSWORD", "dckr_pat_agent")],
    )
    .await;
    let m = process.metrics_after_refreshes(1.0).await;
    assert_eq!(
        counts(&m, "agent"),
        (Some(AGENT_TAGS as f64), Some(AGENT_TAGS as f64))
    );
    assert_eq!(
        served_tags(&m, "acme", "agent"),
        hub.tag_names("acme", "agent")
    );

    hub.add_fault(Fault::new(
        "/repositories/agent/tags?ordering=last_updated&page=11",
        FaultKind::Answer(403, OFFSET_403.into()),
    ));
    let failed = eventually(|| async {
        let m = get(&format!("{}/metrics", process.url)).await.1;
        (value(&m, "dockerhub_refreshes_total", &[("result", "partial")]) >= Some(1.0)).then_some(m)
    })
    .await;
    assert_eq!(value(&failed, "dockerhub_up", &[]), Some(0.0));
    assert!(
        value(
            &failed,
            "dockerhub_refresh_errors_total",
            &[("kind", "auth")]
        ) >= Some(1.0)
    );
    assert_eq!(
        counts(&failed, "agent"),
        (Some(AGENT_TAGS as f64), Some(AGENT_TAGS as f64)),
        "the previous listing stands"
    );
    let log = process.log();
    assert!(
        log.lines().any(|l| l.contains("listings failed")
            && l.contains("authentication failed")
            && l.contains("pagination offset too large for anonymous requests")),
        "{log}"
    );
    assert!(!log.contains("lists only the newest"), "{log}");
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_pages_say_how_many_of_how_many_tags_are_listed() {
    let hub = agent();
    let running = hub.start().await.unwrap();
    let process = Process::start(&hub_args(&running.url(), "acme", &[]), &[]).await;
    process.metrics_after_refreshes(1.0).await;
    let (status, landing) = get(&format!("{}/", process.url)).await;
    assert_eq!(status, 200);
    assert!(
        landing.contains(">1,000 of 1,729 tags listed</td>"),
        "{landing}"
    );
    let (status, page) = get(&format!("{}/repositories/acme/agent", process.url)).await;
    assert_eq!(status, 200);
    assert!(
        page.contains("<dt>Tags</dt><dd>1,000 of 1,729 tags listed"),
        "{page}"
    );
    assert!(process.terminate().await.success());
}
