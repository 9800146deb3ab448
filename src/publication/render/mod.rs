//! Renders the inventory families of a snapshot in the Prometheus text exposition format.
//!
//! This module owns what the families contain: the names, help texts, label order and values
//! of every inventory series, which tags get series, and the rule that no family ever holds
//! two identical label sets. The writing itself is in [`exposition`]: it writes straight into
//! one byte buffer, without the `prometheus` crate's metric types, because an inventory can
//! hold hundreds of thousands of series and the crate's vectors keep every label set alive
//! twice; the exporter hands the text on in pieces as it is written (see [`Output`]), so the
//! whole text is never held. This module does not decide when to render (the refresh loop
//! publishes, [`super::Published::new`] renders once per publication) and it does not serve
//! the text or render the exporter's own series.

mod exposition;

pub(crate) use exposition::Output;
// Only the whole-text renderings, which tests compare, hand a `Rendered` out of this module.
#[cfg(test)]
pub(crate) use exposition::Rendered;

use crate::changes::{Counters, RepositoryCounts, TagCounts};
use crate::inventory::{Image, Repository, Snapshot, Tag, TagSelection, TagStatus};
use exposition::{Exposition, Kind, Value};

/// Which per-tag and per-image series are rendered (`--metrics.tags`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) enum SeriesLevel {
    /// Repository-level series only.
    None,
    /// Also one set of series per tag.
    Tags,
    /// Also one set of series per platform image of each tag.
    #[default]
    Images,
}

/// Bytes reserved per known tag before rendering: a tag with one platform image and sha256
/// digests renders to roughly this much over its six families (estimated from the line
/// lengths; an over-estimate is given back after rendering).
#[cfg(test)]
const BYTES_PER_TAG: usize = 768;

/// Renders the inventory families of `snapshot` that `options` asks for, one family after
/// another, each with its `# HELP` and `# TYPE` lines even when it has no series, kept whole.
#[cfg(test)]
pub(crate) fn render_inventory(snapshot: &Snapshot, options: &Options) -> Rendered {
    let repositories: usize = snapshot
        .namespaces
        .values()
        .map(|ns| ns.repositories.len())
        .sum();
    let mut out = Exposition::with_capacity(
        4096 + repositories.saturating_mul(1024)
            + snapshot.tag_count().saturating_mul(BYTES_PER_TAG),
    );
    inventory_families(&mut out, snapshot, options);
    out.finish()
}

/// Renders what `render_inventory` and then `render_changes` render into `output`, a
/// piece at a time: the whole text is never held.
pub(crate) fn render_to(
    snapshot: &Snapshot,
    counters: &Counters,
    options: &Options,
    output: &mut dyn Output,
) {
    let mut out = Exposition::to(output);
    inventory_families(&mut out, snapshot, options);
    change_families(&mut out, counters);
    out.finish();
}

fn inventory_families(out: &mut Exposition<'_>, snapshot: &Snapshot, options: &Options) {
    render_repository_families(out, snapshot);
    out.family(
        "dockerhub_repository_watched",
        Kind::Gauge,
        "Always 1, one series per repository named with --hub.repository",
    );
    for (namespace, repository) in &options.watched {
        out.series(
            "dockerhub_repository_watched",
            &[("hub_namespace", namespace), ("repository", repository)],
            Value::Int(1),
        );
    }
    if options.level != SeriesLevel::None {
        let selected = select(snapshot, options);
        render_tag_families(out, &selected);
        if options.level == SeriesLevel::Images {
            render_image_families(out, &selected);
        }
    }
}

/// A family whose value a tag or repository may lack: name, type, help, and how to read
/// the value.
type OptionalFamily<T> = (&'static str, Kind, &'static str, fn(&T) -> Option<Value>);

/// A counter family over `T`: name, help, and how to read its value.
type Family<T> = (&'static str, &'static str, fn(&T) -> u64);

/// Renders the change counters: per repository, tags added, removed and whose digest
/// changed; per namespace, repositories added and removed.
#[cfg(test)]
pub(crate) fn render_changes(counters: &Counters) -> Rendered {
    let mut out = Exposition::with_capacity(1024 + counters.tags.len() * 3 * 96);
    change_families(&mut out, counters);
    out.finish()
}

fn change_families(out: &mut Exposition<'_>, counters: &Counters) {
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
            |c| c.digest_changed,
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
}

fn render_repository_families(out: &mut Exposition<'_>, snapshot: &Snapshot) {
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

    render_per_repository(
        out,
        snapshot,
        &[
            (
                "dockerhub_repository_tags",
                Kind::Gauge,
                "Tags of the repository, as the Hub counts them; absent while no listing of its tags has succeeded",
                |r| r.tag_count().map(Value::Int),
            ),
            (
                "dockerhub_repository_tags_listed",
                Kind::Gauge,
                "Tags read from the repository's listing, filters aside: dockerhub_repository_tags unless the Hub stopped the listing early (it lists only the newest 1000 tags to anonymous requests)",
                |r| r.tags.as_ref().map(|t| Value::Int(t.len() as u64)),
            ),
            (
                "dockerhub_repository_tags_inactive",
                Kind::Gauge,
                "Tags the Hub marks inactive (tag_status: neither pushed nor pulled within the last month) among those listed; absent where the Hub sends no tag_status",
                |r| inactive_tags(r).map(Value::Int),
            ),
        ],
    );

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

    render_per_repository(
        out,
        snapshot,
        &[
            (
                "dockerhub_repository_pulls_total",
                Kind::Counter,
                "Pulls of the repository as counted by Docker Hub",
                |r| Some(Value::Int(r.info.pull_count)),
            ),
            (
                "dockerhub_repository_stars",
                Kind::Gauge,
                "Stars of the repository on Docker Hub",
                |r| Some(Value::Int(r.info.star_count)),
            ),
            (
                "dockerhub_repository_last_updated_timestamp_seconds",
                Kind::Gauge,
                "Unix time at which Docker Hub last updated the repository",
                |r| r.info.last_updated.map(Value::Float),
            ),
            (
                "dockerhub_repository_storage_bytes",
                Kind::Gauge,
                "Storage Docker Hub reports for the repository, in bytes",
                |r| r.info.storage_size.map(Value::Int),
            ),
        ],
    );
}

/// The tags of `repo` the Hub marks inactive; `None` while its tags are unknown or none of
/// them has a `tag_status`.
fn inactive_tags(repo: &Repository) -> Option<u64> {
    let tags = repo.tags.as_ref()?;
    let mut told = false;
    let mut inactive = 0;
    for status in tags.iter().filter_map(|t| t.status) {
        told = true;
        inactive += u64::from(status == TagStatus::Inactive);
    }
    told.then_some(inactive)
}

/// A family each, a series for each repository that has the value.
fn render_per_repository(
    out: &mut Exposition<'_>,
    snapshot: &Snapshot,
    families: &[OptionalFamily<Repository>],
) {
    for &(name, kind, help, value) in families {
        out.family(name, kind, help);
        for (namespace, repo) in snapshot.repositories() {
            if let Some(v) = value(repo) {
                out.series(name, &repository_labels(namespace, repo), v);
            }
        }
    }
}

fn render_tag_families(out: &mut Exposition<'_>, selected: &[Selected<'_>]) {
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

    // The optional per-tag values: a family each, a series for each tag that has the value.
    let optional: [OptionalFamily<Tag>; 3] = [
        (
            "dockerhub_tag_size_bytes",
            Kind::Gauge,
            "The tag's full_size as Docker Hub reports it: the compressed size of one platform image, not the sum over its platforms (those are in dockerhub_image_size_bytes)",
            |t| t.full_size.map(Value::Int),
        ),
        (
            "dockerhub_tag_last_pushed_timestamp_seconds",
            Kind::Gauge,
            "Unix time at which the tag was last pushed",
            |t| t.last_pushed.map(Value::Float),
        ),
        (
            "dockerhub_tag_last_pulled_timestamp_seconds",
            Kind::Gauge,
            "Unix time at which the tag was last pulled; absent when it was never pulled",
            |t| t.last_pulled.map(Value::Float),
        ),
    ];
    for (name, kind, help, value) in optional {
        out.family(name, kind, help);
        for &(namespace, repo, tag) in selected {
            if let Some(v) = value(tag) {
                out.series(name, &tag_labels(namespace, repo, tag), v);
            }
        }
    }
}

fn render_image_families(out: &mut Exposition<'_>, selected: &[Selected<'_>]) {
    out.family(
        "dockerhub_image_info",
        Kind::Gauge,
        "Always 1, one series per platform image of a tag; labelled with its platform (variant empty when none) and digest",
    );
    for &(namespace, repo, tag) in selected {
        first_of_each(&tag.images, platform_and_digest, |image| {
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
        });
    }

    out.family(
        "dockerhub_image_size_bytes",
        Kind::Gauge,
        "Compressed size of the platform image in bytes, the first one listed when a tag lists several images of one platform",
    );
    for &(namespace, repo, tag) in selected {
        // Only images that have a size compete for a platform's series, so a platform whose
        // first image lacks one still gets the size of the next.
        first_of_each(&tag.images, sized_platform, |image| {
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
                Value::Int(image.size.unwrap_or_default()),
            );
        });
    }
}

/// What to render beyond the repository-level series, which are always complete.
#[derive(Debug, Clone, Default)]
pub(crate) struct Options {
    /// Which per-tag and per-image families to render.
    pub(crate) level: SeriesLevel,
    /// Which tags get per-tag series.
    pub(crate) tag_filter: TagSelection,
    /// Repositories named with `--hub.repository`, as namespace and name.
    pub(crate) watched: Vec<(String, String)>,
    /// Per-tag series for this many most recently pushed tags of each repository only.
    pub(crate) max_tags_per_repository: Option<usize>,
}

/// A tag chosen for per-tag series, with its namespace and repository.
type Selected<'a> = (&'a str, &'a Repository, &'a Tag);

/// The tags that get per-tag series, in name order within each repository.
fn select<'a>(snapshot: &'a Snapshot, options: &Options) -> Vec<Selected<'a>> {
    let mut out = Vec::with_capacity(snapshot.tag_count());
    for (namespace, repo) in snapshot.repositories() {
        let Some(tags) = &repo.tags else { continue };
        let chosen = tags
            .iter()
            .filter(|t| options.tag_filter.matches(namespace, &repo.name, &t.name));
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

/// An image's platform: operating system, architecture and variant.
fn platform(image: &Image) -> (&str, &str, &str) {
    (&image.os, &image.architecture, &image.variant)
}

/// The key of `dockerhub_image_info`: one series per platform and digest.
fn platform_and_digest(image: &Image) -> Option<((&str, &str, &str), &str)> {
    Some((platform(image), &image.digest))
}

/// The key of `dockerhub_image_size_bytes`: one series per platform, among images with a size.
fn sized_platform(image: &Image) -> Option<(&str, &str, &str)> {
    image.size.map(|_| platform(image))
}

/// Tags with at most this many images are searched for an earlier match image by image, which
/// is cheaper than a set for the handful of platforms a tag usually has.
const SCANNED_UP_TO: usize = 16;

/// Calls `each` with the first platform image (attestations are not platforms) of each `key`
/// in listing order; images whose key is `None` are passed over. Linear in the images of the
/// tag, however many there are.
fn first_of_each<'a, K: Eq + std::hash::Hash>(
    images: &'a [Image],
    key: impl Fn(&'a Image) -> Option<K>,
    mut each: impl FnMut(&'a Image),
) {
    let keyed = images
        .iter()
        .filter(|i| !i.is_attestation())
        .filter_map(|i| key(i).map(|k| (k, i)));
    if images.len() <= SCANNED_UP_TO {
        for (n, (k, image)) in keyed.clone().enumerate() {
            if !keyed.clone().take(n).any(|(earlier, _)| earlier == k) {
                each(image);
            }
        }
    } else {
        let mut seen = std::collections::HashSet::with_capacity(images.len());
        for (k, image) in keyed {
            if seen.insert(k) {
                each(image);
            }
        }
    }
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
