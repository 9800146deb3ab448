//! A real OCI registry for the mirror tests: Debian's `docker-registry` (CNCF distribution)
//! started with a configuration of its own on a free loopback port, filesystem storage in a
//! temporary directory, optionally behind htpasswd (bcrypt) basic authentication; images built
//! with `buildah from scratch` (two platforms joined in a manifest list) and pushed or copied
//! with buildah and skopeo over plain HTTP. Without the tools, [`Registry::start`] gives
//! `None` after saying the test is skipped, unless `DOCKERHUB_EXPORTER_REQUIRE_REGISTRY` is set.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use tokio::process::Child;

use super::{WAIT_LIMIT, collect_lines, eventually, free_port, required_tool, temp_dir, write};

/// Set in CI: the registry tests fail instead of skipping when a tool is missing.
pub const REQUIRE_REGISTRY: &str = "DOCKERHUB_EXPORTER_REQUIRE_REGISTRY";

/// The manifest types a pull accepts.
const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json";

/// A running `docker-registry` and the buildah storage that fills it.
pub struct Registry {
    /// `127.0.0.1:PORT`.
    pub host: String,
    dir: PathBuf,
    child: Option<Child>,
    log: Arc<Mutex<Vec<String>>>,
    creds: Option<String>,
}

impl Registry {
    /// Starts a registry, behind basic authentication for `user:password` if given; `None`
    /// when a tool is missing (the test is then skipped).
    pub async fn start(name: &str, basic: Option<(&str, &str)>) -> Option<Registry> {
        let install = "apt-get install docker-registry buildah skopeo apache2-utils";
        for tool in ["docker-registry", "buildah", "skopeo", "htpasswd"] {
            required_tool(tool, REQUIRE_REGISTRY, install)?;
        }
        let dir = temp_dir(&format!("registry-{name}"));
        let port = free_port();
        let host = format!("127.0.0.1:{port}");
        let auth = match basic {
            Some((user, password)) => {
                let out = Command::new("htpasswd")
                    .args(["-nbB", "-C", "10", user, password])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "htpasswd");
                let file = write(&dir, "htpasswd", &String::from_utf8(out.stdout).unwrap());
                format!(
                    "auth:\n  htpasswd:\n    realm: test\n    path: {}\n",
                    file.display()
                )
            }
            None => String::new(),
        };
        let config = write(
            &dir,
            "config.yml",
            &format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: {host}\n{auth}",
                dir.join("storage").display()
            ),
        );
        let mut child = tokio::process::Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let log = collect_lines(&mut child);
        let registry = Registry {
            creds: basic.map(|(u, p)| format!("{u}:{p}")),
            host,
            dir,
            child: Some(child),
            log,
        };
        let url = format!("http://{}/v2/", registry.host);
        eventually(|| async {
            let answer = reqwest::get(&url).await.ok()?;
            // 401 behind basic authentication: the registry is up all the same.
            matches!(answer.status().as_u16(), 200 | 401).then_some(())
        })
        .await;
        Some(registry)
    }

    /// Builds a two-platform image whose files say `content`, and pushes it as
    /// `repository:tag`; its digest (the manifest list's).
    pub async fn push(&self, repository: &str, tag: &str, content: &str) -> String {
        let list = format!("list-{}", self.unique());
        self.buildah(&["manifest", "create", &list]);
        for arch in ["amd64", "arm64"] {
            let container = self.buildah(&["from", "scratch"]);
            let file = write(&self.dir, "content.txt", &format!("{content} {arch}\n"));
            self.buildah(&["copy", &container, file.to_str().unwrap(), "/content.txt"]);
            self.buildah(&["config", "--arch", arch, "--os", "linux", &container]);
            let image = format!("localhost/img-{}", self.unique());
            self.buildah(&["commit", "--quiet", &container, &image]);
            self.buildah(&["rm", &container]);
            self.buildah(&["manifest", "add", &list, &image]);
        }
        let target = format!("docker://{}/{repository}:{tag}", self.host);
        let mut args = vec!["manifest", "push", "--all", "--tls-verify=false"];
        if let Some(creds) = &self.creds {
            args.extend(["--creds", creds]);
        }
        args.extend([list.as_str(), target.as_str()]);
        self.buildah(&args);
        self.digest(repository, tag)
            .await
            .expect("the pushed tag has a digest")
    }

    /// Copies `repository:from` to `repository:to` in the registry with skopeo (the whole
    /// list, digests kept).
    pub fn copy(&self, repository: &str, from: &str, to: &str) {
        let src = format!("docker://{}/{repository}:{from}", self.host);
        let dst = format!("docker://{}/{repository}:{to}", self.host);
        let mut args = vec![
            "copy",
            "--all",
            "--preserve-digests",
            "--src-tls-verify=false",
            "--dest-tls-verify=false",
        ];
        if let Some(creds) = &self.creds {
            args.extend(["--src-creds", creds, "--dest-creds", creds]);
        }
        args.extend([src.as_str(), dst.as_str()]);
        run(Command::new("skopeo").args(&args));
    }

    /// The digest of `repository:tag` (a HEAD with a pull's Accept), `None` if absent.
    pub async fn digest(&self, repository: &str, tag: &str) -> Option<String> {
        let url = format!("http://{}/v2/{repository}/manifests/{tag}", self.host);
        let answer = self
            .authorized(reqwest::Client::new().head(&url))
            .header("accept", ACCEPT)
            .send()
            .await
            .unwrap();
        answer
            .headers()
            .get("docker-content-digest")
            .map(|d| d.to_str().unwrap().to_string())
    }

    /// Deletes the manifest `repository:tag` points to (and so every tag on it).
    pub async fn delete(&self, repository: &str, tag: &str) {
        let digest = self.digest(repository, tag).await.expect("the tag exists");
        let url = format!("http://{}/v2/{repository}/manifests/{digest}", self.host);
        let answer = self
            .authorized(reqwest::Client::new().delete(&url))
            .send()
            .await
            .unwrap();
        assert_eq!(
            answer.status(),
            202,
            "the registry deletes {repository}:{tag}"
        );
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self.creds.as_deref().and_then(|c| c.split_once(':')) {
            Some((user, password)) => request.basic_auth(user, Some(password)),
            None => request,
        }
    }

    /// The registry's log lines so far.
    pub fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    /// Stops the registry (its port then refuses connections).
    pub async fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().await.unwrap();
            tokio::time::timeout(WAIT_LIMIT, child.wait())
                .await
                .unwrap()
                .unwrap();
        }
    }

    fn buildah(&self, args: &[&str]) -> String {
        let root = self.dir.join("buildah");
        run(Command::new("buildah")
            .arg("--storage-driver")
            .arg("vfs")
            .arg("--root")
            .arg(root.join("root"))
            .arg("--runroot")
            .arg(root.join("runroot"))
            .args(args))
    }

    fn unique(&self) -> String {
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_string()
    }

    /// The registry's directory, for files a test writes beside it.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        // Buildah's vfs storage may hold read-only files; a leftover is harmless.
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Runs `command`, failing the test with its output if it fails; its standard output.
fn run(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
