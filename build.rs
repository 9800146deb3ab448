//! Build facts for `--version` and `dockerhub_exporter_build_info`: the commit (from the
//! environment variable `DOCKERHUB_EXPORTER_REVISION`, as a container build passes it, else
//! from git, else `unknown`), the compiler's version and the target.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=DOCKERHUB_EXPORTER_REVISION");
    let revision = std::env::var("DOCKERHUB_EXPORTER_REVISION")
        .ok()
        .filter(|r| !r.trim().is_empty())
        .or_else(git_revision)
        .unwrap_or_else(|| "unknown".to_string());
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let rustc_version = Command::new(rustc)
        .arg("--version")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|v| v.trim().to_string())
        .unwrap_or_else(|| "unknown".to_string());
    let target = std::env::var("TARGET").unwrap_or_else(|_| "unknown".to_string());
    println!(
        "cargo:rustc-env=DOCKERHUB_EXPORTER_REVISION={}",
        revision.trim()
    );
    println!("cargo:rustc-env=DOCKERHUB_EXPORTER_RUSTC_VERSION={rustc_version}");
    println!("cargo:rustc-env=DOCKERHUB_EXPORTER_TARGET={target}");
}

/// The commit checked out, when this is a git checkout; the build runs again when it moves.
fn git_revision() -> Option<String> {
    let head = Path::new(".git/HEAD");
    if head.is_file() {
        println!("cargo:rerun-if-changed=.git/HEAD");
        if let Some(reference) = std::fs::read_to_string(head)
            .ok()
            .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_string()))
        {
            println!("cargo:rerun-if-changed=.git/{reference}");
            println!("cargo:rerun-if-changed=.git/packed-refs");
        }
    }
    let out = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    String::from_utf8(out.stdout)
        .ok()
        .map(|r| r.trim().to_string())
}
