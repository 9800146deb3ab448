//! The catalogue of [`SimHub::demo`](super::SimHub::demo): the `acme` company's
//! repositories, the official images of `library` (in `library.rs`), and the demo account.
//!
//! Deterministic for a seed: one generator drives every choice here and the hub's own
//! generator, seeded alike, picks digests. Times are relative to now.
//!
//! Setting the data up logs one `repo.create` audit event per repository (a score of them,
//! all older than any client started afterwards) and no tag pushes: the tags were pushed
//! before the hub knew them.

use std::collections::HashSet;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::SimHub;
use super::data::{DAY, HOUR, date_name, sha_name};
use super::library;
use super::model::{Repo, TagSpec};
use super::state::State;

/// Who created the demo's repositories, in their `repo.create` audit events.
const DEMO_ACTOR: &str = super::audit::DEFAULT_ACTOR;

/// Secret of the demo account `acme-bot`, which sees acme's private repositories.
pub(super) const DEMO_SECRET: &str = "dckr_pat_demo_acme";

/// The demo hub: `library` with ten official-like images and `acme` with company
/// repositories, a few hundred tags in all, and the `acme-bot` account.
pub(super) fn demo(seed: u64) -> SimHub {
    let mut state = State::new(StdRng::seed_from_u64(seed));
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_da7a);
    for repo in library::repos(&mut rng) {
        state.add_repo("library", repo, DEMO_ACTOR);
    }
    for repo in acme_repos(&mut rng) {
        state.add_repo("acme", repo, DEMO_ACTOR);
    }
    let hub = SimHub::from_state(state);
    hub.add_account("acme-bot", DEMO_SECRET, &["acme"]);
    hub
}

/// The acme company's repositories: some private, one with 130 tags, one with none.
fn acme_repos(rng: &mut StdRng) -> Vec<Repo> {
    let mut repos = Vec::new();
    let api = releases(
        Repo::new("api")
            .private()
            .description("Public REST API")
            .pulls(48_210),
        "v1",
        18,
        180,
        rng,
    );
    let api = with_branches(api, 6, 180, rng).with_tag(
        TagSpec::new("v0.9.0")
            .no_digest()
            .never_pulled()
            .size(150_000_000)
            .pushed_ago(Duration::from_secs(350 * DAY)),
    );
    repos.push(api);
    let web = releases(
        Repo::new("web")
            .description("Customer web front end")
            .pulls(20_455)
            .stars(3),
        "v3",
        15,
        60,
        rng,
    );
    repos.push(with_branches(web, 4, 60, rng));
    repos.push(worker(rng));
    repos.push(releases(
        Repo::new("billing")
            .private()
            .description("Invoicing jobs")
            .pulls(7_120),
        "v2",
        10,
        220,
        rng,
    ));
    let auth = releases(
        Repo::new("auth-service")
            .private()
            .description("OAuth2 and sessions")
            .pulls(15_002),
        "v1",
        12,
        90,
        rng,
    );
    repos.push(with_branches(auth, 1, 90, rng));
    repos.push(dated(
        Repo::new("docs")
            .description("Documentation site")
            .pulls(1_310)
            .stars(1),
        8,
        25,
        rng,
    ));
    repos.push(
        Repo::new("legacy-batch")
            .private()
            .description("Retired nightly batch; kept for audits")
            .pulls(88_004),
    );
    repos.push(releases(
        Repo::new("cli")
            .description("acme command-line client")
            .pulls(30_771)
            .stars(12),
        "v0",
        9,
        15,
        rng,
    ));
    repos
}

/// The big one: 100 CI builds, 28 weekly dated builds, `main` and `latest`.
fn worker(rng: &mut StdRng) -> Repo {
    let mut repo = Repo::new("worker")
        .private()
        .description("Background job runner")
        .pulls(310_554);
    let mut shas = HashSet::new();
    for k in 0..100u64 {
        let ago = k * 3 * DAY + rng.random_range(0..DAY);
        repo = repo.with_tag(acme_tag(&sha_name(rng, &mut shas), 450, ago, rng));
    }
    for week in 0..28u64 {
        let ago = week * 7 * DAY + 2 * HOUR + rng.random_range(0..HOUR);
        repo = repo.with_tag(acme_tag(&date_name(ago), 450, ago, rng));
    }
    repo.with_tag(acme_tag("main", 450, HOUR, rng))
        .with_tag(acme_tag("latest", 450, 3 * HOUR, rng))
}

/// `count` release tags `{prefix}.x.y`, oldest first, a release every 2 to 3 weeks, plus
/// `latest` on the newest.
fn releases(mut repo: Repo, prefix: &str, count: usize, megabytes: u64, rng: &mut StdRng) -> Repo {
    let (mut minor, mut patch) = (0, 0);
    let mut ago = (count as u64) * 17 * DAY;
    for k in 0..count {
        repo = repo.with_tag(acme_tag(
            &format!("{prefix}.{minor}.{patch}"),
            megabytes,
            ago,
            rng,
        ));
        if k + 1 == count {
            repo = repo.with_tag(acme_tag("latest", megabytes, ago.saturating_sub(600), rng));
        }
        if rng.random_bool(0.3) {
            minor += 1;
            patch = 0;
        } else {
            patch += 1;
        }
        ago = ago
            .saturating_sub(rng.random_range(14 * DAY..21 * DAY))
            .max(DAY);
    }
    repo
}

/// `main` plus `count` `sha-` CI builds from the last weeks.
fn with_branches(mut repo: Repo, count: usize, megabytes: u64, rng: &mut StdRng) -> Repo {
    let mut shas = HashSet::new();
    repo = repo.with_tag(acme_tag(
        "main",
        megabytes,
        rng.random_range(HOUR..DAY),
        rng,
    ));
    for _ in 0..count {
        let ago = rng.random_range(DAY..30 * DAY);
        repo = repo.with_tag(acme_tag(&sha_name(rng, &mut shas), megabytes, ago, rng));
    }
    repo
}

/// `count` dated builds a month apart, plus `latest`.
fn dated(mut repo: Repo, count: u64, megabytes: u64, rng: &mut StdRng) -> Repo {
    for k in 0..count {
        let ago = k * 30 * DAY + 5 * HOUR;
        repo = repo.with_tag(acme_tag(&date_name(ago), megabytes, ago, rng));
    }
    repo.with_tag(acme_tag("latest", megabytes, 4 * HOUR, rng))
}

fn acme_tag(name: &str, megabytes: u64, ago: u64, rng: &mut StdRng) -> TagSpec {
    let mut tag = TagSpec::new(name).platform("linux", "amd64", None);
    if rng.random_bool(0.4) {
        tag = tag.platform("linux", "arm64", Some("v8"));
    }
    if rng.random_bool(0.3) {
        tag = tag.attestation();
    }
    if rng.random_bool(0.1) {
        tag = tag.never_pulled();
    }
    let bytes = megabytes * 1_000_000 / 100 * rng.random_range(85..116);
    tag.size(bytes.clamp(10_000_000, 900_000_000))
        .pushed_ago(Duration::from_secs(ago))
}
