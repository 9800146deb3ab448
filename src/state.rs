//! The state file (`--state.file`): the inventory kept across restarts.
//!
//! After each refresh the refresh loop saves the published snapshot here; at start the
//! exporter loads it, serves it (with `dockerhub_up` 0) until its first refresh ends, and diffs
//! that refresh against it, so changes made while the exporter was down are counted. This
//! module owns the file's format and the rules for writing it safely (temporary file, fsync,
//! rename) and for a file that cannot be read (set aside, never fatal).

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::inventory::Snapshot;

/// Version of the file's format; a file of another version is set aside.
const FORMAT_VERSION: u32 = 1;

/// What the state file holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct State {
    /// Format version of the file (1).
    pub(crate) version: u32,
    /// When a refresh last read everything, as Unix seconds.
    pub(crate) last_success: Option<f64>,
    /// The inventory.
    pub(crate) snapshot: Snapshot,
}

impl State {
    /// The state to save for `snapshot`.
    #[cfg(test)]
    pub(crate) fn new(snapshot: Snapshot, last_success: Option<SystemTime>) -> Self {
        State {
            version: FORMAT_VERSION,
            last_success: unix_seconds(last_success),
            snapshot,
        }
    }

    /// When a refresh last read everything.
    pub(crate) fn last_success(&self) -> Option<SystemTime> {
        let secs = self.last_success?;
        let d = Duration::try_from_secs_f64(secs).ok()?;
        UNIX_EPOCH.checked_add(d)
    }
}

/// Reads the state file at `path`. A missing file gives `None`; a file that cannot be read or
/// parsed is logged, renamed to `<path>.corrupt` and also gives `None`.
pub(crate) fn load(path: &Path) -> Option<State> {
    let file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            info!(path = %path.display(), "no state file yet; starting with an empty inventory");
            return None;
        }
        Err(e) => {
            set_aside(path, &format!("cannot be read: {e}"));
            return None;
        }
    };
    // Read as a stream: a large inventory's file need not sit in memory beside its parse.
    let state: State = match serde_json::from_reader(io::BufReader::with_capacity(1 << 16, file)) {
        Ok(s) => s,
        Err(e) => {
            set_aside(path, &format!("is not a valid state file: {e}"));
            return None;
        }
    };
    if state.version != FORMAT_VERSION {
        set_aside(
            path,
            &format!(
                "has format version {}, this exporter reads {FORMAT_VERSION}",
                state.version
            ),
        );
        return None;
    }
    info!(
        path = %path.display(),
        repositories = state.snapshot.repositories().count(),
        tags = state.snapshot.tag_count(),
        "inventory restored from the state file"
    );
    Some(state)
}

/// [`State`] borrowing its snapshot, for saving without a copy.
#[derive(Serialize)]
struct Saved<'a> {
    version: u32,
    last_success: Option<f64>,
    snapshot: &'a Snapshot,
}

/// Writes `snapshot` and `last_success` to `path` atomically: a temporary file beside it,
/// fsync, rename, and an fsync of the directory so that the rename itself survives a crash.
pub(crate) fn save(
    path: &Path,
    snapshot: &Snapshot,
    last_success: Option<SystemTime>,
) -> io::Result<()> {
    let state = Saved {
        version: FORMAT_VERSION,
        last_success: unix_seconds(last_success),
        snapshot,
    };
    let tmp = sibling(path, ".tmp");
    let result = (|| {
        let mut file = File::create(&tmp)?;
        let mut writer = io::BufWriter::new(&mut file);
        serde_json::to_writer(&mut writer, &state).map_err(io::Error::other)?;
        writer.flush()?;
        drop(writer);
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            // Not every platform can open a directory for syncing; the rename is done anyway.
            if let Ok(d) = File::open(dir) {
                let _ = d.sync_all();
            }
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

fn set_aside(path: &Path, why: &str) {
    let aside = sibling(path, ".corrupt");
    match fs::rename(path, &aside) {
        Ok(()) => warn!(
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
        let tag = tag("1.0", "sha256:abc")
            .pushed_at(1727833827.5)
            .with_images(vec![image("linux", "arm64", "v8", "")]);
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
        let state = State::new(snapshot(), Some(saved_at));
        save(&path, &snapshot(), Some(saved_at)).unwrap();
        assert!(!sibling(&path, ".tmp").exists());
        let loaded = load(&path).expect("the state loads");
        assert_eq!(loaded, state);
        assert_eq!(loaded.last_success(), Some(saved_at));
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
            assert_eq!(
                fs::read_to_string(sibling(&path, ".corrupt")).unwrap(),
                content
            );
        }
        fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn saving_replaces_the_previous_state() {
        let dir = temp_dir("replace");
        let path = dir.join("state.json");
        save(&path, &snapshot(), None).unwrap();
        save(&path, &Snapshot::default(), None).unwrap();
        assert_eq!(load(&path).unwrap().snapshot, Snapshot::default());
        fs::remove_dir_all(dir).unwrap();
    }
}
