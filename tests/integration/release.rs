//! What a release is made of besides the binary: the licence everywhere it is named, and the
//! crate's package holding what a user of the crate needs and nothing built or left over by
//! tests.

use std::path::Path;
use std::process::Command;

fn file(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

#[test]
fn the_licence_is_apache_2_0_in_the_file_both_manifests_and_the_image_label() {
    let licence = file("LICENSE");
    assert!(licence.trim_start().starts_with("Apache License"));
    assert!(licence.contains("Version 2.0, January 2004"));
    assert!(licence.contains("END OF TERMS AND CONDITIONS"));
    let workspace = file("Cargo.toml");
    assert!(workspace.contains("\nlicense = \"Apache-2.0\"\n"));
    for manifest in ["Cargo.toml", "crates/simhub/Cargo.toml"] {
        assert!(
            file(manifest).contains("\nlicense.workspace = true\n"),
            "{manifest} takes the workspace's licence"
        );
    }
    assert!(file("crates/simhub/Cargo.toml").contains("\npublish = false\n"));
    assert!(file("Dockerfile").contains("\nARG LICENSES=Apache-2.0\n"));
}

#[test]
fn the_crate_package_holds_the_sources_and_licence_and_nothing_built() {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string());
    let out = Command::new(cargo)
        .args([
            "package",
            "--list",
            "--allow-dirty",
            "-p",
            "dockerhub_exporter",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let listed = String::from_utf8(out.stdout).unwrap();
    let files: Vec<&str> = listed.lines().collect();
    for needed in [
        "Cargo.toml",
        "Cargo.lock",
        "LICENSE",
        "README.md",
        "CHANGELOG.md",
        "build.rs",
        "src/main.rs",
        "src/lib.rs",
        "deploy/systemd/dockerhub_exporter.service",
        "examples/alerts.yml",
        "docs/metrics.md",
    ] {
        assert!(files.contains(&needed), "{needed} packaged: {files:?}");
    }
    for file in &files {
        assert!(
            !file.starts_with("target/")
                && !file.starts_with("tests/")
                && !file.starts_with("crates/")
                && !file.contains("proptest-regressions")
                && !file.ends_with(".deb")
                && !file.ends_with(".profraw"),
            "{file} packaged"
        );
    }
}
