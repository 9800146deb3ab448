//! What the simulated Hub holds: namespaces, repositories, tags, accounts and issued tokens,
//! plus the behaviour settings, and the mutations a user pushing to the Hub would cause.
//!
//! Everything here is plain synchronous data behind the handle's mutex; nothing in this file
//! knows about HTTP. Turning builders into stored records (choosing digests, ids and times) is
//! done here so every record gets its randomness from the hub's own seeded generator.
//!
//! Every mutation names its actor and reports itself: an event in the audit log
//! (`audit.rs`) and, for pushes, a webhook notice queued for the handle to send once the lock
//! is released (`webhooks.rs`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, RngExt};
use time::OffsetDateTime;

use super::audit::{AuditAction, AuditEvent, AuditLog};
use super::faults::Fault;
use super::model::{Repo, TagSpec};
use super::ratelimit::Limiter;
use super::registry::Registry;
use super::webhooks::Webhooks;
use super::{RequestRecord, RetryAfterStyle};

/// Token lifetime of `/v2/auth/token` on the real Hub ("expires in 10 minutes").
pub(super) const DEFAULT_TOKEN_TTL: Duration = Duration::from_secs(600);

/// The offset from which the real Hub refuses anonymous listings (since 2026-08: page 11 at
/// `page_size=100` answers 403).
pub(super) const ANONYMOUS_OFFSET_LIMIT: usize = 1_000;

/// Failed logins of one username after which the real Hub locks it (the number is not
/// published; a handful is what users report).
pub(super) const LOGIN_FAILURES_LOCK: u32 = 5;

/// How long a locked username stays locked, from its last attempt (about ten minutes, as
/// Docker staff described it).
pub(super) const LOGIN_LOCK: Duration = Duration::from_secs(600);

/// The media type of a multi-manifest (index) tag.
pub(super) const INDEX_MEDIA_TYPE: &str = "application/vnd.oci.image.index.v1+json";
/// The media type of a tag that is a single image manifest.
pub(super) const IMAGE_MEDIA_TYPE: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// Behaviour settings, changed at any time through the handle.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) retry_after: RetryAfterStyle,
    pub(super) rate_limit_headers: bool,
    pub(super) latency: Duration,
    pub(super) token_ttl: Duration,
    pub(super) auth_token_route: bool,
    /// Whether deleting a tag moves the repository's `last_updated`.
    pub(super) delete_touches_repository: bool,
    /// Whether JSON answers are gzipped for clients that accept it.
    pub(super) compression: bool,
    /// The offset from which anonymous tag listings answer 403; `None`: no limit.
    pub(super) anonymous_offset_limit: Option<usize>,
    /// Failed logins that lock a username, and for how long after its last attempt; `None`:
    /// never locked.
    pub(super) login_lockout: Option<(u32, Duration)>,
}

/// Failed logins of one username, and the lock they caused.
#[derive(Debug, Clone, Default)]
pub(super) struct LoginFailures {
    /// Failed attempts since the last success.
    pub(super) count: u32,
    /// Until when every attempt is refused with 429; each attempt meanwhile extends it.
    pub(super) locked_until: Option<tokio::time::Instant>,
}

/// A change the hub makes to a repository between two page requests of its tag listing.
#[derive(Debug, Clone)]
pub(super) struct PageShift {
    pub(super) namespace: String,
    pub(super) repo: String,
    pub(super) shift: crate::Shift,
    /// How many more times it happens.
    pub(super) times: usize,
    /// Tags pushed by it so far, to name the next one.
    pub(super) pushed: usize,
}

/// An account that can log in.
#[derive(Debug, Clone)]
pub(super) struct Account {
    pub(super) id: u64,
    pub(super) secret: String,
    pub(super) namespaces: BTreeSet<String>,
}

/// A token the hub issued; kept after expiry so its use is recognised as expired.
#[derive(Debug, Clone)]
pub(super) struct Token {
    pub(super) account: String,
    pub(super) expires: tokio::time::Instant,
}

/// One platform (or attestation) manifest of a tag.
#[derive(Debug, Clone)]
pub(super) struct StoredImage {
    pub(super) os: String,
    pub(super) architecture: String,
    pub(super) variant: Option<String>,
    pub(super) digest: String,
    pub(super) size: u64,
    pub(super) last_pulled: Option<OffsetDateTime>,
    pub(super) last_pushed: OffsetDateTime,
}

/// A tag as the hub serves it.
#[derive(Debug, Clone)]
pub(super) struct StoredTag {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) digest: Option<String>,
    pub(super) images: Vec<StoredImage>,
    pub(super) last_pushed: OffsetDateTime,
    pub(super) last_pulled: Option<OffsetDateTime>,
    /// Digits of the fractions of seconds in this tag's times as served, 0 to 9, as the real
    /// Hub's vary; its times are kept to at most microseconds, so that the digits beyond six
    /// are zeros and every form names the same instant.
    pub(super) digits: u8,
}

/// How many fractional digits the times of the tag with `id` are written with: 0 to 9,
/// spread over the tags.
fn digits_of(id: u64) -> u8 {
    (id % 10) as u8
}

/// `t` cut to the precision `digits` fractional digits can write, microseconds at most.
pub(super) fn truncated(t: OffsetDateTime, digits: u8) -> OffsetDateTime {
    let step = 10u32.pow(9 - u32::from(digits.min(6)));
    // Cutting nanoseconds down stays within the same second, so this cannot fail.
    t.replace_nanosecond(t.nanosecond() / step * step)
        .unwrap_or(t)
}

/// A repository as the hub serves it.
#[derive(Debug, Clone)]
pub(super) struct StoredRepo {
    pub(super) id: u64,
    pub(super) name: String,
    pub(super) namespace: String,
    pub(super) private: bool,
    pub(super) description: String,
    pub(super) pulls: u64,
    pub(super) stars: u64,
    pub(super) registered: OffsetDateTime,
    pub(super) last_updated: OffsetDateTime,
    pub(super) tags: BTreeMap<String, StoredTag>,
}

/// Who is asking: decides whether private repositories are visible.
#[derive(Debug, Clone)]
pub(super) enum Access {
    Anonymous,
    Account(BTreeSet<String>),
}

impl Access {
    /// Whether this caller may see `repo`.
    pub(super) fn sees(&self, repo: &StoredRepo) -> bool {
        match self {
            _ if !repo.private => true,
            Access::Anonymous => false,
            Access::Account(namespaces) => namespaces.contains(&repo.namespace),
        }
    }
}

/// The whole state of one simulated Hub.
pub(super) struct State {
    pub(super) namespaces: BTreeMap<String, BTreeMap<String, StoredRepo>>,
    pub(super) accounts: HashMap<String, Account>,
    pub(super) tokens: HashMap<String, Token>,
    /// Failed logins by username (or identifier), known or not.
    pub(super) login_failures: HashMap<String, LoginFailures>,
    pub(super) settings: Settings,
    pub(super) limiter: Option<Limiter>,
    pub(super) faults: Vec<Fault>,
    /// Changes made between two page requests of one tag listing.
    pub(super) shifts: Vec<PageShift>,
    pub(super) requests: Vec<RequestRecord>,
    /// The simulated registry beside the Hub: pull quotas and pull tokens.
    pub(super) registry: Registry,
    /// Every change made, and who is making changes through the handle.
    pub(super) audit: AuditLog,
    /// Where pushes are reported, and what was reported.
    pub(super) webhooks: Webhooks,
    pub(super) rng: StdRng,
    next_id: u64,
}

impl State {
    /// An empty hub drawing its randomness from `rng`.
    pub(super) fn new(rng: StdRng) -> Self {
        State {
            namespaces: BTreeMap::new(),
            accounts: HashMap::new(),
            tokens: HashMap::new(),
            login_failures: HashMap::new(),
            settings: Settings {
                retry_after: RetryAfterStyle::Seconds,
                rate_limit_headers: true,
                latency: Duration::ZERO,
                token_ttl: DEFAULT_TOKEN_TTL,
                auth_token_route: true,
                delete_touches_repository: true,
                compression: true,
                anonymous_offset_limit: Some(ANONYMOUS_OFFSET_LIMIT),
                login_lockout: Some((LOGIN_FAILURES_LOCK, LOGIN_LOCK)),
            },
            limiter: None,
            faults: Vec::new(),
            shifts: Vec::new(),
            requests: Vec::new(),
            registry: Registry::default(),
            audit: AuditLog::default(),
            webhooks: Webhooks::default(),
            rng,
            // Large like real Hub ids, so a client cannot confuse them with page numbers.
            next_id: 40_000_000,
        }
    }

    /// A fresh id for a repository, tag or account.
    pub(super) fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    /// A random `sha256:` digest.
    pub(super) fn digest(&mut self) -> String {
        let mut bytes = [0u8; 32];
        self.rng.fill_bytes(&mut bytes);
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("sha256:{hex}")
    }

    /// Creates (or replaces) a repository from its builder; only a creation is an event (its
    /// tags were pushed before the hub knew them).
    pub(super) fn add_repo(&mut self, namespace: &str, repo: Repo, actor: &str) {
        let now = OffsetDateTime::now_utc();
        if self.repo(namespace, &repo.name).is_none() {
            self.audit.record(AuditEvent::new(
                AuditAction::RepoCreate,
                namespace,
                &repo.name,
                actor,
                now,
                &[],
            ));
        }
        let mut stored = StoredRepo {
            id: self.next_id(),
            name: repo.name.clone(),
            namespace: namespace.to_string(),
            private: repo.private,
            description: repo.description,
            pulls: repo.pulls,
            stars: repo.stars,
            registered: now - repo.registered_ago,
            last_updated: now - repo.registered_ago,
            tags: BTreeMap::new(),
        };
        for spec in repo.tags {
            let tag = self.store_tag(&spec, None, false, now);
            stored.last_updated = stored.last_updated.max(tag.last_pushed);
            stored.tags.insert(tag.name.clone(), tag);
        }
        self.namespaces
            .entry(namespace.to_string())
            .or_default()
            .insert(repo.name, stored);
    }

    /// Turns a builder into a stored tag. `id` keeps the id of a tag being replaced; `push`
    /// means the tag is pushed now rather than some time ago.
    pub(super) fn store_tag(
        &mut self,
        spec: &TagSpec,
        id: Option<u64>,
        push: bool,
        now: OffsetDateTime,
    ) -> StoredTag {
        let id = id.unwrap_or_else(|| self.next_id());
        let digits = digits_of(id);
        let pushed = if push {
            now
        } else {
            let ago = match spec.pushed_ago {
                Some(ago) => ago,
                None => Duration::from_secs(self.rng.random_range(3_600..14 * 86_400)),
            };
            now - ago
        };
        let pushed = truncated(pushed, digits);
        let pulled = spec.pulled.then(|| {
            let since = (now - pushed).whole_seconds().max(0) as u64;
            // Most tags are pulled every day; some old ones were last pulled long ago, which
            // is what stale-tag reports look for.
            let back = if since == 0 {
                0
            } else if since > 30 * 86_400 && self.rng.random_bool(0.4) {
                self.rng.random_range(0..=since)
            } else {
                self.rng.random_range(0..=since.min(86_400))
            };
            truncated(now - Duration::from_secs(back), digits)
        });
        let size = match spec.size {
            Some(size) => size,
            None => self.rng.random_range(20_000_000..300_000_000),
        };
        let mut images = Vec::new();
        for (i, platform) in spec.effective_platforms().into_iter().enumerate() {
            // Platforms differ a little in size; the first one is the tag's full_size.
            let image_size = if i == 0 {
                size
            } else {
                size / 100 * self.rng.random_range(90..112)
            };
            let offset = Duration::from_millis(self.rng.random_range(0..90_000));
            images.push(StoredImage {
                os: platform.os,
                architecture: platform.architecture,
                variant: platform.variant,
                digest: self.digest(),
                size: image_size,
                last_pulled: pulled.map(|p| truncated((p - offset).max(pushed), digits)),
                last_pushed: truncated(pushed - offset, digits),
            });
        }
        for _ in 0..spec.attestations {
            images.push(StoredImage {
                os: "unknown".into(),
                architecture: "unknown".into(),
                variant: None,
                digest: self.digest(),
                size: self.rng.random_range(1_000..40_000),
                last_pulled: None,
                last_pushed: pushed,
            });
        }
        StoredTag {
            id,
            name: spec.name.clone(),
            digest: spec
                .has_digest
                .then(|| spec.digest.clone().unwrap_or_else(|| self.digest())),
            images,
            last_pushed: pushed,
            last_pulled: pulled,
            digits,
        }
    }

    /// A repository, whoever may see it.
    pub(super) fn repo(&self, namespace: &str, repo: &str) -> Option<&StoredRepo> {
        self.namespaces.get(namespace)?.get(repo)
    }

    /// Pushes a tag now, replacing one of the same name (which keeps its id).
    pub(super) fn push_tag(
        &mut self,
        namespace: &str,
        repo: &str,
        spec: &TagSpec,
        actor: &str,
    ) -> bool {
        let Some(existing) = self.repo(namespace, repo) else {
            return false;
        };
        let id = existing.tags.get(&spec.name).map(|t| t.id);
        let now = OffsetDateTime::now_utc();
        let tag = self.store_tag(spec, id, true, now);
        let Some(stored) = self
            .namespaces
            .get_mut(namespace)
            .and_then(|n| n.get_mut(repo))
        else {
            return false;
        };
        stored.last_updated = tag.last_pushed;
        let digest = tag.digest.clone();
        stored.tags.insert(tag.name.clone(), tag);
        self.pushed(namespace, repo, &spec.name, digest.as_deref(), actor, now);
        true
    }

    /// Pushes an existing tag again: same platforms, new digests, pushed now.
    pub(super) fn repush_tag(
        &mut self,
        namespace: &str,
        repo: &str,
        tag: &str,
        actor: &str,
    ) -> Option<String> {
        let now = OffsetDateTime::now_utc();
        let old = self.repo(namespace, repo)?.tags.get(tag)?.clone();
        let mut renewed = old.clone();
        let now = truncated(now, renewed.digits);
        for image in &mut renewed.images {
            image.digest = self.digest();
            image.last_pushed = now;
        }
        // A re-push always yields a manifest, so the tag has a digest afterwards.
        let digest = self.digest();
        renewed.digest = Some(digest.clone());
        renewed.last_pushed = now;
        let stored = self.namespaces.get_mut(namespace)?.get_mut(repo)?;
        stored.last_updated = now;
        stored.tags.insert(old.name, renewed);
        self.pushed(namespace, repo, tag, Some(&digest), actor, now);
        Some(digest)
    }

    /// Reports a push that has happened: an audit event and a webhook notice.
    fn pushed(
        &mut self,
        namespace: &str,
        repo: &str,
        tag: &str,
        digest: Option<&str>,
        actor: &str,
        at: OffsetDateTime,
    ) {
        let data = [("tag", tag), ("digest", digest.unwrap_or_default())];
        self.audit.record(AuditEvent::new(
            AuditAction::TagPush,
            namespace,
            repo,
            actor,
            at,
            &data,
        ));
        if let Some(stored) = self.namespaces.get(namespace).and_then(|n| n.get(repo)) {
            self.webhooks.queue(stored, tag, actor, at);
        }
    }

    /// Deletes a tag; false if there was none.
    pub(super) fn delete_tag(
        &mut self,
        namespace: &str,
        repo: &str,
        tag: &str,
        actor: &str,
    ) -> bool {
        let Some(stored) = self
            .namespaces
            .get_mut(namespace)
            .and_then(|n| n.get_mut(repo))
        else {
            return false;
        };
        let Some(removed) = stored.tags.remove(tag) else {
            return false;
        };
        let now = OffsetDateTime::now_utc();
        if self.settings.delete_touches_repository {
            stored.last_updated = now;
        }
        let data = [
            ("tag", tag),
            ("digest", removed.digest.as_deref().unwrap_or_default()),
        ];
        self.audit.record(AuditEvent::new(
            AuditAction::TagDelete,
            namespace,
            repo,
            actor,
            now,
            &data,
        ));
        true
    }

    /// Deletes a repository with its tags; false if there was none.
    pub(super) fn delete_repo(&mut self, namespace: &str, repo: &str, actor: &str) -> bool {
        let removed = self
            .namespaces
            .get_mut(namespace)
            .is_some_and(|n| n.remove(repo).is_some());
        if removed {
            self.audit.record(AuditEvent::new(
                AuditAction::RepoDelete,
                namespace,
                repo,
                actor,
                OffsetDateTime::now_utc(),
                &[],
            ));
        }
        removed
    }

    /// Makes the change a [`PageShift`] asks for on `namespace/repo`, if one has firings left:
    /// called before a tag page after the first is served.
    pub(super) fn shift_pages(&mut self, namespace: &str, repo: &str) {
        let Some(i) = self
            .shifts
            .iter()
            .position(|s| s.times > 0 && s.namespace == namespace && s.repo == repo)
        else {
            return;
        };
        self.shifts[i].times -= 1;
        let actor = self.audit.actor.clone();
        match self.shifts[i].shift {
            crate::Shift::Push => {
                self.shifts[i].pushed += 1;
                let name = format!("shifted-{}", self.shifts[i].pushed);
                self.push_tag(namespace, repo, &crate::TagSpec::new(&name), &actor);
            }
            crate::Shift::Delete => {
                let newest = self
                    .repo(namespace, repo)
                    .and_then(|r| Self::tags_in_order(r).first().map(|t| t.name.clone()));
                if let Some(name) = newest {
                    self.delete_tag(namespace, repo, &name, &actor);
                }
            }
        }
    }

    /// The tags of a repository in the order the Hub lists them: newest push first, ties by
    /// name, so a push during a walk shifts the pages as on the real Hub.
    pub(super) fn tags_in_order(repo: &StoredRepo) -> Vec<&StoredTag> {
        let mut tags: Vec<&StoredTag> = repo.tags.values().collect();
        tags.sort_by(|a, b| {
            b.last_pushed
                .cmp(&a.last_pushed)
                .then_with(|| a.name.cmp(&b.name))
        });
        tags
    }
}
