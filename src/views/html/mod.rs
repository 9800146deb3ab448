//! The HTML pages: small, self-contained (one inline style sheet, no script, nothing fetched
//! from elsewhere, so they render offline), and cheap to build from the published snapshot.
//!
//! Every value that comes from the Hub goes through [`Html::text`] or [`Html::attr`], which
//! escape it; every link is relative, so the pages work behind a reverse proxy that serves
//! them under a path prefix.

mod landing;
mod repository;

pub(crate) use landing::{Context, landing};
pub(crate) use repository::repository;

use std::fmt::Write as _;

use crate::visible::{is_hidden, write_escape};

/// The style sheet of every page.
const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em auto;max-width:78em;\
padding:0 1em;color:#1d2125;background:#fff}h1{font-size:1.5em;margin:0}h2{font-size:1.15em;\
margin:1.6em 0 .5em}header{display:flex;gap:1.5em;align-items:baseline;flex-wrap:wrap;\
border-bottom:1px solid #d0d7de;padding-bottom:.5em}nav a{margin-right:1em}\
a{color:#0b5cad}table{border-collapse:collapse;width:100%;font-size:.92em}\
th,td{text-align:left;padding:.3em .6em;border-bottom:1px solid #e4e8eb;vertical-align:top}\
th{background:#f3f5f7}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}\
code{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:.9em}dl{display:grid;grid-template-columns:max-content auto;gap:.25em 1.2em}\
dt{font-weight:600}dd{margin:0}.added{color:#1a7f37}.removed{color:#cf222e}\
.moved{color:#9a6700}.muted{color:#636c76}.pages{margin:1em 0}.pages a,.pages span{margin-right:1em}";

/// A page being written.
pub(crate) struct Html(String);

impl Html {
    /// A page titled `title` (escaped), its header with the links to the other endpoints,
    /// which are relative to `root` (the way back to `/`: `./`, or `../../` from a
    /// repository's page).
    fn start(title: &str, root: &str, metrics_path: &str) -> Html {
        let mut page = Html(String::with_capacity(16 * 1024));
        page.raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        page.raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
        page.raw("<title>");
        page.text(title);
        page.raw("</title>\n<style>");
        page.raw(STYLE);
        page.raw("</style>\n</head>\n<body>\n<header><h1><a href=\"");
        page.attr(root);
        page.raw("\">dockerhub_exporter</a></h1>\n<nav><a href=\"");
        page.attr(&format!(
            "{root}{}",
            metrics_path.strip_prefix('/').unwrap_or(metrics_path)
        ));
        page.raw("\">Metrics</a><a href=\"");
        page.attr(&format!("{root}api/v1/changes"));
        page.raw("\">Changes as JSON</a><a href=\"");
        page.attr(&format!("{root}healthz"));
        page.raw("\">Health</a></nav></header>\n");
        page
    }

    /// The page, closed.
    fn finish(mut self) -> String {
        self.raw("</body>\n</html>\n");
        self.0
    }

    /// Markup, as it is.
    fn raw(&mut self, markup: &str) {
        self.0.push_str(markup);
    }

    /// Text, escaped for an element's content.
    fn text(&mut self, text: &str) {
        escape_into(&mut self.0, text);
    }

    /// Text, escaped for an attribute's value in double quotes.
    fn attr(&mut self, text: &str) {
        escape_into(&mut self.0, text);
    }

    /// Formatted text, escaped.
    fn fmt(&mut self, args: std::fmt::Arguments<'_>) {
        match args.as_str() {
            Some(s) => self.text(s),
            None => self.text(&args.to_string()),
        }
    }

    /// A cell holding `text`, escaped; `class` names its style.
    fn cell(&mut self, class: &str, text: &str) {
        if class.is_empty() {
            self.raw("<td>");
        } else {
            let _ = write!(self.0, "<td class=\"{class}\">");
        }
        self.text(text);
        self.raw("</td>");
    }

    /// A cell with a time (Unix seconds) in RFC 3339, or a dash.
    fn time_cell(&mut self, unix_seconds: Option<f64>) {
        match unix_seconds.and_then(super::rfc3339) {
            Some(t) => {
                self.raw("<td><time datetime=\"");
                self.attr(&t);
                self.raw("\">");
                self.text(&t);
                self.raw("</time></td>");
            }
            None => self.raw("<td class=\"muted\">–</td>"),
        }
    }

    /// A cell with a shortened digest, the whole digest as its tooltip; a dash for none.
    fn digest_cell(&mut self, digest: Option<&str>) {
        match digest.filter(|d| !d.is_empty()) {
            Some(d) => {
                self.raw("<td><code title=\"");
                self.attr(d);
                self.raw("\">");
                self.text(super::format::short_digest(d));
                self.raw("</code></td>");
            }
            None => self.raw("<td class=\"muted\">–</td>"),
        }
    }
}

/// How many pages `items` fill at `per_page` a page (at least one), when `page` (from 1) is
/// one of them.
fn pages(items: usize, per_page: usize, page: usize) -> Option<usize> {
    let pages = items.div_ceil(per_page).max(1);
    (1..=pages).contains(&page).then_some(pages)
}

impl Html {
    /// Where page `page` of `pages` is, with links to the first, previous, next and last;
    /// nothing when there is one page.
    fn pager(&mut self, page: usize, pages: usize, items: usize, per_page: usize, noun: &str) {
        if pages == 1 {
            return;
        }
        self.raw("<p class=\"pages\">");
        if page > 1 {
            let _ = write!(
                self.0,
                "<a href=\"?page=1\">First</a><a href=\"?page={}\" rel=\"prev\">Previous</a>",
                page - 1
            );
        }
        let first = (page - 1) * per_page + 1;
        let last = (page * per_page).min(items);
        self.raw("<span>");
        self.fmt(format_args!(
            "Page {page} of {pages}: {noun} {first}–{last} of {items}"
        ));
        self.raw("</span>");
        if page < pages {
            let _ = write!(
                self.0,
                "<a href=\"?page={}\" rel=\"next\">Next</a><a href=\"?page={pages}\">Last</a>",
                page + 1
            );
        }
        self.raw("</p>\n");
    }
}

/// Escapes `&`, `<`, `>`, `"` and `'`, which makes text safe in content and in quoted
/// attribute values alike, and shows control characters and bidirectional overrides as
/// visible escapes (`\u{202e}`, see [`crate::visible`]) instead of letting them act.
pub(crate) fn escape_into(out: &mut String, text: &str) {
    let mut rest = text;
    while let Some(i) =
        rest.find(|c: char| matches!(c, '&' | '<' | '>' | '"' | '\'') || is_hidden(c))
    {
        out.push_str(&rest[..i]);
        let c = rest[i..].chars().next().unwrap_or_default();
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => {
                let _ = write_escape(out, c);
            }
        }
        rest = &rest[i + c.len_utf8()..];
    }
    out.push_str(rest);
}

/// `text` percent-encoded for one segment of a URL path: everything but the unreserved
/// characters of RFC 3986 (letters, digits, `-`, `.`, `_`, `~`) as `%XX` of its UTF-8 bytes,
/// so a name with `/`, `?` or `#` stays one segment.
pub(crate) fn path_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    // `.` and `..` as segments would be resolved away by the browser.
    match out.as_str() {
        "." => "%2E".into(),
        ".." => "%2E%2E".into(),
        _ => out,
    }
}

/// The relative link from `/` to a repository's page.
fn repository_link(namespace: &str, repository: &str) -> String {
    format!(
        "./repositories/{}/{}",
        path_segment(namespace),
        path_segment(repository)
    )
}

#[cfg(test)]
mod properties;
#[cfg(test)]
mod tests;
