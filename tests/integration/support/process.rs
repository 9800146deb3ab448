//! The exporter binary as a child process (the exporter, or one run of its `inventory`
//! command), and the outside tools (promtool, prometheus) the tests run beside it.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use super::{WAIT_LIMIT, eventually, families, get, refreshes};

pub const BIN: &str = env!("CARGO_BIN_EXE_dockerhub_exporter");

/// Set by CI: a missing promtool fails the test instead of skipping it.
pub const REQUIRE_PROMETHEUS: &str = "DOCKERHUB_EXPORTER_REQUIRE_PROMETHEUS";

/// The exporter binary running as a child process, its log lines collected.
pub struct Process {
    pub child: Child,
    pub log: Arc<Mutex<Vec<String>>>,
    pub url: String,
}

impl Process {
    pub async fn start(args: &[impl AsRef<str>], envs: &[(&str, &str)]) -> Process {
        // Any free port unless the test chose one.
        let listen: &[&str] = if args.iter().any(|a| a.as_ref() == "--web.listen-address") {
            &[]
        } else {
            &["--web.listen-address", "127.0.0.1:0"]
        };
        let mut child = Command::new(BIN)
            .args(listen)
            .args(super::no_real_registry(args))
            .args(args.iter().map(AsRef::as_ref))
            .env_clear()
            .envs(envs.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the binary starts");
        let log = collect_lines(&mut child);
        let address = eventually(|| async {
            log.lock().unwrap().iter().find_map(|l| {
                l.contains("dockerhub_exporter started")
                    .then(|| {
                        l.split("address=")
                            .nth(1)?
                            .split(' ')
                            .next()
                            .map(str::to_string)
                    })
                    .flatten()
            })
        })
        .await;
        Process {
            child,
            log,
            url: format!("http://{address}"),
        }
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().join("\n")
    }

    /// Waits until `dockerhub_refreshes_total` reaches `n`; returns the exposition, checked
    /// against the format's rules.
    pub async fn metrics_after_refreshes(&self, n: f64) -> String {
        let metrics = eventually(|| async {
            let (_, m) = get(&format!("{}/metrics", self.url)).await;
            (refreshes(&m) >= n).then_some(m)
        })
        .await;
        families(&metrics);
        metrics
    }

    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("still running").to_string();
        let killed = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(killed.success());
        tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .expect("the exporter stops within seconds of SIGTERM")
            .unwrap()
    }
}

/// A size that `/proc/<pid>/status` of process `pid` gives in KiB (`VmRSS`, `VmHWM`), in
/// bytes.
pub fn status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status_field_bytes(&status, field)
        .unwrap_or_else(|| panic!("no {field} in the status of {pid}"))
}

/// A size in KiB that the text of a `/proc/<pid>/status` gives (`VmRSS`, `VmHWM`), in bytes.
pub fn status_field_bytes(status: &str, field: &str) -> Option<u64> {
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())?;
    Some(kib * 1024)
}

/// The lines `child` writes to its (piped) standard error, collected as they come.
pub fn collect_lines(child: &mut Child) -> Arc<Mutex<Vec<String>>> {
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut lines = BufReader::new(child.stderr.take().expect("stderr piped")).lines();
    let sink = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    log
}

/// The path of promtool or prometheus, or `None` after printing that the calling test is
/// skipped. In CI (`DOCKERHUB_EXPORTER_REQUIRE_PROMETHEUS` set) a missing tool fails the test.
pub fn tool(name: &str) -> Option<std::path::PathBuf> {
    required_tool(name, REQUIRE_PROMETHEUS, "apt-get install prometheus")
}

/// The path of an outside tool, or `None` after printing that the calling test is skipped
/// and how to `install` it; with the environment variable `require` set (as CI sets it), a
/// missing tool fails the test instead.
pub fn required_tool(name: &str, require: &str, install: &str) -> Option<std::path::PathBuf> {
    let found = which(name);
    if found.is_none() {
        assert!(
            std::env::var_os(require).is_none(),
            "{name} is required but missing ({install})"
        );
        println!("skipped: {name} is not installed ({install})");
    }
    found
}

fn which(name: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// What one run of the command did.
pub struct Ran {
    /// The exit code; `None` when a signal ended it.
    pub code: Option<i32>,
    /// Standard output, UTF-8.
    pub stdout: String,
    /// Standard error, lossily read.
    pub stderr: String,
}

/// Runs `dockerhub_exporter inventory` with `args` and only `envs` in its environment, its
/// standard output and error piped.
pub async fn inventory(args: &[impl AsRef<str>], envs: &[(&str, &str)]) -> Ran {
    let run = tokio::process::Command::new(BIN)
        .arg("inventory")
        .args(args.iter().map(AsRef::as_ref))
        .env_clear()
        .envs(envs.iter().copied())
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(WAIT_LIMIT, run)
        .await
        .expect("the command ends")
        .expect("the binary runs");
    Ran {
        code: out.status.code(),
        stdout: String::from_utf8(out.stdout).expect("UTF-8 on standard output"),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
