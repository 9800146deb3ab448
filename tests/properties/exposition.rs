//! Label escaping: inventories with any characters the Hub might return render to an
//! exposition that parses back to the same values.

use std::collections::BTreeSet;
use std::sync::Arc;

use dockerhub_exporter::inventory::{Image, Namespace, Repository, RepositoryInfo, Snapshot, Tag};
use dockerhub_exporter::metrics::render::{Options, render_inventory};

use super::*;

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
        .prop_map(|(os, architecture, variant, digest, size)| Image {
            os,
            architecture,
            variant,
            digest,
            size,
        })
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

/// One sample line of the text format 0.0.4, label values unescaped.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: Vec<(String, String)>,
    value: String,
}

fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A value as this exporter writes it: an integer, a decimal without exponent, NaN or ±Inf.
fn is_value(value: &str) -> bool {
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

/// Parses one sample line strictly: `name{label="value",...} value`, no timestamp, label
/// values with only `\\`, `\"` and `\n` escaped, and nothing else escaped.
fn parse_sample(line: &str) -> Result<Sample, String> {
    let brace = line.find('{').ok_or("no {")?;
    let name = &line[..brace];
    if !is_metric_name(name) {
        return Err(format!("bad metric name {name:?}"));
    }
    let mut rest = &line[brace + 1..];
    let mut labels = Vec::new();
    if let Some(r) = rest.strip_prefix('}') {
        rest = r;
    } else {
        loop {
            let eq = rest.find('=').ok_or("no =")?;
            let label = &rest[..eq];
            if !is_label_name(label) {
                return Err(format!("bad label name {label:?}"));
            }
            rest = rest[eq + 1..].strip_prefix('"').ok_or("no opening quote")?;
            let mut value = String::new();
            let mut chars = rest.char_indices();
            let close = loop {
                match chars.next() {
                    None => return Err("unterminated label value".into()),
                    Some((i, '"')) => break i,
                    Some((_, '\\')) => match chars.next() {
                        Some((_, '\\')) => value.push('\\'),
                        Some((_, '"')) => value.push('"'),
                        Some((_, 'n')) => value.push('\n'),
                        other => return Err(format!("bad escape {other:?}")),
                    },
                    Some((_, '\n')) => return Err("raw line feed".into()),
                    Some((_, c)) => value.push(c),
                }
            };
            rest = &rest[close + 1..];
            labels.push((label.to_string(), value));
            if let Some(r) = rest.strip_prefix(',') {
                rest = r;
            } else {
                rest = rest.strip_prefix('}').ok_or("no , or }")?;
                break;
            }
        }
    }
    let value = rest.strip_prefix(' ').ok_or("no space before the value")?;
    if !is_value(value) {
        return Err(format!("bad value {value:?}"));
    }
    Ok(Sample {
        name: name.to_string(),
        labels,
        value: value.to_string(),
    })
}

/// Parses a whole exposition: families of `# HELP`, `# TYPE` and samples of that family.
fn parse_exposition(text: &str) -> Result<Vec<Sample>, String> {
    let body = text.strip_suffix('\n').ok_or("no final line feed")?;
    let mut family: Option<String> = None;
    let mut samples = Vec::new();
    let mut lines = body.split('\n').peekable();
    while let Some(line) = lines.next() {
        if let Some(help) = line.strip_prefix("# HELP ") {
            let (name, _) = help.split_once(' ').ok_or("HELP without text")?;
            let kind = lines.next().ok_or("HELP without TYPE")?;
            let kind = kind
                .strip_prefix(&format!("# TYPE {name} "))
                .ok_or_else(|| format!("TYPE of {name} missing: {kind:?}"))?;
            if !matches!(kind, "gauge" | "counter") {
                return Err(format!("bad type {kind:?}"));
            }
            family = Some(name.to_string());
            continue;
        }
        let sample = parse_sample(line).map_err(|e| format!("{e}: {line:?}"))?;
        if family.as_deref() != Some(sample.name.as_str()) {
            return Err(format!("sample outside its family: {line:?}"));
        }
        samples.push(sample);
    }
    Ok(samples)
}

fn label<'a>(sample: &'a Sample, name: &str) -> Option<&'a str> {
    sample
        .labels
        .iter()
        .find(|(l, _)| l == name)
        .map(|(_, v)| v.as_str())
}

proptest! {
    #![proptest_config(cases(256))]

    #[test]
    fn every_sample_line_parses_and_label_values_survive_escaping(snapshot in any_snapshot()) {
        let text = String::from_utf8(render_inventory(&snapshot, &Options::default()))
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
                Some(i.os.as_str()) == label(s, "os")
                    && Some(i.architecture.as_str()) == label(s, "architecture")
                    && Some(i.variant.as_str()) == label(s, "variant")
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
            prop_assert_eq!(&s.value, &repository.info.pull_count.to_string());
        }
    }
}

#[test]
fn the_strict_parser_refuses_what_the_format_does_not_allow() {
    for line in [
        "m{a=\"x\"} 1",
        "m{a=\"x\\ty\"} 1",
        "m{a=\"x\"y\"} 1",
        "m{a=\"x\",} 1",
        "m{1a=\"x\"} 1",
        "m{a=\"x\"}  1",
        "m{a=\"x\"} 1e5",
        "m{a=\"x\"} 1 123",
        "m{a=x} 1",
        "1m{a=\"x\"} 1",
    ] {
        if line == "m{a=\"x\"} 1" {
            assert!(parse_sample(line).is_ok());
        } else {
            assert!(parse_sample(line).is_err(), "{line:?}");
        }
    }
    let sample = parse_sample(r#"m{a="\\\"\n",b=""} -0.5"#).unwrap();
    assert_eq!(sample.labels[0].1, "\\\"\n");
    assert_eq!(sample.labels[1].1, "");
}
