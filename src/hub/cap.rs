//! Tag listings the Hub cuts short for anonymous readers, and where it does.
//!
//! Since 2026-08 the Hub refuses anonymous requests for tag pages past offset 1,000 (page 11
//! at `page_size=100`) with a 403 (`pagination offset too large for anonymous requests; sign
//! in to page further`). A 403 to a page after the first of an anonymous tag listing is taken
//! for that refusal whatever its words: the listing read up to there stands, capped (see
//! `listing`). This module remembers, for each listing so cut, the offset the Hub refused, so
//! that later reads of it stop before that page instead of asking for it again: a capped
//! repository costs ceil(min(count, 1000) / 100) requests a refresh, not one more. What is
//! remembered lasts as long as the process; a restart asks once more, which is also how a
//! limit the Hub lifts is noticed.
//!
//! It knows nothing of tags or of what a capped listing means for the inventory.

use std::collections::HashMap;
use std::sync::Mutex;

use reqwest::Url;

/// The offsets at which the Hub refused anonymous reads, by the URL of the listing's first
/// page.
#[derive(Debug, Default)]
pub(super) struct Caps {
    refused: Mutex<HashMap<String, u64>>,
}

impl Caps {
    /// The offset from which the Hub refused to go on with the listing whose first page is
    /// `first`, if it ever did.
    pub(super) fn refused_at(&self, first: &Url) -> Option<u64> {
        self.lock().get(first.as_str()).copied()
    }

    /// The Hub refused the page at `offset` of the listing whose first page is `first`.
    pub(super) fn note(&self, first: &Url, offset: u64) {
        self.lock().insert(first.to_string(), offset);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, u64>> {
        // A panic while the map was held leaves it whole: every change is one insert.
        self.refused.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The offset of the first item of the page at `url`: `(page - 1) × page_size`, from its
/// query; `None` when either is missing or not a number (`page` 1 when absent).
pub(super) fn offset(url: &Url) -> Option<u64> {
    let param = |name: &str| {
        url.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.parse::<u64>().ok())
    };
    let page = param("page").unwrap_or(Some(1))?;
    let size = param("page_size")??;
    page.checked_sub(1)?.checked_mul(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn the_offset_is_read_from_the_page_and_its_size() {
        for (link, expected) in [
            ("http://hub/v2/x/tags?page=11&page_size=100", Some(1_000)),
            (
                "http://hub/v2/x/tags?ordering=last_updated&page=2&page_size=1",
                Some(1),
            ),
            ("http://hub/v2/x/tags?page_size=100", Some(0)),
            ("http://hub/v2/x/tags?page=3", None),
            ("http://hub/v2/x/tags?page=0&page_size=100", None),
            ("http://hub/v2/x/tags?page=two&page_size=100", None),
            (
                "http://hub/v2/x/tags?page=18446744073709551615&page_size=100",
                None,
            ),
        ] {
            assert_eq!(offset(&url(link)), expected, "{link}");
        }
    }

    proptest::proptest! {
        /// Any page and page size, in any order among other parameters, give their offset,
        /// or none where it does not fit; any query at all gives no panic.
        #[test]
        fn the_offset_of_any_link_is_its_page_times_its_size_or_none(
            page in proptest::prelude::any::<u64>(),
            size in proptest::prelude::any::<u64>(),
            size_first in proptest::prelude::any::<bool>(),
            query in "[a-z_=&0-9%]{0,40}",
        ) {
            let (a, b) = (format!("page={page}"), format!("page_size={size}"));
            let (first, second) = if size_first { (b, a) } else { (a, b) };
            let link = url(&format!("http://hub/v2/x/tags?ordering=last_updated&{first}&{second}"));
            let expected = page.checked_sub(1).and_then(|p| p.checked_mul(size));
            proptest::prop_assert_eq!(offset(&link), expected);
            let _ = offset(&url(&format!("http://hub/v2/x/tags?{query}")));
        }
    }

    #[test]
    fn a_refusal_is_remembered_for_its_listing_only() {
        let caps = Caps::default();
        let api = url("http://hub/v2/namespaces/acme/repositories/api/tags?page_size=100");
        let web = url("http://hub/v2/namespaces/acme/repositories/web/tags?page_size=100");
        assert_eq!(caps.refused_at(&api), None);
        caps.note(&api, 1_000);
        assert_eq!(caps.refused_at(&api), Some(1_000));
        assert_eq!(caps.refused_at(&web), None);
    }
}
