//! Reading what the exporter serves: GET a URL (and POST to one), and values and series of the exposition,
//! read with the simulated Hub's strict parser of the format.

use simhub::exposition::{self, Sample};

/// GET a URL; returns the status and body.
pub async fn get(url: &str) -> (u16, String) {
    let response = reqwest::get(url).await.expect("the exporter answers");
    let status = response.status().as_u16();
    (status, response.text().await.expect("a text body"))
}

/// Sum of `dockerhub_refreshes_total` over its results.
pub fn refreshes(metrics: &str) -> f64 {
    ["success", "partial", "failure"]
        .iter()
        .map(|r| value(metrics, "dockerhub_refreshes_total", &[("result", r)]).unwrap_or(0.0))
        .sum()
}

/// The value of the series `name` whose labels include all of `labels`; panics when several
/// series match.
pub fn value(metrics: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    let found: Vec<f64> = series(metrics, name)
        .into_iter()
        .filter(|s| s.has_labels(labels))
        .map(|s| s.value)
        .collect();
    assert!(
        found.len() <= 1,
        "{name} {labels:?} matches {} series",
        found.len()
    );
    found.first().copied()
}

/// Every sample of the family `name`, read strictly: a line of the family that the
/// exposition format does not allow fails the test.
pub fn series(metrics: &str, name: &str) -> Vec<Sample> {
    metrics
        .lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .map(|l| exposition::parse_sample(l).unwrap_or_else(|e| panic!("{e}: {l:?}")))
        .collect()
}

/// Every family of the exposition, read strictly; anything the format does not allow
/// fails the test.
pub fn families(metrics: &str) -> Vec<exposition::Family> {
    exposition::parse(metrics).unwrap_or_else(|e| panic!("not a valid exposition: {e}"))
}

/// Tag names of a repository as served in `dockerhub_tag_info`, sorted.
pub fn served_tags(metrics: &str, namespace: &str, repository: &str) -> Vec<String> {
    let mut tags: Vec<String> = series(metrics, "dockerhub_tag_info")
        .into_iter()
        .filter(|s| s.has_labels(&[("hub_namespace", namespace), ("repository", repository)]))
        .filter_map(|s| s.label("tag").map(str::to_string))
        .collect();
    tags.sort();
    tags
}

/// POSTs `body` to `url`; the status.
pub async fn post(url: &str, body: impl Into<reqwest::Body>) -> u16 {
    reqwest::Client::new()
        .post(url)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("the exporter answers")
        .status()
        .as_u16()
}
