//! The comparison of one repository's Hub tags with its mirror, as pure functions: which
//! tags' digests must be asked for again ([`plan`]), and what the answers make of the
//! repository ([`conclude`]): how many tags were compared, which are missing on the mirror or
//! there at another digest, and what to remember for the next check.
//!
//! A digest is asked for again only when the Hub's digest of the tag changed, when the tag is
//! new, when it was missing on the mirror (and is now in its tags list), when the last check
//! of it failed (it is then not remembered), or in a full check. The price, said in the docs:
//! a tag pushed again on the mirror alone, with another image, is seen at the next full check.

use std::collections::{BTreeMap, BTreeSet};

use super::client::{Manifest, Tags};

/// Why a tag is out of sync, as the `reason` label names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Reason {
    /// The mirror does not have the tag.
    Missing,
    /// The mirror has the tag at another digest.
    Digest,
}

impl Reason {
    /// The value of the `reason` label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Reason::Missing => "missing",
            Reason::Digest => "digest",
        }
    }
}

/// One repository's state on one mirror, as the last successful read found it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RepositoryFigures {
    /// Hub tags compared (the tracked tags).
    pub(crate) tags: usize,
    /// The mismatched tags, by name.
    pub(crate) mismatches: BTreeMap<String, Reason>,
    /// The mirror's digest of each tag it holds at another digest, by name.
    pub(crate) digests: BTreeMap<String, String>,
}

impl RepositoryFigures {
    /// Tags of `reason`.
    pub(crate) fn count(&self, reason: Reason) -> usize {
        self.mismatches.values().filter(|r| **r == reason).count()
    }
}

/// What was found of a tag at its last successful check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Seen {
    /// The Hub's digest it was compared with.
    hub_digest: String,
    /// `None` when the mirror had it at that digest.
    found: Option<Reason>,
    /// The mirror's digest when it was another.
    mirror_digest: Option<String>,
}

/// What is remembered of one repository between checks: each tag's last finding.
pub(super) type Known = BTreeMap<String, Seen>;

/// The tags whose digest must be asked for: those of `hub` (name and Hub digest) that the
/// mirror lists and whose last finding is not known to still hold.
pub(super) fn plan(
    hub: &[(String, String)],
    tags: &Tags,
    known: &Known,
    full: bool,
) -> Vec<String> {
    let Tags::Listed(listed) = tags else {
        return Vec::new();
    };
    hub.iter()
        .filter(|(name, _)| listed.contains(name))
        .filter(|(name, digest)| {
            full || known.get(name).is_none_or(|seen| {
                seen.hub_digest != *digest || seen.found == Some(Reason::Missing)
            })
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// The repository's figures and what to remember, from the tags list and the digests asked
/// for (every tag [`plan`] named, and no other).
pub(super) fn conclude(
    hub: &[(String, String)],
    tags: &Tags,
    asked: &BTreeMap<String, Manifest>,
    known: &Known,
) -> (RepositoryFigures, Known) {
    let listed = match tags {
        Tags::Listed(listed) => listed,
        Tags::Absent => &BTreeSet::new(),
    };
    let mut figures = RepositoryFigures {
        tags: hub.len(),
        ..RepositoryFigures::default()
    };
    let mut remembered = Known::new();
    for (name, hub_digest) in hub {
        let (found, mirror_digest) = if !listed.contains(name) {
            (Some(Reason::Missing), None)
        } else {
            match asked.get(name) {
                Some(Manifest::Missing) => (Some(Reason::Missing), None),
                // A tag without a digest on the Hub can only be checked for presence.
                Some(Manifest::Digest(d)) if !hub_digest.is_empty() && d != hub_digest => {
                    (Some(Reason::Digest), Some(d.clone()))
                }
                Some(Manifest::Digest(_)) => (None, None),
                None => match known.get(name) {
                    Some(seen) => (seen.found, seen.mirror_digest.clone()),
                    // Not asked for and not known: plan would have named it.
                    None => continue,
                },
            }
        };
        if let Some(reason) = found {
            figures.mismatches.insert(name.clone(), reason);
        }
        if let Some(digest) = &mirror_digest {
            figures.digests.insert(name.clone(), digest.clone());
        }
        remembered.insert(
            name.clone(),
            Seen {
                hub_digest: hub_digest.clone(),
                found,
                mirror_digest,
            },
        );
    }
    (figures, remembered)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hub(tags: &[(&str, &str)]) -> Vec<(String, String)> {
        tags.iter()
            .map(|(t, d)| (t.to_string(), d.to_string()))
            .collect()
    }

    fn listed(tags: &[&str]) -> Tags {
        Tags::Listed(tags.iter().map(|t| t.to_string()).collect())
    }

    fn digests(found: &[(&str, Option<&str>)]) -> BTreeMap<String, Manifest> {
        found
            .iter()
            .map(|(t, d)| {
                let m = d.map_or(Manifest::Missing, |d| Manifest::Digest(d.into()));
                (t.to_string(), m)
            })
            .collect()
    }

    /// A first check, then a second with the Hub as `then`, the mirror listing `tags`.
    fn second(first: &[(&str, &str)], then: &[(&str, &str)], tags: &[&str]) -> Vec<String> {
        let first = hub(first);
        let names: Vec<&str> = first.iter().map(|(t, _)| t.as_str()).collect();
        let asked = first
            .iter()
            .map(|(t, d)| (t.clone(), Manifest::Digest(d.clone())))
            .collect();
        let (_, known) = conclude(&first, &listed(&names), &asked, &Known::new());
        plan(&hub(then), &listed(tags), &known, false)
    }

    #[test]
    fn a_first_check_asks_for_every_listed_tag_and_finds_each_kind() {
        let h = hub(&[("a", "sha256:1"), ("b", "sha256:2"), ("c", "sha256:3")]);
        let tags = listed(&["a", "b", "x"]);
        assert_eq!(plan(&h, &tags, &Known::new(), false), ["a", "b"]);
        let asked = digests(&[("a", Some("sha256:1")), ("b", Some("sha256:9"))]);
        let (figures, known) = conclude(&h, &tags, &asked, &Known::new());
        assert_eq!(figures.tags, 3);
        assert_eq!(
            figures.mismatches,
            BTreeMap::from([("b".into(), Reason::Digest), ("c".into(), Reason::Missing)])
        );
        assert_eq!(
            (
                figures.count(Reason::Missing),
                figures.count(Reason::Digest)
            ),
            (1, 1)
        );
        assert_eq!(
            figures.digests,
            BTreeMap::from([("b".into(), "sha256:9".into())])
        );
        assert_eq!(known.len(), 3);
        // Not asked again, the mirror's digest is remembered.
        let (again, _) = conclude(&h, &tags, &BTreeMap::new(), &known);
        assert_eq!(again, figures);
    }

    #[test]
    fn unchanged_tags_are_not_asked_for_again_but_changed_new_and_reappeared_ones_are() {
        let first = [("a", "sha256:1"), ("b", "sha256:2"), ("gone", "sha256:3")];
        assert!(second(&first, &first, &["a", "b", "gone"]).is_empty());
        assert_eq!(
            second(
                &first,
                &[("a", "sha256:1"), ("b", "sha256:5"), ("new", "sha256:6")],
                &["a", "b", "new"]
            ),
            ["b", "new"]
        );
        // Missing at the first check (not listed), listed now.
        let h = hub(&[("a", "sha256:1")]);
        let (_, known) = conclude(&h, &listed(&[]), &BTreeMap::new(), &Known::new());
        assert_eq!(plan(&h, &listed(&["a"]), &known, false), ["a"]);
        // A full check asks for everything.
        let (_, known) = conclude(
            &h,
            &listed(&["a"]),
            &digests(&[("a", Some("sha256:1"))]),
            &Known::new(),
        );
        assert!(plan(&h, &listed(&["a"]), &known, false).is_empty());
        assert_eq!(plan(&h, &listed(&["a"]), &known, true), ["a"]);
    }

    #[test]
    fn a_tag_that_leaves_the_tags_list_is_missing_without_a_request() {
        let h = hub(&[("a", "sha256:1"), ("b", "sha256:2")]);
        let all = listed(&["a", "b"]);
        let (_, known) = conclude(
            &h,
            &all,
            &digests(&[("a", Some("sha256:1")), ("b", Some("sha256:2"))]),
            &Known::new(),
        );
        let now = listed(&["a"]);
        assert!(plan(&h, &now, &known, false).is_empty());
        let (figures, _) = conclude(&h, &now, &BTreeMap::new(), &known);
        assert_eq!(
            figures.mismatches,
            BTreeMap::from([("b".into(), Reason::Missing)])
        );
    }

    #[test]
    fn an_absent_repository_has_every_tag_missing_and_nothing_to_ask() {
        let h = hub(&[("a", "sha256:1"), ("b", "sha256:2")]);
        assert!(plan(&h, &Tags::Absent, &Known::new(), true).is_empty());
        let (figures, _) = conclude(&h, &Tags::Absent, &BTreeMap::new(), &Known::new());
        assert_eq!((figures.tags, figures.count(Reason::Missing)), (2, 2));
    }

    #[test]
    fn a_tag_without_a_hub_digest_is_checked_for_presence_only() {
        let h = hub(&[("old", "")]);
        let (figures, _) = conclude(
            &h,
            &listed(&["old"]),
            &digests(&[("old", Some("sha256:7"))]),
            &Known::new(),
        );
        assert!(figures.mismatches.is_empty());
    }
}
