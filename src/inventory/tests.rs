//! Tests of the merge: only a successful listing removes anything.

use std::collections::BTreeMap;

use super::fixtures::{listed, read, tags};
use super::*;

fn tag_names(s: &Snapshot, repo: &str) -> Option<Vec<String>> {
    let r = s.namespaces.get("acme")?.repositories.get(repo)?;
    Some(r.tags.as_ref()?.iter().map(|t| t.name.clone()).collect())
}

#[test]
fn a_failed_tag_listing_keeps_the_previous_tags() {
    let first = Snapshot::default().merge(listed(
        "acme",
        vec![read("api", tags(&[("b", "sha256:b"), ("a", "sha256:a")]))],
    ));
    assert_eq!(tag_names(&first, "api").unwrap(), ["a", "b"]);
    let second = first.merge(listed("acme", vec![read("api", TagsRead::Failed)]));
    assert_eq!(tag_names(&second, "api").unwrap(), ["a", "b"]);
}

#[test]
fn a_failed_namespace_listing_keeps_its_repositories() {
    let first = Snapshot::default().merge(listed(
        "acme",
        vec![read("api", tags(&[("a", "sha256:a")]))],
    ));
    let second = first.merge(BTreeMap::from([("acme".into(), NamespaceRead::Failed)]));
    assert_eq!(first, second);
}

#[test]
fn a_successful_listing_removes_repositories_and_tags_that_are_gone() {
    let first = Snapshot::default().merge(listed(
        "acme",
        vec![
            read("api", tags(&[("a", "sha256:a"), ("b", "sha256:b")])),
            read("web", tags(&[("a", "sha256:a")])),
            read("old", tags(&[("a", "sha256:a")])),
        ],
    ));
    let second = first.merge(listed(
        "acme",
        vec![
            read("api", tags(&[("b", "sha256:b")])),
            read("old", TagsRead::Gone),
        ],
    ));
    assert_eq!(tag_names(&second, "api").unwrap(), ["b"]);
    assert!(tag_names(&second, "web").is_none());
    assert!(tag_names(&second, "old").is_none());
    assert_eq!(second.tag_count(), 1);
}

#[test]
fn skipped_repositories_are_visible_but_not_inventoried_and_unchanged_ones_keep_their_tags() {
    let first = Snapshot::default().merge(listed(
        "acme",
        vec![read("api", tags(&[("a", "sha256:a")]))],
    ));
    let second = first.merge(listed(
        "acme",
        vec![
            read("api", TagsRead::Unchanged),
            read("other", TagsRead::Skipped),
        ],
    ));
    assert_eq!(tag_names(&second, "api").unwrap(), ["a"]);
    assert!(!second.namespaces["acme"].repositories.contains_key("other"));
    assert_eq!(second.namespaces["acme"].visible, 2);
}

#[test]
fn a_new_repository_whose_tags_failed_has_unknown_tags() {
    let s = Snapshot::default().merge(listed("acme", vec![read("api", TagsRead::Failed)]));
    let repo = &s.namespaces["acme"].repositories["api"];
    assert!(repo.tags.is_none());
}

#[test]
fn repositories_read_one_by_one_keep_what_could_not_be_read_and_hold_no_others() {
    let selected = |reads: Vec<SelectedRead>| {
        BTreeMap::from([("acme".to_string(), NamespaceRead::Selected(reads))])
    };
    let first = Snapshot::default().merge(selected(vec![
        SelectedRead::Read(read("api", tags(&[("a", "sha256:a")]))),
        SelectedRead::Read(read("web", tags(&[("b", "sha256:b")]))),
    ]));
    assert_eq!(tag_names(&first, "api").unwrap(), ["a"]);
    assert_eq!(first.namespaces["acme"].visible, 2);

    // web could not be read (not found, or a failure): it keeps its tags.
    let second = first.merge(selected(vec![
        SelectedRead::Read(read("api", tags(&[("a", "sha256:a"), ("c", "sha256:c")]))),
        SelectedRead::Kept("web".into()),
        SelectedRead::Kept("never-seen".into()),
    ]));
    assert_eq!(tag_names(&second, "api").unwrap(), ["a", "c"]);
    assert_eq!(tag_names(&second, "web").unwrap(), ["b"]);
    assert!(
        !second.namespaces["acme"]
            .repositories
            .contains_key("never-seen")
    );
    assert_eq!(second.namespaces["acme"].visible, 2);

    // What the configuration no longer names is dropped when a state file is restored.
    let mut restored = second.clone();
    restored.retain_configured(&[], &[("acme".into(), "api".into())]);
    assert_eq!(
        restored.namespaces["acme"]
            .repositories
            .keys()
            .collect::<Vec<_>>(),
        ["api"]
    );
    let mut listed_now = second.clone();
    listed_now.retain_configured(&["acme".into()], &[]);
    assert_eq!(listed_now, second, "a listed namespace keeps everything");
    let mut none = second;
    none.retain_configured(&[], &[]);
    assert!(none.namespaces.is_empty());
}
