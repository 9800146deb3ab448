//! HTTP endpoints (stub until the server lands).

use std::sync::Arc;

/// What the HTTP side reads.
pub struct ServerState {
    /// The published inventory.
    pub published: tokio::sync::watch::Receiver<Arc<crate::metrics::Published>>,
    /// The exporter's own series.
    pub telemetry: Arc<crate::metrics::Telemetry>,
    /// Path of the metrics endpoint.
    pub telemetry_path: String,
    /// Configured namespaces.
    pub namespaces: Vec<String>,
}

/// Serves until shutdown.
pub async fn run(
    _listener: tokio::net::TcpListener,
    _state: ServerState,
    shutdown: impl std::future::Future<Output = ()> + Send,
) -> std::io::Result<()> {
    shutdown.await;
    Ok(())
}
