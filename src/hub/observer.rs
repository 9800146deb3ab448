//! What the client tells the rest of the program about its requests, through a narrow
//! [`Observer`] that the exporter's telemetry implements. The client does not know how (or
//! whether) any of it is shown.

use std::time::Duration;

/// The endpoints a request can go to, as `dockerhub_api_requests_total` labels them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    /// A login.
    Auth,
    /// A repository page.
    Repositories,
    /// One repository's details (`--hub.repository`).
    Repository,
    /// A tag page.
    Tags,
    /// A page of a namespace's audit log.
    AuditLog,
    /// A token from the registry's token service, for a pull-limit check.
    RegistryToken,
    /// A `HEAD` of a manifest on the registry, for a pull-limit check.
    RegistryManifest,
}

impl Endpoint {
    /// The value of the `endpoint` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Endpoint::Auth => "auth",
            Endpoint::Repositories => "repositories",
            Endpoint::Repository => "repository",
            Endpoint::Tags => "tags",
            Endpoint::AuditLog => "audit_log",
            Endpoint::RegistryToken => "registry_token",
            Endpoint::RegistryManifest => "registry_manifest",
        }
    }
}

/// The `X-RateLimit-*` headers the client reads from the Hub's answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RateLimitHeader {
    /// `X-RateLimit-Limit`: requests the window allows.
    Limit,
    /// `X-RateLimit-Remaining`: requests left in the window.
    Remaining,
    /// `X-RateLimit-Reset`: when the window resets, as a Unix time.
    Reset,
}

/// Receives what the client does, as it does it.
pub trait Observer: Send + Sync {
    /// A request was answered with `status`, or failed without an answer (`None`).
    fn request(&self, endpoint: Endpoint, status: Option<u16>);

    /// An answer carried a rate-limit header with this value.
    fn rate_limit(&self, header: RateLimitHeader, value: i64);

    /// A request waited this long for the quota or a pause the Hub asked for.
    fn waited(&self, time: Duration);
}

/// An observer that ignores everything, for clients nobody watches.
impl Observer for () {
    fn request(&self, _: Endpoint, _: Option<u16>) {}
    fn rate_limit(&self, _: RateLimitHeader, _: i64) {}
    fn waited(&self, _: Duration) {}
}
