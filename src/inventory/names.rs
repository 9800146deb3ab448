//! Which namespace and repository names the inventory takes: the names the Hub could hold
//! and a URL carries as exactly one path segment. Every name from outside (a listing, an
//! audit-log event, a webhook) passes this one check before anything is asked of the Hub
//! under it; how a name goes into a URL is the client's business, not this module's.

/// Longest name of a namespace or repository; the Hub's own limit is far shorter.
const MAX_NAME_BYTES: usize = 255;

/// Whether `name` can be a namespace or repository name, which goes into a URL path as one
/// segment: not empty, not `.` or `..` (which a URL resolves to another path), no `/`, no
/// control characters (which a URL drops, joining what was around them), at most 255 bytes.
/// The Hub's own grammar is narrower (lowercase letters, digits and `._-`); this refuses only
/// what could make a request go to another name than the one given.
pub(crate) fn check_name(name: &str) -> Result<(), &'static str> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dot_segments_slashes_controls_and_long_names_are_refused() {
        for bad in ["", ".", "..", "a/b", "a\0b", "a\u{85}b", &"a".repeat(256)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        for good in [
            "api",
            "...",
            ".hidden",
            "a..b",
            "my-repo_1.2",
            &"a".repeat(255),
        ] {
            assert_eq!(check_name(good), Ok(()), "{good:?}");
        }
    }
}
