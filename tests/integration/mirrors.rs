//! The mirror checks against a real registry (Debian's `docker-registry`, filled with
//! buildah and skopeo): a mirror in sync shows no mismatch, a deleted tag is missing, a tag
//! pushed again with another image differs, an absent repository has every tag missing,
//! basic authentication through htpasswd works with the auth file and a wrong password is a
//! clear failure, a mirror that goes down keeps its figures and leaves `dockerhub_up` alone;
//! and never a `GET` of a manifest.

use base64::Engine;
use simhub::{Fault, FaultKind, RegistryTag, Repo, SimHub, TagSpec};

use crate::support::*;

/// The mirror's series of `name` for `repository`.
fn figure(metrics: &str, name: &str, repository: &str) -> Option<f64> {
    value(metrics, name, &[("repository", repository)])
}

/// The mismatched tags of `repository`, as `tag:reason`.
fn mismatches(metrics: &str, repository: &str) -> Vec<String> {
    let mut found: Vec<String> = series(metrics, "dockerhub_mirror_tag_mismatch")
        .into_iter()
        .filter(|s| s.label("repository") == Some(repository))
        .map(|s| format!("{}:{}", s.label("tag").unwrap(), s.label("reason").unwrap()))
        .collect();
    found.sort();
    found
}

fn errors(metrics: &str, kind: &str) -> f64 {
    value(
        metrics,
        "dockerhub_mirror_check_errors_total",
        &[("kind", kind)],
    )
    .unwrap_or(0.0)
}

/// The end of the last successful check of the mirror `label`.
fn success(metrics: &str, label: &str) -> Option<f64> {
    value(
        metrics,
        "dockerhub_mirror_last_check_success_timestamp_seconds",
        &[("mirror", label)],
    )
}

/// Pages of tags lists the mirror answered with 200.
fn tags_read(metrics: &str) -> f64 {
    value(
        metrics,
        "dockerhub_mirror_requests_total",
        &[("endpoint", "tags"), ("code", "200")],
    )
    .unwrap_or(0.0)
}

/// Requests to the mirror of `endpoint`, all codes together.
fn requests(metrics: &str, endpoint: &str) -> f64 {
    series(metrics, "dockerhub_mirror_requests_total")
        .into_iter()
        .filter(|s| s.label("endpoint") == Some(endpoint))
        .map(|s| s.value)
        .sum()
}

/// A Hub with acme/api holding `tags` at those digests.
fn hub(tags: &[(&str, &str)]) -> SimHub {
    let hub = SimHub::new();
    let mut repo = Repo::new("api");
    for (tag, digest) in tags {
        repo = repo.with_tag(TagSpec::new(tag).digest(digest));
    }
    hub.add_repo("acme", repo);
    hub
}

/// The exporter's flags for the real registry's mirror `acme=HOST/mirrored`, then `extra`.
fn mirror_args(hub_url: &str, registry: &Registry, extra: &[&str]) -> Vec<String> {
    simulated_mirror_args(hub_url, &registry.host, "mirrored", extra)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_in_sync_shows_no_mismatch_and_a_deleted_tag_is_missing_without_a_get() {
    let Some(registry) = Registry::start("in-sync", None).await else {
        return;
    };
    let one = registry.push("mirrored/api", "1.0", "one").await;
    let two = registry.push("mirrored/api", "2.0", "two").await;
    registry.copy("mirrored/api", "2.0", "latest");
    let hub = hub(&[("1.0", &one), ("2.0", &two), ("latest", &two)]);
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&mirror_args(&running.url(), &registry, &[]), None).await;
    let label = format!("{}/mirrored", registry.host);
    let m = exporter.wait_for(|m| success(m, &label).is_some()).await;
    assert_eq!(figure(&m, "dockerhub_mirror_tags", "api"), Some(3.0));
    assert_eq!(
        figure(&m, "dockerhub_mirror_tags_missing", "api"),
        Some(0.0)
    );
    assert_eq!(
        figure(&m, "dockerhub_mirror_tags_different", "api"),
        Some(0.0)
    );
    assert!(mismatches(&m, "api").is_empty());
    assert!(series(&m, "dockerhub_mirror_tag_mismatch").is_empty());
    assert_eq!(errors(&m, "transport") + errors(&m, "auth"), 0.0);
    assert_eq!(requests(&m, "manifest"), 3.0, "each tag's digest once");

    // 1.0 goes from the mirror: the next check's tags list says so, without a HEAD.
    registry.delete("mirrored/api", "1.0").await;
    let m = exporter
        .wait_for(|m| figure(m, "dockerhub_mirror_tags_missing", "api") == Some(1.0))
        .await;
    assert_eq!(mismatches(&m, "api"), ["1.0:missing"]);
    assert_eq!(
        requests(&m, "manifest"),
        3.0,
        "unchanged tags are not asked again"
    );
    assert!(value(&m, "dockerhub_up", &[]) == Some(1.0));
    let gets: Vec<String> = registry
        .log()
        .into_iter()
        .filter(|l| {
            l.contains("useragent=dockerhub_exporter")
                && l.contains("method=GET")
                && l.contains("/manifests/")
        })
        .collect();
    assert!(gets.is_empty(), "no GET of a manifest: {gets:?}");
    assert!(
        registry
            .log()
            .iter()
            .any(|l| l.contains("useragent=dockerhub_exporter")
                && l.contains("method=HEAD")
                && l.contains("/manifests/")),
        "the registry logged the HEADs"
    );
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tag_pushed_again_with_another_image_differs_and_an_absent_repository_misses_every_tag() {
    let Some(registry) = Registry::start("digest", None).await else {
        return;
    };
    let hub_one = registry.push("mirrored/api", "1.0", "one").await;
    let two = registry.push("mirrored/api", "2.0", "two").await;
    // The mirror's 1.0 is pushed again with another image after the Hub's was mirrored.
    let other = registry.push("mirrored/api", "1.0", "other").await;
    assert_ne!(hub_one, other);
    let hub = hub(&[("1.0", &hub_one), ("2.0", &two)]);
    hub.add_repo(
        "acme",
        Repo::new("worker")
            .with_tag(TagSpec::new("a"))
            .with_tag(TagSpec::new("b")),
    );
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&mirror_args(&running.url(), &registry, &[]), None).await;
    let m = exporter
        .wait_for(|m| figure(m, "dockerhub_mirror_tags", "worker").is_some())
        .await;
    assert_eq!(mismatches(&m, "api"), ["1.0:digest"]);
    assert_eq!(
        figure(&m, "dockerhub_mirror_tags_different", "api"),
        Some(1.0)
    );
    assert_eq!(
        figure(&m, "dockerhub_mirror_tags_missing", "api"),
        Some(0.0)
    );
    assert_eq!(mismatches(&m, "worker"), ["a:missing", "b:missing"]);
    assert_eq!(
        figure(&m, "dockerhub_mirror_tags_missing", "worker"),
        Some(2.0)
    );
    assert_eq!(
        value(
            &m,
            "dockerhub_mirror_requests_total",
            &[("endpoint", "tags"), ("code", "404")]
        )
        .map(|v| v >= 1.0),
        Some(true)
    );
    // The Hub's 1.0 moves to the mirror's image: a changed Hub digest is asked for again.
    hub.push_tag("acme", "api", TagSpec::new("1.0").digest(&other));
    let m = exporter
        .wait_for(|m| figure(m, "dockerhub_mirror_tags_different", "api") == Some(0.0))
        .await;
    assert!(mismatches(&m, "api").is_empty());
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_authentication_reads_the_mirror_with_the_auth_file_and_a_wrong_password_fails_clearly()
 {
    let Some(registry) = Registry::start("basic", Some(("mirror-bot", "s3cret-pass"))).await else {
        return;
    };
    let one = registry.push("mirrored/api", "1.0", "one").await;
    let hub = hub(&[("1.0", &one), ("9.9", "sha256:0000")]);
    let running = hub.start().await.unwrap();
    let auth_file = |password: &str| {
        let auth =
            base64::engine::general_purpose::STANDARD.encode(format!("mirror-bot:{password}"));
        write(
            registry.dir(),
            &format!("auth-{password}.json"),
            &format!(
                r#"{{"auths": {{"{}": {{"auth": "{auth}"}}}}}}"#,
                registry.host
            ),
        )
    };
    let good = auth_file("s3cret-pass");
    let exporter = Exporter::start(
        &mirror_args(
            &running.url(),
            &registry,
            &["--mirror.auth-file", good.to_str().unwrap()],
        ),
        None,
    )
    .await;
    let m = exporter
        .wait_for(|m| figure(m, "dockerhub_mirror_tags", "api").is_some())
        .await;
    assert_eq!(mismatches(&m, "api"), ["9.9:missing"]);
    assert_eq!(errors(&m, "auth"), 0.0);
    exporter.stop().await;

    // A wrong password: the reads fail as auth, nothing is counted missing, no success time.
    let bad = auth_file("bad-Pa55");
    let exporter = Exporter::start(
        &mirror_args(
            &running.url(),
            &registry,
            &["--mirror.auth-file", bad.to_str().unwrap()],
        ),
        None,
    )
    .await;
    let m = exporter.wait_for(|m| errors(m, "auth") >= 1.0).await;
    assert!(series(&m, "dockerhub_mirror_tag_mismatch").is_empty());
    assert!(series(&m, "dockerhub_mirror_tags").is_empty());
    assert!(series(&m, "dockerhub_mirror_last_check_success_timestamp_seconds").is_empty());
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert!(!m.contains("s3cret") && !m.contains("bad-Pa55"));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_that_goes_down_keeps_its_figures_and_leaves_dockerhub_up_alone() {
    let Some(mut registry) = Registry::start("down", None).await else {
        return;
    };
    let one = registry.push("mirrored/api", "1.0", "one").await;
    let hub = hub(&[("1.0", &one), ("2.0", "sha256:0000")]);
    let running = hub.start().await.unwrap();
    let exporter = Exporter::start(&mirror_args(&running.url(), &registry, &[]), None).await;
    let label = format!("{}/mirrored", registry.host);
    let m = exporter.wait_for(|m| success(m, &label).is_some()).await;
    let last_success = success(&m, &label);
    registry.stop().await;
    let m = exporter.wait_for(|m| errors(m, "transport") >= 1.0).await;
    let refreshes_then = refreshes(&m);
    // A Hub refresh after the failure: still up, the mirror's figures as they were.
    let m = exporter
        .wait_for(|m| refreshes(m) > refreshes_then && errors(m, "transport") >= 2.0)
        .await;
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    assert_eq!(success(&m, &label), last_success);
    assert_eq!(mismatches(&m, "api"), ["2.0:missing"]);
    assert!(
        value(
            &m,
            "dockerhub_mirror_requests_total",
            &[("endpoint", "tags"), ("code", "error")]
        )
        .is_some_and(|v| v >= 1.0)
    );
    exporter.stop().await;
}

/// A Hub with the public acme/api at `tags`, and beside it the private `mirror-org/api` that
/// only the account `mirror-bot` (password `mirror-pass`) reads, holding `mirrored`: the
/// simulated Hub's registry is the mirror, behind its bearer-token challenge.
fn hub_and_private_mirror(tags: &[(&str, &str)], mirrored: &[(&str, &str)]) -> SimHub {
    let hub = hub(tags);
    let mut repo = Repo::new("api").private();
    for (tag, digest) in mirrored {
        repo = repo.with_tag(TagSpec::new(tag).digest(digest));
    }
    hub.add_repo("mirror-org", repo);
    hub.add_account("mirror-bot", "mirror-pass", &["mirror-org"]);
    hub
}

/// The exporter's flags for the mirror `acme=HOST/PATH` on the plain-HTTP registry at `host`
/// (the simulated one, or a real one), checked after each refresh of every second.
fn simulated_mirror_args(hub_url: &str, host: &str, path: &str, extra: &[&str]) -> Vec<String> {
    let mirror = format!("acme={host}/{path}");
    let mut flags = vec![
        "--refresh.interval",
        "1s",
        "--mirror",
        &mirror,
        "--mirror.insecure-registry",
        host,
    ];
    flags.extend_from_slice(extra);
    hub_args(hub_url, "acme", &flags)
}

/// Requests of the simulated registry's `path` prefix, with the status of each.
fn registry_requests(hub: &SimHub, path: &str) -> Vec<simhub::RequestRecord> {
    hub.requests()
        .into_iter()
        .filter(|r| r.path.starts_with(path))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bearer_challenge_is_answered_anonymously_and_one_token_serves_every_check() {
    let hub = hub(&[
        ("1.0", "sha256:aaa"),
        ("2.0", "sha256:bbb"),
        ("3.0", "sha256:ccc"),
        ("4.0", "sha256:ddd"),
    ]);
    // The registry's pages hold two tags: the three it lists take two pages, followed by Link.
    hub.set_registry_page_size(2);
    hub.set_registry_tag("acme/api", "2.0", RegistryTag::At("sha256:other".into()));
    hub.set_registry_tag("acme/api", "4.0", RegistryTag::Absent);
    let running = hub.start().await.unwrap();
    let registry = hub.start_registry().await.unwrap();
    let host = registry.addr().to_string();
    let exporter = Exporter::start(
        &simulated_mirror_args(&running.url(), &host, "acme", &[]),
        None,
    )
    .await;
    // Three checks, each two pages of tags.
    let m = exporter.wait_for(|m| tags_read(m) >= 6.0).await;
    assert_eq!(mismatches(&m, "api"), ["2.0:digest", "4.0:missing"]);
    assert_eq!(figure(&m, "dockerhub_mirror_tags", "api"), Some(4.0));
    assert_eq!(requests(&m, "token"), 1.0, "one token, reused while valid");
    assert_eq!(
        value(
            &m,
            "dockerhub_mirror_requests_total",
            &[("endpoint", "tags"), ("code", "401")]
        ),
        Some(1.0),
        "the challenge is met once, then the token is sent unasked"
    );
    assert_eq!(
        requests(&m, "manifest"),
        3.0,
        "each listed tag's digest once"
    );
    let seen = registry_requests(&hub, "/registry/v2/acme/api/");
    assert!(
        seen.iter()
            .all(|r| r.method != "GET" || r.path.ends_with("/tags/list"))
    );
    assert!(
        seen.iter().filter(|r| r.status == 200).all(|r| r
            .authorization
            .as_deref()
            .is_some_and(|a| a.starts_with("Bearer "))),
        "answered only with the token"
    );
    let tokens = registry_requests(&hub, "/token");
    assert_eq!(tokens.len(), 1);
    assert_eq!(tokens[0].authorization, None, "asked for anonymously");
    // The pages show what the checks found.
    let (status, home) = get(&format!("{}/", exporter.url)).await;
    assert_eq!(status, 200);
    assert!(
        home.contains(&format!(
            "<td>{host}/acme</td><td>acme</td><td class=\"removed\">2 of 4 tags differ: 1 missing, 1 at another digest</td>"
        )),
        "{home}"
    );
    let (_, api) = get(&format!("{}/repositories/acme/api", exporter.url)).await;
    assert!(api.contains(&format!("missing on {host}/acme")), "{api}");
    assert!(
        api.contains(&format!("another digest on {host}/acme")),
        "{api}"
    );
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_mirror_behind_the_bearer_challenge_is_read_with_the_auth_files_credentials_only()
{
    let hub = hub_and_private_mirror(
        &[("1.0", "sha256:aaa"), ("2.0", "sha256:bbb")],
        &[("1.0", "sha256:aaa")],
    );
    let running = hub.start().await.unwrap();
    let registry = hub.start_registry().await.unwrap();
    let host = registry.addr().to_string();
    let dir = temp_dir("bearer-credentials");
    let auth = base64::engine::general_purpose::STANDARD.encode("mirror-bot:mirror-pass");
    let auth_file = write(
        &dir,
        "auth.json",
        &format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
    );

    // Without credentials: the anonymous token does not open the private repository.
    let exporter = Exporter::start(
        &simulated_mirror_args(&running.url(), &host, "mirror-org", &[]),
        None,
    )
    .await;
    let m = exporter.wait_for(|m| errors(m, "auth") >= 1.0).await;
    assert!(series(&m, "dockerhub_mirror_tags").is_empty());
    assert!(series(&m, "dockerhub_mirror_last_check_success_timestamp_seconds").is_empty());
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    exporter.stop().await;
    hub.clear_requests();

    // With them: the token service is asked with the account, the mirror read.
    let exporter = Exporter::start(
        &simulated_mirror_args(
            &running.url(),
            &host,
            "mirror-org",
            &["--mirror.auth-file", auth_file.to_str().unwrap()],
        ),
        None,
    )
    .await;
    let m = exporter.wait_for(|m| tags_read(m) >= 3.0).await;
    assert_eq!(mismatches(&m, "api"), ["2.0:missing"]);
    assert_eq!(errors(&m, "auth"), 0.0);
    assert_eq!(requests(&m, "token"), 1.0, "one token over three checks");
    let tokens = registry_requests(&hub, "/token");
    assert_eq!(tokens.len(), 1);
    assert!(tokens[0].query.contains("account=mirror-bot"));
    assert_eq!(
        tokens[0].authorization.as_deref(),
        Some(format!("Basic {auth}").as_str()),
        "the credentials go to the token service"
    );
    assert!(
        registry_requests(&hub, "/registry/v2/").iter().all(|r| !r
            .authorization
            .as_deref()
            .unwrap_or("")
            .starts_with("Basic")),
        "and never to the registry itself"
    );
    assert!(!m.contains("mirror-pass"));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mirror_answering_429_is_asked_again_after_its_retry_after_and_the_check_succeeds() {
    let hub = hub(&[("1.0", "sha256:aaa"), ("2.0", "sha256:bbb")]);
    hub.set_registry_tag("acme/api", "2.0", RegistryTag::Absent);
    // The first two reads of the tags list are refused with `Retry-After: 1`.
    hub.add_fault(Fault::new("/registry/v2/acme/api/tags/list", FaultKind::Throttled).times(2));
    let running = hub.start().await.unwrap();
    let registry = hub.start_registry().await.unwrap();
    let host = registry.addr().to_string();
    let exporter = Exporter::start(
        &simulated_mirror_args(&running.url(), &host, "acme", &[]),
        None,
    )
    .await;
    let label = format!("{host}/acme");
    let m = exporter.wait_for(|m| success(m, &label).is_some()).await;
    assert_eq!(mismatches(&m, "api"), ["2.0:missing"]);
    assert_eq!(
        value(
            &m,
            "dockerhub_mirror_requests_total",
            &[("endpoint", "tags"), ("code", "429")]
        ),
        Some(2.0)
    );
    assert_eq!(errors(&m, "throttled"), 0.0, "obeyed, not failed");
    let lists = registry_requests(&hub, "/registry/v2/acme/api/tags/list");
    assert_eq!(lists[0].status, 429);
    assert_eq!(lists[1].status, 429);
    // Each retry waited at least the second the registry asked for.
    for pair in lists.windows(2).take(2) {
        assert!(
            pair[1].at.duration_since(pair[0].at) >= std::time::Duration::from_secs(1),
            "asked again {:?} after a 429 with Retry-After: 1",
            pair[1].at.duration_since(pair[0].at)
        );
    }
    assert_eq!(value(&m, "dockerhub_up", &[]), Some(1.0));
    exporter.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_that_keeps_failing_on_the_mirror_does_not_make_every_check_a_full_one() {
    let hub = hub(&[("1.0", "sha256:aaa"), ("2.0", "sha256:bbb")]);
    hub.add_repo(
        "acme",
        Repo::new("web").with_tag(TagSpec::new("x").digest("sha256:ccc")),
    );
    // Every read of web's tags list is refused.
    hub.add_fault(Fault::new(
        "/registry/v2/acme/web/tags/list",
        FaultKind::Status(403),
    ));
    let running = hub.start().await.unwrap();
    let registry = hub.start_registry().await.unwrap();
    let host = registry.addr().to_string();
    let exporter = Exporter::start(
        &simulated_mirror_args(&running.url(), &host, "acme", &[]),
        None,
    )
    .await;
    // Four checks at least: both tags lists asked for each time.
    let m = exporter.wait_for(|m| requests(m, "tags") >= 8.0).await;
    assert!(errors(&m, "auth") >= 3.0, "web fails every check");
    assert_eq!(
        requests(&m, "manifest"),
        2.0,
        "api's two digests asked for once, at the first (full) check, not at every check"
    );
    assert_eq!(mismatches(&m, "api"), Vec::<String>::new());
    exporter.stop().await;
}
