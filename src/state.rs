//! The state file (`--state.file`): the inventory kept across restarts.
//!
//! After each refresh the refresh loop saves the published snapshot here; at start the
//! exporter loads it, serves it (with `dockerhub_up` 0) until its first refresh ends, and diffs
//! that refresh against it, so changes made while the exporter was down are counted. This
//! module owns the file's format and the rules for writing it safely (temporary file, fsync,
//! rename, in the directory of the file a symbolic link points to) and for a file that cannot
//! be used: a path that cannot hold the file (a directory, a missing parent, no permission)
//! is the operator's to fix and is refused at start ([`check`]); content that cannot be
//! parsed is set aside under a name of its own and the exporter starts empty ([`load`]).
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
use std::fs::{self, File};
use std::io::{self, BufRead};
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
    match fs::metadata(&file) {
        Ok(m) if m.is_dir() => return Err(io::Error::other("is a directory, not a file")),
        Ok(_) => {
            File::open(&file)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let dir = parent(&file);
            if !fs::metadata(dir).is_ok_and(|m| m.is_dir()) {
                return Err(io::Error::other(format!(
                    "its directory {} does not exist",
                    dir.display()
                )));
            }
        }
        Err(e) => return Err(e),
    }
    let tmp = sibling(&file, ".tmp");
    File::create(&tmp).map_err(|e| {
        io::Error::new(
            e.kind(),
            format!("{} cannot be written: {e}", parent(&file).display()),
        )
    })?;
    let _ = fs::remove_file(&tmp);
    Ok(())
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
    /// The file is there but cannot be opened or read (a directory, no permission).
    #[error("the state file cannot be read: {0}")]
    Unreadable(io::Error),
    /// The content is not a state file this exporter reads: not JSON of the right shape, a
    /// gzip stream cut short or damaged, or another format version.
    #[error("the state file {0}")]
    Invalid(String),
}

/// Reads the state file at `path`, gzip-compressed or plain JSON, and only reads it: what
/// cannot be used is an error, and the file is left as it is.
pub(crate) fn read(path: &Path) -> Result<State, ReadError> {
    let opened = target(path).and_then(|file| match fs::metadata(&file) {
        Ok(m) if m.is_dir() => Err(io::Error::other("is a directory, not a file")),
        _ => File::open(file),
    });
    let file = match opened {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(ReadError::Missing),
        Err(e) => return Err(ReadError::Unreadable(e)),
    };
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
    let tmp = sibling(path, ".tmp");
    let result = (|| {
        // The serializer writes a few bytes at a time; the buffer in front of the compressor
        // hands it large blocks instead, which made saving 100,000 tags 8 times faster
        // (2.2 s to 0.27 s). The compressor writes the file in blocks of up to 32 KiB of its
        // own, so a buffer behind it measured no faster and is left out.
        let gzip = GzEncoder::new(File::create(&tmp)?, COMPRESSION);
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
        if let Ok(d) = File::open(parent(path)) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
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
mod tests {
    use super::*;
    use crate::inventory::fixtures::{image, info, listed, read, tag};
    use crate::inventory::{RepositoryInfo, RepositoryRead, TagsRead};

    fn snapshot() -> Snapshot {
        let mut tag = tag("1.0", "sha256:abc")
            .pushed_at(1727833827.5)
            .with_images(vec![
                image("linux", "amd64", "", "sha256:def").sized(29_150_123),
                image("linux", "arm64", "v8", ""),
            ]);
        tag.full_size = Some(29_150_123);
        tag.last_pulled = Some(1727900000.25);
        let api = RepositoryRead {
            info: RepositoryInfo {
                private: true,
                pull_count: 7,
                star_count: 1,
                last_updated: Some(1727833000.0),
                ..info()
            },
            ..read("api", TagsRead::Listed(vec![tag]))
        };
        Snapshot::default().merge(listed(
            "acme",
            vec![api, read("unknown-tags", TagsRead::Failed)],
        ))
    }

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "dockerhub-exporter-state-{name}-{}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_saved_state_loads_back_equal() {
        let dir = temp_dir("roundtrip");
        let path = dir.join("state.json");
        let saved_at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let cursors = cursors();
        let changes = vec![crate::changes::Entry::new(
            &crate::changes::Change::TagAdded {
                namespace: "acme".into(),
                repository: "api".into(),
                tag: "1.1".into(),
                digest: "sha256:abd".into(),
            },
            1_800_000_000.0,
        )];
        let state = State {
            audit_log: cursors.clone(),
            changes: changes.clone(),
            ..State::new(snapshot(), Some(saved_at))
        };
        save(&path, &snapshot(), Some(saved_at), &cursors, &changes).unwrap();
        assert!(!sibling(&path, ".tmp").exists());
        let loaded = load(&path).expect("the state loads");
        assert_eq!(loaded, state);
        assert_eq!(loaded.last_success(), Some(saved_at));
        fs::remove_dir_all(dir).unwrap();
    }

    fn cursors() -> BTreeMap<String, AuditCursor> {
        BTreeMap::from([(
            "acme".to_string(),
            AuditCursor {
                time: "2026-12-02T13:05:01.123Z".into(),
                seen: vec!["repo.tag.push acme/api 1.2.4".into()],
            },
        )])
    }

    /// What the exporter wrote for [`snapshot`] and [`cursors`], saved at 1,800,000,000,
    /// before the file was compressed: plain JSON, byte for byte.
    const PLAIN_VERSION_1: &str = r#"{"version":1,"last_success":1800000000.0,"snapshot":{"namespaces":{"acme":{"repositories":{"api":{"name":"api","info":{"private":true,"repository_type":"image","pull_count":7,"star_count":1,"last_updated":1727833000.0,"storage_size":null},"tags":[{"name":"1.0","digest":"sha256:abc","full_size":29150123,"last_pushed":1727833827.5,"last_pulled":1727900000.25,"images":[{"os":"linux","architecture":"amd64","variant":"","digest":"sha256:def","size":29150123},{"os":"linux","architecture":"arm64","variant":"v8","digest":"","size":null}]}],"tags_as_of":1727833000.0},"unknown-tags":{"name":"unknown-tags","info":{"private":false,"repository_type":"image","pull_count":0,"star_count":0,"last_updated":null,"storage_size":null},"tags":null,"tags_as_of":null}},"visible":2}}},"audit_log":{"acme":{"time":"2026-12-02T13:05:01.123Z","seen":["repo.tag.push acme/api 1.2.4"]}}}"#;

    fn inflate(bytes: &[u8]) -> io::Result<String> {
        let mut json = String::new();
        io::Read::read_to_string(&mut GzDecoder::new(bytes), &mut json)?;
        Ok(json)
    }

    #[test]
    fn a_saved_file_is_the_same_json_gzip_compressed() {
        let dir = temp_dir("gzip");
        let path = dir.join("state.json");
        let saved_at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        save(&path, &snapshot(), Some(saved_at), &cursors(), []).unwrap();
        let bytes = fs::read(&path).unwrap();
        assert!(bytes.starts_with(&GZIP_MAGIC), "{:02x?}", &bytes[..8]);
        // The document inside is unchanged, which is why the version stays 1.
        assert_eq!(inflate(&bytes).unwrap(), PLAIN_VERSION_1);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_plain_json_file_of_version_1_still_loads_to_an_equal_state() {
        let dir = temp_dir("plain");
        let path = dir.join("state.json");
        fs::write(&path, PLAIN_VERSION_1).unwrap();
        let loaded = load(&path).expect("the plain file loads");
        let saved_at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        assert_eq!(
            loaded,
            State {
                audit_log: cursors(),
                ..State::new(snapshot(), Some(saved_at))
            }
        );
        assert!(path.exists(), "a plain file is not set aside");
        // The next save replaces it with a compressed one holding the same.
        save(
            &path,
            &loaded.snapshot,
            loaded.last_success(),
            &loaded.audit_log,
            &loaded.changes,
        )
        .unwrap();
        assert!(fs::read(&path).unwrap().starts_with(&GZIP_MAGIC));
        assert_eq!(load(&path), Some(loaded));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_truncated_or_damaged_gzip_file_is_set_aside() {
        let dir = temp_dir("bad-gzip");
        let path = dir.join("state.json");
        save(&path, &snapshot(), None, &cursors(), []).unwrap();
        let good = fs::read(&path).unwrap();
        let gzip = |text: &str| {
            let mut e = GzEncoder::new(Vec::new(), COMPRESSION);
            io::Write::write_all(&mut e, text.as_bytes()).unwrap();
            e.finish().unwrap()
        };
        let mut flipped = good.clone();
        flipped[good.len() / 2] ^= 0x55;
        let mut wrong_crc = good.clone();
        let crc = good.len() - 8;
        wrong_crc[crc] ^= 0x01;
        let bad: Vec<(&str, Vec<u8>)> = vec![
            ("only the magic bytes", GZIP_MAGIC.to_vec()),
            ("cut in the middle", good[..good.len() / 2].to_vec()),
            // The whole document inflates; only the check at the end is missing.
            ("cut before the trailer", good[..good.len() - 8].to_vec()),
            ("a byte flipped", flipped),
            ("a wrong checksum", wrong_crc),
            ("gzip of no JSON", gzip("not json")),
            (
                "gzip of another version",
                gzip(
                    &serde_json::to_string(&State {
                        version: 99,
                        ..State::new(snapshot(), None)
                    })
                    .unwrap(),
                ),
            ),
        ];
        for (what, content) in &bad {
            fs::write(&path, content).unwrap();
            assert!(load(&path).is_none(), "{what}");
            assert!(!path.exists(), "{what} is set aside");
        }
        // Each one kept as it was, under a name of its own.
        let mut kept: Vec<Vec<u8>> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.to_string_lossy().contains("state.json.corrupt-"))
            .map(|p| fs::read(p).unwrap())
            .collect();
        let mut expected: Vec<Vec<u8>> = bad.into_iter().map(|(_, c)| c).collect();
        kept.sort();
        expected.sort();
        assert_eq!(kept, expected);
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn reading_only_leaves_a_file_it_cannot_use_where_it_is_and_says_why() {
        let dir = temp_dir("read-only");
        let path = dir.join("state.json");
        assert!(matches!(super::read(&path), Err(ReadError::Missing)));
        save(&path, &snapshot(), None, &cursors(), []).unwrap();
        assert_eq!(super::read(&path).unwrap().snapshot, snapshot());
        let good = fs::read(&path).unwrap();
        for (what, content) in [
            ("cut in the middle", good[..good.len() / 2].to_vec()),
            ("not JSON", b"{\"version\": 1, \"snapsh".to_vec()),
            (
                "another version",
                serde_json::to_vec(&State {
                    version: 99,
                    ..State::new(snapshot(), None)
                })
                .unwrap(),
            ),
        ] {
            fs::write(&path, &content).unwrap();
            let err = super::read(&path).unwrap_err();
            assert!(matches!(err, ReadError::Invalid(_)), "{what}: {err}");
            assert_eq!(fs::read(&path).unwrap(), content, "{what}: left as it was");
        }
        let as_dir = dir.join("a-directory");
        fs::create_dir(&as_dir).unwrap();
        let err = super::read(&as_dir).unwrap_err();
        assert!(err.to_string().contains("directory"), "{err}");
        let entries = fs::read_dir(&dir).unwrap().count();
        assert_eq!(entries, 2, "nothing set aside");
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_file_written_before_audit_logs_were_read_still_loads() {
        let dir = temp_dir("before-audit");
        let path = dir.join("state.json");
        let mut old = serde_json::to_value(State::new(snapshot(), None)).unwrap();
        old.as_object_mut().unwrap().remove("audit_log");
        fs::write(&path, old.to_string()).unwrap();
        let loaded = load(&path).expect("the state loads");
        assert_eq!(loaded, State::new(snapshot(), None));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_missing_file_starts_fresh_without_setting_anything_aside() {
        let dir = temp_dir("missing");
        let path = dir.join("state.json");
        assert!(load(&path).is_none());
        assert!(!sibling(&path, ".corrupt").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_corrupt_or_foreign_file_is_set_aside() {
        let dir = temp_dir("corrupt");
        let path = dir.join("state.json");
        for content in [
            "{\"version\": 1, \"snapshot\": {\"namespa".to_string(),
            "[1, 2, 3]".to_string(),
            serde_json::to_string(&State {
                version: 99,
                ..State::new(snapshot(), None)
            })
            .unwrap(),
        ] {
            fs::write(&path, &content).unwrap();
            assert!(load(&path).is_none(), "{content}");
            assert!(!path.exists());
        }
        // Each one kept under a name of its own: none overwrote an earlier one.
        let mut kept: Vec<String> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        kept.sort();
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert!(
            kept.iter().all(|n| n.starts_with("state.json.corrupt-")),
            "{kept:?}"
        );
        let contents: Vec<String> = kept
            .iter()
            .map(|n| fs::read_to_string(dir.join(n)).unwrap())
            .collect();
        assert!(contents.iter().any(|c| c == "[1, 2, 3]"));
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn a_path_that_cannot_hold_the_file_is_refused_with_the_reason_and_nothing_is_moved() {
        let dir = temp_dir("refused");
        let as_dir = dir.join("state.json");
        fs::create_dir(&as_dir).unwrap();
        let e = check(&as_dir).unwrap_err().to_string();
        assert!(e.contains("directory"), "{e}");
        assert!(load(&as_dir).is_none());
        assert!(as_dir.is_dir(), "a directory is never set aside");

        let orphan = dir.join("missing").join("state.json");
        let e = check(&orphan).unwrap_err().to_string();
        assert!(e.contains("does not exist"), "{e}");

        // A path through a regular file cannot be opened, by root either.
        let plain = dir.join("plain");
        fs::write(&plain, "not a directory").unwrap();
        let through = plain.join("state.json");
        assert!(check(&through).is_err());
        assert!(load(&through).is_none());
        assert_eq!(fs::read_to_string(&plain).unwrap(), "not a directory");

        #[cfg(unix)]
        if !running_as_root() {
            use std::os::unix::fs::PermissionsExt as _;
            let locked = dir.join("locked.json");
            save(&locked, &snapshot(), None, &BTreeMap::new(), []).unwrap();
            fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).unwrap();
            assert!(check(&locked).is_err());
            assert!(load(&locked).is_none());
            assert!(
                locked.exists(),
                "a file that cannot be opened is not set aside"
            );
            fs::set_permissions(&locked, fs::Permissions::from_mode(0o600)).unwrap();
        }

        let fine = dir.join("fresh.json");
        check(&fine).unwrap();
        assert!(!fine.exists() && !sibling(&fine, ".tmp").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    /// Root opens files whatever their permissions.
    #[cfg(unix)]
    fn running_as_root() -> bool {
        // SAFETY: geteuid only reads the process's effective user id.
        unsafe { libc::geteuid() == 0 }
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_is_followed_and_stays_a_link() {
        let dir = temp_dir("link");
        fs::create_dir(dir.join("data")).unwrap();
        let link = dir.join("state.json");
        std::os::unix::fs::symlink("data/real.json", &link).unwrap();
        check(&link).unwrap();
        save(&link, &snapshot(), None, &BTreeMap::new(), []).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert!(dir.join("data/real.json").is_file());
        assert_eq!(load(&link).unwrap().snapshot, snapshot());
        save(&link, &Snapshot::default(), None, &BTreeMap::new(), []).unwrap();
        assert!(
            fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(load(&link).unwrap().snapshot, Snapshot::default());
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn saving_replaces_the_previous_state() {
        let dir = temp_dir("replace");
        let path = dir.join("state.json");
        save(&path, &snapshot(), None, &BTreeMap::new(), []).unwrap();
        save(&path, &Snapshot::default(), None, &BTreeMap::new(), []).unwrap();
        assert_eq!(load(&path).unwrap().snapshot, Snapshot::default());
        fs::remove_dir_all(dir).unwrap();
    }
}
