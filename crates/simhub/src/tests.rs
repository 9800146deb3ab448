//! Behaviour of the simulated Hub over real sockets: pagination, visibility, routing,
//! mutations and the demo data, each checked the way a client would see it. Tests of the
//! quota, faults and logins live next to their code.

use std::time::Duration;

use super::testclient::{get, login, send};
use super::{Repo, SimHub, TagSpec};

const TAGS: &str = "/v2/namespaces/acme/repositories/api/tags";

fn names(page: &serde_json::Value) -> Vec<String> {
    page["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn page_size_above_100_is_capped_at_100() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(150));
    let running = hub.start().await.unwrap();
    let page = get(running.addr(), &format!("{TAGS}?page_size=500"), None)
        .await
        .json();
    assert_eq!(page["count"], 150);
    assert_eq!(page["results"].as_array().unwrap().len(), 100);
    let default = get(running.addr(), TAGS, None).await.json();
    assert_eq!(
        default["results"].as_array().unwrap().len(),
        10,
        "the default page size is 10"
    );
}

#[tokio::test]
async fn next_is_absolute_and_null_on_the_last_page() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(150));
    let running = hub.start().await.unwrap();
    let first = get(running.addr(), &format!("{TAGS}?page_size=100"), None).await;
    assert!(
        first.text().contains(r"?page=2\u0026page_size=100"),
        "& is escaped as the Hub's Go encoder does"
    );
    let first = first.json();
    let next = first["next"].as_str().unwrap();
    assert_eq!(
        next,
        format!("{}{TAGS}?page=2&page_size=100", running.url())
    );
    assert!(first["previous"].is_null());
    let second = get(
        running.addr(),
        next.strip_prefix(&running.url()).unwrap(),
        None,
    )
    .await
    .json();
    assert!(second["next"].is_null());
    assert_eq!(
        second["previous"],
        format!("{}{TAGS}?page=1&page_size=100", running.url())
    );
    let mut all = names(&first);
    all.extend(names(&second));
    all.sort();
    assert_eq!(
        all,
        hub.tag_names("acme", "api"),
        "the two pages hold every tag once"
    );
}

#[tokio::test]
async fn a_page_past_the_last_page_is_404_but_page_1_of_nothing_is_200() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(150));
    hub.add_repo("acme", Repo::new("empty"));
    let running = hub.start().await.unwrap();
    let past = get(
        running.addr(),
        &format!("{TAGS}?page=3&page_size=100"),
        None,
    )
    .await;
    assert_eq!(past.status, 404);
    assert_eq!(past.json()["detail"], "Not found");
    let empty = get(
        running.addr(),
        "/v2/namespaces/acme/repositories/empty/tags?page=1",
        None,
    )
    .await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json()["results"], serde_json::json!([]));
}

#[tokio::test]
async fn an_unknown_namespace_lists_nothing_with_200_on_both_routes() {
    let running = SimHub::new().start().await.unwrap();
    for path in [
        "/v2/namespaces/nobody/repositories",
        "/v2/repositories/nobody/",
    ] {
        let answer = get(running.addr(), path, None).await;
        assert_eq!(answer.status, 200, "{path}");
        assert_eq!(answer.json()["count"], 0, "{path}");
    }
}

#[tokio::test]
async fn private_repositories_are_hidden_from_anonymous_callers_and_shown_with_a_token() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("public-api").with_tags(2));
    hub.add_repo("acme", Repo::new("secret-api").private().with_tags(3));
    hub.add_account("acme-bot", "pat", &["acme"]);
    hub.add_account("outsider", "pat2", &["other"]);
    let running = hub.start().await.unwrap();
    let secret_tags = "/v2/namespaces/acme/repositories/secret-api/tags";
    for path in ["/v2/namespaces/acme/repositories", "/v2/repositories/acme/"] {
        let anonymous = get(running.addr(), path, None).await.json();
        assert_eq!(names(&anonymous), ["public-api"], "{path}");
    }
    let missing = get(running.addr(), secret_tags, None).await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "object not found");
    let outsider = login(running.addr(), "outsider", "pat2").await;
    assert_eq!(
        get(running.addr(), secret_tags, Some(&outsider))
            .await
            .status,
        404
    );

    let bot = login(running.addr(), "acme-bot", "pat").await;
    let listed = get(
        running.addr(),
        "/v2/namespaces/acme/repositories",
        Some(&bot),
    )
    .await
    .json();
    assert_eq!(names(&listed), ["public-api", "secret-api"]);
    assert_eq!(listed["results"][1]["is_private"], true);
    let tags = get(
        running.addr(),
        "/v2/repositories/acme/secret-api/tags/",
        Some(&bot),
    )
    .await;
    assert_eq!(tags.json()["count"], 3);
    assert_eq!(hub.repository_names("acme"), ["public-api", "secret-api"]);
}

#[tokio::test]
async fn delete_tag_and_repush_tag_change_the_listing_and_the_digest() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(5));
    let running = hub.start().await.unwrap();
    let before = get(running.addr(), TAGS, None).await.json();
    let newest = names(&before)[0].clone();
    let oldest = names(&before)[4].clone();
    assert!(hub.delete_tag("acme", "api", &newest));
    assert!(!hub.delete_tag("acme", "api", &newest), "already gone");
    let old_digest = hub.tag_digest("acme", "api", &oldest).unwrap();
    let new_digest = hub.repush_tag("acme", "api", &oldest).unwrap();
    assert_ne!(old_digest, new_digest);
    let after = get(running.addr(), TAGS, None).await.json();
    assert_eq!(after["count"], 4);
    assert!(!names(&after).contains(&newest));
    assert_eq!(names(&after)[0], oldest, "a re-pushed tag is listed first");
    assert_eq!(after["results"][0]["digest"], new_digest.as_str());
    assert_eq!(hub.repush_tag("acme", "api", &newest), None);
}

#[tokio::test]
async fn a_pushed_tag_comes_first_and_is_shaped_like_the_hubs_tags() {
    let hub = SimHub::new();
    hub.add_repo("library", Repo::new("nginx").with_tags(3));
    hub.push_tag(
        "library",
        "nginx",
        TagSpec::new("1.27.3")
            .platform("linux", "amd64", None)
            .platform("linux", "arm64", Some("v8"))
            .attestation()
            .never_pulled()
            .size(70_000_000),
    );
    let running = hub.start().await.unwrap();
    let page = get(
        running.addr(),
        "/v2/namespaces/library/repositories/nginx/tags",
        None,
    )
    .await
    .json();
    let tag = &page["results"][0];
    assert_eq!(tag["name"], "1.27.3");
    assert_eq!(tag["full_size"], 70_000_000);
    assert_eq!(tag["media_type"], "application/vnd.oci.image.index.v1+json");
    assert!(tag["tag_last_pulled"].is_null());
    assert_eq!(tag["tag_status"], "active");
    let images = tag["images"].as_array().unwrap();
    assert_eq!(images.len(), 3);
    assert_eq!(images[1]["variant"], "v8");
    assert_eq!(
        (images[2]["os"].as_str(), images[2]["architecture"].as_str()),
        (Some("unknown"), Some("unknown"))
    );
    assert_eq!(tag["tag_last_pushed"], tag["last_updated"]);
    let repos = get(running.addr(), "/v2/namespaces/library/repositories", None)
        .await
        .json();
    assert_eq!(
        instant(&repos["results"][0]["last_updated"]),
        instant(&tag["last_updated"]),
        "a push moves the repository's last_updated to the tag's"
    );
}

/// The instant an RFC 3339 time of the Hub names.
fn instant(value: &serde_json::Value) -> time::OffsetDateTime {
    use time::format_description::well_known::Rfc3339;
    let text = value.as_str().expect("a time");
    time::OffsetDateTime::parse(text, &Rfc3339).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// The number of fractional digits of an RFC 3339 time in UTC (`…:27Z` has none).
fn fraction_digits(value: &serde_json::Value) -> usize {
    let text = value.as_str().expect("a time");
    text.split_once('.')
        .map_or(0, |(_, fraction)| fraction.trim_end_matches('Z').len())
}

#[tokio::test]
async fn tag_times_come_with_0_to_9_fractional_digits_naming_the_truths_instants() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(60));
    let running = hub.start().await.unwrap();
    let page = get(running.addr(), &format!("{TAGS}?page_size=100"), None)
        .await
        .json();
    let truth = hub.truth("acme").remove(0);
    let mut digits = std::collections::BTreeSet::new();
    for tag in page["results"].as_array().unwrap() {
        let known = truth
            .tags
            .iter()
            .find(|t| tag["name"] == t.name.as_str())
            .unwrap();
        let pushed = &tag["tag_last_pushed"];
        digits.insert(fraction_digits(pushed));
        assert_eq!(
            fraction_digits(&tag["last_updated"]),
            fraction_digits(pushed)
        );
        assert_eq!(
            instant(pushed),
            instant(&serde_json::Value::from(known.last_pushed.as_str())),
            "{pushed}"
        );
        for image in tag["images"].as_array().unwrap() {
            assert_eq!(
                fraction_digits(&image["last_pushed"]),
                fraction_digits(pushed)
            );
        }
    }
    assert_eq!(digits, (0..=9).collect(), "every length from 0 to 9 digits");
}

#[tokio::test]
async fn a_third_of_the_repositories_have_a_null_type_and_a_tag_without_digest_has_no_key() {
    let hub = SimHub::new();
    for i in 0..9 {
        hub.add_repo("acme", Repo::new(&format!("r{i}")));
    }
    hub.add_repo(
        "acme",
        Repo::new("api").with_tag(TagSpec::new("old").no_digest()),
    );
    let running = hub.start().await.unwrap();
    let repos = get(running.addr(), "/v2/namespaces/acme/repositories", None)
        .await
        .json();
    let types: Vec<&serde_json::Value> = repos["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["repository_type"])
        .collect();
    let nulls = types.iter().filter(|t| t.is_null()).count();
    assert!(
        (2..=5).contains(&nulls) && types.iter().all(|t| t.is_null() || **t == "image"),
        "{types:?}"
    );
    let tags = get(running.addr(), TAGS, None).await.json();
    let tag = tags["results"][0].as_object().unwrap();
    assert!(!tag.contains_key("digest"), "{tag:?}");
    assert_eq!(tag["tag_status"], "active");
}

#[tokio::test]
async fn anonymous_tag_listings_stop_at_offset_1000_with_the_hubs_403() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(1_050));
    hub.add_account("acme-bot", "pat", &["acme"]);
    let running = hub.start().await.unwrap();
    let tenth = get(
        running.addr(),
        &format!("{TAGS}?page=10&page_size=100"),
        None,
    )
    .await;
    assert_eq!(tenth.status, 200);
    assert!(tenth.json()["next"].as_str().unwrap().contains("page=11"));
    for asked in [
        "page=11&page_size=100",
        "page=101&page_size=10",
        "page=12&page_size=100",
    ] {
        let refused = get(running.addr(), &format!("{TAGS}?{asked}"), None).await;
        assert_eq!(refused.status, 403, "{asked}");
        assert_eq!(
            refused.text(),
            r#"{"message":"pagination offset too large for anonymous requests; sign in to page further","errinfo":{}}"#
        );
    }
    let token = login(running.addr(), "acme-bot", "pat").await;
    let signed_in = get(
        running.addr(),
        &format!("{TAGS}?page=11&page_size=100"),
        Some(&token),
    )
    .await;
    assert_eq!(signed_in.status, 200, "an account pages on");
    assert_eq!(signed_in.json()["results"].as_array().unwrap().len(), 50);
    hub.set_anonymous_offset_limit(None);
    let unlimited = get(
        running.addr(),
        &format!("{TAGS}?page=11&page_size=100"),
        None,
    )
    .await;
    assert_eq!(unlimited.status, 200, "switched off");
}

#[tokio::test]
async fn an_official_images_tag_pages_link_without_library_and_those_links_work() {
    let hub = SimHub::new();
    hub.add_repo("library", Repo::new("ubuntu").with_tags(25));
    let running = hub.start().await.unwrap();
    let mut names = Vec::new();
    let mut next = Some(format!(
        "{}/v2/namespaces/library/repositories/ubuntu/tags?page_size=10&ordering=last_updated",
        running.url()
    ));
    let mut links = Vec::new();
    while let Some(url) = next {
        let page = get(
            running.addr(),
            url.strip_prefix(&running.url()).unwrap(),
            None,
        )
        .await
        .json();
        names.extend(self::names(&page));
        next = page["next"].as_str().map(str::to_string);
        links.extend(next.clone());
    }
    assert_eq!(
        links[0],
        format!(
            "{}/v2/repositories/ubuntu/tags/?ordering=last_updated&page=2&page_size=10",
            running.url()
        ),
        "absolute, without library/, its parameters in name order"
    );
    names.sort();
    assert_eq!(names, hub.tag_names("library", "ubuntu"));
}

#[tokio::test]
async fn segments_may_be_percent_encoded_and_legacy_paths_without_slash_redirect_but_tags() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("auth-service").with_tags(1));
    let running = hub.start().await.unwrap();
    let answer = get(
        running.addr(),
        "/v2/namespaces/ac%6De/repositories/auth%2Dservice/tags",
        None,
    )
    .await;
    assert_eq!(answer.json()["count"], 1);
    let moved = get(
        running.addr(),
        "/v2/repositories/acme/auth-service?page_size=5",
        None,
    )
    .await;
    assert_eq!(moved.status, 301);
    assert_eq!(
        moved.header("location"),
        Some(
            format!(
                "{}/v2/repositories/acme/auth-service/?page_size=5",
                running.url()
            )
            .as_str()
        )
    );
    // The tags' bare form is served: the Hub's own links use it.
    let bare = get(
        running.addr(),
        "/v2/repositories/acme/auth-service/tags?page_size=5",
        None,
    )
    .await;
    assert_eq!((bare.status, bare.json()["count"].as_u64()), (200, Some(1)));
}

#[tokio::test]
async fn unknown_routes_get_404_and_wrong_methods_405() {
    let running = SimHub::new().start().await.unwrap();
    assert_eq!(get(running.addr(), "/v2/nothing", None).await.status, 404);
    let wrong = send(
        running.addr(),
        "DELETE /v2/namespaces/acme/repositories HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(wrong.status, 405);
    assert_eq!(
        get(running.addr(), "/v2/auth/token", None).await.status,
        405
    );
}

#[tokio::test]
async fn every_request_is_recorded_with_its_authorization_and_status() {
    let hub = SimHub::new();
    hub.add_account("bot", "pat", &["acme"]);
    let running = hub.start().await.unwrap();
    let bearer = login(running.addr(), "bot", "pat").await;
    get(
        running.addr(),
        "/v2/namespaces/acme/repositories?page_size=100",
        Some(&bearer),
    )
    .await;
    let requests = hub.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(
        (requests[0].method.as_str(), requests[0].path.as_str()),
        ("POST", "/v2/auth/token")
    );
    assert_eq!(requests[1].query, "page_size=100");
    assert_eq!(requests[1].authorization.as_deref(), Some(bearer.as_str()));
    assert!(requests[0].at <= requests[1].at);
    hub.clear_requests();
    assert!(hub.requests().is_empty());
}

#[tokio::test]
async fn the_demo_is_deterministic_and_lets_acme_bot_see_private_repositories() {
    let (a, b) = (SimHub::demo(3), SimHub::demo(3));
    let mut total = 0;
    for ns in ["library", "acme"] {
        assert_eq!(a.repository_names(ns), b.repository_names(ns));
        for repo in a.repository_names(ns) {
            assert_eq!(a.tag_names(ns, &repo), b.tag_names(ns, &repo));
            total += a.tag_names(ns, &repo).len();
        }
    }
    assert!((200..700).contains(&total), "{total} tags");
    assert!(
        a.tag_names("library", "nginx")
            .contains(&"1.27-alpine".to_string())
    );
    assert_eq!(a.tag_names("acme", "worker").len(), 130);
    assert!(a.tag_names("acme", "legacy-batch").is_empty());
    let first = a.tag_names("acme", "api")[0].clone();
    assert_eq!(
        a.tag_digest("acme", "api", &first),
        b.tag_digest("acme", "api", &first)
    );

    let running = a.start().await.unwrap();
    let anonymous = get(
        running.addr(),
        "/v2/namespaces/acme/repositories?page_size=100",
        None,
    )
    .await
    .json();
    let bot = login(running.addr(), "acme-bot", "dckr_pat_demo_acme").await;
    let authenticated = get(
        running.addr(),
        "/v2/namespaces/acme/repositories?page_size=100",
        Some(&bot),
    )
    .await
    .json();
    assert!(anonymous["count"].as_u64() < authenticated["count"].as_u64());
    assert_eq!(authenticated["count"], a.repository_names("acme").len());
}

#[tokio::test]
async fn dropping_the_running_hub_stops_serving() {
    let running = SimHub::new().start().await.unwrap();
    let addr = running.addr();
    drop(running);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
