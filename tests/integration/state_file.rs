//! Hostile state files: a `--state.file` that names a FIFO, a device, a socket or a directory
//! (or a link to one) is refused at start with exit 2 and a message naming the file and what
//! it is, by the exporter and by `inventory --offline` alike, without hanging and without
//! anything moved or written; and a state file listing a million changes loads in bounded
//! memory, keeping the newest 200.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::support::*;

/// How long a refused start may take: it must not wait on what it refuses.
const REFUSAL_WITHIN: Duration = Duration::from_secs(20);

/// Makes a FIFO at `path`.
fn mkfifo(path: &Path) {
    use std::os::unix::ffi::OsStrExt as _;
    let name = std::ffi::CString::new(path.as_os_str().as_bytes()).unwrap();
    // SAFETY: `name` is a valid NUL-terminated path for the duration of the call.
    assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
}

/// Whether the tests run as root, who may make device nodes.
fn root() -> bool {
    // SAFETY: geteuid only reads the process's effective user id.
    unsafe { libc::geteuid() == 0 }
}

/// Places that exist and are not regular files, each with what the refusal must call it.
fn irregular_places(dir: &Path) -> Vec<(PathBuf, &'static str)> {
    let fifo = dir.join("fifo");
    mkfifo(&fifo);
    let fifo_link = dir.join("fifo-link");
    std::os::unix::fs::symlink("fifo", &fifo_link).unwrap();
    let null_link = dir.join("null-link");
    std::os::unix::fs::symlink("/dev/null", &null_link).unwrap();
    let directory = dir.join("directory");
    std::fs::create_dir(&directory).unwrap();
    let socket = dir.join("socket");
    // Left bound: the socket file stays while the test runs.
    std::mem::forget(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    let mut places = vec![
        (fifo, "FIFO"),
        (fifo_link, "FIFO"),
        (null_link, "character device"),
        (directory, "directory"),
        (socket, "socket"),
    ];
    if root() {
        // As the probe made it: `mknod c 1 5`, the numbers of /dev/zero, behind a link.
        use std::os::unix::ffi::OsStrExt as _;
        let zero = dir.join("zero");
        let name = std::ffi::CString::new(zero.as_os_str().as_bytes()).unwrap();
        // SAFETY: `name` is a valid NUL-terminated path for the duration of the call.
        let made =
            unsafe { libc::mknod(name.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 5)) };
        assert_eq!(made, 0);
        let zero_link = dir.join("zero-link");
        std::os::unix::fs::symlink("zero", &zero_link).unwrap();
        places.push((zero_link, "character device"));
    }
    places
}

/// What is in `dir`: each name with the kind of file it is (links not followed).
fn listing(dir: &Path) -> Vec<(String, String)> {
    let mut entries: Vec<(String, String)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let kind = format!("{:?}", e.file_type().unwrap());
            (e.file_name().to_string_lossy().into_owned(), kind)
        })
        .collect();
    entries.sort();
    entries
}

/// Runs the binary with `args` to its end, failing the test if it takes longer than
/// [`REFUSAL_WITHIN`]; its exit code and standard error.
async fn run(args: &[&str]) -> (Option<i32>, String) {
    let child = tokio::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let out = tokio::time::timeout(REFUSAL_WITHIN, child.wait_with_output())
        .await
        .expect("the binary ends without blocking on the file")
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_that_is_not_a_regular_file_is_refused_at_start_with_exit_2() {
    let dir = temp_dir("state-irregular");
    let places = irregular_places(&dir);
    let before = listing(&dir);
    for (place, what) in &places {
        let file = place.to_str().unwrap();
        let exporter = run(&[
            "--hub.namespace",
            "acme",
            "--hub.url",
            "http://127.0.0.1:9",
            "--state.file",
            file,
        ])
        .await;
        let offline = run(&["inventory", "--offline", "--state.file", file]).await;
        for (who, (code, stderr)) in [("exporter", exporter), ("inventory --offline", offline)] {
            assert_eq!(code, Some(2), "{who}, {file}: {stderr}");
            assert!(
                stderr.contains("--state.file") && stderr.contains(file) && stderr.contains(what),
                "{who}, {file}: the message names the file and what it is: {stderr}"
            );
        }
    }
    assert_eq!(listing(&dir), before, "nothing moved, written or added");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Changes in the generated state file.
const CHANGES: usize = 1_000_000;

/// The most memory loading may take, in bytes: well under the shipped pod limit of 256 MiB.
const LOADING_PEAK: u64 = 100 * 1024 * 1024;

/// Writes a gzip-compressed state file of acme/api with one tag and [`CHANGES`] changes,
/// newest first (`t0` the newest); the file's path.
fn million_changes(dir: &Path) -> PathBuf {
    use std::io::Write as _;
    let path = dir.join("state.json");
    let file = std::fs::File::create(&path).unwrap();
    let mut out = std::io::BufWriter::new(flate2::write::GzEncoder::new(
        file,
        flate2::Compression::fast(),
    ));
    let digest = format!("sha256:{}", "ab".repeat(32));
    write!(
        out,
        r#"{{"version":1,"last_success":null,"snapshot":{{"namespaces":{{}}}},"audit_log":{{}},"changes":["#
    )
    .unwrap();
    let newest = 1_796_630_446.0;
    for n in 0..CHANGES {
        if n > 0 {
            out.write_all(b",").unwrap();
        }
        write!(
            out,
            r#"{{"time":{:.3},"kind":"tag_added","namespace":"acme","repository":"api","tag":"t{n}","old_digest":null,"new_digest":"{digest}"}}"#,
            newest - n as f64 / 1000.0
        )
        .unwrap();
    }
    out.write_all(b"]}").unwrap();
    out.into_inner().unwrap().finish().unwrap();
    path
}

/// Runs the binary with `args` to its end; its exit code and its peak resident set in bytes
/// (`VmHWM`, read every few milliseconds while it runs: the child's own, which the kernel's
/// `ru_maxrss` is not, since that keeps the high-water mark of the test process it was
/// forked from).
async fn run_measured(args: &[&str]) -> (Option<i32>, u64) {
    let mut child = tokio::process::Command::new(BIN)
        .args(args)
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = child.id().expect("running");
    let exe = std::fs::canonicalize(BIN).unwrap();
    let mut peak = 0;
    let deadline = tokio::time::Instant::now() + WAIT_LIMIT;
    loop {
        // Only once the binary runs: before its exec the child is still the test process.
        let own = std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e == exe);
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        if let Some(hwm) = status_field_bytes(&status, "VmHWM").filter(|_| own) {
            peak = peak.max(hwm);
        }
        if let Some(exit) = child.try_wait().unwrap() {
            return (exit.code(), peak);
        }
        assert!(tokio::time::Instant::now() < deadline, "the command ends");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_state_file_of_a_million_changes_loads_in_bounded_memory_keeping_the_newest_200() {
    let dir = temp_dir("state-million");
    let state = million_changes(&dir);
    println!(
        "{CHANGES} changes: {} bytes of gzip",
        std::fs::metadata(&state).unwrap().len()
    );
    let hub = fixtures::api_and_web();
    let running = hub.start().await.unwrap();
    let args = hub_args(
        &running.url(),
        "acme",
        &[
            "--refresh.interval",
            "1h",
            "--state.file",
            state.to_str().unwrap(),
        ],
    );
    // Listening means the file is loaded: the inventory is restored before the server starts.
    let process = Process::start(&args, &[]).await;
    let peak = status_bytes(process.child.id().expect("running"), "VmHWM");
    let (_, body) = get(&format!("{}/api/v1/changes?limit=1000", process.url)).await;
    let changes: serde_json::Value = serde_json::from_str(&body).unwrap();
    let tags: Vec<&str> = changes["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|c| c["tag"].as_str())
        .collect();
    assert_eq!(tags.len(), 200, "the newest 200 are kept");
    assert_eq!((tags[0], tags[199]), ("t0", "t199"));
    assert!(process.terminate().await.success());

    let offline = run_measured(&[
        "inventory",
        "--offline",
        "--state.file",
        state.to_str().unwrap(),
    ])
    .await;
    assert_eq!(offline.0, Some(0));
    let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
    println!(
        "peak resident set while loading: exporter {:.1} MiB, inventory --offline {:.1} MiB",
        mib(peak),
        mib(offline.1)
    );
    assert!(
        peak < LOADING_PEAK,
        "the exporter peaked at {:.1} MiB",
        mib(peak)
    );
    assert!(
        offline.1 < LOADING_PEAK,
        "inventory --offline peaked at {:.1} MiB",
        mib(offline.1)
    );
    std::fs::remove_dir_all(dir).unwrap();
}
