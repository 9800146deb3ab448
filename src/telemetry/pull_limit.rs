//! The registry's pull quota as the exporter's own series, one set per `account`
//! (`anonymous`, or the username): the limit, what remains, the window, whether the registry
//! set no limit at all, and when a check last succeeded.
//!
//! The series of an account appear with its first successful check; a failed check changes
//! none of them. The limit, what remains and the window are absent, not 0, while the registry
//! says there is no limit, and the window also while the headers name none. The checks'
//! requests count in `dockerhub_api_requests_total` beside the Hub API's, but never in
//! `dockerhub_api_throttled_total`, which is about the Hub API's quota.

use std::time::SystemTime;

use prometheus::{GaugeVec, IntGaugeVec, Opts, Registry};

use super::{Telemetry, registered};
use crate::hub::Endpoint;
use crate::publication::unix_seconds;
use crate::registry::{self, PullLimit};
use crate::views::Pulls;

/// The label that names whose quota a series is.
const ACCOUNT: &str = "account";

/// The pull-limit series, registered in the telemetry's registry.
#[derive(Debug)]
pub(super) struct PullLimitSeries {
    limit: IntGaugeVec,
    remaining: IntGaugeVec,
    window: IntGaugeVec,
    unlimited: IntGaugeVec,
    last_success: GaugeVec,
    /// What the last successful check of each account found.
    seen: std::sync::Mutex<std::collections::BTreeMap<String, Pulls>>,
}

impl PullLimitSeries {
    /// The families, without series until a check succeeds.
    pub(super) fn new(registry: &Registry) -> Self {
        let int_gauges = |name: &str, help: &str| {
            registered(
                registry,
                IntGaugeVec::new(Opts::new(name, help), &[ACCOUNT]).expect("valid metric"),
            )
        };
        PullLimitSeries {
            limit: int_gauges(
                "dockerhub_pull_limit",
                "Image pulls Docker Hub's registry allows per window (ratelimit-limit), by account: anonymous (this IP address) or the username. Absent while the registry sets no limit.",
            ),
            remaining: int_gauges(
                "dockerhub_pull_limit_remaining",
                "Image pulls left in the registry's current window (ratelimit-remaining), by account. Absent while the registry sets no limit.",
            ),
            window: int_gauges(
                "dockerhub_pull_limit_window_seconds",
                "Length of the registry's pull-limit window (w= of ratelimit-limit), by account. Absent while the registry sets no limit or names no window.",
            ),
            unlimited: int_gauges(
                "dockerhub_pull_limit_unlimited",
                "1 when the registry answered the last successful pull-limit check without limit headers (no limit applies), 0 when with, by account.",
            ),
            last_success: registered(
                registry,
                GaugeVec::new(
                    Opts::new(
                        "dockerhub_pull_limit_last_check_success_timestamp_seconds",
                        "Unix time of the last successful pull-limit check, by account.",
                    ),
                    &[ACCOUNT],
                )
                .expect("valid metric"),
            ),
            seen: Default::default(),
        }
    }

    /// Each account's quota as its last successful check found it.
    pub(super) fn quotas(&self) -> Vec<crate::views::PullQuota> {
        let seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.iter()
            .map(|(account, pulls)| crate::views::PullQuota {
                account: account.clone(),
                pulls: *pulls,
            })
            .collect()
    }

    /// Shows what a successful check of `account` found.
    fn record(&self, account: &str, limit: PullLimit, at: SystemTime) {
        let labels = [account];
        // Counts beyond i64 are shown as its largest value rather than wrapping round.
        let gauge_value = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        let pulls = match limit {
            PullLimit::Limited {
                limit, remaining, ..
            } => Pulls::Limited {
                remaining: remaining.map(gauge_value),
                limit: limit.map(gauge_value),
            },
            PullLimit::Unlimited => Pulls::Unlimited,
        };
        self.seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(account.to_string(), pulls);
        match limit {
            PullLimit::Limited {
                limit,
                remaining,
                window,
            } => {
                // A count the registry did not give is absent, never 0; removing a series
                // that is not there is no error worth hearing of.
                for (gauge, value) in [
                    (&self.limit, limit),
                    (&self.remaining, remaining),
                    (&self.window, window.map(|w| w.as_secs())),
                ] {
                    match value {
                        Some(v) => gauge.with_label_values(&labels).set(gauge_value(v)),
                        None => {
                            let _ = gauge.remove_label_values(&labels);
                        }
                    }
                }
                self.unlimited.with_label_values(&labels).set(0);
            }
            PullLimit::Unlimited => {
                // Removing a series that is not there is no error worth hearing of.
                for gauges in [&self.limit, &self.remaining, &self.window] {
                    let _ = gauges.remove_label_values(&labels);
                }
                self.unlimited.with_label_values(&labels).set(1);
            }
        }
        self.last_success
            .with_label_values(&labels)
            .set(unix_seconds(at));
    }
}

impl registry::Observer for Telemetry {
    fn request(&self, endpoint: Endpoint, status: Option<u16>) {
        let code = status.map_or_else(|| "error".to_string(), |s| s.to_string());
        self.api_requests
            .with_label_values(&[endpoint.as_str(), &code])
            .inc();
    }

    fn checked(&self, account: &str, limit: PullLimit, at: SystemTime) {
        self.pull_limits.record(account, limit, at);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn exposition(t: &Telemetry) -> String {
        String::from_utf8(t.own_series()).unwrap()
    }

    fn pull_lines(t: &Telemetry) -> Vec<String> {
        exposition(t)
            .lines()
            .filter(|l| l.starts_with("dockerhub_pull_limit"))
            .map(str::to_string)
            .collect()
    }

    #[test]
    fn no_series_before_a_check_succeeds() {
        let t = Telemetry::new();
        assert!(!exposition(&t).contains("dockerhub_pull_limit"));
    }

    #[test]
    fn a_limit_shows_as_limit_remaining_and_window_per_account() {
        let t = Telemetry::new();
        let limited = PullLimit::Limited {
            limit: Some(100),
            remaining: Some(76),
            window: Some(Duration::from_secs(21_600)),
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        registry::Observer::checked(&t, "anonymous", limited, at);
        assert_eq!(
            pull_lines(&t),
            [
                "dockerhub_pull_limit{account=\"anonymous\"} 100",
                "dockerhub_pull_limit_last_check_success_timestamp_seconds{account=\"anonymous\"} 1800000000",
                "dockerhub_pull_limit_remaining{account=\"anonymous\"} 76",
                "dockerhub_pull_limit_unlimited{account=\"anonymous\"} 0",
                "dockerhub_pull_limit_window_seconds{account=\"anonymous\"} 21600",
            ]
        );
        assert_eq!(
            t.quotas().pulls[0].pulls,
            Pulls::Limited {
                remaining: Some(76),
                limit: Some(100)
            }
        );
        registry::Observer::checked(&t, "jane", PullLimit::Unlimited, at);
        let accounts: Vec<_> = t
            .quotas()
            .pulls
            .into_iter()
            .map(|p| (p.account, p.pulls))
            .collect();
        assert_eq!(
            accounts,
            [
                (
                    "anonymous".into(),
                    Pulls::Limited {
                        remaining: Some(76),
                        limit: Some(100)
                    }
                ),
                ("jane".into(), Pulls::Unlimited)
            ]
        );
    }

    #[test]
    fn no_limit_removes_the_three_series_of_that_account_only() {
        let t = Telemetry::new();
        let limited = PullLimit::Limited {
            limit: Some(200),
            remaining: Some(3),
            window: Some(Duration::from_secs(3600)),
        };
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        registry::Observer::checked(&t, "anonymous", limited, at);
        registry::Observer::checked(&t, "acme-bot", limited, at);
        let later = at + Duration::from_secs(300);
        registry::Observer::checked(&t, "acme-bot", PullLimit::Unlimited, later);
        let lines = pull_lines(&t);
        let of = |account: &str| -> Vec<&String> {
            lines
                .iter()
                .filter(|l| l.contains(&format!("account=\"{account}\"")))
                .collect()
        };
        assert_eq!(
            of("acme-bot"),
            [
                "dockerhub_pull_limit_last_check_success_timestamp_seconds{account=\"acme-bot\"} 1800000300",
                "dockerhub_pull_limit_unlimited{account=\"acme-bot\"} 1",
            ]
        );
        assert_eq!(of("anonymous").len(), 5, "{lines:?}");
    }

    #[test]
    fn a_limit_without_a_window_has_no_window_series() {
        let t = Telemetry::new();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let with = PullLimit::Limited {
            limit: Some(100),
            remaining: Some(100),
            window: Some(Duration::from_secs(21_600)),
        };
        registry::Observer::checked(&t, "anonymous", with, at);
        let without = PullLimit::Limited {
            limit: Some(100),
            remaining: Some(99),
            window: None,
        };
        registry::Observer::checked(&t, "anonymous", without, at);
        let text = exposition(&t);
        assert!(
            !text.contains("dockerhub_pull_limit_window_seconds{"),
            "{text}"
        );
        assert!(text.contains("dockerhub_pull_limit_remaining{account=\"anonymous\"} 99"));
    }

    #[test]
    fn a_limit_without_counts_shows_its_window_and_no_count_not_even_0() {
        let t = Telemetry::new();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let counted = PullLimit::Limited {
            limit: Some(100),
            remaining: Some(99),
            window: Some(Duration::from_secs(3_600)),
        };
        registry::Observer::checked(&t, "anonymous", counted, at);
        let uncounted = PullLimit::Limited {
            limit: None,
            remaining: None,
            window: Some(Duration::from_secs(21_600)),
        };
        registry::Observer::checked(&t, "anonymous", uncounted, at);
        assert_eq!(
            pull_lines(&t),
            [
                "dockerhub_pull_limit_last_check_success_timestamp_seconds{account=\"anonymous\"} 1800000000",
                "dockerhub_pull_limit_unlimited{account=\"anonymous\"} 0",
                "dockerhub_pull_limit_window_seconds{account=\"anonymous\"} 21600",
            ]
        );
        assert_eq!(
            t.quotas().pulls[0].pulls,
            Pulls::Limited {
                remaining: None,
                limit: None
            }
        );
    }

    #[test]
    fn registry_requests_count_by_endpoint_but_never_as_the_hub_throttling() {
        let t = Telemetry::new();
        registry::Observer::request(&t, Endpoint::RegistryToken, Some(200));
        registry::Observer::request(&t, Endpoint::RegistryManifest, Some(429));
        registry::Observer::request(&t, Endpoint::RegistryManifest, None);
        let text = exposition(&t);
        for line in [
            "dockerhub_api_requests_total{code=\"200\",endpoint=\"registry_token\"} 1",
            "dockerhub_api_requests_total{code=\"429\",endpoint=\"registry_manifest\"} 1",
            "dockerhub_api_requests_total{code=\"error\",endpoint=\"registry_manifest\"} 1",
            "dockerhub_api_throttled_total 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} not in {text}");
        }
    }
}
