//! Routing and listing: which path and method reach which answer, and pagination exactly as
//! the Hub does it (`page`, `page_size` capped at 100, absolute `next`/`previous` built from
//! the `Host` header, 404 past the last page, 200 with nothing for an unknown namespace).
//!
//! Synchronous and lock-holding: it runs under the hub's mutex with the request already read.
//! Rate limiting, faults, latency and recording wrap it in `server.rs`.

use bytes::Bytes;
use hyper::Method;

use super::reply::{Content, Page, Reply, to_json};
use super::state::{Access, State, StoredRepo};
use super::wire;
use super::{audit, auth};

/// The namespace of the official images.
const LIBRARY: &str = "library";

/// The real Hub's answer to an anonymous page past [`super::state::ANONYMOUS_OFFSET_LIMIT`]
/// (the body as Harbor's log quoted it, 2026-09).
const OFFSET_REFUSAL: &str = r#"{"message":"pagination offset too large for anonymous requests; sign in to page further","errinfo":{}}"#;

/// The Hub's default page size.
const DEFAULT_PAGE_SIZE: usize = 10;
/// The Hub silently caps larger `page_size` values to this.
const MAX_PAGE_SIZE: usize = 100;
/// The `ordering` values the repository listing accepts.
const ORDERINGS: [&str; 6] = [
    "name",
    "-name",
    "last_updated",
    "-last_updated",
    "pull_count",
    "-pull_count",
];

/// A request as the router sees it.
pub(super) struct HubRequest {
    pub(super) method: Method,
    /// The path as sent, still percent-encoded.
    pub(super) path: String,
    /// The raw query, "" if none.
    pub(super) query: String,
    pub(super) authorization: Option<String>,
    /// The `Host` header (or the listening address), for absolute links.
    pub(super) host: String,
    /// The body of a POST; `None` if it could not be read.
    pub(super) body: Option<Bytes>,
    /// Whether the client accepts gzip.
    pub(super) accepts_gzip: bool,
    /// Whether it came to the registry's own port (see [`SimHub::start_registry`]), its
    /// `/v2/` path prefixed with `/registry` since.
    ///
    /// [`SimHub::start_registry`]: super::SimHub::start_registry
    pub(super) registry_root: bool,
}

impl HubRequest {
    /// What faults match against: `path?query`, or the path alone without a query.
    pub(super) fn target(&self) -> String {
        if self.query.is_empty() {
            self.path.clone()
        } else {
            format!("{}?{}", self.path, self.query)
        }
    }

    /// The first value of query parameter `key`, percent-decoded.
    pub(super) fn param(&self, key: &str) -> Option<String> {
        self.query.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(k) == key).then(|| decode(&v.replace('+', " ")))
        })
    }

    /// The absolute URL of page `page` of this listing with `size` items a page; other
    /// query parameters (`name`, `ordering`) are carried forward as the Hub does, all of them
    /// in name order (the Hub's links come back reordered: `?ordering=…&page=2&page_size=1`).
    pub(super) fn page_url(&self, page: usize, size: usize) -> String {
        self.page_url_at(&self.path, page, size)
    }

    /// [`HubRequest::page_url`] on another path: the Hub links the pages of an official
    /// image's tags without `library/`.
    pub(super) fn page_url_at(&self, path: &str, page: usize, size: usize) -> String {
        let mut pairs: Vec<(String, String)> = vec![
            ("page".into(), page.to_string()),
            ("page_size".into(), size.to_string()),
        ];
        for pair in self.query.split('&').filter(|p| !p.is_empty()) {
            let key = decode(pair.split_once('=').map_or(pair, |(k, _)| k));
            if key != "page" && key != "page_size" {
                pairs.push((key, pair.to_string()));
            }
        }
        // Stable: repeated parameters keep their order.
        pairs.sort_by(|a, b| a.0.cmp(&b.0));
        let query: Vec<String> = pairs
            .into_iter()
            .map(|(key, pair)| match key.as_str() {
                "page" | "page_size" => format!("{key}={pair}"),
                _ => pair,
            })
            .collect();
        format!("http://{}{path}?{}", self.host, query.join("&"))
    }

    /// The page asked for, 1 when none is (or one that is not a number).
    pub(super) fn page_number(&self) -> usize {
        self.param("page").and_then(|p| p.parse().ok()).unwrap_or(1)
    }

    /// The effective page size: default 10, capped at 100.
    pub(super) fn page_size(&self) -> usize {
        match self
            .param("page_size")
            .and_then(|s| s.parse::<usize>().ok())
        {
            Some(0) | None => DEFAULT_PAGE_SIZE,
            Some(n) => n.min(MAX_PAGE_SIZE),
        }
    }
}

/// Percent-decodes a path segment or query component; invalid escapes stay as they are.
fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((h * 16 + l) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The answer to `req` from the hub's current state.
pub(super) fn route(state: &mut State, req: &HubRequest) -> Reply {
    if let Some(reply) = super::registry::route(state, req) {
        return reply;
    }
    let segments: Vec<String> = req.path.split('/').skip(1).map(decode).collect();
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    match s.as_slice() {
        ["v2", "auth", "token"] if state.settings.auth_token_route => {
            post_only(req, || auth::token_route(state, req.body.as_ref()))
        }
        ["v2", "users", "login"] | ["v2", "users", "login", ""] => {
            post_only(req, || auth::login_route(state, req.body.as_ref()))
        }
        ["v2", "namespaces", ns, "repositories"] | ["v2", "namespaces", ns, "repositories", ""]
            if !ns.is_empty() =>
        {
            get_only(state, req, |state, access| {
                list_repositories(state, req, access, ns)
            })
        }
        ["v2", "namespaces", ns, "repositories", repo]
        | ["v2", "namespaces", ns, "repositories", repo, ""]
            if !ns.is_empty() && !repo.is_empty() =>
        {
            get_only(state, req, |state, access| {
                get_repository(state, access, ns, repo)
            })
        }
        ["v2", "namespaces", ns, "repositories", repo, "tags"]
        | ["v2", "namespaces", ns, "repositories", repo, "tags", ""]
            if !ns.is_empty() && !repo.is_empty() =>
        {
            tags(state, req, ns, repo)
        }
        ["v2", "auditlogs", account] | ["v2", "auditlogs", account, ""] if !account.is_empty() => {
            get_only(state, req, |state, access| {
                audit::route(state, req, access, account)
            })
        }
        // An official image's tags without `library/`, as the Hub links their pages.
        ["v2", "repositories", repo, "tags"] | ["v2", "repositories", repo, "tags", ""]
            if state.repo(LIBRARY, repo).is_some() =>
        {
            tags(state, req, LIBRARY, repo)
        }
        // The legacy routes want their trailing slash; the Hub redirects the bare form, but
        // for the tags, whose bare form its own `next` links use (a 2026 capture).
        ["v2", "repositories", ns, ""] if !ns.is_empty() => {
            get_only(state, req, |state, access| {
                list_repositories(state, req, access, ns)
            })
        }
        ["v2", "repositories", ns, repo, ""] if !ns.is_empty() && !repo.is_empty() => {
            get_only(state, req, |state, access| {
                get_repository(state, access, ns, repo)
            })
        }
        ["v2", "repositories", ns, repo, "tags"] | ["v2", "repositories", ns, repo, "tags", ""]
            if !ns.is_empty() && !repo.is_empty() =>
        {
            tags(state, req, ns, repo)
        }
        ["v2", "repositories", ns] if !ns.is_empty() => redirect(req),
        ["v2", "repositories", ns, repo] if !ns.is_empty() && !repo.is_empty() => redirect(req),
        _ => Reply::detail(404, "Not found"),
    }
}

/// 301 to the same path with the trailing slash, as the Hub answers a bare legacy path.
fn redirect(req: &HubRequest) -> Reply {
    let query = if req.query.is_empty() {
        String::new()
    } else {
        format!("?{}", req.query)
    };
    Reply {
        status: 301,
        headers: vec![(
            "location",
            format!("http://{}{}/{query}", req.host, req.path),
        )],
        content: Content::Empty,
    }
}

fn post_only(req: &HubRequest, answer: impl FnOnce() -> Reply) -> Reply {
    if req.method == Method::POST {
        answer()
    } else {
        not_allowed(&req.method, "POST")
    }
}

/// Checks the method and the token, then answers.
fn get_only(
    state: &mut State,
    req: &HubRequest,
    answer: impl FnOnce(&State, &Access) -> Reply,
) -> Reply {
    if req.method != Method::GET && req.method != Method::HEAD {
        return not_allowed(&req.method, "GET, HEAD");
    }
    match auth::access(state, req.authorization.as_deref()) {
        Ok(access) => answer(state, &access),
        Err(refusal) => refusal,
    }
}

fn not_allowed(method: &Method, allow: &str) -> Reply {
    Reply::detail(405, &format!("Method \"{method}\" not allowed."))
        .with_header("allow", allow.to_string())
}

fn object_not_found() -> Reply {
    Reply::json(404, &serde_json::json!({ "message": "object not found" }))
}

fn list_repositories(state: &State, req: &HubRequest, access: &Access, ns: &str) -> Reply {
    let filter = req.param("name").unwrap_or_default().to_lowercase();
    let mut repos: Vec<&StoredRepo> = state
        .namespaces
        .get(ns)
        .map(|repos| {
            repos
                .values()
                .filter(|r| access.sees(r) && r.name.to_lowercase().contains(&filter))
                .collect()
        })
        .unwrap_or_default();
    let ordering = req.param("ordering").unwrap_or_else(|| "name".into());
    if !ORDERINGS.contains(&ordering.as_str()) {
        return Reply::json(
            400,
            &serde_json::json!({ "fields": { "ordering": [format!("Select a valid choice. {ordering} is not one of the available choices.")] }, "text": "Invalid ordering value" }),
        );
    }
    match ordering.trim_start_matches('-') {
        "last_updated" => repos.sort_by(|a, b| {
            a.last_updated
                .cmp(&b.last_updated)
                .then(a.name.cmp(&b.name))
        }),
        "pull_count" => repos.sort_by(|a, b| a.pulls.cmp(&b.pulls).then(a.name.cmp(&b.name))),
        _ => {}
    }
    if ordering.starts_with('-') {
        repos.reverse();
    }
    paginate(req, None, &repos, |page| {
        to_json(&page.iter().map(|r| wire::repository(r)).collect::<Vec<_>>())
    })
}

fn get_repository(state: &State, access: &Access, ns: &str, repo: &str) -> Reply {
    match state.repo(ns, repo).filter(|r| access.sees(r)) {
        Some(r) => Reply::json(200, &wire::repository(r)),
        None => object_not_found(),
    }
}

/// A tag listing on any of its routes: a page after the first may first change the
/// repository (see `SimHub::shift_between_pages`).
fn tags(state: &mut State, req: &HubRequest, ns: &str, repo: &str) -> Reply {
    if req.param("page").is_some_and(|p| p != "1") {
        state.shift_pages(ns, repo);
    }
    get_only(state, req, |state, access| {
        list_tags(state, req, access, ns, repo)
    })
}

fn list_tags(state: &State, req: &HubRequest, access: &Access, ns: &str, repo: &str) -> Reply {
    let Some(repo) = state.repo(ns, repo).filter(|r| access.sees(r)) else {
        return object_not_found();
    };
    if let (Access::Anonymous, Some(limit)) = (access, state.settings.anonymous_offset_limit)
        && offset(req).is_some_and(|o| o >= limit)
    {
        return Reply::json_text(403, OFFSET_REFUSAL);
    }
    let filter = req.param("name").unwrap_or_default();
    let tags: Vec<_> = State::tags_in_order(repo)
        .into_iter()
        .filter(|t| t.name.contains(&filter))
        .collect();
    // The Hub links the pages of an official image's tags on its legacy route, without
    // `library/` (`/v2/repositories/ubuntu/tags/?page=2&page_size=1` in a 2024 capture);
    // captures show only the legacy route, whose links the current one is assumed to share.
    let links = (ns == LIBRARY).then(|| format!("/v2/repositories/{}/tags/", repo.name));
    paginate(req, links.as_deref(), &tags, |page| {
        to_json(&page.iter().map(|t| wire::tag(repo, t)).collect::<Vec<_>>())
    })
}

/// The page asked for: 1 when none is, `None` when it is not a number from 1.
fn requested_page(req: &HubRequest) -> Option<usize> {
    match req.param("page") {
        None => Some(1),
        Some(p) => p.parse::<usize>().ok().filter(|p| *p >= 1),
    }
}

/// The offset of the first item of the page asked for, `None` for a page that is not a
/// number.
fn offset(req: &HubRequest) -> Option<usize> {
    (requested_page(req)? - 1).checked_mul(req.page_size())
}

/// The requested page of `items`, rendered by `render`, its links on `links` (the path
/// asked for when `None`); 404 past the last page (page 1 of an empty listing is a 200 with
/// no results).
fn paginate<T>(
    req: &HubRequest,
    links: Option<&str>,
    items: &[T],
    render: impl FnOnce(&[T]) -> String,
) -> Reply {
    let size = req.page_size();
    let Some(page) = requested_page(req) else {
        return Reply::detail(404, "Not found");
    };
    let start = match (page - 1).checked_mul(size) {
        Some(start) if start < items.len() || page == 1 => start.min(items.len()),
        _ => return Reply::detail(404, "Not found"),
    };
    let end = (start + size).min(items.len());
    let link = |page| req.page_url_at(links.unwrap_or(&req.path), page, size);
    Reply::page(Page {
        count: items.len(),
        next: (end < items.len()).then(|| link(page + 1)),
        previous: (page > 1).then(|| link(page - 1)),
        results: render(&items[start..end]),
    })
}
