//! Views of the published inventory for people rather than Prometheus: the HTML pages (the
//! landing page with the status, the recent changes and the repositories, and one page per
//! repository with its tags) and the recent changes as JSON for scripts.
//!
//! A view is a pure function of what the refresh published and of the few facts the server
//! adds (the configuration it shows, the quotas telemetry last saw); it never calls the Hub
//! and never touches a socket. The server picks the view, parses the query into the typed
//! values a view takes, and sends what it returns.

pub(crate) mod changes;
mod format;
pub(crate) mod html;

pub(crate) use format::rfc3339;
#[cfg(test)]
pub(crate) use format::rfc3339_millis;

/// What the Hub's and the registry's quotas were when last seen, for the landing page.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Quotas {
    /// The Hub API's `X-RateLimit-Remaining`, once a response carried it.
    pub(crate) rate_limit_remaining: Option<i64>,
    /// The Hub API's `X-RateLimit-Limit`, once a response carried it.
    pub(crate) rate_limit_limit: Option<i64>,
    /// The registry's pull quota of each account checked (`--pull-limit.interval`).
    pub(crate) pulls: Vec<PullQuota>,
}

/// The registry's pull quota of one account, as its last successful check found it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PullQuota {
    /// `anonymous` or the username.
    pub(crate) account: String,
    /// Pulls left in the window, and the pulls the window allows; `None` when the registry
    /// sets no limit.
    pub(crate) remaining_of: Option<(i64, i64)>,
}
