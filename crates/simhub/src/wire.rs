//! The JSON shapes of repositories and tags, as the real Hub writes them (field names, order,
//! nullability and timestamp format follow the recorded response in
//! `tests/fixtures/hub-tags-library-ubuntu-2024-10.json` and the Hub's OpenAPI schema).
//!
//! Only serialization lives here; which objects go on which page is the router's business.

use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::state::{IMAGE_MEDIA_TYPE, INDEX_MEDIA_TYPE, StoredImage, StoredRepo, StoredTag};

/// A tag or image counts as active when pushed or pulled within this many days (the Hub's
/// definition of `tag_status`).
const ACTIVE_DAYS: i64 = 30;

/// RFC 3339 in UTC with microseconds, as the Hub writes times: `2025-10-01T12:00:00.123456Z`.
pub(super) fn timestamp(t: OffsetDateTime) -> String {
    let format =
        format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");
    // Formatting a UTC time of years 0..=9999 cannot fail; an empty string stands in otherwise.
    t.to_offset(time::UtcOffset::UTC)
        .format(&format)
        .unwrap_or_default()
}

#[derive(Serialize)]
struct Category {
    name: String,
    slug: String,
}

/// A repository as listed by `/v2/namespaces/{ns}/repositories`.
#[derive(Serialize)]
pub(super) struct RepositoryJson<'a> {
    name: &'a str,
    namespace: &'a str,
    repository_type: &'static str,
    status: u8,
    status_description: &'static str,
    description: &'a str,
    is_private: bool,
    star_count: u64,
    pull_count: u64,
    last_updated: String,
    last_modified: String,
    date_registered: String,
    affiliation: &'static str,
    media_types: Vec<&'static str>,
    content_types: Vec<&'static str>,
    categories: Vec<Category>,
    storage_size: u64,
}

/// The JSON object of a repository.
pub(super) fn repository(repo: &StoredRepo) -> RepositoryJson<'_> {
    let mut media_types: Vec<&'static str> = repo.tags.values().map(media_type).collect();
    media_types.sort_unstable();
    media_types.dedup();
    RepositoryJson {
        name: &repo.name,
        namespace: &repo.namespace,
        repository_type: "image",
        status: 1,
        status_description: "active",
        description: &repo.description,
        is_private: repo.private,
        star_count: repo.stars,
        pull_count: repo.pulls,
        last_updated: timestamp(repo.last_updated),
        last_modified: timestamp(repo.last_updated),
        date_registered: timestamp(repo.registered),
        affiliation: "",
        content_types: if repo.tags.is_empty() {
            Vec::new()
        } else {
            vec!["image"]
        },
        media_types,
        categories: Vec::new(),
        storage_size: repo
            .tags
            .values()
            .flat_map(|t| &t.images)
            .map(|i| i.size)
            .sum(),
    }
}

#[derive(Serialize)]
struct ImageJson<'a> {
    architecture: &'a str,
    features: &'static str,
    variant: Option<&'a str>,
    digest: &'a str,
    os: &'a str,
    os_features: &'static str,
    os_version: Option<&'static str>,
    size: u64,
    status: &'static str,
    last_pulled: Option<String>,
    last_pushed: String,
}

/// A tag as listed by `/v2/namespaces/{ns}/repositories/{repo}/tags`.
#[derive(Serialize)]
pub(super) struct TagJson<'a> {
    creator: u64,
    id: u64,
    images: Vec<ImageJson<'a>>,
    last_updated: String,
    last_updater: u64,
    last_updater_username: String,
    name: &'a str,
    repository: u64,
    full_size: u64,
    v2: bool,
    tag_status: &'static str,
    tag_last_pulled: Option<String>,
    tag_last_pushed: String,
    media_type: &'static str,
    content_type: &'static str,
    digest: Option<&'a str>,
}

/// The JSON object of a tag of `repo`.
pub(super) fn tag<'a>(repo: &StoredRepo, tag: &'a StoredTag) -> TagJson<'a> {
    let now = OffsetDateTime::now_utc();
    let (updater, username) = updater(&repo.namespace);
    let full_size = full_size(tag);
    TagJson {
        creator: updater,
        id: tag.id,
        images: tag.images.iter().map(|i| image(i, now)).collect(),
        last_updated: timestamp(tag.last_pushed),
        last_updater: updater,
        last_updater_username: username,
        name: &tag.name,
        repository: repo.id,
        full_size,
        v2: true,
        tag_status: status(Some(tag.last_pushed), tag.last_pulled, now),
        tag_last_pulled: tag.last_pulled.map(timestamp),
        tag_last_pushed: timestamp(tag.last_pushed),
        media_type: media_type(tag),
        content_type: "image",
        digest: tag.digest.as_deref(),
    }
}

/// A tag's `full_size`: the size of its first platform image (of its first image when it has
/// only attestations), 0 without images.
pub(super) fn full_size(tag: &StoredTag) -> u64 {
    tag.images
        .iter()
        .find(|i| i.os != "unknown")
        .or(tag.images.first())
        .map_or(0, |i| i.size)
}

fn image(i: &StoredImage, now: OffsetDateTime) -> ImageJson<'_> {
    ImageJson {
        architecture: &i.architecture,
        features: "",
        variant: i.variant.as_deref(),
        digest: &i.digest,
        os: &i.os,
        os_features: "",
        os_version: None,
        size: i.size,
        status: status(Some(i.last_pushed), i.last_pulled, now),
        last_pulled: i.last_pulled.map(timestamp),
        last_pushed: timestamp(i.last_pushed),
    }
}

/// An index for several manifests (platforms or attestations), an image manifest for one.
fn media_type(tag: &StoredTag) -> &'static str {
    if tag.images.len() > 1 {
        INDEX_MEDIA_TYPE
    } else {
        IMAGE_MEDIA_TYPE
    }
}

fn status(
    pushed: Option<OffsetDateTime>,
    pulled: Option<OffsetDateTime>,
    now: OffsetDateTime,
) -> &'static str {
    let recent =
        |t: Option<OffsetDateTime>| t.is_some_and(|t| (now - t).whole_days() < ACTIVE_DAYS);
    if recent(pushed) || recent(pulled) {
        "active"
    } else {
        "inactive"
    }
}

/// Who pushed: the official images' bot for `library` (as in the recorded response), a CI
/// user of the namespace otherwise.
fn updater(namespace: &str) -> (u64, String) {
    if namespace == "library" {
        (1_156_886, "doijanky".into())
    } else {
        (
            2_000_000 + super::data::fnv1a(namespace.as_bytes()) % 8_000_000,
            format!("{namespace}-ci"),
        )
    }
}
