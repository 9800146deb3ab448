//! Tests of the simulated audit log: the events each mutation records, and the
//! `GET /v2/auditlogs/{account}` route's access rules, order, filters, pages and faults.

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
