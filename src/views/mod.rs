//! Views of the inventory for people rather than Prometheus (whose view is the exposition, see
//! `publication`): the HTML pages (the landing page with the status, the recent changes and
//! the repositories, and one page per repository with its tags), the recent changes as JSON
//! for scripts, and the listings `dockerhub_exporter inventory` prints (a table for a
//! terminal, one JSON document, CSV).
//!
//! A view is a pure function of a snapshot (what the refresh published, or what the command
//! read) and of the few facts its caller adds (the configuration shown, the quotas telemetry
//! last saw); it never calls the Hub and never touches a socket. The server picks the page,
//! parses the query into the typed values a view takes, and sends what it returns; the
//! command picks the listing and writes it to standard output.

pub(crate) mod changes;
mod format;
pub(crate) mod html;
pub(crate) mod listing;

pub(crate) use format::rfc3339;
#[cfg(test)]
pub(crate) use format::rfc3339_millis;

/// What one mirror's checks found, as telemetry last saw it, for the pages: the views take
/// this and never the mirror checks' own types.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Mirror {
    /// `REGISTRY[/PATH]`, as configured.
    pub(crate) mirror: String,
    /// The Hub namespace compared with it; empty before its first check.
    pub(crate) hub_namespace: String,
    /// Unix time at the end of the last check that read every repository.
    pub(crate) last_success: Option<f64>,
    /// Hub tags compared, over the repositories read at least once.
    pub(crate) tags: usize,
    /// The repositories read at least once.
    pub(crate) repositories: std::collections::BTreeSet<String>,
    /// The tags out of sync, by repository and tag.
    pub(crate) mismatches: std::collections::BTreeMap<(String, String), Mismatch>,
    /// The mirror's digest of each tag it holds at another digest, by repository and tag.
    pub(crate) digests: std::collections::BTreeMap<(String, String), String>,
}

/// How a tag is out of sync on a mirror.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// The mirror lacks it.
    Missing,
    /// The mirror holds it at another digest.
    Digest,
}

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
    /// What the registry said.
    pub(crate) pulls: Pulls,
}

/// What the registry says of an account's pulls.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Pulls {
    /// No limit applies.
    Unlimited,
    /// A limit applies.
    Limited {
        /// Pulls left in the window, when the registry gave the count.
        remaining: Option<i64>,
        /// Pulls the window allows, when the registry gave the count.
        limit: Option<i64>,
    },
}
