//! The Hub's JSON as it comes over the wire, and its conversion into inventory types.
//!
//! The page envelope is read strictly, because it decides what is deleted: `count` and
//! `results` must be there (a 200 without them, or with an error envelope such as
//! `{"detail": ...}`, is not a page). Every field of an item that the exporter does not
//! strictly need is optional: the Hub sends `null` for digests, timestamps, variants and
//! sizes, and has dropped fields without notice before. A tag's `tag_status` (or `status`, as
//! the specification names it) is read leniently: a value other than `active` or `inactive`
//! is no status. A result without a name fails the page (the caller keeps its previous data).

use serde::Deserialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::inventory::{Image, RepositoryInfo, Tag, TagStatus, interned};

/// One page of a listing, as decoded before its envelope is checked.
#[derive(Debug, Deserialize)]
struct RawPage<T> {
    count: Option<u64>,
    #[serde(default)]
    next: Option<String>,
    results: Option<Vec<T>>,
    /// The Hub's error envelopes carry these; a page never does.
    #[serde(default)]
    detail: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    errors: Option<serde::de::IgnoredAny>,
    #[serde(default)]
    message: Option<serde::de::IgnoredAny>,
}

/// One page of a listing.
#[derive(Debug)]
pub(crate) struct Page<T> {
    /// Items in the whole listing, as the Hub counted them when it answered.
    pub(crate) count: u64,
    /// Absolute URL of the next page, `null` on the last.
    pub(crate) next: Option<String>,
    /// The items of this page.
    pub(crate) results: Vec<T>,
}

impl<T: serde::de::DeserializeOwned> Page<T> {
    /// Decodes a page, refusing a body that is not one: no `count` or `results`, or an error
    /// envelope.
    pub(crate) fn decode(body: &[u8]) -> Result<Page<T>, String> {
        let raw: RawPage<T> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
        if raw.detail.is_some() || raw.errors.is_some() || raw.message.is_some() {
            return Err("an error envelope, not a page".into());
        }
        let results = raw.results.ok_or("no results")?;
        let count = raw.count.ok_or("no count")?;
        Ok(Page {
            count,
            next: raw.next,
            results,
        })
    }
}

/// One repository's details (`GET /v2/namespaces/{ns}/repositories/{repo}`): the fields of
/// a listed repository and more, which are ignored; an error envelope is refused.
pub(crate) fn decode_repository(body: &[u8]) -> Result<WireRepository, String> {
    #[derive(Deserialize)]
    struct Envelope {
        #[serde(default)]
        detail: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        message: Option<serde::de::IgnoredAny>,
        #[serde(default)]
        errors: Option<serde::de::IgnoredAny>,
    }
    let envelope: Envelope = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    if envelope.detail.is_some() || envelope.message.is_some() || envelope.errors.is_some() {
        return Err("an error envelope, not a repository".into());
    }
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// The most of a body that is looked at for what the Hub said when it is not JSON.
const SAID_TEXT_BYTES: usize = 1024;

/// What the Hub says in the body of an error answer: the texts of its `message`, `detail`,
/// `errinfo.detail` and `text` fields (each once, in that order, joined by `; `), or the first
/// line of a plain-text body (`Too Many Requests (HAP429).`); `None` for an HTML page, an
/// empty body or JSON without any of them. Unquoted: the caller bounds, escapes and masks it.
pub(crate) fn said(body: &[u8]) -> Option<String> {
    if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
        let fields = [
            value.get("message"),
            value.get("detail"),
            value.get("errinfo").and_then(|e| e.get("detail")),
            value.get("text"),
        ];
        let mut texts: Vec<&str> = Vec::new();
        for text in fields.into_iter().flatten().filter_map(|v| v.as_str()) {
            let text = text.trim();
            if !text.is_empty() && !texts.contains(&text) {
                texts.push(text);
            }
        }
        return (!texts.is_empty()).then(|| texts.join("; "));
    }
    let head = String::from_utf8_lossy(&body[..body.len().min(SAID_TEXT_BYTES)]);
    let line = head.trim_start().lines().next()?.trim();
    (!line.is_empty() && !line.starts_with('<')).then(|| line.to_string())
}

/// A repository as listed.
#[derive(Debug, Deserialize)]
pub(crate) struct WireRepository {
    /// Name within the namespace.
    pub(crate) name: String,
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
pub(crate) struct WireTag {
    /// Tag name.
    pub(crate) name: String,
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
    #[serde(default, deserialize_with = "status")]
    tag_status: Option<TagStatus>,
    /// The name the Hub's specification gives `tag_status`; real answers use the other.
    #[serde(default, deserialize_with = "status")]
    status: Option<TagStatus>,
}

/// `active` or `inactive`; any other value, of any type, is no status rather than a page that
/// cannot be read: the field is informative, and `status` means other things elsewhere.
fn status<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<TagStatus>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)?.as_str() {
        Some("active") => Some(TagStatus::Active),
        Some("inactive") => Some(TagStatus::Inactive),
        _ => None,
    })
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
pub(crate) fn unix_time(value: Option<&str>) -> Option<f64> {
    let t = OffsetDateTime::parse(value?, &Rfc3339).ok()?;
    // i128 nanoseconds to f64 seconds: exact to the microsecond for centuries around now.
    Some(t.unix_timestamp_nanos() as f64 / 1e9)
}

impl WireRepository {
    /// The repository's metadata.
    pub(crate) fn info(&self) -> RepositoryInfo {
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
    pub(crate) fn into_tag(self) -> Tag {
        let mut images: Vec<Image> = self
            .images
            .unwrap_or_default()
            .into_iter()
            .map(|i| Image {
                os: interned(i.os.as_deref().unwrap_or_default()),
                architecture: interned(i.architecture.as_deref().unwrap_or_default()),
                variant: interned(i.variant.as_deref().unwrap_or_default()),
                digest: i.digest.unwrap_or_default(),
                size: i.size,
            })
            .filter(|i| !i.is_attestation())
            .collect();
        // The list is kept as long as the tag: no room for more (a decoded list has room for
        // twice its images, and the collect above reuses that room).
        images.shrink_to_fit();
        Tag {
            digest: self.digest.unwrap_or_default(),
            full_size: self.full_size,
            last_pushed: unix_time(self.tag_last_pushed.as_deref()),
            last_pulled: unix_time(self.tag_last_pulled.as_deref()),
            images,
            status: self.tag_status.or(self.status),
            name: self.name,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIXTURE: &str =
        include_str!("../../tests/fixtures/hub/tags_library_ubuntu_page_size_1.json");

    #[test]
    fn the_recorded_hub_page_parses_with_its_escaped_next_link() {
        let page: Page<WireTag> = Page::decode(FIXTURE.as_bytes()).unwrap();
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
        assert_eq!(&*t.images[1].variant, "v7");
        assert_eq!(&*t.images[0].variant, "");
    }

    #[test]
    fn nulls_and_missing_fields_are_tolerated() {
        let page: Page<WireTag> = Page::decode(
            br#"{"count":1,"next":null,"results":[{"name":"x","digest":null,"full_size":null,
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
            Page::decode(br#"{"count":1,"results":[{"name":"api","last_updated":"garbage"}]}"#)
                .unwrap();
        assert_eq!(repos.results[0].info().last_updated, None);
    }

    #[test]
    fn a_result_without_a_name_fails_the_page() {
        assert!(Page::<WireTag>::decode(br#"{"count":1,"results":[{"digest":"x"}]}"#).is_err());
    }

    #[test]
    fn a_200_that_is_not_a_page_is_refused_never_read_as_empty() {
        for body in [
            r#"{"count":5,"next":null}"#,
            r#"{"detail":"maintenance"}"#,
            r#"{}"#,
            r#"{"count":0,"next":null,"results":null}"#,
            r#"{"count":0,"results":{}}"#,
            r#"{"next":null,"results":[]}"#,
            r#"{"count":"many","results":[]}"#,
            r#"{"count":0,"results":[],"detail":"Service unavailable"}"#,
            r#"{"count":0,"results":[],"errors":[{"code":"UNAVAILABLE"}]}"#,
            r#"[]"#,
        ] {
            assert!(Page::<WireTag>::decode(body.as_bytes()).is_err(), "{body}");
            assert!(
                Page::<WireRepository>::decode(body.as_bytes()).is_err(),
                "{body}"
            );
        }
        let empty = Page::<WireTag>::decode(br#"{"count":0,"next":null,"results":[]}"#).unwrap();
        assert_eq!((empty.count, empty.results.len()), (0, 0));
    }
}

#[cfg(test)]
mod captures;
#[cfg(test)]
mod properties;
