//! The JSON shapes of repositories and tags, as the real Hub writes them (field names, order,
//! nullability and timestamp format follow the responses recorded in `tests/fixtures/hub/`
//! and the Hub's OpenAPI schema): `repository_type` is `null` for a third of the
//! repositories, a tag without a digest has no `digest` key, attestation manifests are listed
//! in `images` as `unknown/unknown`, `tag_status` says whether the tag was pushed or pulled
//! within the last month, and the times of tags have 0 to 9 fractional digits.
//!
//! Only serialization lives here; which objects go on which page is the router's business.

use serde::Serialize;
use time::OffsetDateTime;
use time::macros::format_description;

use super::state::{IMAGE_MEDIA_TYPE, INDEX_MEDIA_TYPE, StoredImage, StoredRepo, StoredTag};

/// A tag or image counts as active when pushed or pulled within this many days (the Hub's
/// definition of `tag_status`).
const ACTIVE_DAYS: i64 = 30;

/// RFC 3339 in UTC with microseconds, as the Hub writes most times: `2025-10-01T12:00:00.123456Z`.
pub(super) fn timestamp(t: OffsetDateTime) -> String {
    timestamp_with(t, 6)
}

/// RFC 3339 in UTC with `digits` fractional digits (0 to 9; none and no dot for 0), as the
/// real Hub writes the times of tags: `…27.90536Z`, `…46.163535986Z`, `…27Z`. Digits
/// beyond what `t` holds are written as they are, not rounded.
pub(super) fn timestamp_with(t: OffsetDateTime, digits: u8) -> String {
    let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
    let t = t.to_offset(time::UtcOffset::UTC);
    // Formatting a UTC time of years 0..=9999 cannot fail; an empty string stands in otherwise.
    let whole = t.format(&format).unwrap_or_default();
    match digits.min(9) {
        0 => format!("{whole}Z"),
        d => {
            let nanos = format!("{:09}", t.nanosecond());
            format!("{whole}.{}Z", &nanos[..usize::from(d)])
        }
    }
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
    repository_type: Option<&'static str>,
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
        // A 2026 capture of an organisation has `null` for about a third of them.
        repository_type: (!repo.id.is_multiple_of(3)).then_some("image"),
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
    /// Left out, not `null`, where the tag has none, as on real single-image tags.
    #[serde(skip_serializing_if = "Option::is_none")]
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
        images: tag
            .images
            .iter()
            .map(|i| image(i, tag.digits, now))
            .collect(),
        last_updated: timestamp_with(tag.last_pushed, tag.digits),
        last_updater: updater,
        last_updater_username: username,
        name: &tag.name,
        repository: repo.id,
        full_size,
        v2: true,
        tag_status: status(Some(tag.last_pushed), tag.last_pulled, now),
        tag_last_pulled: tag.last_pulled.map(|t| timestamp_with(t, tag.digits)),
        tag_last_pushed: timestamp_with(tag.last_pushed, tag.digits),
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

fn image(i: &StoredImage, digits: u8, now: OffsetDateTime) -> ImageJson<'_> {
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
        last_pulled: i.last_pulled.map(|t| timestamp_with(t, digits)),
        last_pushed: timestamp_with(i.last_pushed, digits),
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
