//! A simulated Docker registry beside the simulated Hub, enough to check the pull quota: the
//! token service on `/token` (Docker's is `https://auth.docker.io/token`) and the registry
//! under `/registry/v2/` (Docker's is `https://registry-1.docker.io/v2/`). Both are on the
//! hub's own port, under paths the Hub API does not use, so a client is pointed at them with
//! full URLs ([`RunningHub::registry_url`], [`RunningHub::registry_auth_url`]).
//!
//! The token service gives a pull token for `repository:NAME:pull` of
//! `service=registry.docker.io`, anonymously or to an account of the hub given as basic
//! authentication. The registry answers `GET` and `HEAD` of `ratelimitpreview/test:latest`
//! with the token: with `ratelimit-limit: N;w=S`, `ratelimit-remaining: N;w=S`, the same
//! values again under `x-ratelimit-limit` and `x-ratelimit-remaining` (live answers of 2026
//! carry both), and `docker-ratelimit-source` as the caller's [`PullQuota`] says, or without
//! them for an unlimited one. The window is an hour, as live answers of 2026 say, while
//! Docker's documentation still says six hours. A `HEAD` spends nothing; a `GET` is a pull and spends one, as on Docker Hub
//! (and is 429 once none is left). Every request is recorded with the hub's own
//! ([`SimHub::requests`]) and may meet its faults, but the Hub API's request quota
//! ([`SimHub::set_rate_limit`]) does not apply: the registry is another service.
//!
//! It also serves the Hub's own repositories as a registry would, for the mirror checks: the
//! tags list of `NAMESPACE/REPOSITORY` (`GET /v2/<name>/tags/list`, with `n=` and `last=` and a
//! `Link` to the next page, pages capped by [`SimHub::set_registry_page_size`]) and the
//! digest of each of its tags (`HEAD /v2/<name>/manifests/<tag>` with `Docker-Content-Digest`),
//! the Hub's tags as they are unless a test made the registry hold one differently
//! ([`SimHub::set_registry_tag`]). Every one needs a token of the token service; a private
//! repository's only one issued to an account of its namespace. [`SimHub::start_registry`]
//! serves the registry at the root of a port of its own (`/v2/` and `/token`), as a mirror
//! client expects a registry; its requests are recorded under the `/registry` prefix, as if
//! on the hub's port, so that faults match them the same way.
//!
//! Blobs, pushes and catalogs do not exist.

use std::collections::{BTreeMap, HashMap};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::Method;
use rand::RngExt;
use serde_json::json;

use super::reply::{Content, Reply};
use super::routes::HubRequest;
use super::state::State;
use super::{RunningHub, SimHub};

/// The path of the token service.
const TOKEN_PATH: &str = "/token";

/// The path under which the registry's `/v2/` API is served on the hub's port.
pub(super) const PREFIX: &str = "/registry";

/// The service the token service issues tokens for.
const SERVICE: &str = "registry.docker.io";

/// The one repository with a manifest, and its one tag: Docker's pull-limit preview image.
const REPOSITORY: &str = "ratelimitpreview/test";
const REFERENCE: &str = "latest";

/// The pull-limit window live answers of 2026 name (`w=3600`, an hour; the documentation and
/// the tokens' claims still say 21600, six hours).
pub const WINDOW_SECONDS: u64 = 3_600;

/// The digest of the pull-limit preview image.
const PREVIEW_DIGEST: &str =
    "sha256:0000000000000000000000000000000000000000000000000000000000000001";

/// The most tags on a page unless set: distribution's default `tags.maxtags`.
const DEFAULT_PAGE_SIZE: usize = 1000;

/// The lifetime the token service states for its tokens, as Docker Hub's does.
const TOKEN_SECONDS: u64 = 300;

/// What the registry says of one caller's pull quota, and how its checks fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PullQuota {
    /// `ratelimit-limit: {limit};w={window_seconds}` and `ratelimit-remaining:
    /// {remaining};w={window_seconds}`.
    Limited {
        /// Pulls per window.
        limit: u64,
        /// Pulls left; each `GET` of the manifest spends one.
        remaining: u64,
        /// The window's length.
        window_seconds: u64,
    },
    /// No pull-limit headers: a paid plan, or an image of a sponsored program.
    Unlimited,
    /// These header values exactly, for malformed ones; `None` leaves that header out.
    Headers {
        /// The `ratelimit-limit` value.
        limit: Option<String>,
        /// The `ratelimit-remaining` value.
        remaining: Option<String>,
    },
    /// Exactly these headers (lower-case names) and no other pull-limit header: for the
    /// forms seen live, such as only `x-ratelimit-*`.
    Raw(Vec<(&'static str, String)>),
    /// The token service answers with this status instead of a token.
    TokenFails(u16),
    /// The registry answers the manifest with this status.
    ManifestFails(u16),
}

impl PullQuota {
    /// `limit` pulls per [`WINDOW_SECONDS`], `remaining` of them left.
    pub fn limited(limit: u64, remaining: u64) -> Self {
        PullQuota::Limited {
            limit,
            remaining,
            window_seconds: WINDOW_SECONDS,
        }
    }
}

/// How the registry holds one of its tags unlike the Hub, for tests of mirrors that drift.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryTag {
    /// Not there: neither in the tags list nor as a manifest.
    Absent,
    /// There, at this digest.
    At(String),
}

/// A token the token service issued.
#[derive(Debug, Clone)]
struct Grant {
    /// The account it was issued to; `None`: anonymous.
    account: Option<String>,
    /// The repository it may pull.
    repository: String,
}

/// The registry's state: quotas by caller, and the tokens issued.
#[derive(Debug, Clone)]
pub(super) struct Registry {
    anonymous: PullQuota,
    accounts: HashMap<String, PullQuota>,
    tokens: HashMap<String, Grant>,
    /// Tags held unlike the Hub, by `NAMESPACE/REPOSITORY` and tag.
    divergent: HashMap<String, BTreeMap<String, RegistryTag>>,
    /// The most tags on a page of a tags list.
    page_size: usize,
}

impl Default for Registry {
    /// Docker Hub's published limits: 100 pulls per window anonymously, 200 for an
    /// account, none spent.
    fn default() -> Self {
        Registry {
            anonymous: PullQuota::limited(100, 100),
            accounts: HashMap::new(),
            tokens: HashMap::new(),
            divergent: HashMap::new(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }
}

impl Registry {
    /// The quota of `account` (`None`: anonymous callers), for changing it.
    fn quota(&mut self, account: Option<&str>) -> &mut PullQuota {
        match account {
            None => &mut self.anonymous,
            Some(a) => self
                .accounts
                .entry(a.to_string())
                .or_insert_with(|| PullQuota::limited(200, 200)),
        }
    }
}

impl SimHub {
    /// Sets what the registry says of `account`'s pull quota (`None`: anonymous callers).
    pub fn set_pull_quota(&self, account: Option<&str>, quota: PullQuota) {
        *self.lock().registry.quota(account) = quota;
    }

    /// Makes the registry hold `tag` of `name` (`NAMESPACE/REPOSITORY`) as `held` rather
    /// than as the Hub does; a mirror that drifted.
    pub fn set_registry_tag(&self, name: &str, tag: &str, held: RegistryTag) {
        self.lock()
            .registry
            .divergent
            .entry(name.to_string())
            .or_default()
            .insert(tag.to_string(), held);
    }

    /// Makes the registry hold every tag of `name` as the Hub does again.
    pub fn sync_registry(&self, name: &str) {
        self.lock().registry.divergent.remove(name);
    }

    /// Caps the pages of the tags lists at `size` tags (at least 1), as a registry's
    /// `maxtags` does; a larger `n=` gets this many and a `Link` to the rest.
    pub fn set_registry_page_size(&self, size: usize) {
        self.lock().registry.page_size = size.max(1);
    }

    /// What the registry holds now for `account`'s pull quota (`None`: anonymous callers);
    /// a `GET` of the manifest lowers what remains.
    pub fn pull_quota(&self, account: Option<&str>) -> PullQuota {
        self.lock().registry.quota(account).clone()
    }
}

impl RunningHub {
    /// The registry's base URL, `http://127.0.0.1:PORT/registry` (its API is under `/v2/`).
    pub fn registry_url(&self) -> String {
        format!("{}{PREFIX}", self.url())
    }

    /// The token service's URL, `http://127.0.0.1:PORT/token`.
    pub fn registry_auth_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.url())
    }
}

/// The registry's tags of `name` at their digests, and the namespace whose accounts may read
/// it if it is private; `None`: no such repository.
fn held(state: &State, name: &str) -> Option<(BTreeMap<String, String>, Option<String>)> {
    if name == REPOSITORY {
        let tags = BTreeMap::from([(REFERENCE.to_string(), PREVIEW_DIGEST.to_string())]);
        return Some((tags, None));
    }
    let (namespace, repository) = name.split_once('/')?;
    let repo = state.repo(namespace, repository)?;
    let mut tags: BTreeMap<String, String> = repo
        .tags
        .values()
        .filter_map(|t| Some((t.name.clone(), t.digest.clone()?)))
        .collect();
    for (tag, held) in state.registry.divergent.get(name).into_iter().flatten() {
        match held {
            RegistryTag::Absent => tags.remove(tag),
            RegistryTag::At(digest) => tags.insert(tag.clone(), digest.clone()),
        };
    }
    Some((tags, repo.private.then(|| namespace.to_string())))
}

/// Whether `path` belongs to the registry or its token service rather than the Hub API.
pub(super) fn owns(path: &str) -> bool {
    path == TOKEN_PATH || registry_path(path).is_some()
}

/// The path under the registry's prefix, if `path` is there.
fn registry_path(path: &str) -> Option<&str> {
    path.strip_prefix(PREFIX)
        .filter(|rest| rest.is_empty() || rest.starts_with('/'))
}

/// The answer to `req` if it is for the registry or its token service.
pub(super) fn route(state: &mut State, req: &HubRequest) -> Option<Reply> {
    if req.path == TOKEN_PATH {
        return Some(token(state, req));
    }
    let rest = registry_path(&req.path)?;
    Some(registry(state, req, rest))
}

/// `GET /token?service=registry.docker.io&scope=repository:NAME:pull`.
fn token(state: &mut State, req: &HubRequest) -> Reply {
    if req.method != Method::GET {
        return details(405, "method not allowed");
    }
    if req.param("service").as_deref() != Some(SERVICE) {
        return details(400, "unknown service");
    }
    let scope = req.param("scope").unwrap_or_default();
    let Some(repository) = scope
        .strip_prefix("repository:")
        .and_then(|s| s.strip_suffix(":pull"))
        .filter(|r| !r.is_empty())
    else {
        return details(400, "invalid scope");
    };
    let account = match req.authorization.as_deref() {
        None => None,
        Some(header) => match basic(header) {
            Some((user, password))
                if state
                    .accounts
                    .get(&user)
                    .is_some_and(|a| a.secret == password) =>
            {
                Some(user)
            }
            _ => return details(401, "incorrect username or password"),
        },
    };
    if let PullQuota::TokenFails(status) = state.registry.quota(account.as_deref()) {
        return details(*status, "simulated failure of the token service");
    }
    let token = format!(
        "simreg.{:016x}{:016x}",
        state.next_id(),
        state.rng.random::<u64>()
    );
    state.registry.tokens.insert(
        token.clone(),
        Grant {
            account,
            repository: repository.to_string(),
        },
    );
    let issued_at = time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    Reply::json(
        200,
        &json!({ "token": token, "access_token": token, "expires_in": TOKEN_SECONDS, "issued_at": issued_at }),
    )
}

/// The user and password of a `Basic` authorization header.
fn basic(header: &str) -> Option<(String, String)> {
    let (scheme, encoded) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (user, password) = decoded.split_once(':')?;
    Some((user.to_string(), password.to_string()))
}

/// What a request to the registry asks for.
enum Wanted<'a> {
    /// `/v2/`: the base check.
    Base,
    /// A manifest by tag or digest.
    Manifest(String, &'a str),
    /// A page of a tags list.
    Tags(String),
}

/// `/registry/v2/...`: the base check, the tags lists and the manifests.
fn registry(state: &mut State, req: &HubRequest, rest: &str) -> Reply {
    if req.method != Method::GET && req.method != Method::HEAD {
        return errors(405, "UNSUPPORTED", "The operation is unsupported.");
    }
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    let wanted = match segments.as_slice() {
        ["v2"] | ["v2", ""] => Wanted::Base,
        ["v2", name @ .., "manifests", reference] if !name.is_empty() => {
            Wanted::Manifest(name.join("/"), reference)
        }
        ["v2", name @ .., "tags", "list"] if !name.is_empty() => Wanted::Tags(name.join("/")),
        _ => return errors(404, "NOT_FOUND", "not found"),
    };
    let repository = match &wanted {
        Wanted::Base => None,
        Wanted::Manifest(name, _) | Wanted::Tags(name) => Some(name.as_str()),
    };
    let grant = req
        .authorization
        .as_deref()
        .and_then(|h| h.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .and_then(|(_, token)| state.registry.tokens.get(token.trim()))
        .filter(|g| repository.is_none_or(|r| r == g.repository))
        .cloned();
    let Some(grant) = grant else {
        return unauthorized(req, repository.unwrap_or(REPOSITORY));
    };
    let Some(repository) = repository else {
        return Reply::json(200, &json!({}));
    };
    let Some((tags, private_to)) = held(state, repository) else {
        return errors(404, "NAME_UNKNOWN", "repository name not known to registry");
    };
    if let Some(namespace) = private_to {
        let member = grant
            .account
            .as_ref()
            .and_then(|a| state.accounts.get(a))
            .is_some_and(|a| a.namespaces.contains(&namespace));
        if !member {
            return unauthorized(req, repository);
        }
    }
    let reference = match wanted {
        Wanted::Tags(name) => return tags_page(state, req, &name, &tags),
        Wanted::Manifest(_, reference) => reference,
        Wanted::Base => return Reply::json(200, &json!({})),
    };
    let digest = match tags.get(reference) {
        Some(d) => d.clone(),
        None if tags.values().any(|d| d == reference) => reference.to_string(),
        None => return errors(404, "MANIFEST_UNKNOWN", "manifest unknown"),
    };
    let source = match &grant.account {
        None => "127.0.0.1".to_string(),
        Some(a) => {
            let id = state.accounts.get(a).map_or(0, |a| a.id);
            format!("00000000-0000-4000-8000-{id:012x}")
        }
    };
    let pull = req.method == Method::GET;
    let quota = state.registry.quota(grant.account.as_deref());
    let mut headers: Vec<(&'static str, String)> = vec![
        ("docker-distribution-api-version", "registry/2.0".into()),
        ("docker-ratelimit-source", source),
    ];
    match quota {
        PullQuota::TokenFails(_) => return unauthorized(req, REPOSITORY),
        PullQuota::ManifestFails(status) => {
            return errors(*status, "UNKNOWN", "simulated failure of the registry");
        }
        PullQuota::Limited {
            limit,
            remaining,
            window_seconds,
        } => {
            if pull && *remaining == 0 {
                let mut refusal = errors(
                    429,
                    "TOOMANYREQUESTS",
                    "You have reached your pull rate limit.",
                );
                refusal
                    .headers
                    .extend(limit_headers(&limit.to_string(), "0", *window_seconds));
                return refusal;
            }
            if pull {
                *remaining -= 1;
            }
            headers.extend(limit_headers(
                &limit.to_string(),
                &remaining.to_string(),
                *window_seconds,
            ));
        }
        PullQuota::Unlimited => {}
        PullQuota::Headers { limit, remaining } => {
            headers.extend(limit.clone().map(|l| ("ratelimit-limit", l)));
            headers.extend(remaining.clone().map(|r| ("ratelimit-remaining", r)));
        }
        PullQuota::Raw(raw) => headers.extend(raw.iter().cloned()),
    }
    headers.push(("docker-content-digest", digest));
    let content = if pull {
        Content::Json(
            json!({
                "schemaVersion": 2,
                "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "size": 0, "digest": "sha256:0000000000000000000000000000000000000000000000000000000000000002" },
                "layers": [],
            })
            .to_string()
            .into(),
        )
    } else {
        Content::Empty
    };
    Reply {
        status: 200,
        headers,
        content,
    }
}

/// A page of `name`'s tags list: at most `n` (capped at the registry's page size) after
/// `last`, in order, with a `Link` to the next page when tags remain, as distribution pages.
fn tags_page(
    state: &State,
    req: &HubRequest,
    name: &str,
    tags: &BTreeMap<String, String>,
) -> Reply {
    let size = req
        .param("n")
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or(usize::MAX)
        .min(state.registry.page_size);
    let last = req.param("last");
    let mut after = tags
        .keys()
        .filter(|t| last.as_ref().is_none_or(|l| t.as_str() > l.as_str()));
    let page: Vec<&String> = after.by_ref().take(size).collect();
    let mut reply = Reply::json(200, &json!({ "name": name, "tags": page }));
    if let (Some(end), Some(_)) = (page.last(), after.next()) {
        // Relative to where the client asked, as distribution's link is.
        let prefix = if req.registry_root { "" } else { PREFIX };
        reply = reply.with_header(
            "link",
            format!("<{prefix}/v2/{name}/tags/list?n={size}&last={end}>; rel=\"next\""),
        );
    }
    reply
}

/// The pull-limit headers with a window, under both the names the documentation gives and the
/// `x-` names live answers add.
fn limit_headers(limit: &str, remaining: &str, window_seconds: u64) -> [(&'static str, String); 4] {
    let limit = format!("{limit};w={window_seconds}");
    let remaining = format!("{remaining};w={window_seconds}");
    [
        ("ratelimit-limit", limit.clone()),
        ("ratelimit-remaining", remaining.clone()),
        ("x-ratelimit-limit", limit),
        ("x-ratelimit-remaining", remaining),
    ]
}

/// 401 with the challenge that names the token service, as a registry answers.
fn unauthorized(req: &HubRequest, repository: &str) -> Reply {
    errors(401, "UNAUTHORIZED", "authentication required").with_header(
        "www-authenticate",
        format!(
            "Bearer realm=\"http://{}{TOKEN_PATH}\",service=\"{SERVICE}\",scope=\"repository:{repository}:pull\"",
            req.host
        ),
    )
}

/// The registry's error body.
fn errors(status: u16, code: &str, message: &str) -> Reply {
    Reply::json(
        status,
        &json!({ "errors": [{ "code": code, "message": message, "detail": null }] }),
    )
}

/// The token service's error body.
fn details(status: u16, message: &str) -> Reply {
    Reply::json(status, &json!({ "details": message }))
}

#[cfg(test)]
mod tests {
    use super::super::testclient::{Answer, get, send};
    use super::*;

    const SCOPE: &str = "service=registry.docker.io&scope=repository:ratelimitpreview/test:pull";
    const MANIFEST: &str = "/registry/v2/ratelimitpreview/test/manifests/latest";

    async fn token(running: &RunningHub, authorization: Option<&str>) -> Answer {
        get(running.addr(), &format!("/token?{SCOPE}"), authorization).await
    }

    async fn bearer(running: &RunningHub, authorization: Option<&str>) -> String {
        let answer = token(running, authorization).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        format!("Bearer {}", answer.json()["token"].as_str().unwrap())
    }

    async fn head(running: &RunningHub, authorization: &str) -> Answer {
        let addr = running.addr();
        send(
            addr,
            &format!(
                "HEAD {MANIFEST} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {authorization}\r\nConnection: close\r\n\r\n"
            ),
        )
        .await
    }

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{user}:{password}")))
    }

    #[tokio::test]
    async fn a_head_reports_the_quota_and_spends_nothing_a_get_spends_a_pull() {
        let hub = SimHub::new();
        let running = hub.start().await.unwrap();
        let auth = bearer(&running, None).await;
        let answer = head(&running, &auth).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("ratelimit-limit"), Some("100;w=3600"));
        assert_eq!(answer.header("ratelimit-remaining"), Some("100;w=3600"));
        assert_eq!(answer.header("x-ratelimit-limit"), Some("100;w=3600"));
        assert_eq!(answer.header("x-ratelimit-remaining"), Some("100;w=3600"));
        assert_eq!(answer.header("docker-ratelimit-source"), Some("127.0.0.1"));
        assert!(answer.body.is_empty());
        assert_eq!(hub.pull_quota(None), PullQuota::limited(100, 100));
        let pulled = get(running.addr(), MANIFEST, Some(&auth)).await;
        assert_eq!(pulled.status, 200);
        assert_eq!(pulled.header("ratelimit-remaining"), Some("99;w=3600"));
        assert_eq!(hub.pull_quota(None), PullQuota::limited(100, 99));
        hub.set_pull_quota(None, PullQuota::limited(100, 0));
        let refused = get(running.addr(), MANIFEST, Some(&auth)).await;
        assert_eq!(refused.status, 429);
        assert_eq!(
            head(&running, &auth).await.status,
            200,
            "a HEAD still answers"
        );
    }

    #[tokio::test]
    async fn an_account_gets_its_own_quota_and_a_wrong_password_no_token() {
        let hub = SimHub::new();
        hub.add_account("acme-bot", "dckr_pat_x", &["acme"]);
        hub.set_pull_quota(Some("acme-bot"), PullQuota::Unlimited);
        let running = hub.start().await.unwrap();
        let auth = bearer(&running, Some(&basic("acme-bot", "dckr_pat_x"))).await;
        let answer = head(&running, &auth).await;
        assert_eq!(answer.status, 200);
        assert_eq!(answer.header("ratelimit-limit"), None);
        assert_eq!(answer.header("ratelimit-remaining"), None);
        assert!(
            answer
                .header("docker-ratelimit-source")
                .is_some_and(|s| s.starts_with("00000000-"))
        );
        assert_eq!(
            token(&running, Some(&basic("acme-bot", "wrong")))
                .await
                .status,
            401
        );
        assert_eq!(token(&running, Some("Bearer whatever")).await.status, 401);
    }

    #[tokio::test]
    async fn the_manifest_needs_a_token_of_the_token_service() {
        let hub = SimHub::new();
        let running = hub.start().await.unwrap();
        let refused = head(&running, "Bearer made-up").await;
        assert_eq!(refused.status, 401);
        let challenge = refused.header("www-authenticate").unwrap();
        assert!(challenge.contains("/token\""), "{challenge}");
        assert!(challenge.contains("service=\"registry.docker.io\""));
        let anonymous = get(running.addr(), MANIFEST, None).await;
        assert_eq!(anonymous.status, 401);
        let bad_scope = get(running.addr(), "/token?service=registry.docker.io", None).await;
        assert_eq!(bad_scope.status, 400);
    }

    #[tokio::test]
    async fn failures_and_raw_headers_are_served_as_set() {
        let hub = SimHub::new();
        let running = hub.start().await.unwrap();
        hub.set_pull_quota(None, PullQuota::TokenFails(500));
        assert_eq!(token(&running, None).await.status, 500);
        hub.set_pull_quota(None, PullQuota::ManifestFails(503));
        let auth = bearer(&running, None).await;
        assert_eq!(head(&running, &auth).await.status, 503);
        hub.set_pull_quota(
            None,
            PullQuota::Headers {
                limit: Some(";w=21600".into()),
                remaining: None,
            },
        );
        let answer = head(&running, &auth).await;
        assert_eq!(answer.header("ratelimit-limit"), Some(";w=21600"));
        assert_eq!(answer.header("ratelimit-remaining"), None);
        assert_eq!(answer.header("x-ratelimit-limit"), None);
        hub.set_pull_quota(
            None,
            PullQuota::Raw(vec![
                ("x-ratelimit-limit", "100;w=3600".into()),
                ("x-ratelimit-remaining", "7;w=3600".into()),
            ]),
        );
        let answer = head(&running, &auth).await;
        assert_eq!(answer.header("x-ratelimit-remaining"), Some("7;w=3600"));
        assert_eq!(answer.header("ratelimit-limit"), None);
        assert_eq!(answer.header("ratelimit-remaining"), None);
    }

    async fn token_for(running: &RunningHub, name: &str, authorization: Option<&str>) -> String {
        let path = format!("/token?service=registry.docker.io&scope=repository:{name}:pull");
        let answer = get(running.addr(), &path, authorization).await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        format!("Bearer {}", answer.json()["token"].as_str().unwrap())
    }

    async fn head_with(running: &RunningHub, path: &str, auth: &str) -> Answer {
        let addr = running.addr();
        send(
            addr,
            &format!(
                "HEAD {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
            ),
        )
        .await
    }

    fn acme() -> SimHub {
        let hub = SimHub::new();
        hub.add_repo(
            "acme",
            crate::Repo::new("api")
                .with_tag(crate::TagSpec::new("1.0").digest("sha256:aaa"))
                .with_tag(crate::TagSpec::new("2.0").digest("sha256:bbb"))
                .with_tag(crate::TagSpec::new("3.0").digest("sha256:ccc")),
        );
        hub
    }

    #[tokio::test]
    async fn the_hubs_tags_are_listed_in_pages_linked_by_last_as_distribution_does() {
        let hub = acme();
        hub.set_registry_page_size(2);
        let running = hub.start().await.unwrap();
        let auth = token_for(&running, "acme/api", None).await;
        let first = get(
            running.addr(),
            "/registry/v2/acme/api/tags/list?n=1000",
            Some(&auth),
        )
        .await;
        assert_eq!(first.status, 200);
        assert_eq!(first.json()["tags"], json!(["1.0", "2.0"]));
        assert_eq!(
            first.header("link"),
            Some("</registry/v2/acme/api/tags/list?n=2&last=2.0>; rel=\"next\"")
        );
        let second = get(
            running.addr(),
            "/registry/v2/acme/api/tags/list?n=2&last=2.0",
            Some(&auth),
        )
        .await;
        assert_eq!(second.json()["tags"], json!(["3.0"]));
        assert_eq!(second.header("link"), None, "the last page links nowhere");
        let unlisted = get(running.addr(), "/registry/v2/acme/api/tags/list", None).await;
        assert_eq!(unlisted.status, 401, "a tags list needs a token too");
    }

    #[tokio::test]
    async fn a_tag_held_unlike_the_hub_is_listed_and_headed_as_held() {
        let hub = acme();
        hub.set_registry_tag("acme/api", "1.0", RegistryTag::Absent);
        hub.set_registry_tag("acme/api", "2.0", RegistryTag::At("sha256:other".into()));
        let running = hub.start_registry().await.unwrap();
        let auth = token_for(&running, "acme/api", None).await;
        let list = get(running.addr(), "/v2/acme/api/tags/list", Some(&auth)).await;
        assert_eq!(list.json()["tags"], json!(["2.0", "3.0"]));
        let digest = |answer: Answer| answer.header("docker-content-digest").map(str::to_string);
        let at = |tag: &str| format!("/v2/acme/api/manifests/{tag}");
        assert_eq!(head_with(&running, &at("1.0"), &auth).await.status, 404);
        assert_eq!(
            digest(head_with(&running, &at("2.0"), &auth).await).as_deref(),
            Some("sha256:other")
        );
        assert_eq!(
            digest(head_with(&running, &at("3.0"), &auth).await).as_deref(),
            Some("sha256:ccc")
        );
        hub.sync_registry("acme/api");
        assert_eq!(
            digest(head_with(&running, &at("2.0"), &auth).await).as_deref(),
            Some("sha256:bbb")
        );
        // Recorded under the prefix, as on the hub's port.
        assert!(
            hub.requests()
                .iter()
                .any(|r| r.path == "/registry/v2/acme/api/manifests/3.0")
        );
        let wrong_scope = token_for(&running, "acme/other", None).await;
        assert_eq!(
            head_with(&running, &at("3.0"), &wrong_scope).await.status,
            401
        );
    }

    #[tokio::test]
    async fn a_private_repository_is_read_only_with_a_token_of_an_account_of_its_namespace() {
        let hub = SimHub::new();
        hub.add_repo(
            "acme",
            crate::Repo::new("secret")
                .private()
                .with_tag(crate::TagSpec::new("1.0").digest("sha256:aaa")),
        );
        hub.add_account("acme-bot", "dckr_pat_x", &["acme"]);
        hub.add_account("stranger", "pw", &["other"]);
        let running = hub.start().await.unwrap();
        let path = "/registry/v2/acme/secret/manifests/1.0";
        let anonymous = token_for(&running, "acme/secret", None).await;
        assert_eq!(head_with(&running, path, &anonymous).await.status, 401);
        let stranger = token_for(&running, "acme/secret", Some(&basic("stranger", "pw"))).await;
        assert_eq!(head_with(&running, path, &stranger).await.status, 401);
        let member = token_for(
            &running,
            "acme/secret",
            Some(&basic("acme-bot", "dckr_pat_x")),
        )
        .await;
        assert_eq!(head_with(&running, path, &member).await.status, 200);
    }

    #[tokio::test]
    async fn the_registry_is_recorded_but_outside_the_hub_apis_quota() {
        let hub = SimHub::new();
        hub.set_rate_limit(1, std::time::Duration::from_secs(3600));
        let running = hub.start().await.unwrap();
        for _ in 0..3 {
            let auth = bearer(&running, None).await;
            let answer = head(&running, &auth).await;
            assert_eq!(answer.status, 200);
            // The registry's own pull limit, not the Hub API's quota of 1.
            assert_eq!(answer.header("x-ratelimit-limit"), Some("100;w=3600"));
            assert_eq!(answer.header("x-ratelimit-reset"), None);
        }
        let methods: Vec<(String, String)> = hub
            .requests()
            .iter()
            .map(|r| (r.method.clone(), r.path.clone()))
            .collect();
        assert_eq!(methods.len(), 6);
        assert_eq!(methods[1], ("HEAD".to_string(), MANIFEST.to_string()));
        assert!(!owns("/registryx/v2/") && owns("/registry") && owns("/token"));
    }
}
