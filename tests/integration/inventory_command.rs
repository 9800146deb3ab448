//! `dockerhub_exporter inventory`: the binary reads the simulated Hub once and prints what it
//! holds, compared with the Hub's own truth; its exit codes; its formats; the state file read
//! offline without a request; a standard error free of progress when it is not a terminal;
//! and `--mirror`, each tag's state on the simulated Hub's registry as a mirror.

use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use simhub::{Fault, FaultKind, RegistryTag, Repo, RepoTruth, SimHub, TagSpec};

use crate::support::*;

/// The demo account that sees acme's private repositories.
const ACCOUNT: [(&str, &str); 1] = [("DOCKERHUB_PASSWORD", "dckr_pat_demo_acme")];

/// Flags that let the simulated Hub be read as fast as it answers.
fn fast(url: &str, namespaces: &str, extra: &[&str]) -> Vec<String> {
    let mut args = hub_args(url, namespaces, &["--hub.username", "acme-bot"]);
    args.extend(
        ["--hub.rate-limit", "60000", "--hub.burst", "100"]
            .iter()
            .chain(extra)
            .map(|a| a.to_string()),
    );
    args
}

/// The demo Hub, and in acme a repository of more than two pages of tags with a
/// multi-platform tag among them.
fn demo() -> SimHub {
    let hub = SimHub::demo(11);
    hub.add_repo(
        "acme",
        Repo::new("big").with_tags(230).with_tag(
            TagSpec::new("multi")
                .platform("linux", "amd64", None)
                .platform("linux", "arm", Some("v7"))
                .platform("windows", "amd64", None)
                .attestation(),
        ),
    );
    hub
}

/// The document `inventory --format json` must print for `namespaces` of `hub`, built from the
/// Hub's truth, with the repositories whose name `keep` accepts: every tag, its platform
/// images (attestations are not platforms), times as the Hub wrote them.
fn expected(hub: &SimHub, namespaces: &[&str], keep: impl Fn(&str) -> bool) -> Value {
    let mut namespaces = namespaces.to_vec();
    namespaces.sort_unstable();
    let repository = |r: RepoTruth| {
        json!({
            "name": r.name,
            "private": r.private,
            "pull_count": r.pulls,
            "star_count": r.stars,
            "last_updated": r.last_updated,
            "tag_count": r.tags.len(),
            "tags_listed": r.tags.len(),
            "tags": r.tags.iter().map(|t| json!({
                "name": t.name,
                "digest": t.digest,
                "size": t.full_size,
                "last_pushed": t.last_pushed,
                "last_pulled": t.last_pulled,
                "images": t.images.iter().filter(|i| !i.is_attestation()).map(|i| json!({
                    "os": i.os,
                    "architecture": i.architecture,
                    "variant": i.variant,
                    "digest": i.digest,
                    "size": i.size,
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
        })
    };
    json!({
        "namespaces": namespaces.iter().map(|ns| json!({
            "name": ns,
            "repositories": hub
                .truth(ns)
                .into_iter()
                .filter(|r| keep(&r.name))
                .map(repository)
                .collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
    })
}

/// Standard error holds nothing a progress line would have drawn.
fn no_progress(stderr: &str) {
    assert!(
        !stderr.contains('\r') && !stderr.contains("inventory: ") && !stderr.contains("\x1b["),
        "progress on a standard error that is not a terminal: {stderr:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_is_the_simulated_hubs_truth_every_repository_tag_and_platform_image() {
    let hub = demo();
    let truth = hub.truth("acme");
    assert!(
        truth.iter().any(|r| r.tags.len() > 200),
        "a repository of several pages of tags"
    );
    assert!(truth.iter().any(|r| r.private), "a private repository");
    assert!(
        truth.iter().flat_map(|r| &r.tags).any(|t| {
            t.images.iter().filter(|i| !i.is_attestation()).count() > 1
                && t.images.iter().any(|i| i.variant.is_some())
        }),
        "a multi-platform tag with a variant"
    );
    let running = hub.start().await.unwrap();
    let ran = inventory(
        &fast(&running.url(), "acme,library", &["--format", "json"]),
        &ACCOUNT,
    )
    .await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert_eq!(ran.stderr, "", "nothing failed, nothing to say");
    let printed: Value = serde_json::from_str(&ran.stdout).expect("one JSON document");
    assert_eq!(printed, expected(&hub, &["acme", "library"], |_| true));

    // The repository filter is honoured as the exporter honours it.
    let ran = inventory(
        &fast(
            &running.url(),
            "acme,library",
            &["--format", "json", "--filter.repository", "big|api|nginx"],
        ),
        &ACCOUNT,
    )
    .await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let printed: Value = serde_json::from_str(&ran.stdout).unwrap();
    let chosen = |name: &str| matches!(name, "big" | "api" | "nginx");
    assert_eq!(printed, expected(&hub, &["acme", "library"], chosen));
    assert_eq!(
        printed["namespaces"][0]["repositories"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csv_parses_with_a_csv_reader_into_one_row_per_tag_of_the_truth() {
    let hub = demo();
    let running = hub.start().await.unwrap();
    let ran = inventory(
        &fast(&running.url(), "acme", &["--format", "csv"]),
        &ACCOUNT,
    )
    .await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let mut reader = csv::Reader::from_reader(ran.stdout.as_bytes());
    assert_eq!(
        reader.headers().unwrap(),
        vec![
            "namespace",
            "repository",
            "tag",
            "digest",
            "last_pushed",
            "last_pulled",
            "size",
            "platforms"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.expect("a valid row").iter().map(str::to_string).collect())
        .collect();
    let truth: Vec<Vec<String>> = hub
        .truth("acme")
        .into_iter()
        .flat_map(|r| {
            r.tags.into_iter().map(move |t| {
                let platforms: Vec<String> = t
                    .images
                    .iter()
                    .filter(|i| !i.is_attestation())
                    .map(|i| match &i.variant {
                        Some(v) => format!("{}/{}/{v}", i.os, i.architecture),
                        None => format!("{}/{}", i.os, i.architecture),
                    })
                    .collect();
                vec![
                    "acme".to_string(),
                    r.name.clone(),
                    t.name,
                    t.digest.unwrap_or_default(),
                    t.last_pushed,
                    t.last_pulled.unwrap_or_default(),
                    t.full_size.to_string(),
                    platforms.join(" "),
                ]
            })
        })
        .collect();
    assert!(truth.len() > 300, "{} tags", truth.len());
    assert_eq!(rows, truth);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_table_fits_100_columns_even_with_a_150_character_repository_name() {
    let hub = SimHub::new();
    let long = "a-very-long-repository-name-".repeat(6)[..150].to_string();
    hub.add_repo("acme", Repo::new(&long).with_tags(3));
    hub.add_repo("acme", Repo::new("api").with_tags(2));
    hub.add_repo("acme", Repo::new("empty"));
    let running = hub.start().await.unwrap();
    let ran = inventory(&fast(&running.url(), "acme", &[]), &[]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "a header and a line per repository");
    assert!(lines[0].starts_with("NAMESPACE"), "{}", ran.stdout);
    for line in &lines {
        assert!(
            line.chars().count() <= 100,
            "{} wide: {line}",
            line.chars().count()
        );
    }
    let cut = lines
        .iter()
        .find(|l| l.contains("a-very-long"))
        .expect("the long name's line");
    assert!(cut.contains('…'), "{cut}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("acme") && l.contains("empty") && l.contains(" 0")),
        "{}",
        ran.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_listing_that_keeps_failing_exits_1_naming_it_and_prints_the_rest() {
    let hub = fixtures::api_and_web();
    hub.add_fault(Fault::new("/repositories/api/tags", FaultKind::Status(500)));
    let running = hub.start().await.unwrap();
    let ran = inventory(&fast(&running.url(), "acme", &["--format", "json"]), &[]).await;
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("acme/api: its tags could not be listed"),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("HTTP 500"),
        "the log says why: {}",
        ran.stderr
    );
    assert!(!ran.stderr.contains("acme/web"), "{}", ran.stderr);
    let printed: Value = serde_json::from_str(&ran.stdout).expect("what was read is printed");
    let repositories = printed["namespaces"][0]["repositories"].as_array().unwrap();
    assert_eq!(repositories[0]["name"], "api");
    assert_eq!(repositories[0]["tags"], Value::Null);
    assert_eq!(repositories[1]["name"], "web");
    assert_eq!(repositories[1]["tags"].as_array().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listing_the_hub_cuts_short_is_printed_as_listed_of_counted_and_exits_0() {
    let hub = fixtures::agent();
    let running = hub.start().await.unwrap();
    let anonymous = |format: &str| {
        hub_args(
            &running.url(),
            "acme",
            &[
                "--hub.rate-limit",
                "60000",
                "--hub.burst",
                "100",
                "--format",
                format,
            ],
        )
    };
    let ran = inventory(&anonymous("table"), &[]).await;
    assert_eq!(
        ran.code,
        Some(0),
        "read as far as the Hub lets: {}",
        ran.stderr
    );
    let agent = ran
        .stdout
        .lines()
        .find(|l| l.starts_with("acme       agent"))
        .unwrap_or_else(|| panic!("{}", ran.stdout));
    assert!(agent.contains(" 1000 of 1729  "), "{agent}");
    assert!(
        ran.stderr
            .contains("lists only the newest 1000 of the repository's 1729 tags"),
        "the log says why and what to do: {}",
        ran.stderr
    );
    let ran = inventory(&anonymous("json"), &[]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let printed: Value = serde_json::from_str(&ran.stdout).unwrap();
    let agent = &printed["namespaces"][0]["repositories"][0];
    assert_eq!(agent["name"], "agent");
    assert_eq!(
        (&agent["tag_count"], &agent["tags_listed"]),
        (&json!(1729), &json!(1000))
    );
    let mut names: Vec<&str> = agent["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, hub.newest_tag_names("acme", "agent", 1_000));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_that_cannot_be_listed_exits_1_naming_it() {
    let hub = fixtures::api_and_web();
    hub.add_fault(Fault::new(
        "/namespaces/acme/repositories",
        FaultKind::Status(503),
    ));
    let running = hub.start().await.unwrap();
    let ran = inventory(&fast(&running.url(), "acme", &["--format", "csv"]), &[]).await;
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr
            .contains("acme: its repositories could not be listed"),
        "{}",
        ran.stderr
    );
    assert_eq!(ran.stdout.lines().count(), 1, "the header alone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_flags_and_bad_values_exit_2_naming_the_flag_without_a_request() {
    let hub = fixtures::api_and_web();
    let running = hub.start().await.unwrap();
    let url = running.url();
    for (extra, flag) in [
        (&["--format", "xml"][..], "--format"),
        (&["--hub.timeout", "fast"], "--hub.timeout"),
        (&["--hub.timeout", "0s"], "--hub.timeout"),
        (&["--hub.rate-limit", "0"], "--hub.rate-limit"),
        (&["--filter.tag", "("], "--filter.tag"),
        (&["--offline"], "--state.file"),
        (&["--state.file", "/tmp/x"], "--offline"),
        (&["--no-such-flag"], "--no-such-flag"),
    ] {
        let ran = inventory(&hub_args(&url, "acme", extra), &[]).await;
        assert_eq!(ran.code, Some(2), "{extra:?}: {}", ran.stderr);
        assert!(ran.stderr.contains(flag), "{extra:?}: {}", ran.stderr);
        assert_eq!(ran.stdout, "", "{extra:?}");
    }
    let ran = inventory(&["--hub.namespace", "acme", "--hub.url", "not a url"], &[]).await;
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("--hub.url"), "{}", ran.stderr);
    let ran = inventory(&["--hub.url", url.as_str()], &[]).await;
    assert_eq!(ran.code, Some(2), "nothing to read: {}", ran.stderr);
    assert!(ran.stderr.contains("--hub.namespace"), "{}", ran.stderr);
    assert!(
        hub.requests().is_empty(),
        "no request for a bad command line"
    );
}

#[test]
fn help_lists_the_subcommand_and_its_flags_those_of_the_exporter_included() {
    let help = |args: &[&str]| {
        let out = std::process::Command::new(BIN).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(help(&["--help"]).contains("inventory"));
    let own = help(&["inventory", "--help"]);
    for flag in [
        "--hub.url",
        "--hub.namespace",
        "--hub.repository",
        "--hub.username",
        "--hub.password-file",
        "--hub.rate-limit",
        "--hub.burst",
        "--hub.concurrency",
        "--hub.timeout",
        "--filter.repository",
        "--filter.repository-exclude",
        "--filter.tag",
        "--filter.tag-exclude",
        "--format",
        "--offline",
        "--state.file",
        "--log.level",
        "--log.format",
        "DOCKERHUB_URL",
        "DOCKERHUB_NAMESPACES",
        "DOCKERHUB_USERNAME",
        "DOCKERHUB_RATE_LIMIT",
        "DOCKERHUB_PASSWORD",
        "[default: table]",
        "[default: warn]",
    ] {
        assert!(own.contains(flag), "inventory --help lacks {flag}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_prints_what_the_exporter_saved_as_the_hub_read_prints_it_without_a_request() {
    let dir = temp_dir("inventory-offline");
    let state = dir.join("state.json.gz");
    let hub = demo();
    let running = hub.start().await.unwrap();
    let exporter_args = fast(
        &running.url(),
        "acme,library",
        &["--state.file", state.to_str().unwrap()],
    );
    let exporter = Process::start(&exporter_args, &ACCOUNT).await;
    // The refresh saves the file before it publishes, and /readyz answers 200 once it has.
    eventually(|| async {
        let (status, _) = get(&format!("{}/readyz", exporter.url)).await;
        (status == 200).then_some(())
    })
    .await;
    assert!(exporter.terminate().await.success());
    assert!(state.is_file());

    let online = inventory(
        &fast(&running.url(), "acme,library", &["--format", "json"]),
        &ACCOUNT,
    )
    .await;
    assert_eq!(online.code, Some(0), "{}", online.stderr);
    hub.clear_requests();
    let saved = std::fs::read(&state).unwrap();
    let offline_args = ["--offline", "--state.file", state.to_str().unwrap()];
    let offline = inventory(&[&offline_args[..], &["--format", "json"]].concat(), &[]).await;
    assert_eq!(offline.code, Some(0), "{}", offline.stderr);
    assert_eq!(offline.stdout, online.stdout);
    assert!(
        hub.requests().is_empty(),
        "offline sent {:?}",
        hub.requests()
    );
    assert_eq!(
        std::fs::read(&state).unwrap(),
        saved,
        "the file is only read"
    );

    // Naming namespaces and filters chooses what of the file is printed.
    let only = inventory(
        &[
            &offline_args[..],
            &["--format", "csv", "--hub.namespace", "library"],
            &["--filter.repository", "nginx"],
        ]
        .concat(),
        &[],
    )
    .await;
    assert_eq!(only.code, Some(0), "{}", only.stderr);
    let listed: Vec<(String, String)> = csv::Reader::from_reader(only.stdout.as_bytes())
        .records()
        .map(|r| {
            let r = r.unwrap();
            (r[0].to_string(), r[1].to_string())
        })
        .collect();
    assert!(!listed.is_empty());
    assert!(
        listed.iter().all(|(ns, r)| ns == "library" && r == "nginx"),
        "{listed:?}"
    );

    // A repository named on its own is printed whatever the filter says, offline as online.
    let narrowed = [
        "--format",
        "json",
        "--hub.repository",
        "library/nginx",
        "--filter.repository",
        "big",
    ];
    let online = inventory(&fast(&running.url(), "acme", &narrowed), &ACCOUNT).await;
    assert_eq!(online.code, Some(0), "{}", online.stderr);
    assert!(online.stdout.contains("\"nginx\"") && online.stdout.contains("\"big\""));
    let offline = inventory(
        &[
            &offline_args[..],
            &["--hub.namespace", "acme"],
            &narrowed[..],
        ]
        .concat(),
        &[],
    )
    .await;
    assert_eq!(offline.code, Some(0), "{}", offline.stderr);
    assert_eq!(offline.stdout, online.stdout);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_without_a_usable_state_file_exits_1_and_leaves_the_file_alone_and_a_directory_exits_2()
 {
    let dir = temp_dir("inventory-offline-bad");
    let corrupt = write(&dir, "state.json", "{\"version\": 1, \"snapsh");
    for (path, says) in [
        (dir.join("missing.json"), "there is no state file"),
        (corrupt.clone(), "is not a valid state file"),
    ] {
        let ran = inventory(&["--offline", "--state.file", path.to_str().unwrap()], &[]).await;
        assert_eq!(ran.code, Some(1), "{path:?}: {}", ran.stderr);
        assert!(
            ran.stderr.contains("--state.file") && ran.stderr.contains(says),
            "{path:?}: {}",
            ran.stderr
        );
        assert_eq!(ran.stdout, "", "{path:?}");
    }
    assert_eq!(
        std::fs::read_to_string(&corrupt).unwrap(),
        "{\"version\": 1, \"snapsh",
        "the corrupt file is left as it was"
    );
    let names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["state.json"], "nothing set aside");
    // A directory is no state file at all: a path to fix, exit 2 (see `state_file`).
    let ran = inventory(&["--offline", "--state.file", dir.to_str().unwrap()], &[]).await;
    assert_eq!(ran.code, Some(2), "{}", ran.stderr);
    assert!(ran.stderr.contains("directory"), "{}", ran.stderr);
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_read_draws_no_progress_when_standard_error_is_not_a_terminal() {
    let hub = SimHub::new();
    for name in ["a", "b", "c", "d"] {
        hub.add_repo("acme", Repo::new(name).with_tags(2));
    }
    hub.set_latency(Duration::from_millis(250));
    let running = hub.start().await.unwrap();
    let started = Instant::now();
    let ran = inventory(&hub_args(&running.url(), "acme", &ONLY_THE_HUB_PACES), &[]).await;
    // Five requests one after the other, each answered after 250 ms: long enough that a
    // terminal would have shown the line.
    assert!(started.elapsed() > Duration::from_secs(1));
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    no_progress(&ran.stderr);
    assert_eq!(ran.stderr, "");
    assert_eq!(ran.stdout.lines().count(), 5, "{}", ran.stdout);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_a_terminal_a_long_read_shows_a_progress_line_and_clears_it() {
    let Some(script) = required_tool(
        "script",
        "DOCKERHUB_EXPORTER_REQUIRE_SCRIPT",
        "apt-get install bsdutils",
    ) else {
        return;
    };
    let hub = SimHub::new();
    for name in ["a", "b", "c", "d", "e", "f"] {
        hub.add_repo("acme", Repo::new(name).with_tags(2));
    }
    hub.set_latency(Duration::from_millis(300));
    let running = hub.start().await.unwrap();
    let args = hub_args(&running.url(), "acme", &ONLY_THE_HUB_PACES).join(" ");
    // `script` gives the command a terminal; standard output goes elsewhere, so what the
    // terminal shows is standard error alone.
    let dir = temp_dir("inventory-terminal");
    let out = dir.join("stdout");
    let command = format!("{BIN} inventory {args} > {}", out.display());
    let ran = tokio::time::timeout(
        WAIT_LIMIT,
        tokio::process::Command::new(script)
            .args(["-q", "-e", "-c", &command, "/dev/null"])
            .stdin(Stdio::null())
            .output(),
    )
    .await
    .expect("the command ends")
    .unwrap();
    assert!(ran.status.success(), "{ran:?}");
    let terminal = String::from_utf8_lossy(&ran.stdout);
    assert!(
        terminal.contains("\r\x1b[Kinventory: ") && terminal.contains(" repositories, "),
        "{terminal:?}"
    );
    assert!(
        terminal.ends_with("\r\x1b[K"),
        "the line is cleared at the end: {terminal:?}"
    );
    assert_eq!(
        std::fs::read_to_string(&out).unwrap().lines().count(),
        7,
        "the table is whole"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_exporter_without_a_subcommand_still_takes_its_flags() {
    let out = std::process::Command::new(BIN)
        .args(["--hub.namespace", "x", "--hub.timeout", "0s"])
        .env_clear()
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("dockerhub_exporter: --hub.timeout"), "{said}");
}

/// acme/api with four tags, of which the simulated registry holds 2.0 at another digest and
/// lacks 3.0.
fn drifted() -> SimHub {
    let hub = SimHub::new();
    let mut repo = Repo::new("api");
    for (tag, digest) in [
        ("1.0", "sha256:aaa"),
        ("2.0", "sha256:bbb"),
        ("3.0", "sha256:ccc"),
        ("latest", "sha256:aaa"),
    ] {
        repo = repo.with_tag(TagSpec::new(tag).digest(digest));
    }
    hub.add_repo("acme", repo);
    hub.set_registry_tag("acme/api", "2.0", RegistryTag::At("sha256:other".into()));
    hub.set_registry_tag("acme/api", "3.0", RegistryTag::Absent);
    hub
}

/// The flags of the mirror `acme=HOST/acme` on the plain-HTTP registry at `host`.
fn mirrored(host: &str) -> Vec<String> {
    [
        "--mirror".to_string(),
        format!("acme={host}/acme"),
        "--mirror.insecure-registry".to_string(),
        host.to_string(),
    ]
    .into()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_mirror_json_and_csv_give_each_tag_in_sync_missing_or_at_the_mirrors_digest() {
    let hub = drifted();
    let running = hub.start().await.unwrap();
    let registry = hub.start_registry().await.unwrap();
    let host = registry.addr().to_string();
    let label = format!("{host}/acme");
    let mut args = fast(&running.url(), "acme", &["--format", "json"]);
    args.extend(mirrored(&host));
    let ran = inventory(&args, &[]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let printed: Value = serde_json::from_str(&ran.stdout).unwrap();
    let tags = printed["namespaces"][0]["repositories"][0]["tags"]
        .as_array()
        .unwrap();
    let states: Vec<(&str, Value)> = tags
        .iter()
        .map(|t| (t["name"].as_str().unwrap(), t["mirrors"].clone()))
        .collect();
    let state = |s: &str, d: Value| json!([{"mirror": label, "state": s, "digest": d}]);
    assert_eq!(
        states,
        [
            ("1.0", state("in_sync", Value::Null)),
            ("2.0", state("digest", json!("sha256:other"))),
            ("3.0", state("missing", Value::Null)),
            ("latest", state("in_sync", Value::Null)),
        ]
    );
    let manifests: Vec<_> = hub
        .requests()
        .into_iter()
        .filter(|r| r.path.contains("/manifests/"))
        .collect();
    assert_eq!(manifests.len(), 3, "a HEAD of each listed tag");
    assert!(manifests.iter().all(|r| r.method == "HEAD"));

    // The same in CSV: two columns for the mirror.
    let mut args = fast(&running.url(), "acme", &["--format", "csv"]);
    args.extend(mirrored(&host));
    let ran = inventory(&args, &[]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    let mut reader = csv::Reader::from_reader(ran.stdout.as_bytes());
    let header = reader.headers().unwrap().clone();
    let column = |name: &str| header.iter().position(|h| h == name).unwrap();
    let (state, digest) = (
        column(&format!("mirror:{label}")),
        column(&format!("mirror_digest:{label}")),
    );
    let rows: Vec<(String, String, String)> = reader
        .records()
        .map(|r| {
            let r = r.unwrap();
            (
                r[2].to_string(),
                r[state].to_string(),
                r[digest].to_string(),
            )
        })
        .collect();
    let row = |t: &str, s: &str, d: &str| (t.to_string(), s.to_string(), d.to_string());
    assert_eq!(
        rows,
        [
            row("1.0", "in_sync", ""),
            row("2.0", "digest", "sha256:other"),
            row("3.0", "missing", ""),
            row("latest", "in_sync", ""),
        ]
    );

    // The table marks the repository.
    let mut args = fast(&running.url(), "acme", &[]);
    args.extend(mirrored(&host));
    let ran = inventory(&args, &[]).await;
    assert_eq!(ran.code, Some(0), "{}", ran.stderr);
    assert!(
        ran.stdout.lines().nth(1).unwrap().ends_with("2 differ"),
        "{}",
        ran.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_that_cannot_be_read_exits_1_naming_it_and_shows_no_tag_missing_there() {
    let hub = drifted();
    let running = hub.start().await.unwrap();
    let registry = hub.start_registry().await.unwrap();
    let host = registry.addr().to_string();
    // Nothing listens there: every connection is refused.
    let down = format!("127.0.0.1:{}", free_port());
    let mut args = fast(&running.url(), "acme", &["--format", "json"]);
    args.extend(mirrored(&host));
    args.extend(mirrored(&down));
    let ran = inventory(&args, &[]).await;
    assert_eq!(ran.code, Some(1), "{}", ran.stderr);
    assert!(
        ran.stderr.contains(&format!(
            "mirror {down}/acme: acme/api could not be read there"
        )),
        "{}",
        ran.stderr
    );
    assert!(
        ran.stderr.contains("transport"),
        "the log says why: {}",
        ran.stderr
    );
    let printed: Value = serde_json::from_str(&ran.stdout).expect("what was read is printed");
    let tags = printed["namespaces"][0]["repositories"][0]["tags"]
        .as_array()
        .unwrap();
    assert_eq!(tags.len(), 4);
    for tag in tags {
        let mirrors = tag["mirrors"].as_array().unwrap();
        assert_eq!(mirrors.len(), 2);
        assert_eq!(
            mirrors[1],
            json!({"mirror": format!("{down}/acme"), "state": null, "digest": null})
        );
    }
    assert_eq!(
        tags[2]["mirrors"][0]["state"], "missing",
        "the other mirror still read"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_flags_are_validated_as_the_exporters_and_refused_offline() {
    let hub = drifted();
    let running = hub.start().await.unwrap();
    let bad = inventory(
        &fast(
            &running.url(),
            "acme",
            &["--mirror", "acme=https://ghcr.io/acme"],
        ),
        &[],
    )
    .await;
    assert_eq!(bad.code, Some(2), "{}", bad.stderr);
    assert!(bad.stderr.contains("--mirror:"), "{}", bad.stderr);
    let env = inventory(
        &fast(&running.url(), "acme", &[]),
        &[("DOCKERHUB_MIRRORS", "acme=ghcr.io/acme,=bad")],
    )
    .await;
    assert_eq!(env.code, Some(2), "the variable is read: {}", env.stderr);
    let rate = inventory(
        &fast(&running.url(), "acme", &["--mirror.rate-limit", "0"]),
        &[],
    )
    .await;
    assert_eq!(rate.code, Some(2), "{}", rate.stderr);
    let dir = temp_dir("inventory-mirror-offline");
    let offline = inventory(
        &[
            "--offline",
            "--state.file",
            dir.join("state.json").to_str().unwrap(),
            "--mirror",
            "acme=ghcr.io/acme",
        ],
        &[],
    )
    .await;
    assert_eq!(offline.code, Some(2), "{}", offline.stderr);
    assert!(offline.stderr.contains("--offline"), "{}", offline.stderr);
    assert!(hub.requests().is_empty(), "nothing asked of the Hub");
}
