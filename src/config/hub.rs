//! The flags that say which Hub to read, what of it, as whom and how fast (`--hub.*`), and the
//! filters that choose repositories and tags (`--filter.*`): shared by the exporter and the
//! `inventory` command, so that both take the same names, environment variables, defaults and
//! rules, and a command line that works for one works for the other.
//!
//! Like the rest of `config`, a leaf: it validates values and reads the secret, and knows
//! nothing of the client or the refresh they configure.

use std::path::PathBuf;
use std::time::Duration;

use super::repositories::{parse_watched, split_list};
use super::{ConfigError, Credentials, DEFAULT_HUB_URL, WatchedRepository, config_error};
use super::{parse_anchored_regex, parse_duration, read_secret};

/// The `--hub.*` flags as given.
#[derive(Debug, Clone, clap::Args)]
pub struct HubArgs {
    /// Base URL of the Docker Hub API.
    #[arg(long = "hub.url", env = "DOCKERHUB_URL", default_value = DEFAULT_HUB_URL, hide_env_values = true)]
    pub hub_url: String,

    /// User or organization to inventory (repeatable; `library` for official images). Defaults to the username.
    #[arg(
        long = "hub.namespace",
        env = "DOCKERHUB_NAMESPACES",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub namespaces: Vec<String>,

    /// A repository to inventory on its own, from any namespace: NAMESPACE/REPOSITORY, or
    /// REPOSITORY for an official image (`nginx` is `library/nginx`), with `:TAG_REGEX` to
    /// limit its per-tag series and change tracking (anchored). Repeatable; the environment
    /// variable takes a comma-separated list.
    #[arg(
        long = "hub.repository",
        env = "DOCKERHUB_REPOSITORIES",
        value_name = "NAMESPACE/REPOSITORY[:TAG_REGEX]",
        hide_env_values = true
    )]
    pub repositories: Vec<String>,

    /// Account name, or organization name for an organization access token. Without it the exporter calls anonymously and sees public repositories only.
    #[arg(
        long = "hub.username",
        env = "DOCKERHUB_USERNAME",
        hide_env_values = true
    )]
    pub username: Option<String>,

    /// File holding the password, personal access token or organization access token (a trailing newline is ignored). The environment variable DOCKERHUB_PASSWORD may hold the secret instead.
    #[arg(long = "hub.password-file")]
    pub password_file: Option<PathBuf>,

    /// Requests per minute to the Hub, all requests together, logins included (the Hub allows 180 per minute per IP).
    #[arg(long = "hub.rate-limit", env = "DOCKERHUB_RATE_LIMIT", default_value_t = 150, value_parser = clap::value_parser!(u32).range(1..), hide_env_values = true)]
    pub rate_limit: u32,

    /// Requests that may go back to back before the per-minute pace applies.
    #[arg(long = "hub.burst", default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..))]
    pub burst: u32,

    /// Requests in flight at most.
    #[arg(long = "hub.concurrency", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub concurrency: u32,

    /// Time limit for one request to the Hub (for example 500ms, 30s, 1m).
    #[arg(long = "hub.timeout", default_value = "30s", value_parser = parse_duration)]
    pub timeout: Duration,
}

/// The `--filter.*` flags. Their values are checked as they are parsed (each must be a
/// regular expression, and is anchored at both ends), so they need no further validation.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct Filters {
    /// Inventory only repositories whose name matches this regular expression (anchored).
    #[arg(long = "filter.repository", value_parser = parse_anchored_regex)]
    pub repository: Option<regex::Regex>,

    /// Leave out repositories whose name matches this regular expression (anchored).
    #[arg(long = "filter.repository-exclude", value_parser = parse_anchored_regex)]
    pub repository_exclude: Option<regex::Regex>,

    /// Export, track and list (inventory) only tags whose name matches this regular
    /// expression (anchored); dockerhub_repository_tags still counts every tag.
    #[arg(long = "filter.tag", value_parser = parse_anchored_regex)]
    pub tag: Option<regex::Regex>,

    /// Leave out tags whose name matches this regular expression (anchored).
    #[arg(long = "filter.tag-exclude", value_parser = parse_anchored_regex)]
    pub tag_exclude: Option<regex::Regex>,
}

/// Whether [`HubArgs::validate`] insists on something to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scope {
    /// A namespace, a repository or a username (which names its own namespace) is needed.
    Required,
    /// Nothing named means everything there is (a state file read offline).
    Optional,
}

/// The validated Hub settings.
#[derive(Debug, Clone)]
pub struct Hub {
    /// Base URL of the Hub API, without a trailing slash.
    pub url: reqwest::Url,
    /// Namespaces to inventory, without duplicates.
    pub namespaces: Vec<String>,
    /// Repositories to inventory on their own (`--hub.repository`), without duplicates.
    pub repositories: Vec<WatchedRepository>,
    /// Credentials, or `None` for anonymous access.
    pub credentials: Option<Credentials>,
    /// The username given, also when no secret came with it (then access is anonymous).
    pub username: Option<String>,
    /// Requests per minute.
    pub rate_limit: u32,
    /// Requests that may go back to back.
    pub burst: u32,
    /// Requests in flight at most.
    pub concurrency: usize,
    /// Time limit of one request.
    pub timeout: Duration,
}

impl HubArgs {
    /// Validates the flags, reading the secret from `password_env` (the value of
    /// `DOCKERHUB_PASSWORD`) when no password file is named.
    pub(super) fn validate(
        self,
        password_env: Option<String>,
        scope: Scope,
    ) -> Result<Hub, ConfigError> {
        let url = parse_hub_url(&self.hub_url)?;
        let secret = match &self.password_file {
            Some(path) => Some(read_secret("--hub.password-file", path)?),
            None => password_env.filter(|s| !s.is_empty()),
        };
        let username = self.username.filter(|u| !u.trim().is_empty());
        let credentials = match (username.clone(), secret) {
            (Some(username), Some(secret)) => Some(Credentials { username, secret }),
            // Anonymous; the username still names the default namespace.
            (Some(_), None) => None,
            (None, Some(_)) => {
                return Err(config_error(
                    "--hub.password-file",
                    "a secret needs --hub.username (DOCKERHUB_USERNAME)",
                ));
            }
            (None, None) => None,
        };
        let mut namespaces: Vec<String> = Vec::new();
        for ns in &self.namespaces {
            let ns = ns.trim();
            if ns.is_empty() {
                continue;
            }
            if ns.contains('/')
                || ns.chars().any(|c| c.is_whitespace() || c.is_control())
                || ns == "."
                || ns == ".."
                || ns.len() > 255
            {
                return Err(config_error(
                    "--hub.namespace",
                    format!("{ns:?} is not a namespace name"),
                ));
            }
            // The Hub shows official images as `_`; their namespace is `library`.
            let ns = if ns == "_" { "library" } else { ns };
            if !namespaces.iter().any(|n| n == ns) {
                namespaces.push(ns.to_string());
            }
        }
        let mut repositories: Vec<WatchedRepository> = Vec::new();
        for spec in self.repositories.iter().flat_map(|v| split_list(v)) {
            let watched = parse_watched(spec).map_err(|m| config_error("--hub.repository", m))?;
            if repositories
                .iter()
                .any(|w| w.namespace == watched.namespace && w.name == watched.name)
            {
                return Err(config_error(
                    "--hub.repository",
                    format!("{}/{} is given twice", watched.namespace, watched.name),
                ));
            }
            repositories.push(watched);
        }
        // With repositories named and no namespace, only those are read.
        if namespaces.is_empty() && repositories.is_empty() {
            match (&username, scope) {
                (Some(u), _) => namespaces.push(u.clone()),
                (None, Scope::Optional) => {}
                (None, Scope::Required) => {
                    return Err(config_error(
                        "--hub.namespace",
                        "nothing to inventory: give --hub.namespace (DOCKERHUB_NAMESPACES), --hub.repository (DOCKERHUB_REPOSITORIES) or --hub.username",
                    ));
                }
            }
        }
        if self.timeout.is_zero() {
            return Err(config_error("--hub.timeout", "must be more than 0"));
        }
        Ok(Hub {
            url,
            namespaces,
            repositories,
            credentials,
            username,
            rate_limit: self.rate_limit,
            burst: self.burst,
            concurrency: self.concurrency as usize,
            timeout: self.timeout,
        })
    }
}

pub(super) fn parse_hub_url(raw: &str) -> Result<reqwest::Url, ConfigError> {
    let url = reqwest::Url::parse(raw.trim_end_matches('/'))
        .map_err(|e| config_error("--hub.url", format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(config_error("--hub.url", "must be an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(config_error(
            "--hub.url",
            "must not carry credentials; use --hub.username and --hub.password-file",
        ));
    }
    Ok(url)
}
