//! The container image, built from the project's `Dockerfile` and run as its users run it:
//! read-only root filesystem, UID/GID 65532, the secret from a mounted file, the state in the
//! image's volume, the health check, a clean exit on `podman stop` (SIGTERM).
//!
//! No registry is reachable where the tests run, so the image is built offline, as the
//! offline build of docs/deploy.md does: a runtime base made here from the files the binary needs
//! (`ldd`, the CA roots), and the binary cargo built for these tests, stripped, given to the
//! Dockerfile as `BINARY`. Podman gets its own storage in a temporary directory, so the test
//! neither sees nor touches other images, and everything goes when it ends (vfs storage copies
//! every layer). Skipped where podman is missing, unless `DOCKERHUB_EXPORTER_REQUIRE_PODMAN`
//! is set (CI), then it fails.

use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};

use serde_json::Value;
use simhub::{Repo, SimHub};

use crate::support::*;

/// Set by CI: a missing podman fails the test instead of skipping it.
const REQUIRE_PODMAN: &str = "DOCKERHUB_EXPORTER_REQUIRE_PODMAN";

/// The user and group the image runs as.
const UID: u32 = 65532;

/// The image's state directory, a volume.
const STATE_DIR: &str = "/var/lib/dockerhub_exporter";

/// Where the secret is mounted, as docs/deploy.md documents.
const SECRET_PATH: &str = "/run/secrets/dockerhub_password";

const SECRET: &str = "dckr_pat_in_a_container";

/// What the test passes as the `REVISION` build argument.
const REVISION: &str = "0123456789abcdef0123456789abcdef01234567";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_image_built_offline_runs_read_only_as_65532_and_exits_cleanly_on_sigterm() {
    let Some(podman) = Podman::find() else {
        return;
    };
    podman.build_base().await;
    podman.build_image().await;
    check_image_config(&podman.inspect("image", &podman.image).await);
    podman.check_image_files().await;

    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(3));
    hub.add_repo("acme", Repo::new("vault").private().with_tags(2));
    hub.add_account("acme-bot", SECRET, &["acme"]);
    let running = hub.start().await.unwrap();
    let secret = podman.dir.join("dockerhub_password");
    std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
    std::os::unix::fs::chown(&secret, Some(UID), Some(UID))
        .expect("the secret is given to UID 65532 (podman runs as root here)");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o400)).unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    // The image's health check asks :9721; on the host's network the exporter listens on a
    // free port, so the check is given that port (podman takes the exec form as JSON).
    let health =
        format!(r#"["/dockerhub_exporter","healthcheck","--web.listen-address","{listen}"]"#);
    let mount = format!("{}:{SECRET_PATH}:ro", secret.display());
    let state_file = format!("{STATE_DIR}/state.json");
    let hub_url = running.url();
    // The pull-limit checks go to the simulated registry beside it, never to the real one.
    let (registry, registry_auth) = (running.registry_url(), running.registry_auth_url());
    #[rustfmt::skip]
    podman.ok(&[
        "run", "--detach", "--name", &podman.container,
        "--network", "host", "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096",
        "--read-only", "--volume", &mount,
        "--health-cmd", &health, "--health-interval", "disable",
        &podman.image,
        "--hub.url", &hub_url, "--hub.username", "acme-bot", "--hub.namespace", "acme",
        "--hub.password-file", SECRET_PATH, "--state.file", &state_file,
        "--web.listen-address", &listen,
        "--registry.url", &registry, "--registry.auth-url", &registry_auth,
    ])
    .await;

    // Up, and one refresh done: the Hub's inventory, private repository included (the secret
    // was read from the mounted file and logged in).
    let metrics_url = format!("http://{listen}/metrics");
    let metrics = eventually(|| async {
        if let Ok(r) = reqwest::get(&metrics_url).await {
            let m = r.text().await.ok()?;
            return (refreshes(&m) >= 1.0).then_some(Ok(m));
        }
        if podman.running().await {
            return None;
        }
        Some(Err(podman.logs().await))
    })
    .await
    .unwrap_or_else(|log| panic!("the container stopped:\n{log}"));
    families(&metrics);
    assert_eq!(value(&metrics, "dockerhub_up", &[]), Some(1.0), "{metrics}");
    for (repository, tags) in [("api", 3.0), ("vault", 2.0)] {
        let labels = [("hub_namespace", "acme"), ("repository", repository)];
        assert_eq!(
            value(&metrics, "dockerhub_repository_tags", &labels),
            Some(tags),
            "{repository}"
        );
    }

    let container = podman.inspect("container", &podman.container).await;
    assert_eq!(container["HostConfig"]["ReadonlyRootfs"], true);
    // The exporter's process, seen from the host: every user and group ID is 65532.
    let pid = container["State"]["Pid"].as_i64().expect("a pid");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    for field in ["Uid:", "Gid:"] {
        let ids: Vec<&str> = status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .unwrap_or_else(|| panic!("{field} in {status}"))
            .split_whitespace()
            .collect();
        assert_eq!(ids, ["65532"; 4], "{field}");
    }
    let groups = status.lines().find_map(|l| l.strip_prefix("Groups:"));
    assert!(
        groups
            .unwrap_or("")
            .split_whitespace()
            .all(|g| g == "65532"),
        "{groups:?}"
    );

    // The state file, written by UID 65532 into the image's volume on the read-only root.
    let volume = container["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == STATE_DIR)
        .unwrap_or_else(|| panic!("no volume at {STATE_DIR}: {}", container["Mounts"]));
    assert_eq!(volume["Type"], "volume");
    let written = Path::new(volume["Source"].as_str().unwrap()).join("state.json");
    eventually(|| async { written.is_file().then_some(()) }).await;
    assert_eq!(std::fs::metadata(&written).unwrap().uid(), UID);
    // gzip-compressed JSON.
    let mut state = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(std::fs::File::open(&written).unwrap()),
        &mut state,
    )
    .unwrap();
    assert!(state.contains("vault"), "{state}");

    // The health check: the binary's subcommand, run by podman inside the container.
    let checked = podman.run(&["healthcheck", "run", &podman.container]).await;
    assert!(checked.status.success(), "{}", text(&checked));
    let health = podman.inspect("container", &podman.container).await["State"]["Health"].clone();
    assert_eq!(health["Status"], "healthy", "{health}");
    let answer = health["Log"].as_array().and_then(|l| l.last()).cloned();
    assert!(
        answer
            .as_ref()
            .and_then(|a| a["Output"].as_str())
            .is_some_and(|o| o.contains("/healthz: 200")),
        "{answer:?}"
    );

    // podman stop sends the image's STOPSIGNAL and kills after 10 s: exit code 0 means the
    // exporter stopped by itself, within the grace.
    podman
        .ok(&["stop", "--time", "10", &podman.container])
        .await;
    let stopped = podman.inspect("container", &podman.container).await;
    assert_eq!(stopped["State"]["Status"], "exited");
    assert_eq!(stopped["State"]["ExitCode"], 0, "{}", podman.logs().await);
    let log = podman.logs().await;
    assert!(log.contains("dockerhub_exporter started"), "{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(!log.contains(SECRET), "{log}");

    podman.remove().await;
}

/// What the Dockerfile promises users, read from the built image's configuration.
fn check_image_config(image: &Value) {
    let config = &image["Config"];
    assert_eq!(config["User"], "65532:65532");
    assert!(config["ExposedPorts"].get("9721/tcp").is_some(), "{config}");
    assert_eq!(config["StopSignal"], "SIGTERM");
    assert!(config["Volumes"].get(STATE_DIR).is_some(), "{config}");
    assert_eq!(
        config["Entrypoint"],
        serde_json::json!(["/dockerhub_exporter"])
    );
    assert_eq!(
        config["Cmd"],
        serde_json::json!(["--state.file", format!("{STATE_DIR}/state.json")])
    );
    // Kept only by the Docker format (podman build --format docker).
    let check = &image["Healthcheck"];
    assert_eq!(
        check["Test"],
        serde_json::json!(["CMD", "/dockerhub_exporter", "healthcheck"]),
        "no health check: is the image built with --format docker?"
    );
    assert_eq!(check["Interval"], 30_000_000_000u64);
    assert_eq!(check["Timeout"], 10_000_000_000u64);
    let labels = &config["Labels"];
    let label = |name: &str| labels[format!("org.opencontainers.image.{name}")].as_str();
    assert_eq!(
        label("version"),
        Some(env!("CARGO_PKG_VERSION")),
        "{labels}"
    );
    assert_eq!(label("revision"), Some(REVISION), "{labels}");
    assert_eq!(label("title"), Some("dockerhub_exporter"), "{labels}");
    for name in ["description", "source", "licenses"] {
        assert!(label(name).is_some(), "no {name} label: {labels}");
    }
    println!("image size: {} bytes", image["Size"]);
}

/// Podman with storage of its own, the images and the container the test makes in it; dropping
/// it removes them all, also after a failed assertion.
struct Podman {
    program: PathBuf,
    /// Everything the test writes: podman's storage, the build contexts, the secret.
    dir: PathBuf,
    base: String,
    image: String,
    container: String,
}

impl Podman {
    /// Podman, or `None` after printing that the test is skipped; in CI
    /// (`DOCKERHUB_EXPORTER_REQUIRE_PODMAN` set) a missing podman fails the test.
    fn find() -> Option<Podman> {
        let program = required_tool(
            "podman",
            REQUIRE_PODMAN,
            "apt-get install podman runc buildah",
        )?;
        let id = std::process::id();
        let dir = std::env::temp_dir().join(format!("dhx-it-container-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Some(Podman {
            program,
            dir,
            base: format!("localhost/dockerhub_exporter-test-base:{id}"),
            image: format!("localhost/dockerhub_exporter:test-{id}"),
            container: format!("dockerhub_exporter-test-{id}"),
        })
    }

    /// The flags every podman command takes: this test's own storage, and the settings podman
    /// needs on these machines (no overlay, a hybrid cgroup layout that crun refuses).
    fn global_flags(&self) -> Vec<String> {
        let path = |name: &str| self.dir.join(name).display().to_string();
        [
            "--root".to_string(),
            path("storage"),
            "--runroot".to_string(),
            path("run"),
            "--tmpdir".to_string(),
            path("tmp"),
        ]
        .into_iter()
        .chain(
            [
                "--storage-driver",
                "vfs",
                "--runtime",
                "runc",
                "--cgroup-manager",
                "cgroupfs",
            ]
            .map(str::to_string),
        )
        .collect()
    }

    async fn run(&self, args: &[&str]) -> Output {
        tokio::process::Command::new(&self.program)
            .args(self.global_flags())
            .args(args)
            .stdin(Stdio::null())
            .output()
            .await
            .expect("podman runs")
    }

    /// Runs podman, failing the test unless it succeeds; returns what it printed.
    async fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args).await;
        assert!(
            out.status.success(),
            "podman {}: {}",
            args.join(" "),
            text(&out)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `podman <kind> inspect name`, the one object it describes.
    async fn inspect(&self, kind: &str, name: &str) -> Value {
        let out = self.ok(&[kind, "inspect", name]).await;
        let all: Value = serde_json::from_str(&out).expect("inspect prints JSON");
        all[0].clone()
    }

    async fn running(&self) -> bool {
        self.inspect("container", &self.container).await["State"]["Running"] == true
    }

    async fn logs(&self) -> String {
        text(&self.run(&["logs", &self.container]).await)
    }

    /// The runtime base: nothing but the files the binary needs (what `ldd` lists, the CA
    /// roots the Hub's TLS is checked against) and a root-owned `/var/lib`.
    async fn build_base(&self) {
        let context = self.dir.join("base");
        std::fs::create_dir_all(context.join("var/lib")).unwrap();
        let ldd = tokio::process::Command::new("ldd")
            .arg(BIN)
            .output()
            .await
            .expect("ldd runs");
        // A static binary needs nothing ("not a dynamic executable", exit code 1).
        let libraries = String::from_utf8_lossy(&ldd.stdout).into_owned();
        let mut files: Vec<&str> = libraries
            .split_whitespace()
            .filter(|w| w.starts_with('/'))
            .collect();
        let roots = "/etc/ssl/certs/ca-certificates.crt";
        if Path::new(roots).is_file() {
            files.push(roots);
        }
        for file in files {
            let to = context.join(file.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().unwrap()).unwrap();
            std::fs::copy(file, &to).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
        let containerfile = self.dir.join("base.Containerfile");
        std::fs::write(&containerfile, "FROM scratch\nCOPY . /\n").unwrap();
        let containerfile = containerfile.display().to_string();
        let context = context.display().to_string();
        #[rustfmt::skip]
        self.ok(&[
            "build", "--pull=never", "--format", "docker",
            "--file", &containerfile, "--tag", &self.base, &context,
        ])
        .await;
    }

    /// The project's Dockerfile built as the offline build of docs/deploy.md does, in a context that
    /// holds the Dockerfile, the `.dockerignore` and the binary at the path it re-includes.
    async fn build_image(&self) {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let context = self.dir.join("project");
        let binary = context.join("target/release/dockerhub_exporter");
        std::fs::create_dir_all(binary.parent().unwrap()).unwrap();
        for file in ["Dockerfile", ".dockerignore"] {
            std::fs::copy(root.join(file), context.join(file)).unwrap();
        }
        // The test's (debug) binary, stripped: a fifth of its size, and vfs copies it per layer.
        let stripped = tokio::process::Command::new("strip")
            .arg("-o")
            .arg(&binary)
            .arg(BIN)
            .status()
            .await
            .is_ok_and(|s| s.success());
        if !stripped {
            std::fs::copy(BIN, &binary).unwrap();
        }
        let base = format!("RUNTIME_BASE={}", self.base);
        let revision = format!("REVISION={REVISION}");
        let context = context.display().to_string();
        #[rustfmt::skip]
        self.ok(&[
            "build", "--pull=never", "--format", "docker",
            "--build-arg", "BINARY=target/release/dockerhub_exporter",
            "--build-arg", &base, "--build-arg", &revision,
            "--tag", &self.image, &context,
        ])
        .await;
    }

    /// The image's files, read from its mounted root: the state directory belongs to the
    /// exporter's user (a new volume takes its owner from it, in Docker as in podman), its
    /// parents and the binary to root.
    async fn check_image_files(&self) {
        let root = PathBuf::from(self.ok(&["image", "mount", &self.image]).await.trim());
        let owner = |path: &str| {
            let m = std::fs::metadata(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"));
            (m.uid(), m.gid(), m.mode() & 0o700 == 0o700)
        };
        let state = owner(STATE_DIR.trim_start_matches('/'));
        let parent = owner("var/lib");
        let binary = owner("dockerhub_exporter");
        self.ok(&["image", "unmount", &self.image]).await;
        assert_eq!(
            state,
            (UID, UID, true),
            "{STATE_DIR}: owner, rwx for the owner"
        );
        assert_eq!(parent, (0, 0, true), "/var/lib");
        assert_eq!(binary, (0, 0, true), "/dockerhub_exporter");
    }

    /// Removes the container (with its volume) and both images, failing the test if podman
    /// cannot.
    async fn remove(&self) {
        self.ok(&["rm", "--volumes", &self.container]).await;
        self.ok(&["rmi", &self.image, &self.base]).await;
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let podman = |args: &[&str]| {
            let _ = std::process::Command::new(&self.program)
                .args(self.global_flags())
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        };
        // Kill first: `rm -f` alone can leave the process running (and holding its port).
        podman(&["kill", &self.container]);
        podman(&["rm", "--force", "--volumes", &self.container]);
        podman(&["rmi", "--force", &self.image, &self.base]);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What a command printed, both streams.
fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
