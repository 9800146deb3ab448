//! Real answers of the Hub, as others captured them (`tests/fixtures/hub/`, provenance in its
//! README), replayed through the simulated Hub to the exporter binary: the inventory it
//! prints and serves equals what the captured pages hold. The two pages whose `next` leads
//! on are followed, as the binary follows them, to the Hub's captured 403 for anonymous
//! readers, so that they show as listings the Hub cut short, with the captured count.

use serde_json::{Value, json};
use simhub::{Repo, SimHub};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::support::*;

const UBUNTU: &str = include_str!("../fixtures/hub/tags_library_ubuntu_page_size_1.json");
const PORTAINER: &str =
    include_str!("../fixtures/hub/tags_portainer_agent_page_size_1_ordering_last_updated.json");
const XMRIG: &str =
    include_str!("../fixtures/hub/tags_xmrig2021_r2021_inactive_no_top_digest.json");
const OFFSET_403: &str = include_str!("../fixtures/hub/hub_403_pagination_offset_anonymous.json");

/// The repositories whose tag pages are replayed: namespace, name, captured first page, and
/// what the Hub's `next` of it leads to (a path and query the binary asks for, if any).
const REPLAYED: [(&str, &str, &str, Option<&str>); 3] = [
    (
        "library",
        "ubuntu",
        UBUNTU,
        Some("/v2/repositories/ubuntu/tags/?page=2"),
    ),
    (
        "portainer",
        "agent",
        PORTAINER,
        Some("/v2/repositories/portainer/agent/tags?ordering=last_updated&page=2"),
    ),
    ("xmrig2021", "r2021", XMRIG, None),
];

/// A simulated Hub holding the three repositories, whose tag pages are the captures.
fn hub() -> SimHub {
    let hub = SimHub::new();
    for (namespace, name, first, next) in REPLAYED {
        hub.add_repo(namespace, Repo::new(name));
        if let Some(next) = next {
            hub.replay(next, 403, OFFSET_403);
        }
        let path = format!("/v2/namespaces/{namespace}/repositories/{name}/tags");
        hub.replay(&path, 200, first);
    }
    hub
}

/// `--hub.repository` for each replayed repository, after `url`.
fn args(url: &str, extra: &[&str]) -> Vec<String> {
    let mut flags: Vec<String> = Vec::new();
    for (namespace, name, _, _) in REPLAYED {
        flags.extend([
            "--hub.repository".to_string(),
            format!("{namespace}/{name}"),
        ]);
    }
    flags.extend(extra.iter().map(|a| a.to_string()));
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    hub_only(url, &flags)
}

/// A captured time as the inventory prints times: RFC 3339 in UTC to the microsecond.
fn micros(captured: &Value) -> Value {
    let Some(text) = captured.as_str() else {
        return Value::Null;
    };
    let t = OffsetDateTime::parse(text, &Rfc3339).unwrap();
    let rounded = (t.unix_timestamp_nanos() + 500) / 1_000 * 1_000;
    let t = OffsetDateTime::from_unix_timestamp_nanos(rounded).unwrap();
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    Value::from(t.format(&format).unwrap())
}

/// The tags of a captured page as the inventory command prints them: every field from the
/// capture, attestation manifests left out of the images.
fn printed_tags(captured: &Value) -> Vec<Value> {
    let mut tags: Vec<Value> = captured["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            json!({
                "name": t["name"],
                "digest": t.get("digest").cloned().unwrap_or(Value::Null),
                "size": t["full_size"],
                "last_pushed": micros(&t["tag_last_pushed"]),
                "last_pulled": micros(&t["tag_last_pulled"]),
                "images": t["images"].as_array().unwrap().iter()
                    .filter(|i| !(i["os"] == "unknown" && i["architecture"] == "unknown"))
                    .map(|i| json!({
                        "os": i["os"],
                        "architecture": i["architecture"],
                        "variant": i["variant"],
                        "digest": i["digest"],
                        "size": i["size"],
                    }))
                    .collect::<Vec<_>>(),
            })
        })
        .collect();
    tags.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    tags
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inventory_read_from_replayed_captures_equals_what_they_hold() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let ran = inventory(&args(&running.url(), &["--format", "json"]), &[]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let printed: Value = serde_json::from_str(&ran.stdout).expect("one JSON document");
    for (namespace, name, first, next) in REPLAYED {
        let captured: Value = serde_json::from_str(first).unwrap();
        let ns = printed["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == namespace)
            .unwrap_or_else(|| panic!("{namespace} printed"));
        let repository = &ns["repositories"][0];
        assert_eq!(repository["name"], name);
        assert_eq!(repository["tags"], json!(printed_tags(&captured)), "{name}");
        let listed = captured["results"].as_array().unwrap().len();
        assert_eq!(
            repository["tag_count"], captured["count"],
            "{name}: the Hub's count"
        );
        assert_eq!(repository["tags_listed"], json!(listed), "{name}");
        assert_eq!(next.is_some(), captured["count"] != json!(listed), "{name}");
    }
    // The official image's page was followed to its `next` without `library/`.
    assert!(
        hub.requests()
            .iter()
            .any(|r| r.path == "/v2/repositories/ubuntu/tags/" && r.status == 403)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_exporter_serves_the_replayed_captures_values() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let process = Process::start(&args(&running.url(), &[]), &[]).await;
    let m = process.metrics_after_refreshes(1.0).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    let of = |name: &str, namespace: &str, repository: &str| {
        value(
            &m,
            name,
            &[("hub_namespace", namespace), ("repository", repository)],
        )
    };
    for (namespace, name, first, _) in REPLAYED {
        let captured: Value = serde_json::from_str(first).unwrap();
        let results = captured["results"].as_array().unwrap();
        assert_eq!(
            of("dockerhub_repository_tags", namespace, name),
            captured["count"].as_f64()
        );
        assert_eq!(
            of("dockerhub_repository_tags_listed", namespace, name),
            Some(results.len() as f64)
        );
        let inactive = results
            .iter()
            .filter(|t| t["tag_status"] == "inactive")
            .count();
        assert_eq!(
            of("dockerhub_repository_tags_inactive", namespace, name),
            Some(inactive as f64),
            "{name}"
        );
        for tag in results {
            let labels = [
                ("hub_namespace", namespace),
                ("repository", name),
                ("tag", tag["name"].as_str().unwrap()),
            ];
            assert_eq!(
                value(&m, "dockerhub_tag_size_bytes", &labels),
                tag["full_size"].as_f64(),
                "{name}: the Hub's full_size"
            );
            let digest = tag.get("digest").and_then(Value::as_str).unwrap_or("");
            let info = series(&m, "dockerhub_tag_info")
                .into_iter()
                .find(|s| s.has_labels(&labels))
                .unwrap_or_else(|| panic!("{name}: {labels:?}"));
            assert_eq!(info.label("digest"), Some(digest));
        }
    }
    assert!(process.terminate().await.success());
}
