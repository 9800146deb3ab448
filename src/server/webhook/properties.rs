//! Webhook bodies as anyone could send them: random bytes, random JSON, and Docker Hub push
//! payloads with random extra fields, nulls and wrong types. Each names its repository or is
//! refused, never panics, and a name is only ever the one the payload gave.

use proptest::prelude::*;
use serde_json::{Map, Value};

use super::pushed_repository;
use crate::inventory::check_name;
use crate::testing::*;

/// A name the endpoint takes: what Docker Hub allows in a namespace or repository.
fn name() -> impl Strategy<Value = String> {
    "[a-z0-9][a-z0-9._-]{0,40}"
}

/// A name made mostly of what a URL path treats specially: dots, slashes, controls, spaces.
fn special_name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![".", "..", "...", "", " ", "a b", "\u{0}", "a\u{85}"])
            .prop_map(String::from),
        prop::collection::vec(
            prop::sample::select(vec!['.', '/', 'a', '-', '\n', '\u{202e}', 'é']),
            0..5
        )
        .prop_map(|chars| chars.into_iter().collect()),
    ]
}

/// A payload's `repository`, with any extra fields, and the names it carries.
fn repository() -> impl Strategy<Value = (Value, String, String)> {
    (
        name(),
        name(),
        prop::collection::btree_map("[a-z_]{1,12}", any_json(), 0..6),
        any::<bool>(),
    )
        .prop_map(|(namespace, repo, extra, full)| {
            let mut object: Map<String, Value> = extra.into_iter().collect();
            object.remove("repo_name");
            object.remove("namespace");
            object.remove("name");
            if full {
                object.insert("repo_name".into(), format!("{namespace}/{repo}").into());
            } else {
                object.insert("namespace".into(), namespace.clone().into());
                object.insert("name".into(), repo.clone().into());
            }
            (Value::Object(object), namespace, repo)
        })
}

proptest! {
    #![proptest_config(cases(512))]

    #[test]
    fn random_bytes_are_refused_or_name_a_repository_without_panicking(
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        if let Ok((namespace, repo)) = pushed_repository(&body) {
            prop_assert!(!namespace.is_empty() && !repo.is_empty());
        }
    }

    #[test]
    fn random_json_names_a_repository_only_when_it_holds_valid_names(value in any_json()) {
        let body = serde_json::to_vec(&value).unwrap();
        if let Ok((namespace, repo)) = pushed_repository(&body) {
            for part in [&namespace, &repo] {
                prop_assert!(!part.is_empty() && part.len() <= 255);
                prop_assert!(!part.contains('/'));
                prop_assert!(!part.chars().any(|c| c.is_whitespace() || c.is_control()));
                prop_assert!(check_name(part).is_ok());
            }
        }
    }

    #[test]
    fn a_push_payload_names_its_repository_whatever_else_it_holds(
        (repository, namespace, repo) in repository(),
        extra in prop::collection::btree_map("[a-z_]{1,12}", any_json(), 0..6),
    ) {
        let mut payload: Map<String, Value> = extra.into_iter().collect();
        payload.insert("repository".into(), repository);
        let body = serde_json::to_vec(&Value::Object(payload)).unwrap();
        prop_assert_eq!(pushed_repository(&body), Ok((namespace, repo)));
    }

    #[test]
    fn a_name_is_taken_exactly_when_the_hub_could_hold_it(
        namespace in special_name(),
        repo in special_name(),
        full in any::<bool>(),
    ) {
        let repository = if full {
            serde_json::json!({"repo_name": format!("{namespace}/{repo}")})
        } else {
            serde_json::json!({"namespace": namespace, "name": repo})
        };
        let body = serde_json::to_vec(&serde_json::json!({"repository": repository})).unwrap();
        let holdable = |n: &str| check_name(n).is_ok() && !n.chars().any(char::is_whitespace);
        prop_assert_eq!(
            pushed_repository(&body).is_ok(),
            holdable(&namespace) && holdable(&repo),
            "{:?} / {:?}", namespace, repo
        );
    }
}
