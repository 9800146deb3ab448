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
