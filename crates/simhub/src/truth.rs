//! What the simulated Hub holds, read back whole for assertions: every repository of a
//! namespace with every tag and image, in the values its API serves, so that a test can
//! compare what a client made of the listings with what is there, in general rather than
//! value by value.
//!
//! It reads only; it is not served and records no request.

use super::SimHub;
use super::state::{StoredImage, StoredRepo, StoredTag};
use super::wire;

/// A repository as the Hub holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoTruth {
    /// Name within the namespace.
    pub name: String,
    /// Whether only accounts of the namespace see it.
    pub private: bool,
    /// `pull_count`.
    pub pulls: u64,
    /// `star_count`.
    pub stars: u64,
    /// `last_updated`, as RFC 3339 in UTC with microseconds.
    pub last_updated: String,
    /// Its tags, in name order.
    pub tags: Vec<TagTruth>,
}

/// A tag as the Hub holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagTruth {
    /// Tag name.
    pub name: String,
    /// Manifest or index digest; `None` where the Hub serves none (no `digest` key).
    pub digest: Option<String>,
    /// `full_size`: the size of its first platform image.
    pub full_size: u64,
    /// `tag_last_pushed`, as RFC 3339 in UTC with microseconds: the instant the Hub writes
    /// with 0 to 9 fractional digits (it holds none finer than microseconds).
    pub last_pushed: String,
    /// `tag_last_pulled`; `None` when never pulled.
    pub last_pulled: Option<String>,
    /// Its `images[]` in the order served, attestation manifests (`unknown/unknown`)
    /// included.
    pub images: Vec<ImageTruth>,
}

/// One entry of a tag's `images[]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageTruth {
    /// Operating system.
    pub os: String,
    /// CPU architecture.
    pub architecture: String,
    /// Architecture variant; `None` where the Hub serves null.
    pub variant: Option<String>,
    /// Platform manifest digest.
    pub digest: String,
    /// Compressed size in bytes.
    pub size: u64,
}

impl ImageTruth {
    /// Whether this is an attestation manifest rather than a platform image.
    pub fn is_attestation(&self) -> bool {
        self.os == "unknown" && self.architecture == "unknown"
    }
}

impl SimHub {
    /// Every repository of `namespace`, private ones included, in name order, with all their
    /// tags and images: what a client that reads the whole namespace with an account of it
    /// should end up with. Empty for a namespace the Hub does not know.
    pub fn truth(&self, namespace: &str) -> Vec<RepoTruth> {
        self.lock()
            .namespaces
            .get(namespace)
            .map(|repos| repos.values().map(repo).collect())
            .unwrap_or_default()
    }
}

fn repo(stored: &StoredRepo) -> RepoTruth {
    RepoTruth {
        name: stored.name.clone(),
        private: stored.private,
        pulls: stored.pulls,
        stars: stored.stars,
        last_updated: wire::timestamp(stored.last_updated),
        tags: stored.tags.values().map(tag).collect(),
    }
}

fn tag(stored: &StoredTag) -> TagTruth {
    TagTruth {
        name: stored.name.clone(),
        digest: stored.digest.clone(),
        full_size: wire::full_size(stored),
        last_pushed: wire::timestamp(stored.last_pushed),
        last_pulled: stored.last_pulled.map(wire::timestamp),
        images: stored.images.iter().map(image).collect(),
    }
}

fn image(stored: &StoredImage) -> ImageTruth {
    ImageTruth {
        os: stored.os.clone(),
        architecture: stored.architecture.clone(),
        variant: stored.variant.clone(),
        digest: stored.digest.clone(),
        size: stored.size,
    }
}

#[cfg(test)]
mod tests {
    use super::super::testclient::{get, login};
    use super::super::{Repo, SimHub, TagSpec};

    #[tokio::test]
    async fn the_truth_is_what_the_listings_serve() {
        let hub = SimHub::new();
        hub.add_repo(
            "acme",
            Repo::new("api").private().with_tags(2).with_tag(
                TagSpec::new("multi")
                    .platform("linux", "amd64", None)
                    .platform("linux", "arm64", Some("v8"))
                    .attestation(),
            ),
        );
        hub.add_account("acme-bot", "secret", &["acme"]);
        let running = hub.start().await.unwrap();
        let truth = hub.truth("acme");
        assert_eq!(truth.len(), 1);
        let api = &truth[0];
        assert!(api.private);
        let token = login(running.addr(), "acme-bot", "secret").await;
        let served = get(
            running.addr(),
            "/v2/namespaces/acme/repositories/api/tags?page_size=100",
            Some(&token),
        )
        .await
        .json();
        let mut results = served["results"].as_array().unwrap().clone();
        results.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        assert_eq!(results.len(), api.tags.len());
        for (served, tag) in results.iter().zip(&api.tags) {
            assert_eq!(served["name"], tag.name.as_str());
            assert_eq!(served["digest"].as_str(), tag.digest.as_deref());
            assert_eq!(served["full_size"], tag.full_size);
            assert_eq!(
                served["tag_last_pushed"].as_str().map(instant),
                Some(instant(&tag.last_pushed))
            );
            assert_eq!(
                served["tag_last_pulled"].as_str().map(instant),
                tag.last_pulled.as_deref().map(instant)
            );
            let images = served["images"].as_array().unwrap();
            assert_eq!(images.len(), tag.images.len());
            for (served, image) in images.iter().zip(&tag.images) {
                assert_eq!(served["os"], image.os.as_str());
                assert_eq!(served["architecture"], image.architecture.as_str());
                assert_eq!(served["variant"].as_str(), image.variant.as_deref());
                assert_eq!(served["digest"], image.digest.as_str());
                assert_eq!(served["size"], image.size);
            }
        }
        let multi = api.tags.iter().find(|t| t.name == "multi").unwrap();
        assert_eq!(
            multi.images.iter().filter(|i| i.is_attestation()).count(),
            1
        );
        assert!(hub.truth("nobody").is_empty());
    }

    /// The instant an RFC 3339 time names, whatever its number of fractional digits.
    fn instant(text: &str) -> time::OffsetDateTime {
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("{text}: {e}"))
    }
}
