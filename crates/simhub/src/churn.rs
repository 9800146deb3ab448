//! Background churn for demos and soak tests: now and then a new tag is pushed, an existing
//! one re-pushed, or one deleted, in a random repository that has tags.
//!
//! Each step takes the lock once and releases it before sleeping again. The sequence of
//! choices is deterministic for a seed; what it acts on depends on the hub's state then.
//! Every step is made by one of a few made-up users ([`ACTORS`]), named in its audit event and
//! webhook; the actor of the handle's own calls stays as it was.

use std::collections::HashSet;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{RngExt, SeedableRng};
use tokio::task::JoinHandle;
use tracing::debug;

use super::SimHub;
use super::data::sha_name;
use super::model::TagSpec;
use super::state::State;

/// The shortest pause between steps, so a zero interval cannot spin.
const MIN_EVERY: Duration = Duration::from_millis(1);

/// Who makes the churn's changes: two people and a CI account, as in a small team.
pub(super) const ACTORS: [&str; 3] = ["jane", "ci-bot", "sam"];

/// Spawns the churn task; it runs until aborted.
pub(super) fn start(hub: SimHub, every: Duration, seed: u64) -> JoinHandle<()> {
    let every = every.max(MIN_EVERY);
    tokio::spawn(async move {
        let mut rng = StdRng::seed_from_u64(seed);
        loop {
            tokio::time::sleep(every).await;
            hub.mutate(|state, _| step(state, &mut rng));
        }
    })
}

/// One change: 45 % a new tag, 35 % a re-push, 20 % a deletion (never the last tag).
pub(super) fn step(state: &mut State, rng: &mut StdRng) {
    let candidates: Vec<(String, String)> = state
        .namespaces
        .iter()
        .flat_map(|(ns, repos)| {
            repos
                .values()
                .filter(|r| !r.tags.is_empty())
                .map(move |r| (ns.clone(), r.name.clone()))
        })
        .collect();
    let Some((ns, repo)) = candidates.choose(rng).cloned() else {
        return;
    };
    let Some(stored) = state.repo(&ns, &repo) else {
        return;
    };
    let newest = State::tags_in_order(stored)[0].clone();
    let names: Vec<String> = stored.tags.keys().cloned().collect();
    let roll = rng.random_range(0..100);
    let chosen = names.choose(rng).cloned().unwrap_or_default();
    // `ACTORS` is not empty, so `choose` always picks one.
    let actor = ACTORS.choose(rng).copied().unwrap_or(ACTORS[0]);
    if roll < 45 || names.len() < 2 {
        let name = new_name(&names, rng);
        let mut spec = TagSpec::new(&name);
        for image in &newest.images {
            spec = match image.os.as_str() {
                "unknown" => spec.attestation(),
                os => spec.platform(os, &image.architecture, image.variant.as_deref()),
            };
        }
        let size = newest.images.first().map_or(50_000_000, |i| i.size);
        spec = spec.size(size / 100 * rng.random_range(95..106));
        state.push_tag(&ns, &repo, &spec, actor);
        debug!(namespace = %ns, repository = %repo, tag = %name, actor, "simulated hub: pushed a new tag");
    } else if roll < 80 {
        state.repush_tag(&ns, &repo, &chosen, actor);
        debug!(namespace = %ns, repository = %repo, tag = %chosen, actor, "simulated hub: re-pushed a tag");
    } else {
        state.delete_tag(&ns, &repo, &chosen, actor);
        debug!(namespace = %ns, repository = %repo, tag = %chosen, actor, "simulated hub: deleted a tag");
    }
}

/// The next patch release after the highest `x.y.z` (with or without a `v`), or a fresh
/// `sha-` build name when the repository has no such tags.
fn new_name(names: &[String], rng: &mut StdRng) -> String {
    let version = |n: &String| -> Option<(String, [u64; 3])> {
        let (prefix, rest) = match n.strip_prefix('v') {
            Some(rest) => ("v", rest),
            None => ("", n.as_str()),
        };
        let parts: Vec<u64> = rest
            .split('.')
            .map(|p| p.parse().ok())
            .collect::<Option<_>>()?;
        let [a, b, c] = parts[..] else { return None };
        Some((prefix.to_string(), [a, b, c]))
    };
    let mut taken: HashSet<String> = names.iter().cloned().collect();
    match names.iter().filter_map(version).max_by_key(|(_, v)| *v) {
        Some((prefix, [a, b, mut c])) => loop {
            c += 1;
            let name = format!("{prefix}{a}.{b}.{c}");
            if !taken.contains(&name) {
                return name;
            }
        },
        None => sha_name(rng, &mut taken),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_name_bumps_the_highest_patch_release() {
        let mut rng = StdRng::seed_from_u64(1);
        let names = ["v1.2.3", "v1.10.0", "latest"].map(String::from);
        assert_eq!(new_name(&names, &mut rng), "v1.10.1");
        let names = ["main".to_string()];
        assert!(new_name(&names, &mut rng).starts_with("sha-"));
    }

    #[test]
    fn churn_keeps_every_repository_with_at_least_one_tag() {
        let hub = SimHub::new();
        hub.add_repo("acme", crate::Repo::new("api").with_tags(2));
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..200 {
            step(&mut hub.lock(), &mut rng);
        }
        assert!(!hub.tag_names("acme", "api").is_empty());
    }
}
