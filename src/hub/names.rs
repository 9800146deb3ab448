//! Namespace and repository names as data: which names may go into a URL, and how.

use reqwest::Url;

/// Longest name of a namespace or repository; the Hub's own limit is far shorter.
const MAX_NAME_BYTES: usize = 255;

/// Whether `name` can be a namespace or repository name, which goes into a URL path as one
/// segment: not empty, not `.` or `..` (which a URL resolves to another path), no `/`, no
/// control characters (which a URL drops, joining what was around them), at most 255 bytes.
/// The Hub's own grammar is narrower (lowercase letters, digits and `._-`); this refuses only
/// what could make a request go to another name than the one listed.
pub(super) fn check_name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() {
        Err("is empty")
    } else if name == "." || name == ".." {
        Err("is a relative path")
    } else if name.contains('/') {
        Err("holds a /")
    } else if name.chars().any(char::is_control) {
        Err("holds a control character")
    } else if name.len() > MAX_NAME_BYTES {
        Err("is longer than 255 bytes")
    } else {
        Ok(())
    }
}

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
