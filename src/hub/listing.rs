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
//!
//! An anonymous tag listing that the Hub refuses to page further (a 403 to a page after the
//! first; see `cap`) ends there, capped: what was read is returned with the Hub's count of the
//! whole listing, once it is consistent in itself (no item seen twice, the count of page 1
//! unchanged), else read again like a listing that does not add up.
//!
//! Pages are read one after the other, each from the previous one's `next`, unless the
//! caller asks for [`Pages::Concurrent`]: then, when the first page's `count` says how many
//! pages there are and its `next` is that very URL with `page=2`, pages 2 to the last are
//! asked for at once (as many in flight as `--hub.concurrency`), at URLs made from that
//! `next` (so on the Hub's origin by construction), and checked to add up to the same whole.
//! Each page is handed to the caller as it arrives, before the listing is known to be whole;
//! what is returned is still only a whole listing.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use reqwest::{StatusCode, Url};
use serde::de::DeserializeOwned;
use tracing::debug;

use super::cap;
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
pub(super) trait Item: DeserializeOwned + Send {
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

/// How a read goes through the pages after the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pages {
    /// Each page from the previous one's `next`.
    Serial,
    /// All at once when the first page says how many there are (see the module's doc); a
    /// read after an inconsistent one goes back to following `next`, the Hub's own word.
    Concurrent,
}

/// The outcome of one read of a listing that ended.
enum Read<T> {
    /// Every item, each once, as many as the Hub counted.
    Whole(Vec<T>),
    /// The items of the pages the Hub let an anonymous reader have, each once, and the
    /// count of the whole listing, which is more (see `cap`).
    Capped(Vec<T>, u64),
    /// The pages did not add up; why.
    Inconsistent(String),
}

/// A listing read to its end, or as far as the Hub lets an anonymous reader go.
#[derive(Debug)]
pub(super) struct Listed<T> {
    /// The items, each once.
    pub(super) items: Vec<T>,
    /// `Some(count)` when the Hub stopped the listing early: its count of the whole listing,
    /// more than `items` holds.
    pub(super) capped: Option<u64>,
}

/// What one read of a listing has gathered so far.
struct Reading<T> {
    names: HashSet<String>,
    items: Vec<T>,
    /// Items received, those seen twice counted twice.
    received: u64,
    bytes: usize,
    pages: u64,
    /// The `count` of the first page: what the listing must add up to.
    first_count: u64,
    /// Items on the first page, at least 1 and at most [`PAGE_SIZE`]: the page size the Hub
    /// actually serves.
    served: u64,
    /// Pages the read may take.
    allowed: u64,
}

impl<T: Item> Reading<T> {
    /// A read whose first page is `first`: it sets the count the listing must reach and the
    /// pages it may take (as many as its count needs at the page size the Hub serves).
    fn new(first: &Page<T>) -> Self {
        let served = (first.results.len() as u64).clamp(1, u64::from(PAGE_SIZE));
        Reading {
            names: HashSet::new(),
            items: Vec::new(),
            received: 0,
            bytes: 0,
            pages: 0,
            first_count: first.count,
            served,
            allowed: first.count.div_ceil(served).max(1) + PAGE_SLACK,
        }
    }

    /// Counts a page of `bytes` read.
    fn counted(&mut self, bytes: usize) {
        self.bytes = self.bytes.saturating_add(bytes);
        self.pages += 1;
    }

    /// Keeps the items not seen before.
    fn take(&mut self, results: Vec<T>) {
        self.received += results.len() as u64;
        for item in results {
            if self.names.insert(item.key().to_string()) {
                self.items.push(item);
            }
        }
    }

    /// Refuses a read that went on for longer than any listing may.
    fn within_bytes(&self, url: &Url) -> Result<()> {
        if self.bytes > LISTING_BYTES {
            return Err(protocol(
                url,
                &format!("the listing goes on past {LISTING_BYTES} bytes"),
            ));
        }
        Ok(())
    }

    /// The read, stopped by the Hub after a page counting `last_count`: capped when what the
    /// Hub let it read is consistent (no item seen twice, so no push moved items between its
    /// pages, and the count of page 1 still, so no deletion did) and short of that count.
    fn cut(self, last_count: u64) -> Read<T> {
        let read = self.items.len() as u64;
        if read == self.received && last_count == self.first_count && read < last_count {
            Read::Capped(self.items, last_count)
        } else {
            Read::Inconsistent(format!(
                "{read} distinct of {} items read before the Hub stopped the listing, the first page counted {}, the last {last_count}",
                self.received, self.first_count
            ))
        }
    }

    /// The read, ended by a page counting `last_count`.
    fn end(self, last_count: u64) -> Read<T> {
        let read = self.items.len() as u64;
        if read == last_count && last_count == self.first_count {
            Read::Whole(self.items)
        } else {
            Read::Inconsistent(format!(
                "{read} distinct items read, the first page counted {}, the last {last_count}",
                self.first_count
            ))
        }
    }
}

/// Pages 2 to `last` of a listing, at URLs made from the Hub's own link to page 2.
#[derive(Debug)]
struct PagePlan {
    /// The Hub's `next` of page 1.
    second: Url,
    /// The number of the last page.
    last: u64,
}

impl PagePlan {
    /// The plan for the listing whose page 1, at `first`, held `served` items of `count`
    /// and linked to `next` (already checked to be on the Hub's origin); `None` unless the
    /// link is `first` with `page=2` and nothing else changed (the same path and parameters,
    /// the page size the Hub served on page 1), and there is more than one page.
    fn new(first: &Url, next: &Url, served: u64, count: u64) -> Option<PagePlan> {
        let last = count.div_ceil(served.max(1));
        if last < 2 || next.origin() != first.origin() || next.path() != first.path() {
            return None;
        }
        let without_page = |url: &Url| {
            let mut pairs: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "page")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            pairs.sort();
            pairs
        };
        let pages = |url: &Url| -> Vec<String> {
            url.query_pairs()
                .filter(|(k, _)| k == "page")
                .map(|(_, v)| v.into_owned())
                .collect()
        };
        let first_page = pages(first);
        let page_size = next
            .query_pairs()
            .find(|(k, _)| k == "page_size")
            .and_then(|(_, v)| v.parse::<u64>().ok());
        let agrees = pages(next) == ["2"]
            && (first_page.is_empty() || first_page == ["1"])
            && without_page(next) == without_page(first)
            && page_size == Some(served);
        agrees.then(|| PagePlan {
            second: next.clone(),
            last,
        })
    }

    /// The URL of page `page`: the link to page 2 with its `page` changed, nothing else.
    fn url(&self, page: u64) -> Url {
        let pairs: Vec<(String, String)> = self
            .second
            .query_pairs()
            .map(|(k, v)| {
                let v = if k == "page" {
                    page.to_string()
                } else {
                    v.into_owned()
                };
                (k.into_owned(), v)
            })
            .collect();
        let mut url = self.second.clone();
        url.query_pairs_mut().clear().extend_pairs(pairs);
        url
    }
}

/// A page asked for out of turn, as it came back: its number, its URL, and the page with the
/// bytes of its body, or `None` when the Hub answered 404 (it is past the end).
type Fetched<T> = (u64, Url, Result<Option<(Page<T>, usize)>>);

impl Client {
    /// Every item of the listing that starts at `first`, each once, read again while the
    /// pages do not add up. Waits for a listing permit first and holds it to the end.
    pub(super) async fn list_all_noting_start<T: Item>(
        &self,
        endpoint: Endpoint,
        first: Url,
        started: impl FnOnce(),
    ) -> Result<Listed<T>> {
        self.list_pages(endpoint, first, Pages::Serial, started, |_: &[T]| {})
            .await
    }

    /// [`Client::list_all_noting_start`], reading the pages after the first as `pages` says
    /// and handing each page's items to `on_page` as they arrive. What `on_page` sees is
    /// not yet known to be whole: a read that does not add up is read again, so an item may
    /// come more than once, and an item of a read that did not add up may be missing from
    /// what is returned in the end.
    ///
    /// One listing permit covers the whole listing, however many of its pages are in flight
    /// (those are bounded by the pacer's slots, which every request shares): what the listing
    /// holds is bounded by [`LISTING_BYTES`] either way, so more permits would bound nothing
    /// more, and listings that each waited for more permits while holding one could wait for
    /// each other forever. Tag listings started on what `on_page` hands over wait for the
    /// other permits, never for this one: they cannot hold up the listing that feeds them.
    pub(super) async fn list_pages<T: Item>(
        &self,
        endpoint: Endpoint,
        first: Url,
        pages: Pages,
        started: impl FnOnce(),
        mut on_page: impl FnMut(&[T]) + Send,
    ) -> Result<Listed<T>> {
        // Background listings (re-reads) wait behind a refresh's, as their requests do.
        let _permit = self.listings.acquire(super::pace::priority()).await;
        started();
        let mut why = String::new();
        for read in 1..=READS {
            // Only a first read goes out of turn: a listing that did not add up is read again
            // the way that takes the Hub at its word.
            let pages = if read == 1 { pages } else { Pages::Serial };
            match self
                .read_listing(endpoint, &first, pages, &mut on_page)
                .await?
            {
                Read::Whole(items) => {
                    return Ok(Listed {
                        items,
                        capped: None,
                    });
                }
                Read::Capped(items, count) => {
                    return Ok(Listed {
                        items,
                        capped: Some(count),
                    });
                }
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

    /// Reads the listing once: page by page, or, with [`Pages::Concurrent`] and a first
    /// page that allows it, the rest all at once.
    async fn read_listing<T: Item>(
        &self,
        endpoint: Endpoint,
        first: &Url,
        pages: Pages,
        on_page: &mut (impl FnMut(&[T]) + Send),
    ) -> Result<Read<T>> {
        let mut url = first.clone();
        let mut visited = HashSet::from([url.to_string()]);
        let (mut page, mut bytes) = self.fetch_page::<T>(endpoint, &url).await?;
        let mut reading = Reading::new(&page);
        loop {
            reading.counted(bytes);
            debug!(url = %url, items = page.results.len(), count = page.count, "page read");
            let Page {
                count,
                next,
                results,
            } = page;
            let next = match next.as_deref().map(str::trim) {
                None | Some("") => {
                    on_page(&results);
                    reading.take(results);
                    return Ok(reading.end(count));
                }
                Some(next) => next,
            };
            if results.is_empty() {
                return Err(protocol(&url, "an empty page links to a next one"));
            }
            if reading.pages >= reading.allowed {
                return Err(protocol(
                    &url,
                    &format!(
                        "the listing goes on past {} pages, more than its count of {} needs",
                        reading.pages, reading.first_count
                    ),
                ));
            }
            reading.within_bytes(&url)?;
            let next = self.follow(&url, next)?;
            if reading.pages == 1
                && pages == Pages::Concurrent
                && let Some(plan) = PagePlan::new(first, &next, reading.served, count)
            {
                // Page 1 is handed over once the other pages are asked for.
                reading.take(results);
                return self.read_rest(endpoint, plan, reading, on_page).await;
            }
            on_page(&results);
            reading.take(results);
            if !visited.insert(next.to_string()) {
                return Err(protocol(
                    &next,
                    "the next link points back to a page already read",
                ));
            }
            url = next;
            if !self.may_be_capped(endpoint) {
                (page, bytes) = self.fetch_page(endpoint, &url).await?;
                continue;
            }
            let at = cap::offset(&url).unwrap_or(reading.received);
            if self
                .caps
                .refused_at(first)
                .is_some_and(|refused| at >= refused)
            {
                debug!(url = %url, offset = at, "the Hub refused anonymous requests this far into the listing before; it ends here");
                return Ok(reading.cut(count));
            }
            match self
                .get_or_status(endpoint, &url, &[StatusCode::FORBIDDEN])
                .await?
            {
                Ok(body) => (page, bytes) = (self.decode_page(&url, &body)?, body.len()),
                Err(refused) => {
                    debug!(url = %url, offset = at, said = self.said(&refused.body).as_deref().unwrap_or(""), "the Hub stopped the anonymous listing");
                    self.caps.note(first, at);
                    return Ok(reading.cut(count));
                }
            }
        }
    }

    /// Whether a listing of `endpoint` may be cut short: tag listings read anonymously, which
    /// the Hub stops at offset 1,000 (see `cap`). Any other listing the Hub refuses is a
    /// failure: a repository listing cut short would leave repositories unknown.
    fn may_be_capped(&self, endpoint: Endpoint) -> bool {
        endpoint == Endpoint::Tags && self.credentials.is_none()
    }

    /// Reads pages 2 to the last of `plan` at once, at most `--hub.concurrency` in flight,
    /// after page 1 gathered into `reading`; whole only when every page came, each counting
    /// what page 1 counted, each but the last linking on, the last linking nowhere, and the
    /// distinct items adding up to that count.
    ///
    /// A page read (page 1 included) is handed to `on_page` only once the pages asked for
    /// meanwhile are waiting for the pacer, whose slots go first come, first served: the
    /// listing's own pages go before the tag listings the caller starts on what it is
    /// handed, so that the whole listing (or its failure) is known early.
    async fn read_rest<T: Item>(
        &self,
        endpoint: Endpoint,
        plan: PagePlan,
        mut reading: Reading<T>,
        on_page: &mut (impl FnMut(&[T]) + Send),
    ) -> Result<Read<T>> {
        debug!(url = %plan.second, pages = plan.last, "reading the listing's other pages at once");
        let mut in_flight: Vec<Pin<Box<dyn Future<Output = Fetched<T>> + Send + '_>>> = Vec::new();
        // Pages answered and not yet looked at.
        let mut answered: VecDeque<Fetched<T>> = VecDeque::new();
        let mut asked = 1u64;
        // Pages arrive in any order; they are kept by number so that the listing is put
        // together in page order, as a read page by page would have it.
        let mut arrived: BTreeMap<u64, Vec<T>> = BTreeMap::new();
        // Pages read and not yet handed over; page 1's items are those `reading` holds.
        let mut to_hand_over: Vec<u64> = vec![1];
        // Why the pages do not add up, once one shows it; no further page is asked for then.
        let mut inconsistent: Option<String> = None;
        let mut failed: Option<Error> = None;
        loop {
            // Pages answered and not yet looked at count too: one of them may end the read,
            // and a page asked for meanwhile would be a request beyond it.
            while failed.is_none()
                && inconsistent.is_none()
                && asked < plan.last
                && in_flight.len() + answered.len() < self.concurrency
            {
                asked += 1;
                let (number, url) = (asked, plan.url(asked));
                in_flight.push(Box::pin(async move {
                    let fetched = self.fetch_page_unless_gone(endpoint, &url).await;
                    (number, url, fetched)
                }));
            }
            // A failure ends the read, but only once the pages in flight are answered, so
            // that every request sent is also counted.
            let ready = std::future::poll_fn(|cx| {
                poll_all(&mut in_flight, &mut answered, cx);
                for number in to_hand_over.drain(..) {
                    match number {
                        1 => on_page(&reading.items),
                        n => on_page(arrived.get(&n).map_or(&[][..], Vec::as_slice)),
                    }
                }
                match answered.pop_front() {
                    Some(page) => Poll::Ready(Some(page)),
                    None if in_flight.is_empty() => Poll::Ready(None),
                    None => Poll::Pending,
                }
            })
            .await;
            let Some((number, url, fetched)) = ready else {
                break;
            };
            if failed.is_some() {
                continue;
            }
            let (mut page, bytes) = match fetched {
                Err(e) => {
                    failed = Some(e);
                    continue;
                }
                Ok(None) => {
                    inconsistent.get_or_insert_with(|| {
                        format!("page {number} of {} was gone (404)", plan.last)
                    });
                    continue;
                }
                Ok(Some(fetched)) => fetched,
            };
            reading.counted(bytes);
            debug!(url = %url, items = page.results.len(), count = page.count, "page read");
            let next = page.next.take();
            match next.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
                Some(_) if page.results.is_empty() => {
                    failed = Some(protocol(&url, "an empty page links to a next one"));
                    continue;
                }
                // Never followed, but refused as if it were, as a page read in turn would be:
                // past the bytes a listing may take, or off the Hub's origin.
                Some(next) => {
                    if let Err(e) = reading
                        .within_bytes(&url)
                        .and_then(|()| self.follow(&url, next))
                    {
                        failed = Some(e);
                        continue;
                    }
                    if number == plan.last {
                        inconsistent.get_or_insert_with(|| {
                            format!("page {number}, the last of {}, links to another", plan.last)
                        });
                    }
                }
                None if number < plan.last => {
                    inconsistent.get_or_insert_with(|| {
                        format!("page {number} of {} links to no next one", plan.last)
                    });
                }
                None => {}
            }
            if page.count != reading.first_count {
                inconsistent.get_or_insert_with(|| {
                    format!(
                        "page {number} counted {}, the first page {}",
                        page.count, reading.first_count
                    )
                });
            }
            arrived.insert(number, std::mem::take(&mut page.results));
            to_hand_over.push(number);
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if let Some(why) = inconsistent {
            return Ok(Read::Inconsistent(why));
        }
        for results in arrived.into_values() {
            reading.take(results);
        }
        let count = reading.first_count;
        Ok(reading.end(count))
    }

    /// One page, decoded, and the bytes of its body.
    async fn fetch_page<T: Item>(&self, endpoint: Endpoint, url: &Url) -> Result<(Page<T>, usize)> {
        let body = self.get(endpoint, url).await?;
        Ok((self.decode_page(url, &body)?, body.len()))
    }

    /// [`Client::fetch_page`] of a page asked for out of turn: `None` when the Hub answers
    /// 404, as it does past the last page of a listing that shrank since its first page.
    async fn fetch_page_unless_gone<T: Item>(
        &self,
        endpoint: Endpoint,
        url: &Url,
    ) -> Result<Option<(Page<T>, usize)>> {
        match self
            .get_or_status(endpoint, url, &[StatusCode::NOT_FOUND])
            .await?
        {
            Ok(body) => Ok(Some((self.decode_page(url, &body)?, body.len()))),
            Err(_) => Ok(None),
        }
    }

    fn decode_page<T: Item>(&self, url: &Url, body: &[u8]) -> Result<Page<T>> {
        Page::decode(body).map_err(|reason| Error::Decode {
            url: url.to_string(),
            reason: quote(&reason, self.secret()),
        })
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

/// Polls every one of `futures` once, moving the outputs of those that are ready, removed
/// from them, to `ready`. Polling them all in turn suits the few (at most
/// `--hub.concurrency`) pages of one listing in flight, and queues each one just made for the
/// pacer on its first poll.
fn poll_all<F: Future + Unpin>(
    futures: &mut Vec<F>,
    ready: &mut VecDeque<F::Output>,
    cx: &mut std::task::Context<'_>,
) {
    let mut i = 0;
    while i < futures.len() {
        match Pin::new(&mut futures[i]).poll(cx) {
            Poll::Ready(output) => {
                // The last one moves to `i`, and is polled next.
                drop(futures.swap_remove(i));
                ready.push_back(output);
            }
            Poll::Pending => i += 1,
        }
    }
}

fn protocol(url: &Url, reason: &str) -> Error {
    Error::Protocol {
        url: url.to_string(),
        reason: reason.to_string(),
    }
}

#[cfg(test)]
mod capped;
#[cfg(test)]
mod tests;
