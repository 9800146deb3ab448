//! What the integration tests share: the exporter in this process ([`Exporter`]) or as the
//! binary ([`Process`]), the outside tools beside it ([`tool`], [`Prometheus`]), the
//! arguments that point it at a simulated Hub ([`hub_args`]), simulated Hubs several tests
//! use ([`fixtures`]), the exporter set up for webhooks and audit logs ([`signals`]),
//! waiting for a condition ([`eventually`]), and reading what it serves ([`value`],
//! [`series`], [`served_tags`]). Test files use this module and never each other.

mod browser;
mod exporter;
pub mod fixtures;
mod process;
mod prometheus;
mod registry;
mod scrape;
pub mod signals;

use std::future::Future;
use std::time::Duration;

pub use browser::{chromium, dump_dom};
pub use exporter::Exporter;
pub use process::{
    BIN, Process, collect_lines, inventory, required_tool, status_bytes, status_field_bytes, tool,
};
pub use prometheus::{Prometheus, SHORTENED, examples, free_port, shortened_rule};
pub use registry::Registry;
pub use scrape::*;

/// Flags that leave the pace to the simulated Hub alone: the exporter's own quota far above
/// any Hub's, one request at a time, so only the Hub's headers and 429s hold it back.
pub const ONLY_THE_HUB_PACES: [&str; 6] = [
    "--hub.rate-limit",
    "60000",
    "--hub.burst",
    "100",
    "--hub.concurrency",
    "1",
];

/// The longest any test waits for a condition before failing.
pub const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// A fresh temporary directory for one test, named after it and this process.
pub fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("dhx-it-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `text` to `name` in `dir`; the file's path.
pub fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Arguments that point the exporter at the Hub at `url` for `namespace`, then `extra`.
pub fn hub_args(url: &str, namespace: &str, extra: &[&str]) -> Vec<String> {
    let mut args = hub_only(url, &["--hub.namespace", namespace]);
    args.extend(extra.iter().map(|a| a.to_string()));
    args
}

/// Arguments that point the exporter at the Hub at `url` without naming a namespace (the
/// username or the environment names it), then `extra`.
pub fn hub_only(url: &str, extra: &[&str]) -> Vec<String> {
    ["--hub.url", url]
        .iter()
        .chain(extra)
        .map(|a| a.to_string())
        .collect()
}

/// `--pull-limit.interval 0` unless `args` point the pull-limit checks somewhere: no test
/// reaches the real registry.
pub fn no_real_registry(args: &[impl AsRef<str>]) -> &'static [&'static str] {
    let own = args.iter().any(|a| {
        let a = a.as_ref();
        a.starts_with("--pull-limit.") || a.starts_with("--registry.")
    });
    if own {
        &[]
    } else {
        &["--pull-limit.interval", "0"]
    }
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
