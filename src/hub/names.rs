//! Namespace and repository names as data: which names may go into a URL, and how.

use reqwest::Url;

/// Whether a name can go into a URL as one segment: the inventory's own check.
pub(super) use crate::inventory::check_name;

/// `base` with `segments` appended to its path, each percent-encoded as one segment; names that
/// could not be one are refused before, by [`check_name`].
pub(super) fn endpoint(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    if let Ok(mut path) = url.path_segments_mut() {
        path.pop_if_empty().extend(segments);
    }
    url
}

#[cfg(test)]
mod properties;
