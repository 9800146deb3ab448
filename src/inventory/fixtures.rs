//! Constructors of inventory values for the unit tests, so that a test names only what it
//! is about: `tag("1.0", "sha256:a")`, `repository("api", Some(vec![...]))`,
//! `listed("acme", vec![read("api", tags(&[("1.0", "a")]))])`.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::{
    Image, Namespace, NamespaceRead, Repository, RepositoryInfo, RepositoryRead, Snapshot, Tag,
    TagStatus, TagsRead, interned,
};

/// A public image repository with no pulls, stars, time or size.
pub(crate) fn info() -> RepositoryInfo {
    RepositoryInfo {
        private: false,
        repository_type: "image".into(),
        pull_count: 0,
        star_count: 0,
        last_updated: None,
        storage_size: None,
    }
}

/// A tag with this digest and nothing else known.
pub(crate) fn tag(name: &str, digest: &str) -> Tag {
    Tag {
        name: name.into(),
        digest: digest.into(),
        full_size: None,
        last_pushed: None,
        last_pulled: None,
        images: vec![],
        status: None,
    }
}

/// A platform image.
pub(crate) fn image(os: &str, architecture: &str, variant: &str, digest: &str) -> Image {
    Image {
        os: interned(os),
        architecture: interned(architecture),
        variant: interned(variant),
        digest: digest.into(),
        size: None,
    }
}

impl Tag {
    /// The tag with these platform images.
    pub(crate) fn with_images(mut self, images: Vec<Image>) -> Tag {
        self.images = images;
        self
    }

    /// The tag pushed at this Unix time.
    pub(crate) fn pushed_at(mut self, seconds: f64) -> Tag {
        self.last_pushed = Some(seconds);
        self
    }

    /// The tag with this `tag_status`.
    pub(crate) fn with_status(mut self, status: TagStatus) -> Tag {
        self.status = Some(status);
        self
    }
}

impl Image {
    /// The image with this compressed size.
    pub(crate) fn sized(mut self, bytes: u64) -> Image {
        self.size = Some(bytes);
        self
    }
}

/// A repository with [`info`]; `tags` `None` while no listing of them has succeeded.
pub(crate) fn repository(name: &str, tags: Option<Vec<Tag>>) -> Repository {
    Repository {
        name: name.into(),
        info: info(),
        tags: tags.map(Arc::from),
        tags_as_of: None,
        counted: None,
    }
}

/// A snapshot of these namespaces and repositories, each namespace showing its own.
pub(crate) fn snapshot(namespaces: Vec<(&str, Vec<Repository>)>) -> Snapshot {
    Snapshot {
        namespaces: namespaces
            .into_iter()
            .map(|(name, repos)| {
                let visible = repos.len();
                let repositories = repos.into_iter().map(|r| (r.name.clone(), r)).collect();
                let namespace = Namespace {
                    repositories,
                    visible,
                };
                (name.to_string(), namespace)
            })
            .collect(),
    }
}

/// What a refresh read of one repository with [`info`].
pub(crate) fn read(name: &str, tags: TagsRead) -> RepositoryRead {
    RepositoryRead {
        name: name.into(),
        info: info(),
        tags,
    }
}

/// A successful listing of `namespace` with these reads.
pub(crate) fn listed(
    namespace: &str,
    reads: Vec<RepositoryRead>,
) -> BTreeMap<String, NamespaceRead> {
    BTreeMap::from([(namespace.to_string(), NamespaceRead::Listed(reads))])
}

/// A successful tag listing of these `(name, digest)` pairs.
pub(crate) fn tags(list: &[(&str, &str)]) -> TagsRead {
    TagsRead::Listed(list.iter().map(|(n, d)| tag(n, d)).collect())
}
