//! dockerhub_exporter: an exact, rate-limited inventory of Docker Hub namespaces, served as
//! Prometheus metrics.
//!
//! A background task walks every repository and tag of the configured namespaces within the
//! Hub's rate limits and publishes an immutable snapshot; the HTTP side serves the snapshot's
//! pre-rendered exposition and never calls the Hub.
//!
//! # Layout
//!
//! - [`config`]: command line, environment and the validated configuration (secrets included).
//! - [`hub`]: the Docker Hub client: login, pagination, rate limiting, retries.
//! - [`inventory`]: the snapshot of what the Hub holds, and how a refresh merges into it.
//! - [`refresh`]: the background loop, sole writer of the published snapshot.
//! - [`metrics`]: the exporter's own series and the rendering of the inventory.
//! - [`server`]: the HTTP endpoints (`/metrics`, `/healthz`, `/readyz`, `/`).
//! - [`error`]: the error type.

pub mod changes;
pub mod config;
pub mod error;
pub mod hub;
pub mod inventory;
pub mod metrics;
pub mod refresh;
pub mod server;
pub mod state;
pub mod webconfig;

pub use error::{Error, Result};

pub mod logging;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::info;

use crate::config::Config;
use crate::metrics::{Published, Telemetry};

/// How long the refresh task and open connections get to finish after shutdown.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Binds the configured listen address.
pub async fn bind(config: &Config) -> Result<TcpListener> {
    let addresses =
        config::parse_listen_address(&config.listen_address).map_err(|m| Error::Io {
            context: format!("--web.listen-address {}", config.listen_address),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, m),
        })?;
    let mut last = None;
    for address in addresses {
        match TcpListener::bind(address).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
    }
    Err(Error::Io {
        context: format!("cannot listen on {}", config.listen_address),
        source: last.unwrap_or_else(|| std::io::ErrorKind::AddrNotAvailable.into()),
    })
}

/// Runs the exporter on an already-bound listener until `shutdown` completes: the refresh
/// loop in the background and the HTTP server in front of it.
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()>,
) -> Result<()> {
    let telemetry = Arc::new(Telemetry::new());
    let client = Arc::new(hub::Client::new(&config, Arc::clone(&telemetry))?);
    let restored = config.state_file.as_deref().and_then(state::load);
    let mut counters = changes::Counters::default();
    let initial = match restored {
        Some(mut restored) => {
            // Namespaces no longer configured are not served.
            restored
                .snapshot
                .namespaces
                .retain(|ns, _| config.namespaces.contains(ns));
            let last_success = restored.last_success();
            if let Some(t) = last_success {
                telemetry.restore_last_success(t);
            }
            // Series for every known repository from the start, so that changes found by
            // the first refresh show as increases.
            counters.cover(&restored.snapshot);
            Published::new(
                Arc::new(restored.snapshot),
                None,
                last_success,
                &counters,
                &refresh::render_options(&config),
            )
        }
        None => Published::empty(),
    };
    let (publish, published) = watch::channel(Arc::new(initial));
    let (stop, stopped) = watch::channel(false);
    let refresher =
        refresh::Refresher::new(client, &config, Arc::clone(&telemetry), publish, counters);
    let mut refresh_task = tokio::spawn(refresher.run(until_stopped(stopped.clone())));
    let state = server::ServerState {
        published,
        telemetry,
        telemetry_path: config.telemetry_path.clone(),
        namespaces: config.namespaces.clone(),
        in_flight: Arc::new(tokio::sync::Semaphore::new(config.max_requests)),
        web: config.web.clone(),
        header_read_timeout: server::HEADER_READ_TIMEOUT,
    };
    let web_watch = tokio::spawn(config.web.clone().watch());
    let address = listener.local_addr().map_err(|e| Error::Io {
        context: "reading the listen address".into(),
        source: e,
    })?;
    let mut server_task = tokio::spawn(server::run(listener, state, until_stopped(stopped)));
    info!(
        address = %address,
        hub = %config.hub_url,
        namespaces = %config.namespaces.join(","),
        authenticated = config.credentials.is_some(),
        "dockerhub_exporter started"
    );
    if let (None, Some(username)) = (&config.credentials, &config.username) {
        tracing::warn!(
            username = %username,
            "no secret given (--hub.password-file or DOCKERHUB_PASSWORD); reading public repositories anonymously"
        );
    }
    let served = tokio::select! {
        _ = shutdown => Ok(()),
        r = &mut server_task => match r {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Error::Io { context: "serving HTTP".into(), source: e }),
            Err(e) => Err(Error::Io { context: "serving HTTP".into(), source: std::io::Error::other(e.to_string()) }),
        },
    };
    info!("shutting down");
    web_watch.abort();
    let _ = stop.send(true);
    if tokio::time::timeout(SHUTDOWN_GRACE, &mut refresh_task)
        .await
        .is_err()
    {
        refresh_task.abort();
    }
    if !server_task.is_finished()
        && tokio::time::timeout(SHUTDOWN_GRACE, &mut server_task)
            .await
            .is_err()
    {
        server_task.abort();
    }
    served
}

async fn until_stopped(mut stopped: watch::Receiver<bool>) {
    // An error means the sender is gone, which also means stop.
    let _ = stopped.wait_for(|s| *s).await;
}
