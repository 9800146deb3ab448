//! Headless Chromium, for the tests that load the pages as a browser renders them.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::required_tool;

/// In CI a missing Chromium fails the tests that need it instead of skipping them.
pub const REQUIRE_CHROMIUM: &str = "DOCKERHUB_EXPORTER_REQUIRE_CHROMIUM";

/// The Chromium binary, or `None` after printing that the calling test is skipped.
pub fn chromium() -> Option<PathBuf> {
    required_tool("chromium", REQUIRE_CHROMIUM, "apt-get install chromium")
}

/// The DOM of the page at `url` once Chromium has loaded and rendered it, serialized.
pub async fn dump_dom(chromium: &Path, url: &str) -> String {
    let profile = tempfile_dir();
    let output = tokio::time::timeout(
        Duration::from_secs(120),
        tokio::process::Command::new(chromium)
            .args(flags(&profile))
            .arg("--dump-dom")
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("chromium ends")
    .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(
        output.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).expect("the DOM is UTF-8")
}

/// Headless, without the sandbox (CI runs as root, where Chromium refuses it), with a
/// profile of its own and nothing that would reach the network besides the page.
fn flags(profile: &Path) -> Vec<String> {
    [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-extensions",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,900",
    ]
    .iter()
    .map(|f| f.to_string())
    .chain([format!("--user-data-dir={}", profile.display())])
    .collect()
}

fn tempfile_dir() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    super::temp_dir(&format!("chromium-{n}"))
}
