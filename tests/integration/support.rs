//! Helpers shared by the integration tests: an exporter running in this process against a
//! simulated Hub, the exporter binary as a child process, and reading the exposition.

use std::future::Future;
use std::time::Duration;

use clap::Parser;
use dockerhub_exporter::config::{Args, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The longest any test waits for a condition before failing.
pub const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// An exporter served from this process.
pub struct Exporter {
    /// Base URL of its HTTP server.
    pub url: String,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<dockerhub_exporter::Result<()>>>,
}

impl Exporter {
    /// Starts an exporter with these command-line arguments (besides the listen address)
    /// and `password` standing for DOCKERHUB_PASSWORD.
    pub async fn start(args: &[impl AsRef<str>], password: Option<&str>) -> Exporter {
        let mut argv = vec!["dockerhub_exporter", "--web.listen-address", "127.0.0.1:0"];
        argv.extend(args.iter().map(AsRef::as_ref));
        let config = Config::from_args(
            Args::try_parse_from(&argv).expect("test arguments parse"),
            password.map(str::to_string),
        )
        .expect("test configuration is valid");
        let exporter = dockerhub_exporter::Exporter::new(config)
            .expect("test configuration names usable files");
        let listener = exporter.bind().await.expect("a free port");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(exporter.run(listener, async move {
            let _ = stopped.await;
        }));
        Exporter {
            url,
            stop: Some(stop),
            task: Some(task),
        }
    }

    /// Stops the exporter and waits for it.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(WAIT_LIMIT, task)
                .await
                .expect("the exporter stops")
                .expect("the exporter task does not panic")
                .expect("the exporter stops cleanly");
        }
    }

    /// The exposition as served now.
    pub async fn metrics(&self) -> String {
        get(&format!("{}/metrics", self.url)).await.1
    }

    /// Waits until `dockerhub_refreshes_total` (all results) reaches `n`; returns the exposition.
    pub async fn wait_for_refreshes(&self, n: u64) -> String {
        self.wait_for(|m| refreshes(m) >= n as f64).await
    }

    /// Polls the exposition until `done` holds.
    pub async fn wait_for(&self, done: impl Fn(&str) -> bool) -> String {
        eventually(|| async {
            let m = self.metrics().await;
            done(&m).then_some(m)
        })
        .await
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// Arguments that point the exporter at the Hub at `url` for `namespace`, then `extra`.
pub fn hub_args(url: &str, namespace: &str, extra: &[&str]) -> Vec<String> {
    ["--hub.url", url, "--hub.namespace", namespace]
        .iter()
        .chain(extra)
        .map(|a| a.to_string())
        .collect()
}

/// Retries `check` every 20 ms until it gives a value, failing the test after [`WAIT_LIMIT`].
pub async fn eventually<T, F, Fut>(check: F) -> T
where
    F: Fn() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not reached within {WAIT_LIMIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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
        .filter(|(l, _)| {
            labels
                .iter()
                .all(|(k, v)| l.iter().any(|(lk, lv)| lk == k && lv == v))
        })
        .map(|(_, v)| v)
        .collect();
    assert!(
        found.len() <= 1,
        "{name} {labels:?} matches {} series",
        found.len()
    );
    found.first().copied()
}

/// Every series of the family `name`: its labels and value.
pub fn series(metrics: &str, name: &str) -> Vec<(Vec<(String, String)>, f64)> {
    metrics
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let rest = line.strip_prefix(name)?;
            let (labels, value) = if let Some(r) = rest.strip_prefix('{') {
                let end = r.rfind('}')?;
                (parse_labels(&r[..end]), r[end + 1..].trim())
            } else if rest.starts_with(' ') {
                (Vec::new(), rest.trim())
            } else {
                return None;
            };
            Some((labels, value.parse().ok()?))
        })
        .collect()
}

fn parse_labels(s: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    loop {
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some(o) => value.push(o),
                    None => break,
                },
                '"' => break,
                c => value.push(c),
            }
        }
        out.push((key.trim_start_matches(',').to_string(), value));
        if chars.peek() == Some(&',') {
            chars.next();
        }
    }
}

/// The label `key` of a series' labels.
pub fn label<'a>(labels: &'a [(String, String)], key: &str) -> &'a str {
    labels
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("no label {key} in {labels:?}"))
}

/// Tag names of a repository as served in `dockerhub_tag_info`, sorted.
pub fn served_tags(metrics: &str, namespace: &str, repository: &str) -> Vec<String> {
    let mut tags: Vec<String> = series(metrics, "dockerhub_tag_info")
        .iter()
        .filter(|(l, _)| {
            label(l, "hub_namespace") == namespace && label(l, "repository") == repository
        })
        .map(|(l, _)| label(l, "tag").to_string())
        .collect();
    tags.sort();
    tags
}
