//! What the Hub said, in the errors and log lines of the binary: a refusal names the Hub's
//! words (from real captured bodies); `authentication failed` is said only of a refused
//! token or login, an anonymous request refused says what it was; the words are cut short,
//! their control characters escaped and the secret masked.

use simhub::{Fault, FaultKind, Repo, SimHub};

use crate::support::*;

/// A 403 with `errinfo` filled in, as the Hub sent it (deepfence/ThreatMapper#465).
const ERRINFO_403: &str =
    include_str!("../fixtures/hub/hub_403_accounts_api_errinfo_populated.json");

/// The Hub's 403 to a token made from a personal access token (docker/hub-feedback#2438).
const TOKEN_403: &str = include_str!("../fixtures/hub/hub_403_pat_token_issued_pretty.json");

const SECRET: &str = "dckr_pat_Re4sonsS3cret";

fn hub() -> SimHub {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(3));
    hub.add_account("acme-bot", SECRET, &["acme"]);
    hub
}

/// The exporter binary reading acme, as the account when `account`.
async fn exporter(running: &simhub::RunningHub, account: bool, extra: &[&str]) -> Process {
    let mut flags = vec!["--refresh.interval", "200ms"];
    if account {
        flags.extend(["--hub.username", "acme-bot"]);
    }
    flags.extend(extra);
    let env: &[(&str, &str)] = if account {
        &[("DOCKERHUB_PASSWORD", SECRET)]
    } else {
        &[]
    };
    Process::start(&hub_args(&running.url(), "acme", &flags), env).await
}

/// The exporter binary reading acme (as the account when `account`) while the Hub answers
/// api's tag listing with `status` and `body`: the Hub, the exporter, and the exporter's
/// first `listings failed` line of `kind`.
async fn refused(
    account: bool,
    status: u16,
    body: &str,
    kind: &str,
) -> (simhub::RunningHub, Process, String) {
    let hub = hub();
    hub.add_fault(Fault::new(
        "/repositories/api/tags",
        FaultKind::Answer(status, body.into()),
    ));
    let running = hub.start().await.unwrap();
    let process = exporter(&running, account, &[]).await;
    let line = failure(&process, kind).await;
    (running, process, line)
}

/// The first `listings failed` line of `kind`, once there is one.
async fn failure(process: &Process, kind: &str) -> String {
    eventually(|| async {
        process
            .log()
            .lines()
            .find(|l| l.contains("listings failed") && l.contains(&format!("kind={kind} ")))
            .map(str::to_string)
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_to_an_anonymous_request_says_what_the_hub_said_and_is_no_authentication_failure() {
    let (_hub, process, line) = refused(false, 403, ERRINFO_403, "forbidden").await;
    assert!(
        line.contains("refused an anonymous request (HTTP 403)")
            && line.contains(
                r#"the Hub said \"GET https://accounts-api.s.us-east-1.aws.dckr.io/v2/user/ returned 403 :\""#
            ),
        "{line}"
    );
    let m = process.metrics_after_refreshes(1.0).await;
    assert!(
        value(
            &m,
            "dockerhub_refresh_errors_total",
            &[("kind", "forbidden")]
        ) >= Some(1.0)
    );
    assert_eq!(
        value(&m, "dockerhub_refresh_errors_total", &[("kind", "auth")]),
        Some(0.0)
    );
    let log = process.log();
    assert!(!log.contains("authentication failed"), "{log}");
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_403_to_a_token_is_a_refused_token_with_the_hubs_reason() {
    let (_hub, process, line) = refused(true, 403, TOKEN_403, "auth").await;
    assert!(
        line.contains("authentication failed")
            && line.contains("HTTP 403")
            && line.contains(r#"the Hub said \"token issued from personal access token\""#),
        "{line}"
    );
    assert!(!process.log().contains(SECRET));
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_named_repository_names_the_hubs_words() {
    let hub = hub();
    let running = hub.start().await.unwrap();
    let process = Process::start(
        &hub_only(&running.url(), &["--hub.repository", "acme/gone"]),
        &[],
    )
    .await;
    let line = failure(&process, "not_found").await;
    assert!(
        line.contains("/v2/namespaces/acme/repositories/gone answered HTTP 404")
            && line.contains(r#"the Hub said \"object not found\""#),
        "{line}"
    );
    assert!(process.terminate().await.success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_the_hub_said_is_cut_short_escaped_and_masked() {
    let hostile = serde_json::json!({
        "message": format!(
            "bad request\nfrom {SECRET}\u{1b}[31m in red\u{7} {}",
            "x".repeat(5_000)
        ),
        "errinfo": {},
    });
    let (_hub, process, line) = refused(true, 400, &hostile.to_string(), "protocol").await;
    assert!(
        line.contains("answered HTTP 400; the Hub said")
            && line.contains(r"bad request\\nfrom **redacted**\\u{1b}[31m in red\\u{7} xxx")
            && line.contains("x…"),
        "{line}"
    );
    assert!(line.len() < 1_000, "cut short: {} bytes", line.len());
    let log = process.log();
    assert!(!log.contains(SECRET) && !log.contains('\u{1b}') && !log.contains('\u{7}'));
    assert!(process.terminate().await.success());
}
