//! Change tracking: what differs between two successive snapshots, and the counters of it.
//!
//! The refresh loop diffs the snapshot it is about to publish against the one it replaces.
//! Because [`Snapshot::merge`] keeps the previous data for every listing that failed, a
//! failed listing never shows up as a difference here: only successful listings count. This
//! module decides what counts as a change and keeps the per-repository and per-namespace
//! counters; it does not render them (see `publication`) or log them (see `refresh`).
//!
//! A tag whose digest changed is a *digest change* everywhere: in [`Change`], the log line
//! `tag digest changed`, the alert `DockerHubTagDigestChanged`. Its counter alone keeps the
//! name it was first served under, `dockerhub_tags_updated_total`.

mod history;

pub(crate) use history::{Entry, History, Kind, lenient_entries};

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::inventory::{Namespace, Repository, Snapshot, Tag, TagSelection};

/// One difference between two snapshots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Change {
    /// A tag that was not there before.
    TagAdded {
        /// Namespace name.
        namespace: String,
        /// Repository name within the namespace.
        repository: String,
        /// Tag name.
        tag: String,
        /// Its digest (empty when the Hub has none).
        digest: String,
    },
    /// A tag that is gone, also when its whole repository is gone.
    TagRemoved {
        /// Namespace name.
        namespace: String,
        /// Repository name within the namespace.
        repository: String,
        /// Tag name.
        tag: String,
        /// The digest it had.
        digest: String,
    },
    /// A tag whose digest changed.
    TagDigestChanged {
        /// Namespace name.
        namespace: String,
        /// Repository name within the namespace.
        repository: String,
        /// Tag name.
        tag: String,
        /// The digest it had.
        old_digest: String,
        /// The digest it has now.
        new_digest: String,
    },
    /// A repository that appeared in a namespace listed before.
    RepositoryAdded {
        /// Namespace name.
        namespace: String,
        /// Repository name within the namespace.
        repository: String,
    },
    /// A repository that is gone.
    RepositoryRemoved {
        /// Namespace name.
        namespace: String,
        /// Repository name within the namespace.
        repository: String,
    },
}

impl Change {
    /// The namespace, the repository and, for a change of a tag, the tag it is about.
    pub(crate) fn subject(&self) -> (&str, &str, Option<&str>) {
        match self {
            Change::TagAdded {
                namespace,
                repository,
                tag,
                ..
            }
            | Change::TagRemoved {
                namespace,
                repository,
                tag,
                ..
            }
            | Change::TagDigestChanged {
                namespace,
                repository,
                tag,
                ..
            } => (namespace, repository, Some(tag)),
            Change::RepositoryAdded {
                namespace,
                repository,
            }
            | Change::RepositoryRemoved {
                namespace,
                repository,
            } => (namespace, repository, None),
        }
    }
}

/// Every change from `previous` to `next`.
///
/// The first listing of anything counts nothing: a namespace absent from `previous` adds no
/// repositories, and a repository whose tags were unknown adds no tags. A repository that is
/// gone removes all its known tags. Where the Hub cut a listing short, only the tags it could
/// hold count (see [`crate::inventory::Window`]).
/// Only tags that `tags` matches count.
pub(crate) fn diff(previous: &Snapshot, next: &Snapshot, tags: &TagSelection) -> Vec<Change> {
    let mut changes = Vec::new();
    for (ns_name, before) in &previous.namespaces {
        let Some(after) = next.namespaces.get(ns_name) else {
            continue;
        };
        diff_namespace(ns_name, before, after, &mut changes);
    }
    if !tags.is_open() {
        changes.retain(|c| match c.subject() {
            (namespace, repository, Some(tag)) => tags.matches(namespace, repository, tag),
            _ => true,
        });
    }
    changes
}

fn diff_namespace(ns: &str, before: &Namespace, after: &Namespace, out: &mut Vec<Change>) {
    for (name, old) in &before.repositories {
        match after.repositories.get(name) {
            Some(new) => diff_tags(ns, old, new, out),
            None => {
                for tag in old.tags.iter().flat_map(|t| t.iter()) {
                    out.push(Change::TagRemoved {
                        namespace: ns.into(),
                        repository: name.clone(),
                        tag: tag.name.clone(),
                        digest: tag.digest.clone(),
                    });
                }
                out.push(Change::RepositoryRemoved {
                    namespace: ns.into(),
                    repository: name.clone(),
                });
            }
        }
    }
    for name in after.repositories.keys() {
        if !before.repositories.contains_key(name) {
            out.push(Change::RepositoryAdded {
                namespace: ns.into(),
                repository: name.clone(),
            });
        }
    }
}

/// Walks two name-sorted tag lists side by side.
fn diff_tags(ns: &str, old: &Repository, new: &Repository, out: &mut Vec<Change>) {
    let (Some(old_tags), Some(new_tags)) = (&old.tags, &new.tags) else {
        return;
    };
    if Arc::ptr_eq(old_tags, new_tags) {
        return;
    }
    let change = |kind: fn(String, String, &Tag, &Tag) -> Change, a: &Tag, b: &Tag| {
        kind(ns.into(), new.name.clone(), a, b)
    };
    // A listing the Hub cut short holds only the newest tags (see `Window`): a tag missing
    // from the new listing is removed only where that listing would hold it, and a tag new
    // to it is added only where the old listing would have held it. A tag that merely left
    // the window, or came into it from beyond, is no change.
    let (old_window, new_window) = (old.window(), new.window());
    let (mut i, mut j) = (0, 0);
    while i < old_tags.len() || j < new_tags.len() {
        let order = match (old_tags.get(i), new_tags.get(j)) {
            (Some(a), Some(b)) => a.name.cmp(&b.name),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, _) => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Less => {
                let a = &old_tags[i];
                if new_window.holds(a) {
                    out.push(change(removed, a, a));
                }
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                let b = &new_tags[j];
                if old_window.holds(b) {
                    out.push(change(added, b, b));
                }
                j += 1;
            }
            std::cmp::Ordering::Equal => {
                let (a, b) = (&old_tags[i], &new_tags[j]);
                if a.digest != b.digest {
                    out.push(change(digest_changed, a, b));
                }
                i += 1;
                j += 1;
            }
        }
    }
}

fn added(namespace: String, repository: String, _: &Tag, t: &Tag) -> Change {
    Change::TagAdded {
        namespace,
        repository,
        tag: t.name.clone(),
        digest: t.digest.clone(),
    }
}

fn removed(namespace: String, repository: String, t: &Tag, _: &Tag) -> Change {
    Change::TagRemoved {
        namespace,
        repository,
        tag: t.name.clone(),
        digest: t.digest.clone(),
    }
}

fn digest_changed(namespace: String, repository: String, a: &Tag, b: &Tag) -> Change {
    Change::TagDigestChanged {
        namespace,
        repository,
        tag: b.name.clone(),
        old_digest: a.digest.clone(),
        new_digest: b.digest.clone(),
    }
}

/// Tag changes of one repository since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TagCounts {
    /// `dockerhub_tags_added_total`.
    pub(crate) added: u64,
    /// `dockerhub_tags_removed_total`.
    pub(crate) removed: u64,
    /// Digest changes, served as `dockerhub_tags_updated_total`.
    pub(crate) digest_changed: u64,
}

/// Repository changes of one namespace since the process started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RepositoryCounts {
    /// `dockerhub_repositories_added_total`.
    pub(crate) added: u64,
    /// `dockerhub_repositories_removed_total`.
    pub(crate) removed: u64,
}

/// The change counters. A series, once there, stays for the life of the process, also for
/// repositories that are gone, so that `increase()` over it works.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Counters {
    /// By namespace, then repository.
    pub(crate) tags: BTreeMap<(String, String), TagCounts>,
    /// By namespace.
    pub(crate) repositories: BTreeMap<String, RepositoryCounts>,
}

impl Counters {
    /// Makes sure every namespace and repository of `snapshot` has its series, at 0 when new.
    pub(crate) fn cover(&mut self, snapshot: &Snapshot) {
        for (ns, namespace) in &snapshot.namespaces {
            self.repositories.entry(ns.clone()).or_default();
            for name in namespace.repositories.keys() {
                self.tags.entry((ns.clone(), name.clone())).or_default();
            }
        }
    }

    /// Counts `changes`.
    pub(crate) fn count(&mut self, changes: &[Change]) {
        for change in changes {
            match change {
                Change::TagAdded {
                    namespace,
                    repository,
                    ..
                } => self.repository(namespace, repository).added += 1,
                Change::TagRemoved {
                    namespace,
                    repository,
                    ..
                } => self.repository(namespace, repository).removed += 1,
                Change::TagDigestChanged {
                    namespace,
                    repository,
                    ..
                } => self.repository(namespace, repository).digest_changed += 1,
                Change::RepositoryAdded { namespace, .. } => {
                    self.repositories
                        .entry(namespace.clone())
                        .or_default()
                        .added += 1
                }
                Change::RepositoryRemoved { namespace, .. } => {
                    self.repositories
                        .entry(namespace.clone())
                        .or_default()
                        .removed += 1
                }
            }
        }
    }

    fn repository(&mut self, namespace: &str, repository: &str) -> &mut TagCounts {
        self.tags
            .entry((namespace.to_string(), repository.to_string()))
            .or_default()
    }
}

#[cfg(test)]
mod capped;
#[cfg(test)]
mod tests {
    use super::*;

    fn diff_all(previous: &Snapshot, next: &Snapshot) -> Vec<Change> {
        diff(previous, next, &TagSelection::default())
    }

    #[test]
    fn tags_left_out_by_the_filter_count_nothing() {
        let first = Snapshot::default().merge(listed(
            "acme",
            vec![read("api", tags(&[("1.0", "a"), ("sha-1", "b")]))],
        ));
        let second = first.merge(listed(
            "acme",
            vec![read("api", tags(&[("1.1", "c"), ("sha-2", "d")]))],
        ));
        let filter = TagSelection::new(
            NameFilter::new(None, Some(regex::Regex::new("^(?:sha-.*)$").unwrap())),
            [],
        );
        let changes = diff(&first, &second, &filter);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes.iter().all(|c| !format!("{c:?}").contains("sha-")));

        // A repository's own pattern counts only its tags, and only in that repository.
        let own = TagSelection::new(
            NameFilter::default(),
            [(
                "acme".to_string(),
                "api".to_string(),
                regex::Regex::new(r"^(?:1\..*)$").unwrap(),
            )],
        );
        let changes = diff(&first, &second, &own);
        assert_eq!(changes.len(), 2, "{changes:?}");
        assert!(changes.iter().all(|c| format!("{c:?}").contains("\"1.")));
    }
    use crate::inventory::fixtures::{listed, read, tags};
    use crate::inventory::{NameFilter, NamespaceRead, TagsRead};

    #[test]
    fn the_first_listing_counts_nothing() {
        let first =
            Snapshot::default().merge(listed("acme", vec![read("api", tags(&[("1.0", "a")]))]));
        assert!(diff_all(&Snapshot::default(), &first).is_empty());
        // Tags unknown before (a failed first listing) count nothing once they are read.
        let unknown =
            Snapshot::default().merge(listed("acme", vec![read("web", TagsRead::Failed)]));
        let known = unknown.merge(listed("acme", vec![read("web", tags(&[("x", "d")]))]));
        assert!(diff_all(&unknown, &known).is_empty());
    }

    #[test]
    fn added_removed_and_digest_changed_tags_are_told_apart() {
        let first = Snapshot::default().merge(listed(
            "acme",
            vec![read(
                "api",
                tags(&[("1.0", "a"), ("1.1", "b"), ("latest", "b")]),
            )],
        ));
        let second = first.merge(listed(
            "acme",
            vec![read(
                "api",
                tags(&[("1.1", "c"), ("1.2", "d"), ("latest", "b")]),
            )],
        ));
        let changes = diff_all(&first, &second);
        let at = |tag: &str| Change::TagAdded {
            namespace: "acme".into(),
            repository: "api".into(),
            tag: tag.into(),
            digest: "d".into(),
        };
        assert_eq!(changes.len(), 3, "{changes:?}");
        assert!(changes.contains(&Change::TagRemoved {
            namespace: "acme".into(),
            repository: "api".into(),
            tag: "1.0".into(),
            digest: "a".into(),
        }));
        assert!(changes.contains(&at("1.2")));
        assert!(changes.contains(&Change::TagDigestChanged {
            namespace: "acme".into(),
            repository: "api".into(),
            tag: "1.1".into(),
            old_digest: "b".into(),
            new_digest: "c".into(),
        }));
    }

    #[test]
    fn failed_listings_count_nothing() {
        let first =
            Snapshot::default().merge(listed("acme", vec![read("api", tags(&[("1.0", "a")]))]));
        let tags_failed = first.merge(listed("acme", vec![read("api", TagsRead::Failed)]));
        assert!(diff_all(&first, &tags_failed).is_empty());
        let namespace_failed = first.merge(BTreeMap::from([(
            "acme".to_string(),
            NamespaceRead::Failed,
        )]));
        assert!(diff_all(&first, &namespace_failed).is_empty());
    }

    #[test]
    fn a_repository_gone_removes_its_tags_and_a_new_one_is_added() {
        let first = Snapshot::default().merge(listed(
            "acme",
            vec![read("old", tags(&[("a", "1"), ("b", "2")]))],
        ));
        let second = first.merge(listed("acme", vec![read("new", tags(&[("x", "9")]))]));
        let mut counters = Counters::default();
        counters.cover(&first);
        counters.count(&diff_all(&first, &second));
        counters.cover(&second);
        assert_eq!(
            counters.tags[&("acme".into(), "old".into())],
            TagCounts {
                added: 0,
                removed: 2,
                digest_changed: 0
            }
        );
        // The new repository's first listing adds no tags, but its series exist.
        assert_eq!(
            counters.tags[&("acme".into(), "new".into())],
            TagCounts::default()
        );
        assert_eq!(
            counters.repositories["acme"],
            RepositoryCounts {
                added: 1,
                removed: 1
            }
        );
        // A third refresh without the old repository keeps its series.
        let third = second.merge(listed("acme", vec![read("new", tags(&[("x", "9")]))]));
        counters.count(&diff_all(&second, &third));
        counters.cover(&third);
        assert_eq!(counters.tags[&("acme".into(), "old".into())].removed, 2);
        assert_eq!(counters.repositories["acme"].removed, 1);
    }
}
