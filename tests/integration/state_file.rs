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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_state_file_is_still_a_first_start() {
    let dir = temp_dir("state-missing");
    let state = dir.join("state.json");
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
    let process = Process::start(&args, &[]).await;
    process.metrics_after_refreshes(1.0).await;
    eventually(|| async { state.is_file().then_some(()) }).await;
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}
