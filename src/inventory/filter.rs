//! Which names are chosen: an include and an exclude pattern over repository or tag names,
//! both anchored at both ends, as `--filter.*` gives them.

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
}
