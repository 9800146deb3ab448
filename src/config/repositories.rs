//! `--hub.repository NAMESPACE/REPOSITORY[:TAG_REGEX]`: repositories named on their own, and
//! the comma-separated list the environment variable gives them in.

use super::parse_anchored_regex;

/// A repository named with `--hub.repository`.
#[derive(Debug, Clone)]
pub struct WatchedRepository {
    /// Its namespace (`library` for official images).
    pub namespace: String,
    /// Its name within the namespace.
    pub name: String,
    /// Tags with per-tag series and change tracking, anchored; `None`: every tag.
    pub tags: Option<regex::Regex>,
}

/// `NAMESPACE/REPOSITORY[:TAG_REGEX]`, or `REPOSITORY[:TAG_REGEX]` for an official image.
pub(super) fn parse_watched(spec: &str) -> Result<WatchedRepository, String> {
    let spec = spec.trim();
    let (path, tags) = match spec.split_once(':') {
        Some((path, regex)) => (path, Some(parse_anchored_regex(regex)?)),
        None => (spec, None),
    };
    let (namespace, name) = match path.split_once('/') {
        Some((namespace, name)) => (namespace, name),
        None => ("library", path),
    };
    let namespace = if namespace == "_" {
        "library"
    } else {
        namespace
    };
    for part in [namespace, name] {
        if part.is_empty()
            || part.contains('/')
            || part.chars().any(|c| c.is_whitespace() || c.is_control())
            || part == "."
            || part == ".."
            || part.len() > 255
        {
            return Err(format!("{spec:?} is not NAMESPACE/REPOSITORY[:TAG_REGEX]"));
        }
    }
    Ok(WatchedRepository {
        namespace: namespace.to_string(),
        name: name.to_string(),
        tags,
    })
}

/// The items of a comma-separated list; a comma inside brackets or braces (a regular
/// expression's `{1,3}` or `[,;]`) does not separate.
pub(super) fn split_list(list: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let (mut depth, mut start, mut escaped) = (0i32, 0, false);
    for (i, c) in list.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '{' | '[' | '(' => depth += 1,
            '}' | ']' | ')' => depth -= 1,
            ',' if depth <= 0 => {
                items.push(&list[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    items.push(&list[start..]);
    items.into_iter().filter(|i| !i.trim().is_empty()).collect()
}
