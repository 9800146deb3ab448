//! The endpoints for people and scripts: the landing page at `/`, a repository's page at
//! `/repositories/<namespace>/<repository>` and the recent changes at `/api/v1/changes`.
//!
//! This module reads the path and the query into the typed values the views take (see
//! `crate::views`), and answers a query it cannot read with 400 and what is wrong. The pages
//! themselves are built by the views from what the refresh published.

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use hyper::header::{
    CONTENT_SECURITY_POLICY as CONTENT_SECURITY_POLICY_HEADER, HeaderValue, REFERRER_POLICY,
    X_CONTENT_TYPE_OPTIONS,
};
use hyper::{Response, StatusCode};

use super::{Chunks, State};
use crate::views::{self, Quotas, html};

/// Path of the recent changes as JSON.
const CHANGES: &str = "/api/v1/changes";
/// Paths of repositories' pages start so.
const REPOSITORIES: &str = "/repositories/";

/// How much of a bad query value an error message quotes, in characters: enough to see what
/// was sent, not enough to echo a long value back.
const QUOTED_CHARS: usize = 100;

/// The pages' content security policy: nothing is loaded, run, framed or submitted; only the
/// page's own inline style sheet applies (the pages have no script and fetch nothing).
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// What the server needs for the landing page beyond the published inventory.
pub(crate) struct About {
    /// The namespaces inventoried.
    pub(crate) namespaces: Vec<String>,
    /// The repositories inventoried on their own, as `namespace/name`.
    pub(crate) repositories: Vec<String>,
    /// `--refresh.interval`.
    pub(crate) refresh_interval: Duration,
    /// The quotas as telemetry last saw them, read for each request of the landing page.
    pub(crate) quotas: Arc<dyn Fn() -> Quotas + Send + Sync>,
    /// The mirror checks' findings as telemetry last saw them, read for each page request.
    pub(crate) mirrors: Arc<dyn Fn() -> Vec<views::Mirror> + Send + Sync>,
}

/// One of these pages.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Page<'a> {
    /// `/`.
    Landing,
    /// `/api/v1/changes`.
    Changes,
    /// `/repositories/` and the rest of the path.
    Repository(&'a str),
}

impl Page<'_> {
    /// The page at `path`, if it is one of these.
    pub(super) fn at(path: &str) -> Option<Page<'_>> {
        match path {
            "/" => Some(Page::Landing),
            CHANGES => Some(Page::Changes),
            _ => path.strip_prefix(REPOSITORIES).map(Page::Repository),
        }
    }
}

/// The answer to a GET of `page` with `query` (the part of the URL after `?`, if any).
pub(super) fn respond(state: &State, page: Page<'_>, query: Option<&str>) -> Response<Chunks> {
    let published = Arc::clone(&state.published.borrow());
    match page {
        Page::Landing => {
            let about = &state.about;
            let mirrors = (about.mirrors)();
            let context = html::Context {
                namespaces: &about.namespaces,
                repositories: &about.repositories,
                refresh_interval: about.refresh_interval,
                metrics_path: &state.telemetry_path,
                quotas: (about.quotas)(),
                mirrors: &mirrors,
            };
            let Some(page) = page_number(query) else {
                return bad_page();
            };
            match html::landing(&published, &context, page) {
                Some(body) => html_page(StatusCode::OK, body),
                None => not_found(),
            }
        }
        Page::Changes => match changes_query(query) {
            Ok(q) => json(StatusCode::OK, views::changes::json(&published.changes, q)),
            Err(e) => json(StatusCode::BAD_REQUEST, views::changes::error(&e)),
        },
        Page::Repository(rest) => {
            let Some((namespace, name)) = repository_path(rest) else {
                return not_found();
            };
            let Some(page) = page_number(query) else {
                return bad_page();
            };
            let mirrors = (state.about.mirrors)();
            let telemetry_path = &state.telemetry_path;
            match html::repository(
                &published,
                &namespace,
                &name,
                page,
                telemetry_path,
                &mirrors,
            ) {
                Some(body) => html_page(StatusCode::OK, body),
                None => not_found(),
            }
        }
    }
}

/// `page` from the query: 1 when absent, `None` when it is not a number from 1.
fn page_number(query: Option<&str>) -> Option<usize> {
    match parameter(query, "page") {
        None => Some(1),
        Some(raw) => raw.parse::<usize>().ok().filter(|n| *n >= 1),
    }
}

fn bad_page() -> Response<Chunks> {
    super::text(
        StatusCode::BAD_REQUEST,
        "page: a page number from 1 is expected\n",
    )
}

/// `since` and `limit` from the query of `/api/v1/changes`; what is wrong with either.
fn changes_query(query: Option<&str>) -> Result<views::changes::Query, String> {
    let mut parsed = views::changes::Query::default();
    if let Some(raw) = parameter(query, "since") {
        let t = time::OffsetDateTime::parse(&raw, &time::format_description::well_known::Rfc3339)
            .map_err(|_| {
            format!(
                "since: {} is not an RFC 3339 time (2026-12-02T15:04:05Z)",
                quoted(&raw)
            )
        })?;
        // Before 1970 every change is after it, as it is after 1970.
        parsed.since = Some(match u64::try_from(t.unix_timestamp()) {
            Ok(secs) => UNIX_EPOCH + Duration::new(secs, t.nanosecond()),
            Err(_) => UNIX_EPOCH,
        });
    }
    if let Some(raw) = parameter(query, "limit") {
        parsed.limit = Some(
            raw.parse::<usize>()
                .map_err(|_| format!("limit: {} is not a whole number from 0", quoted(&raw)))?,
        );
    }
    Ok(parsed)
}

/// At most [`QUOTED_CHARS`] characters of `raw`, quoted with Rust's escapes, and `…` after
/// the quote when there was more.
fn quoted(raw: &str) -> String {
    let shown: String = raw.chars().take(QUOTED_CHARS).collect();
    let more = if raw.chars().nth(QUOTED_CHARS).is_some() {
        "…"
    } else {
        ""
    };
    format!("{shown:?}{more}")
}

/// The first value of `name` in the query, percent-decoded; a value that does not decode to
/// UTF-8 is kept as it came, and fails to parse where it is used.
fn parameter(query: Option<&str>, name: &str) -> Option<String> {
    query?.split('&').find_map(|pair| {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(key).as_deref() == Some(name))
            .then(|| percent_decode(value).unwrap_or_else(|| value.to_string()))
    })
}

/// The namespace and repository of `/repositories/<namespace>/<repository>`, each one
/// percent-decoded segment.
fn repository_path(rest: &str) -> Option<(String, String)> {
    let (namespace, name) = rest.split_once('/')?;
    if namespace.is_empty() || name.is_empty() || name.contains('/') {
        return None;
    }
    Some((percent_decode(namespace)?, percent_decode(name)?))
}

/// `%XX` sequences decoded; `None` when one is malformed or the result is not UTF-8. `+` is
/// kept: in a path it is a plus, and a time's offset (`+01:00`) is often sent unencoded.
fn percent_decode(text: &str) -> Option<String> {
    if !text.contains('%') {
        return Some(text.to_string());
    }
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            // `from_str_radix` alone would take a sign (`%+1`).
            if !hex.iter().all(u8::is_ascii_hexdigit) {
                return None;
            }
            out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn not_found() -> Response<Chunks> {
    html_page(
        StatusCode::NOT_FOUND,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>Not found</title></head>\n<body>\n<p>No such repository or page in the inventory.</p>\n</body>\n</html>\n".to_string(),
    )
}

/// A page, with the headers that keep a browser from reading it as anything else, from
/// loading anything into it, from framing it and from telling other sites where it came from.
/// Headers of the web configuration (`http_server_config.headers`) replace these.
fn html_page(status: StatusCode, body: String) -> Response<Chunks> {
    let mut response = super::typed(status, Bytes::from(body), "text/html; charset=utf-8");
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(
        CONTENT_SECURITY_POLICY_HEADER,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    response
}

/// A JSON answer, which a browser must not read as anything else.
fn json(status: StatusCode, body: Vec<u8>) -> Response<Chunks> {
    let mut response = super::typed(status, Bytes::from(body), "application/json");
    response
        .headers_mut()
        .insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    response
}

#[cfg(test)]
mod properties;

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;

    fn unix(t: SystemTime) -> f64 {
        crate::publication::unix_seconds(t)
    }

    #[test]
    fn pages_by_path() {
        assert_eq!(Page::at("/"), Some(Page::Landing));
        assert_eq!(Page::at("/api/v1/changes"), Some(Page::Changes));
        assert_eq!(Page::at("/repositories/a/b"), Some(Page::Repository("a/b")));
        assert_eq!(Page::at("/api/v1/changes/"), None);
        assert_eq!(Page::at("/index.html"), None);
    }

    #[test]
    fn repository_paths_are_two_decoded_segments() {
        assert_eq!(
            repository_path("acme/api"),
            Some(("acme".into(), "api".into()))
        );
        assert_eq!(
            repository_path("%3Cb%3E/a%2Fb"),
            Some(("<b>".into(), "a/b".into()))
        );
        for bad in [
            "acme",
            "acme/",
            "/api",
            "acme/api/x",
            "acme/%zz",
            "acme/%ff",
        ] {
            assert_eq!(repository_path(bad), None, "{bad}");
        }
    }

    #[test]
    fn changes_queries() {
        let q = changes_query(Some("since=2026-12-02T15:04:05.5Z&limit=3&other=1")).unwrap();
        assert_eq!(q.limit, Some(3));
        assert_eq!(unix(q.since.unwrap()), 1_796_223_845.5);
        let offset = changes_query(Some("since=2026-12-02T16:04:05+01:00")).unwrap();
        assert_eq!(unix(offset.since.unwrap()), 1_796_223_845.0);
        let encoded = changes_query(Some("since=2026-12-02T16%3A04%3A05%2B01%3A00")).unwrap();
        assert_eq!(encoded.since, offset.since);
        assert_eq!(
            changes_query(None).unwrap(),
            views::changes::Query::default()
        );
        assert!(
            changes_query(Some("since=yesterday"))
                .unwrap_err()
                .starts_with("since:")
        );
        assert!(
            changes_query(Some("limit=-1"))
                .unwrap_err()
                .starts_with("limit:")
        );
        assert!(changes_query(Some("limit=")).is_err());
        let old = changes_query(Some("since=1969-12-31T00:00:00Z")).unwrap();
        assert_eq!(old.since, Some(UNIX_EPOCH));
    }

    #[test]
    fn a_bad_value_is_quoted_to_100_characters_at_most() {
        let long = "x".repeat(10_000);
        for name in ["since", "limit"] {
            let e = changes_query(Some(&format!("{name}={long}"))).unwrap_err();
            assert!(e.contains(&format!("\"{}\"…", "x".repeat(100))), "{e}");
            assert!(
                !e.contains(&"x".repeat(101)),
                "{name}: {} characters",
                e.len()
            );
        }
        let exact = changes_query(Some(&format!("limit={}", "y".repeat(100)))).unwrap_err();
        assert!(
            exact.contains(&format!("\"{}\" ", "y".repeat(100))),
            "{exact}"
        );
        // Counted in characters, never cutting one.
        let wide = changes_query(Some(&format!("since={}", "é".repeat(150)))).unwrap_err();
        assert!(
            wide.contains(&format!("\"{}\"…", "é".repeat(100))),
            "{wide}"
        );
    }
}
