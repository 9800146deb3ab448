//! Made-up but realistic tag data that does not depend on any catalogue: the tags
//! `Repo::with_tags` generates, and small name helpers shared by the demo and the churn.
//!
//! Everything is derived from the repository name (or a caller's seeded generator), so the
//! same call gives the same names, platforms and sizes; only absolute times move, because
//! they are relative to now. Digests and ids are not chosen here but when the hub stores a tag.

use std::collections::HashSet;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use time::OffsetDateTime;

use super::model::TagSpec;

/// Seconds in an hour.
pub(super) const HOUR: u64 = 3_600;
/// Seconds in a day.
pub(super) const DAY: u64 = 86_400;

/// FNV-1a: a stable hash, unlike `DefaultHasher`, so generated data is the same in every build.
pub(super) fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// `n` tags for `repo` named `1.0.0`, `1.0.1`, ... from the `start`-th on; the later the name,
/// the newer the push.
pub(super) fn generated_tags(repo: &str, start: usize, n: usize) -> Vec<TagSpec> {
    let base = fnv1a(repo.as_bytes());
    (0..n)
        .map(|k| {
            let i = start + k;
            let mut rng =
                StdRng::seed_from_u64(base ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let name = format!("{}.{}.{}", 1 + i / 100, (i / 10) % 10, i % 10);
            let mut tag = TagSpec::new(&name).platform("linux", "amd64", None);
            if rng.random_bool(0.5) {
                tag = tag.platform("linux", "arm64", Some("v8"));
            }
            if rng.random_bool(0.25) {
                tag = tag.platform("linux", "arm", Some("v7"));
            }
            if rng.random_bool(0.3) {
                tag = tag.attestation();
            }
            if rng.random_bool(0.1) {
                tag = tag.never_pulled();
            }
            // Three hours apart plus under one hour of jitter: every push time is distinct.
            let ago = (n - k) as u64 * 3 * HOUR + rng.random_range(0..HOUR);
            tag.size(rng.random_range(10_000_000..900_000_000))
                .pushed_ago(Duration::from_secs(ago))
        })
        .collect()
}

/// A fresh `sha-3f2a9c1` name not in `taken`.
pub(super) fn sha_name(rng: &mut StdRng, taken: &mut HashSet<String>) -> String {
    loop {
        let name = format!("sha-{:07x}", rng.random_range(0..0x1000_0000u32));
        if taken.insert(name.clone()) {
            return name;
        }
    }
}

/// The UTC date `ago` seconds before now, as `2026-11-02`.
pub(super) fn date_name(ago: u64) -> String {
    let day = (OffsetDateTime::now_utc() - Duration::from_secs(ago)).date();
    format!(
        "{:04}-{:02}-{:02}",
        day.year(),
        u8::from(day.month()),
        day.day()
    )
}
