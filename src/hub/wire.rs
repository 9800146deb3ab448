//! The Hub's JSON as it comes over the wire, and its conversion into inventory types.
//!
//! Every field the exporter does not strictly need is optional: the Hub sends `null` for
//! digests, timestamps, variants and sizes, and has dropped fields without notice before. A
//! result without a name fails the page (the caller keeps its previous data). The types are
//! public for the property tests of their decoding; only the client uses them.

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::inventory::{Image, RepositoryInfo, Tag};

/// One page of a listing.
#[derive(Debug, Deserialize)]
pub struct Page<T> {
    /// Absolute URL of the next page, `null` on the last.
    #[serde(default)]
    pub next: Option<String>,
    /// The items of this page.
    #[serde(default = "Vec::new")]
    pub results: Vec<T>,
}

/// A repository as listed.
#[derive(Debug, Deserialize)]
pub struct WireRepository {
    /// Name within the namespace.
    pub name: String,
    #[serde(default)]
    repository_type: Option<String>,
    #[serde(default)]
    is_private: Option<bool>,
    #[serde(default)]
    star_count: Option<u64>,
    #[serde(default)]
    pull_count: Option<u64>,
    #[serde(default)]
    last_updated: Option<String>,
    #[serde(default)]
    storage_size: Option<u64>,
}

/// A tag as listed.
#[derive(Debug, Deserialize)]
pub struct WireTag {
    /// Tag name.
    pub name: String,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    full_size: Option<u64>,
    #[serde(default)]
    tag_last_pushed: Option<String>,
    #[serde(default)]
    tag_last_pulled: Option<String>,
    #[serde(default)]
    images: Option<Vec<WireImage>>,
}

#[derive(Debug, Deserialize)]
struct WireImage {
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    digest: Option<String>,
    #[serde(default)]
    size: Option<u64>,
}

/// Unix seconds of an RFC 3339 time; `None` when absent or malformed.
pub fn unix_time(value: Option<&str>) -> Option<f64> {
    let t = OffsetDateTime::parse(value?, &Rfc3339).ok()?;
    // i128 nanoseconds to f64 seconds: exact to the microsecond for centuries around now.
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

impl WireRepository {
    /// The repository's metadata.
    pub fn info(&self) -> RepositoryInfo {
        RepositoryInfo {
            private: self.is_private.unwrap_or(false),
            repository_type: self.repository_type.clone().unwrap_or_default(),
            pull_count: self.pull_count.unwrap_or(0),
            star_count: self.star_count.unwrap_or(0),
            last_updated: unix_time(self.last_updated.as_deref()),
            storage_size: self.storage_size,
        }
    }
}

impl WireTag {
    /// The tag, attestation manifests left out.
    pub fn into_tag(self) -> Tag {
        let images = self
            .images
            .unwrap_or_default()
            .into_iter()
            .map(|i| Image {
                os: i.os.unwrap_or_default(),
                architecture: i.architecture.unwrap_or_default(),
                variant: i.variant.unwrap_or_default(),
                digest: i.digest.unwrap_or_default(),
                size: i.size,
            })
            .filter(|i| !i.is_attestation())
            .collect();
        Tag {
            digest: self.digest.unwrap_or_default(),
            full_size: self.full_size,
            last_pushed: unix_time(self.tag_last_pushed.as_deref()),
            last_pulled: unix_time(self.tag_last_pulled.as_deref()),
            images,
            name: self.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str = include_str!("../../tests/fixtures/hub-tags-library-ubuntu-2024-10.json");

    #[test]
    fn the_recorded_hub_page_parses_with_its_escaped_next_link() {
        let page: Page<WireTag> = serde_json::from_str(FIXTURE).unwrap();
        assert_eq!(
            page.next.as_deref(),
            Some("https://hub.docker.com/v2/repositories/ubuntu/tags/?page=2&page_size=1")
        );
        let tags: Vec<Tag> = page.results.into_iter().map(WireTag::into_tag).collect();
        assert_eq!(tags.len(), 1);
        let t = &tags[0];
        assert_eq!(t.name, "devel");
        assert!(t.digest.starts_with("sha256:c62f1bab"));
        assert_eq!(t.full_size, Some(34157024));
        assert_eq!(t.last_pushed, Some(1727833827.90536));
        assert_eq!(t.images.len(), 6);
        assert_eq!(t.images[1].variant, "v7");
        assert_eq!(t.images[0].variant, "");
    }

    #[test]
    fn nulls_and_missing_fields_are_tolerated() {
        let page: Page<WireTag> = serde_json::from_str(
            r#"{"count":1,"next":null,"results":[{"name":"x","digest":null,"full_size":null,
            "tag_last_pulled":null,"images":[{"os":"linux","architecture":"amd64","variant":null,
            "digest":null,"size":null},{"os":"unknown","architecture":"unknown","size":10}]}]}"#,
        )
        .unwrap();
        let tag = page.results.into_iter().next().unwrap().into_tag();
        assert_eq!(tag.digest, "");
        assert_eq!(tag.last_pulled, None);
        assert_eq!(tag.images.len(), 1, "the attestation is left out");
        assert_eq!(tag.images[0].size, None);
        let repos: Page<WireRepository> =
            serde_json::from_str(r#"{"results":[{"name":"api","last_updated":"garbage"}]}"#)
                .unwrap();
        assert_eq!(repos.results[0].info().last_updated, None);
    }

    #[test]
    fn a_result_without_a_name_fails_the_page() {
        assert!(serde_json::from_str::<Page<WireTag>>(r#"{"results":[{"digest":"x"}]}"#).is_err());
    }
}

#[cfg(test)]
mod properties;
