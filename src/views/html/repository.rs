//! A repository's page at `/repositories/<namespace>/<repository>`: its details and its tags,
//! newest first, [`PAGE_SIZE`] a page (`?page=N`, from 1).

use super::Html;
use crate::inventory::{Repository, Tag};
use crate::publication::Published;

/// Tags on one page.
pub(crate) const PAGE_SIZE: usize = 100;

/// The way back to `/` from `/repositories/<namespace>/<repository>`.
const ROOT: &str = "../../";

/// Page `page` (from 1) of the repository's tags; `None` when the repository is not in the
/// inventory or the page is past the last (a repository without tags has a page 1).
pub(crate) fn repository(
    published: &Published,
    namespace: &str,
    name: &str,
    page: usize,
    metrics_path: &str,
) -> Option<String> {
    let repo = published
        .snapshot
        .namespaces
        .get(namespace)?
        .repositories
        .get(name)?;
    let tags: &[Tag] = repo.tags.as_deref().unwrap_or_default();
    let pages = super::pages(tags.len(), PAGE_SIZE, page)?;
    let mut html = Html::start(&format!("{namespace}/{name}"), ROOT, metrics_path);
    html.raw("<p><a href=\"");
    html.attr(ROOT);
    html.raw("\">All repositories</a></p>\n<h2>");
    html.text(namespace);
    html.raw("/");
    html.text(name);
    html.raw("</h2>\n");
    details(&mut html, repo);
    let Some(_) = &repo.tags else {
        html.raw("<p class=\"muted\">Its tags have not been listed yet.</p>\n");
        return Some(html.finish());
    };
    let newest_first = newest_first(tags);
    let shown = newest_first
        .iter()
        .skip((page - 1) * PAGE_SIZE)
        .take(PAGE_SIZE);
    html.pager(page, pages, tags.len(), PAGE_SIZE, "tags");
    html.raw(concat!(
        "<table id=\"tags\">\n<thead><tr><th>Tag</th><th>Digest</th><th>Platforms</th>",
        "<th class=\"n\">Size</th><th>Last pushed</th><th>Last pulled</th></tr></thead>\n<tbody>\n"
    ));
    for tag in shown {
        html.raw("<tr>");
        html.cell("", &tag.name);
        html.digest_cell(Some(&tag.digest));
        html.cell("", &platforms(tag));
        match tag.full_size {
            Some(bytes) => html.cell("n", &crate::views::format::size(bytes)),
            None => html.raw("<td class=\"n muted\">–</td>"),
        }
        html.time_cell(tag.last_pushed);
        html.time_cell(tag.last_pulled);
        html.raw("</tr>\n");
    }
    html.raw("</tbody>\n</table>\n");
    html.pager(page, pages, tags.len(), PAGE_SIZE, "tags");
    Some(html.finish())
}

fn details(html: &mut Html, repo: &Repository) {
    html.raw("<dl>\n<dt>Tags</dt><dd>");
    match (&repo.tags, repo.counted) {
        (Some(tags), Some(count)) => {
            html.text(&crate::views::format::listed_of(tags.len(), count));
            html.raw(
                " <span class=\"muted\">(the Hub lists only the newest tags to anonymous requests; those below are the newest, the others have no series and no change counts; sign in with --hub.username to list them all)</span>",
            );
        }
        (Some(tags), None) => html.text(&tags.len().to_string()),
        (None, _) => html.raw("<span class=\"muted\">not listed yet</span>"),
    }
    html.raw("</dd>\n<dt>Private</dt><dd>");
    html.raw(if repo.info.private { "yes" } else { "no" });
    html.raw("</dd>\n<dt>Last updated</dt><dd>");
    html.text(
        &repo
            .info
            .last_updated
            .and_then(crate::views::rfc3339)
            .unwrap_or_else(|| "–".into()),
    );
    html.raw("</dd>\n<dt>Pulls</dt><dd>");
    html.text(&repo.info.pull_count.to_string());
    html.raw("</dd>\n<dt>Stars</dt><dd>");
    html.text(&repo.info.star_count.to_string());
    html.raw("</dd>\n</dl>\n");
}

/// The tags, most recently pushed first; tags never pushed (no time) last, then by name.
fn newest_first(tags: &[Tag]) -> Vec<&Tag> {
    let mut sorted: Vec<&Tag> = tags.iter().collect();
    sorted.sort_by(|a, b| {
        let pushed = |t: &Tag| t.last_pushed.unwrap_or(f64::NEG_INFINITY);
        pushed(b)
            .total_cmp(&pushed(a))
            .then_with(|| a.name.cmp(&b.name))
    });
    sorted
}

/// `linux/amd64, linux/arm64/v8`, or a dash.
fn platforms(tag: &Tag) -> String {
    if tag.images.is_empty() {
        return "–".into();
    }
    let names: Vec<String> = tag
        .images
        .iter()
        .map(crate::views::format::platform)
        .collect();
    names.join(", ")
}
