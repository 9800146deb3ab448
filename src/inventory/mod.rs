//! The inventory: what the exporter knows about the Hub at one point in time.
//!
//! A [`Snapshot`] is immutable once built; the refresh loop builds a new one from the
//! previous snapshot and what the latest refresh could read, then publishes it. This module
//! owns the rule that a failed listing never deletes anything ([`Snapshot::merge`]), and
//! what a listing the Hub cut short holds ([`Window`]); it does not talk to the Hub and does
//! not format text.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

mod filter;
#[cfg(test)]
pub(crate) mod fixtures;
mod intern;
mod names;
#[cfg(test)]
mod tests;

pub(crate) use filter::{NameFilter, TagSelection};
pub(crate) use intern::interned;
pub(crate) use names::check_name;

/// One platform image of a tag (an entry of the tag's `images[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Image {
    /// Operating system, for example `linux` (shared, see [`interned`]).
    #[serde(deserialize_with = "intern::deserialize")]
    pub(crate) os: Arc<str>,
    /// CPU architecture, for example `arm64` (shared).
    #[serde(deserialize_with = "intern::deserialize")]
    pub(crate) architecture: Arc<str>,
    /// Architecture variant (`v8`), empty when the Hub reports none (shared).
    #[serde(deserialize_with = "intern::deserialize")]
    pub(crate) variant: Arc<str>,
    /// Platform manifest digest, empty when the Hub reports none.
    pub(crate) digest: String,
    /// Compressed size in bytes, when reported.
    pub(crate) size: Option<u64>,
}

impl Image {
    /// Attestation manifests are listed as `unknown/unknown`; they are not platforms.
    pub(crate) fn is_attestation(&self) -> bool {
        &*self.os == "unknown" && &*self.architecture == "unknown"
    }
}

/// Whether the Hub counts a tag as in use (its `tag_status`): pushed or pulled within the last
/// month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum TagStatus {
    /// Pushed or pulled within the last month.
    Active,
    /// Neither pushed nor pulled within the last month.
    Inactive,
}

/// One tag of a repository.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tag {
    /// Tag name.
    pub(crate) name: String,
    /// Manifest or index digest, empty when the Hub reports none.
    pub(crate) digest: String,
    /// `full_size` in bytes, when reported.
    pub(crate) full_size: Option<u64>,
    /// `tag_last_pushed` as Unix seconds.
    pub(crate) last_pushed: Option<f64>,
    /// `tag_last_pulled` as Unix seconds; `None` when never pulled.
    pub(crate) last_pulled: Option<f64>,
    /// Platform images, attestations already removed.
    pub(crate) images: Vec<Image>,
    /// `tag_status`, when the Hub sends it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) status: Option<TagStatus>,
}

/// Repository metadata from the repository listing.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RepositoryInfo {
    /// Whether the repository is private.
    pub(crate) private: bool,
    /// `repository_type`, for example `image`; empty when not reported.
    pub(crate) repository_type: String,
    /// Pull count reported by the Hub.
    pub(crate) pull_count: u64,
    /// Star count reported by the Hub.
    pub(crate) star_count: u64,
    /// `last_updated` as Unix seconds.
    pub(crate) last_updated: Option<f64>,
    /// `storage_size` in bytes, when reported.
    pub(crate) storage_size: Option<u64>,
}

/// A repository and, once a listing of them succeeded, its tags.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Repository {
    /// Name within the namespace.
    pub(crate) name: String,
    /// Metadata from the repository listing.
    pub(crate) info: RepositoryInfo,
    /// Tags sorted by name; `None` while no tag listing of this repository has succeeded.
    pub(crate) tags: Option<Arc<[Tag]>>,
    /// The repository's `last_updated` as of its last successful tag listing, which tells
    /// whether the tags may have changed since.
    #[serde(default)]
    pub(crate) tags_as_of: Option<f64>,
    /// When the Hub stopped the last listing of its tags early, as it stops anonymous
    /// listings at 1,000 tags: how many tags the Hub counts, more than `tags` holds (the most
    /// recently updated ones). `None` when `tags` holds them all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) counted: Option<u64>,
}

impl Repository {
    /// How many tags the repository has: the Hub's count when its listing was capped, else
    /// the tags listed; `None` while no listing of its tags has succeeded.
    pub(crate) fn tag_count(&self) -> Option<u64> {
        let listed = self.tags.as_ref()?.len() as u64;
        Some(self.counted.unwrap_or(listed))
    }

    /// Which of the repository's tags its last listing holds (see [`Window`]).
    pub(crate) fn window(&self) -> Window {
        match (&self.tags, self.counted) {
            (Some(tags), Some(_)) => Window::Newer(
                tags.iter()
                    .filter_map(|t| t.last_pushed)
                    .min_by(f64::total_cmp),
            ),
            _ => Window::Whole,
        }
    }
}

/// Which tags a listing of a repository holds.
///
/// A whole listing holds every tag. A capped one holds the most recently updated tags (the
/// Hub lists newest first, by a `last_updated` that captures show equal to
/// `tag_last_pushed`), down to the oldest it holds: a tag pushed after that one would be in
/// it if it existed; one pushed at the same time or before, or at no known time, may exist
/// beyond it. Change tracking counts only what the listings could have seen.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Window {
    /// Every tag.
    Whole,
    /// The tags pushed after this time (`None`: none is known to be within).
    Newer(Option<f64>),
}

impl Window {
    /// Whether `tag`, by its `last_pushed`, would be in the listing if it existed.
    pub(crate) fn holds(self, tag: &Tag) -> bool {
        match self {
            Window::Whole => true,
            Window::Newer(oldest) => {
                matches!((tag.last_pushed, oldest), (Some(t), Some(o)) if t > o)
            }
        }
    }
}

/// The repositories of one namespace, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Namespace {
    /// Repositories by name, those left out by `--filter.repository` aside.
    pub(crate) repositories: BTreeMap<String, Repository>,
    /// Repositories the namespace listing showed, filtered out or not.
    #[serde(default)]
    pub(crate) visible: usize,
}

impl Namespace {
    /// Adds what one refresh read of a repository, given what was `known` of it; a
    /// repository that is gone is left out, one left out by the filter is only counted.
    fn add(&mut self, repo: RepositoryRead, known: Option<&Repository>) {
        let known_tags = known.and_then(|r| r.tags.clone());
        let mut tags_as_of = known.and_then(|r| r.tags_as_of);
        let mut counted = known.and_then(|r| r.counted);
        let tags = match repo.tags {
            TagsRead::Listed(mut tags) => {
                tags.sort_by(|a, b| a.name.cmp(&b.name));
                tags_as_of = repo.info.last_updated;
                counted = None;
                Some(Arc::from(tags))
            }
            TagsRead::Shared(tags) => {
                tags_as_of = repo.info.last_updated;
                counted = None;
                Some(tags)
            }
            TagsRead::Capped { mut tags, count } => {
                tags.sort_by(|a, b| a.name.cmp(&b.name));
                tags_as_of = repo.info.last_updated;
                counted = Some(count);
                Some(Arc::from(tags))
            }
            TagsRead::Failed | TagsRead::Unchanged => known_tags,
            TagsRead::Gone => return,
            TagsRead::Skipped => {
                self.visible += 1;
                return;
            }
        };
        self.visible += 1;
        self.repositories.insert(
            repo.name.clone(),
            Repository {
                name: repo.name,
                info: repo.info,
                tags,
                tags_as_of,
                counted,
            },
        );
    }
}

/// Everything known about the configured namespaces.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Snapshot {
    /// Namespaces by name; a namespace whose listing never succeeded is absent.
    pub(crate) namespaces: BTreeMap<String, Namespace>,
}

/// What one refresh read about one namespace.
#[derive(Debug, Clone)]
pub(crate) enum NamespaceRead {
    /// The namespace could not be listed: keep everything known about it.
    Failed,
    /// The repository listing succeeded.
    Listed(Vec<RepositoryRead>),
    /// The namespace is not listed; these of its repositories were asked for one by one
    /// (`--hub.repository`). It holds these and no others.
    Selected(Vec<SelectedRead>),
}

/// What one refresh read about a repository asked for by name.
#[derive(Debug, Clone)]
pub(crate) enum SelectedRead {
    /// Its details were read.
    Read(RepositoryRead),
    /// Its details could not be read (not found, or a failure): keep what is known of it.
    Kept(String),
}

/// What a re-read of one repository found.
#[derive(Debug, Clone)]
pub(crate) enum Reread {
    /// Its details and the outcome of its tag listing.
    Read(RepositoryRead),
    /// Its details answered 404: the repository of this name is gone.
    Gone(String),
}

/// What one refresh read about one repository of a successfully listed namespace.
#[derive(Debug, Clone)]
pub(crate) struct RepositoryRead {
    /// Name within the namespace.
    pub(crate) name: String,
    /// Metadata from this refresh's repository listing.
    pub(crate) info: RepositoryInfo,
    /// The outcome of the tag listing.
    pub(crate) tags: TagsRead,
}

/// The outcome of one tag listing.
#[derive(Debug, Clone)]
pub(crate) enum TagsRead {
    /// Every page was read; tags deduplicated by name.
    Listed(Vec<Tag>),
    /// Every page was read, and the tags are exactly those already known: these, shared
    /// rather than held twice (see [`TagsRead::listed`]).
    Shared(Arc<[Tag]>),
    /// The Hub stopped the listing early, as it does past 1,000 tags to anonymous readers:
    /// the tags it let be read (the most recently updated), and its count of all of them.
    Capped {
        /// The tags read, deduplicated by name.
        tags: Vec<Tag>,
        /// The Hub's count of the repository's tags, more than `tags` holds.
        count: u64,
    },
    /// The listing failed: keep the tags known from before.
    Failed,
    /// The repository answered 404 on its first tag page: it is gone.
    Gone,
    /// Not listed because nothing changed since the last listing: keep the tags known.
    Unchanged,
    /// Left out by the repository filter: not inventoried, but counted as visible.
    Skipped,
}

impl TagsRead {
    /// A successful listing of `tags`, capped at the Hub's `count` when `capped` is `Some`:
    /// [`TagsRead::Shared`] when a whole listing holds exactly the tags `known` holds, so that
    /// an unchanged repository's tags are not held twice while a refresh reads the rest, nor
    /// after it.
    pub(crate) fn listed(
        mut tags: Vec<Tag>,
        capped: Option<u64>,
        known: Option<&Repository>,
    ) -> TagsRead {
        if let Some(count) = capped {
            return TagsRead::Capped { tags, count };
        }
        tags.sort_by(|a, b| a.name.cmp(&b.name));
        match known.and_then(|r| r.tags.as_ref()) {
            Some(known) if known[..] == tags[..] => TagsRead::Shared(Arc::clone(known)),
            _ => TagsRead::Listed(tags),
        }
    }
}

impl Snapshot {
    /// Builds the next snapshot from this one and one refresh's reads.
    ///
    /// Only a successful listing removes anything: a namespace whose listing failed keeps its
    /// repositories, and a repository whose tag listing failed keeps its tags. Namespaces not
    /// in `reads` are kept as they are.
    pub(crate) fn merge(&self, reads: BTreeMap<String, NamespaceRead>) -> Snapshot {
        let mut next = self.clone();
        for (ns_name, read) in reads {
            let previous = self.namespaces.get(&ns_name);
            let known = |name: &str| previous.and_then(|ns| ns.repositories.get(name));
            let mut namespace = Namespace::default();
            match read {
                NamespaceRead::Failed => continue,
                NamespaceRead::Listed(repos) => {
                    for repo in repos {
                        let known = known(&repo.name);
                        namespace.add(repo, known);
                    }
                }
                NamespaceRead::Selected(repos) => {
                    for repo in repos {
                        match repo {
                            SelectedRead::Read(repo) => {
                                let known = known(&repo.name);
                                namespace.add(repo, known);
                            }
                            SelectedRead::Kept(name) => {
                                if let Some(kept) = known(&name) {
                                    namespace.visible += 1;
                                    namespace.repositories.insert(name, kept.clone());
                                }
                            }
                        }
                    }
                }
            }
            next.namespaces.insert(ns_name, namespace);
        }
        next
    }

    /// Puts what a re-read of one repository found in place of what was known of it: its
    /// listing (a repository not known before is added), or nothing when it is gone. A
    /// namespace not in the snapshot is created only with `create` (a namespace of
    /// repositories named on their own); otherwise nothing is done and `false` returned,
    /// since one repository must not stand for a namespace whose listing never succeeded.
    /// A read whose tag listing failed keeps the tags known, as in [`Snapshot::merge`].
    pub(crate) fn apply_reread(&mut self, namespace: &str, read: Reread, create: bool) -> bool {
        if !create && !self.namespaces.contains_key(namespace) {
            return false;
        }
        let ns = self.namespaces.entry(namespace.to_string()).or_default();
        let name = match &read {
            Reread::Read(repo) => repo.name.clone(),
            Reread::Gone(name) => name.clone(),
        };
        let known = ns.repositories.remove(&name);
        if known.is_some() {
            ns.visible = ns.visible.saturating_sub(1);
        }
        if let Reread::Read(repo) = read {
            ns.add(repo, known.as_ref());
        }
        true
    }

    /// Sets each of `which` (namespace, repository) back to what `from` holds of it: a copy of
    /// it, or its absence. Namespaces this snapshot does not hold are left alone.
    pub(crate) fn keep_repositories<'a>(
        &mut self,
        from: &Snapshot,
        which: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) {
        for (namespace, name) in which {
            let Some(ns) = self.namespaces.get_mut(namespace) else {
                continue;
            };
            let kept = from
                .namespaces
                .get(namespace)
                .and_then(|n| n.repositories.get(name));
            let had = match kept {
                Some(repo) => ns.repositories.insert(name.to_string(), repo.clone()),
                None => ns.repositories.remove(name),
            };
            match (had.is_some(), kept.is_some()) {
                (false, true) => ns.visible += 1,
                (true, false) => ns.visible = ns.visible.saturating_sub(1),
                _ => {}
            }
        }
    }

    /// Keeps only what the configuration still asks for: the namespaces listed, and the
    /// repositories named on their own in namespaces not listed.
    pub(crate) fn retain_configured(&mut self, namespaces: &[String], named: &[(String, String)]) {
        self.namespaces.retain(|ns, namespace| {
            if namespaces.contains(ns) {
                return true;
            }
            namespace
                .repositories
                .retain(|name, _| named.iter().any(|(n, r)| n == ns && r == name));
            namespace.visible = namespace.repositories.len();
            !namespace.repositories.is_empty()
        });
    }

    /// Number of tags over all repositories whose tags are known.
    pub(crate) fn tag_count(&self) -> usize {
        self.repositories()
            .filter_map(|(_, r)| r.tags.as_ref())
            .map(|t| t.len())
            .sum()
    }

    /// Every repository with its namespace name, in name order.
    pub(crate) fn repositories(&self) -> impl Iterator<Item = (&str, &Repository)> {
        self.namespaces
            .iter()
            .flat_map(|(ns, n)| n.repositories.values().map(move |r| (ns.as_str(), r)))
    }
}
