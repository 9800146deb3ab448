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
mod tests {
    use std::time::Duration as StdDuration;

    use time::macros::datetime;

    use super::super::testclient::{get, login};
    use super::super::{Repo, SimHub, TagSpec};
    use super::*;

    const LOGS: &str = "/v2/auditlogs/acme";

    /// A hub holding `acme` (and `other`), with `acme-bot` in acme and `outsider` in other.
    fn hub() -> SimHub {
        let hub = SimHub::new();
        hub.add_repo("acme", Repo::new("api").with_tags(2));
        hub.add_repo("other", Repo::new("tool"));
        hub.add_account("acme-bot", "pat", &["acme"]);
        hub.add_account("outsider", "pat2", &["other"]);
        hub
    }

    /// Replaces the hub's log with `n` tag pushes to acme/api, one a minute from
    /// 2026-12-02 13:00:00.250 on, by `jane` and `sam` in turn, tags `t0`, `t1`, ...
    fn minute_by_minute(hub: &SimHub, n: usize) {
        let start = datetime!(2026-12-02 13:00:00.250 UTC);
        let mut state = hub.lock();
        state.audit.events.clear();
        for i in 0..n {
            let actor = if i % 2 == 0 { "jane" } else { "sam" };
            let tag = format!("t{i}");
            let at = start + Duration::minutes(i as i64);
            state.audit.record(AuditEvent::new(
                AuditAction::TagPush,
                "acme",
                "api",
                actor,
                at,
                &[("tag", &tag)],
            ));
        }
    }

    fn tags(answer: &serde_json::Value) -> Vec<String> {
        answer["logs"]
            .as_array()
            .expect("a logs array")
            .iter()
            .map(|e| e["data"]["tag"].as_str().unwrap_or("").to_string())
            .collect()
    }

    #[test]
    fn every_mutation_records_an_event_with_the_actor() {
        let hub = SimHub::new();
        hub.add_repo("acme", Repo::new("api"));
        hub.add_repo("acme", Repo::new("api").with_tags(1));
        hub.set_actor("jane");
        hub.push_tag("acme", "api", TagSpec::new("1.2.4"));
        let pushed = hub.tag_digest("acme", "api", "1.2.4").unwrap();
        hub.set_actor("ci-bot");
        let repushed = hub.repush_tag("acme", "api", "1.2.4").unwrap();
        assert!(hub.delete_tag("acme", "api", "1.2.4"));
        assert!(!hub.delete_tag("acme", "api", "1.2.4"), "nothing to delete");
        hub.push_tag("acme", "gone", TagSpec::new("x"));
        assert!(hub.delete_repo("acme", "api"));

        let events = hub.audit_events("acme");
        let summary: Vec<(&str, &str, &str)> = events
            .iter()
            .map(|e| (e.action.as_str(), e.actor.as_str(), e.name.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                ("repo.create", "simhub", "acme/api"),
                ("repo.tag.push", "jane", "acme/api"),
                ("repo.tag.push", "ci-bot", "acme/api"),
                ("repo.tag.delete", "ci-bot", "acme/api"),
                ("repo.delete", "ci-bot", "acme/api"),
            ],
            "a replaced repository, a failed deletion and a push to nothing record nothing"
        );
        let data = |i: usize| -> Vec<(&str, &str)> {
            events[i]
                .data
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect()
        };
        assert!(data(0).is_empty());
        assert_eq!(data(1), [("digest", pushed.as_str()), ("tag", "1.2.4")]);
        assert_eq!(data(2), [("digest", repushed.as_str()), ("tag", "1.2.4")]);
        assert_eq!(data(3), [("digest", repushed.as_str()), ("tag", "1.2.4")]);
        assert_eq!(
            events[1].action_description,
            format!("pushed the tag 1.2.4 with the digest {pushed} to the repository acme/api")
        );
        assert!(events.windows(2).all(|w| w[0].timestamp <= w[1].timestamp));
        assert!(
            events
                .iter()
                .all(|e| e.timestamp.nanosecond() % 1_000_000 == 0)
        );
        assert!(hub.audit_events("other").is_empty());
    }

    #[test]
    fn a_tag_without_digest_is_logged_without_one() {
        let hub = SimHub::new();
        hub.add_repo("acme", Repo::new("api"));
        hub.push_tag("acme", "api", TagSpec::new("old").no_digest());
        let event = hub.audit_events("acme").pop().unwrap();
        assert_eq!(event.data.keys().collect::<Vec<_>>(), ["tag"]);
        assert_eq!(
            event.action_description,
            "pushed the tag old to the repository acme/api"
        );
    }

    #[tokio::test]
    async fn the_route_wants_a_token_of_the_namespace_of_a_known_account() {
        let hub = hub();
        let running = hub.start().await.unwrap();
        let anonymous = get(running.addr(), LOGS, None).await;
        assert_eq!(anonymous.status, 401);
        let forged = get(running.addr(), LOGS, Some("Bearer nope")).await;
        assert_eq!(forged.status, 401);
        let outsider = login(running.addr(), "outsider", "pat2").await;
        assert_eq!(get(running.addr(), LOGS, Some(&outsider)).await.status, 403);
        let bot = login(running.addr(), "acme-bot", "pat").await;
        let unknown = get(running.addr(), "/v2/auditlogs/nobody", Some(&bot)).await;
        assert_eq!(unknown.status, 404);
        for path in [LOGS, "/v2/auditlogs/acme/"] {
            let answer = get(running.addr(), path, Some(&bot)).await;
            assert_eq!(answer.status, 200, "{path}");
            assert_eq!(answer.header("content-type"), Some("application/json"));
            let body = answer.json();
            assert_eq!(
                body.as_object().unwrap().keys().collect::<Vec<_>>(),
                ["logs"],
                "no count or next"
            );
            assert_eq!(body["logs"][0]["action"], "repo.create");
        }
        let statuses: Vec<u16> = hub.requests().iter().map(|r| r.status).collect();
        assert_eq!(statuses, [401, 401, 200, 403, 200, 404, 200, 200]);
    }

    #[tokio::test]
    async fn a_plan_without_audit_logs_answers_403_until_switched_back_on() {
        let hub = hub();
        hub.set_audit_log("acme", false);
        let running = hub.start().await.unwrap();
        let bot = login(running.addr(), "acme-bot", "pat").await;
        let refused = get(running.addr(), LOGS, Some(&bot)).await;
        assert_eq!(refused.status, 403);
        assert_eq!(
            refused.json(),
            serde_json::json!({ "detail": "audit logs are not available on this plan" })
        );
        hub.set_audit_log("acme", true);
        assert_eq!(get(running.addr(), LOGS, Some(&bot)).await.status, 200);
    }

    #[tokio::test]
    async fn events_are_listed_newest_first_in_the_hubs_shape() {
        let hub = hub();
        hub.set_actor("jane");
        hub.push_tag("acme", "api", TagSpec::new("1.2.4"));
        let digest = hub.tag_digest("acme", "api", "1.2.4").unwrap();
        hub.delete_tag("acme", "api", "1.2.4");
        let running = hub.start().await.unwrap();
        let bot = login(running.addr(), "acme-bot", "pat").await;
        let body = get(running.addr(), LOGS, Some(&bot)).await.json();
        let actions: Vec<&str> = body["logs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["action"].as_str().unwrap())
            .collect();
        assert_eq!(actions, ["repo.tag.delete", "repo.tag.push", "repo.create"]);
        let push = &body["logs"][1];
        let recorded = &hub.audit_events("acme")[1];
        assert_eq!(
            push,
            &serde_json::json!({
                "account": "acme",
                "action": "repo.tag.push",
                "name": "acme/api",
                "actor": "jane",
                "data": { "tag": "1.2.4", "digest": digest },
                "timestamp": timestamp(recorded.timestamp),
                "action_description": recorded.action_description,
            })
        );
        let stamp = push["timestamp"].as_str().unwrap();
        assert_eq!(
            (stamp.len(), &stamp[19..20], &stamp[23..]),
            (24, ".", "Z"),
            "milliseconds: {stamp}"
        );
        assert_eq!(
            OffsetDateTime::parse(stamp, &Rfc3339).unwrap(),
            recorded.timestamp
        );
    }

    #[tokio::test]
    async fn from_is_inclusive_to_is_exclusive_and_action_name_and_actor_filter() {
        let hub = hub();
        minute_by_minute(&hub, 6);
        hub.delete_tag("acme", "api", "1.0.0");
        let running = hub.start().await.unwrap();
        let bot = login(running.addr(), "acme-bot", "pat").await;
        let list = |query: &str| {
            let bot = bot.clone();
            let path = format!("{LOGS}?{query}");
            let addr = running.addr();
            async move {
                let answer = get(addr, &path, Some(&bot)).await;
                assert_eq!(answer.status, 200, "{path}: {}", answer.text());
                tags(&answer.json())
            }
        };
        assert_eq!(
            list("from=2026-12-02T13:01:00.250Z&to=2026-12-02T13:04:00.250Z").await,
            ["t3", "t2", "t1"]
        );
        assert_eq!(
            list("from=2026-12-02T14:01:00.250%2B01:00&action=repo.tag.push").await,
            ["t5", "t4", "t3", "t2", "t1"],
            "an offset other than Z, its + percent-encoded"
        );
        assert_eq!(list("action=repo.tag.delete").await, ["1.0.0"]);
        assert_eq!(
            list("actor=sam&to=2026-12-02T13:05:00Z").await,
            ["t3", "t1"]
        );
        assert_eq!(
            list("name=acme/api&action=repo.create").await,
            Vec::<String>::new()
        );
        assert!(list("name=acme/ap").await.is_empty(), "names match exactly");
        let bad = get(
            running.addr(),
            &format!("{LOGS}?from=yesterday"),
            Some(&bot),
        )
        .await;
        assert_eq!(bad.status, 400);
        let unencoded = get(
            running.addr(),
            &format!("{LOGS}?to=2026-12-02T14:00:00+01:00"),
            Some(&bot),
        )
        .await;
        assert_eq!(unencoded.status, 400, "a bare + in a query is a space");
    }

    #[tokio::test]
    async fn pages_are_capped_at_100_and_a_page_past_the_end_is_empty() {
        let hub = hub();
        minute_by_minute(&hub, 130);
        let running = hub.start().await.unwrap();
        let bot = login(running.addr(), "acme-bot", "pat").await;
        let page = |query: &'static str| {
            let bot = bot.clone();
            let addr = running.addr();
            async move {
                tags(
                    &get(addr, &format!("{LOGS}?{query}"), Some(&bot))
                        .await
                        .json(),
                )
            }
        };
        let first = page("page_size=500").await;
        assert_eq!(first.len(), 100);
        assert_eq!((first[0].as_str(), first[99].as_str()), ("t129", "t30"));
        let second = page("page=2&page_size=500").await;
        assert_eq!(second.len(), 30);
        assert_eq!(second[29], "t0");
        assert_eq!(page("").await.len(), 25, "the default page size");
        assert_eq!(page("page=2&page_size=10").await[0], "t119");
        let past = get(
            running.addr(),
            &format!("{LOGS}?page=3&page_size=100"),
            Some(&bot),
        )
        .await;
        assert_eq!(past.status, 200);
        assert_eq!(past.json(), serde_json::json!({ "logs": [] }));
        let zero = get(running.addr(), &format!("{LOGS}?page=0"), Some(&bot)).await;
        assert_eq!(zero.status, 400);
    }

    #[tokio::test]
    async fn the_route_counts_against_the_rate_limit_and_faults_apply() {
        let hub = hub();
        let running = hub.start().await.unwrap();
        let bot = login(running.addr(), "acme-bot", "pat").await;
        hub.add_fault(crate::Fault::new("/v2/auditlogs/", crate::FaultKind::Status(503)).times(1));
        assert_eq!(get(running.addr(), LOGS, Some(&bot)).await.status, 503);
        hub.set_rate_limit(1, StdDuration::from_secs(86_400));
        let ok = get(running.addr(), LOGS, Some(&bot)).await;
        assert_eq!(ok.status, 200);
        assert_eq!(ok.header("x-ratelimit-remaining"), Some("0"));
        assert_eq!(get(running.addr(), LOGS, Some(&bot)).await.status, 429);
    }

    #[test]
    fn the_churn_logs_its_own_actors_and_leaves_the_handles_alone() {
        let hub = SimHub::demo(5);
        let setup = hub.audit_events("acme").len();
        let mut rng = <rand::rngs::StdRng as rand::SeedableRng>::seed_from_u64(9);
        for _ in 0..40 {
            hub.mutate(|state, _| super::super::churn::step(state, &mut rng));
        }
        let churned: Vec<AuditEvent> = ["acme", "library"]
            .iter()
            .flat_map(|ns| hub.audit_events(ns))
            .filter(|e| e.action != AuditAction::RepoCreate)
            .collect();
        assert_eq!(churned.len(), 40, "one event a step");
        assert!(
            setup > 0
                && hub.audit_events("acme")[..setup]
                    .iter()
                    .all(|e| e.action == AuditAction::RepoCreate)
        );
        let actors: BTreeSet<&str> = churned.iter().map(|e| e.actor.as_str()).collect();
        assert!(actors.len() > 1, "{actors:?}");
        assert!(
            actors
                .iter()
                .all(|a| super::super::churn::ACTORS.contains(a))
        );
        hub.push_tag("acme", "api", TagSpec::new("by-hand"));
        assert_eq!(hub.audit_events("acme").pop().unwrap().actor, DEFAULT_ACTOR);
    }
}
