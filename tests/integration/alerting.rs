//! The shipped alert rules, evaluated by a real Prometheus server scraping the exporter,
//! which reads the simulated Hub while tags are deleted, pushed and pushed again.
//!
//! Skipped with a message where `prometheus` or `promtool` is missing, unless CI's
//! `DOCKERHUB_EXPORTER_REQUIRE_PROMETHEUS` says they are required.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use simhub::TagSpec;
use tokio::process::{Child, Command};

use crate::changes::acme;
use crate::process::{Process, tool};
use crate::support::eventually;

/// The rules and configuration shipped in `examples/`.
fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// A loopback port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A Prometheus server with its own temporary storage, scraping one target every second
/// and evaluating the shipped rules every second.
pub struct Prometheus {
    child: Child,
    pub url: String,
    dir: PathBuf,
}

impl Prometheus {
    pub async fn start(binary: &Path, target: &str, name: &str) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "dockerhub-exporter-prometheus-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rules}\n\
             scrape_configs:\n  - job_name: dockerhub\n    scrape_timeout: 1s\n    \
             static_configs:\n      - targets: ['{target}']\n",
            rules = examples().join("alerts.yml").display(),
        );
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        let address = format!("127.0.0.1:{}", free_port());
        let child = Command::new(binary)
            .arg(format!(
                "--config.file={}",
                dir.join("prometheus.yml").display()
            ))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={address}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("prometheus starts");
        let prometheus = Prometheus {
            child,
            url: format!("http://{address}"),
            dir,
        };
        eventually(|| async {
            let r = reqwest::get(format!("{}/-/ready", prometheus.url))
                .await
                .ok()?;
            r.status().is_success().then_some(())
        })
        .await;
        prometheus
    }

    pub async fn api(&self, path: &str, query: &[(&str, &str)]) -> Option<Value> {
        let url = reqwest::Url::parse_with_params(&format!("{}{path}", self.url), query).ok()?;
        let r = reqwest::get(url).await.ok()?;
        let body: Value = serde_json::from_slice(&r.bytes().await.ok()?).ok()?;
        (body["status"] == "success").then(|| body["data"].clone())
    }

    /// The value of an instant query that yields one series, if it yields any.
    pub async fn scalar(&self, query: &str) -> Option<f64> {
        let data = self.api("/api/v1/query", &[("query", query)]).await?;
        data["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// The alerts now firing.
    pub async fn firing(&self) -> Vec<Value> {
        let Some(data) = self.api("/api/v1/alerts", &[]).await else {
            return Vec::new();
        };
        data["alerts"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .into_iter()
            .filter(|a| a["state"] == "firing")
            .collect()
    }

    /// Waits until every alert in `names` fires for `repository` of acme.
    pub async fn wait_for_alerts(&self, names: &[&str], repository: &str) -> Vec<Value> {
        eventually(|| async {
            let firing = self.firing().await;
            let all = names.iter().all(|name| {
                firing.iter().any(|a| {
                    a["labels"]["alertname"] == *name
                        && a["labels"]["hub_namespace"] == "acme"
                        && a["labels"]["repository"] == repository
                })
            });
            all.then_some(firing)
        })
        .await
    }

    /// Waits until Prometheus holds at least `n` samples of `series` over the last minute.
    pub async fn wait_for_samples(&self, series: &str, n: f64) {
        let query = format!("count_over_time({series}[1m])");
        eventually(|| async { (self.scalar(&query).await? >= n).then_some(()) }).await;
    }

    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn exporter_args<'a>(hub_url: &'a str, listen: &'a str) -> Vec<&'a str> {
    vec![
        "--hub.url",
        hub_url,
        "--hub.namespace",
        "acme",
        "--refresh.interval",
        "1s",
        "--hub.rate-limit",
        "100000",
        "--web.listen-address",
        listen,
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_fires_the_change_alerts_for_the_changed_repository_only() {
    let Some(binary) = tool("prometheus") else {
        return;
    };
    let hub = acme();
    let running = hub.start().await.unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let exporter = Process::start(&exporter_args(&running.url(), &listen), &[]).await;
    let prometheus = Prometheus::start(&binary, &listen, "changes").await;
    // A baseline: the change counters scraped at 0 before anything changes.
    prometheus
        .wait_for_samples(r#"dockerhub_tags_removed_total{repository="api"}"#, 2.0)
        .await;
    assert!(
        prometheus.firing().await.is_empty(),
        "nothing fires before a change"
    );

    assert!(hub.delete_tag("acme", "api", "nightly"));
    hub.push_tag("acme", "api", TagSpec::new("1.5.0"));
    hub.repush_tag("acme", "api", "1.4.2").unwrap();

    let firing = prometheus
        .wait_for_alerts(
            &[
                "DockerHubTagRemoved",
                "DockerHubTagAdded",
                "DockerHubTagDigestChanged",
            ],
            "api",
        )
        .await;
    let moved: Vec<_> = firing
        .iter()
        .filter(|a| a["labels"]["alertname"] == "DockerHubTagDigestChanged")
        .map(|a| a["labels"]["tag"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(moved, ["1.4.2"], "only the version tag that moved");
    let untouched: Vec<_> = firing
        .iter()
        .filter(|a| a["labels"]["repository"] != "api")
        .collect();
    assert!(
        untouched.is_empty(),
        "alerts for untouched repositories: {untouched:?}"
    );
    prometheus.stop().await;
    assert!(exporter.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_deleted_while_the_exporter_was_down_fires_after_a_restart_with_state() {
    let Some(binary) = tool("prometheus") else {
        return;
    };
    let hub = acme();
    let running = hub.start().await.unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let state_dir = std::env::temp_dir().join(format!(
        "dockerhub-exporter-alerting-state-{}",
        std::process::id()
    ));
    let _ = std::fs::remove_dir_all(&state_dir);
    std::fs::create_dir_all(&state_dir).unwrap();
    let state = state_dir.join("state.json");
    let hub_url = running.url();
    let mut args = exporter_args(&hub_url, &listen);
    args.extend(["--state.file", state.to_str().unwrap()]);

    let exporter = Process::start(&args, &[]).await;
    let prometheus = Prometheus::start(&binary, &listen, "restart").await;
    prometheus
        .wait_for_samples(r#"dockerhub_tags_removed_total{repository="api"}"#, 2.0)
        .await;
    assert!(exporter.terminate().await.success());

    assert!(hub.delete_tag("acme", "api", "nightly"));
    let exporter = Process::start(&args, &[]).await;
    let firing = prometheus
        .wait_for_alerts(&["DockerHubTagRemoved"], "api")
        .await;
    assert!(
        firing
            .iter()
            .all(|a| a["labels"]["alertname"] == "DockerHubTagRemoved"),
        "only the removal fires: {firing:?}"
    );
    assert_eq!(
        prometheus
            .scalar(r#"dockerhub_tags_removed_total{repository="api"}"#)
            .await,
        Some(1.0)
    );
    prometheus.stop().await;
    assert!(exporter.terminate().await.success());
    std::fs::remove_dir_all(state_dir).unwrap();
}

#[test]
fn promtool_accepts_the_shipped_rules_and_their_unit_tests_pass() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    for args in [
        vec!["check", "rules", "alerts.yml"],
        vec!["test", "rules", "alerts.test.yml"],
        vec!["check", "config", "prometheus.yml"],
    ] {
        let out = std::process::Command::new(&promtool)
            .args(&args)
            .current_dir(examples())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
