//! The inventory as a listing: a table aligned for a terminal ([`table`]), one JSON document
//! ([`json`]) and CSV ([`csv`]).
//!
//! Each is written to its writer as the snapshot is walked, so that a large inventory is never
//! held a second time, as a document or as text: 100,000 tags stream out as they are read.
//! Namespaces, repositories and tags come in name order, the snapshot's own; only the tags the
//! tag selection (`--filter.tag*`, a repository's own pattern) chooses are listed. Times are
//! RFC 3339 in UTC. A repository whose tags have never been listed has `"tags": null` in JSON,
//! `?` tags in the table and no rows in CSV. What each format holds is documented for users in
//! `docs/inventory-command.md`; the tests here pin it.
//!
//! It does not decide what the snapshot holds, nor where the text goes.

use std::io::{self, Write};

use super::format::{platform, rfc3339, rfc3339_micros};
use crate::inventory::{Image, Namespace, Repository, Snapshot, Tag, TagSelection};
use crate::visible::{Visible, is_hidden};
use serde::ser::{Serialize, SerializeStruct, Serializer};

/// The widest the table gets, in characters: each row fits on one line of a terminal 100
/// columns wide.
pub(crate) const TABLE_WIDTH: usize = 100;

/// Space between two columns of the table.
const GAP: &str = "  ";

/// Ends a cut cell of the table.
const CUT: char = '…';

/// The columns of the CSV, in order.
const CSV_HEADER: [&str; 8] = [
    "namespace",
    "repository",
    "tag",
    "digest",
    "last_pushed",
    "last_pulled",
    "size",
    "platforms",
];

/// The tags of `repository` (in `namespace`) that `selection` chooses, in name order; `None`
/// while its tags have never been listed.
fn chosen<'a>(
    namespace: &'a str,
    repository: &'a Repository,
    selection: &'a TagSelection,
) -> Option<impl Iterator<Item = &'a Tag> + 'a> {
    let tags = repository.tags.as_deref()?;
    Some(
        tags.iter()
            .filter(move |t| selection.matches(namespace, &repository.name, &t.name)),
    )
}

/// The string, or `None` when it is empty (the Hub gave none).
fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Writes the inventory as one JSON document:
/// `{"namespaces": [{"name", "repositories": [{"name", "private", "pull_count", "star_count",
/// "last_updated", "tags": [{"name", "digest", "size", "last_pushed", "last_pulled",
/// "images": [{"os", "architecture", "variant", "digest", "size"}]}]}]}]}`, then a newline.
pub(crate) fn json(
    snapshot: &Snapshot,
    selection: &TagSelection,
    mut out: impl Write,
) -> io::Result<()> {
    let document = Document {
        snapshot,
        selection,
    };
    // `io::Error::from` gives back the writer's own error (a closed pipe, a full disk).
    serde_json::to_writer(&mut out, &document).map_err(io::Error::from)?;
    out.write_all(b"\n")
}

/// A sequence serialized from the iterator `0` makes, element by element.
struct Seq<F>(F);

impl<F, I> Serialize for Seq<F>
where
    F: Fn() -> I,
    I: IntoIterator,
    I::Item: Serialize,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq((self.0)())
    }
}

/// The whole document.
struct Document<'a> {
    snapshot: &'a Snapshot,
    selection: &'a TagSelection,
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut document = serializer.serialize_struct("Inventory", 1)?;
        let namespaces = Seq(|| {
            self.snapshot
                .namespaces
                .iter()
                .map(|(name, namespace)| NamespaceJson {
                    name,
                    namespace,
                    selection: self.selection,
                })
        });
        document.serialize_field("namespaces", &namespaces)?;
        document.end()
    }
}

/// One namespace and its repositories.
struct NamespaceJson<'a> {
    name: &'a str,
    namespace: &'a Namespace,
    selection: &'a TagSelection,
}

impl Serialize for NamespaceJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut namespace = serializer.serialize_struct("Namespace", 2)?;
        namespace.serialize_field("name", self.name)?;
        let repositories = Seq(|| {
            self.namespace
                .repositories
                .values()
                .map(|repository| RepositoryJson {
                    namespace: self.name,
                    repository,
                    selection: self.selection,
                })
        });
        namespace.serialize_field("repositories", &repositories)?;
        namespace.end()
    }
}

/// One repository and its chosen tags.
struct RepositoryJson<'a> {
    namespace: &'a str,
    repository: &'a Repository,
    selection: &'a TagSelection,
}

impl Serialize for RepositoryJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let repository = self.repository;
        let info = &repository.info;
        let mut json = serializer.serialize_struct("Repository", 6)?;
        json.serialize_field("name", &repository.name)?;
        json.serialize_field("private", &info.private)?;
        json.serialize_field("pull_count", &info.pull_count)?;
        json.serialize_field("star_count", &info.star_count)?;
        json.serialize_field("last_updated", &info.last_updated.and_then(rfc3339_micros))?;
        let tags = repository.tags.is_some().then_some({
            Seq(|| {
                chosen(self.namespace, repository, self.selection)
                    .into_iter()
                    .flatten()
                    .map(TagJson)
            })
        });
        json.serialize_field("tags", &tags)?;
        json.end()
    }
}

/// One tag and its platform images.
struct TagJson<'a>(&'a Tag);

impl Serialize for TagJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tag = self.0;
        let mut json = serializer.serialize_struct("Tag", 6)?;
        json.serialize_field("name", &tag.name)?;
        json.serialize_field("digest", &non_empty(&tag.digest))?;
        json.serialize_field("size", &tag.full_size)?;
        json.serialize_field("last_pushed", &tag.last_pushed.and_then(rfc3339_micros))?;
        json.serialize_field("last_pulled", &tag.last_pulled.and_then(rfc3339_micros))?;
        json.serialize_field("images", &Seq(|| tag.images.iter().map(ImageJson::of)))?;
        json.end()
    }
}

/// One platform image.
#[derive(serde::Serialize)]
struct ImageJson<'a> {
    os: &'a str,
    architecture: &'a str,
    variant: Option<&'a str>,
    digest: Option<&'a str>,
    size: Option<u64>,
}

impl<'a> ImageJson<'a> {
    fn of(image: &'a Image) -> ImageJson<'a> {
        ImageJson {
            os: &image.os,
            architecture: &image.architecture,
            variant: non_empty(&image.variant),
            digest: non_empty(&image.digest),
            size: image.size,
        }
    }
}

/// Writes the inventory as CSV (RFC 4180: a header row, fields quoted where they hold a comma,
/// a double quote, CR or LF, quotes doubled, rows ended by CRLF), one row per chosen tag. A
/// field holding a control character (CR and LF among them) or a bidirectional override is
/// quoted too, and those characters are escaped as in the table (`\u{202e}`). The columns:
/// namespace, repository, tag, digest, last_pushed, last_pulled, size (the tag's, in bytes)
/// and platforms (`os/architecture[/variant]`, separated by spaces). An unknown value is an
/// empty field.
pub(crate) fn csv(
    snapshot: &Snapshot,
    selection: &TagSelection,
    mut out: impl Write,
) -> io::Result<()> {
    write_record(&mut out, CSV_HEADER)?;
    for (namespace, repository) in snapshot.repositories() {
        for tag in chosen(namespace, repository, selection)
            .into_iter()
            .flatten()
        {
            let pushed = tag.last_pushed.and_then(rfc3339_micros).unwrap_or_default();
            let pulled = tag.last_pulled.and_then(rfc3339_micros).unwrap_or_default();
            let size = tag.full_size.map(|s| s.to_string()).unwrap_or_default();
            let platforms = tag.images.iter().map(platform).collect::<Vec<_>>();
            write_record(
                &mut out,
                [
                    namespace,
                    &repository.name,
                    &tag.name,
                    &tag.digest,
                    &pushed,
                    &pulled,
                    &size,
                    &platforms.join(" "),
                ],
            )?;
        }
    }
    Ok(())
}

/// One CSV row.
fn write_record<'a>(
    out: &mut impl Write,
    fields: impl IntoIterator<Item = &'a str>,
) -> io::Result<()> {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        let hidden = field.chars().any(is_hidden);
        if hidden || field.contains([',', '"']) {
            let shown = match hidden {
                true => Visible(field).to_string(),
                false => field.to_string(),
            };
            out.write_all(b"\"")?;
            out.write_all(shown.replace('"', "\"\"").as_bytes())?;
            out.write_all(b"\"")?;
        } else {
            out.write_all(field.as_bytes())?;
        }
    }
    out.write_all(b"\r\n")
}

/// Writes the inventory as a table aligned for a terminal, a line per repository: namespace,
/// repository, the number of chosen tags (`?` while its tags have never been listed), the
/// most recently pushed of them and when it was pushed. No line is wider than
/// [`TABLE_WIDTH`] characters: the widest text columns give way first, and a cell cut short
/// ends in `…`. Control characters, which would break the line, and bidirectional overrides,
/// which would reorder it, show escaped (`\u{202e}`).
pub(crate) fn table(
    snapshot: &Snapshot,
    selection: &TagSelection,
    mut out: impl Write,
) -> io::Result<()> {
    let header = [
        "NAMESPACE".to_string(),
        "REPOSITORY".to_string(),
        "TAGS".to_string(),
        "NEWEST TAG".to_string(),
        "LAST PUSHED".to_string(),
    ];
    let rows: Vec<[String; 5]> = snapshot
        .repositories()
        .map(|(namespace, repository)| row(namespace, repository, selection))
        .collect();
    let mut widths = [0usize; 5];
    for cells in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // The text columns share what the others leave; the widest gives way first.
    let fixed = widths[2] + widths[4] + GAP.len() * (widths.len() - 1);
    let mut text = [widths[0], widths[1], widths[3]];
    fit(&mut text, TABLE_WIDTH.saturating_sub(fixed));
    [widths[0], widths[1], widths[3]] = text;
    for cells in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in cells.iter().zip(widths).enumerate() {
            if i > 0 {
                line.push_str(GAP);
            }
            let cell = cut(cell, width);
            let pad = " ".repeat(width.saturating_sub(cell.chars().count()));
            // Counts are right-aligned, text left-aligned.
            if i == 2 {
                line.push_str(&pad);
                line.push_str(&cell);
            } else {
                line.push_str(&cell);
                line.push_str(&pad);
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// The cells of one repository's line.
fn row(namespace: &str, repository: &Repository, selection: &TagSelection) -> [String; 5] {
    let (count, newest) = match chosen(namespace, repository, selection) {
        None => ("?".to_string(), None),
        Some(tags) => {
            let mut count = 0usize;
            let mut newest: Option<&Tag> = None;
            for tag in tags {
                count += 1;
                // The latest push wins; a tag never pushed never does.
                if tag.last_pushed.is_some()
                    && newest.is_none_or(|n| tag.last_pushed > n.last_pushed)
                {
                    newest = Some(tag);
                }
            }
            (count.to_string(), newest)
        }
    };
    [
        printable(namespace),
        printable(&repository.name),
        count,
        newest.map(|t| printable(&t.name)).unwrap_or_default(),
        newest
            .and_then(|t| t.last_pushed)
            .and_then(rfc3339)
            .unwrap_or_default(),
    ]
}

/// The text with its control characters and bidirectional overrides escaped (see
/// [`crate::visible`]), so that it stays on its line and in its order.
fn printable(text: &str) -> String {
    Visible(text).to_string()
}

/// Narrows the widest of `widths` one character at a time until they add up to `budget` at
/// most, none below one character.
fn fit(widths: &mut [usize], budget: usize) {
    while widths.iter().sum::<usize>() > budget {
        let Some(widest) = widths.iter_mut().max() else {
            return;
        };
        if *widest <= 1 {
            return;
        }
        *widest -= 1;
    }
}

/// `cell` cut to `width` characters, its last one `…` when it was cut.
fn cut(cell: &str, width: usize) -> String {
    if cell.chars().count() <= width {
        return cell.to_string();
    }
    let mut cut: String = cell.chars().take(width.saturating_sub(1)).collect();
    cut.push(CUT);
    cut
}

#[cfg(test)]
mod tests;
