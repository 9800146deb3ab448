//! The state file (`--state.file`): the inventory kept across restarts.
//!
//! After each refresh the refresh loop saves the published snapshot here; at start the
//! exporter loads it, serves it (with `dockerhub_up` 0) until its first refresh ends, and diffs
//! that refresh against it, so changes made while the exporter was down are counted. This
//! module owns the file's format and the rules for writing it safely (temporary file, fsync,
//! rename, in the directory of the file a symbolic link points to) and for a file that cannot
//! be used: a path that cannot hold the file (a directory, a missing parent, no permission)
//! is the operator's to fix and is refused at start ([`check`]), and so is a path that names
//! something else than a regular file (a FIFO, a device, a socket, a directory: opening a
//! FIFO would block, and setting a device aside would rename and replace it); content that
//! cannot be parsed is set aside under a name of its own and the exporter starts empty
//! ([`load`]). Nothing but a regular file is ever opened for its content, renamed or written,
//! and every open is non-blocking, so that a FIFO put in place after the start cannot hang
//! the exporter either.
//! [`read`] only reads, and leaves a file it cannot use where it is: `inventory --offline`
//! reads the file of an exporter that may be running, which is not its to move.
//!
//! The file is one JSON document ([`State`]) in a gzip stream, whatever the file is called;
//! a plain JSON file, as earlier versions wrote, is still read, told apart by its first
//! bytes. Both ways stream: saving serializes the snapshot straight into the compressor and
//! loading parses straight out of the decompressor, so neither the whole text nor a second
//! copy of the inventory is ever in memory (at 100,000 tags the JSON is about 50 MB, 17 MB
//! compressed).

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead};
use std::os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use flate2::Compression;
use flate2::bufread::GzDecoder;
use flate2::write::GzEncoder;
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::changes::Entry;
use crate::inventory::Snapshot;

/// Version of the file's format; a file of another version is set aside.
///
/// It versions the JSON document, not its wrapping: compression is told by the first bytes
/// ([`GZIP_MAGIC`]), so files written before it came in, plain JSON of the same document,
/// are version 1 too and still load.
const FORMAT_VERSION: u32 = 1;

/// The first two bytes of every gzip stream (RFC 1952, section 2.3.1); a JSON document cannot
/// start with them, since 0x1f is neither whitespace nor the start of a value.
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Compression level of the file: the fastest. Measured on 100,000 tags (1,000 repositories
/// of 100 tags, 2 platform images each, release build): level 1 writes 17.1 MB in 0.3 s,
/// level 6 (the default) 16.9 MB in 1.4 s, level 9 16.8 MB in 1.9 s, against 50.3 MB of plain
/// JSON. The file is mostly hexadecimal digests, which no level packs below 4 bits a
/// character, so the slower levels buy 1.5 % for four times the CPU, after every refresh.
const COMPRESSION: Compression = Compression::fast();

/// Buffer size for reading and writing the file: large enough that the per-call overhead of
/// the serializer's many small writes and the parser's byte-by-byte reads is paid rarely.
const BUFFER_SIZE: usize = 1 << 16;

/// What the state file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    /// Format version of the file (1).
    pub(crate) version: u32,
    /// When a refresh last read everything, as Unix seconds.
    pub(crate) last_success: Option<f64>,
    /// The inventory.
    pub(crate) snapshot: Snapshot,
    /// Where each namespace's audit log was last read up to (absent in files written before
    /// audit logs were read).
    #[serde(default)]
    pub(crate) audit_log: BTreeMap<String, AuditCursor>,
    /// The recent changes, newest first (absent in files written before they were kept, and
    /// when there are none).
    #[serde(default, deserialize_with = "crate::changes::lenient_entries")]
    pub(crate) changes: Vec<Entry>,
}

/// How far a namespace's audit log has been read: the time of the newest event seen, and the
/// events seen at exactly that time, so that the next read, which starts at that time, skips
/// them and takes the others.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct AuditCursor {
    /// RFC 3339 time of the newest event seen.
    pub(crate) time: String,
    /// The events seen at that time, each told apart by a key of its fields.
    #[serde(default)]
    pub(crate) seen: Vec<String>,
}

impl State {
    /// The state to save for `snapshot`.
    #[cfg(test)]
    pub(crate) fn new(snapshot: Snapshot, last_success: Option<SystemTime>) -> Self {
        State {
            version: FORMAT_VERSION,
            last_success: unix_seconds(last_success),
            snapshot,
            audit_log: BTreeMap::new(),
            changes: Vec::new(),
        }
    }

    /// When a refresh last read everything.
    pub(crate) fn last_success(&self) -> Option<SystemTime> {
        let secs = self.last_success?;
        let d = Duration::try_from_secs_f64(secs).ok()?;
        UNIX_EPOCH.checked_add(d)
    }
}

/// How many symbolic links are followed to the state file, at most.
const MAX_LINKS: usize = 40;

/// The file `path` names, symbolic links followed (also to a target that does not exist yet).
fn target(path: &Path) -> io::Result<PathBuf> {
    let mut path = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        match fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let link = fs::read_link(&path)?;
                path = match path.parent() {
                    Some(dir) if link.is_relative() => dir.join(link),
                    _ => link,
                };
            }
            Ok(_) => return Ok(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(path),
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("too many symbolic links"))
}

/// Checks that `path` can hold the state file: an existing regular file that can be read, or
/// none yet in a directory that exists; and that the directory takes new files (the file is
/// written beside itself first). An error names what is wrong.
pub(crate) fn check(path: &Path) -> io::Result<()> {
    let file = target(path)?;
    match open_regular(&file) {
        Ok(_) => {}
        Err(ReadError::Missing) => {
            let dir = parent(&file);
            if !fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
                return Err(io::Error::other(format!(
                    "its directory {} does not exist",
                    dir.display()
                )));
            }
        }
        Err(ReadError::Unreadable(e)) => return Err(e),
        Err(e) => return Err(io::Error::other(e.to_string())),
    }
    let tmp = sibling(&file, ".tmp");
    create_regular(&tmp).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{} cannot be written: {e}", parent(&file).display()),
        )
    })?;
    let _ = fs::remove_file(&tmp);
    Ok(())
}

/// What a file of `file_type` is, when it is not a regular file (`None` when it is one).
fn irregular(file_type: fs::FileType) -> Option<&'static str> {
    if file_type.is_file() {
        None
    } else if file_type.is_dir() {
        Some("a directory")
    } else if file_type.is_fifo() {
        Some("a FIFO (named pipe)")
    } else if file_type.is_char_device() {
        Some("a character device")
    } else if file_type.is_block_device() {
        Some("a block device")
    } else if file_type.is_socket() {
        Some("a socket")
    } else {
        Some("not a regular file")
    }
}

/// Opens `file` (no symbolic link left to follow) for reading if it is a regular file. The
/// open never blocks: it is non-blocking, and the file is checked again once open, in case
/// another took its place between the two looks.
fn open_regular(file: &Path) -> Result<File, ReadError> {
    let not_regular = |t: fs::FileType| irregular(t).map(ReadError::NotRegular);
    match fs::metadata(file) {
        Ok(m) => {
            if let Some(e) = not_regular(m.file_type()) {
                return Err(e);
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ReadError::Missing),
        Err(e) => return Err(ReadError::Unreadable(e)),
    }
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(file)
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => ReadError::Missing,
            _ => ReadError::Unreadable(e),
        })?;
    let m = opened.metadata().map_err(ReadError::Unreadable)?;
    match not_regular(m.file_type()) {
        Some(e) => Err(e),
        None => Ok(opened),
    }
}

/// Creates (or empties) the regular file `file` for writing. A symbolic link there is not
/// followed, a FIFO there fails at once instead of waiting for a reader, and anything else
/// that is not a regular file is refused unwritten.
fn create_regular(file: &Path) -> io::Result<File> {
    let opened = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(file)?;
    let m = opened.metadata()?;
    if let Some(what) = irregular(m.file_type()) {
        return Err(io::Error::other(format!(
            "{} is {what}, not a regular file",
            file.display()
        )));
    }
    opened.set_len(0)?;
    Ok(opened)
}

/// The directory a file is in, `.` for a bare file name.
fn parent(file: &Path) -> &Path {
    file.parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Why a state file could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ReadError {
    /// There is no file.
    #[error("there is no state file")]
    Missing,
    /// The file is there but cannot be opened or read (no permission).
    #[error("the state file cannot be read: {0}")]
    Unreadable(io::Error),
    /// What is there is not a regular file: what it is instead.
    #[error("is {0}, not a regular file")]
    NotRegular(&'static str),
    /// The content is not a state file this exporter reads: not JSON of the right shape, a
    /// gzip stream cut short or damaged, or another format version.
    #[error("the state file {0}")]
    Invalid(String),
}

/// Reads the state file at `path`, gzip-compressed or plain JSON, and only reads it: what
/// cannot be used is an error, and the file is left as it is.
pub(crate) fn read(path: &Path) -> Result<State, ReadError> {
    let file = target(path)
        .map_err(ReadError::Unreadable)
        .and_then(|file| open_regular(&file))?;
    let mut file = io::BufReader::with_capacity(BUFFER_SIZE, file);
    // For a regular file the first read fills the buffer, so both magic bytes are seen; a
    // file shorter than that is no gzip stream anyway, and fails as JSON.
    let compressed = match file.fill_buf() {
        Ok(start) => start.starts_with(&GZIP_MAGIC),
        Err(e) => return Err(ReadError::Unreadable(e)),
    };
    // Read as a stream: a large inventory's file need not sit in memory beside its parse. The
    // parser reads on to the end after the document, so the decoder checks the stream's CRC
    // and length: a truncated or damaged file fails here, whatever its document looked like.
    let parsed = if compressed {
        let inflated = io::BufReader::with_capacity(BUFFER_SIZE, GzDecoder::new(file));
        serde_json::from_reader(inflated)
    } else {
        serde_json::from_reader(file)
    };
    let state: State =
        parsed.map_err(|e| ReadError::Invalid(format!("is not a valid state file: {e}")))?;
    if state.version != FORMAT_VERSION {
        return Err(ReadError::Invalid(format!(
            "has format version {}, this exporter reads {FORMAT_VERSION}",
            state.version
        )));
    }
    Ok(state)
}

/// Reads the state file at `path` for the exporter's start ([`read`]). A missing file gives
/// `None`; a file that cannot be opened is logged and gives `None` (the exporter checked it at
/// start, so something changed since); content that cannot be used, or a gzip stream that is
/// cut short or damaged, is logged, set aside under a name no earlier copy has
/// (`<path>.corrupt-<time>`) and gives `None`.
pub(crate) fn load(path: &Path) -> Option<State> {
    match read(path) {
        Ok(state) => {
            info!(
                path = %path.display(),
                repositories = state.snapshot.repositories().count(),
                tags = state.snapshot.tag_count(),
                "inventory restored from the state file"
            );
            Some(state)
        }
        Err(ReadError::Missing) => {
            info!(path = %path.display(), "no state file yet; starting with an empty inventory");
            None
        }
        Err(ReadError::Unreadable(e)) => {
            warn!(path = %path.display(), error = %e, "the state file cannot be read; starting with an empty inventory");
            None
        }
        Err(e @ ReadError::NotRegular(_)) => {
            warn!(path = %path.display(), error = %e, "the state file cannot be used and is left alone; starting with an empty inventory");
            None
        }
        Err(ReadError::Invalid(why)) => {
            set_aside(path, &why);
            None
        }
    }
}

/// [`State`] borrowing its parts, for saving without a copy.
#[derive(Serialize)]
struct Saved<'a> {
    version: u32,
    last_success: Option<f64>,
    snapshot: &'a Snapshot,
    audit_log: &'a BTreeMap<String, AuditCursor>,
    /// Left out when empty, so that a file without changes is the document earlier versions
    /// wrote.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    changes: Vec<&'a Entry>,
}

/// Writes `snapshot`, `last_success`, the audit-log cursors and the recent `changes` (newest
/// first) to `path`, gzip-compressed,
/// atomically: a temporary file beside the file (the one a symbolic link points to, which
/// stays a link), fsync, rename, and an fsync of the directory so that the rename itself
/// survives a crash.
pub(crate) fn save<'a>(
    path: &Path,
    snapshot: &Snapshot,
    last_success: Option<SystemTime>,
    audit_log: &BTreeMap<String, AuditCursor>,
    changes: impl IntoIterator<Item = &'a Entry>,
) -> io::Result<()> {
    let state = Saved {
        version: FORMAT_VERSION,
        last_success: unix_seconds(last_success),
        snapshot,
        audit_log,
        changes: changes.into_iter().collect(),
    };
    let path = &target(path)?;
    // What is there is replaced only when it is a regular file.
    match fs::metadata(path) {
        Ok(m) => {
            if let Some(what) = irregular(m.file_type()) {
                return Err(io::Error::other(format!(
                    "{} is {what}, not a regular file; it is left alone",
                    path.display()
                )));
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let tmp = sibling(path, ".tmp");
    let mut created = false;
    let result = (|| {
        // The serializer writes a few bytes at a time; the buffer in front of the compressor
        // hands it large blocks instead, which made saving 100,000 tags 8 times faster
        // (2.2 s to 0.27 s). The compressor writes the file in blocks of up to 32 KiB of its
        // own, so a buffer behind it measured no faster and is left out.
        let gzip = GzEncoder::new(create_regular(&tmp)?, COMPRESSION);
        created = true;
        let mut json = io::BufWriter::with_capacity(BUFFER_SIZE, gzip);
        // `io::Error::from` gives back the error of a failed write itself (a full disk).
        serde_json::to_writer(&mut json, &state).map_err(io::Error::from)?;
        // `finish` writes the end of the stream, which dropping the encoder would do without
        // reporting a failure.
        let file = json
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?
            .finish()?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        // Not every platform can open a directory for syncing; the rename is done anyway.
        let directory = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NONBLOCK)
            .open(parent(path));
        if let Ok(d) = directory {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    // Only a temporary file this call made is removed, never what stood in its place.
    if result.is_err() && created {
        let _ = fs::remove_file(&tmp);
    }
    result
}

fn unix_seconds(t: Option<SystemTime>) -> Option<f64> {
    Some(t?.duration_since(UNIX_EPOCH).ok()?.as_secs_f64())
}

/// `<path><suffix>`, in the same directory.
fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Moves an unparseable state file out of the way, under a name no earlier copy has.
fn set_aside(path: &Path, why: &str) {
    let moved = target(path).and_then(|file| {
        // Only a regular file is set aside: what took its place since it was read stays.
        let what = fs::symlink_metadata(&file)?.file_type();
        if let Some(what) = irregular(what) {
            return Err(io::Error::other(format!("it is now {what}")));
        }
        let stamp = time::OffsetDateTime::now_utc()
            .format(time::macros::format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap_or_default();
        let aside = (1..)
            .map(|n| match n {
                1 => sibling(&file, &format!(".corrupt-{stamp}")),
                n => sibling(&file, &format!(".corrupt-{stamp}-{n}")),
            })
            .find(|p| fs::symlink_metadata(p).is_err())
            .unwrap_or_else(|| sibling(&file, ".corrupt"));
        fs::rename(&file, &aside).map(|()| aside)
    });
    match moved {
        Ok(aside) => warn!(
            path = %path.display(),
            moved_to = %aside.display(),
            "the state file {why}; it was set aside and the exporter starts with an empty inventory"
        ),
        Err(e) => warn!(
            path = %path.display(),
            error = %e,
            "the state file {why} and could not be set aside; the exporter starts with an empty inventory"
        ),
    }
}

#[cfg(test)]
mod tests;
