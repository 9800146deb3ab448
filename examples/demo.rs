//! The offline demo: a simulated Docker Hub with a few hundred tags that keep changing, and
//! the exporter reading it, both in this process.
//!
//! `cargo run --release --example demo` (add `-- 0.0.0.0:9721` to listen elsewhere). Nothing
//! here reaches the internet.

use std::time::Duration;

use clap::Parser;
use dockerhub_exporter::Exporter;
use dockerhub_exporter::config::{Args, Config};
use simhub::SimHub;

/// The demo account's secret, known to the simulated Hub only.
const DEMO_SECRET: &str = "dckr_pat_demo_acme";

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9721".into());
    dockerhub_exporter::logging::init(
        dockerhub_exporter::config::LogLevel::Info,
        dockerhub_exporter::config::LogFormat::Logfmt,
    );
    let hub = SimHub::demo(42);
    // The real Hub's quota: 180 requests a minute per IP.
    hub.set_rate_limit(180, Duration::from_secs(60));
    hub.set_latency(Duration::from_millis(20));
    let running = hub.start().await?;
    let _churn = hub.start_churn(Duration::from_secs(20), 42);

    let (registry_url, auth_url) = (running.registry_url(), running.registry_auth_url());
    let args = Args::try_parse_from([
        "dockerhub_exporter",
        "--hub.url",
        &running.url(),
        // The simulated registry beside the Hub, for the pull-limit checks.
        "--registry.url",
        &registry_url,
        "--registry.auth-url",
        &auth_url,
        "--hub.namespace",
        "acme",
        // Official images watched on their own, without walking `library`.
        "--hub.repository",
        "nginx",
        "--hub.repository",
        r"library/redis:7(\..*)?",
        "--hub.username",
        "acme-bot",
        "--refresh.interval",
        "30s",
        "--web.listen-address",
        &listen,
    ])?;
    let exporter = Exporter::new(Config::from_args(args, Some(DEMO_SECRET.into()))?)?;
    let listener = match exporter.bind().await {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{listen} is not free ({e}); using a free port instead");
            tokio::net::TcpListener::bind("127.0.0.1:0").await?.into()
        }
    };
    let address = listener.local_addrs()?[0];
    println!();
    println!("  simulated Docker Hub:  {}", running.url());
    println!("  exporter:              http://{address}/");
    println!("  metrics:               http://{address}/metrics");
    println!();
    println!("  The simulated Hub pushes, re-pushes and deletes a tag every 20 s; the exporter");
    println!(
        "  refreshes every 30 s. Try: curl -s http://{address}/metrics | grep dockerhub_repository_tags"
    );
    println!("  Stop with Ctrl-C.");
    println!();
    exporter
        .run(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    Ok(())
}
