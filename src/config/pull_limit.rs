//! The flags of the registry's pull-quota check: where the registry and its token service
//! are, and how often to check (`0` turns the check off). Like the rest of `config`, a leaf:
//! it validates values and knows nothing of the check itself.

use std::time::Duration;

use super::{ConfigError, parse_interval};

/// Docker Hub's registry.
pub const DEFAULT_REGISTRY_URL: &str = "https://registry-1.docker.io";

/// The token service of Docker Hub's registry.
pub const DEFAULT_REGISTRY_AUTH_URL: &str = "https://auth.docker.io/token";

/// The pull-limit flags as given.
#[derive(Debug, Clone, clap::Args)]
pub struct PullLimitArgs {
    /// Base URL of the registry whose pull limit is checked, with a HEAD of a manifest, which
    /// does not count as a pull.
    #[arg(long = "registry.url", default_value = DEFAULT_REGISTRY_URL)]
    pub registry_url: String,

    /// The registry's token service. The credentials of --hub.username are sent there, and
    /// the token it gives only to --registry.url.
    #[arg(long = "registry.auth-url", default_value = DEFAULT_REGISTRY_AUTH_URL)]
    pub registry_auth_url: String,

    /// Time from the start of one check of the registry's pull limit to the start of the next,
    /// anonymously and as --hub.username; 0 turns the checks off.
    #[arg(long = "pull-limit.interval", default_value = "5m", value_parser = parse_interval)]
    pub interval: Duration,
}

/// The validated pull-limit check.
#[derive(Debug, Clone)]
pub struct PullLimitCheck {
    /// Base URL of the registry, without a trailing slash.
    pub registry_url: reqwest::Url,
    /// URL of the registry's token service.
    pub auth_url: reqwest::Url,
    /// From the start of one check to the start of the next; `None`: no checks.
    pub interval: Option<Duration>,
}

impl PullLimitArgs {
    /// Validates the URLs; an interval of 0 means no checks.
    pub(super) fn validate(self) -> Result<PullLimitCheck, ConfigError> {
        Ok(PullLimitCheck {
            registry_url: parse_url("--registry.url", self.registry_url.trim_end_matches('/'))?,
            auth_url: parse_url("--registry.auth-url", &self.registry_auth_url)?,
            interval: (!self.interval.is_zero()).then_some(self.interval),
        })
    }
}

/// An http or https URL with a host and without credentials.
fn parse_url(flag: &'static str, raw: &str) -> Result<reqwest::Url, ConfigError> {
    let url = reqwest::Url::parse(raw)
        .map_err(|e| ConfigError::new(flag, format!("{raw:?} is not a URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(ConfigError::new(flag, "must be an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(ConfigError::new(
            flag,
            "must not carry credentials; the exporter sends those of --hub.username",
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::super::{Args, Config};
    use super::*;

    fn config(extra: &[&str]) -> Result<Config, ConfigError> {
        let mut argv = vec!["dockerhub_exporter", "--hub.namespace", "acme"];
        argv.extend_from_slice(extra);
        Config::from_args(Args::try_parse_from(argv).unwrap(), None)
    }

    #[test]
    fn by_default_docker_hubs_registry_is_checked_every_five_minutes() {
        let c = config(&[]).unwrap().pull_limit;
        assert_eq!(c.registry_url.as_str(), "https://registry-1.docker.io/");
        assert_eq!(c.auth_url.as_str(), "https://auth.docker.io/token");
        assert_eq!(c.interval, Some(Duration::from_secs(300)));
    }

    #[test]
    fn an_interval_of_zero_turns_the_checks_off() {
        for zero in ["0", "0s", "0m"] {
            let c = config(&["--pull-limit.interval", zero]).unwrap().pull_limit;
            assert_eq!(c.interval, None, "{zero}");
        }
        let c = config(&["--pull-limit.interval", "1h"]).unwrap().pull_limit;
        assert_eq!(c.interval, Some(Duration::from_secs(3600)));
        let bad = Args::try_parse_from(["x", "--pull-limit.interval", "often"]).unwrap_err();
        assert!(bad.to_string().contains("--pull-limit.interval"), "{bad}");
    }

    #[test]
    fn the_urls_are_full_urls_without_credentials() {
        let c = config(&[
            "--registry.url",
            "http://127.0.0.1:5000/registry/",
            "--registry.auth-url",
            "http://127.0.0.1:5000/token",
        ])
        .unwrap()
        .pull_limit;
        assert_eq!(c.registry_url.as_str(), "http://127.0.0.1:5000/registry");
        assert_eq!(c.auth_url.as_str(), "http://127.0.0.1:5000/token");
        for (flag, bad) in [
            ("--registry.url", "registry-1.docker.io"),
            ("--registry.url", "ftp://registry.example"),
            (
                "--registry.auth-url",
                "https://bot:secret@auth.docker.io/token",
            ),
            ("--registry.auth-url", "not a url"),
        ] {
            let err = config(&[flag, bad]).unwrap_err();
            assert_eq!(err.flag, flag, "{bad}: {err}");
            assert!(!err.to_string().contains("secret@"), "{err}");
        }
    }
}
