//! Which names are chosen: an include and an exclude pattern over repository or tag names,
//! both anchored at both ends, as `--filter.*` gives them; and which tags of which repository
//! get per-tag series, with a repository's own pattern from `--hub.repository`.

use std::collections::BTreeMap;

/// An include and an exclude pattern over names; `None` means no constraint.
#[derive(Debug, Clone, Default)]
pub(crate) struct NameFilter {
    include: Option<regex::Regex>,
    exclude: Option<regex::Regex>,
}

impl NameFilter {
    /// A filter from the two patterns, which must already be anchored.
    pub(crate) fn new(include: Option<regex::Regex>, exclude: Option<regex::Regex>) -> Self {
        NameFilter { include, exclude }
    }

    /// Whether `name` is chosen: it matches the include pattern (if any) and not the exclude
    /// pattern (if any).
    pub(crate) fn matches(&self, name: &str) -> bool {
        self.include.as_ref().is_none_or(|r| r.is_match(name))
            && !self.exclude.as_ref().is_some_and(|r| r.is_match(name))
    }

    /// Whether the filter lets everything through.
    pub(crate) fn is_open(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }
}

/// Which tags get per-tag series and change tracking: those the `--filter.tag*` patterns
/// choose and, for a repository named with its own pattern (`--hub.repository NS/REPO:RE`),
/// that pattern too.
#[derive(Debug, Clone, Default)]
pub(crate) struct TagSelection {
    every: NameFilter,
    /// Namespace → repository → its pattern, anchored.
    own: BTreeMap<String, BTreeMap<String, regex::Regex>>,
}

impl TagSelection {
    /// `every` for all repositories, and each repository's own pattern.
    pub(crate) fn new(
        every: NameFilter,
        own: impl IntoIterator<Item = (String, String, regex::Regex)>,
    ) -> Self {
        let mut by_namespace: BTreeMap<String, BTreeMap<String, regex::Regex>> = BTreeMap::new();
        for (namespace, repository, pattern) in own {
            by_namespace
                .entry(namespace)
                .or_default()
                .insert(repository, pattern);
        }
        TagSelection {
            every,
            own: by_namespace,
        }
    }

    /// Whether `tag` of `namespace/repository` is chosen.
    pub(crate) fn matches(&self, namespace: &str, repository: &str, tag: &str) -> bool {
        self.every.matches(tag)
            && self
                .own
                .get(namespace)
                .and_then(|repositories| repositories.get(repository))
                .is_none_or(|pattern| pattern.is_match(tag))
    }

    /// Whether every tag is chosen.
    pub(crate) fn is_open(&self) -> bool {
        self.every.is_open() && self.own.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anchored(pattern: &str) -> Option<regex::Regex> {
        Some(regex::Regex::new(&format!("^(?:{pattern})$")).unwrap())
    }

    #[test]
    fn a_name_is_chosen_when_included_and_not_excluded() {
        let filter = NameFilter::new(anchored("api|web.*"), anchored("web-old"));
        assert!(filter.matches("api"));
        assert!(filter.matches("webshop"));
        assert!(!filter.matches("web-old"), "the exclude pattern wins");
        assert!(!filter.matches("my-api"));
        assert!(!filter.is_open());
        assert!(NameFilter::default().matches("anything"));
        assert!(NameFilter::default().is_open());
    }

    #[test]
    fn a_repository_s_own_pattern_applies_to_it_alone_and_with_the_common_filter() {
        let selection = TagSelection::new(
            NameFilter::new(None, anchored("nightly")),
            [(
                "library".to_string(),
                "nginx".to_string(),
                anchored(r"1\.27(\..*)?").unwrap(),
            )],
        );
        assert!(selection.matches("library", "nginx", "1.27"));
        assert!(selection.matches("library", "nginx", "1.27.3"));
        assert!(!selection.matches("library", "nginx", "1.28.0"));
        assert!(!selection.matches("library", "nginx", "latest"));
        assert!(
            selection.matches("library", "redis", "latest"),
            "other repositories"
        );
        assert!(
            selection.matches("acme", "nginx", "1.28.0"),
            "other namespaces"
        );
        assert!(
            !selection.matches("acme", "api", "nightly"),
            "the common filter"
        );
        assert!(!selection.is_open());
        assert!(TagSelection::default().is_open());
    }
}
