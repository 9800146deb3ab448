//! The systemd units in `deploy/systemd`: `systemd-analyze` accepts them, and the service's
//! own command line, started by `systemd-socket-activate` with a passed socket
//! (`--web.systemd-socket`), serves the inventory through that socket.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use simhub::{Repo, SimHub};

use crate::support::*;

/// Set by CI: missing systemd tools fail the tests instead of skipping them.
const REQUIRE_SYSTEMD: &str = "DOCKERHUB_EXPORTER_REQUIRE_SYSTEMD";

const SERVICE: &str = "deploy/systemd/dockerhub_exporter.service";
const SOCKET: &str = "deploy/systemd/dockerhub_exporter.socket";
/// How the service names the binary: by name, which systemd looks up in /usr/local/bin (an
/// installation by hand) and /usr/bin (the Debian package).
const INSTALLED: &str = "dockerhub_exporter";

/// The path of a systemd tool, or `None` after printing that the calling test is skipped.
fn systemd_tool(name: &str) -> Option<PathBuf> {
    required_tool(name, REQUIRE_SYSTEMD, "apt-get install systemd")
}

fn unit(path: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap()
}

/// The words of the service's `ExecStart=`, continuation lines joined.
fn exec_start(service: &str) -> Vec<String> {
    let joined = service.replace("\\\n", " ");
    let line = joined
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .expect("an ExecStart= line");
    line.split_whitespace().map(str::to_string).collect()
}

#[test]
fn systemd_analyze_accepts_both_units_without_a_word() {
    let Some(analyze) = systemd_tool("systemd-analyze") else {
        return;
    };
    // The units as installed, but with the binary where this build put it (verify checks that
    // the command exists).
    let dir = temp_dir("systemd-verify");
    let service = dir.join("dockerhub_exporter.service");
    std::fs::write(
        &service,
        unit(SERVICE).replace(
            &format!("ExecStart={INSTALLED} "),
            &format!("ExecStart={BIN} "),
        ),
    )
    .unwrap();
    let socket = dir.join("dockerhub_exporter.socket");
    std::fs::write(&socket, unit(SOCKET)).unwrap();
    let out = std::process::Command::new(&analyze)
        .arg("verify")
        .args([&socket, &service])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    // Unknown settings and bad values are only warnings: there must be none.
    assert_eq!(said.trim(), "", "systemd-analyze verify complained");

    // The sandboxing, as systemd rates it: "OK" or better.
    let out = std::process::Command::new(&analyze)
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&service)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let level: f64 = text
        .lines()
        .find_map(|l| l.split("Overall exposure level for ").nth(1))
        .and_then(|rest| rest.split(": ").nth(1))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no exposure level in {text}"));
    assert!(level <= 2.0, "exposure level {level}:\n{text}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_command_line_serves_on_the_socket_systemd_passes() {
    let Some(activate) = systemd_tool("systemd-socket-activate") else {
        return;
    };
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(7));
    hub.add_account("acme-bot", "secret-token", &["acme"]);
    let running = hub.start().await.unwrap();
    let hub_url = running.url();

    // What systemd gives the service: the credential at %d, the state root at %S.
    let dir = temp_dir("systemd-activate");
    let credentials = dir.join("credentials");
    let state_root = dir.join("state");
    std::fs::create_dir_all(&credentials).unwrap();
    std::fs::create_dir_all(state_root.join("dockerhub_exporter")).unwrap();
    let password = credentials.join("dockerhub_password");
    std::fs::write(&password, "secret-token\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    let service = unit(SERVICE);
    let command: Vec<String> = exec_start(&service)
        .into_iter()
        // The further flags the environment file may give: here, no pull-limit checks, so
        // that nothing reaches the real registry.
        .flat_map(|w| match w.as_str() {
            "$DOCKERHUB_EXPORTER_ARGS" => {
                vec!["--pull-limit.interval".to_string(), "0".to_string()]
            }
            _ => vec![w],
        })
        .map(|w| {
            if w == INSTALLED { BIN.to_string() } else { w }
                .replace("%d", credentials.to_str().unwrap())
                .replace("%S", state_root.to_str().unwrap())
        })
        .collect();
    assert!(
        command.contains(&"--web.systemd-socket".to_string()),
        "{command:?}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let address = format!("127.0.0.1:{port}");
    // The environment file's variables, passed on as systemd would.
    let mut child = tokio::process::Command::new(activate)
        .args(["--listen", &address])
        .args(["-E", &format!("DOCKERHUB_URL={hub_url}")])
        .args(["-E", "DOCKERHUB_USERNAME=acme-bot"])
        .args(["-E", "DOCKERHUB_NAMESPACES=acme"])
        .args(&command)
        .env_clear()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let log = collect_lines(&mut child);
    // systemd-socket-activate holds the socket, and starts the exporter on the first
    // connection; the exporter answers it on the socket it was given.
    eventually(|| async {
        let listening = log
            .lock()
            .unwrap()
            .iter()
            .any(|l| l.contains("Listening on"));
        listening.then_some(())
    })
    .await;
    let url = format!("http://{address}/metrics");
    let m = eventually(|| async {
        let (status, m) = get(&url).await;
        (status == 200
            && value(&m, "dockerhub_repository_tags", &[("repository", "api")]).is_some())
        .then_some(m)
    })
    .await;
    assert_eq!(
        value(
            &m,
            "dockerhub_repository_tags",
            &[("hub_namespace", "acme"), ("repository", "api")]
        ),
        Some(7.0)
    );
    let text = log.lock().unwrap().join("\n");
    assert!(text.contains(&format!("address={address}")), "{text}");
    assert!(!text.contains("secret-token"), "{text}");
    // The state file lands in the state directory.
    let state = state_root.join("dockerhub_exporter/state.json");
    eventually(|| async { state.is_file().then_some(()) }).await;

    let pid = child.id().unwrap().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().await.unwrap();
    assert!(
        status.success(),
        "{status:?}\n{}",
        log.lock().unwrap().join("\n")
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_passed_socket_the_systemd_flag_exits_naming_it() {
    let hub = SimHub::new();
    let hub_url = hub.start().await.unwrap().url();
    let out = tokio::process::Command::new(BIN)
        .args([
            "--hub.url",
            &hub_url,
            "--hub.namespace",
            "acme",
            "--web.systemd-socket",
        ])
        .env_clear()
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("--web.systemd-socket"), "{said}");
    assert!(said.contains("LISTEN_FDS"), "{said}");
}
