//! The bodies of `/metrics` as sent: restored from a state file that once made every scrape
//! break (a deflated part of the inventory cut short), each format, gzip or not, decodes, is
//! as long as its `Content-Length`, and holds the same inventory samples.

use std::collections::BTreeSet;
use std::io::Read as _;

use crate::support::*;

/// The families the inventory renders (not the exporter's own series, which move between
/// scrapes).
const INVENTORY_PREFIXES: [&str; 4] = [
    "dockerhub_repositor",
    "dockerhub_tag",
    "dockerhub_image_",
    "dockerhub_tags_",
];

/// Fetches `/metrics` as Prometheus would, without letting the client decompress: the body
/// as sent, whether it came gzipped, and its `Content-Length`.
async fn fetch(url: &str, gzip: bool, openmetrics: bool) -> (Vec<u8>, bool, Option<u64>) {
    let client = reqwest::Client::builder().no_gzip().build().unwrap();
    let mut request = client.get(format!("{url}/metrics"));
    if gzip {
        request = request.header("Accept-Encoding", "gzip");
    }
    if openmetrics {
        request = request.header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        );
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200);
    let gzipped = response
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let length = response.content_length();
    let body = response.bytes().await.unwrap_or_else(|e| {
        panic!("the whole body arrives (gzip {gzip}, OpenMetrics {openmetrics}): {e}")
    });
    (body.to_vec(), gzipped, length)
}

/// The inventory's sample lines of an exposition.
fn inventory_samples(text: &str) -> BTreeSet<&str> {
    text.lines()
        .filter(|l| !l.starts_with('#') && INVENTORY_PREFIXES.iter().any(|p| l.starts_with(p)))
        .collect()
}

#[tokio::test]
async fn a_state_file_that_once_broke_every_scrape_serves_whole_bodies_in_every_format() {
    let dir = temp_dir("evidence-corrupt-body");
    let state = dir.join("state.json");
    std::fs::copy(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/evidence/soak-state-corrupt-body.json"
        ),
        &state,
    )
    .unwrap();
    // No Hub: everything served comes from the state file.
    let exporter = Process::start(
        &[
            "--hub.url",
            "http://127.0.0.1:9/",
            "--hub.namespace",
            "bench",
            "--state.file",
            state.to_str().unwrap(),
        ],
        &[],
    )
    .await;
    let mut seen: Option<BTreeSet<String>> = None;
    for openmetrics in [false, true] {
        for gzip in [false, true] {
            let (body, gzipped, length) = fetch(&exporter.url, gzip, openmetrics).await;
            assert_eq!(gzipped, gzip);
            assert_eq!(length, Some(body.len() as u64), "as long as it says");
            let text = if gzipped {
                let mut text = Vec::new();
                // One member, read as the strictest clients read it.
                flate2::read::GzDecoder::new(&body[..])
                    .read_to_end(&mut text)
                    .unwrap_or_else(|e| {
                        panic!("the gzip body decodes (OpenMetrics {openmetrics}): {e}")
                    });
                text
            } else {
                body
            };
            let text = String::from_utf8(text).unwrap();
            if openmetrics {
                assert!(text.ends_with("# EOF\n"));
            } else {
                families(&text);
            }
            let samples: BTreeSet<String> = inventory_samples(&text)
                .into_iter()
                .map(str::to_string)
                .collect();
            assert!(
                samples
                    .iter()
                    .any(|l| l.starts_with("dockerhub_image_size_bytes{")),
                "the family that broke is there"
            );
            match &seen {
                None => seen = Some(samples),
                Some(first) => assert!(
                    first == &samples,
                    "the same samples (gzip {gzip}, OpenMetrics {openmetrics})"
                ),
            }
        }
    }
    assert_eq!(
        value(
            &String::from_utf8(fetch(&exporter.url, false, false).await.0).unwrap(),
            "dockerhub_exporter_errors_total",
            &[("kind", "exposition")]
        ),
        Some(0.0),
        "the compressed form passed its check"
    );
    let _ = exporter.terminate().await;
}
