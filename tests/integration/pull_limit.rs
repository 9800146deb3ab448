//! The registry's pull quota: checked anonymously and as the account against the simulated
//! registry (its token service and a `HEAD` of a manifest), served as `dockerhub_pull_limit*`,
//! counted under the `registry_*` endpoints, kept when a check fails, never a `GET` of a
//! manifest, and the token never anywhere but the registry. The headers as they really come:
//! a window without a count, the `x-` names, both at once, and the window of each answer.

use std::time::{SystemTime, UNIX_EPOCH};

use simhub::{PullQuota, Repo, RequestRecord, RunningHub, SimHub};

use crate::support::*;

const SECRET: &str = "dckr_pat_pull";

/// acme/api with two tags, and the account acme-bot that sees acme.
fn hub() -> SimHub {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(2));
    hub.add_account("acme-bot", SECRET, &["acme"]);
    hub
}

/// Arguments that point the exporter at the simulated Hub and its registry, then `extra`.
fn args(running: &RunningHub, extra: &[&str]) -> Vec<String> {
    let registry = running.registry_url();
    let auth = running.registry_auth_url();
    let mut flags = vec!["--registry.url", &registry, "--registry.auth-url", &auth];
    flags.extend_from_slice(extra);
    hub_args(&running.url(), "acme", &flags)
}

/// The account's flags.
const AS_ACCOUNT: [&str; 2] = ["--hub.username", "acme-bot"];

fn pull_value(metrics: &str, name: &str, account: &str) -> Option<f64> {
    value(metrics, name, &[("account", account)])
}

fn last_check(metrics: &str, account: &str) -> Option<f64> {
    pull_value(
        metrics,
        "dockerhub_pull_limit_last_check_success_timestamp_seconds",
        account,
    )
}

fn requests_counted(metrics: &str, endpoint: &str, code: &str) -> f64 {
    value(
        metrics,
        "dockerhub_api_requests_total",
        &[("endpoint", endpoint), ("code", code)],
    )
    .unwrap_or(0.0)
}

fn now_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn is_manifest(r: &RequestRecord) -> bool {
    r.path.starts_with("/registry/") && r.path.contains("/manifests/")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_anonymous_and_the_account_quota_are_served_as_the_registry_reports_them() {
    let hub = hub();
    hub.set_pull_quota(None, PullQuota::limited(100, 76));
    hub.set_pull_quota(
        Some("acme-bot"),
        PullQuota::Limited {
            limit: 200,
            remaining: 150,
            window_seconds: 3600,
        },
    );
    let running = hub.start().await.unwrap();
    let started = now_seconds().floor();
    let exporter = Exporter::start(&args(&running, &AS_ACCOUNT), Some(SECRET)).await;
    let m = exporter
        .wait_for(|m| last_check(m, "anonymous").is_some() && last_check(m, "acme-bot").is_some())
        .await;
    for (account, limit, remaining, window) in [
        ("anonymous", 100.0, 76.0, simhub::WINDOW_SECONDS as f64),
        ("acme-bot", 200.0, 150.0, 3_600.0),
    ] {
        let got = |name| pull_value(&m, name, account);
        assert_eq!(got("dockerhub_pull_limit"), Some(limit), "{account}");
        assert_eq!(
            got("dockerhub_pull_limit_remaining"),
            Some(remaining),
            "{account}"
        );
        assert_eq!(
            got("dockerhub_pull_limit_window_seconds"),
            Some(window),
            "{account}"
        );
        assert_eq!(
            got("dockerhub_pull_limit_unlimited"),
            Some(0.0),
            "{account}"
        );
        let at = last_check(&m, account).unwrap();
        assert!(
            at >= started && at <= now_seconds(),
            "{account} checked at {at}"
        );
    }
    let accounts: Vec<String> = series(&m, "dockerhub_pull_limit")
        .iter()
        .filter_map(|s| s.label("account").map(str::to_string))
        .collect();
    assert_eq!(accounts.len(), 2, "one series per account: {accounts:?}");
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_without_a_limit_is_unlimited_and_has_no_limit_series() {
    let hub = hub();
    hub.set_pull_quota(Some("acme-bot"), PullQuota::Unlimited);
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&args(&running, &AS_ACCOUNT), Some(SECRET)).await;
    let m = exporter
        .wait_for(|m| last_check(m, "anonymous").is_some() && last_check(m, "acme-bot").is_some())
        .await;
    assert_eq!(
        pull_value(&m, "dockerhub_pull_limit_unlimited", "acme-bot"),
        Some(1.0)
    );
    for name in [
        "dockerhub_pull_limit",
        "dockerhub_pull_limit_remaining",
        "dockerhub_pull_limit_window_seconds",
    ] {
        assert_eq!(pull_value(&m, name, "acme-bot"), None, "{name}");
        assert!(
            pull_value(&m, name, "anonymous").is_some(),
            "{name} of the limited anonymous quota"
        );
    }
    assert_eq!(
        pull_value(&m, "dockerhub_pull_limit_unlimited", "anonymous"),
        Some(0.0)
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_check_keeps_the_last_values_and_their_time_and_is_logged_with_its_kind() {
    let hub = hub();
    hub.set_pull_quota(None, PullQuota::limited(100, 76));
    let running = hub.start().await.unwrap();
    let process = Process::start(&args(&running, &["--pull-limit.interval", "100ms"]), &[]).await;
    let metrics = || async { get(&format!("{}/metrics", process.url)).await.1 };
    eventually(|| async { last_check(&metrics().await, "anonymous").map(|_| ()) }).await;

    // The registry now sends a count that is no number.
    hub.set_pull_quota(
        None,
        PullQuota::Headers {
            limit: Some("lots;w=21600".into()),
            remaining: Some("76;w=21600".into()),
        },
    );
    let failures = || {
        process
            .log()
            .lines()
            .filter(|l| l.contains("pull limit check failed"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // Checks run one after the other: once one has failed, none that began before the change
    // is still to report, so the values and their time are final.
    eventually(|| async { (!failures().is_empty()).then_some(()) }).await;
    let before = metrics().await;
    let kept_at = last_check(&before, "anonymous").expect("the last success stays");
    let seen = failures().len();
    eventually(|| async { (failures().len() >= seen + 2).then_some(()) }).await;
    let after = metrics().await;
    assert_eq!(last_check(&after, "anonymous"), Some(kept_at));
    assert_eq!(
        pull_value(&after, "dockerhub_pull_limit", "anonymous"),
        Some(100.0)
    );
    assert_eq!(
        pull_value(&after, "dockerhub_pull_limit_remaining", "anonymous"),
        Some(76.0)
    );
    assert_eq!(
        pull_value(&after, "dockerhub_pull_limit_window_seconds", "anonymous"),
        Some(simhub::WINDOW_SECONDS as f64)
    );
    assert_eq!(
        pull_value(&after, "dockerhub_pull_limit_unlimited", "anonymous"),
        Some(0.0)
    );
    let line = failures().remove(0);
    assert!(
        line.contains("level=warn")
            && line.contains("account=anonymous")
            && line.contains("kind=decode")
            && line.contains("ratelimit-limit"),
        "{line}"
    );
    // The token service failing is logged too, and keeps the values as well.
    hub.set_pull_quota(None, PullQuota::TokenFails(500));
    eventually(|| async {
        failures()
            .iter()
            .any(|l| l.contains("kind=server"))
            .then_some(())
    })
    .await;
    let m = metrics().await;
    assert_eq!(last_check(&m, "anonymous"), Some(kept_at));
    assert_eq!(
        pull_value(&m, "dockerhub_pull_limit_remaining", "anonymous"),
        Some(76.0)
    );
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_account_is_logged_without_its_secret_and_gets_no_series() {
    let secret = "dckr_pat_R3fusedPullSecret";
    let hub = hub();
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &args(&running, &AS_ACCOUNT),
        &[("DOCKERHUB_PASSWORD", secret)],
    )
    .await;
    let line = eventually(|| async {
        process
            .log()
            .lines()
            .find(|l| l.contains("pull limit check failed") && l.contains("account=acme-bot"))
            .map(str::to_string)
    })
    .await;
    assert!(line.contains("kind=auth"), "{line}");
    let m = eventually(|| async {
        let m = get(&format!("{}/metrics", process.url)).await.1;
        last_check(&m, "anonymous").map(|_| m)
    })
    .await;
    assert_eq!(last_check(&m, "acme-bot"), None);
    assert_eq!(
        pull_value(&m, "dockerhub_pull_limit_unlimited", "acme-bot"),
        None
    );
    let basic = hub
        .requests()
        .into_iter()
        .find(|r| r.path == "/token" && r.authorization.is_some())
        .and_then(|r| r.authorization)
        .expect("the account asked for a token");
    let encoded = basic.strip_prefix("Basic ").expect("basic authentication");
    let log = process.log();
    assert!(!log.contains(secret), "{log}");
    assert!(!log.contains(encoded), "{log}");
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn neither_the_secret_nor_the_registry_tokens_appear_in_trace_logs_or_metrics() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &args(
            &running,
            &["--hub.username", "acme-bot", "--log.level", "trace"],
        ),
        &[("DOCKERHUB_PASSWORD", SECRET)],
    )
    .await;
    let m = eventually(|| async {
        let m = get(&format!("{}/metrics", process.url)).await.1;
        last_check(&m, "acme-bot").map(|_| m)
    })
    .await;
    let log = process.log();
    assert!(log.contains("level=trace") && log.contains("pull limit checked"));
    let mut needles = vec![SECRET.to_string()];
    for r in hub
        .requests()
        .iter()
        .filter(|r| !r.path.starts_with("/v2/"))
    {
        if let Some((_, credential)) = r.authorization.as_deref().and_then(|a| a.split_once(' ')) {
            needles.push(credential.to_string());
        }
    }
    assert!(needles.len() >= 4, "{needles:?}");
    for needle in &needles {
        assert!(!log.contains(needle.as_str()), "the log shows {needle}");
        assert!(!m.contains(needle.as_str()), "the metrics show {needle}");
    }
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_manifest_is_ever_fetched_with_get_so_no_pull_is_spent() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &args(
            &running,
            &[
                "--hub.username",
                "acme-bot",
                "--pull-limit.interval",
                "50ms",
            ],
        ),
        Some(SECRET),
    )
    .await;
    // Several checks of each account.
    exporter
        .wait_for(|m| requests_counted(m, "registry_manifest", "200") >= 6.0)
        .await;
    exporter.stop().await;
    let requests = hub.requests();
    let manifests: Vec<&RequestRecord> = requests.iter().filter(|r| is_manifest(r)).collect();
    assert!(manifests.len() >= 6, "{manifests:?}");
    assert!(
        manifests.iter().all(|r| r.method == "HEAD"),
        "a manifest was fetched: {manifests:?}"
    );
    assert_eq!(hub.pull_quota(None), PullQuota::limited(100, 100));
    assert_eq!(
        hub.pull_quota(Some("acme-bot")),
        PullQuota::limited(200, 200)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_goes_only_to_the_registry_and_the_credentials_only_to_the_token_service() {
    // The registry on a host of its own, as Docker's is.
    let api = hub();
    let registry = hub();
    let api_running = api.start().await.unwrap();
    let registry_running = registry.start().await.unwrap();
    let registry_url = registry_running.registry_url();
    let auth_url = registry_running.registry_auth_url();
    let exporter = Exporter::start(
        &hub_args(
            &api_running.url(),
            "acme",
            &[
                "--hub.username",
                "acme-bot",
                "--registry.url",
                &registry_url,
                "--registry.auth-url",
                &auth_url,
                "--pull-limit.interval",
                "50ms",
            ],
        ),
        Some(SECRET),
    )
    .await;
    exporter
        .wait_for(|m| {
            requests_counted(m, "registry_manifest", "200") >= 4.0
                && value(m, "dockerhub_up", &[]) == Some(1.0)
        })
        .await;
    exporter.stop().await;

    let api_requests = api.requests();
    assert!(
        api_requests.iter().all(|r| r.path.starts_with("/v2/")),
        "the Hub API got a registry request: {api_requests:?}"
    );
    let registry_requests = registry.requests();
    let mut tokens = std::collections::HashSet::new();
    for r in &registry_requests {
        let auth = r.authorization.as_deref();
        match r.path.as_str() {
            "/token" => {
                assert_eq!(r.method, "GET");
                assert!(
                    auth.is_none_or(|a| a.starts_with("Basic ")),
                    "the token service got {auth:?}"
                );
            }
            path if is_manifest(r) => {
                assert!(path.starts_with("/registry/v2/"), "{path}");
                let token = auth
                    .and_then(|a| a.strip_prefix("Bearer "))
                    .expect("the manifest is asked for with a bearer token");
                tokens.insert(token.to_string());
            }
            other => panic!("the registry host got {other}"),
        }
    }
    let basics: Vec<&str> = registry_requests
        .iter()
        .filter_map(|r| r.authorization.as_deref())
        .filter(|a| a.starts_with("Basic "))
        .collect();
    assert!(!basics.is_empty(), "the account asked for its own token");
    assert!(tokens.len() >= 4, "each check asks for a new token");
    for r in &api_requests {
        let auth = r.authorization.as_deref().unwrap_or_default();
        assert!(
            !tokens.iter().any(|t| auth.contains(t.as_str())),
            "a registry token went to the Hub API: {}",
            r.path
        );
        assert!(
            !basics.contains(&auth),
            "the basic credentials went to the Hub API"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_check_counts_a_token_and_a_manifest_request_under_the_registry_endpoints() {
    let hub = hub();
    hub.set_pull_quota(Some("acme-bot"), PullQuota::ManifestFails(503));
    let running = hub.start().await.unwrap();
    // The default interval: one check of each account at start, then none during the test.
    let exporter = Exporter::start(&args(&running, &AS_ACCOUNT), Some(SECRET)).await;
    let m = exporter
        .wait_for(|m| {
            requests_counted(m, "registry_manifest", "200")
                + requests_counted(m, "registry_manifest", "503")
                >= 2.0
                && refreshes(m) >= 1.0
        })
        .await;
    let requests = hub.requests();
    let count =
        |f: &dyn Fn(&RequestRecord) -> bool| requests.iter().filter(|r| f(r)).count() as f64;
    assert_eq!(requests_counted(&m, "registry_token", "200"), 2.0);
    assert_eq!(count(&|r| r.path == "/token"), 2.0);
    assert_eq!(requests_counted(&m, "registry_manifest", "200"), 1.0);
    assert_eq!(requests_counted(&m, "registry_manifest", "503"), 1.0);
    assert_eq!(count(&is_manifest), 2.0);
    // The Hub API's endpoints count the Hub API's requests only.
    let hub_counted: f64 = series(&m, "dockerhub_api_requests_total")
        .iter()
        .filter(|s| {
            !s.label("endpoint")
                .unwrap_or_default()
                .starts_with("registry_")
        })
        .map(|s| s.value)
        .sum();
    assert_eq!(hub_counted, count(&|r| r.path.starts_with("/v2/")));
    assert_eq!(
        value(&m, "dockerhub_api_throttled_total", &[]),
        Some(0.0),
        "registry answers are not the Hub API's throttling"
    );
    // The account's failed check left it without series; the anonymous one has them.
    assert_eq!(last_check(&m, "acme-bot"), None);
    assert!(last_check(&m, "anonymous").is_some());
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interval_of_zero_sends_nothing_to_the_registry() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(
        &args(
            &running,
            &[
                "--hub.username",
                "acme-bot",
                "--pull-limit.interval",
                "0",
                "--refresh.interval",
                "50ms",
            ],
        ),
        Some(SECRET),
    )
    .await;
    // The checks would start with the first refresh; three refreshes later, none has.
    let m = exporter.wait_for_refreshes(3).await;
    exporter.stop().await;
    let registry: Vec<RequestRecord> = hub
        .requests()
        .into_iter()
        .filter(|r| !r.path.starts_with("/v2/"))
        .collect();
    assert!(registry.is_empty(), "{registry:?}");
    assert!(!m.contains("dockerhub_pull_limit"), "{m}");
    assert!(!m.contains("endpoint=\"registry_"), "{m}");
}

/// The exporter binary checking the anonymous quota every 100 ms.
async fn checking_often(running: &RunningHub) -> Process {
    Process::start(&args(running, &["--pull-limit.interval", "100ms"]), &[]).await
}

/// What `process` serves now.
async fn served(process: &Process) -> String {
    get(&format!("{}/metrics", process.url)).await.1
}

/// Stops `process`, whose checks must all have succeeded.
async fn stop_without_failed_checks(process: Process) {
    let log = process.log();
    assert!(!log.contains("pull limit check failed"), "{log}");
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_without_a_count_is_a_successful_check_with_a_window_and_no_count_series() {
    let hub = hub();
    // The registry's answer as captured (docker/hub-feedback#2081).
    hub.set_pull_quota(
        None,
        PullQuota::Headers {
            limit: Some(";w=21600".into()),
            remaining: Some(";w=21600".into()),
        },
    );
    let running = hub.start().await.unwrap();
    let process = checking_often(&running).await;
    let m = eventually(|| async {
        let m = served(&process).await;
        last_check(&m, "anonymous").map(|_| m)
    })
    .await;
    assert_eq!(
        pull_value(&m, "dockerhub_pull_limit_window_seconds", "anonymous"),
        Some(21_600.0)
    );
    assert_eq!(
        pull_value(&m, "dockerhub_pull_limit_unlimited", "anonymous"),
        Some(0.0)
    );
    for absent in ["dockerhub_pull_limit", "dockerhub_pull_limit_remaining"] {
        assert_eq!(pull_value(&m, absent, "anonymous"), None, "{absent}");
    }
    // Checks go on succeeding, and none is logged as a failure.
    let first = last_check(&m, "anonymous").unwrap();
    eventually(|| async {
        (last_check(&served(&process).await, "anonymous")? > first).then_some(())
    })
    .await;
    stop_without_failed_checks(process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_x_names_alone_are_read_and_with_the_plain_ones_count_once() {
    let hub = hub();
    hub.set_pull_quota(
        None,
        PullQuota::Raw(vec![
            ("x-ratelimit-limit", "100;w=3600".into()),
            ("x-ratelimit-remaining", "42;w=3600".into()),
        ]),
    );
    let running = hub.start().await.unwrap();
    let process = checking_often(&running).await;
    let remaining = |m: &str| pull_value(m, "dockerhub_pull_limit_remaining", "anonymous");
    let m = eventually(|| async {
        let m = served(&process).await;
        remaining(&m).map(|_| m)
    })
    .await;
    assert_eq!(remaining(&m), Some(42.0));
    assert_eq!(
        pull_value(&m, "dockerhub_pull_limit", "anonymous"),
        Some(100.0)
    );
    // Both names, as live answers carry them: the plain ones are read, once.
    hub.set_pull_quota(
        None,
        PullQuota::Raw(vec![
            ("ratelimit-limit", "100;w=3600".into()),
            ("ratelimit-remaining", "41;w=3600".into()),
            ("x-ratelimit-limit", "100;w=3600".into()),
            ("x-ratelimit-remaining", "41;w=3600".into()),
        ]),
    );
    eventually(|| async { (remaining(&served(&process).await) == Some(41.0)).then_some(()) }).await;
    stop_without_failed_checks(process).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_window_is_read_from_every_answer() {
    let hub = hub();
    // Live answers of 2026 say an hour...
    hub.set_pull_quota(None, PullQuota::limited(100, 90));
    let running = hub.start().await.unwrap();
    let process = checking_often(&running).await;
    let window = || async {
        pull_value(
            &served(&process).await,
            "dockerhub_pull_limit_window_seconds",
            "anonymous",
        )
    };
    eventually(|| async { (window().await == Some(3_600.0)).then_some(()) }).await;
    // ...the documentation six hours: whichever the registry says is served.
    hub.set_pull_quota(
        None,
        PullQuota::Limited {
            limit: 100,
            remaining: 90,
            window_seconds: 21_600,
        },
    );
    eventually(|| async { (window().await == Some(21_600.0)).then_some(()) }).await;
    assert!(process.terminate().await.success());
}
