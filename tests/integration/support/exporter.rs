//! An exporter served from this process, on a free port, stopped by the test.

use clap::Parser;
use dockerhub_exporter::config::{Args, Config};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{WAIT_LIMIT, eventually, families, get, refreshes, value};

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
        argv.extend(super::no_real_registry(args));
        argv.extend(args.iter().map(AsRef::as_ref));
        let config = Config::from_args(
            Args::try_parse_from(&argv).expect("test arguments parse"),
            password.map(str::to_string),
        )
        .expect("test configuration is valid");
        let exporter = dockerhub_exporter::Exporter::new(config)
            .expect("test configuration names usable files");
        let listener = exporter.bind().await.expect("a free port");
        let url = format!("http://{}", listener.local_addrs().unwrap()[0]);
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

    /// The exposition as served now, checked against the format's rules.
    pub async fn metrics(&self) -> String {
        let metrics = get(&format!("{}/metrics", self.url)).await.1;
        families(&metrics);
        metrics
    }

    /// Waits until `dockerhub_refreshes_total` (all results) reaches `n`; returns the exposition.
    pub async fn wait_for_refreshes(&self, n: u64) -> String {
        self.wait_for(|m| refreshes(m) >= n as f64).await
    }

    /// Waits until `dockerhub_refreshes_total{result}` reaches `n`; returns the exposition.
    pub async fn wait_for_result(&self, result: &str, n: u64) -> String {
        self.wait_for(|m| {
            value(m, "dockerhub_refreshes_total", &[("result", result)]).unwrap_or(0.0) >= n as f64
        })
        .await
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
