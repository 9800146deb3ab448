//! The builders a test uses to describe what the simulated Hub holds: [`Repo`] and
//! [`TagSpec`].
//!
//! They describe, they do not store: digests, ids and timestamps that the caller left open are
//! chosen when the hub takes the description in (see `state.rs`), so one builder can seed
//! several hubs. Generated tag lists (`with_tags`) come from `data.rs`.

use std::time::Duration;

use super::data;

/// Builder for a repository: `Repo::new("api").private().with_tags(150)`.
#[derive(Debug, Clone)]
pub struct Repo {
    pub(super) name: String,
    pub(super) private: bool,
    pub(super) description: String,
    pub(super) pulls: u64,
    pub(super) stars: u64,
    pub(super) tags: Vec<TagSpec>,
    /// How many tags `with_tags` has generated so far, so a second call continues the names.
    pub(super) generated: usize,
    /// How long ago the repository was created.
    pub(super) registered_ago: Duration,
}

impl Repo {
    /// A public image repository with no tags and a few pulls and stars derived from its name.
    pub fn new(name: &str) -> Self {
        let h = data::fnv1a(name.as_bytes());
        Repo {
            name: name.to_string(),
            private: false,
            description: format!("The {name} image"),
            pulls: 1_000 + h % 250_000,
            stars: (h >> 20) % 40,
            tags: Vec::new(),
            generated: 0,
            registered_ago: Duration::from_secs(86_400 * (400 + (h >> 32) % 1_500)),
        }
    }

    /// Makes the repository private: hidden from callers without access to its namespace.
    pub fn private(mut self) -> Self {
        self.private = true;
        self
    }

    /// Adds `n` generated tags with unique, deterministic semver-like names, 1 to 3 linux
    /// platforms each, some with a variant and some with attestation entries.
    pub fn with_tags(mut self, n: usize) -> Self {
        let start = self.generated;
        self.tags.extend(data::generated_tags(&self.name, start, n));
        self.generated += n;
        self
    }

    /// Adds one tag; a later tag of the same name replaces an earlier one.
    pub fn with_tag(mut self, tag: TagSpec) -> Self {
        self.tags.push(tag);
        self
    }

    /// Sets the lifetime pull count.
    pub fn pulls(mut self, n: u64) -> Self {
        self.pulls = n;
        self
    }

    /// Sets the star count.
    pub fn stars(mut self, n: u64) -> Self {
        self.stars = n;
        self
    }

    /// Sets the short description (demo data).
    pub(super) fn description(mut self, text: &str) -> Self {
        self.description = text.to_string();
        self
    }
}

/// One platform of a tag as given to [`TagSpec::platform`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct PlatformSpec {
    pub(super) os: String,
    pub(super) architecture: String,
    pub(super) variant: Option<String>,
}

/// Builder for a tag: `TagSpec::new("1.2.3").platform("linux", "arm64", Some("v8"))`.
#[derive(Debug, Clone)]
pub struct TagSpec {
    pub(super) name: String,
    /// Empty means the default single linux/amd64 platform.
    pub(super) platforms: Vec<PlatformSpec>,
    pub(super) attestations: usize,
    pub(super) has_digest: bool,
    /// The tag's digest; chosen at random when stored if unset.
    pub(super) digest: Option<String>,
    pub(super) pulled: bool,
    /// Compressed size of the first platform image; chosen when stored if unset.
    pub(super) size: Option<u64>,
    /// How long before being stored the tag was pushed; chosen when stored if unset. A push
    /// through `SimHub::push_tag` always happens now.
    pub(super) pushed_ago: Option<Duration>,
}

impl TagSpec {
    /// One linux/amd64 platform, a random digest and size, pushed and pulled recently.
    pub fn new(name: &str) -> Self {
        TagSpec {
            name: name.to_string(),
            platforms: Vec::new(),
            attestations: 0,
            has_digest: true,
            digest: None,
            pulled: true,
            size: None,
            pushed_ago: None,
        }
    }

    /// Adds a platform; the first call replaces the default linux/amd64.
    pub fn platform(mut self, os: &str, arch: &str, variant: Option<&str>) -> Self {
        self.platforms.push(PlatformSpec {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: variant.map(str::to_string),
        });
        self
    }

    /// Adds an `images[]` entry for an attestation manifest (os and architecture "unknown").
    pub fn attestation(mut self) -> Self {
        self.attestations += 1;
        self
    }

    /// Makes the tag's `digest` null, as on some old tags.
    pub fn no_digest(mut self) -> Self {
        self.has_digest = false;
        self
    }

    /// Sets the tag's digest, for example that of an image in a real registry.
    pub fn digest(mut self, digest: &str) -> Self {
        self.digest = Some(digest.to_string());
        self
    }

    /// Makes `tag_last_pulled` (and every image's `last_pulled`) null.
    pub fn never_pulled(mut self) -> Self {
        self.pulled = false;
        self
    }

    /// Sets the compressed size in bytes of the first platform image, which is the tag's
    /// `full_size`.
    pub fn size(mut self, bytes: u64) -> Self {
        self.size = Some(bytes);
        self
    }

    /// Sets how long ago the tag was pushed (demo data and generated tags).
    pub fn pushed_ago(mut self, ago: Duration) -> Self {
        self.pushed_ago = Some(ago);
        self
    }

    /// The platforms the tag will have, the default included.
    pub(super) fn effective_platforms(&self) -> Vec<PlatformSpec> {
        if self.platforms.is_empty() {
            vec![PlatformSpec {
                os: "linux".into(),
                architecture: "amd64".into(),
                variant: None,
            }]
        } else {
            self.platforms.clone()
        }
    }
}
