//! A simulated Docker Hub for the exporter's integration tests, its benchmark and the offline
//! demo. It is test tooling, not part of the exporter: a workspace crate that the exporter uses
//! only as a dev-dependency, so no release build contains it.
//!
//! It behaves like the real Hub wherever a client depends on it: logins on `/v2/auth/token` and `/v2/users/login` with expiring JWTs,
//! repository and tag listings on the current and legacy routes with the Hub's pagination
//! (`page_size` capped at 100, absolute `next` links with their parameters reordered and, for
//! official images, without `library/`, 404 past the last page), tags newest first, private
//! repositories visible only to accounts of their namespace, and a fixed-window request quota
//! with `X-RateLimit-*` headers and 429s. It also does what the live Hub of 2026 does that
//! its documentation does not say, as captures of 2024 to 2026 show:
//! anonymous tag listings stop at offset 1,000 with a 403, repeated failed logins lock the
//! username with 429s, and the data has the real shapes (`repository_type: null`, tags
//! without `digest`, attestation images, `tag_status`, times with 0 to 9 fractional
//! digits). On top of that a test can inject faults (among them the plain-text anti-abuse
//! 429), replay captured answers, add latency, mutate the data while a client walks it, and
//! read back every request received.
//!
//! Every change also leaves the two signals the Hub gives of changes: an event in the
//! namespace's audit log, served on `GET /v2/auditlogs/{account}` (see [`AuditEvent`]), and,
//! for pushes, a webhook `POST` to the URL set with [`SimHub::set_webhook`] (see
//! [`WebhookDelivery`]).
//!
//! Beside the Hub, a registry with its token service answers the pull-limit check (see
//! [`PullQuota`]): tokens, and `HEAD`/`GET` of one manifest with `ratelimit-*` headers.
//!
//! It does not implement the rest of the registry API (blobs, pushes), organisations, OATs,
//! 2FA, webhook settings per repository, or any write route: data changes only through this
//! handle.
//!
//! [`SimHub`] is a cheap-to-clone handle to shared state; build the data with [`Repo`] and
//! [`TagSpec`], then [`SimHub::start`] it on a free port:
//!
//! ```no_run
//! # async fn example() -> std::io::Result<()> {
//! use simhub::{Repo, SimHub, TagSpec};
//! let hub = SimHub::new();
//! hub.add_repo("acme", Repo::new("api").private().with_tags(150));
//! hub.add_repo("acme", Repo::new("web").with_tag(TagSpec::new("1.2.3").platform("linux", "arm64", Some("v8"))));
//! hub.add_account("acme-bot", "dckr_pat_x", &["acme"]);
//! let running = hub.start().await?;
//! println!("{}", running.url());
//! # Ok(()) }
//! ```

mod audit;
mod auth;
mod churn;
mod data;
mod demo;
pub mod exposition;
mod faults;
mod library;
mod model;
mod ratelimit;
mod registry;
mod reply;
mod routes;
mod server;
mod state;
#[cfg(test)]
mod testclient;
#[cfg(test)]
mod tests;
mod truth;
mod webhooks;
mod wire;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use audit::{AuditAction, AuditEvent};
pub use faults::{Fault, FaultKind};
pub use model::{Repo, TagSpec};
pub use registry::{PullQuota, RegistryTag, WINDOW_SECONDS};
pub use truth::{ImageTruth, RepoTruth, TagTruth};
pub use webhooks::WebhookDelivery;

use state::{Account, State};

/// Cheap-to-clone handle to the simulated Hub's shared state (`Arc<Mutex<...>>`; the lock is
/// never held across an `.await`).
#[derive(Clone)]
pub struct SimHub {
    state: Arc<Mutex<State>>,
}

/// One request the hub received, for assertions.
#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// When it arrived.
    pub at: Instant,
    /// `GET`, `POST`, ...
    pub method: String,
    /// The path as sent, still percent-encoded.
    pub path: String,
    /// The raw query, "" if none.
    pub query: String,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// The status answered.
    pub status: u16,
    /// Bytes of the answer's body as sent (compressed, when it was), or as promised by its
    /// headers for an answer cut short.
    pub body_bytes: u64,
    /// Whether the request asked for gzip (`Accept-Encoding`).
    pub accepts_gzip: bool,
}

/// A change the hub makes to a repository while a client walks its tags (see
/// [`SimHub::shift_between_pages`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shift {
    /// Push a new tag, which the Hub lists first: later pages repeat an item of the earlier.
    Push,
    /// Delete the newest tag: later pages skip an item the earlier would have led to.
    Delete,
}

/// How a 429 says when to retry: the real Hub has been seen sending seconds and a Unix time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RetryAfterStyle {
    /// `Retry-After: 17`: seconds until the window ends, rounded up, at least 1.
    #[default]
    Seconds,
    /// `Retry-After: 1746136938`: the window's end as Unix seconds.
    UnixTime,
    /// `Retry-After: Fri, 02 May 2025 10:02:18 GMT`: the window's end as an HTTP date.
    HttpDate,
    /// No `Retry-After`; only `X-RateLimit-Reset` tells.
    Absent,
}

impl Default for SimHub {
    fn default() -> Self {
        SimHub::new()
    }
}

impl SimHub {
    /// An empty hub: no rate limit, token lifetime 600 s, `/v2/auth/token` enabled, no latency.
    pub fn new() -> Self {
        SimHub::from_state(State::new(rand::make_rng::<StdRng>()))
    }

    /// A hub with realistic data, deterministic for a seed (times are relative to now):
    /// `library` with ten official-like images and `acme` with company repositories (some
    /// private, `worker` with 130 tags, `legacy-batch` with none), a few hundred tags in all,
    /// and the account `acme-bot` / `dckr_pat_demo_acme` that sees acme's private ones.
    pub fn demo(seed: u64) -> Self {
        demo::demo(seed)
    }

    fn from_state(state: State) -> Self {
        SimHub {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// The state; a panic elsewhere while holding the lock leaves data that is still usable.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a change on the state with the handle's actor, then sends the webhooks it
    /// queued once the lock is released.
    fn mutate<R>(&self, change: impl FnOnce(&mut State, &str) -> R) -> R {
        let (result, notices) = {
            let mut state = self.lock();
            let actor = state.audit.actor.clone();
            let result = change(&mut state, &actor);
            (result, std::mem::take(&mut state.webhooks.outbox))
        };
        webhooks::send(self, notices);
        result
    }

    /// Creates (or replaces) a repository in `namespace`; a creation is logged as
    /// `repo.create`.
    pub fn add_repo(&self, namespace: &str, repo: Repo) {
        self.mutate(|state, actor| state.add_repo(namespace, repo, actor));
    }

    /// Adds (or replaces) credentials; a token obtained with them sees the private
    /// repositories of `namespaces`.
    pub fn add_account(&self, identifier: &str, secret: &str, namespaces: &[&str]) {
        let mut state = self.lock();
        let id = state.next_id();
        state.accounts.insert(
            identifier.to_string(),
            Account {
                id,
                secret: secret.to_string(),
                namespaces: namespaces.iter().map(|n| n.to_string()).collect(),
            },
        );
    }

    /// Serves on `127.0.0.1` on a free port, in a spawned task that lives as long as the
    /// returned [`RunningHub`].
    pub async fn start(&self) -> std::io::Result<RunningHub> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let hub = self.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = hub.serve(listener).await {
                tracing::warn!(error = %e, "simulated hub stopped");
            }
        });
        Ok(RunningHub { addr, task })
    }

    /// Serves the simulated registry (`/v2/` and its token service, `/token`) at the root
    /// of a loopback port of its own, as a registry is addressed by a mirror client
    /// (`--mirror acme=127.0.0.1:PORT/acme`); the same state as the hub's port.
    pub async fn start_registry(&self) -> std::io::Result<RunningHub> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let hub = self.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = server::serve(hub, listener, true).await {
                tracing::warn!(error = %e, "simulated registry stopped");
            }
        });
        Ok(RunningHub { addr, task })
    }

    /// Serves forever on an already-bound listener; dropping the future closes every
    /// connection.
    pub async fn serve(&self, listener: TcpListener) -> std::io::Result<()> {
        server::serve(self.clone(), listener, false).await
    }

    /// Limits requests to `limit` per fixed `window` (aligned to the Unix epoch); every
    /// request counts, logins too, and those beyond the limit get 429.
    pub fn set_rate_limit(&self, limit: u32, window: Duration) {
        self.lock().limiter = Some(ratelimit::Limiter::new(limit, window));
    }

    /// Whether answers within the quota carry `X-RateLimit-*` headers (default true); 429s
    /// always do. Switching them off forces a client to meet 429s.
    pub fn set_rate_limit_headers(&self, enabled: bool) {
        self.lock().settings.rate_limit_headers = enabled;
    }

    /// How 429s say when to retry.
    pub fn set_retry_after(&self, style: RetryAfterStyle) {
        self.lock().settings.retry_after = style;
    }

    /// Delay added before every answer.
    pub fn set_latency(&self, latency: Duration) {
        self.lock().settings.latency = latency;
    }

    /// Whether deleting a tag moves the repository's `last_updated` (it does by default;
    /// whether the real Hub does is not documented).
    pub fn set_delete_touches_repository(&self, touches: bool) {
        self.lock().settings.delete_touches_repository = touches;
    }

    /// Whether JSON answers are gzipped for clients that ask for it (default true, as web
    /// servers in front of JSON APIs do).
    pub fn set_compression(&self, enabled: bool) {
        self.lock().settings.compression = enabled;
    }

    /// Lifetime of tokens issued from now on.
    pub fn set_token_ttl(&self, ttl: Duration) {
        self.lock().settings.token_ttl = ttl;
    }

    /// `false` makes `POST /v2/auth/token` answer 404, like an old Hub.
    pub fn set_auth_token_route(&self, enabled: bool) {
        self.lock().settings.auth_token_route = enabled;
    }

    /// The offset (`(page - 1) × page_size`) from which anonymous tag listings answer 403
    /// `pagination offset too large for anonymous requests`, as the real Hub's do since
    /// 2026-08 (1,000 by default, so page 11 at `page_size=100` is refused); `None` lets
    /// anonymous listings page on, for tests that need deep anonymous listings.
    pub fn set_anonymous_offset_limit(&self, limit: Option<usize>) {
        self.lock().settings.anonymous_offset_limit = limit;
    }

    /// Locks a username after `failures` failed logins: every login attempt for it (right
    /// or wrong) then answers 429 `too many failed login attempts for username or IP
    /// address`, and each one extends the lock to `lock` from then, as on the real Hub (by
    /// default 5 failures and 10 minutes); `None` never locks.
    pub fn set_login_lockout(&self, lockout: Option<(u32, Duration)>) {
        self.lock().settings.login_lockout = lockout;
    }

    /// Serves `body`, captured from the real Hub, with `status` to every request whose
    /// `path?query` contains `path_contains`, until cleared with the faults; its links to
    /// `https://hub.docker.com` lead to this hub. Replays are tried with the faults, in the
    /// order added.
    pub fn replay(&self, path_contains: &str, status: u16, body: &str) {
        self.add_fault(Fault::new(
            path_contains,
            FaultKind::Captured(status, body.to_string()),
        ));
    }

    /// Injects a fault; faults are tried in the order added, and the first match fires.
    pub fn add_fault(&self, fault: Fault) {
        self.lock().faults.push(fault);
    }

    /// Before serving any tag page after the first of `namespace/repo`, makes `shift`, for
    /// the next `times` such requests: what offset pagination does to a listing read while
    /// the repository changes (an item seen twice, or one never seen).
    pub fn shift_between_pages(&self, namespace: &str, repo: &str, shift: Shift, times: usize) {
        self.lock().shifts.push(state::PageShift {
            namespace: namespace.to_string(),
            repo: repo.to_string(),
            shift,
            times,
            pushed: 0,
        });
    }

    /// Removes every fault.
    pub fn clear_faults(&self) {
        self.lock().faults.clear();
    }

    /// Pushes a tag now: adds it, or replaces the tag of that name (same id, new digests);
    /// updates the repository's `last_updated`, logs `repo.tag.push` and sends the webhook.
    /// Does nothing if the repository is unknown.
    pub fn push_tag(&self, namespace: &str, repo: &str, tag: TagSpec) {
        self.mutate(|state, actor| state.push_tag(namespace, repo, &tag, actor));
    }

    /// Pushes an existing tag again: same platforms, new digests, pushed now; logged and
    /// sent like a push. Returns the new tag digest, or `None` if there is no such tag.
    pub fn repush_tag(&self, namespace: &str, repo: &str, tag: &str) -> Option<String> {
        self.mutate(|state, actor| state.repush_tag(namespace, repo, tag, actor))
    }

    /// Deletes a tag, logged as `repo.tag.delete` (no webhook, as on the Hub); false if there
    /// was none.
    pub fn delete_tag(&self, namespace: &str, repo: &str, tag: &str) -> bool {
        self.mutate(|state, actor| state.delete_tag(namespace, repo, tag, actor))
    }

    /// Deletes a repository and its tags, logged as `repo.delete`; false if there was none.
    pub fn delete_repo(&self, namespace: &str, repo: &str) -> bool {
        self.mutate(|state, actor| state.delete_repo(namespace, repo, actor))
    }

    /// Names who makes the changes done through this handle from now on, in audit events and
    /// webhooks (default `simhub`). The churn names its own actors.
    pub fn set_actor(&self, actor: &str) {
        self.lock().audit.actor = actor.to_string();
    }

    /// Whether `namespace`'s plan has audit logs (by default every namespace's has); without,
    /// `GET /v2/auditlogs/{namespace}` answers 403. Events are recorded either way.
    pub fn set_audit_log(&self, namespace: &str, available: bool) {
        self.lock().audit.set_available(namespace, available);
    }

    /// The audit events of `namespace`, oldest first.
    pub fn audit_events(&self, namespace: &str) -> Vec<AuditEvent> {
        self.lock().audit.events(namespace)
    }

    /// Sends every push from now on (the handle's, the churn's, and page shifts'; not
    /// deletions) to `url`, an `http://` URL, as the Hub's webhook `POST`; `None` stops
    /// sending. Needs a tokio runtime at the time of the push, else nothing is sent.
    pub fn set_webhook(&self, url: Option<&str>) {
        self.lock().webhooks.url = url.map(str::to_string);
    }

    /// The webhook calls whose outcome is known, in the order it became known.
    pub fn webhook_deliveries(&self) -> Vec<WebhookDelivery> {
        self.lock().webhooks.deliveries.clone()
    }

    /// Every `every`, pushes a new tag, re-pushes one or deletes one in a random repository
    /// that has tags (never its last). Runs until the handle is aborted; dropping the handle
    /// does not stop it.
    pub fn start_churn(&self, every: Duration, seed: u64) -> JoinHandle<()> {
        churn::start(self.clone(), every, seed)
    }

    /// Every request received, in arrival order.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.lock().requests.clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.lock().requests.clear();
    }

    /// The repository names of `namespace`, private ones included, sorted.
    pub fn repository_names(&self, namespace: &str) -> Vec<String> {
        self.lock()
            .namespaces
            .get(namespace)
            .map(|repos| repos.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The tag names of a repository, sorted.
    pub fn tag_names(&self, namespace: &str, repo: &str) -> Vec<String> {
        self.lock()
            .repo(namespace, repo)
            .map(|r| r.tags.keys().cloned().collect())
            .unwrap_or_default()
    }

    /// The names of the first `n` tags of a repository in the order the Hub lists them (most
    /// recently pushed first), sorted by name: what a listing cut short after `n` tags holds.
    pub fn newest_tag_names(&self, namespace: &str, repo: &str, n: usize) -> Vec<String> {
        let state = self.lock();
        let mut names: Vec<String> = state
            .repo(namespace, repo)
            .map(|r| {
                State::tags_in_order(r)
                    .into_iter()
                    .take(n)
                    .map(|t| t.name.clone())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }

    /// The digest of a tag (`None` also when the tag's digest is null).
    pub fn tag_digest(&self, namespace: &str, repo: &str, tag: &str) -> Option<String> {
        self.lock()
            .repo(namespace, repo)?
            .tags
            .get(tag)?
            .digest
            .clone()
    }
}

/// A hub serving in a background task; dropping it stops the server and its connections.
pub struct RunningHub {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl RunningHub {
    /// The base URL, `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The address served on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for RunningHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}
