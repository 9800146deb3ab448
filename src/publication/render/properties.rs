//! Label escaping: inventories with any characters the Hub might return render to an
//! exposition that parses back to the same values.

use std::collections::BTreeSet;
use std::sync::Arc;

use proptest::prelude::*;

use simhub::exposition::{self, Sample};

use super::{Options, render_inventory};
use crate::inventory::{Image, Namespace, Repository, RepositoryInfo, Snapshot, Tag};
use crate::testing::*;

/// Names with everything the escaping must handle: any Unicode, and often the characters
/// that matter to the text format.
fn label_text() -> impl Strategy<Value = String> {
    let special = prop::sample::select(vec![
        '\\', '"', '\n', '\r', '\t', '\0', '\u{7f}', '\u{85}', '\u{2028}', '\u{feff}', '{', '}',
        '=', ',', ' ', '#', 'n', 'a', 'é', '😀',
    ]);
    prop_oneof![
        any::<String>(),
        prop::collection::vec(prop_oneof![3 => special, 1 => any::<char>()], 0..12)
            .prop_map(|chars| chars.into_iter().collect()),
    ]
}

fn any_time() -> impl Strategy<Value = Option<f64>> {
    proptest::option::of(prop_oneof![
        4 => 0.0f64..4e9,
        1 => any::<f64>(),
        1 => prop::sample::select(vec![f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, 5e-324, f64::MAX]),
    ])
}

fn any_image() -> impl Strategy<Value = Image> {
    let platform = || {
        prop_oneof![
            Just("linux".to_string()),
            Just("unknown".to_string()),
            label_text()
        ]
    };
    (
        platform(),
        platform(),
        prop_oneof![Just(String::new()), label_text()],
        prop_oneof![Just(String::new()), label_text()],
        proptest::option::of(edgy_u64()),
    )
        .prop_map(image_of)
}

fn image_of(
    (os, architecture, variant, digest, size): (String, String, String, String, Option<u64>),
) -> Image {
    Image {
        os: os.into(),
        architecture: architecture.into(),
        variant: variant.into(),
        digest,
        size,
    }
}

/// A tag without its name.
fn any_tag() -> impl Strategy<Value = (String, Option<u64>, Option<f64>, Option<f64>, Vec<Image>)> {
    (
        label_text(),
        proptest::option::of(edgy_u64()),
        any_time(),
        any_time(),
        prop::collection::vec(any_image(), 0..4),
    )
}

fn any_repository() -> impl Strategy<Value = (RepositoryInfo, Option<Vec<(String, Tag)>>)> {
    let info = (
        any::<bool>(),
        label_text(),
        edgy_u64(),
        edgy_u64(),
        any_time(),
        proptest::option::of(edgy_u64()),
    )
        .prop_map(
            |(private, repository_type, pull_count, star_count, last_updated, storage_size)| {
                RepositoryInfo {
                    private,
                    repository_type,
                    pull_count,
                    star_count,
                    last_updated,
                    storage_size,
                }
            },
        );
    let tags = proptest::option::of(
        prop::collection::btree_map(label_text(), any_tag(), 0..4).prop_map(|tags| {
            tags.into_iter()
                .map(
                    |(name, (digest, full_size, last_pushed, last_pulled, images))| {
                        let tag = Tag {
                            name: name.clone(),
                            digest,
                            full_size,
                            last_pushed,
                            last_pulled,
                            images,
                            status: None,
                        };
                        (name, tag)
                    },
                )
                .collect()
        }),
    );
    (info, tags)
}

fn any_snapshot() -> impl Strategy<Value = Snapshot> {
    prop::collection::btree_map(
        label_text(),
        (
            prop::collection::btree_map(label_text(), any_repository(), 0..4),
            0usize..10,
        ),
        0..3,
    )
    .prop_map(|namespaces| Snapshot {
        namespaces: namespaces
            .into_iter()
            .map(|(ns, (repositories, visible))| {
                let repositories = repositories
                    .into_iter()
                    .map(|(name, (info, tags))| {
                        let repository = Repository {
                            name: name.clone(),
                            info,
                            tags: tags.map(|t: Vec<(String, Tag)>| {
                                Arc::from(t.into_iter().map(|(_, t)| t).collect::<Vec<_>>())
                            }),
                            tags_as_of: None,
                            counted: None,
                        };
                        (name, repository)
                    })
                    .collect();
                (
                    ns,
                    Namespace {
                        repositories,
                        visible,
                    },
                )
            })
            .collect(),
    })
}

/// A value as this exporter writes it: an integer, a decimal without exponent, NaN or ±Inf.
fn is_written_value(value: &str) -> bool {
    if matches!(value, "NaN" | "+Inf" | "-Inf") {
        return true;
    }
    let digits = value.strip_prefix('-').unwrap_or(value);
    let (whole, fraction) = match digits.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (digits, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    all_digits(whole) && fraction.is_none_or(all_digits)
}

/// Every sample of the exposition, read by the strict parser, values as this exporter
/// writes them.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let samples: Vec<Sample> = exposition::parse(text)?
        .into_iter()
        .flat_map(|f| f.samples)
        .collect();
    match samples.iter().find(|s| !is_written_value(&s.raw_value)) {
        Some(s) => Err(format!("value written with an exponent: {s:?}")),
        None => Ok(samples),
    }
}

fn label<'a>(sample: &'a Sample, name: &str) -> Option<&'a str> {
    sample.label(name)
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn every_sample_line_parses_and_label_values_survive_escaping(snapshot in any_snapshot()) {
        let text = String::from_utf8(render_inventory(&snapshot, &Options::default()).text)
            .map_err(|e| TestCaseError::fail(format!("not UTF-8: {e}")))?;
        let samples = parse_exposition(&text).map_err(TestCaseError::fail)?;

        // One repository info series per repository, with its names as they were.
        let repositories: Vec<(&str, &str, &str)> = snapshot
            .repositories()
            .map(|(ns, r)| (ns, r.name.as_str(), r.info.repository_type.as_str()))
            .collect();
        let info: Vec<(&str, &str, &str)> = samples
            .iter()
            .filter(|s| s.name == "dockerhub_repository_info")
            .map(|s| {
                (
                    label(s, "hub_namespace").unwrap_or("?"),
                    label(s, "repository").unwrap_or("?"),
                    label(s, "repository_type").unwrap_or("?"),
                )
            })
            .collect();
        prop_assert_eq!(info, repositories);

        // One tag info series per tag, with its names and digest as they were.
        let tags: Vec<(&str, &str, &str, &str)> = snapshot
            .repositories()
            .flat_map(|(ns, r)| {
                r.tags.iter().flat_map(|t| t.iter()).map(move |t| {
                    (ns, r.name.as_str(), t.name.as_str(), t.digest.as_str())
                })
            })
            .collect();
        let tag_info: Vec<(&str, &str, &str, &str)> = samples
            .iter()
            .filter(|s| s.name == "dockerhub_tag_info")
            .map(|s| {
                (
                    label(s, "hub_namespace").unwrap_or("?"),
                    label(s, "repository").unwrap_or("?"),
                    label(s, "tag").unwrap_or("?"),
                    label(s, "digest").unwrap_or("?"),
                )
            })
            .collect();
        prop_assert_eq!(tag_info, tags);

        // Image series name an image of their tag, as it was.
        for s in samples.iter().filter(|s| s.name.starts_with("dockerhub_image_")) {
            let ns = &snapshot.namespaces[label(s, "hub_namespace").unwrap()];
            let repository = &ns.repositories[label(s, "repository").unwrap()];
            let tag_name = label(s, "tag").unwrap();
            let tag = repository.tags.iter().flat_map(|t| t.iter()).find(|t| t.name == tag_name);
            let tag = tag.ok_or_else(|| TestCaseError::fail(format!("no tag {tag_name:?}")))?;
            let found = tag.images.iter().any(|i| {
                Some(&*i.os) == label(s, "os")
                    && Some(&*i.architecture) == label(s, "architecture")
                    && Some(&*i.variant) == label(s, "variant")
                    && label(s, "digest").is_none_or(|d| d == i.digest)
                    && !i.is_attestation()
            });
            prop_assert!(found, "{:?}", s);
        }

        // No family holds two identical label sets.
        let mut seen = BTreeSet::new();
        for s in &samples {
            prop_assert!(seen.insert((&s.name, &s.labels)), "duplicate series {:?}", s);
        }

        // Values as they were, for the series that copy one.
        for s in samples.iter().filter(|s| s.name == "dockerhub_repository_pulls_total") {
            let ns = &snapshot.namespaces[label(s, "hub_namespace").unwrap()];
            let repository = &ns.repositories[label(s, "repository").unwrap()];
            prop_assert_eq!(&s.raw_value, &repository.info.pull_count.to_string());
        }
    }
}

/// Images drawn from a few platforms and digests, so that lists repeat them often.
fn crowded_image() -> impl Strategy<Value = Image> {
    let pick =
        |values: &'static [&'static str]| prop::sample::select(values).prop_map(String::from);
    (
        pick(&["linux", "windows", "unknown"]),
        pick(&["amd64", "arm64", "unknown"]),
        pick(&["", "v8"]),
        pick(&["sha256:a", "sha256:b"]),
        proptest::option::of(0u64..3),
    )
        .prop_map(image_of)
}

/// What [`super::first_of_each`] must choose, written the obvious quadratic way.
fn first_of_each_by_comparison<'a, K: PartialEq>(
    images: &'a [Image],
    key: impl Fn(&'a Image) -> Option<K>,
) -> Vec<usize> {
    (0..images.len())
        .filter(|&i| {
            let Some(k) = key(&images[i]).filter(|_| !images[i].is_attestation()) else {
                return false;
            };
            !images[..i]
                .iter()
                .any(|e| !e.is_attestation() && key(e).as_ref() == Some(&k))
        })
        .collect()
}

fn chosen<'a, K: Eq + std::hash::Hash>(
    images: &'a [Image],
    key: impl Fn(&'a Image) -> Option<K>,
) -> Vec<usize> {
    let mut got = Vec::new();
    super::first_of_each(images, key, |image| {
        got.push(
            images
                .iter()
                .position(|i| std::ptr::eq(i, image))
                .expect("an image of the list"),
        );
    });
    got
}

proptest! {
    #![proptest_config(cases(512))]

    /// Below and above the length where the search switches from scanning to a set, the
    /// images chosen for a series are the first of each platform (and digest), in order.
    #[test]
    fn first_of_each_chooses_as_comparing_with_every_earlier_image_would(
        images in prop::collection::vec(crowded_image(), 0..40),
    ) {
        prop_assert_eq!(
            chosen(&images, super::platform_and_digest),
            first_of_each_by_comparison(&images, super::platform_and_digest)
        );
        prop_assert_eq!(
            chosen(&images, super::sized_platform),
            first_of_each_by_comparison(&images, super::sized_platform)
        );
    }
}
