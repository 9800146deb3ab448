//! The audit log: what the hub records about every change to a namespace's repositories, and
//! the route `GET /v2/auditlogs/{account}` that lists it the way the Hub's Team and Business
//! plans do (`{"logs": [...]}`, newest first, filtered by time, action, name and actor).
//!
//! Events are recorded by the mutations in `state.rs`, under the hub's lock, with the time of
//! the change truncated to milliseconds: that is the precision the Hub writes, so a client
//! that sends a listed timestamp back as `from` or `to` gets exactly the events it expects.
//! The log is never trimmed (the Hub keeps events for longer than any test runs).
//!
//! Only repository actions exist here; the Hub also logs members, teams and settings, which
//! the simulated Hub does not have. `GET /v2/auditlogs/{account}/actions` is not served.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::Serialize;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use time::{Duration, OffsetDateTime, UtcOffset};

use super::reply::Reply;
use super::routes::HubRequest;
use super::state::{Access, State};

/// The actor of handle calls until [`SimHub::set_actor`](super::SimHub::set_actor) names
/// another.
pub(super) const DEFAULT_ACTOR: &str = "simhub";

/// Events on a page when the request names no `page_size`. The Hub's documentation gives no
/// default for this route; 25 is what its other newer listings have been seen to use.
const DEFAULT_PAGE_SIZE: usize = 25;
/// Larger `page_size` values are silently capped to this, as on the Hub's other listings.
const MAX_PAGE_SIZE: usize = 100;

/// The detail of the 403 for a namespace whose plan has no audit logs.
const NOT_ON_PLAN: &str = "audit logs are not available on this plan";

/// What an [`AuditEvent`] records; [`AuditAction::as_str`] is the Hub's action name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditAction {
    /// `repo.tag.push`: a tag was pushed, new or again.
    TagPush,
    /// `repo.tag.delete`: a tag was deleted.
    TagDelete,
    /// `repo.create`: a repository was created.
    RepoCreate,
    /// `repo.delete`: a repository was deleted with its tags.
    RepoDelete,
}

impl AuditAction {
    /// The action's name on the wire, e.g. `repo.tag.push`.
    pub fn as_str(self) -> &'static str {
        match self {
            AuditAction::TagPush => "repo.tag.push",
            AuditAction::TagDelete => "repo.tag.delete",
            AuditAction::RepoCreate => "repo.create",
            AuditAction::RepoDelete => "repo.delete",
        }
    }
}

impl fmt::Display for AuditAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One entry of a namespace's audit log, as `GET /v2/auditlogs/{account}` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    /// The namespace the change was made in.
    pub account: String,
    /// What was done.
    pub action: AuditAction,
    /// The repository changed, as `namespace/repository`.
    pub name: String,
    /// Who made the change (see [`SimHub::set_actor`](super::SimHub::set_actor)).
    pub actor: String,
    /// Details of the change: `tag` and `digest` for tag actions, nothing for repository ones.
    pub data: BTreeMap<String, String>,
    /// When the change was made, in UTC, truncated to whole milliseconds.
    pub timestamp: OffsetDateTime,
    /// The change in words, e.g. `pushed the tag 1.2.4 to the repository acme/api`.
    pub action_description: String,
}

impl AuditEvent {
    /// The event of `action` on `namespace/repo` at `at`; `data` pairs with an empty value
    /// are left out.
    pub(super) fn new(
        action: AuditAction,
        namespace: &str,
        repo: &str,
        actor: &str,
        at: OffsetDateTime,
        data: &[(&str, &str)],
    ) -> Self {
        let name = format!("{namespace}/{repo}");
        let data: BTreeMap<String, String> = data
            .iter()
            .filter(|(_, value)| !value.is_empty())
            .map(|(key, value)| (key.to_string(), value.to_string()))
            .collect();
        let action_description = describe(action, &name, &data);
        AuditEvent {
            account: namespace.to_string(),
            action,
            name,
            actor: actor.to_string(),
            data,
            timestamp: to_millis(at.to_offset(UtcOffset::UTC)),
            action_description,
        }
    }
}

/// The sentence the Hub puts in `action_description`.
fn describe(action: AuditAction, name: &str, data: &BTreeMap<String, String>) -> String {
    let tag = data.get("tag").map_or("", String::as_str);
    match (action, data.get("digest")) {
        (AuditAction::TagPush, Some(digest)) => {
            format!("pushed the tag {tag} with the digest {digest} to the repository {name}")
        }
        (AuditAction::TagPush, None) => format!("pushed the tag {tag} to the repository {name}"),
        (AuditAction::TagDelete, _) => format!("deleted the tag {tag} from the repository {name}"),
        (AuditAction::RepoCreate, _) => format!("created the repository {name}"),
        (AuditAction::RepoDelete, _) => format!("deleted the repository {name}"),
    }
}

/// `t` without its sub-millisecond part.
fn to_millis(t: OffsetDateTime) -> OffsetDateTime {
    t - Duration::nanoseconds(i64::from(t.nanosecond() % 1_000_000))
}

/// RFC 3339 in UTC with milliseconds, as the audit log writes times:
/// `2026-12-02T13:05:01.123Z`.
fn timestamp(t: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");
    // Formatting a UTC time of years 0..=9999 cannot fail; an empty string stands in otherwise.
    t.to_offset(UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

/// The hub's audit log and who is acting now.
#[derive(Debug, Clone)]
pub(super) struct AuditLog {
    /// Every event of every namespace, in the order recorded.
    events: Vec<AuditEvent>,
    /// Namespaces whose plan has no audit logs.
    unavailable: BTreeSet<String>,
    /// The actor of changes made through the handle.
    pub(super) actor: String,
}

impl Default for AuditLog {
    fn default() -> Self {
        AuditLog {
            events: Vec::new(),
            unavailable: BTreeSet::new(),
            actor: DEFAULT_ACTOR.to_string(),
        }
    }
}

impl AuditLog {
    /// Appends an event.
    pub(super) fn record(&mut self, event: AuditEvent) {
        self.events.push(event);
    }

    /// The events of `namespace`, oldest first.
    pub(super) fn events(&self, namespace: &str) -> Vec<AuditEvent> {
        self.events
            .iter()
            .filter(|e| e.account == namespace)
            .cloned()
            .collect()
    }

    /// Switches the route on or off for `namespace`.
    pub(super) fn set_available(&mut self, namespace: &str, available: bool) {
        if available {
            self.unavailable.remove(namespace);
        } else {
            self.unavailable.insert(namespace.to_string());
        }
    }
}

/// What a request asks of the log: filters and the page.
#[derive(Debug, Default)]
struct Query {
    /// Events at or after this time.
    from: Option<OffsetDateTime>,
    /// Events strictly before this time.
    to: Option<OffsetDateTime>,
    action: Option<String>,
    name: Option<String>,
    actor: Option<String>,
    /// 1-based.
    page: usize,
    page_size: usize,
}

impl Query {
    /// The query of `req`, or the 400 to answer when a parameter cannot be read.
    fn parse(req: &HubRequest) -> Result<Query, Reply> {
        let time = |key: &str| -> Result<Option<OffsetDateTime>, Reply> {
            match req.param(key) {
                None => Ok(None),
                Some(value) => OffsetDateTime::parse(&value, &Rfc3339)
                    .map(Some)
                    .map_err(|_| {
                        Reply::detail(400, &format!("{key} must be an RFC 3339 time: {value}"))
                    }),
            }
        };
        let page = match req.param("page") {
            None => 1,
            Some(p) => match p.parse::<usize>() {
                Ok(p) if p >= 1 => p,
                _ => return Err(Reply::detail(400, "page must be a positive integer")),
            },
        };
        let page_size = match req.param("page_size").and_then(|s| s.parse::<usize>().ok()) {
            Some(0) | None => DEFAULT_PAGE_SIZE,
            Some(n) => n.min(MAX_PAGE_SIZE),
        };
        Ok(Query {
            from: time("from")?,
            to: time("to")?,
            action: req.param("action"),
            name: req.param("name"),
            actor: req.param("actor"),
            page,
            page_size,
        })
    }

    fn matches(&self, event: &AuditEvent) -> bool {
        let same =
            |wanted: &Option<String>, value: &str| wanted.as_deref().is_none_or(|w| w == value);
        self.from.is_none_or(|from| event.timestamp >= from)
            && self.to.is_none_or(|to| event.timestamp < to)
            && same(&self.action, event.action.as_str())
            && same(&self.name, &event.name)
            && same(&self.actor, &event.actor)
    }

    /// The page asked for of the matching events of `account`, newest first; empty past the
    /// end.
    fn select<'a>(&self, events: &'a [AuditEvent], account: &str) -> Vec<&'a AuditEvent> {
        let mut matching: Vec<&AuditEvent> = events
            .iter()
            .rev()
            .filter(|e| e.account == account && self.matches(e))
            .collect();
        // Newest recorded first already; the sort only matters if the clock went back, and
        // being stable it keeps that order among equal times.
        matching.sort_by_key(|e| std::cmp::Reverse(e.timestamp));
        let start = (self.page - 1).saturating_mul(self.page_size);
        matching
            .into_iter()
            .skip(start)
            .take(self.page_size)
            .collect()
    }
}

/// An event as the route writes it.
#[derive(Serialize)]
struct EventJson<'a> {
    account: &'a str,
    action: &'static str,
    name: &'a str,
    actor: &'a str,
    data: &'a BTreeMap<String, String>,
    timestamp: String,
    action_description: &'a str,
}

/// The route's answer: no `count` or `next`, unlike the Hub's other listings.
#[derive(Serialize)]
struct LogsJson<'a> {
    logs: Vec<EventJson<'a>>,
}

/// `GET /v2/auditlogs/{account}` for a caller already known to be `access`: 401 without a
/// token, 404 for a namespace the hub never held a repository in, 403 for a token without
/// that namespace or a plan without audit logs, 400 for an unreadable query.
pub(super) fn route(state: &State, req: &HubRequest, access: &Access, account: &str) -> Reply {
    let Access::Account(namespaces) = access else {
        return Reply::detail(401, "Authentication credentials were not provided.");
    };
    if !state.namespaces.contains_key(account) {
        return Reply::detail(404, "Not found");
    }
    if !namespaces.contains(account) {
        return Reply::detail(403, "You do not have permission to perform this action.");
    }
    if state.audit.unavailable.contains(account) {
        return Reply::detail(403, NOT_ON_PLAN);
    }
    let query = match Query::parse(req) {
        Ok(query) => query,
        Err(refusal) => return refusal,
    };
    let logs = query
        .select(&state.audit.events, account)
        .into_iter()
        .map(|e| EventJson {
            account: &e.account,
            action: e.action.as_str(),
            name: &e.name,
            actor: &e.actor,
            data: &e.data,
            timestamp: timestamp(e.timestamp),
            action_description: &e.action_description,
        })
        .collect();
    Reply::json(200, &LogsJson { logs })
}

#[cfg(test)]
mod tests;
