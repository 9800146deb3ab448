//! The Debian package: `cargo deb` builds it from the release binary; installed with
//! `dpkg -i` it runs, its systemd units pass `systemd-analyze verify`, nothing is enabled or
//! started, lintian finds no error, `dpkg -r` takes away what it installed but the
//! configuration, and `dpkg -P` the configuration too.
//!
//! It installs into the system itself, so it needs root, as CI has; it is skipped where
//! `cargo deb` is missing unless `DOCKERHUB_EXPORTER_REQUIRE_DEBIAN` is set (CI sets it).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::*;

/// Set by CI: a missing `cargo deb`, dpkg, lintian or root fails the test instead of
/// skipping it.
const REQUIRE_DEBIAN: &str = "DOCKERHUB_EXPORTER_REQUIRE_DEBIAN";

const PACKAGE: &str = "dockerhub-exporter";

/// What the package installs that `dpkg -r` must take away.
const INSTALLED: [&str; 5] = [
    "/usr/bin/dockerhub_exporter",
    "/usr/lib/systemd/system/dockerhub_exporter.service",
    "/usr/lib/systemd/system/dockerhub_exporter.socket",
    "/usr/share/doc/dockerhub-exporter/copyright",
    "/usr/share/doc/dockerhub-exporter/README.md",
];

/// The configuration, which `dpkg -r` keeps and `dpkg -P` takes away.
const CONFIGURATION: [&str; 2] = ["/etc/default/dockerhub_exporter", "/etc/dockerhub_exporter"];

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn exists(path: &str) -> bool {
    Path::new(path).symlink_metadata().is_ok()
}

/// The dpkg status of the package: `installed`, `config-files`, or `None` when dpkg knows
/// nothing of it.
fn status() -> Option<String> {
    let out = Command::new("dpkg-query")
        .args(["-W", "-f", "${db:Status-Status}", PACKAGE])
        .output()
        .unwrap();
    let status = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (out.status.success() && !status.is_empty() && status != "not-installed").then_some(status)
}

/// Builds the package as the docs say, in a target directory of its own (the tests' build
/// directory is busy with this very test run); its path.
fn build(cargo_deb: &Path, out: &Path) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    run(Command::new(cargo_deb)
        .arg("deb")
        .args(["-p", "dockerhub_exporter", "--output"])
        .arg(out)
        .current_dir(root)
        .env("CARGO_TARGET_DIR", root.join("target/debian-build")));
    std::fs::read_dir(out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .expect("a .deb")
}

#[test]
fn the_debian_package_installs_verifies_and_goes_away_cleanly() {
    let Some(cargo_deb) = required_tool("cargo-deb", REQUIRE_DEBIAN, "cargo install cargo-deb")
    else {
        return;
    };
    let Some(dpkg) = required_tool("dpkg", REQUIRE_DEBIAN, "a Debian system") else {
        return;
    };
    // SAFETY: geteuid reads the process's user id; it has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        assert!(
            std::env::var_os(REQUIRE_DEBIAN).is_none(),
            "installing the package needs root"
        );
        println!("skipped: installing the package needs root");
        return;
    }
    let dir = temp_dir("debian-package");
    let deb = build(&cargo_deb, &dir);
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        deb.file_name().unwrap().to_string_lossy(),
        format!("{PACKAGE}_{version}_amd64.deb")
    );
    if status().is_some() {
        run(Command::new(&dpkg).args(["-P", PACKAGE]));
    }

    run(Command::new(&dpkg).arg("-i").arg(&deb));
    assert_eq!(status().as_deref(), Some("installed"));
    for path in INSTALLED.iter().chain(&CONFIGURATION) {
        assert!(exists(path), "{path} installed");
    }
    let version_text = run(Command::new("/usr/bin/dockerhub_exporter").arg("--version"));
    assert!(
        String::from_utf8_lossy(&version_text.stdout)
            .starts_with(&format!("dockerhub_exporter, version {version}")),
        "{version_text:?}"
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata("/etc/dockerhub_exporter")
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700, "the token's directory is root's alone");
    // The licence, as Debian names it: the full text is base-files' common licence.
    let copyright = std::fs::read_to_string("/usr/share/doc/dockerhub-exporter/copyright").unwrap();
    assert!(copyright.contains("License: Apache-2.0"), "{copyright}");
    assert!(Path::new("/usr/share/common-licenses/Apache-2.0").exists());
    let defaults = std::fs::read_to_string("/etc/default/dockerhub_exporter").unwrap();
    assert!(
        defaults
            .lines()
            .all(|l| l.trim().is_empty() || l.starts_with('#')),
        "every setting commented out:\n{defaults}"
    );
    // Nothing enabled at install: the service needs its settings first.
    for wants in ["sockets.target.wants", "multi-user.target.wants"] {
        for unit in ["dockerhub_exporter.socket", "dockerhub_exporter.service"] {
            let link = format!("/etc/systemd/system/{wants}/{unit}");
            assert!(!exists(&link), "{link} enabled at install");
        }
    }
    if let Some(analyze) =
        required_tool("systemd-analyze", REQUIRE_DEBIAN, "apt-get install systemd")
    {
        let out = Command::new(analyze)
            .arg("verify")
            .args(&INSTALLED[1..3])
            .output()
            .unwrap();
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{said}");
        assert_eq!(said.trim(), "", "systemd-analyze verify complained");
    }
    if let Some(lintian) = required_tool("lintian", REQUIRE_DEBIAN, "apt-get install lintian") {
        let out = Command::new(lintian).arg(&deb).output().unwrap();
        let said = String::from_utf8_lossy(&out.stdout);
        let errors: Vec<&str> = said.lines().filter(|l| l.starts_with("E:")).collect();
        assert!(errors.is_empty(), "lintian found errors:\n{said}");
    }

    run(Command::new(&dpkg).args(["-r", PACKAGE]));
    assert_eq!(status().as_deref(), Some("config-files"));
    for path in INSTALLED {
        assert!(!exists(path), "{path} removed");
    }
    for path in CONFIGURATION {
        assert!(exists(path), "{path} kept until purged");
    }
    run(Command::new(&dpkg).args(["-P", PACKAGE]));
    assert_eq!(status(), None);
    for path in CONFIGURATION {
        assert!(!exists(path), "{path} purged");
    }
    std::fs::remove_dir_all(dir).unwrap();
}
