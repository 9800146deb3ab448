//! Tests of change tracking where the Hub cut tag listings short: a listing holds only the
//! newest tags (here four of them; the Hub's 1,000 change nothing), and only what its window
//! could hold counts. Tag `tN` is pushed at time N.

use super::*;
use crate::inventory::TagsRead;
use crate::inventory::fixtures::{listed, read, tag};

/// The tags named, each pushed at the time its name ends with (`t7` at 7); `x` at no known
/// time.
fn tags_of(names: &[&str]) -> Vec<Tag> {
    names
        .iter()
        .map(|name| {
            let t = tag(name, &format!("sha256:{name}"));
            match name[1..].parse::<f64>() {
                Ok(at) => t.pushed_at(at),
                Err(_) => t,
            }
        })
        .collect()
}

/// A listing the Hub stopped after these tags, of `count`.
fn capped(names: &[&str], count: u64) -> Snapshot {
    let cut = TagsRead::Capped {
        tags: tags_of(names),
        count,
    };
    Snapshot::default().merge(listed("acme", vec![read("big", cut)]))
}

/// A whole listing of these tags.
fn whole(names: &[&str]) -> Snapshot {
    Snapshot::default().merge(listed(
        "acme",
        vec![read("big", TagsRead::Listed(tags_of(names)))],
    ))
}

/// The tags added and removed from `before` to `after`, by name.
fn counted(before: &Snapshot, after: &Snapshot) -> (Vec<String>, Vec<String>) {
    let (mut added, mut removed) = (Vec::new(), Vec::new());
    for change in diff(before, after, &TagSelection::default()) {
        match change {
            Change::TagAdded { tag, .. } => added.push(tag),
            Change::TagRemoved { tag, .. } => removed.push(tag),
            other => panic!("{other:?}"),
        }
    }
    (added, removed)
}

#[test]
fn pushes_to_a_capped_repository_are_added_and_the_tags_they_push_out_are_not_removed() {
    let before = capped(&["t3", "t4", "t5", "t6"], 6);
    let after = capped(&["t5", "t6", "t7", "t8"], 8);
    assert_eq!(
        counted(&before, &after),
        (vec!["t7".into(), "t8".into()], vec![])
    );
}

#[test]
fn a_tag_deleted_inside_the_window_is_removed_and_the_one_it_lets_in_is_not_added() {
    let before = capped(&["t3", "t4", "t5", "t6"], 6);
    // t5 deleted: t2, beyond the window before, comes into it.
    let after = capped(&["t2", "t3", "t4", "t6"], 5);
    assert_eq!(counted(&before, &after), (vec![], vec!["t5".into()]));
}

#[test]
fn a_tag_deleted_beyond_the_window_is_no_change_the_listing_cannot_see_it() {
    let before = capped(&["t3", "t4", "t5", "t6"], 6);
    let after = capped(&["t3", "t4", "t5", "t6"], 5);
    assert_eq!(counted(&before, &after), (vec![], vec![]));
    assert_eq!(
        after.namespaces["acme"].repositories["big"].tag_count(),
        Some(5)
    );
}

#[test]
fn a_repository_growing_past_the_cap_counts_its_pushes_only() {
    let before = whole(&["t1", "t2", "t3", "t4"]);
    let after = capped(&["t3", "t4", "t5", "t6"], 6);
    assert_eq!(
        counted(&before, &after),
        (vec!["t5".into(), "t6".into()], vec![])
    );
}

#[test]
fn a_whole_listing_after_a_capped_one_adds_none_of_the_older_tags_and_removes_what_is_gone() {
    let before = capped(&["t3", "t4", "t5", "t6"], 6);
    // Signed in: the tags beyond the window were there all along; t4 was deleted.
    let after = whole(&["t1", "t2", "t3", "t5", "t6"]);
    assert_eq!(counted(&before, &after), (vec![], vec!["t4".into()]));
}

#[test]
fn a_tag_at_the_windows_edge_or_of_no_known_time_is_never_counted_either_way() {
    // t3 and t3.0 were pushed at the same time; which of them the Hub lists is its choice.
    let before = capped(&["t3", "t4", "t5", "x"], 6);
    let after = capped(&["t3.0", "t4", "t5", "t6"], 6);
    let (added, removed) = counted(&before, &after);
    assert_eq!(added, ["t6"]);
    assert!(removed.is_empty(), "{removed:?}");
}

#[test]
fn digest_changes_inside_the_window_count() {
    let before = capped(&["t3", "t4", "t5", "t6"], 6);
    let mut after = capped(&["t3", "t4", "t5", "t6"], 6);
    let repo = after
        .namespaces
        .get_mut("acme")
        .and_then(|ns| ns.repositories.get_mut("big"))
        .unwrap();
    let mut moved: Vec<Tag> = repo.tags.as_deref().unwrap().to_vec();
    moved[3].digest = "sha256:new".into();
    repo.tags = Some(moved.into());
    let changes = diff(&before, &after, &TagSelection::default());
    assert_eq!(changes.len(), 1, "{changes:?}");
    assert!(matches!(&changes[0], Change::TagDigestChanged { tag, .. } if tag == "t6"));
}
