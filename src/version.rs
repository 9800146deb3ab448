//! What this build is: version, commit, compiler and target, for `--version` and
//! `dockerhub_exporter_build_info`.

/// The version of dockerhub_exporter.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The commit it was built from, or `unknown`.
pub const REVISION: &str = env!("DOCKERHUB_EXPORTER_REVISION");
/// The compiler that built it (`rustc --version`).
pub const RUSTC_VERSION: &str = env!("DOCKERHUB_EXPORTER_RUSTC_VERSION");
/// The target triple it was built for.
pub const TARGET: &str = env!("DOCKERHUB_EXPORTER_TARGET");
/// The `User-Agent` of every request to Docker Hub, its API and its registry alike.
pub const USER_AGENT: &str = concat!("dockerhub_exporter/", env!("CARGO_PKG_VERSION"));

/// The `--version` text, laid out as Prometheus' own binaries print theirs.
pub fn text() -> String {
    format!(
        "dockerhub_exporter, version {VERSION} (revision: {REVISION})\n  \
         rustc version:    {RUSTC_VERSION}\n  \
         platform:         {TARGET}\n"
    )
}
