//! The library's error type: what failed, named for the failure rather than for the crate
//! that reported it. [`Error::kind`] gives its [`ErrorKind`], a short stable word for logs and
//! the `kind` label of `dockerhub_refresh_errors_total`; the label's values are generated from
//! the same list, so the two cannot drift apart.

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
    #[error("{url} answered HTTP {status}{}", said_text(.said))]
    Status {
        /// The URL requested.
        url: String,
        /// The status code.
        status: u16,
        /// What the Hub said in the answer's body (its `message`, `detail`, `errinfo.detail`),
        /// cut short, control characters escaped and the secret masked; `None` when it said
        /// nothing readable.
        said: Option<String>,
    },
    /// The Hub refused a request made without a token: not a refused login or token, but
    /// something the Hub does not show or do for anonymous callers; what it said tells what.
    #[error("{url} refused an anonymous request (HTTP {status}){}", said_text(.said))]
    Forbidden {
        /// The URL requested.
        url: String,
        /// The status code, 401 or 403.
        status: u16,
        /// What the Hub said, quoted.
        said: Option<String>,
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
    /// A listing whose pages did not add up, read again and again: the Hub's count changed
    /// while it was read, or it promised more items than it served.
    #[error("the listing at {url} does not add up: {reason}")]
    Inconsistent {
        /// The listing's first page.
        url: String,
        /// What did not add up.
        reason: String,
    },
    /// A repository asked for by name (`--hub.repository`) that the Hub does not have, or
    /// does not show to the credentials.
    #[error("{url} answered HTTP {status}: no such repository, or not one the credentials may see{}", said_text(.said))]
    NotFound {
        /// The repository's URL.
        url: String,
        /// The status answered.
        status: u16,
        /// What the Hub said, quoted.
        said: Option<String>,
    },
    /// A listing task of the refresh ended without a result (it panicked or was cancelled).
    #[error("the listing of {listing} did not complete: {reason}")]
    Task {
        /// What was being listed (`namespace/repository`).
        listing: String,
        /// Why the task ended.
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

/// Defines [`ErrorKind`] with its label values from one list.
macro_rules! error_kinds {
    ($($(#[doc = $doc:literal])* $variant:ident => $label:literal,)*) => {
        /// The kind of an [`Error`], as logs and metric labels name it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum ErrorKind {
            $($(#[doc = $doc])* $variant,)*
        }

        impl ErrorKind {
            /// Every kind, in the order the metric lists them.
            pub const ALL: &[ErrorKind] = &[$(ErrorKind::$variant,)*];

            /// The short stable word for logs and metric labels.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ErrorKind::$variant => $label,)*
                }
            }
        }
    };
}

error_kinds! {
    /// A refused login or token.
    Auth => "auth",
    /// A request without a token that the Hub refused.
    Forbidden => "forbidden",
    /// Still throttled after the retries.
    Throttled => "throttled",
    /// 5xx answers.
    Server => "server",
    /// No answer in time.
    Timeout => "timeout",
    /// A body that is not the JSON expected.
    Decode => "decode",
    /// A connection that failed or broke.
    Transport => "transport",
    /// A broken rule of the protocol, or an unexpected status.
    Protocol => "protocol",
    /// A listing whose pages did not add up in any of its reads.
    Inconsistent => "inconsistent",
    /// A repository asked for by name that the Hub does not show.
    NotFound => "not_found",
    /// A listing task that did not complete.
    Task => "task",
    /// A local I/O error.
    Io => "io",
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The kind of this failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Auth { .. } => ErrorKind::Auth,
            Error::Forbidden { .. } => ErrorKind::Forbidden,
            Error::RateLimited { .. } => ErrorKind::Throttled,
            Error::Status { status, .. } if *status >= 500 => ErrorKind::Server,
            Error::Status { .. } => ErrorKind::Protocol,
            Error::Timeout { .. } => ErrorKind::Timeout,
            Error::Transport { .. } => ErrorKind::Transport,
            Error::Decode { .. } => ErrorKind::Decode,
            Error::Protocol { .. } => ErrorKind::Protocol,
            Error::Inconsistent { .. } => ErrorKind::Inconsistent,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Task { .. } => ErrorKind::Task,
            Error::Io { .. } => ErrorKind::Io,
        }
    }
}

/// What an error says of the Hub's own words: `; the Hub said "…"`, or nothing.
fn said_text(said: &Option<String>) -> String {
    match said {
        Some(text) => format!("; the Hub said \"{text}\""),
        None => String::new(),
    }
}

/// The library's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_has_its_own_label_value() {
        let mut labels: Vec<&str> = ErrorKind::ALL.iter().map(|k| k.as_str()).collect();
        labels.sort_unstable();
        labels.dedup();
        assert_eq!(labels.len(), ErrorKind::ALL.len());
        let task = Error::Task {
            listing: "acme/api".into(),
            reason: "cancelled".into(),
        };
        assert!(ErrorKind::ALL.contains(&task.kind()));
        assert_eq!(task.kind().as_str(), "task");
    }
}
