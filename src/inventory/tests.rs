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

#[test]
fn a_reread_replaces_one_repository_and_leaves_the_others() {
    let first = Snapshot::default().merge(listed(
        "acme",
        vec![
            read("api", tags(&[("a", "sha256:a")])),
            read("web", tags(&[("w", "sha256:w")])),
        ],
    ));
    let mut next = first.clone();
    assert!(next.apply_reread(
        "acme",
        Reread::Read(read("api", tags(&[("a", "sha256:a"), ("b", "sha256:b")]))),
        false
    ));
    assert_eq!(tag_names(&next, "api").unwrap(), ["a", "b"]);
    assert_eq!(tag_names(&next, "web").unwrap(), ["w"]);
    assert_eq!(next.namespaces["acme"].visible, 2);

    // A repository created since the listing is added; one gone is removed.
    assert!(next.apply_reread("acme", Reread::Read(read("new", tags(&[]))), false));
    assert!(next.apply_reread("acme", Reread::Gone("web".into()), false));
    assert_eq!(
        next.namespaces["acme"]
            .repositories
            .keys()
            .collect::<Vec<_>>(),
        ["api", "new"]
    );
    assert_eq!(next.namespaces["acme"].visible, 2);

    // A failed listing keeps the tags known.
    assert!(next.apply_reread("acme", Reread::Read(read("api", TagsRead::Failed)), false));
    assert_eq!(tag_names(&next, "api").unwrap(), ["a", "b"]);
}

#[test]
fn a_reread_never_stands_for_a_namespace_never_listed_unless_asked_to() {
    let mut empty = Snapshot::default();
    let api = || Reread::Read(read("api", tags(&[("a", "sha256:a")])));
    assert!(!empty.apply_reread("acme", api(), false));
    assert!(empty.namespaces.is_empty());
    assert!(empty.apply_reread("acme", api(), true));
    assert_eq!(tag_names(&empty, "api").unwrap(), ["a"]);
}

#[test]
fn kept_repositories_go_back_to_what_the_other_snapshot_holds() {
    let base = Snapshot::default().merge(listed(
        "acme",
        vec![
            read("api", tags(&[("a", "sha256:a")])),
            read("web", tags(&[("w", "sha256:w")])),
        ],
    ));
    // A later listing that saw neither the new tag of api, nor `web`'s deletion, nor `new`.
    let mut current = base.clone();
    current.apply_reread(
        "acme",
        Reread::Read(read("api", tags(&[("a", "sha256:a"), ("b", "sha256:b")]))),
        false,
    );
    current.apply_reread("acme", Reread::Gone("web".into()), false);
    current.apply_reread("acme", Reread::Read(read("new", tags(&[]))), false);
    let mut stale = base.clone();
    stale.keep_repositories(
        &current,
        [("acme", "api"), ("acme", "web"), ("acme", "new")],
    );
    assert_eq!(stale, current);
    // Namespaces it does not hold are left alone.
    let mut other = Snapshot::default();
    other.keep_repositories(&current, [("acme", "api")]);
    assert!(other.namespaces.is_empty());
}

#[test]
fn a_listing_of_exactly_the_known_tags_shares_them() {
    let first = Snapshot::default().merge(listed(
        "acme",
        vec![read("api", tags(&[("b", "sha256:b"), ("a", "sha256:a")]))],
    ));
    let known = &first.namespaces["acme"].repositories["api"];
    let same = vec![
        super::fixtures::tag("b", "sha256:b"),
        super::fixtures::tag("a", "sha256:a"),
    ];
    let TagsRead::Shared(shared) = TagsRead::listed(same, None, Some(known)) else {
        panic!("the same tags, in another order, are shared");
    };
    assert!(Arc::ptr_eq(&shared, known.tags.as_ref().unwrap()));
    let second = first.merge(listed("acme", vec![read("api", TagsRead::Shared(shared))]));
    assert_eq!(second, first);
    let moved = vec![super::fixtures::tag("a", "sha256:new")];
    assert!(matches!(
        TagsRead::listed(moved, None, Some(known)),
        TagsRead::Listed(_)
    ));
    assert!(matches!(
        TagsRead::listed(Vec::new(), None, None),
        TagsRead::Listed(_)
    ));
}

#[test]
fn a_capped_listing_keeps_the_hubs_count_until_a_whole_one_replaces_it() {
    let cut = |names: &[&str], count| TagsRead::Capped {
        tags: names.iter().map(|n| fixtures::tag(n, "sha256:x")).collect(),
        count,
    };
    let first = Snapshot::default().merge(listed("acme", vec![read("big", cut(&["b", "a"], 5))]));
    let big = |s: &Snapshot| s.namespaces["acme"].repositories["big"].clone();
    assert_eq!(tag_names(&first, "big").unwrap(), ["a", "b"]);
    assert_eq!(
        (big(&first).tag_count(), big(&first).counted),
        (Some(5), Some(5))
    );
    // A failed or skipped listing keeps the count with the tags it keeps.
    let failed = first.merge(listed("acme", vec![read("big", TagsRead::Failed)]));
    assert_eq!(big(&failed), big(&first));
    let unchanged = first.merge(listed("acme", vec![read("big", TagsRead::Unchanged)]));
    assert_eq!(big(&unchanged), big(&first));
    // A whole listing holds every tag: its own length is the count.
    let whole = first.merge(listed(
        "acme",
        vec![read("big", tags(&[("a", "x"), ("b", "x"), ("c", "x")]))],
    ));
    assert_eq!(
        (big(&whole).tag_count(), big(&whole).counted),
        (Some(3), None)
    );
    // A re-read takes the count of its listing too.
    let mut reread = whole.clone();
    assert!(reread.apply_reread("acme", Reread::Read(read("big", cut(&["a"], 9))), false));
    assert_eq!(big(&reread).tag_count(), Some(9));
    // A whole listing equal to a capped one's tags is still whole.
    assert!(matches!(
        TagsRead::listed(
            vec![fixtures::tag("a", "sha256:x")],
            None,
            Some(&big(&reread))
        ),
        TagsRead::Shared(_)
    ));
    assert!(matches!(
        TagsRead::listed(vec![], Some(4), Some(&big(&reread))),
        TagsRead::Capped { count: 4, .. }
    ));
}

#[test]
fn a_capped_window_holds_the_tags_pushed_after_its_oldest_and_a_whole_one_every_tag() {
    let at = |name: &str, t: Option<f64>| Tag {
        last_pushed: t,
        ..fixtures::tag(name, "")
    };
    let mut repo = fixtures::repository(
        "big",
        Some(vec![
            at("a", Some(20.0)),
            at("b", Some(30.0)),
            at("c", None),
        ]),
    );
    assert_eq!(repo.window(), Window::Whole);
    assert!(repo.window().holds(&at("old", Some(1.0))) && repo.window().holds(&at("x", None)));
    repo.counted = Some(10);
    assert_eq!(repo.window(), Window::Newer(Some(20.0)));
    for (tag, holds) in [
        (at("new", Some(20.5)), true),
        (at("edge", Some(20.0)), false),
        (at("old", Some(19.0)), false),
        (at("unknown", None), false),
    ] {
        assert_eq!(repo.window().holds(&tag), holds, "{}", tag.name);
    }
    repo.tags = Some(vec![at("c", None)].into());
    assert_eq!(repo.window(), Window::Newer(None));
    assert!(!repo.window().holds(&at("new", Some(1e12))));
}
