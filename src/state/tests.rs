//! Tests of the state file: saving and loading round trips, symbolic links, the files earlier
//! versions wrote (a plain JSON fixture of version 1 among them), and paths and contents that
//! cannot be used.

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

/// Runs `f` on a thread of its own and fails the test if it takes more than ten seconds: a
/// blocking open would hang the test instead of failing it.
fn without_blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(f());
    });
    result
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("finished without blocking")
}

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt as _;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `name` is a valid NUL-terminated path for the duration of the call.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
}

/// Makes a character device node at `path` with the numbers of `/dev/zero` (root only).
fn mknod_zero(path: &Path) {
    use std::os::unix::ffi::OsStrExt as _;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `name` is a valid NUL-terminated path for the duration of the call.
    let made = unsafe { libc::mknod(name.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 5)) };
    assert_eq!(made, 0, "mknod as root");
}

/// The kind of what `path` names, links not followed, and of what it leads to.
fn kinds(path: &Path) -> (fs::FileType, fs::FileType) {
    (
        fs::symlink_metadata(path).unwrap().file_type(),
        fs::metadata(path).unwrap().file_type(),
    )
}

#[test]
fn what_is_not_a_regular_file_is_refused_by_name_and_never_opened_moved_or_written() {
    let dir = temp_dir("irregular");
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let fifo_link = dir.join("fifo-link");
    std::os::unix::fs::symlink("fifo", &fifo_link).unwrap();
    let socket = dir.join("socket");
    let _listening = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let null_link = dir.join("null-link");
    std::os::unix::fs::symlink("/dev/null", &null_link).unwrap();
    let directory = dir.join("directory");
    fs::create_dir(&directory).unwrap();
    let mut cases = vec![
        (fifo, "FIFO"),
        (fifo_link, "FIFO"),
        (socket, "socket"),
        (null_link, "character device"),
        (directory, "directory"),
    ];
    if running_as_root() {
        // As the probe made it: a node with the numbers of /dev/zero, behind a link.
        let zero = dir.join("zero");
        mknod_zero(&zero);
        let zero_link = dir.join("zero-link");
        std::os::unix::fs::symlink("zero", &zero_link).unwrap();
        cases.push((zero, "character device"));
        cases.push((zero_link, "character device"));
    }
    let before: Vec<_> = cases.iter().map(|(p, _)| kinds(p)).collect();
    for ((path, what), before) in cases.into_iter().zip(before) {
        let (checked, read, loaded, saved) = without_blocking({
            let path = path.clone();
            move || {
                (
                    check(&path).map_err(|e| e.to_string()),
                    super::read(&path).map_err(|e| e.to_string()),
                    load(&path),
                    save(&path, &snapshot(), None, &BTreeMap::new(), []),
                )
            }
        });
        let checked = checked.unwrap_err();
        assert!(checked.contains(what), "{}: {checked}", path.display());
        let read = read.map(|_| ()).unwrap_err();
        assert!(read.contains(what), "{}: {read}", path.display());
        assert!(loaded.is_none(), "{}", path.display());
        assert!(saved.is_err(), "{}: nothing written", path.display());
        assert_eq!(kinds(&path), before, "{}: left as it was", path.display());
    }
    // Nothing set aside, no temporary file left, nothing new beside them.
    let mut names: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names.retain(|n| !n.starts_with("zero"));
    assert_eq!(
        names,
        ["directory", "fifo", "fifo-link", "null-link", "socket"]
    );
    fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_fifo_where_the_temporary_file_goes_fails_the_save_at_once_and_stays() {
    use std::os::unix::fs::FileTypeExt as _;
    let dir = temp_dir("fifo-tmp");
    let path = dir.join("state.json");
    save(&path, &snapshot(), None, &BTreeMap::new(), []).unwrap();
    let tmp = sibling(&path, ".tmp");
    mkfifo(&tmp);
    let (checked, saved) = without_blocking({
        let path = path.clone();
        move || {
            (
                check(&path).is_ok(),
                save(&path, &Snapshot::default(), None, &BTreeMap::new(), []).is_ok(),
            )
        }
    });
    assert!(!checked && !saved);
    assert!(kinds(&tmp).0.is_fifo(), "the FIFO stays");
    assert_eq!(
        load(&path).unwrap().snapshot,
        snapshot(),
        "the file is kept"
    );
    fs::remove_dir_all(dir).unwrap();
}
