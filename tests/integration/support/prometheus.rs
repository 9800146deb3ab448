//! A real Prometheus server beside the exporter, with its own temporary storage.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;
use tokio::process::{Child, Command};

use super::eventually;

/// The rules and configuration shipped in `examples/`.
pub fn examples() -> PathBuf {
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
        Prometheus::start_with_rules(binary, target, name, &[]).await
    }

    /// As [`Prometheus::start`], with the rules files `extra` loaded beside the shipped ones.
    pub async fn start_with_rules(
        binary: &Path,
        target: &str,
        name: &str,
        extra: &[&Path],
    ) -> Prometheus {
        let dir = std::env::temp_dir().join(format!(
            "dockerhub-exporter-prometheus-{name}-{}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("data")).unwrap();
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n\
             rule_files:\n  - {rules}\n{extra}\
             scrape_configs:\n  - job_name: dockerhub\n    scrape_timeout: 1s\n    \
             static_configs:\n      - targets: ['{target}']\n",
            rules = examples().join("alerts.yml").display(),
            extra = extra
                .iter()
                .map(|p| format!("  - {}\n", p.display()))
                .collect::<String>(),
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

/// The label a rule copied by [`shortened_rule`] carries, so that its alerts are told from
/// those of the shipped rule.
pub const SHORTENED: &str = "for_shortened_by_test";

/// Writes to `dir` a rules file holding the shipped rule `alert` of `examples/alerts.yml` as
/// it is, but for its `for:` (replaced by `for_`) and the label [`SHORTENED`]: a `for:` of 30
/// minutes cannot be waited for, and the shipped rule loaded beside it shows the same
/// expression merely pending. Its path.
pub fn shortened_rule(alert: &str, for_: &str, dir: &Path) -> PathBuf {
    let shipped = std::fs::read_to_string(examples().join("alerts.yml")).unwrap();
    let start = shipped
        .find(&format!("      - alert: {alert}\n"))
        .unwrap_or_else(|| panic!("{alert} is shipped"));
    let rest = &shipped[start..];
    let end = rest[1..]
        .find("\n      - alert:")
        .or_else(|| rest[1..].find("\n  - name:"))
        .map_or(rest.len(), |i| i + 2);
    let rule = &rest[..end];
    let fors: Vec<_> = rule
        .lines()
        .filter(|l| l.trim().starts_with("for:"))
        .collect();
    assert_eq!(fors.len(), 1, "{alert} has one for: {rule}");
    let labels = "        labels:\n";
    assert!(rule.contains(labels), "{alert} has labels");
    let rule = rule
        .replace(fors[0], &format!("        for: {for_}"))
        .replacen(
            labels,
            &format!("{labels}          {SHORTENED}: \"true\"\n"),
            1,
        );
    let path = dir.join(format!("{alert}-short-for.yml"));
    std::fs::write(
        &path,
        format!("groups:\n  - name: shortened-for-test\n    rules:\n{rule}"),
    )
    .unwrap();
    path
}
