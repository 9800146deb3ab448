//! The binary as users run it: flags, exit codes, logs, signals, and the exposition checked
//! by promtool.

use std::process::Stdio;
use std::time::Duration;

use simhub::{Fault, FaultKind, Repo, SimHub};

use crate::support::*;

#[test]
fn help_names_every_flag_with_its_environment_variable_and_default() {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .env("DOCKERHUB_USERNAME", "someone-secretive")
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--hub.url",
        "--hub.namespace",
        "--hub.username",
        "--hub.password-file",
        "--hub.rate-limit",
        "--hub.burst",
        "--hub.concurrency",
        "--hub.timeout",
        "--refresh.interval",
        "--web.listen-address",
        "--web.telemetry-path",
        "--log.level",
        "--log.format",
        "--registry.url",
        "--registry.auth-url",
        "--pull-limit.interval",
        "--version",
    ] {
        assert!(help.contains(flag), "--help lacks {flag}");
    }
    for env in [
        "DOCKERHUB_URL",
        "DOCKERHUB_NAMESPACES",
        "DOCKERHUB_USERNAME",
        "DOCKERHUB_PASSWORD",
        "DOCKERHUB_RATE_LIMIT",
    ] {
        assert!(help.contains(env), "--help lacks {env}");
    }
    for default in [
        "https://hub.docker.com",
        "https://registry-1.docker.io",
        "https://auth.docker.io/token",
        "150",
        "30s",
        "15m",
        ":9721",
        "/metrics",
        "logfmt",
    ] {
        assert!(help.contains(default), "--help lacks the default {default}");
    }
    assert!(
        !help.contains("someone-secretive"),
        "--help shows environment values"
    );
}

#[test]
fn version_prints_the_version() {
    let out = std::process::Command::new(BIN)
        .arg("--version")
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    let first = format!(
        "dockerhub_exporter, version {} (revision: ",
        env!("CARGO_PKG_VERSION")
    );
    assert!(text.starts_with(&first), "{text}");
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    assert!(field("rustc version:").starts_with("rustc 1."), "{text}");
    let platform = field("platform:");
    assert!(
        platform.contains("linux") || platform.contains("darwin"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_info_carries_what_version_prints() {
    let out = std::process::Command::new(BIN)
        .arg("--version")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let revision = text
        .split("(revision: ")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .unwrap()
        .to_string();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap()
    };
    let hub = simhub::SimHub::new();
    let running = hub.start().await.unwrap();
    let process = Process::start(&hub_args(&running.url(), "acme", &[]), &[]).await;
    let (_, m) = get(&format!("{}/metrics", process.url)).await;
    assert_eq!(
        value(
            &m,
            "dockerhub_exporter_build_info",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("revision", &revision),
                ("rustc_version", &field("rustc version:")),
                ("target", &field("platform:")),
            ]
        ),
        Some(1.0),
        "{m}"
    );
    assert!(process.terminate().await.success());
}

#[test]
fn a_bad_value_exits_2_naming_the_flag() {
    for (args, flag) in [
        (
            &["--hub.namespace", "x", "--hub.timeout", "fast"][..],
            "--hub.timeout",
        ),
        (
            &["--hub.namespace", "x", "--hub.rate-limit", "0"][..],
            "--hub.rate-limit",
        ),
        (
            &["--hub.namespace", "x", "--hub.url", "not a url"][..],
            "--hub.url",
        ),
        (
            &["--hub.namespace", "x", "--no-such-flag"][..],
            "--no-such-flag",
        ),
        (&[][..], "--hub.namespace"),
    ] {
        let out = std::process::Command::new(BIN)
            .args(args)
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(flag), "{args:?}: {err}");
    }
}

#[test]
fn a_state_file_place_that_cannot_hold_it_exits_2_with_the_reason() {
    let dir = std::env::temp_dir().join(format!("dhx-state-place-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("a-directory")).unwrap();
    for (path, says) in [
        (dir.join("a-directory"), "directory"),
        (dir.join("missing/state.json"), "does not exist"),
    ] {
        let out = std::process::Command::new(BIN)
            .args([
                "--hub.namespace",
                "x",
                "--state.file",
                path.to_str().unwrap(),
            ])
            .env_clear()
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{path:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("--state.file") && err.contains(says), "{err}");
    }
    assert!(dir.join("a-directory").is_dir(), "nothing was moved");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_that_cannot_be_written_later_is_logged_and_the_inventory_goes_on() {
    let dir = std::env::temp_dir().join(format!("dhx-state-later-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let state = dir.join("state.json");
    let hub = fixtures::api_and_web();
    let running = hub.start().await.unwrap();
    let args = hub_args(
        &running.url(),
        "acme",
        &[
            "--refresh.interval",
            "200ms",
            "--state.file",
            state.to_str().unwrap(),
        ],
    );
    let process = Process::start(&args, &[]).await;
    process.metrics_after_refreshes(1.0).await;
    // The file's place becomes a directory while the exporter runs.
    eventually(|| async { state.is_file().then_some(()) }).await;
    std::fs::remove_file(&state).unwrap();
    std::fs::create_dir(&state).unwrap();
    let log_says = || process.log().contains("writing the state file failed");
    eventually(|| async { log_says().then_some(()) }).await;
    hub.push_tag("acme", "api", simhub::TagSpec::new("after"));
    let m = eventually(|| async {
        let (_, m) = get(&format!("{}/metrics", process.url)).await;
        served_tags(&m, "acme", "api")
            .contains(&"after".to_string())
            .then_some(m)
    })
    .await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert!(state.is_dir(), "the directory was left alone");
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_that_echoes_the_secret_does_not_put_it_in_the_log() {
    let secret = "dckr_pat_Ech0edBackValue";
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(1));
    let echo = format!(
        r#"{{"detail":"invalid credentials: identifier=acme-bot secret={secret} {}"}}"#,
        "padding ".repeat(100)
    );
    hub.add_fault(Fault::new("/v2/auth/token", FaultKind::Answer(401, echo)));
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_args(&running.url(), "acme", &["--hub.username", "acme-bot"]),
        &[("DOCKERHUB_PASSWORD", secret)],
    )
    .await;
    process.metrics_after_refreshes(1.0).await;
    let line = eventually(|| async {
        process
            .log()
            .lines()
            .find(|l| l.contains("authentication failed"))
            .map(str::to_string)
    })
    .await;
    assert!(line.contains("**redacted**"), "{line}");
    assert!(line.len() < 600, "the Hub's text is cut short: {line}");
    assert!(!process.log().contains(secret), "{}", process.log());
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_secret_and_tokens_appear_neither_in_trace_logs_nor_in_metrics_nor_in_help() {
    let secret = "dckr_pat_Sup3rS3cretValue";
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").private().with_tags(3));
    hub.add_account("acme-bot", secret, &["acme"]);
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_args(
            &running.url(),
            "acme",
            &["--hub.username", "acme-bot", "--log.level", "trace"],
        ),
        &[("DOCKERHUB_PASSWORD", secret)],
    )
    .await;
    let m = process.metrics_after_refreshes(1.0).await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    let landing = get(&format!("{}/", process.url)).await.1;
    let log = process.log();
    assert!(log.contains("level=trace"), "the log runs at trace level");
    let tokens: Vec<String> = hub
        .requests()
        .iter()
        .filter_map(|r| {
            r.authorization
                .as_deref()?
                .split(' ')
                .nth(1)
                .map(str::to_string)
        })
        .collect();
    assert!(!tokens.is_empty());
    let help = std::process::Command::new(BIN)
        .arg("--help")
        .env("DOCKERHUB_PASSWORD", secret)
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).to_string();
    for needle in std::iter::once(secret.to_string()).chain(tokens) {
        assert!(!log.contains(&needle), "the log shows a secret");
        assert!(!help.contains(&needle), "--help shows a secret");
        assert!(!m.contains(&needle), "the metrics show a secret");
        assert!(
            !landing.contains(&needle),
            "the landing page shows a secret"
        );
    }
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_are_logged_plainly() {
    let hub = SimHub::new();
    hub.add_account("acme-bot", "right", &["acme"]);
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_only(&running.url(), &["--hub.username", "acme-bot"]),
        &[("DOCKERHUB_PASSWORD", "wr0ng-s3cret-value")],
    )
    .await;
    let m = process.metrics_after_refreshes(1.0).await;
    assert_eq!(
        value(&m, "dockerhub_refreshes_total", &[("result", "failure")]),
        Some(1.0)
    );
    let log = process.log();
    assert!(
        log.contains("authentication failed")
            && log.contains("Incorrect authentication credentials"),
        "{log}"
    );
    assert!(
        !log.contains("wr0ng-s3cret-value"),
        "the secret is not logged"
    );
    process.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_empty_namespace_gets_a_warning_naming_it() {
    let hub = SimHub::new();
    let running = hub.start().await.unwrap();
    let process = Process::start(&hub_args(&running.url(), "acmee", &[]), &[]).await;
    let m = process.metrics_after_refreshes(1.0).await;
    assert_eq!(
        value(&m, "dockerhub_repositories", &[("hub_namespace", "acmee")]),
        Some(0.0)
    );
    let log = process.log();
    let warning = log
        .lines()
        .find(|l| l.contains("level=warn") && l.contains("acmee"))
        .expect("a warning");
    assert!(warning.contains("scope"), "{warning}");
    process.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_stops_the_exporter_mid_refresh() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(1));
    hub.set_latency(Duration::from_secs(30));
    let running = hub.start().await.unwrap();
    let process = Process::start(&hub_args(&running.url(), "acme", &[]), &[]).await;
    // The refresh is under way once the Hub has received its first request.
    eventually(|| async { (!hub.requests().is_empty()).then_some(()) }).await;
    let (status, _) = get(&format!("{}/readyz", process.url)).await;
    assert_eq!(status, 503, "not ready before a refresh has finished");
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn promtool_finds_nothing_to_complain_about_in_the_exposition() {
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let hub = SimHub::demo(7);
    let running = hub.start().await.unwrap();
    let process = Process::start(&hub_args(&running.url(), "library,acme", &[]), &[]).await;
    let m = process.metrics_after_refreshes(1.0).await;
    let mut check = std::process::Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    check.stdin.take().unwrap().write_all(m.as_bytes()).unwrap();
    let out = check.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && said.trim().is_empty(),
        "promtool says: {said}"
    );
    process.terminate().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_file_readable_by_others_gets_a_warning() {
    use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(1));
    hub.add_account("acme-bot", "dckr_pat_filed", &["acme"]);
    let running = hub.start().await.unwrap();
    let path = std::env::temp_dir().join(format!("dhx-password-{}", std::process::id()));
    std::fs::write(&path, "dckr_pat_filed\n").unwrap();
    // The file's group: the process's own, as Kubernetes gives a Secret for the pod's
    // fsGroup, or another one (only root may give it one it is not in).
    let own_group = std::fs::metadata(&path).map(|m| m.gid()).unwrap();
    let other_group = own_group.wrapping_add(4242);
    let cases = [
        (0o644, own_group, true),
        (0o600, own_group, false),
        (0o640, own_group, false),
        (0o640, other_group, true),
    ];
    for (mode, group, warned) in cases {
        if std::os::unix::fs::chown(&path, None, Some(group)).is_err() {
            println!("skipped {mode:o} with group {group}: cannot give the file that group");
            continue;
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        let process = Process::start(
            &hub_only(
                &running.url(),
                &[
                    "--hub.username",
                    "acme-bot",
                    "--hub.password-file",
                    path.to_str().unwrap(),
                ],
            ),
            &[],
        )
        .await;
        let m = process.metrics_after_refreshes(1.0).await;
        assert_eq!(
            value(&m, "dockerhub_up", &[]),
            Some(1.0),
            "the file's secret logs in"
        );
        let log = process.log();
        assert_eq!(
            log.contains("readable by other users"),
            warned,
            "{mode:o}: {log}"
        );
        assert!(!log.contains("dckr_pat_filed"));
        assert!(process.terminate().await.success());
    }
    std::fs::remove_file(path).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_listen_address_given_is_served() {
    let hub = simhub::SimHub::new();
    hub.add_repo("acme", simhub::Repo::new("api").with_tags(3));
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_args(
            &running.url(),
            "acme",
            &[
                "--web.listen-address",
                "127.0.0.1:0",
                "--web.listen-address",
                "127.0.0.2:0",
            ],
        ),
        &[],
    )
    .await;
    let log = process.log();
    let addresses: Vec<String> = log
        .split("addresses=")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .expect("the addresses in the start line")
        .split(',')
        .map(str::to_string)
        .collect();
    assert_eq!(addresses.len(), 2, "{log}");
    assert!(addresses[0].starts_with("127.0.0.1:"), "{log}");
    assert!(addresses[1].starts_with("127.0.0.2:"), "{log}");
    for address in &addresses {
        let m = eventually(|| async {
            let (_, m) = get(&format!("http://{address}/metrics")).await;
            value(&m, "dockerhub_repository_tags", &[("repository", "api")]).map(|_| m)
        })
        .await;
        assert_eq!(
            value(&m, "dockerhub_repository_tags", &[("repository", "api")]),
            Some(3.0)
        );
    }
    assert!(process.terminate().await.success());

    // An address that cannot be bound is named, and nothing is served.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let busy = taken.local_addr().unwrap().to_string();
    let out = std::process::Command::new(BIN)
        .args(["--hub.url", &running.url(), "--hub.namespace", "acme"])
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--web.listen-address",
            &busy,
        ])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains(&format!("cannot listen on {busy}")), "{said}");
}
