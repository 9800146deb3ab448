//! Tests of the rendering: golden texts, escaping, number formats, series choice.

use super::*;
use crate::changes::{Counters, TagCounts};
use crate::inventory::fixtures::{image, repository, snapshot, tag};
use crate::inventory::{NameFilter, RepositoryInfo, TagStatus};

fn text(snapshot: &Snapshot) -> String {
    String::from_utf8(render_inventory(snapshot, &Options::default()).text)
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
                    image("linux", "amd64", "", "sha256:a1").sized(1000),
                    image("linux", "arm", "v7", "sha256:a2").sized(900),
                    image("unknown", "unknown", "", "sha256:att").sized(10),
                ],
                status: Some(TagStatus::Active),
            },
            Tag {
                name: "dev".into(),
                digest: String::new(),
                full_size: None,
                last_pushed: Some(1700000000.5),
                last_pulled: None,
                images: vec![Image {
                    size: None,
                    ..image("linux", "amd64", "", "").sized(0)
                }],
                status: Some(TagStatus::Inactive),
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
    // The Hub stopped the listing of api after two of its 1,729 tags.
    api.counted = Some(1729);
    let pending = repository("pending", None);
    let odd = repository("we\"ird\\name\nx", Some(vec![tag("latest", "")]));
    let s = snapshot(vec![("acme", vec![pending, api]), ("zeta", vec![odd])]);

    let expected = r#"# HELP dockerhub_repositories Repositories visible in the Docker Hub namespace, also those left out by --filter.repository, as of the last refresh of the inventory.
# TYPE dockerhub_repositories gauge
dockerhub_repositories{hub_namespace="acme"} 2
dockerhub_repositories{hub_namespace="zeta"} 1
# HELP dockerhub_repository_tags Tags of the repository, as the Hub counts them; absent while no listing of its tags has succeeded, as of the last refresh of the inventory.
# TYPE dockerhub_repository_tags gauge
dockerhub_repository_tags{hub_namespace="acme",repository="api"} 1729
dockerhub_repository_tags{hub_namespace="zeta",repository="we\"ird\\name\nx"} 1
# HELP dockerhub_repository_tags_listed Tags read from the repository's listing, filters aside: dockerhub_repository_tags unless the Hub stopped the listing early (it lists only the newest 1000 tags to anonymous requests), as of the last refresh of the inventory.
# TYPE dockerhub_repository_tags_listed gauge
dockerhub_repository_tags_listed{hub_namespace="acme",repository="api"} 2
dockerhub_repository_tags_listed{hub_namespace="zeta",repository="we\"ird\\name\nx"} 1
# HELP dockerhub_repository_tags_inactive Tags the Hub marks inactive (tag_status: neither pushed nor pulled within the last month) among those listed; absent where the Hub sends no tag_status, as of the last refresh of the inventory.
# TYPE dockerhub_repository_tags_inactive gauge
dockerhub_repository_tags_inactive{hub_namespace="acme",repository="api"} 1
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
# HELP dockerhub_repository_watched Always 1, one series per repository named with --hub.repository, as of the last refresh of the inventory.
# TYPE dockerhub_repository_watched gauge
# HELP dockerhub_tag_info Always 1, one series per tag; labelled with the digest of its manifest or index (empty when Docker Hub reports none), as of the last refresh of the inventory.
# TYPE dockerhub_tag_info gauge
dockerhub_tag_info{hub_namespace="acme",repository="api",tag="1.0",digest="sha256:aaa"} 1
dockerhub_tag_info{hub_namespace="acme",repository="api",tag="dev",digest=""} 1
dockerhub_tag_info{hub_namespace="zeta",repository="we\"ird\\name\nx",tag="latest",digest=""} 1
# HELP dockerhub_tag_size_bytes The tag's full_size as Docker Hub reports it: the compressed size of one platform image, not the sum over its platforms (those are in dockerhub_image_size_bytes), as of the last refresh of the inventory.
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
    let mut windows = tag("ltsc", "");
    windows.images = vec![
        image("windows", "amd64", "", "sha256:w1").sized(300),
        image("windows", "amd64", "", "sha256:w2").sized(400),
        image("windows", "amd64", "", "sha256:w1").sized(500),
        Image {
            size: None,
            ..image("linux", "amd64", "", "sha256:l1").sized(0)
        },
        image("linux", "amd64", "", "sha256:l2").sized(600),
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
    assert_eq!(lines.len(), 32, "{got}");
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
fn every_tag_and_image_of_a_large_repository_gets_its_series() {
    let tags: Vec<Tag> = (0..2_500)
        .map(|i| Tag {
            name: format!("v{i:06}"),
            digest: format!("sha256:{i:064x}"),
            full_size: Some(123_456_789),
            last_pushed: Some(1727833827.90536),
            last_pulled: (i % 2 == 0).then_some(1727900000.0),
            images: vec![
                image("linux", "amd64", "", &format!("sha256:{i:063x}a")).sized(1),
                image("linux", "arm64", "v8", &format!("sha256:{i:063x}b")).sized(2),
            ],
            status: None,
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
    assert!(
        text.contains(
            "dockerhub_repository_tags{hub_namespace=\"acme\",repository=\"big\"} 2500\n"
        )
    );
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
        vec![repository("api", Some(vec![tag("a", ""), tag("b", "")]))],
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
        let text = String::from_utf8(render_inventory(&s, &options).text).unwrap();
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
        ..tag(name, "")
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
        tag_filter: TagSelection::new(
            NameFilter::new(None, Some(regex::Regex::new("^(?:nightly)$").unwrap())),
            [],
        ),
        max_tags_per_repository: Some(2),
        watched: Vec::new(),
    };
    let text = String::from_utf8(render_inventory(&s, &options).text).unwrap();
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
        text.contains("dockerhub_repository_tags{hub_namespace=\"acme\",repository=\"api\"} 5\n")
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
            digest_changed: 2,
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
    let got = String::from_utf8(render_changes(&counters).text).unwrap();
    assert_eq!(got, expected);
}

#[test]
fn a_tag_with_a_hundred_thousand_platform_images_gets_one_series_for_each() {
    let distinct = 100_000;
    let mut crowded = tag("crowded", "");
    let numbered = |i: u64, size: u64| {
        image(
            "linux",
            &format!("arch{i}"),
            "",
            &format!("sha256:{i:064x}"),
        )
        .sized(size)
    };
    // Every image is listed twice, the second time with another size: the repeat adds no
    // info series (same platform and digest) and no size series (its platform has one).
    crowded.images = (0..distinct)
        .map(|i| numbered(i, i))
        .chain((0..distinct).map(|i| numbered(i, 0)))
        .collect();
    let s = snapshot(vec![(
        "acme",
        vec![repository("many", Some(vec![crowded]))],
    )]);
    let text = text(&s);

    let info: Vec<&str> = samples(&text)
        .into_iter()
        .filter(|l| l.starts_with("dockerhub_image_info{"))
        .collect();
    assert_eq!(info.len(), distinct as usize);
    let sizes: Vec<&str> = samples(&text)
        .into_iter()
        .filter(|l| l.starts_with("dockerhub_image_size_bytes{"))
        .collect();
    assert_eq!(sizes.len(), distinct as usize);
    // The first listed image of each platform gives the size, in listing order.
    for (i, line) in sizes.iter().enumerate().step_by(9_973) {
        assert!(
            line.contains(&format!("architecture=\"arch{i}\"")),
            "{line}"
        );
        assert!(line.ends_with(&format!(" {i}")), "{line}");
    }
}

#[test]
fn the_openmetrics_form_differs_only_in_the_family_headers() {
    let s = snapshot(vec![(
        "acme",
        vec![repository("api", Some(vec![tag("1.0", "sha256:a")]))],
    )]);
    let mut rendered = render_inventory(&s, &Options::default());
    let mut counters = Counters::default();
    counters
        .tags
        .insert(("acme".into(), "api".into()), TagCounts::default());
    rendered.append(render_changes(&counters));
    let text = String::from_utf8(rendered.text.clone()).unwrap();
    let om = String::from_utf8(rendered.openmetrics_text()).unwrap();
    let samples = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| !l.starts_with('#'))
            .map(str::to_string)
            .collect()
    };
    assert_eq!(samples(&om), samples(&text));
    let types = |t: &str| -> Vec<String> {
        t.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(str::to_string)
            .collect()
    };
    let expected: Vec<String> = types(&text)
        .into_iter()
        .map(|t| match t.strip_suffix("_total counter") {
            Some(family) => format!("{family} counter"),
            None => t,
        })
        .collect();
    assert_eq!(types(&om), expected);
    assert!(!om.contains("# TYPE dockerhub_tags_added counter\n# UNIT"));
    let units: Vec<&str> = om
        .lines()
        .filter_map(|l| l.strip_prefix("# UNIT "))
        .collect();
    assert!(units.contains(&"dockerhub_tag_size_bytes bytes"), "{om}");
    assert!(
        units.contains(&"dockerhub_tag_last_pushed_timestamp_seconds seconds"),
        "{om}"
    );
    assert!(
        units
            .iter()
            .all(|u| u.ends_with("_bytes bytes") || u.ends_with("_seconds seconds"))
    );
    assert_eq!(rendered.headers.len(), text.matches("# HELP ").count());
}

#[test]
fn inactive_tags_count_among_all_listed_and_are_absent_where_the_hub_sends_no_status() {
    let inactive = |name: &str| tag(name, "").with_status(TagStatus::Inactive);
    let active = |name: &str| tag(name, "").with_status(TagStatus::Active);
    let s = snapshot(vec![(
        "acme",
        vec![
            repository(
                "old",
                Some(vec![
                    inactive("a"),
                    inactive("b"),
                    active("c"),
                    tag("d", ""),
                ]),
            ),
            repository("fresh", Some(vec![active("a")])),
            repository("silent", Some(vec![tag("a", "")])),
            repository("empty", Some(vec![])),
            repository("pending", None),
        ],
    )]);
    // The tag filter chooses per-tag series, not what is counted.
    let options = Options {
        tag_filter: TagSelection::new(
            NameFilter::new(None, Some(regex::Regex::new("^(?:a)$").unwrap())),
            [],
        ),
        ..Options::default()
    };
    let text = String::from_utf8(render_inventory(&s, &options).text).unwrap();
    let counted: Vec<&str> = samples(&text)
        .into_iter()
        .filter(|l| l.starts_with("dockerhub_repository_tags_inactive{"))
        .collect();
    assert_eq!(
        counted,
        [
            r#"dockerhub_repository_tags_inactive{hub_namespace="acme",repository="fresh"} 0"#,
            r#"dockerhub_repository_tags_inactive{hub_namespace="acme",repository="old"} 2"#,
        ]
    );
}
