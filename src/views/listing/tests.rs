//! The three listings pinned: the JSON document field by field, the table's layout and its
//! width, and the CSV read back by a CSV reader, also with hostile names.

use proptest::prelude::*;
use proptest::test_runner::Config as ProptestConfig;
use serde_json::json;

use super::*;
use crate::inventory::NameFilter;
use crate::inventory::fixtures::{image, repository, snapshot, tag};
use crate::views::{Mirror, Mismatch};

/// 2024-10-02T01:50:27.905360Z, as the client reads the Hub's time.
const PUSHED: f64 = 1_727_833_827.905_36;
/// 2024-10-03T05:37:14.000001Z.
const PULLED: f64 = 1_727_933_834.000_001;

/// acme/api with a multi-platform tag and a tag the Hub knows little of, acme/web whose tags
/// were never listed, and library/empty without tags.
fn sample() -> Snapshot {
    let mut multi = tag("1.0", "sha256:index")
        .pushed_at(PUSHED)
        .with_images(vec![
            image("linux", "amd64", "", "sha256:amd").sized(29_150_123),
            image("linux", "arm64", "v8", "").sized(28_000_000),
        ]);
    multi.full_size = Some(29_150_123);
    multi.last_pulled = Some(PULLED);
    let bare = tag("nightly", "");
    let mut api = repository("api", Some(vec![multi, bare]));
    api.info.private = true;
    api.info.pull_count = 48_210;
    api.info.star_count = 3;
    api.info.last_updated = Some(PUSHED);
    snapshot(vec![
        ("acme", vec![api, repository("web", None)]),
        ("library", vec![repository("empty", Some(vec![]))]),
    ])
}

fn text(write: impl FnOnce(&mut Vec<u8>) -> io::Result<()>) -> String {
    let mut out = Vec::new();
    write(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn anchored(pattern: &str) -> Option<regex::Regex> {
    Some(regex::Regex::new(&format!("^(?:{pattern})$")).unwrap())
}

#[test]
fn json_holds_every_repository_tag_and_image_with_null_for_what_the_hub_did_not_give() {
    let listed = text(|out| json(&sample(), &TagSelection::default(), &[], out));
    assert!(listed.ends_with("}\n") && listed.lines().count() == 1);
    let document: serde_json::Value = serde_json::from_str(&listed).unwrap();
    assert_eq!(
        document,
        json!({"namespaces": [
            {"name": "acme", "repositories": [
                {"name": "api", "private": true, "pull_count": 48210, "star_count": 3,
                 "last_updated": "2024-10-02T01:50:27.905360Z",
                 "tag_count": 2, "tags_listed": 2,
                 "tags": [
                    {"name": "1.0", "digest": "sha256:index", "size": 29150123,
                     "last_pushed": "2024-10-02T01:50:27.905360Z",
                     "last_pulled": "2024-10-03T05:37:14.000001Z",
                     "images": [
                        {"os": "linux", "architecture": "amd64", "variant": null,
                         "digest": "sha256:amd", "size": 29150123},
                        {"os": "linux", "architecture": "arm64", "variant": "v8",
                         "digest": null, "size": 28000000}]},
                    {"name": "nightly", "digest": null, "size": null, "last_pushed": null,
                     "last_pulled": null, "images": []}]},
                {"name": "web", "private": false, "pull_count": 0, "star_count": 0,
                 "last_updated": null, "tag_count": null, "tags_listed": null, "tags": null}]},
            {"name": "library", "repositories": [
                {"name": "empty", "private": false, "pull_count": 0, "star_count": 0,
                 "last_updated": null, "tag_count": 0, "tags_listed": 0, "tags": []}]}]})
    );
}

/// The sample with acme/api's listing cut short by the Hub, which counts 1,729 tags.
fn capped_sample() -> Snapshot {
    let mut s = sample();
    if let Some(api) = s
        .namespaces
        .get_mut("acme")
        .and_then(|ns| ns.repositories.get_mut("api"))
    {
        api.counted = Some(1_729);
    }
    s
}

#[test]
fn a_listing_the_hub_cut_short_shows_what_was_listed_of_how_many() {
    let document: serde_json::Value = serde_json::from_str(&text(|out| {
        json(&capped_sample(), &TagSelection::default(), &[], out)
    }))
    .unwrap();
    let api = &document["namespaces"][0]["repositories"][0];
    assert_eq!(
        (&api["tag_count"], &api["tags_listed"]),
        (&json!(1729), &json!(2))
    );
    assert_eq!(api["tags"].as_array().unwrap().len(), 2);
    let table = text(|out| table(&capped_sample(), &TagSelection::default(), &[], out));
    assert_eq!(
        table,
        "NAMESPACE  REPOSITORY       TAGS  NEWEST TAG  LAST PUSHED\n\
         acme       api         2 of 1729  1.0         2024-10-02T01:50:27Z\n\
         acme       web                 ?\n\
         library    empty               0\n"
    );
}

#[test]
fn the_tag_filter_chooses_the_tags_of_every_listing() {
    let selection = TagSelection::new(NameFilter::new(None, anchored("night.*")), []);
    let document: serde_json::Value =
        serde_json::from_str(&text(|out| json(&sample(), &selection, &[], out))).unwrap();
    let tags = &document["namespaces"][0]["repositories"][0]["tags"];
    assert_eq!(tags.as_array().unwrap().len(), 1);
    assert_eq!(tags[0]["name"], "1.0");
    let rows = text(|out| csv(&sample(), &selection, &[], out));
    assert_eq!(rows.lines().count(), 2, "{rows}");
    assert!(!rows.contains("nightly"));
    let table = text(|out| table(&sample(), &selection, &[], out));
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("acme       api") && l.contains(" 1  "))
    );
}

#[test]
fn an_empty_inventory_is_an_empty_document_a_header_and_a_header() {
    let empty = Snapshot::default();
    let open = TagSelection::default();
    assert_eq!(
        text(|out| json(&empty, &open, &[], out)),
        "{\"namespaces\":[]}\n"
    );
    assert_eq!(
        text(|out| csv(&empty, &open, &[], out)),
        "namespace,repository,tag,digest,last_pushed,last_pulled,size,platforms\r\n"
    );
    assert_eq!(
        text(|out| table(&empty, &open, &[], out)),
        "NAMESPACE  REPOSITORY  TAGS  NEWEST TAG  LAST PUSHED\n"
    );
}

#[test]
fn the_table_aligns_its_columns_and_right_aligns_the_counts() {
    let table = text(|out| table(&sample(), &TagSelection::default(), &[], out));
    assert_eq!(
        table,
        "NAMESPACE  REPOSITORY  TAGS  NEWEST TAG  LAST PUSHED\n\
         acme       api            2  1.0         2024-10-02T01:50:27Z\n\
         acme       web            ?\n\
         library    empty          0\n"
    );
}

#[test]
fn no_table_line_is_wider_than_100_characters_and_cut_cells_end_in_an_ellipsis() {
    let long = "r".repeat(150);
    let tag_name = "t".repeat(128);
    let namespace = "n".repeat(60);
    let mut newest = tag(&tag_name, "sha256:a").pushed_at(PUSHED);
    newest.full_size = Some(1);
    let snapshot = snapshot(vec![
        (
            namespace.as_str(),
            vec![
                repository(&long, Some(vec![newest, tag("ünï", "").pushed_at(1.0)])),
                repository("short\nname", Some(vec![])),
            ],
        ),
        ("acme", vec![repository("api", None)]),
    ]);
    let table = text(|out| table(&snapshot, &TagSelection::default(), &[], out));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 4, "{table}");
    for line in &lines {
        assert!(line.chars().count() <= TABLE_WIDTH, "{line}");
    }
    let wide = lines.iter().find(|l| l.contains("rrrr")).unwrap();
    assert_eq!(
        wide.chars().count(),
        TABLE_WIDTH,
        "the cut row takes the whole width"
    );
    assert_eq!(
        wide.matches(CUT).count(),
        3,
        "namespace, repository and tag are cut: {wide}"
    );
    assert!(wide.ends_with("2024-10-02T01:50:27Z"), "{wide}");
    assert!(
        lines.iter().any(|l| l.contains("short\\u{a}name")),
        "a control character is shown escaped: {table}"
    );
    // The repository column starts where its header does, on every line.
    let column = lines[0][..lines[0].find("REPOSITORY").unwrap()]
        .chars()
        .count();
    for line in &lines {
        let chars: Vec<char> = line.chars().collect();
        assert!(chars[column - 1] == ' ' && chars[column] != ' ', "{line}");
    }
}

#[test]
fn control_characters_and_bidirectional_overrides_are_shown_escaped_in_the_table_and_quoted_in_csv()
{
    let snapshot = snapshot(vec![(
        "acme",
        vec![repository(
            "gpj.\u{202e}exe",
            Some(vec![tag("v1\u{0}\u{9b}2", "").pushed_at(PUSHED)]),
        )],
    )]);
    let table = text(|out| table(&snapshot, &TagSelection::default(), &[], out));
    assert!(
        table.contains("gpj.\\u{202e}exe") && table.contains("v1\\u{0}\\u{9b}2"),
        "{table}"
    );
    assert!(
        !table.chars().any(|c| is_hidden(c) && c != '\n'),
        "{table:?}"
    );
    let written = text(|out| csv(&snapshot, &TagSelection::default(), &[], out));
    assert!(
        written.contains("\r\nacme,\"gpj.\\u{202e}exe\",\"v1\\u{0}\\u{9b}2\","),
        "{written:?}"
    );
}

#[test]
fn csv_has_a_header_and_a_row_per_tag_read_back_by_a_csv_reader() {
    let written = text(|out| csv(&sample(), &TagSelection::default(), &[], out));
    let mut reader = ::csv::Reader::from_reader(written.as_bytes());
    assert_eq!(reader.headers().unwrap(), CSV_HEADER.as_slice());
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_string).collect())
        .collect();
    assert_eq!(
        rows,
        [
            [
                "acme",
                "api",
                "1.0",
                "sha256:index",
                "2024-10-02T01:50:27.905360Z",
                "2024-10-03T05:37:14.000001Z",
                "29150123",
                "linux/amd64 linux/arm64/v8"
            ],
            ["acme", "api", "nightly", "", "", "", "", ""],
        ]
    );
    assert!(written.ends_with("\r\n") && !written.contains("\r\r"));
}

/// Names a CSV writer can get wrong: separators, quotes, line breaks of every kind, spaces at
/// the ends, control characters and bidirectional overrides, and characters beyond ASCII.
fn hostile() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just(",".to_string()),
        Just("\"".to_string()),
        Just("\"\"".to_string()),
        Just("\r\n".to_string()),
        Just("\n".to_string()),
        Just("\r".to_string()),
        Just(" ".to_string()),
        Just("é".to_string()),
        Just("🐳".to_string()),
        Just("\u{202e}".to_string()),
        Just("\u{0}".to_string()),
        Just("\u{85}".to_string()),
        "[a-z0-9.:/-]{1,4}",
        any::<char>().prop_map(String::from),
    ];
    prop::collection::vec(piece, 0..8).prop_map(|pieces| pieces.concat())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn any_names_come_back_from_a_csv_reader_as_they_went_in_hidden_characters_escaped(
        namespace in hostile(),
        repository_name in hostile(),
        tags in prop::collection::btree_set(hostile(), 0..5),
        digest in hostile(),
        os in hostile(),
        variant in hostile(),
    ) {
        let listed: Vec<Tag> = tags
            .iter()
            .map(|name| tag(name, &digest).with_images(vec![image(&os, "arm64", &variant, "")]))
            .collect();
        let snapshot = snapshot(vec![(
            namespace.as_str(),
            vec![repository(&repository_name, Some(listed))],
        )]);
        let written = text(|out| csv(&snapshot, &TagSelection::default(), &[], out));
        let mut reader = ::csv::Reader::from_reader(written.as_bytes());
        let rows: Vec<::csv::StringRecord> = reader.records().collect::<Result<_, _>>().unwrap();
        prop_assert_eq!(rows.len(), tags.len());
        let platform = if variant.is_empty() {
            format!("{os}/arm64")
        } else {
            format!("{os}/arm64/{variant}")
        };
        let shown = |text: &str| Visible(text).to_string();
        for (row, name) in rows.iter().zip(&tags) {
            let expected = [
                shown(&namespace),
                shown(&repository_name),
                shown(name),
                shown(&digest),
                String::new(),
                String::new(),
                String::new(),
                shown(&platform),
            ];
            prop_assert_eq!(row.iter().collect::<Vec<_>>(), expected.to_vec());
        }
        prop_assert!(!written.trim_end_matches("\r\n").split("\r\n").any(|line| line.chars().any(is_hidden)));
    }

    #[test]
    fn any_table_fits_in_100_columns(
        names in prop::collection::vec((hostile(), hostile(), hostile()), 1..6),
    ) {
        let repositories: Vec<Repository> = names
            .iter()
            .map(|(repo, tag_name, _)| {
                repository(repo, Some(vec![tag(tag_name, "").pushed_at(PUSHED)]))
            })
            .collect();
        let namespace = names[0].2.clone();
        let snapshot = snapshot(vec![(namespace.as_str(), repositories)]);
        let table = text(|out| table(&snapshot, &TagSelection::default(), &[], out));
        for line in table.lines() {
            prop_assert!(line.chars().count() <= TABLE_WIDTH, "{}", line);
        }
        prop_assert_eq!(table.lines().count(), 1 + snapshot.repositories().count());
    }
}

/// A mirror of acme that holds acme/api's 1.0 at another digest and nightly as the Hub does,
/// and one that could not be read.
fn mirrors() -> Vec<Mirror> {
    let key = ("api".to_string(), "1.0".to_string());
    vec![
        Mirror {
            mirror: "reg.example/acme".into(),
            hub_namespace: "acme".into(),
            repositories: ["api".to_string(), "web".to_string()].into(),
            mismatches: [(key.clone(), Mismatch::Digest)].into(),
            digests: [(key, "sha256:other".into())].into(),
            ..Mirror::default()
        },
        Mirror {
            mirror: "down.example".into(),
            hub_namespace: "acme".into(),
            ..Mirror::default()
        },
    ]
}

#[test]
fn with_mirrors_each_tag_has_its_state_on_each_mirror_of_its_namespace_and_null_where_unread() {
    let listed = text(|out| json(&sample(), &TagSelection::default(), &mirrors(), out));
    let document: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let api = &document["namespaces"][0]["repositories"][0]["tags"];
    assert_eq!(
        api[0]["mirrors"],
        json!([
            {"mirror": "reg.example/acme", "state": "digest", "digest": "sha256:other"},
            {"mirror": "down.example", "state": null, "digest": null},
        ])
    );
    assert_eq!(
        api[1]["mirrors"][0],
        json!({"mirror": "reg.example/acme", "state": "in_sync", "digest": null})
    );
    let empty = &document["namespaces"][1]["repositories"][0];
    assert_eq!(empty["tags"], json!([]));
    // Without mirrors, no field.
    let plain = text(|out| json(&sample(), &TagSelection::default(), &[], out));
    assert!(!plain.contains("\"mirrors\""));

    let written = text(|out| csv(&sample(), &TagSelection::default(), &mirrors(), out));
    let mut reader = ::csv::Reader::from_reader(written.as_bytes());
    let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(
        header[8..],
        [
            "mirror:reg.example/acme",
            "mirror_digest:reg.example/acme",
            "mirror:down.example",
            "mirror_digest:down.example"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(String::from).collect())
        .collect();
    assert_eq!(rows[0][8..], ["digest", "sha256:other", "", ""]);
    assert_eq!(rows[1][8..], ["in_sync", "", "", ""]);

    let shown = text(|out| table(&sample(), &TagSelection::default(), &mirrors(), out));
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines[0].ends_with("MIRRORS"), "{shown}");
    assert!(lines[1].ends_with("  ?"), "{shown}");
    let read = &mirrors()[..1];
    let shown = text(|out| table(&sample(), &TagSelection::default(), read, out));
    let lines: Vec<&str> = shown.lines().collect();
    assert!(lines[1].ends_with("1 differ"), "{shown}");
    assert!(
        lines[3].starts_with("library") && lines[3].ends_with("0"),
        "{shown}"
    );
}
