//! Listings: every page of a paginated listing, returned only when it is whole.
//!
//! What a listing returns decides what is deleted, so a listing is returned only when it is
//! consistent: the distinct items read equal the `count` of its last page, and that `count`
//! is the one its first page gave. The Hub pages by offset, so a tag pushed or deleted while
//! a listing is read shifts items between pages (one is seen twice, or one is never seen);
//! such a read is done again, up to [`READS`] times in all, and then given up as
//! [`Error::Inconsistent`]. A listing is also bounded, whatever the Hub sends: an empty page
//! that links to another, more pages than its `count` requires (plus [`PAGE_SLACK`]), or more
//! than [`LISTING_BYTES`] in all end it with a protocol error. `next` links are followed only
//! on the origin of `--hub.url`, and never back to a page already read.

use std::collections::HashSet;

use reqwest::Url;
use serde::de::DeserializeOwned;
use tracing::debug;

use super::observer::Endpoint;
use super::request::MAX_BODY_BYTES;
use super::secret::quote;
use super::wire::{Page, WireRepository, WireTag};
use super::{Client, PAGE_SIZE};
use crate::error::{Error, Result};

/// Reads of one listing before an inconsistent one is given up: the first and two more.
pub(super) const READS: u32 = 3;

/// Pages a read may take beyond what its first page's `count` requires, for items pushed
/// while it is read.
pub(super) const PAGE_SLACK: u64 = 2;

/// Bytes (inflated) one read of a listing may take in all: eight times the limit of one body,
/// about 100,000 tags of two platform images each. At most `--hub.concurrency` listings are
/// read at once, which bounds what all of them hold together.
pub(crate) const LISTING_BYTES: usize = 8 * MAX_BODY_BYTES;

/// An item of a listing, told apart from the others by its name.
pub(super) trait Item: DeserializeOwned {
    /// The name that identifies the item within its listing.
    fn key(&self) -> &str;
}

impl Item for WireTag {
    fn key(&self) -> &str {
        &self.name
    }
}

impl Item for WireRepository {
    fn key(&self) -> &str {
        &self.name
    }
}

/// The outcome of one read of a listing that ended.
enum Read<T> {
    /// Every item, each once, as many as the Hub counted.
    Whole(Vec<T>),
    /// The pages did not add up; why.
    Inconsistent(String),
}

impl Client {
    /// Every item of the listing that starts at `first`, each once, read again while the
    /// pages do not add up. Waits for a listing permit first and holds it to the end.
    pub(super) async fn list_all<T: Item>(&self, endpoint: Endpoint, first: Url) -> Result<Vec<T>> {
        self.list_all_noting_start(endpoint, first, || {}).await
    }

    /// [`Client::list_all`], calling `started` once the permit is held, before the first
    /// request.
    pub(super) async fn list_all_noting_start<T: Item>(
        &self,
        endpoint: Endpoint,
        first: Url,
        started: impl FnOnce(),
    ) -> Result<Vec<T>> {
        // The semaphore is never closed; without a permit the listing would still be bounded.
        let _permit = self.listings.acquire().await.ok();
        started();
        let mut why = String::new();
        for read in 1..=READS {
            match self.read_listing(endpoint, &first).await? {
                Read::Whole(items) => return Ok(items),
                Read::Inconsistent(reason) => {
                    debug!(url = %first, read, reason = %reason, "the listing did not add up; reading it again");
                    why = reason;
                }
            }
        }
        Err(Error::Inconsistent {
            url: first.to_string(),
            reason: format!("{why}, in each of {READS} reads"),
        })
    }

    /// Reads the listing once, page by page.
    async fn read_listing<T: Item>(&self, endpoint: Endpoint, first: &Url) -> Result<Read<T>> {
        let mut url = first.clone();
        let mut visited = HashSet::new();
        let mut names = HashSet::new();
        let mut items = Vec::new();
        let mut bytes = 0usize;
        let mut pages = 0u64;
        let mut bound: Option<(u64, u64)> = None;
        loop {
            if !visited.insert(url.to_string()) {
                return Err(protocol(
                    &url,
                    "the next link points back to a page already read",
                ));
            }
            let body = self.get(endpoint, &url).await?;
            bytes = bytes.saturating_add(body.len());
            pages += 1;
            let page: Page<T> = Page::decode(&body).map_err(|reason| Error::Decode {
                url: url.to_string(),
                reason: quote(&reason, self.secret()),
            })?;
            drop(body);
            debug!(url = %url, items = page.results.len(), count = page.count, "page read");
            // The first page sets the count the listing must reach and the pages it may take:
            // as many as its count needs at the page size the Hub actually serves.
            let (first_count, allowed) = *bound.get_or_insert_with(|| {
                let served = (page.results.len() as u64).clamp(1, u64::from(PAGE_SIZE));
                (page.count, page.count.div_ceil(served).max(1) + PAGE_SLACK)
            });
            let empty = page.results.is_empty();
            for item in page.results {
                if names.insert(item.key().to_string()) {
                    items.push(item);
                }
            }
            let next = match page.next.as_deref().map(str::trim) {
                None | Some("") => {
                    let read = items.len() as u64;
                    return Ok(if read == page.count && page.count == first_count {
                        Read::Whole(items)
                    } else {
                        Read::Inconsistent(format!(
                            "{read} distinct items read, the first page counted {first_count}, the last {}",
                            page.count
                        ))
                    });
                }
                Some(next) => next,
            };
            if empty {
                return Err(protocol(&url, "an empty page links to a next one"));
            }
            if pages >= allowed {
                return Err(protocol(
                    &url,
                    &format!(
                        "the listing goes on past {pages} pages, more than its count of {first_count} needs"
                    ),
                ));
            }
            if bytes > LISTING_BYTES {
                return Err(protocol(
                    &url,
                    &format!("the listing goes on past {LISTING_BYTES} bytes"),
                ));
            }
            url = self.follow(&url, next)?;
        }
    }

    /// The URL of `next`, which must be on the Hub's own origin.
    fn follow(&self, current: &Url, next: &str) -> Result<Url> {
        let next_url = current
            .join(next)
            .map_err(|e| protocol(current, &format!("the next link is not a URL: {e}")))?;
        if next_url.origin() != self.base.origin() {
            return Err(protocol(
                current,
                &format!(
                    "the next link leads to another origin ({}), not followed",
                    next_url.origin().ascii_serialization()
                ),
            ));
        }
        Ok(next_url)
    }
}

fn protocol(url: &Url, reason: &str) -> Error {
    Error::Protocol {
        url: url.to_string(),
        reason: reason.to_string(),
    }
}
