//! The real Hub's answers, as others captured them (`tests/fixtures/hub/`, provenance in its
//! README): every tag page, repository page and repository body decodes to the values the
//! capture holds, read from the capture's JSON on its own, and no error body passes for a
//! page or a repository.

use serde_json::Value;

use super::{Page, WireRepository, WireTag, decode_repository, said, unix_time};
use crate::inventory::{Tag, TagStatus};

/// A captured file by name.
macro_rules! capture {
    ($name:literal) => {
        (
            $name,
            include_str!(concat!("../../../tests/fixtures/hub/", $name)),
        )
    };
}

const TAG_PAGES: [(&str, &str); 3] = [
    capture!("tags_library_ubuntu_page_size_1.json"),
    capture!("tags_portainer_agent_page_size_1_ordering_last_updated.json"),
    capture!("tags_xmrig2021_r2021_inactive_no_top_digest.json"),
];

const REPOSITORY_PAGES: [(&str, &str); 3] = [
    capture!("repos_aciliadevops_page_size_1.json"),
    capture!("repos_aciliadevops_default_page1.json"),
    capture!("docs_example_namespaces_docker_repositories_page_size_2.json"),
];

/// Error bodies of the Hub API, JSON all of them.
const ERROR_BODIES: [(&str, &str); 9] = [
    capture!("hub_403_pagination_offset_anonymous.json"),
    capture!("hub_403_pat_forbidden_compact.json"),
    capture!("hub_403_pat_token_issued_pretty.json"),
    capture!("hub_403_pat_jwt_forbidden_pretty.json"),
    capture!("hub_403_accounts_api_errinfo_populated.json"),
    capture!("hub_error_object_not_found_txnid_ListRepositoryTags.json"),
    capture!("users_login_401_incorrect_credentials.json"),
    capture!("docs_example_auditlogs_429.json"),
    capture!("docs_example_namespaces_repositories_400_invalid_ordering.json"),
];

fn json(text: &str) -> Value {
    serde_json::from_str(text).expect("every capture is JSON")
}

/// A text field of the capture, `None` when absent or null.
fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// The captured page `name`, decoded, with its items as captured: its envelope checked
/// against the capture (`count`, `next`, as many results).
fn decoded<T: serde::de::DeserializeOwned>(name: &str, body: &str) -> (Page<T>, Vec<Value>) {
    let captured = json(body);
    let page: Page<T> = Page::decode(body.as_bytes()).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(Some(page.count), captured["count"].as_u64(), "{name}");
    assert_eq!(page.next.as_deref(), text(&captured, "next"), "{name}");
    let results = captured["results"].as_array().unwrap().clone();
    assert_eq!(page.results.len(), results.len(), "{name}");
    (page, results)
}

#[test]
fn every_captured_tag_page_decodes_to_what_it_holds() {
    for (name, body) in TAG_PAGES {
        let (page, results) = decoded::<WireTag>(name, body);
        for (tag, wire) in page
            .results
            .into_iter()
            .map(WireTag::into_tag)
            .zip(&results)
        {
            assert_eq!(tag.name, wire["name"], "{name}");
            assert_eq!(tag.digest, text(wire, "digest").unwrap_or(""), "{name}");
            assert_eq!(tag.full_size, wire["full_size"].as_u64(), "{name}");
            assert_eq!(
                tag.last_pushed,
                unix_time(text(wire, "tag_last_pushed")),
                "{name}"
            );
            assert_eq!(
                tag.last_pulled,
                unix_time(text(wire, "tag_last_pulled")),
                "{name}"
            );
            assert!(
                tag.last_pushed.is_some() && tag.last_pulled.is_some(),
                "{name}"
            );
            let status = tag.status.map(|s| match s {
                TagStatus::Active => "active",
                TagStatus::Inactive => "inactive",
            });
            assert_eq!(status, text(wire, "tag_status"), "{name}");
            let platforms: Vec<&Value> = wire["images"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|i| !(i["os"] == "unknown" && i["architecture"] == "unknown"))
                .collect();
            assert_eq!(
                tag.images.len(),
                platforms.len(),
                "{name}: attestations left out"
            );
            for (image, wire) in tag.images.iter().zip(platforms) {
                assert_eq!(*image.os, *wire["os"].as_str().unwrap(), "{name}");
                assert_eq!(*image.architecture, *wire["architecture"].as_str().unwrap());
                assert_eq!(*image.variant, *text(wire, "variant").unwrap_or(""));
                assert_eq!(image.digest, wire["digest"].as_str().unwrap());
                assert_eq!(image.size, wire["size"].as_u64());
            }
        }
    }
}

#[test]
fn the_captures_hold_the_shapes_the_tests_rely_on() {
    let tag = |i: usize| -> Tag {
        let page: Page<WireTag> = Page::decode(TAG_PAGES[i].1.as_bytes()).unwrap();
        page.results.into_iter().next().unwrap().into_tag()
    };
    // Six platforms of an official image; its full size is one platform's, not their sum.
    let ubuntu = tag(0);
    assert_eq!(ubuntu.images.len(), 6);
    let sum: u64 = ubuntu.images.iter().filter_map(|i| i.size).sum();
    assert_eq!((ubuntu.full_size, sum), (Some(34_157_024), 211_258_503));
    // Four platforms beside four attestations, and times to the nanosecond.
    let portainer = tag(1);
    assert_eq!(portainer.images.len(), 4);
    let pulled = portainer.last_pulled.unwrap();
    assert_eq!((pulled * 1e6).round(), 1_786_102_306_163_536.0, "{pulled}");
    // A single platform without a top-level digest, neither pushed nor pulled for a month.
    let xmrig = tag(2);
    assert_eq!(xmrig.digest, "");
    assert_eq!(xmrig.status, Some(TagStatus::Inactive));
    assert_eq!(ubuntu.status, Some(TagStatus::Active));
}

#[test]
fn every_captured_repository_page_decodes_to_what_it_holds() {
    for (name, body) in REPOSITORY_PAGES {
        let (page, results) = decoded::<WireRepository>(name, body);
        for (repo, wire) in page.results.iter().zip(&results) {
            let info = repo.info();
            assert_eq!(repo.name, wire["name"], "{name}");
            assert_eq!(
                info.repository_type,
                text(wire, "repository_type").unwrap_or("")
            );
            assert_eq!(info.private, wire["is_private"].as_bool().unwrap());
            assert_eq!(info.pull_count, wire["pull_count"].as_u64().unwrap());
            assert_eq!(info.star_count, wire["star_count"].as_u64().unwrap());
            assert_eq!(info.storage_size, wire["storage_size"].as_u64());
            assert_eq!(info.last_updated, unix_time(text(wire, "last_updated")));
            assert!(info.last_updated.is_some(), "{name}");
        }
    }
    let docker: Page<WireRepository> = Page::decode(REPOSITORY_PAGES[2].1.as_bytes()).unwrap();
    assert_eq!(
        docker.results[1].info().repository_type,
        "",
        "whalesay's null type"
    );
}

#[test]
fn the_captured_repository_body_decodes_with_its_nulls() {
    let body =
        include_str!("../../../tests/fixtures/hub/docs_example_namespaces_repository_detail.json");
    let repo = decode_repository(body.as_bytes()).unwrap();
    let info = repo.info();
    assert_eq!(repo.name, "my-app");
    assert_eq!(info.storage_size, None);
    assert_eq!(info.repository_type, "image");
    assert_eq!(info.last_updated, Some(1_737_369_000.0));
}

#[test]
fn no_captured_error_body_passes_for_a_page_or_a_repository() {
    for (name, body) in ERROR_BODIES {
        assert!(Page::<WireTag>::decode(body.as_bytes()).is_err(), "{name}");
        assert!(
            Page::<WireRepository>::decode(body.as_bytes()).is_err(),
            "{name}"
        );
        assert!(decode_repository(body.as_bytes()).is_err(), "{name}");
    }
}

#[test]
fn every_captured_error_body_says_what_the_hub_said() {
    let expected = [
        "pagination offset too large for anonymous requests; sign in to page further",
        "access to the resource is forbidden with personal access token",
        "token issued from personal access token",
        "access is forbidden with a JWT issued from a personal access token",
        // `errinfo.detail` is empty there, so only the message counts.
        "GET https://accounts-api.s.us-east-1.aws.dckr.io/v2/user/ returned 403 :",
        "object not found",
        "Incorrect authentication credentials",
        "Rate limit exceeded",
        "Invalid ordering value",
    ];
    for ((name, body), expected) in ERROR_BODIES.into_iter().zip(expected) {
        assert_eq!(said(body.as_bytes()).as_deref(), Some(expected), "{name}");
    }
    // The anti-abuse 429 says it in plain text, after the status line and the headers.
    let raw = include_str!("../../../tests/fixtures/hub/hub_429_HAP429_raw_response.txt");
    let (_, body) = raw
        .split_once("\n\n")
        .expect("headers, a blank line, the body");
    assert_eq!(
        said(body.as_bytes()).as_deref(),
        Some("Too Many Requests (HAP429).")
    );
}

#[test]
fn an_html_page_or_a_body_without_words_says_nothing() {
    for body in [
        &b"<!DOCTYPE html><html><body>Bad gateway</body></html>"[..],
        b"",
        b"  \n ",
        br#"{"errinfo":{}}"#,
        br#"{"message":"","detail":null}"#,
        br#"[1,2]"#,
    ] {
        assert_eq!(said(body), None, "{}", String::from_utf8_lossy(body));
    }
    assert_eq!(
        said(br#"{"message":"m","detail":"d","errinfo":{"detail":"d"}}"#).as_deref(),
        Some("m; d"),
        "each text once"
    );
}
