//! The change-signals benchmark (`--signals`): how long a change at the simulated Hub takes
//! to move its repository's change counter on `/metrics`, and how many Hub requests each
//! change costs, in three setups: Docker Hub's push webhook, its audit log read every minute,
//! and neither (scheduled refreshes only). Kept apart from the refresh benchmark, which
//! measures how fast everything is read; this measures how soon one change is seen.
//!
//! Each setup runs its own exporter against the organisation `run` built, logged in as an
//! account of the namespace (the audit log needs one; the other setups log in too, so that
//! their requests compare), while the simulated Hub keeps the real Hub's quota. Changes go
//! to distinct repositories, each a random time after the previous one was seen, so that no
//! two share a re-read or a read of the audit log, and their moment is random against the
//! exporter's schedule. The signal setups refresh at the default 15m, so their only
//! scheduled refresh is the first; every request after it is a signal's. The setup without
//! signals refreshes every minute (a 15m schedule would need hours for a few changes): its
//! figures at 15m are derived from that run, not measured, and printed as such.

use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use simhub::exposition::{Sample, parse_sample};
use simhub::{RequestRecord, SimHub, TagSpec};

use crate::{Bench, Exporter, PLATFORMS, scraper};

/// The namespace `run` builds.
const NAMESPACE: &str = "bench";

/// Changes made in each setup.
const CHANGES: usize = 10;

/// How often `/metrics` is read while waiting for a counter to move.
const POLL: Duration = Duration::from_millis(50);

/// The real Hub's quota for an account or IP: 180 requests a minute (Docker's documentation
/// of the Hub API's rate limits), which the simulated Hub enforces here.
const HUB_QUOTA: u32 = 180;

/// The audit-log interval measured.
const AUDIT_INTERVAL: Duration = Duration::from_secs(60);

/// The refresh interval of the setup without signals, measured in place of the default.
const SHORT_REFRESH: Duration = Duration::from_secs(60);

/// The exporter's default `--refresh.interval`.
const DEFAULT_REFRESH: Duration = Duration::from_secs(900);

/// The account the exporter logs in as, and its secret (known to the simulated Hub only).
const ACCOUNT: &str = "bench-bot";
const SECRET: &str = "dckr_pat_bench_signals";

/// The webhook's token: the path segment of `/hooks/dockerhub/<token>`.
const WEBHOOK_TOKEN: &str = "bench-webhook-token-0123456789abcdef";

/// What a change does at the Hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Push,
    Delete,
}

impl Kind {
    /// The counter that moves when the exporter sees the change.
    fn family(self) -> &'static str {
        match self {
            Kind::Push => "dockerhub_tags_added_total",
            Kind::Delete => "dockerhub_tags_removed_total",
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Kind::Push => "push",
            Kind::Delete => "delete",
        }
    }
}

/// One setup: the exporter's flags and how changes are made.
struct Setup {
    /// Its name in the output.
    name: &'static str,
    /// Flags beside the common ones.
    flags: Vec<String>,
    /// Whether the exporter has a signal (webhook or audit log); without, every request
    /// after the first refresh is a scheduled refresh's.
    signals: bool,
    /// Whether the simulated Hub calls the exporter's webhook on every push.
    webhook: bool,
    /// Whether every other change is a deletion (the Hub sends no webhook for those).
    deletions: bool,
    /// The pause before each change, after the previous one was seen, drawn uniformly from
    /// this range: over a whole interval where the setup has one, so the change lands at a
    /// random point of the exporter's schedule.
    gap: (Duration, Duration),
    /// How long to wait for one change before counting it as not seen.
    patience: Duration,
}

/// Hub requests by what they asked for.
#[derive(Debug, Default, Clone, Copy)]
struct Spent {
    logins: usize,
    repository_pages: usize,
    /// One repository's details, which only a re-read asks for.
    details: usize,
    tag_pages: usize,
    audit_log: usize,
    other: usize,
    /// Answered 429 (any of the above).
    throttled: usize,
}

impl Spent {
    /// The requests received after `from` and up to `to`.
    fn between(records: &[RequestRecord], from: Instant, to: Instant) -> Spent {
        let mut spent = Spent::default();
        for r in records.iter().filter(|r| r.at > from && r.at <= to) {
            let segments: Vec<&str> = r.path.split('/').filter(|s| !s.is_empty()).collect();
            let count = match segments.as_slice() {
                ["v2", "auditlogs", ..] => &mut spent.audit_log,
                ["v2", "auth", "token"] | ["v2", "users", "login"] => &mut spent.logins,
                ["v2", "namespaces", _, "repositories"] | ["v2", "repositories", _] => {
                    &mut spent.repository_pages
                }
                ["v2", "namespaces", _, "repositories", _] | ["v2", "repositories", _, _] => {
                    &mut spent.details
                }
                ["v2", "namespaces", _, "repositories", _, "tags"]
                | ["v2", "repositories", _, _, "tags"] => &mut spent.tag_pages,
                _ => &mut spent.other,
            };
            *count += 1;
            spent.throttled += usize::from(r.status == 429);
        }
        spent
    }

    /// Requests other than the audit log's: logins and reads of repositories and tags.
    fn reads(&self) -> usize {
        self.logins + self.repository_pages + self.details + self.tag_pages + self.other
    }

    fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (n, what) in [
            (self.details, "repository"),
            (self.tag_pages, "tag pages"),
            (self.repository_pages, "repository pages"),
            (self.logins, "logins"),
            (self.other, "other"),
            (self.audit_log, "audit log"),
            (self.throttled, "answered 429"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if parts.is_empty() {
            "none".into()
        } else {
            parts.join(", ")
        }
    }
}

/// One change and when it was seen.
struct Change {
    kind: Kind,
    /// Seconds from just before the change at the Hub to the end of the first read of
    /// `/metrics` that showed the counter moved; `None`: not within the setup's patience.
    latency: Option<f64>,
    /// The Hub requests in that time.
    spent: Spent,
}

/// A `refresh finished` line, as the exporter logs it.
struct Refresh {
    requests: f64,
    /// Reading plus rendering, in seconds: from its start to its publication.
    seconds: f64,
}

impl Refresh {
    fn from_line(v: &serde_json::Value) -> Refresh {
        let f = |field: &str| v[field].as_f64().unwrap_or(f64::NAN);
        Refresh {
            requests: f("requests"),
            seconds: f("duration_seconds") + f("render_seconds"),
        }
    }

    /// The `refresh finished` lines `exporter` logged since its lines were last read, in
    /// order; its other lines are read and dropped.
    fn newly_logged(exporter: &Exporter) -> impl Iterator<Item = Refresh> + '_ {
        exporter
            .lines
            .try_iter()
            .filter(|v| v["message"] == "refresh finished")
            .map(|v| Refresh::from_line(&v))
    }
}

/// What one setup measured.
struct Outcome {
    changes: Vec<Change>,
    /// Every request after the first refresh, to the end of the setup.
    spent: Spent,
    /// From the end of the first refresh to the end of the setup.
    minutes: f64,
    /// The scheduled refreshes after the first.
    refreshes: Vec<Refresh>,
}

/// The signals benchmark: see `--signals`.
pub(crate) async fn signals(b: &Bench, hub: &SimHub, hub_url: &str) {
    hub.set_rate_limit(HUB_QUOTA, Duration::from_secs(60));
    hub.add_account(ACCOUNT, SECRET, &[NAMESPACE]);
    hub.set_actor("ci-bot");
    let dir = std::env::temp_dir();
    let password = dir.join(format!("dockerhub-bench-password-{}", std::process::id()));
    let token = dir.join(format!("dockerhub-bench-webhook-{}", std::process::id()));
    std::fs::write(&password, SECRET).expect("the password file is written");
    std::fs::write(&token, WEBHOOK_TOKEN).expect("the token file is written");
    let token_arg = token.to_str().expect("UTF-8 path").to_string();
    let seed: u64 = rand::random();
    let mut rng = StdRng::seed_from_u64(seed);
    let mut repos = hub.repository_names(NAMESPACE);
    repos.shuffle(&mut rng);
    let mut repos = repos.into_iter().cycle();
    let interval = |d: Duration| format!("{}s", d.as_secs());
    println!(
        "# the simulated Hub allows {HUB_QUOTA} requests a minute; /metrics read every {} ms; {CHANGES} changes per setup, each to another repository; seed {seed}",
        POLL.as_millis()
    );
    let setups = [
        Setup {
            name: "webhook",
            flags: vec![
                "--refresh.interval".into(),
                interval(DEFAULT_REFRESH),
                "--web.webhook-token-file".into(),
                token_arg.clone(),
            ],
            signals: true,
            webhook: true,
            deletions: false,
            gap: (Duration::from_secs(2), Duration::from_secs(10)),
            patience: Duration::from_secs(60),
        },
        Setup {
            name: "audit log",
            flags: vec![
                "--refresh.interval".into(),
                interval(DEFAULT_REFRESH),
                "--hub.audit-log.interval".into(),
                interval(AUDIT_INTERVAL),
            ],
            signals: true,
            webhook: false,
            deletions: true,
            gap: (Duration::ZERO, AUDIT_INTERVAL),
            patience: AUDIT_INTERVAL * 3,
        },
        Setup {
            name: "neither",
            flags: vec!["--refresh.interval".into(), interval(SHORT_REFRESH)],
            signals: false,
            webhook: false,
            deletions: true,
            gap: (Duration::ZERO, SHORT_REFRESH),
            patience: SHORT_REFRESH * 4,
        },
    ];
    let mut outcomes = Vec::new();
    for (n, setup) in setups.iter().enumerate() {
        let password_arg = password.to_str().expect("UTF-8 path");
        let outcome = measure(
            b,
            hub,
            hub_url,
            setup,
            n,
            password_arg,
            &mut rng,
            &mut repos,
        )
        .await;
        outcomes.push(outcome);
    }
    summary(&setups, &outcomes);
    let _ = std::fs::remove_file(&password);
    let _ = std::fs::remove_file(&token);
}

/// Runs one setup: an exporter, its first refresh, then the changes one by one.
#[allow(clippy::too_many_arguments)] // the bench's state, passed down rather than bundled
async fn measure(
    b: &Bench,
    hub: &SimHub,
    hub_url: &str,
    setup: &Setup,
    number: usize,
    password: &str,
    rng: &mut StdRng,
    repos: &mut impl Iterator<Item = String>,
) -> Outcome {
    let mut args = vec!["--hub.username", ACCOUNT, "--hub.password-file", password];
    args.extend(setup.flags.iter().map(String::as_str));
    println!();
    println!(
        "## {}: {}",
        setup.name,
        setup
            .flags
            .join(" ")
            .replace(&*std::env::temp_dir().to_string_lossy(), "$TMP")
    );
    let exporter = Exporter::start(hub_url, b, &args);
    let first = Refresh::from_line(&exporter.wait_for("refresh finished"));
    println!(
        "first refresh          {} requests, {:.2} s to publication; load average {}",
        first.requests,
        first.seconds,
        load()
    );
    let base = exporter.url.trim_end_matches("/metrics").to_string();
    if setup.webhook {
        hub.set_webhook(Some(&format!("{base}/hooks/dockerhub/{WEBHOOK_TOKEN}")));
    }
    let client = scraper(b);
    let before = fetch(&client, &exporter.url).await.unwrap_or_default();
    let started = Instant::now();
    let mut refreshes = Vec::new();
    let mut changes = Vec::new();
    for i in 0..CHANGES {
        let (lo, hi) = setup.gap;
        let gap = Duration::from_secs_f64(rng.random_range(lo.as_secs_f64()..hi.as_secs_f64()));
        tokio::time::sleep(gap).await;
        let repo = repos.next().expect("a namespace with repositories");
        let kind = if setup.deletions && i % 2 == 1 {
            Kind::Delete
        } else {
            Kind::Push
        };
        let baseline = counter(&client, &exporter.url, kind.family(), &repo)
            .await
            .unwrap_or(0.0);
        // Taken before the change: the webhook it sends may start the re-read before the call
        // returns, and this task may not run again until after the re-read's first request.
        let changed = Instant::now();
        let tag = match kind {
            Kind::Push => {
                let name = format!("2.{number}.{i}");
                let mut spec = TagSpec::new(&name).size(60_000_000);
                for (os, arch, variant) in PLATFORMS.iter().take(b.platforms as usize) {
                    spec = spec.platform(os, arch, *variant);
                }
                hub.push_tag(NAMESPACE, &repo, spec);
                name
            }
            Kind::Delete => {
                let name = hub
                    .tag_names(NAMESPACE, &repo)
                    .into_iter()
                    .next()
                    .expect("a repository with tags");
                hub.delete_tag(NAMESPACE, &repo, &name);
                name
            }
        };
        let mut ticker = tokio::time::interval(POLL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let seen = loop {
            ticker.tick().await;
            let value = counter(&client, &exporter.url, kind.family(), &repo).await;
            let now = Instant::now();
            if value.is_some_and(|v| v > baseline) {
                break Some(now);
            }
            if now - changed > setup.patience {
                break None;
            }
        };
        let end = seen.unwrap_or_else(Instant::now);
        let spent = Spent::between(&hub.requests(), changed, end);
        let latency = seen.map(|t| (t - changed).as_secs_f64());
        refreshes.extend(Refresh::newly_logged(&exporter));
        println!(
            "change {:>2}  {:<6} {repo}:{tag:<8} {}  requests: {}{}",
            i + 1,
            kind.as_str(),
            latency.map_or("not seen".into(), |l| format!("{l:>7.3} s")),
            spent.describe(),
            if setup.signals {
                ""
            } else {
                " (a scheduled refresh's)"
            }
        );
        changes.push(Change {
            kind,
            latency,
            spent,
        });
    }
    let ended = Instant::now();
    // The line of the refresh that published the last change may still be on its way.
    tokio::time::sleep(Duration::from_secs(1)).await;
    refreshes.extend(Refresh::newly_logged(&exporter));
    let after = fetch(&client, &exporter.url).await.unwrap_or_default();
    hub.set_webhook(None);
    let spent = Spent::between(&hub.requests(), started, ended);
    let minutes = (ended - started).as_secs_f64() / 60.0;
    println!(
        "after the first refresh  {:.1} min, {} requests: {}; load average {}",
        minutes,
        spent.reads() + spent.audit_log,
        spent.describe(),
        load()
    );
    let in_refreshes = refreshes.iter().fold(0.0, |sum, r| sum + r.requests);
    println!(
        "scheduled refreshes    {} after the first, {in_refreshes} requests by their log lines{}",
        refreshes.len(),
        if refreshes.is_empty() {
            String::new()
        } else {
            format!(
                ", {:.2} s each to publication on average",
                mean(refreshes.iter().map(|r| r.seconds))
            )
        }
    );
    for family in [
        "dockerhub_api_requests_total",
        "dockerhub_webhook_requests_total",
        "dockerhub_repository_rereads_total",
    ] {
        let moved = deltas(&before, &after, family);
        if !moved.is_empty() {
            println!("exporter: {family} since the first refresh: {moved}");
        }
    }
    exporter.stop();
    Outcome {
        changes,
        spent,
        minutes,
        refreshes,
    }
}

/// The figures of every setup side by side, with those of the setup without signals at the
/// default interval derived from the measured one.
fn summary(setups: &[Setup], outcomes: &[Outcome]) {
    println!();
    println!(
        "## summary: seconds from the change at the Hub to the counter moving on /metrics; Hub requests per change beyond scheduled refreshes"
    );
    for (setup, outcome) in setups.iter().zip(outcomes) {
        for kind in [None, Some(Kind::Push), Some(Kind::Delete)] {
            let of_kind: Vec<&Change> = outcome
                .changes
                .iter()
                .filter(|c| kind.is_none_or(|k| c.kind == k))
                .collect();
            if of_kind.is_empty() || (kind.is_some() && !setup.deletions) {
                continue;
            }
            let latencies: Vec<f64> = of_kind.iter().filter_map(|c| c.latency).collect();
            // Without a signal, every request is a scheduled refresh's: none is the change's.
            let requests: Vec<f64> = of_kind
                .iter()
                .map(|c| {
                    if setup.signals {
                        c.spent.reads() as f64
                    } else {
                        0.0
                    }
                })
                .collect();
            let label = format!(
                "{} ({})",
                setup.name,
                kind.map_or(if setup.deletions { "all" } else { "push" }, Kind::as_str)
            );
            println!(
                "{label:<22} {} of {} seen; latency min {} median {} max {}; requests per change min {} median {} max {}",
                latencies.len(),
                of_kind.len(),
                figure(&latencies, 0.0, 3),
                figure(&latencies, 0.5, 3),
                figure(&latencies, 1.0, 3),
                figure(&requests, 0.0, 0),
                figure(&requests, 0.5, 1),
                figure(&requests, 1.0, 0),
            );
        }
        if outcome.spent.audit_log > 0 {
            println!(
                "{:<22} audit log read {} times in {:.1} min ({:.2} a minute), {:.1} requests per change with the re-reads",
                "",
                outcome.spent.audit_log,
                outcome.minutes,
                outcome.spent.audit_log as f64 / outcome.minutes,
                (outcome.spent.reads() + outcome.spent.audit_log) as f64
                    / outcome.changes.len() as f64
            );
        }
    }
    let Some(neither) = outcomes.last().filter(|o| !o.refreshes.is_empty()) else {
        return;
    };
    let d = mean(neither.refreshes.iter().map(|r| r.seconds));
    let per_refresh = mean(neither.refreshes.iter().map(|r| r.requests));
    let measured = mean(neither.changes.iter().filter_map(|c| c.latency));
    println!(
        "neither, measured at {}s: a refresh takes D = {d:.2} s to publication on average, {per_refresh:.0} requests each, whether anything changed or not; mean latency measured {measured:.1} s",
        SHORT_REFRESH.as_secs()
    );
    // A change waits for the next listing of its repository, U(0, interval) away, then for
    // the rest of that refresh, D - p, where p is when in the refresh that listing came.
    // Evenly spread listings make D - p uniform on (0, D): the sum of the two uniforms is
    // symmetric, so its median is its mean, interval / 2 + D / 2.
    println!(
        "  expected latency = U(0, interval) + D - p, p = when in the refresh the repository's tags are read (0..D)"
    );
    for (interval, note) in [
        (SHORT_REFRESH, "measured above"),
        (DEFAULT_REFRESH, "the default 15m: derived, not measured"),
    ] {
        let t = interval.as_secs_f64();
        println!(
            "  at {t:.0}s ({note}): min 0 s, median {:.1}..{:.1} s ({:.1} s = {:.1} min if listings are spread evenly), max {:.1} s ({:.1} min); {:.0} requests an hour",
            t / 2.0,
            t / 2.0 + d,
            (t + d) / 2.0,
            (t + d) / 120.0,
            t + d,
            (t + d) / 60.0,
            per_refresh * 3600.0 / t
        );
    }
}

/// The value at quantile `q` of `values` (0: min, 0.5: median, 1: max), with `decimals`;
/// `-` for none. The median of an even count is the mean of the middle two.
fn figure(values: &[f64], q: f64, decimals: usize) -> String {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len();
    let v = match n {
        0 => return "-".into(),
        _ if q == 0.0 => sorted[0],
        _ if q == 1.0 => sorted[n - 1],
        _ if n.is_multiple_of(2) => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
        _ => sorted[n / 2],
    };
    // A median between two whole numbers keeps its half; whole numbers print as such.
    let decimals = if v.fract() == 0.0 { 0 } else { decimals };
    format!("{v:.decimals$}")
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    sum / n as f64
}

/// The machine's load averages over 1, 5 and 15 minutes: other work on it shows here.
fn load() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The body of `/metrics`, read plainly, or `None` if the read failed.
async fn fetch(client: &reqwest::Client, url: &str) -> Option<String> {
    let response = client
        .get(url)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .ok()?;
    response.text().await.ok()
}

/// The samples of `family` in an exposition; other lines are not parsed.
fn samples(text: &str, family: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(family)
                .is_some_and(|rest| rest.starts_with(['{', ' ']))
        })
        .filter_map(|l| parse_sample(l).ok())
        .collect()
}

/// The value of `family` for repository `repo` of the namespace, if served.
async fn counter(client: &reqwest::Client, url: &str, family: &str, repo: &str) -> Option<f64> {
    let text = fetch(client, url).await?;
    samples(&text, family)
        .into_iter()
        .find(|s| s.has_labels(&[("hub_namespace", NAMESPACE), ("repository", repo)]))
        .map(|s| s.value)
}

/// How each sample of `family` moved from `before` to `after`, as `labels +n`, for those
/// that moved.
fn deltas(before: &str, after: &str, family: &str) -> String {
    let was = samples(before, family);
    samples(after, family)
        .into_iter()
        .filter_map(|s| {
            let old = was
                .iter()
                .find(|w| w.labels == s.labels)
                .map_or(0.0, |w| w.value);
            (s.value != old).then(|| {
                let labels: Vec<String> =
                    s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                format!("{{{}}} +{}", labels.join(","), s.value - old)
            })
        })
        .collect::<Vec<_>>()
        .join("; ")
}
