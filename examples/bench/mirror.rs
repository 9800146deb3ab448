//! `--mirror-check`: the mirror checks of `--repos` × `--tags` tags against a real registry
//! (Debian's `docker-registry`, started here on a free loopback port with filesystem storage
//! in a temporary directory), the first check and one after `--mirror-changed` tags changed on
//! the Hub (and on the mirror: pushed to both, as a release is).
//!
//! The registry is filled cheaply through its own API rather than with buildah: one tiny blob
//! (`{}`, the OCI empty descriptor) uploaded to each repository, then one small OCI image
//! manifest referring to it put under every tag, so every tag is at one digest; the changed
//! tags get a second manifest (an annotation more), at another digest. The simulated Hub's
//! tags are pointed at those digests with `TagSpec::digest`.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use simhub::{Repo, SimHub, TagSpec};

use super::{Bench, Exporter};

/// `{}`, and its digest: the OCI image spec's empty descriptor.
const EMPTY: (&str, &str) = (
    "{}",
    "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
);

/// Manifests put at once while the registry is filled.
const FILL_CONCURRENCY: usize = 16;

/// The registry, stopped and its storage removed on drop.
struct Registry {
    child: Child,
    dir: PathBuf,
    host: String,
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Starts `docker-registry serve` and waits until `/v2/` answers.
async fn start(client: &reqwest::Client) -> Registry {
    let dir = std::env::temp_dir().join(format!("dockerhub-bench-registry-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let host = format!("127.0.0.1:{port}");
    let config = dir.join("config.yml");
    std::fs::write(
        &config,
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {host}\n",
            dir.join("storage").display()
        ),
    )
    .expect("the registry's configuration");
    let child = Command::new("docker-registry")
        .arg("serve")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker-registry (apt-get install docker-registry)");
    let registry = Registry { child, dir, host };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let up = client
            .get(format!("http://{}/v2/", registry.host))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success());
        if up {
            return registry;
        }
        assert!(Instant::now() < deadline, "the registry did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Uploads the `{}` blob to `name` (a monolithic upload: POST, then PUT with the digest).
async fn upload_blob(client: &reqwest::Client, host: &str, name: &str) {
    let started = client
        .post(format!("http://{host}/v2/{name}/blobs/uploads/"))
        .send()
        .await
        .expect("the registry answers");
    assert_eq!(started.status(), 202, "an upload starts");
    let location = started.headers()["location"]
        .to_str()
        .expect("a Location")
        .to_string();
    let location = if location.starts_with('/') {
        format!("http://{host}{location}")
    } else {
        location
    };
    let separator = if location.contains('?') { '&' } else { '?' };
    let done = client
        .put(format!("{location}{separator}digest={}", EMPTY.1))
        .header("content-type", "application/octet-stream")
        .body(EMPTY.0)
        .send()
        .await
        .expect("the registry answers");
    assert_eq!(done.status(), 201, "the blob is stored");
}

/// An OCI image manifest of the `{}` blob; `variant` changes its digest.
fn manifest(variant: usize) -> String {
    let blob = format!(
        r#"{{"mediaType":"application/vnd.oci.empty.v1+json","digest":"{}","size":2}}"#,
        EMPTY.1
    );
    format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{blob},"layers":[{blob}],"annotations":{{"bench.variant":"{variant}"}}}}"#
    )
}

/// Puts `body` under `name:tag`; the digest the registry gives it.
async fn put_manifest(
    client: &reqwest::Client,
    host: &str,
    name: &str,
    tag: &str,
    body: &str,
) -> String {
    let put = client
        .put(format!("http://{host}/v2/{name}/manifests/{tag}"))
        .header("content-type", "application/vnd.oci.image.manifest.v1+json")
        .body(body.to_string())
        .send()
        .await
        .expect("the registry answers");
    assert_eq!(put.status(), 201, "{name}:{tag} is stored");
    put.headers()["docker-content-digest"]
        .to_str()
        .expect("a digest")
        .to_string()
}

fn repository(r: usize) -> String {
    format!("service-{r:05}")
}

fn tag(t: usize) -> String {
    format!("1.{}.{}", t / 100, t % 100)
}

/// Puts the manifest `variant` under each of `tags` (repository, tag), several at once.
async fn put_all(
    client: &reqwest::Client,
    host: &str,
    tags: Vec<(String, String)>,
    variant: usize,
) -> String {
    let body = manifest(variant);
    let mut digest = String::new();
    for chunk in tags.chunks(FILL_CONCURRENCY) {
        let mut puts = tokio::task::JoinSet::new();
        for (r, t) in chunk {
            let (client, host, body) = (client.clone(), host.to_string(), body.clone());
            let (name, t) = (format!("mirrored/{r}"), t.clone());
            puts.spawn(async move { put_manifest(&client, &host, &name, &t, &body).await });
        }
        while let Some(d) = puts.join_next().await {
            digest = d.expect("a put completes");
        }
    }
    digest
}

/// The `mirror checked` line and the requests by endpoint of the check it ends.
fn report(
    which: &str,
    line: &serde_json::Value,
    before: &[(String, f64)],
    after: &[(String, f64)],
) {
    let by_endpoint: Vec<String> = after
        .iter()
        .map(|(k, v)| {
            let was = before.iter().find(|(b, _)| b == k).map_or(0.0, |(_, v)| *v);
            format!("{k} {}", v - was)
        })
        .collect();
    println!(
        "{which:<28}{} requests ({}), {:.2} s, {} tags, {} missing, {} different, full: {}",
        line["requests"],
        by_endpoint.join(", "),
        line["duration_ms"].as_f64().unwrap_or_default() / 1000.0,
        line["tags"],
        line["missing"],
        line["different"],
        line["full"],
    );
}

/// `dockerhub_mirror_requests_total` by `endpoint` and `code`, from the exporter's /metrics.
async fn requests(client: &reqwest::Client, url: &str) -> Vec<(String, f64)> {
    let text = client
        .get(url)
        .send()
        .await
        .expect("the exporter answers")
        .text()
        .await
        .expect("a body");
    let mut found: Vec<(String, f64)> = text
        .lines()
        .filter(|l| l.starts_with("dockerhub_mirror_requests_total{"))
        .filter_map(|l| {
            let (labels, value) = l.rsplit_once(' ')?;
            let label = |name: &str| {
                let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
                Some(labels[start..].split('"').next()?.to_string())
            };
            Some((
                format!("{} {}", label("endpoint")?, label("code")?),
                value.parse().ok()?,
            ))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    found
}

/// The benchmark of the mirror checks.
pub(crate) async fn run(b: &Bench, changed: usize) {
    let client = reqwest::Client::new();
    let registry = start(&client).await;
    let host = registry.host.clone();
    let filled = Instant::now();
    for r in 0..b.repos {
        upload_blob(&client, &host, &format!("mirrored/{}", repository(r))).await;
    }
    let all: Vec<(String, String)> = (0..b.repos)
        .flat_map(|r| (0..b.tags).map(move |t| (repository(r), tag(t))))
        .collect();
    let digest = put_all(&client, &host, all.clone(), 0).await;
    println!(
        "registry filled             {} repositories, {} tags at {digest}, {:.1} s",
        b.repos,
        all.len(),
        filled.elapsed().as_secs_f64()
    );
    let hub = SimHub::new();
    for r in 0..b.repos {
        let repo = (0..b.tags).fold(Repo::new(&repository(r)), |repo, t| {
            repo.with_tag(TagSpec::new(&tag(t)).digest(&digest))
        });
        hub.add_repo("bench", repo);
    }
    hub.set_latency(b.latency);
    let running = hub.start().await.expect("the simulated Hub starts");
    let mirror = format!("bench={host}/mirrored");
    let rate = b.mirror_rate_limit.to_string();
    let exporter = Exporter::start(
        &running.url(),
        b,
        &[
            "--refresh.interval",
            "5s",
            "--mirror",
            &mirror,
            "--mirror.insecure-registry",
            &host,
            "--mirror.rate-limit",
            &rate,
            "--log.level",
            "info",
        ],
    );
    let first = exporter.wait_for("mirror checked");
    let after_first = requests(&client, &exporter.url).await;
    report("first check", &first, &[], &after_first);

    // Released to both: the changed tags' new image on the mirror, then on the Hub.
    let changes: Vec<(String, String)> = (0..changed)
        .map(|i| (repository(i % b.repos), tag(b.tags - 1 - i / b.repos)))
        .collect();
    let new_digest = put_all(&client, &host, changes.clone(), 1).await;
    for (r, t) in &changes {
        hub.push_tag("bench", r, TagSpec::new(t).digest(&new_digest));
    }
    // The refresh that ends second from now certainly started after the pushes; the check
    // that ends after it is on what it read (or on a later read).
    let mut previous = after_first;
    let mut refreshes = 0;
    loop {
        let line = exporter.wait_for_any(&["refresh finished", "mirror checked"]);
        if line["message"] == "refresh finished" {
            refreshes += 1;
            continue;
        }
        let now = requests(&client, &exporter.url).await;
        let which = if refreshes >= 2 {
            format!("after {changed} tags changed")
        } else {
            "a check meanwhile".to_string()
        };
        report(&which, &line, &previous, &now);
        previous = now;
        if refreshes >= 2 {
            break;
        }
    }
    println!(
        "                            (--mirror.rate-limit {}, --mirror.concurrency 4)",
        b.mirror_rate_limit
    );
    exporter.stop();
    drop(registry);
}
