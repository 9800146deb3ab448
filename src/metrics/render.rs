//! Renders the inventory families of a snapshot in the Prometheus text exposition format.
//!
//! This module owns the names, help texts, label order and value formatting of every
//! inventory series, and the rule that no family ever holds two identical label sets. It
//! writes straight into one byte buffer, without the `prometheus` crate's metric types, because
//! an inventory can hold hundreds of thousands of series and the crate's vectors keep every
//! label set alive twice (see `docs/performance-notes.md`). It does not decide when to render
//! (the refresh loop publishes, [`super::Published::new`] renders once per publication) and it
//! does not serve the text or render the exporter's own series.

use crate::changes::{Counters, RepositoryCounts, TagCounts};
use crate::config::{NameFilter, SeriesLevel};
use crate::inventory::{Image, Repository, Snapshot, Tag};

/// Appended to every help text: the exporter serves a cached inventory, and the Prometheus
/// guidance for exporters of cached data asks to say so.
const AS_OF: &str = ", as of the last refresh of the inventory.";

/// Bytes reserved per known tag before rendering: a tag with one platform image and sha256
/// digests renders to roughly this much over its six families (estimated from the line
/// lengths; an over-estimate is given back after rendering).
const BYTES_PER_TAG: usize = 768;

/// Renders the inventory families of `snapshot` that `options` asks for, one family after
/// another, each with its `# HELP` and `# TYPE` lines even when it has no series.
pub fn render_inventory(snapshot: &Snapshot, options: &Options) -> Vec<u8> {
    let repositories: usize = snapshot
        .namespaces
        .values()
        .map(|ns| ns.repositories.len())
        .sum();
    let mut out = Exposition {
        buf: Vec::with_capacity(
            4096 + repositories.saturating_mul(1024)
                + snapshot.tag_count().saturating_mul(BYTES_PER_TAG),
        ),
    };
    render_repository_families(&mut out, snapshot);
    if options.level != SeriesLevel::None {
        let selected = select(snapshot, options);
        render_tag_families(&mut out, &selected);
        if options.level == SeriesLevel::Images {
            render_image_families(&mut out, &selected);
        }
    }
    out.buf
}

/// A counter family over `T`: name, help, and how to read its value.
type Family<T> = (&'static str, &'static str, fn(&T) -> u64);

/// Renders the change counters: per repository, tags added, removed and moved to a new
/// digest; per namespace, repositories added and removed.
pub fn render_changes(counters: &Counters) -> Vec<u8> {
    let mut out = Exposition {
        buf: Vec::with_capacity(1024 + counters.tags.len() * 3 * 96),
    };
    let tag_families: [Family<TagCounts>; 3] = [
        (
            "dockerhub_tags_added_total",
            "Tags that appeared in the repository since the exporter started, counted when a listing of its tags succeeds",
            |c| c.added,
        ),
        (
            "dockerhub_tags_removed_total",
            "Tags that disappeared from the repository since the exporter started, also when the repository itself is gone",
            |c| c.removed,
        ),
        (
            "dockerhub_tags_updated_total",
            "Tags of the repository that moved to a new digest since the exporter started",
            |c| c.updated,
        ),
    ];
    for (name, help, value) in tag_families {
        out.family(name, Kind::Counter, help);
        for ((namespace, repository), counts) in &counters.tags {
            out.series(
                name,
                &[("hub_namespace", namespace), ("repository", repository)],
                Value::Int(value(counts)),
            );
        }
    }
    let repository_families: [Family<RepositoryCounts>; 2] = [
        (
            "dockerhub_repositories_added_total",
            "Repositories that appeared in the namespace since the exporter started (its first listing of the namespace counts none)",
            |c| c.added,
        ),
        (
            "dockerhub_repositories_removed_total",
            "Repositories that disappeared from the namespace since the exporter started",
            |c| c.removed,
        ),
    ];
    for (name, help, value) in repository_families {
        out.family(name, Kind::Counter, help);
        for (namespace, counts) in &counters.repositories {
            out.series(
                name,
                &[("hub_namespace", namespace)],
                Value::Int(value(counts)),
            );
        }
    }
    out.buf
}

fn render_repository_families(out: &mut Exposition, snapshot: &Snapshot) {
    out.family(
        "dockerhub_repositories",
        Kind::Gauge,
        "Repositories visible in the Docker Hub namespace, also those left out by --filter.repository",
    );
    for (namespace, ns) in &snapshot.namespaces {
        out.series(
            "dockerhub_repositories",
            &[("hub_namespace", namespace)],
            // A state file of an older version has no count of visible repositories.
            Value::Int(ns.visible.max(ns.repositories.len()) as u64),
        );
    }

    out.family(
        "dockerhub_repository_tags",
        Kind::Gauge,
        "Tags of the repository; absent while no listing of its tags has succeeded",
    );
    for (namespace, repo) in snapshot.repositories() {
        if let Some(tags) = &repo.tags {
            out.series(
                "dockerhub_repository_tags",
                &repository_labels(namespace, repo),
                Value::Int(tags.len() as u64),
            );
        }
    }

    out.family(
        "dockerhub_repository_info",
        Kind::Gauge,
        "Always 1; labelled with the repository's visibility (private) and repository_type",
    );
    for (namespace, repo) in snapshot.repositories() {
        let private = if repo.info.private { "true" } else { "false" };
        out.series(
            "dockerhub_repository_info",
            &[
                ("hub_namespace", namespace),
                ("repository", &repo.name),
                ("private", private),
                ("repository_type", &repo.info.repository_type),
            ],
            Value::Int(1),
        );
    }

    out.family(
        "dockerhub_repository_pulls_total",
        Kind::Counter,
        "Pulls of the repository as counted by Docker Hub",
    );
    for (namespace, repo) in snapshot.repositories() {
        out.series(
            "dockerhub_repository_pulls_total",
            &repository_labels(namespace, repo),
            Value::Int(repo.info.pull_count),
        );
    }

    out.family(
        "dockerhub_repository_stars",
        Kind::Gauge,
        "Stars of the repository on Docker Hub",
    );
    for (namespace, repo) in snapshot.repositories() {
        out.series(
            "dockerhub_repository_stars",
            &repository_labels(namespace, repo),
            Value::Int(repo.info.star_count),
        );
    }

    out.family(
        "dockerhub_repository_last_updated_timestamp_seconds",
        Kind::Gauge,
        "Unix time at which Docker Hub last updated the repository",
    );
    for (namespace, repo) in snapshot.repositories() {
        if let Some(t) = repo.info.last_updated {
            out.series(
                "dockerhub_repository_last_updated_timestamp_seconds",
                &repository_labels(namespace, repo),
                Value::Float(t),
            );
        }
    }

    out.family(
        "dockerhub_repository_storage_bytes",
        Kind::Gauge,
        "Storage Docker Hub reports for the repository, in bytes",
    );
    for (namespace, repo) in snapshot.repositories() {
        if let Some(size) = repo.info.storage_size {
            out.series(
                "dockerhub_repository_storage_bytes",
                &repository_labels(namespace, repo),
                Value::Int(size),
            );
        }
    }
}

fn render_tag_families(out: &mut Exposition, selected: &[Selected<'_>]) {
    out.family(
        "dockerhub_tag_info",
        Kind::Gauge,
        "Always 1, one series per tag; labelled with the digest of its manifest or index (empty when Docker Hub reports none)",
    );
    for &(namespace, repo, tag) in selected {
        out.series(
            "dockerhub_tag_info",
            &[
                ("hub_namespace", namespace),
                ("repository", &repo.name),
                ("tag", &tag.name),
                ("digest", &tag.digest),
            ],
            Value::Int(1),
        );
    }

    out.family(
        "dockerhub_tag_size_bytes",
        Kind::Gauge,
        "Full size of the tag's images in bytes, as Docker Hub reports it",
    );
    for &(namespace, repo, tag) in selected {
        if let Some(size) = tag.full_size {
            out.series(
                "dockerhub_tag_size_bytes",
                &tag_labels(namespace, repo, tag),
                Value::Int(size),
            );
        }
    }

    out.family(
        "dockerhub_tag_last_pushed_timestamp_seconds",
        Kind::Gauge,
        "Unix time at which the tag was last pushed",
    );
    for &(namespace, repo, tag) in selected {
        if let Some(t) = tag.last_pushed {
            out.series(
                "dockerhub_tag_last_pushed_timestamp_seconds",
                &tag_labels(namespace, repo, tag),
                Value::Float(t),
            );
        }
    }

    out.family(
        "dockerhub_tag_last_pulled_timestamp_seconds",
        Kind::Gauge,
        "Unix time at which the tag was last pulled; absent when it was never pulled",
    );
    for &(namespace, repo, tag) in selected {
        if let Some(t) = tag.last_pulled {
            out.series(
                "dockerhub_tag_last_pulled_timestamp_seconds",
                &tag_labels(namespace, repo, tag),
                Value::Float(t),
            );
        }
    }
}

fn render_image_families(out: &mut Exposition, selected: &[Selected<'_>]) {
    out.family(
        "dockerhub_image_info",
        Kind::Gauge,
        "Always 1, one series per platform image of a tag; labelled with its platform (variant empty when none) and digest",
    );
    for &(namespace, repo, tag) in selected {
        let images = &tag.images;
        for (i, image) in images.iter().enumerate() {
            if image.is_attestation()
                || earlier_match(images, i, |a, b| {
                    same_platform(a, b) && a.digest == b.digest
                })
            {
                continue;
            }
            out.series(
                "dockerhub_image_info",
                &[
                    ("hub_namespace", namespace),
                    ("repository", &repo.name),
                    ("tag", &tag.name),
                    ("os", &image.os),
                    ("architecture", &image.architecture),
                    ("variant", &image.variant),
                    ("digest", &image.digest),
                ],
                Value::Int(1),
            );
        }
    }

    out.family(
        "dockerhub_image_size_bytes",
        Kind::Gauge,
        "Compressed size of the platform image in bytes, the first one listed when a tag lists several images of one platform",
    );
    for &(namespace, repo, tag) in selected {
        let images = &tag.images;
        for (i, image) in images.iter().enumerate() {
            let Some(size) = image.size else { continue };
            // Only images that have a size compete for a platform's series, so a platform
            // whose first image lacks one still gets the size of the next.
            if image.is_attestation()
                || earlier_match(images, i, |a, b| a.size.is_some() && same_platform(a, b))
            {
                continue;
            }
            out.series(
                "dockerhub_image_size_bytes",
                &[
                    ("hub_namespace", namespace),
                    ("repository", &repo.name),
                    ("tag", &tag.name),
                    ("os", &image.os),
                    ("architecture", &image.architecture),
                    ("variant", &image.variant),
                ],
                Value::Int(size),
            );
        }
    }
}

/// What to render beyond the repository-level series, which are always complete.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Which per-tag and per-image families to render.
    pub level: SeriesLevel,
    /// Which tags get per-tag series.
    pub tag_filter: NameFilter,
    /// Per-tag series for this many most recently pushed tags of each repository only.
    pub max_tags_per_repository: Option<usize>,
}

/// A tag chosen for per-tag series, with its namespace and repository.
type Selected<'a> = (&'a str, &'a Repository, &'a Tag);

/// The tags that get per-tag series, in name order within each repository.
fn select<'a>(snapshot: &'a Snapshot, options: &Options) -> Vec<Selected<'a>> {
    let mut out = Vec::with_capacity(snapshot.tag_count());
    for (namespace, repo) in snapshot.repositories() {
        let Some(tags) = &repo.tags else { continue };
        let chosen = tags.iter().filter(|t| options.tag_filter.matches(&t.name));
        match options.max_tags_per_repository {
            Some(n) if tags.len() > n => {
                let mut newest: Vec<&Tag> = chosen.collect();
                // Newest first; never-pushed (unknown) last; ties by name for a stable choice.
                newest.sort_by(|a, b| {
                    let key = |t: &Tag| t.last_pushed.unwrap_or(f64::NEG_INFINITY);
                    key(b).total_cmp(&key(a)).then_with(|| a.name.cmp(&b.name))
                });
                newest.truncate(n);
                newest.sort_by(|a, b| a.name.cmp(&b.name));
                out.extend(newest.into_iter().map(|t| (namespace, repo, t)));
            }
            _ => out.extend(chosen.map(|t| (namespace, repo, t))),
        }
    }
    out
}

fn repository_labels<'a>(namespace: &'a str, repo: &'a Repository) -> [(&'static str, &'a str); 2] {
    [("hub_namespace", namespace), ("repository", &repo.name)]
}

fn tag_labels<'a>(
    namespace: &'a str,
    repo: &'a Repository,
    tag: &'a Tag,
) -> [(&'static str, &'a str); 3] {
    [
        ("hub_namespace", namespace),
        ("repository", &repo.name),
        ("tag", &tag.name),
    ]
}

fn same_platform(a: &Image, b: &Image) -> bool {
    a.os == b.os && a.architecture == b.architecture && a.variant == b.variant
}

/// Whether a platform image listed before `images[i]` already stands for it under `same`.
///
/// Quadratic in the images of one tag, which the Hub lists a handful at a time; cheaper
/// there than building a set for every tag.
fn earlier_match(images: &[Image], i: usize, same: impl Fn(&Image, &Image) -> bool) -> bool {
    images[..i]
        .iter()
        .any(|earlier| !earlier.is_attestation() && same(earlier, &images[i]))
}

/// The `# TYPE` of a family.
#[derive(Clone, Copy)]
enum Kind {
    Gauge,
    Counter,
}

/// A sample value.
#[derive(Clone, Copy)]
enum Value {
    Int(u64),
    Float(f64),
}

/// The buffer being written, with the few primitives of the text format.
struct Exposition {
    buf: Vec<u8>,
}

impl Exposition {
    /// Writes the `# HELP` and `# TYPE` lines of a family; `help` is a constant without
    /// backslashes or line breaks, and gets the cache notice appended.
    fn family(&mut self, name: &str, kind: Kind, help: &str) {
        debug_assert!(
            !help.contains(['\\', '\n']),
            "help of {name} needs escaping"
        );
        let kind = match kind {
            Kind::Gauge => "gauge",
            Kind::Counter => "counter",
        };
        for part in [
            "# HELP ",
            name,
            " ",
            help,
            AS_OF,
            "\n# TYPE ",
            name,
            " ",
            kind,
            "\n",
        ] {
            self.buf.extend_from_slice(part.as_bytes());
        }
    }

    /// Writes one sample line: `name{label="value",...} value`.
    fn series(&mut self, name: &str, labels: &[(&str, &str)], value: Value) {
        self.buf.extend_from_slice(name.as_bytes());
        self.buf.push(b'{');
        for (i, (label, label_value)) in labels.iter().enumerate() {
            if i > 0 {
                self.buf.push(b',');
            }
            self.buf.extend_from_slice(label.as_bytes());
            self.buf.extend_from_slice(b"=\"");
            self.escaped(label_value);
            self.buf.push(b'"');
        }
        self.buf.extend_from_slice(b"} ");
        match value {
            Value::Int(v) => self.int(v),
            Value::Float(v) => self.float(v),
        }
        self.buf.push(b'\n');
    }

    /// Appends a label value with `\`, `"` and line feeds escaped as the format requires.
    fn escaped(&mut self, value: &str) {
        let bytes = value.as_bytes();
        let mut start = 0;
        for (i, &b) in bytes.iter().enumerate() {
            let escape: &[u8] = match b {
                b'\\' => b"\\\\",
                b'"' => b"\\\"",
                b'\n' => b"\\n",
                _ => continue,
            };
            self.buf.extend_from_slice(&bytes[start..i]);
            self.buf.extend_from_slice(escape);
            start = i + 1;
        }
        self.buf.extend_from_slice(&bytes[start..]);
    }

    /// Appends an unsigned integer in decimal, without going through `fmt`.
    fn int(&mut self, mut v: u64) {
        let mut digits = [0u8; 20]; // u64::MAX has 20 decimal digits
        let mut at = digits.len();
        loop {
            at -= 1;
            digits[at] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.buf.extend_from_slice(&digits[at..]);
    }

    /// Appends a float as Rust's shortest round-trip decimal, which never uses an exponent
    /// and prints whole numbers without a fraction; non-finite values use the format's words.
    fn float(&mut self, v: f64) {
        use std::io::Write as _;
        if v.is_nan() {
            self.buf.extend_from_slice(b"NaN");
        } else if v.is_infinite() {
            let word: &[u8] = if v > 0.0 { b"+Inf" } else { b"-Inf" };
            self.buf.extend_from_slice(word);
        } else {
            // Writing into a Vec cannot fail.
            let _ = write!(self.buf, "{v}");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::inventory::{Namespace, RepositoryInfo};

    fn image(os: &str, architecture: &str, variant: &str, digest: &str, size: u64) -> Image {
        Image {
            os: os.into(),
            architecture: architecture.into(),
            variant: variant.into(),
            digest: digest.into(),
            size: Some(size),
        }
    }

    fn tag(name: &str) -> Tag {
        Tag {
            name: name.into(),
            digest: String::new(),
            full_size: None,
            last_pushed: None,
            last_pulled: None,
            images: vec![],
        }
    }

    fn repository(name: &str, tags: Option<Vec<Tag>>) -> Repository {
        Repository {
            name: name.into(),
            info: RepositoryInfo {
                private: false,
                repository_type: "image".into(),
                pull_count: 0,
                star_count: 0,
                last_updated: None,
                storage_size: None,
            },
            tags: tags.map(Arc::from),
            tags_as_of: None,
        }
    }

    fn snapshot(namespaces: Vec<(&str, Vec<Repository>)>) -> Snapshot {
        Snapshot {
            namespaces: namespaces
                .into_iter()
                .map(|(name, repos)| {
                    let repositories = repos.into_iter().map(|r| (r.name.clone(), r)).collect();
                    let namespace = Namespace {
                        repositories,
                        visible: 0,
                    };
                    (name.to_string(), namespace)
                })
                .collect(),
        }
    }

    fn text(snapshot: &Snapshot) -> String {
        String::from_utf8(render_inventory(snapshot, &Options::default()))
            .expect("the exposition is UTF-8")
    }

    /// The sample lines of `text` (no comments), for assertions on series alone.
    fn samples(text: &str) -> Vec<&str> {
        text.lines().filter(|l| !l.starts_with('#')).collect()
    }

    #[test]
    fn a_small_snapshot_renders_to_the_exact_golden_text() {
        let mut api = repository(
            "api",
            Some(vec![
                Tag {
                    name: "1.0".into(),
                    digest: "sha256:aaa".into(),
                    full_size: Some(2048),
                    last_pushed: Some(1727833827.90536),
                    last_pulled: Some(1727900000.0),
                    images: vec![
                        image("linux", "amd64", "", "sha256:a1", 1000),
                        image("linux", "arm", "v7", "sha256:a2", 900),
                        image("unknown", "unknown", "", "sha256:att", 10),
                    ],
                },
                Tag {
                    name: "dev".into(),
                    digest: String::new(),
                    full_size: None,
                    last_pushed: Some(1700000000.5),
                    last_pulled: None,
                    images: vec![Image {
                        size: None,
                        ..image("linux", "amd64", "", "", 0)
                    }],
                },
            ]),
        );
        api.info = RepositoryInfo {
            private: true,
            repository_type: "image".into(),
            pull_count: 12345678901,
            star_count: 7,
            last_updated: Some(1727833827.0),
            storage_size: Some(4096),
        };
        let pending = repository("pending", None);
        let odd = repository("we\"ird\\name\nx", Some(vec![tag("latest")]));
        let s = snapshot(vec![("acme", vec![pending, api]), ("zeta", vec![odd])]);

        let expected = r#"# HELP dockerhub_repositories Repositories visible in the Docker Hub namespace, also those left out by --filter.repository, as of the last refresh of the inventory.
# TYPE dockerhub_repositories gauge
dockerhub_repositories{hub_namespace="acme"} 2
dockerhub_repositories{hub_namespace="zeta"} 1
# HELP dockerhub_repository_tags Tags of the repository; absent while no listing of its tags has succeeded, as of the last refresh of the inventory.
# TYPE dockerhub_repository_tags gauge
dockerhub_repository_tags{hub_namespace="acme",repository="api"} 2
dockerhub_repository_tags{hub_namespace="zeta",repository="we\"ird\\name\nx"} 1
# HELP dockerhub_repository_info Always 1; labelled with the repository's visibility (private) and repository_type, as of the last refresh of the inventory.
# TYPE dockerhub_repository_info gauge
dockerhub_repository_info{hub_namespace="acme",repository="api",private="true",repository_type="image"} 1
dockerhub_repository_info{hub_namespace="acme",repository="pending",private="false",repository_type="image"} 1
dockerhub_repository_info{hub_namespace="zeta",repository="we\"ird\\name\nx",private="false",repository_type="image"} 1
# HELP dockerhub_repository_pulls_total Pulls of the repository as counted by Docker Hub, as of the last refresh of the inventory.
# TYPE dockerhub_repository_pulls_total counter
dockerhub_repository_pulls_total{hub_namespace="acme",repository="api"} 12345678901
dockerhub_repository_pulls_total{hub_namespace="acme",repository="pending"} 0
dockerhub_repository_pulls_total{hub_namespace="zeta",repository="we\"ird\\name\nx"} 0
# HELP dockerhub_repository_stars Stars of the repository on Docker Hub, as of the last refresh of the inventory.
# TYPE dockerhub_repository_stars gauge
dockerhub_repository_stars{hub_namespace="acme",repository="api"} 7
dockerhub_repository_stars{hub_namespace="acme",repository="pending"} 0
dockerhub_repository_stars{hub_namespace="zeta",repository="we\"ird\\name\nx"} 0
# HELP dockerhub_repository_last_updated_timestamp_seconds Unix time at which Docker Hub last updated the repository, as of the last refresh of the inventory.
# TYPE dockerhub_repository_last_updated_timestamp_seconds gauge
dockerhub_repository_last_updated_timestamp_seconds{hub_namespace="acme",repository="api"} 1727833827
# HELP dockerhub_repository_storage_bytes Storage Docker Hub reports for the repository, in bytes, as of the last refresh of the inventory.
# TYPE dockerhub_repository_storage_bytes gauge
dockerhub_repository_storage_bytes{hub_namespace="acme",repository="api"} 4096
# HELP dockerhub_tag_info Always 1, one series per tag; labelled with the digest of its manifest or index (empty when Docker Hub reports none), as of the last refresh of the inventory.
# TYPE dockerhub_tag_info gauge
dockerhub_tag_info{hub_namespace="acme",repository="api",tag="1.0",digest="sha256:aaa"} 1
dockerhub_tag_info{hub_namespace="acme",repository="api",tag="dev",digest=""} 1
dockerhub_tag_info{hub_namespace="zeta",repository="we\"ird\\name\nx",tag="latest",digest=""} 1
# HELP dockerhub_tag_size_bytes Full size of the tag's images in bytes, as Docker Hub reports it, as of the last refresh of the inventory.
# TYPE dockerhub_tag_size_bytes gauge
dockerhub_tag_size_bytes{hub_namespace="acme",repository="api",tag="1.0"} 2048
# HELP dockerhub_tag_last_pushed_timestamp_seconds Unix time at which the tag was last pushed, as of the last refresh of the inventory.
# TYPE dockerhub_tag_last_pushed_timestamp_seconds gauge
dockerhub_tag_last_pushed_timestamp_seconds{hub_namespace="acme",repository="api",tag="1.0"} 1727833827.90536
dockerhub_tag_last_pushed_timestamp_seconds{hub_namespace="acme",repository="api",tag="dev"} 1700000000.5
# HELP dockerhub_tag_last_pulled_timestamp_seconds Unix time at which the tag was last pulled; absent when it was never pulled, as of the last refresh of the inventory.
# TYPE dockerhub_tag_last_pulled_timestamp_seconds gauge
dockerhub_tag_last_pulled_timestamp_seconds{hub_namespace="acme",repository="api",tag="1.0"} 1727900000
# HELP dockerhub_image_info Always 1, one series per platform image of a tag; labelled with its platform (variant empty when none) and digest, as of the last refresh of the inventory.
# TYPE dockerhub_image_info gauge
dockerhub_image_info{hub_namespace="acme",repository="api",tag="1.0",os="linux",architecture="amd64",variant="",digest="sha256:a1"} 1
dockerhub_image_info{hub_namespace="acme",repository="api",tag="1.0",os="linux",architecture="arm",variant="v7",digest="sha256:a2"} 1
dockerhub_image_info{hub_namespace="acme",repository="api",tag="dev",os="linux",architecture="amd64",variant="",digest=""} 1
# HELP dockerhub_image_size_bytes Compressed size of the platform image in bytes, the first one listed when a tag lists several images of one platform, as of the last refresh of the inventory.
# TYPE dockerhub_image_size_bytes gauge
dockerhub_image_size_bytes{hub_namespace="acme",repository="api",tag="1.0",os="linux",architecture="amd64",variant=""} 1000
dockerhub_image_size_bytes{hub_namespace="acme",repository="api",tag="1.0",os="linux",architecture="arm",variant="v7"} 900
"#;
        let got = text(&s);
        for (i, (g, e)) in got.lines().zip(expected.lines()).enumerate() {
            assert_eq!(g, e, "line {}", i + 1);
        }
        assert_eq!(got, expected);
    }

    #[test]
    fn images_sharing_a_platform_do_not_duplicate_series() {
        let mut windows = tag("ltsc");
        windows.images = vec![
            image("windows", "amd64", "", "sha256:w1", 300),
            image("windows", "amd64", "", "sha256:w2", 400),
            image("windows", "amd64", "", "sha256:w1", 500),
            Image {
                size: None,
                ..image("linux", "amd64", "", "sha256:l1", 0)
            },
            image("linux", "amd64", "", "sha256:l2", 600),
        ];
        let s = snapshot(vec![("acme", vec![repository("win", Some(vec![windows]))])]);
        let got = text(&s);

        let info: Vec<_> = samples(&got)
            .into_iter()
            .filter(|l| l.starts_with("dockerhub_image_info{"))
            .collect();
        assert_eq!(info.len(), 4, "{got}");
        assert!(info[0].contains(r#"os="windows""#) && info[0].contains("sha256:w1"));
        assert!(info[1].contains(r#"os="windows""#) && info[1].contains("sha256:w2"));
        assert!(info[2].contains("sha256:l1") && info[3].contains("sha256:l2"));

        let size: Vec<_> = samples(&got)
            .into_iter()
            .filter(|l| l.starts_with("dockerhub_image_size_bytes{"))
            .collect();
        assert_eq!(
            size,
            [
                r#"dockerhub_image_size_bytes{hub_namespace="acme",repository="win",tag="ltsc",os="windows",architecture="amd64",variant=""} 300"#,
                r#"dockerhub_image_size_bytes{hub_namespace="acme",repository="win",tag="ltsc",os="linux",architecture="amd64",variant=""} 600"#,
            ]
        );

        // No family anywhere holds a label set twice.
        let mut seen = std::collections::HashSet::new();
        for line in samples(&got) {
            let series = line.rsplit_once(' ').map_or(line, |(s, _)| s);
            assert!(seen.insert(series), "duplicate series {series}");
        }
    }

    #[test]
    fn an_empty_snapshot_renders_only_help_and_type_lines() {
        let got = text(&Snapshot::default());
        let lines: Vec<_> = got.lines().collect();
        assert_eq!(lines.len(), 26, "{got}");
        for pair in lines.chunks(2) {
            let name = pair[0]
                .strip_prefix("# HELP ")
                .and_then(|rest| rest.split(' ').next())
                .expect("a HELP line first");
            assert!(pair[1].starts_with(&format!("# TYPE {name} ")), "{got}");
        }
        assert!(got.ends_with('\n'));
    }

    #[test]
    fn timestamps_print_without_exponent_or_trailing_fraction() {
        let mut out = Exposition { buf: Vec::new() };
        for v in [
            1727833827.0,
            1727833827.90536,
            0.0,
            1e21,
            f64::INFINITY,
            f64::NAN,
        ] {
            out.float(v);
            out.buf.push(b' ');
        }
        out.int(u64::MAX);
        out.buf.push(b' ');
        out.int(0);
        assert_eq!(
            String::from_utf8(out.buf).expect("ASCII"),
            "1727833827 1727833827.90536 0 1000000000000000000000 +Inf NaN 18446744073709551615 0"
        );
    }

    #[test]
    fn every_tag_and_image_of_a_large_repository_gets_its_series() {
        let tags: Vec<Tag> = (0..2_500)
            .map(|i| Tag {
                name: format!("v{i:06}"),
                digest: format!("sha256:{i:064x}"),
                full_size: Some(123_456_789),
                last_pushed: Some(1727833827.90536),
                last_pulled: (i % 2 == 0).then_some(1727900000.0),
                images: vec![
                    image("linux", "amd64", "", &format!("sha256:{i:063x}a"), 1),
                    image("linux", "arm64", "v8", &format!("sha256:{i:063x}b"), 2),
                ],
            })
            .collect();
        let s = snapshot(vec![("acme", vec![repository("big", Some(tags))])]);
        let text = text(&s);
        let count = |prefix: &str| {
            samples(&text)
                .iter()
                .filter(|l| l.starts_with(prefix))
                .count()
        };
        assert_eq!(count("dockerhub_tag_info{"), 2_500);
        assert_eq!(count("dockerhub_tag_size_bytes{"), 2_500);
        assert_eq!(count("dockerhub_tag_last_pulled_timestamp_seconds{"), 1_250);
        assert_eq!(count("dockerhub_image_info{"), 5_000);
        assert_eq!(count("dockerhub_image_size_bytes{"), 5_000);
        assert!(text.contains(
            "dockerhub_repository_tags{hub_namespace=\"acme\",repository=\"big\"} 2500\n"
        ));
    }

    fn families(text: &str) -> Vec<&str> {
        text.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| l.split(' ').next().unwrap())
            .collect()
    }

    #[test]
    fn the_series_level_chooses_the_families_and_repository_counts_stay() {
        let s = snapshot(vec![(
            "acme",
            vec![repository("api", Some(vec![tag("a"), tag("b")]))],
        )]);
        for (level, tag_families, image_families) in [
            (SeriesLevel::None, false, false),
            (SeriesLevel::Tags, true, false),
            (SeriesLevel::Images, true, true),
        ] {
            let options = Options {
                level,
                ..Options::default()
            };
            let text = String::from_utf8(render_inventory(&s, &options)).unwrap();
            let f = families(&text);
            assert_eq!(f.contains(&"dockerhub_tag_info"), tag_families, "{level:?}");
            assert_eq!(
                f.contains(&"dockerhub_image_info"),
                image_families,
                "{level:?}"
            );
            assert!(
                text.contains(
                    "dockerhub_repository_tags{hub_namespace=\"acme\",repository=\"api\"} 2\n"
                ),
                "{level:?}"
            );
        }
    }

    #[test]
    fn the_tag_filter_and_the_newest_n_choose_the_tags_with_series() {
        let pushed = |name: &str, at: Option<f64>| Tag {
            last_pushed: at,
            ..tag(name)
        };
        let s = snapshot(vec![(
            "acme",
            vec![repository(
                "api",
                Some(vec![
                    pushed("1.0", Some(100.0)),
                    pushed("1.1", Some(300.0)),
                    pushed("1.2", Some(200.0)),
                    pushed("nightly", Some(400.0)),
                    pushed("old", None),
                ]),
            )],
        )]);
        let options = Options {
            level: SeriesLevel::Tags,
            tag_filter: NameFilter::new(None, Some(regex::Regex::new("^(?:nightly)$").unwrap())),
            max_tags_per_repository: Some(2),
        };
        let text = String::from_utf8(render_inventory(&s, &options)).unwrap();
        let tags: Vec<&str> = samples(&text)
            .into_iter()
            .filter(|l| l.starts_with("dockerhub_tag_info{"))
            .map(|l| l.split("tag=\"").nth(1).unwrap().split('"').next().unwrap())
            .collect();
        assert_eq!(
            tags,
            ["1.1", "1.2"],
            "the two newest of those the filter lets through"
        );
        assert!(
            text.contains(
                "dockerhub_repository_tags{hub_namespace=\"acme\",repository=\"api\"} 5\n"
            )
        );
    }

    #[test]
    fn change_counters_render_to_the_exact_golden_text() {
        let mut counters = Counters::default();
        counters.tags.insert(
            ("acme".into(), "api".into()),
            TagCounts {
                added: 3,
                removed: 1,
                updated: 2,
            },
        );
        counters
            .tags
            .insert(("acme".into(), "gone".into()), Default::default());
        counters.repositories.insert(
            "acme".into(),
            RepositoryCounts {
                added: 0,
                removed: 1,
            },
        );
        let expected = r#"# HELP dockerhub_tags_added_total Tags that appeared in the repository since the exporter started, counted when a listing of its tags succeeds, as of the last refresh of the inventory.
# TYPE dockerhub_tags_added_total counter
dockerhub_tags_added_total{hub_namespace="acme",repository="api"} 3
dockerhub_tags_added_total{hub_namespace="acme",repository="gone"} 0
# HELP dockerhub_tags_removed_total Tags that disappeared from the repository since the exporter started, also when the repository itself is gone, as of the last refresh of the inventory.
# TYPE dockerhub_tags_removed_total counter
dockerhub_tags_removed_total{hub_namespace="acme",repository="api"} 1
dockerhub_tags_removed_total{hub_namespace="acme",repository="gone"} 0
# HELP dockerhub_tags_updated_total Tags of the repository that moved to a new digest since the exporter started, as of the last refresh of the inventory.
# TYPE dockerhub_tags_updated_total counter
dockerhub_tags_updated_total{hub_namespace="acme",repository="api"} 2
dockerhub_tags_updated_total{hub_namespace="acme",repository="gone"} 0
# HELP dockerhub_repositories_added_total Repositories that appeared in the namespace since the exporter started (its first listing of the namespace counts none), as of the last refresh of the inventory.
# TYPE dockerhub_repositories_added_total counter
dockerhub_repositories_added_total{hub_namespace="acme"} 0
# HELP dockerhub_repositories_removed_total Repositories that disappeared from the namespace since the exporter started, as of the last refresh of the inventory.
# TYPE dockerhub_repositories_removed_total counter
dockerhub_repositories_removed_total{hub_namespace="acme"} 1
"#;
        let got = String::from_utf8(render_changes(&counters)).unwrap();
        assert_eq!(got, expected);
    }
}
