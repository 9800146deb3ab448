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
//! Given mirrors (`inventory --mirror`), each listing adds each tag's state on the mirrors of
//! its namespace: in sync, missing or at another digest (with the mirror's digest), or unknown
//! when the mirror could not be read for its repository; never missing for that. Without
//! mirrors the listings are exactly what they were before mirrors existed.
//!
//! It does not decide what the snapshot holds, nor where the text goes.

use std::io::{self, Write};

use super::Mirror;
use super::Mismatch;
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

/// A tag's state on one mirror: `in_sync`, `missing` or `digest` with the mirror's digest (if
/// it was read); `None` when the mirror could not be read for the tag's repository.
fn mirror_state<'a>(
    mirror: &'a Mirror,
    repository: &str,
    tag: &str,
) -> Option<(&'static str, Option<&'a str>)> {
    if !mirror.repositories.contains(repository) {
        return None;
    }
    let key = (repository.to_string(), tag.to_string());
    Some(match mirror.mismatches.get(&key) {
        None => ("in_sync", None),
        Some(Mismatch::Missing) => ("missing", None),
        Some(Mismatch::Digest) => ("digest", mirror.digests.get(&key).map(String::as_str)),
    })
}

/// The mirrors of `namespace`, in the order given.
fn mirrors_of<'a>(mirrors: &'a [Mirror], namespace: &'a str) -> impl Iterator<Item = &'a Mirror> {
    mirrors.iter().filter(move |m| m.hub_namespace == namespace)
}

/// The string, or `None` when it is empty (the Hub gave none).
fn non_empty(s: &str) -> Option<&str> {
    (!s.is_empty()).then_some(s)
}

/// Writes the inventory as one JSON document:
/// `{"namespaces": [{"name", "repositories": [{"name", "private", "pull_count", "star_count",
/// "last_updated", "tag_count", "tags_listed", "tags": [{"name", "digest", "size",
/// "last_pushed", "last_pulled", "images": [{"os", "architecture", "variant", "digest",
/// "size"}]}]}]}]}`, then a newline. `tag_count` is the Hub's count of the repository's tags,
/// `tags_listed` how many its listing held: fewer where the Hub stopped an anonymous listing
/// early. Given mirrors, each tag also has `"mirrors": [{"mirror", "state", "digest"}]`, one
/// entry per mirror of its namespace.
pub(crate) fn json(
    snapshot: &Snapshot,
    selection: &TagSelection,
    mirrors: &[Mirror],
    mut out: impl Write,
) -> io::Result<()> {
    let document = Document {
        snapshot,
        selection,
        mirrors,
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
    mirrors: &'a [Mirror],
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
                    mirrors: self.mirrors,
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
    mirrors: &'a [Mirror],
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
                    mirrors: self.mirrors,
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
    mirrors: &'a [Mirror],
}

impl Serialize for RepositoryJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let repository = self.repository;
        let info = &repository.info;
        let mut json = serializer.serialize_struct("Repository", 8)?;
        json.serialize_field("name", &repository.name)?;
        json.serialize_field("private", &info.private)?;
        json.serialize_field("pull_count", &info.pull_count)?;
        json.serialize_field("star_count", &info.star_count)?;
        json.serialize_field("last_updated", &info.last_updated.and_then(rfc3339_micros))?;
        json.serialize_field("tag_count", &repository.tag_count())?;
        json.serialize_field(
            "tags_listed",
            &repository.tags.as_ref().map(|t| t.len() as u64),
        )?;
        let tags = repository.tags.is_some().then_some({
            Seq(|| {
                chosen(self.namespace, repository, self.selection)
                    .into_iter()
                    .flatten()
                    .map(|tag| TagJson {
                        tag,
                        namespace: self.namespace,
                        repository: &repository.name,
                        mirrors: self.mirrors,
                    })
            })
        });
        json.serialize_field("tags", &tags)?;
        json.end()
    }
}

/// One tag, its platform images and, given mirrors, its state on those of its namespace.
struct TagJson<'a> {
    tag: &'a Tag,
    namespace: &'a str,
    repository: &'a str,
    mirrors: &'a [Mirror],
}

impl Serialize for TagJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let tag = self.tag;
        let mut json = serializer.serialize_struct("Tag", 7)?;
        json.serialize_field("name", &tag.name)?;
        json.serialize_field("digest", &non_empty(&tag.digest))?;
        json.serialize_field("size", &tag.full_size)?;
        json.serialize_field("last_pushed", &tag.last_pushed.and_then(rfc3339_micros))?;
        json.serialize_field("last_pulled", &tag.last_pulled.and_then(rfc3339_micros))?;
        json.serialize_field("images", &Seq(|| tag.images.iter().map(ImageJson::of)))?;
        if !self.mirrors.is_empty() {
            let mirrors = Seq(|| {
                mirrors_of(self.mirrors, self.namespace).map(|m| {
                    let state = mirror_state(m, self.repository, &tag.name);
                    MirrorJson {
                        mirror: &m.mirror,
                        state: state.map(|(s, _)| s),
                        digest: state.and_then(|(_, d)| d),
                    }
                })
            });
            json.serialize_field("mirrors", &mirrors)?;
        }
        json.end()
    }
}

/// A tag's state on one mirror.
#[derive(serde::Serialize)]
struct MirrorJson<'a> {
    mirror: &'a str,
    state: Option<&'static str>,
    digest: Option<&'a str>,
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
/// empty field. Given mirrors, two more columns for each mirror label, in the order given:
/// `mirror:LABEL` (`in_sync`, `missing` or `digest`) and `mirror_digest:LABEL` (the mirror's
/// digest of a tag at another digest), empty for a tag of a namespace it does not mirror or
/// of a repository it could not be read for.
pub(crate) fn csv(
    snapshot: &Snapshot,
    selection: &TagSelection,
    mirrors: &[Mirror],
    mut out: impl Write,
) -> io::Result<()> {
    // One pair of columns per label: two namespaces mirrored under one label share them.
    let mut labels: Vec<&str> = Vec::new();
    for m in mirrors {
        if !labels.contains(&m.mirror.as_str()) {
            labels.push(&m.mirror);
        }
    }
    let extra: Vec<String> = labels
        .iter()
        .flat_map(|l| [format!("mirror:{l}"), format!("mirror_digest:{l}")])
        .collect();
    write_record(
        &mut out,
        CSV_HEADER
            .into_iter()
            .chain(extra.iter().map(String::as_str)),
    )?;
    for (namespace, repository) in snapshot.repositories() {
        for tag in chosen(namespace, repository, selection)
            .into_iter()
            .flatten()
        {
            let pushed = tag.last_pushed.and_then(rfc3339_micros).unwrap_or_default();
            let pulled = tag.last_pulled.and_then(rfc3339_micros).unwrap_or_default();
            let size = tag.full_size.map(|s| s.to_string()).unwrap_or_default();
            let platforms = tag
                .images
                .iter()
                .map(platform)
                .collect::<Vec<_>>()
                .join(" ");
            let states = labels.iter().flat_map(|label| {
                let state = mirrors_of(mirrors, namespace)
                    .find(|m| m.mirror == *label)
                    .and_then(|m| mirror_state(m, &repository.name, &tag.name));
                [
                    state.map_or("", |(s, _)| s),
                    state.and_then(|(_, d)| d).unwrap_or_default(),
                ]
            });
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
                    &platforms,
                ]
                .into_iter()
                .chain(states),
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
/// repository, the number of chosen tags (`?` while its tags have never been listed; `N of
/// COUNT` where the Hub stopped the listing early and counts COUNT tags), the most recently
/// pushed of them and when it was pushed; given mirrors, a last column MIRRORS: `in sync`,
/// `N differ` (tags missing or at another digest on a mirror of its namespace), `?` when a
/// mirror could not be read for it, empty when no mirror has its namespace. No line is wider
/// than [`TABLE_WIDTH`] characters: the widest text columns give way first, and a cell cut
/// short ends in `…`. Control characters, which would break the line, and bidirectional
/// overrides, which would reorder it, show escaped (`\u{202e}`).
pub(crate) fn table(
    snapshot: &Snapshot,
    selection: &TagSelection,
    mirrors: &[Mirror],
    mut out: impl Write,
) -> io::Result<()> {
    let mut header: Vec<String> = [
        "NAMESPACE",
        "REPOSITORY",
        "TAGS",
        "NEWEST TAG",
        "LAST PUSHED",
    ]
    .map(String::from)
    .into();
    if !mirrors.is_empty() {
        header.push("MIRRORS".to_string());
    }
    let rows: Vec<Vec<String>> = snapshot
        .repositories()
        .map(|(namespace, repository)| {
            let mut cells = row(namespace, repository, selection).to_vec();
            if !mirrors.is_empty() {
                cells.push(mirror_marker(namespace, repository, selection, mirrors));
            }
            cells
        })
        .collect();
    let mut widths = vec![0usize; header.len()];
    for cells in std::iter::once(&header).chain(&rows) {
        for (width, cell) in widths.iter_mut().zip(cells) {
            *width = (*width).max(cell.chars().count());
        }
    }
    // The text columns share what the others leave; the widest gives way first.
    let fixed = widths.iter().sum::<usize>() - widths[0] - widths[1] - widths[3]
        + GAP.len() * (widths.len() - 1);
    let mut text = [widths[0], widths[1], widths[3]];
    fit(&mut text, TABLE_WIDTH.saturating_sub(fixed));
    [widths[0], widths[1], widths[3]] = text;
    for cells in std::iter::once(&header).chain(&rows) {
        let mut line = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                line.push_str(GAP);
            }
            let cell = cut(cell, *width);
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

/// The MIRRORS cell of one repository.
fn mirror_marker(
    namespace: &str,
    repository: &Repository,
    selection: &TagSelection,
    mirrors: &[Mirror],
) -> String {
    let of: Vec<&Mirror> = mirrors_of(mirrors, namespace).collect();
    let Some(tags) = chosen(namespace, repository, selection) else {
        return String::new();
    };
    if of.is_empty() {
        return String::new();
    }
    if of
        .iter()
        .any(|m| !m.repositories.contains(&repository.name))
    {
        return "?".to_string();
    }
    let differ = tags
        .filter(|tag| {
            of.iter().any(|m| {
                let state = mirror_state(m, &repository.name, &tag.name);
                state.is_some_and(|(state, _)| state != "in_sync")
            })
        })
        .count();
    if differ == 0 {
        "in sync".to_string()
    } else {
        format!("{differ} differ")
    }
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
            // A listing the Hub cut short: how many of the Hub's count are printed.
            let count = match repository.counted {
                Some(counted) => format!("{count} of {counted}"),
                None => count.to_string(),
            };
            (count, newest)
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
