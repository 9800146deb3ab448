//! The library's error type: what failed, named for the failure rather than for the crate
//! that reported it. [`Error::kind`] gives a short stable word for logs and metric labels.

use std::time::Duration;

/// Everything that can go wrong talking to the Hub or serving metrics.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The Hub refused the credentials (or a token derived from them).
    #[error("authentication failed: {reason}")]
    Auth {
        /// What the Hub said, or why the exporter gave up.
        reason: String,
    },
    /// Still throttled after the bounded number of retries.
    #[error("rate limited by the Hub at {url}; retry after {retry_after:?}")]
    RateLimited {
        /// The URL that was throttled.
        url: String,
        /// How long the Hub asked to wait.
        retry_after: Duration,
    },
    /// The Hub answered with an unexpected status.
    #[error("{url} answered HTTP {status}")]
    Status {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
    },
    /// The request did not complete in time.
    #[error("{url} timed out")]
    Timeout {
        /// The URL requested.
        url: String,
    },
    /// The connection failed or broke.
    #[error("request to {url} failed: {reason}")]
    Transport {
        /// The URL requested.
        url: String,
        /// What went wrong, without any credential.
        reason: String,
    },
    /// The body was not the JSON expected.
    #[error("response from {url} is not valid: {reason}")]
    Decode {
        /// The URL requested.
        url: String,
        /// What did not parse.
        reason: String,
    },
    /// The Hub broke a rule of the protocol (a foreign or looping `next` link, a body too large).
    #[error("protocol violation at {url}: {reason}")]
    Protocol {
        /// The URL requested.
        url: String,
        /// What was wrong.
        reason: String,
    },
    /// A local I/O error (binding the listener, reading a file).
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl Error {
    /// A short stable word for this kind of failure, for logs and metric labels.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Auth { .. } => "auth",
            Error::RateLimited { .. } => "throttled",
            Error::Status { status, .. } if *status >= 500 => "server",
            Error::Status { .. } => "protocol",
            Error::Timeout { .. } => "timeout",
            Error::Transport { .. } => "transport",
            Error::Decode { .. } => "decode",
            Error::Protocol { .. } => "protocol",
            Error::Io { .. } => "io",
        }
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;
