//! The official images of the demo's `library` namespace: ten familiar names with the tag
//! scheme of the real ones (`1.27.3`, `1.27`, `1`, `latest`, `1.27.3-alpine`, `alpine`,
//! named aliases such as `mainline` or `noble`), many platforms and attestation manifests.

use std::collections::HashSet;
use std::time::Duration;

use rand::RngExt;
use rand::rngs::StdRng;

use super::data::DAY;
use super::model::{Repo, TagSpec};

/// An official image of the demo: versions newest first, flavours, extra named aliases.
struct Official {
    name: &'static str,
    description: &'static str,
    megabytes: u64,
    versions: &'static [&'static str],
    flavors: &'static [&'static str],
    aliases: &'static [(&'static str, usize)],
    /// Whether `1.27.3` is also tagged `1.27` and `1` (not so for Ubuntu's `24.04`).
    prefixes: bool,
    extra_platforms: &'static [(&'static str, Option<&'static str>)],
    pulls: u64,
    stars: u64,
}

const OFFICIAL: &[Official] = &[
    Official {
        name: "nginx",
        description: "Official build of Nginx.",
        megabytes: 70,
        versions: &["1.27.3", "1.27.2", "1.26.2"],
        flavors: &["alpine", "bookworm"],
        aliases: &[("mainline", 0), ("stable", 2)],
        prefixes: true,
        extra_platforms: &[("arm", Some("v7")), ("ppc64le", None), ("s390x", None)],
        pulls: 11_812_441_906,
        stars: 20_512,
    },
    Official {
        name: "redis",
        description: "Redis is the world's fastest data platform.",
        megabytes: 45,
        versions: &["7.4.1", "7.4.0", "7.2.6"],
        flavors: &["alpine", "bookworm"],
        aliases: &[],
        prefixes: true,
        extra_platforms: &[("arm", Some("v7")), ("s390x", None)],
        pulls: 4_071_220_318,
        stars: 12_890,
    },
    Official {
        name: "postgres",
        description: "The PostgreSQL object-relational database system.",
        megabytes: 160,
        versions: &["17.2", "17.1", "16.6", "15.10"],
        flavors: &["alpine", "bookworm"],
        aliases: &[],
        prefixes: true,
        extra_platforms: &[("ppc64le", None), ("s390x", None)],
        pulls: 3_519_006_771,
        stars: 14_008,
    },
    Official {
        name: "alpine",
        description: "A minimal Docker image based on Alpine Linux.",
        megabytes: 10,
        versions: &["3.21.0", "3.20.3", "3.19.4", "3.18.9"],
        flavors: &[],
        aliases: &[("edge", 0)],
        prefixes: true,
        extra_platforms: &[
            ("arm", Some("v7")),
            ("ppc64le", None),
            ("s390x", None),
            ("riscv64", None),
        ],
        pulls: 9_433_018_112,
        stars: 11_120,
    },
    Official {
        name: "python",
        description: "Python is an interpreted, interactive, object-oriented language.",
        megabytes: 380,
        versions: &["3.13.1", "3.12.8", "3.11.11"],
        flavors: &["slim", "alpine"],
        aliases: &[],
        prefixes: true,
        extra_platforms: &[("arm", Some("v7")), ("ppc64le", None), ("s390x", None)],
        pulls: 8_101_555_004,
        stars: 9_870,
    },
    Official {
        name: "node",
        description: "Node.js is a JavaScript runtime.",
        megabytes: 400,
        versions: &["22.12.0", "20.18.1", "18.20.5"],
        flavors: &["alpine", "slim"],
        aliases: &[("lts", 0)],
        prefixes: true,
        extra_platforms: &[("arm", Some("v7")), ("ppc64le", None), ("s390x", None)],
        pulls: 6_220_771_030,
        stars: 13_560,
    },
    Official {
        name: "golang",
        description: "Go is an open source programming language.",
        megabytes: 300,
        versions: &["1.23.4", "1.22.10"],
        flavors: &["alpine", "bookworm"],
        aliases: &[],
        prefixes: true,
        extra_platforms: &[("386", None), ("ppc64le", None), ("s390x", None)],
        pulls: 2_305_118_640,
        stars: 4_890,
    },
    Official {
        name: "ubuntu",
        description: "Ubuntu is a Debian-based Linux operating system.",
        megabytes: 30,
        versions: &["24.04", "22.04", "20.04"],
        flavors: &[],
        aliases: &[("noble", 0), ("jammy", 1), ("focal", 2), ("rolling", 0)],
        prefixes: false,
        extra_platforms: &[
            ("arm", Some("v7")),
            ("ppc64le", None),
            ("s390x", None),
            ("riscv64", None),
        ],
        pulls: 1_402_990_331,
        stars: 17_620,
    },
    Official {
        name: "busybox",
        description: "Busybox base image.",
        megabytes: 10,
        versions: &["1.37.0", "1.36.1"],
        flavors: &["glibc", "musl"],
        aliases: &[],
        prefixes: true,
        extra_platforms: &[("arm", Some("v7")), ("386", None), ("s390x", None)],
        pulls: 1_011_245_872,
        stars: 3_301,
    },
    Official {
        name: "httpd",
        description: "The Apache HTTP Server Project.",
        megabytes: 60,
        versions: &["2.4.62", "2.4.61"],
        flavors: &["alpine", "bookworm"],
        aliases: &[],
        prefixes: true,
        extra_platforms: &[("arm", Some("v7")), ("ppc64le", None)],
        pulls: 4_600_331_902,
        stars: 4_812,
    },
];

/// The official repositories, in catalogue order.
pub(super) fn repos(rng: &mut StdRng) -> Vec<Repo> {
    OFFICIAL.iter().map(|o| official_repo(o, rng)).collect()
}

fn official_repo(o: &Official, rng: &mut StdRng) -> Repo {
    let mut repo = Repo::new(o.name)
        .description(o.description)
        .pulls(o.pulls)
        .stars(o.stars);
    let mut seen = HashSet::new();
    let last = o.versions.len() - 1;
    for (j, version) in o.versions.iter().enumerate() {
        // Newest within weeks, oldest within the year.
        let ago = match j {
            0 => rng.random_range(2 * DAY..20 * DAY),
            _ => rng
                .random_range((60 * j as u64) * DAY..(60 * j as u64 + 45) * DAY)
                .min(360 * DAY),
        };
        // Aliases of this version: every prefix not claimed by a newer version ("1.27", "1"),
        // "latest" and the bare flavours for the newest, and the named ones.
        let mut names = vec![version.to_string()];
        let parts: Vec<&str> = version.split('.').collect();
        if o.prefixes {
            names.extend((1..parts.len()).map(|n| parts[..n].join(".")));
        }
        if j == 0 {
            names.push("latest".into());
        }
        names.extend(
            o.aliases
                .iter()
                .filter(|(_, i)| *i == j)
                .map(|(a, _)| a.to_string()),
        );
        for flavor in std::iter::once(None).chain(o.flavors.iter().map(Some)) {
            for base in &names {
                let name = match (flavor, base.as_str()) {
                    (None, _) => base.clone(),
                    (Some(f), "latest") => f.to_string(),
                    (Some(f), _) => format!("{base}-{f}"),
                };
                if !seen.insert(name.clone()) {
                    continue;
                }
                let mut tag = official_tag(&name, o, flavor.copied(), j < 2, rng);
                if j == last && flavor.is_some() && rng.random_bool(0.5) {
                    tag = tag.never_pulled();
                }
                let jitter = rng.random_range(0..20 * 60);
                repo = repo.with_tag(tag.pushed_ago(Duration::from_secs(ago + jitter)));
            }
        }
    }
    repo
}

fn official_tag(
    name: &str,
    o: &Official,
    flavor: Option<&str>,
    attested: bool,
    rng: &mut StdRng,
) -> TagSpec {
    let mut tag = TagSpec::new(name)
        .platform("linux", "amd64", None)
        .platform("linux", "arm64", Some("v8"));
    for (arch, variant) in o.extra_platforms {
        tag = tag.platform("linux", arch, *variant);
    }
    // Official images built since 2023 carry one attestation manifest per platform.
    if attested {
        for _ in 0..2 + o.extra_platforms.len() {
            tag = tag.attestation();
        }
    }
    let factor = match flavor {
        Some("alpine") | Some("musl") => 35,
        Some("slim") => 50,
        _ => 100,
    };
    let bytes = o.megabytes * 1_000_000 / 100 * factor / 100 * rng.random_range(90..111);
    tag.size(bytes.clamp(10_000_000, 900_000_000))
}
