//! A repository's page at `/repositories/<namespace>/<repository>`: its details and its tags,
//! newest first, [`PAGE_SIZE`] a page (`?page=N`, from 1), each marked where a mirror of its
//! namespace lacks it or holds it at another digest.

use super::Html;
use crate::inventory::{Repository, Tag};
use crate::publication::Published;
use crate::views::{Mirror, Mismatch};

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
    mirrors: &[Mirror],
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
    // The mirrors that compare this repository; a column only when there are some.
    let mirrors: Vec<&Mirror> = mirrors
        .iter()
        .filter(|m| m.hub_namespace == namespace && m.repositories.contains(name))
        .collect();
    html.pager(page, pages, tags.len(), PAGE_SIZE, "tags");
    html.raw(concat!(
        "<table id=\"tags\">\n<thead><tr><th>Tag</th><th>Digest</th><th>Platforms</th>",
        "<th class=\"n\">Size</th><th>Last pushed</th><th>Last pulled</th>"
    ));
    if !mirrors.is_empty() {
        html.raw("<th>Mirrors</th>");
    }
    html.raw("</tr></thead>\n<tbody>\n");
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
        if !mirrors.is_empty() {
            mirror_cell(&mut html, &mirrors, name, &tag.name);
        }
        html.raw("</tr>\n");
    }
    html.raw("</tbody>\n</table>\n");
    html.pager(page, pages, tags.len(), PAGE_SIZE, "tags");
    Some(html.finish())
}

/// Where `tag` of the repository `name` is out of sync on `mirrors` (those of its
/// namespace): `missing on M`, `another digest on M`; else in sync.
fn mirror_cell(html: &mut Html, mirrors: &[&Mirror], name: &str, tag: &str) {
    let key = (name.to_string(), tag.to_string());
    let off: Vec<(&str, Mismatch)> = mirrors
        .iter()
        .filter_map(|m| Some((m.mirror.as_str(), *m.mismatches.get(&key)?)))
        .collect();
    if off.is_empty() {
        html.raw("<td class=\"muted\">in sync</td>");
        return;
    }
    html.raw("<td>");
    for (i, (mirror, why)) in off.iter().enumerate() {
        if i > 0 {
            html.raw("; ");
        }
        let (class, what) = match why {
            Mismatch::Missing => ("removed", "missing on "),
            Mismatch::Digest => ("moved", "another digest on "),
        };
        html.raw("<span class=\"");
        html.raw(class);
        html.raw("\">");
        html.text(what);
        html.text(mirror);
        html.raw("</span>");
    }
    html.raw("</td>");
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
