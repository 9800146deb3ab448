//! The offline demo: a simulated Docker Hub with a few hundred tags that keep changing, and
//! the exporter reading it, both in this process.
//!
//! `cargo run --release --example demo` (add `-- 0.0.0.0:9721` to listen elsewhere). Nothing
//! here reaches the internet.

use std::time::Duration;

use base64::Engine;
use clap::Parser;
use dockerhub_exporter::Exporter;
use dockerhub_exporter::config::{Args, Config};
use simhub::{RegistryTag, SimHub};

/// The demo account's secret, known to the simulated Hub only.
const DEMO_SECRET: &str = "dckr_pat_demo_acme";

/// The demo's webhook token: the path Docker Hub would be given is
/// `/hooks/dockerhub/<token>`.
const DEMO_WEBHOOK_TOKEN: &str = "demo-webhook-token-0123456789abcdef";

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
    let token_file = std::env::temp_dir().join(format!(
        "dockerhub-exporter-demo-webhook-{}",
        std::process::id()
    ));
    std::fs::write(&token_file, DEMO_WEBHOOK_TOKEN)?;
    readable_by_owner_only(&token_file)?;
    let token_path = token_file.to_string_lossy().into_owned();

    // A mirror of acme: the simulated Hub's registry on a port of its own, holding every tag
    // of the Hub but one (read as acme-bot, since some of acme's repositories are private).
    let registry = hub.start_registry().await?;
    let mirror_host = registry.addr().to_string();
    let lacking = hub
        .repository_names("acme")
        .into_iter()
        .find_map(|r| Some((hub.tag_names("acme", &r).into_iter().next()?, r)));
    if let Some((tag, repository)) = &lacking {
        hub.set_registry_tag(&format!("acme/{repository}"), tag, RegistryTag::Absent);
    }
    let auth_file = std::env::temp_dir().join(format!(
        "dockerhub-exporter-demo-mirror-auth-{}.json",
        std::process::id()
    ));
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("acme-bot:{DEMO_SECRET}"));
    std::fs::write(
        &auth_file,
        format!(r#"{{"auths": {{"{mirror_host}": {{"auth": "{auth}"}}}}}}"#),
    )?;
    readable_by_owner_only(&auth_file)?;
    let auth_path = auth_file.to_string_lossy().into_owned();
    let mirror = format!("acme={mirror_host}/acme");
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
        // Pushes arrive as webhooks at once, deletions through the audit log.
        "--web.webhook-token-file",
        &token_path,
        "--hub.audit-log.interval",
        "5s",
        "--refresh.repository-min-interval",
        "5s",
        "--mirror",
        &mirror,
        "--mirror.insecure-registry",
        &mirror_host,
        "--mirror.auth-file",
        &auth_path,
        // A local mirror takes more than the default 600 requests a minute: the first check
        // HEADs every tag, and the demo should show it within seconds.
        "--mirror.rate-limit",
        "6000",
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
    // The simulated Hub calls the webhook on every push, as Docker Hub does once it is set
    // up in a repository's settings.
    let hook_host = if address.ip().is_unspecified() {
        std::net::SocketAddr::from(([127, 0, 0, 1], address.port()))
    } else {
        address
    };
    hub.set_webhook(Some(&format!(
        "http://{hook_host}/hooks/dockerhub/{DEMO_WEBHOOK_TOKEN}"
    )));
    println!();
    println!("  simulated Docker Hub:  {}", running.url());
    println!("  exporter:              http://{address}/");
    println!("  metrics:               http://{address}/metrics");
    println!();
    println!("  The simulated Hub pushes, re-pushes and deletes a tag every 20 s; the exporter");
    println!("  refreshes every 30 s, and sees a push within a second through the Hub's webhook");
    println!("  and a deletion within seconds through its audit log (watch the log's");
    println!("  \"tag added\" and \"tag removed\" lines).");
    if let Some((tag, repository)) = &lacking {
        println!("  The mirror {mirror_host}/acme lacks acme/{repository}:{tag}: see the landing");
        println!("  page's Mirrors section and dockerhub_mirror_tag_mismatch.");
    }
    println!("  Try: curl -s http://{address}/metrics | grep dockerhub_tags_added_total");
    println!("  Stop with Ctrl-C.");
    println!();
    exporter
        .run(listener, async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await?;
    let _ = std::fs::remove_file(&token_file);
    let _ = std::fs::remove_file(&auth_file);
    Ok(())
}

/// Secret files as the exporter wants them: readable by their owner alone (it warns
/// otherwise).
fn readable_by_owner_only(path: &std::path::Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}
