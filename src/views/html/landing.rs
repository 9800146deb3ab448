//! The landing page at `/`: the exporter's status, the mirrors, the recent changes and every
//! repository.

use std::time::{Duration, SystemTime};

use super::{Html, repository_link};
use crate::changes::{Entry, Kind};
use crate::publication::{Published, RefreshResult, unix_seconds};
use crate::version;
use crate::views::{Mirror, Mismatch, Pulls, Quotas};

/// What the landing page shows beside the published inventory.
pub(crate) struct Context<'a> {
    /// The namespaces inventoried (`--hub.namespace`).
    pub(crate) namespaces: &'a [String],
    /// The repositories inventoried on their own (`--hub.repository`), as `namespace/name`.
    pub(crate) repositories: &'a [String],
    /// `--refresh.interval`, from the start of one refresh to the start of the next.
    pub(crate) refresh_interval: Duration,
    /// The metrics endpoint's path (`--web.telemetry-path`).
    pub(crate) metrics_path: &'a str,
    /// The quotas as last seen.
    pub(crate) quotas: Quotas,
    /// The mirrors (`--mirror`) as their checks last found them.
    pub(crate) mirrors: &'a [Mirror],
}

/// Repositories listed on one page; an organisation with more is listed over several.
pub(crate) const REPOSITORIES_PAGE_SIZE: usize = 1000;

/// The landing page, with page `page` (from 1) of the repositories; `None` past the last.
pub(crate) fn landing(published: &Published, context: &Context<'_>, page: usize) -> Option<String> {
    let count = published.snapshot.repositories().count();
    let pages = super::pages(count, REPOSITORIES_PAGE_SIZE, page)?;
    let mut html = Html::start("dockerhub_exporter", "./", context.metrics_path);
    status(&mut html, published, context);
    mirrors(&mut html, context.mirrors);
    recent_changes(&mut html, published.changes.entries());
    html.raw("<section id=\"repositories\">\n<h2>Repositories</h2>\n");
    if count == 0 {
        html.raw("<p class=\"muted\">None known yet.</p>\n");
    } else {
        html.pager(page, pages, count, REPOSITORIES_PAGE_SIZE, "repositories");
        repositories(&mut html, published, page);
        html.pager(page, pages, count, REPOSITORIES_PAGE_SIZE, "repositories");
    }
    html.raw("</section>\n");
    Some(html.finish())
}

fn status(page: &mut Html, published: &Published, context: &Context<'_>) {
    page.raw("<section id=\"status\">\n<h2>Status</h2>\n<dl>\n<dt>Version</dt><dd>");
    page.text(version::VERSION);
    page.raw(" <span class=\"muted\">(revision ");
    // A commit's first 12 digits name it, as `git log --abbrev=12` does.
    page.text(version::REVISION.get(..12).unwrap_or(version::REVISION));
    page.raw(")</span></dd>\n<dt>Namespaces</dt><dd>");
    list(page, context.namespaces);
    page.raw("</dd>\n<dt>Watched repositories</dt><dd>");
    list(page, context.repositories);
    page.raw("</dd>\n<dt>Inventory</dt><dd>");
    let snapshot = &published.snapshot;
    page.fmt(format_args!(
        "{} repositories, {} tags",
        snapshot.repositories().count(),
        snapshot.tag_count()
    ));
    page.raw("</dd>\n<dt>Last refresh</dt><dd>");
    match &published.last_refresh {
        Some(r) => {
            page.text(&time(r.finished));
            page.raw(", <span class=\"");
            page.raw(match r.result {
                RefreshResult::Success => "added",
                RefreshResult::Partial => "moved",
                RefreshResult::Failure => "removed",
            });
            page.raw("\">");
            page.text(r.result.as_str());
            page.raw("</span>, ");
            page.fmt(format_args!(
                "took {:.1} s, {} requests",
                r.duration.as_secs_f64(),
                r.requests
            ));
        }
        None => page.raw("none finished yet: the first is running"),
    }
    page.raw("</dd>\n<dt>Last successful refresh</dt><dd>");
    match published.last_success {
        Some(t) => page.text(&time(t)),
        None => page.raw("none yet"),
    }
    page.raw("</dd>\n<dt>Next refresh</dt><dd>");
    match &published.last_refresh {
        Some(r) => {
            // Refreshes start an interval apart, or at once after one that took longer.
            let started = r.finished.checked_sub(r.duration).unwrap_or(r.finished);
            match started.checked_add(context.refresh_interval) {
                Some(next) => page.text(&time(next.max(r.finished))),
                None => page.raw("not in this era"),
            }
        }
        None => page.raw("after the first one"),
    }
    page.raw("</dd>\n<dt>dockerhub_up</dt><dd>");
    let up = published
        .last_refresh
        .is_some_and(|r| r.result == RefreshResult::Success);
    page.raw(if up { "1" } else { "0" });
    page.raw("</dd>\n<dt>Hub rate limit</dt><dd>");
    match (
        context.quotas.rate_limit_remaining,
        context.quotas.rate_limit_limit,
    ) {
        (Some(remaining), Some(limit)) => {
            page.fmt(format_args!("{remaining} of {limit} requests left"))
        }
        (Some(remaining), None) => page.fmt(format_args!("{remaining} requests left")),
        _ => page.raw("<span class=\"muted\">not announced by the Hub yet</span>"),
    }
    page.raw("</dd>\n<dt>Pull quota</dt><dd>");
    if context.quotas.pulls.is_empty() {
        page.raw("<span class=\"muted\">not known (see --pull-limit.interval)</span>");
    }
    for (i, pull) in context.quotas.pulls.iter().enumerate() {
        if i > 0 {
            page.raw("; ");
        }
        page.text(&pull.account);
        page.raw(": ");
        match pull.pulls {
            Pulls::Limited {
                remaining: Some(remaining),
                limit: Some(limit),
            } => page.fmt(format_args!("{remaining} of {limit} pulls left")),
            Pulls::Limited {
                remaining: Some(remaining),
                limit: None,
            } => page.fmt(format_args!("{remaining} pulls left")),
            Pulls::Limited {
                remaining: None, ..
            } => page.raw("limited; the registry did not say how many pulls are left"),
            Pulls::Unlimited => page.raw("no limit"),
        }
    }
    page.raw("</dd>\n</dl>\n</section>\n");
}

/// Each mirror: in sync, or how many of its tags differ, and its last successful check;
/// nothing without mirrors.
fn mirrors(page: &mut Html, mirrors: &[Mirror]) {
    if mirrors.is_empty() {
        return;
    }
    page.raw(concat!(
        "<section id=\"mirrors\">\n<h2>Mirrors</h2>\n<table>\n<thead><tr><th>Mirror</th>",
        "<th>Hub namespace</th><th>State</th><th>Last successful check</th></tr></thead>\n<tbody>\n"
    ));
    for m in mirrors {
        page.raw("<tr>");
        page.cell("", &m.mirror);
        page.cell("", &m.hub_namespace);
        let count = |which| m.mismatches.values().filter(|w| **w == which).count();
        let (missing, different) = (count(Mismatch::Missing), count(Mismatch::Digest));
        if m.repositories.is_empty() && m.last_success.is_none() {
            page.cell("muted", "not read yet");
        } else if missing + different == 0 {
            page.cell("added", &format!("in sync ({} tags)", m.tags));
        } else {
            page.cell(
                "removed",
                &format!(
                    "{} of {} tags differ: {missing} missing, {different} at another digest",
                    missing + different,
                    m.tags
                ),
            );
        }
        page.time_cell(m.last_success);
        page.raw("</tr>\n");
    }
    page.raw("</tbody>\n</table>\n</section>\n");
}

/// Names separated by commas, or a dash.
fn list(page: &mut Html, names: &[String]) {
    if names.is_empty() {
        page.raw("<span class=\"muted\">–</span>");
    }
    for (i, name) in names.iter().enumerate() {
        if i > 0 {
            page.raw(", ");
        }
        page.text(name);
    }
}

fn time(t: SystemTime) -> String {
    crate::views::rfc3339(unix_seconds(t)).unwrap_or_default()
}

fn recent_changes<'a>(page: &mut Html, entries: impl ExactSizeIterator<Item = &'a Entry>) {
    page.raw("<section id=\"changes\">\n<h2>Recent changes</h2>\n");
    if entries.len() == 0 {
        page.raw("<p class=\"muted\">No change seen yet. The first refresh only takes stock; changes show from the second on.</p>\n</section>\n");
        return;
    }
    page.raw(concat!(
        "<table>\n<thead><tr><th>Time</th><th>Change</th><th>Namespace</th><th>Repository</th>",
        "<th>Tag</th><th>Old digest</th><th>New digest</th></tr></thead>\n<tbody>\n"
    ));
    for e in entries {
        page.raw("<tr>");
        page.time_cell(Some(e.time));
        let (class, what) = match e.kind {
            Kind::TagAdded => ("added", "tag added"),
            Kind::TagRemoved => ("removed", "tag removed"),
            Kind::TagDigestChanged => ("moved", "digest changed"),
            Kind::RepositoryAdded => ("added", "repository added"),
            Kind::RepositoryRemoved => ("removed", "repository removed"),
        };
        page.cell(class, what);
        page.cell("", &e.namespace);
        page.raw("<td><a href=\"");
        page.attr(&repository_link(&e.namespace, &e.repository));
        page.raw("\">");
        page.text(&e.repository);
        page.raw("</a></td>");
        page.cell("", e.tag.as_deref().unwrap_or(""));
        page.digest_cell(e.old_digest.as_deref());
        page.digest_cell(e.new_digest.as_deref());
        page.raw("</tr>\n");
    }
    page.raw("</tbody>\n</table>\n</section>\n");
}

/// The table of page `page` of the repositories, by namespace and name.
fn repositories(html: &mut Html, published: &Published, page: usize) {
    html.raw(concat!(
        "<table>\n<thead><tr><th>Namespace</th><th>Repository</th><th class=\"n\">Tags</th>",
        "<th>Private</th><th>Last updated</th><th class=\"n\">Pulls</th></tr></thead>\n<tbody>\n"
    ));
    let shown = published
        .snapshot
        .repositories()
        .skip((page - 1) * REPOSITORIES_PAGE_SIZE)
        .take(REPOSITORIES_PAGE_SIZE);
    for (namespace, repo) in shown {
        html.raw("<tr>");
        html.cell("", namespace);
        html.raw("<td><a href=\"");
        html.attr(&repository_link(namespace, &repo.name));
        html.raw("\">");
        html.text(&repo.name);
        html.raw("</a></td>");
        match (&repo.tags, repo.counted) {
            (Some(tags), Some(count)) => {
                html.raw(
                    "<td class=\"n\" title=\"the Hub lists only the newest tags to anonymous requests\">",
                );
                html.text(&crate::views::format::listed_of(tags.len(), count));
                html.raw("</td>");
            }
            (Some(tags), None) => html.cell("n", &tags.len().to_string()),
            (None, _) => html.raw("<td class=\"n muted\" title=\"not listed yet\">?</td>"),
        }
        html.cell("", if repo.info.private { "yes" } else { "no" });
        html.time_cell(repo.info.last_updated);
        html.cell("n", &repo.info.pull_count.to_string());
        html.raw("</tr>\n");
    }
    html.raw("</tbody>\n</table>\n");
}
