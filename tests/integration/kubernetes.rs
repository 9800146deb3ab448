//! The Kubernetes base in `deploy/kubernetes`: what `kubectl kustomize` renders from it, read
//! as data; the core objects validated offline against the Kubernetes schemas
//! (`kubernetes-validate`); the PrometheusRule and the dashboard ConfigMap against the files
//! they copy; and the Deployment's arguments, environment and volumes, filled from the Secret
//! the command of docs/deploy.md creates, given to the binary against the simulated Hub.
//!
//! Skipped with a message where `kubectl` or `kubernetes-validate` is missing, unless CI's
//! `DOCKERHUB_EXPORTER_REQUIRE_KUBERNETES` says they are required. The two copies (rules and
//! dashboard) are compared without any tool. What a cluster adds (the image, the kubelet's
//! enforcement of the security context, the Prometheus Operator) is not tested here.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use serde_json::{Value, json};
use simhub::{Repo, SimHub};
use tokio::io::{AsyncBufReadExt as _, BufReader};

use crate::support::*;

/// Set by CI: a missing kubectl or kubernetes-validate fails the test instead of skipping it.
const REQUIRE_KUBERNETES: &str = "DOCKERHUB_EXPORTER_REQUIRE_KUBERNETES";

/// The Kubernetes release whose schemas the core objects are validated against, pinned so
/// that the result does not move with the tool's default (its newest release).
const KUBERNETES_VERSION: &str = "1.30.0";

/// The image name in the base, which users replace with `images:` in an overlay.
const IMAGE_PLACEHOLDER: &str = "registry.example.com/dockerhub_exporter";

/// The Secret the base reads and does not hold.
const SECRET: &str = "dockerhub-exporter";

/// Peak RSS at 100k tags in BENCHMARKS.md after a restart from the state file, in MiB: of
/// 1,000 repositories of 100 tags, and the highest measured, of 10 repositories of 10,000.
const PEAK_RSS_100K_MIB: u64 = 136;
const RESTART_RSS_100K_MIB: u64 = 173;

/// The overlay of docs/deploy.md, with `{base}` for the path from the overlay to the base.
const README_OVERLAY: &str = "\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: monitoring
resources:
  - {base}
images:
  - name: registry.example.com/dockerhub_exporter
    newName: ghcr.io/myorg/dockerhub_exporter
    newTag: 0.1.0
";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn base() -> PathBuf {
    repo().join("deploy/kubernetes")
}

/// The path of `kubectl` or `kubernetes-validate`, or `None` after printing that the calling
/// test is skipped. With `DOCKERHUB_EXPORTER_REQUIRE_KUBERNETES` set a missing tool fails.
fn kube_tool(name: &str, install: &str) -> Option<PathBuf> {
    required_tool(name, REQUIRE_KUBERNETES, install)
}

fn kubectl() -> Option<PathBuf> {
    kube_tool("kubectl", "apt-get install kubernetes-client")
}

fn run(command: &mut Command) -> String {
    let out = command.output().expect("the tool runs");
    assert!(
        out.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// The objects `kubectl kustomize DIR` renders.
fn kustomize(kubectl: &Path, dir: &Path) -> Vec<Value> {
    let out = run(Command::new(kubectl).arg("kustomize").arg(dir));
    serde_saphyr::from_multiple::<Value>(&out)
        .expect("kubectl renders YAML")
        .into_iter()
        .filter(|o| !o.is_null())
        .collect()
}

/// The one rendered object of `kind`.
fn the<'a>(objects: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<_> = objects.iter().filter(|o| o["kind"] == kind).collect();
    assert_eq!(found.len(), 1, "one {kind} in the base");
    found[0]
}

fn is_operator_kind(o: &Value) -> bool {
    o["apiVersion"]
        .as_str()
        .is_some_and(|v| v.starts_with("monitoring.coreos.com/"))
}

/// The value after `flag` in `args`, as `--flag value` or `--flag=value`.
fn flag_value<'a>(args: &'a [String], flag: &str) -> Option<&'a str> {
    let prefix = format!("{flag}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if a == flag {
            args.get(i + 1).map(String::as_str)
        } else {
            a.strip_prefix(&prefix)
        }
    })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("a list")
        .iter()
        .map(|s| s.as_str().expect("a string").to_string())
        .collect()
}

/// A memory quantity (`640Mi`, `1Gi`, `512M`, bytes) in bytes.
fn bytes(quantity: &Value) -> u64 {
    let q = quantity.as_str().expect("a quantity string");
    let split = q.find(|c: char| !c.is_ascii_digit()).unwrap_or(q.len());
    let (n, unit) = q.split_at(split);
    let n: u64 = n.parse().expect("an integer quantity");
    let scale = match unit {
        "" => 1,
        "Ki" => 1 << 10,
        "Mi" => 1 << 20,
        "Gi" => 1 << 30,
        "K" | "k" => 1_000,
        "M" => 1_000_000,
        "G" => 1_000_000_000,
        other => panic!("unexpected unit {other:?} in {q}"),
    };
    n * scale
}

/// The volume mounted at the directory that holds `file`, and the mount.
fn volume_of<'a>(pod: &'a Value, container: &'a Value, file: &str) -> (&'a Value, &'a Value) {
    let mount = container["volumeMounts"]
        .as_array()
        .expect("volume mounts")
        .iter()
        .find(|m| {
            let dir = m["mountPath"].as_str().unwrap_or_default();
            file.strip_prefix(dir)
                .is_some_and(|rest| rest.starts_with('/'))
        })
        .unwrap_or_else(|| panic!("no volume is mounted above {file}"));
    let volume = pod["volumes"]
        .as_array()
        .expect("volumes")
        .iter()
        .find(|v| v["name"] == mount["name"])
        .expect("the mounted volume exists");
    (volume, mount)
}

fn dashboard_text() -> String {
    std::fs::read_to_string(repo().join("grafana/dockerhub-inventory.json")).unwrap()
}

/// The `groups` of examples/alerts.yml, as data.
fn shipped_groups() -> Value {
    let text = std::fs::read_to_string(examples().join("alerts.yml")).unwrap();
    let rules: Value = serde_saphyr::from_str(&text).expect("alerts.yml is YAML");
    assert!(rules["groups"].as_array().is_some_and(|g| !g.is_empty()));
    rules["groups"].clone()
}

/// A path to `to` relative to the directory `from`; kustomize refuses absolute paths to bases.
fn relative(from: &Path, to: &Path) -> PathBuf {
    let from = from.canonicalize().unwrap();
    let to = to.canonicalize().unwrap();
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let mut path = PathBuf::new();
    for _ in from.components().skip(common) {
        path.push("..");
    }
    path.extend(to.components().skip(common));
    path
}

/// A fresh directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("dhx-kubernetes-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The Secret the command of docs/deploy.md creates (`--dry-run=client`: nothing is sent anywhere),
/// with the token read from a file as docs/deploy.md says, and `namespaces` when given.
fn readme_secret(kubectl: &Path, dir: &Path, username: &str, namespaces: Option<&str>) -> Value {
    let token = dir.join("token");
    std::fs::write(&token, "dckr_pat_x\n").unwrap();
    let mut command = Command::new(kubectl);
    command.args(["create", "secret", "generic", SECRET]);
    command.arg(format!("--from-literal=username={username}"));
    command.arg(format!("--from-file=password={}", token.display()));
    if let Some(namespaces) = namespaces {
        command.arg(format!("--from-literal=namespaces={namespaces}"));
    }
    command.args(["--dry-run=client", "-o", "json"]);
    serde_json::from_str(&run(&mut command)).expect("kubectl prints JSON")
}

fn secret_value(secret: &Value, key: &str) -> Option<String> {
    let encoded = secret["data"][key].as_str()?;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .expect("base64 data");
    Some(String::from_utf8(decoded).expect("UTF-8 data"))
}

#[test]
fn the_dashboard_copy_in_the_base_is_byte_identical_to_the_shipped_dashboard() {
    let copy = std::fs::read(base().join("dashboards/dockerhub-inventory.json")).unwrap();
    assert!(
        copy == dashboard_text().into_bytes(),
        "deploy/kubernetes/dashboards/dockerhub-inventory.json differs from \
         grafana/dockerhub-inventory.json: copy it again"
    );
}

#[test]
fn the_prometheus_rule_in_the_base_holds_exactly_the_groups_of_the_shipped_rules() {
    let text = std::fs::read_to_string(base().join("prometheusrule.yaml")).unwrap();
    let rule: Value = serde_saphyr::from_str(&text).expect("prometheusrule.yaml is YAML");
    assert_eq!(rule["kind"], "PrometheusRule");
    assert!(
        rule["spec"]["groups"] == shipped_groups(),
        "the groups of deploy/kubernetes/prometheusrule.yaml differ from examples/alerts.yml: \
         copy them again (the command is in the file's header)"
    );
}

#[test]
fn the_base_renders_a_locked_down_deployment_with_probes_the_secret_file_and_a_state_volume() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let objects = kustomize(&kubectl, &base());
    let deployment = the(&objects, "Deployment");
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 1);
    assert_eq!(spec["strategy"]["type"], "Recreate");
    let pod = &spec["template"]["spec"];
    let selector = spec["selector"]["matchLabels"].as_object().unwrap();
    let pod_labels = &spec["template"]["metadata"]["labels"];
    assert!(!selector.is_empty());
    for (k, v) in selector {
        assert_eq!(&pod_labels[k], v, "the selector picks the pod by {k}");
    }

    let pod_security = &pod["securityContext"];
    assert_eq!(pod_security["runAsNonRoot"], true);
    assert_eq!(pod_security["runAsUser"], 65532);
    assert_eq!(pod_security["runAsGroup"], 65532);
    assert_eq!(pod_security["fsGroup"], 65532);
    assert_eq!(pod_security["seccompProfile"]["type"], "RuntimeDefault");
    assert_eq!(pod["automountServiceAccountToken"], false);

    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];
    let security = &container["securityContext"];
    assert_eq!(security["runAsNonRoot"], true);
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], json!(["ALL"]));
    assert!(security.get("privileged").is_none_or(|p| p == false));
    assert!(security["capabilities"].get("add").is_none());

    let image = container["image"].as_str().unwrap();
    assert!(
        image.starts_with(&format!("{IMAGE_PLACEHOLDER}:")),
        "the image is the placeholder the overlay of docs/deploy.md replaces: {image}"
    );
    assert_eq!(
        container["ports"],
        json!([{"name": "http", "containerPort": 9721, "protocol": "TCP"}])
    );
    for (probe, path) in [("livenessProbe", "/healthz"), ("readinessProbe", "/readyz")] {
        let get = &container[probe]["httpGet"];
        assert_eq!(get["path"], path, "{probe}");
        assert_eq!(get["port"], "http", "{probe} uses the named port");
    }

    // Sized from BENCHMARKS.md: the request holds 100k tags, the limit a restart of them.
    let resources = &container["resources"];
    assert!(bytes(&resources["requests"]["memory"]) >= PEAK_RSS_100K_MIB << 20);
    assert!(bytes(&resources["limits"]["memory"]) >= RESTART_RSS_100K_MIB << 20);
    assert!(resources["requests"]["cpu"].is_string());

    // The token: a file from the Secret, read-only, readable by its owner only.
    let args = strings(&container["args"]);
    let password_file = flag_value(&args, "--hub.password-file").expect("--hub.password-file");
    assert_eq!(password_file, "/run/secrets/dockerhub/password");
    let (volume, mount) = volume_of(pod, container, password_file);
    assert_eq!(mount["mountPath"], "/run/secrets/dockerhub");
    assert_eq!(mount["readOnly"], true);
    assert_eq!(volume["secret"]["secretName"], SECRET);
    assert_eq!(
        volume["secret"]["items"],
        json!([{"key": "password", "path": "password"}])
    );
    assert_eq!(volume["secret"]["defaultMode"], 0o400);

    // The username from the same Secret; no secret in the environment or on the command line.
    let env = container["env"].as_array().unwrap();
    let username = env
        .iter()
        .find(|e| e["name"] == "DOCKERHUB_USERNAME")
        .expect("DOCKERHUB_USERNAME");
    assert_eq!(
        username["valueFrom"]["secretKeyRef"],
        json!({"name": SECRET, "key": "username"})
    );
    assert!(env.iter().all(|e| e["name"] != "DOCKERHUB_PASSWORD"));
    assert!(args.iter().all(|a| !a.contains("dckr_")));

    // The state file on a volume of its own, writable.
    let state_file = flag_value(&args, "--state.file").expect("--state.file");
    assert_eq!(state_file, "/var/lib/dockerhub_exporter/state.json");
    let (volume, mount) = volume_of(pod, container, state_file);
    assert_eq!(mount["mountPath"], "/var/lib/dockerhub_exporter");
    assert!(mount.get("readOnly").is_none_or(|r| r == false));
    assert!(volume.get("emptyDir").is_some() || volume.get("persistentVolumeClaim").is_some());

    // The binary's defaults serve what the port and the probes expect.
    assert!(flag_value(&args, "--web.listen-address").is_none());
    assert!(flag_value(&args, "--web.telemetry-path").is_none());
}

#[test]
fn the_base_renders_a_service_a_service_monitor_and_no_secret_with_recommended_labels() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let objects = kustomize(&kubectl, &base());
    let mut kinds: Vec<_> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "ConfigMap",
            "Deployment",
            "PrometheusRule",
            "Service",
            "ServiceMonitor"
        ],
        "the base holds these objects and no Secret"
    );
    for o in &objects {
        let metadata = &o["metadata"];
        assert_eq!(
            metadata["labels"]["app.kubernetes.io/name"], "dockerhub-exporter",
            "{}",
            o["kind"]
        );
        assert!(
            metadata.get("namespace").is_none(),
            "the base leaves the namespace to kubectl or an overlay"
        );
    }

    let pod_labels = &the(&objects, "Deployment")["spec"]["template"]["metadata"]["labels"];
    let service = the(&objects, "Service");
    for (k, v) in service["spec"]["selector"].as_object().unwrap() {
        assert_eq!(&pod_labels[k], v, "the Service selects the pod by {k}");
    }
    assert_eq!(
        service["spec"]["ports"],
        json!([{"name": "http", "port": 9721, "targetPort": "http", "protocol": "TCP"}])
    );

    let monitor = the(&objects, "ServiceMonitor");
    assert_eq!(monitor["apiVersion"], "monitoring.coreos.com/v1");
    let selector = monitor["spec"]["selector"]["matchLabels"]
        .as_object()
        .unwrap();
    assert!(!selector.is_empty());
    for (k, v) in selector {
        assert_eq!(
            &service["metadata"]["labels"][k], v,
            "the ServiceMonitor selects the Service by {k}"
        );
    }
    let endpoints = monitor["spec"]["endpoints"].as_array().unwrap();
    assert_eq!(endpoints.len(), 1);
    assert_eq!(endpoints[0]["port"], "http");
    assert_eq!(endpoints[0]["path"], "/metrics");
    // The shipped DockerHubExporterDown looks for up{job="dockerhub"}.
    assert!(
        endpoints[0]["relabelings"]
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["targetLabel"] == "job"
                && r["replacement"] == "dockerhub"
                && r.get("sourceLabels").is_none()),
        "the job label is dockerhub"
    );
}

#[test]
fn the_rendered_core_objects_and_the_readme_secret_validate_against_the_kubernetes_schemas() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let Some(validate) = kube_tool(
        "kubernetes-validate",
        "pip install kubernetes-validate, with --break-system-packages on Debian's Python",
    ) else {
        return;
    };
    let dir = scratch("validate");
    let objects = kustomize(&kubectl, &base());
    let (operator, mut core): (Vec<_>, Vec<_>) = objects.into_iter().partition(is_operator_kind);
    let mut operator_kinds: Vec<_> = operator.iter().map(|o| o["kind"].clone()).collect();
    operator_kinds.sort_by_key(|k| k.to_string());
    assert_eq!(
        operator_kinds,
        ["PrometheusRule", "ServiceMonitor"],
        "only the Prometheus Operator's kinds go unvalidated"
    );
    core.push(readme_secret(&kubectl, &dir, "mybot", Some("myorg")));

    let validate_all = |objects: &[Value], file: &str| {
        let path = dir.join(file);
        let docs: Vec<String> = objects.iter().map(Value::to_string).collect();
        std::fs::write(&path, docs.join("\n---\n")).unwrap();
        Command::new(&validate)
            .args(["--strict", "--kubernetes-version", KUBERNETES_VERSION])
            .arg(&path)
            .output()
            .expect("kubernetes-validate runs")
    };
    let out = validate_all(&core, "core.yaml");
    let said =
        String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{said}");
    for o in &core {
        let kind = o["kind"].as_str().unwrap().to_lowercase();
        let name = o["metadata"]["name"].as_str().unwrap();
        assert!(
            said.contains(&format!("passed for resource {kind}/{name}")),
            "{kind}/{name} was validated: {said}"
        );
    }

    // The same Deployment with a misspelt field fails: the validation is strict, not a no-op.
    let mut broken = core.clone();
    let deployment = broken
        .iter_mut()
        .find(|o| o["kind"] == "Deployment")
        .unwrap();
    deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]["readOnlyRootFileSystem"] =
        json!(true);
    let out = validate_all(&broken, "broken.yaml");
    assert!(!out.status.success(), "a misspelt field is refused");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_rendered_prometheus_rule_is_the_shipped_rules_and_promtool_accepts_it() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let Some(promtool) = tool("promtool") else {
        return;
    };
    let objects = kustomize(&kubectl, &base());
    let rule = the(&objects, "PrometheusRule");
    assert_eq!(rule["apiVersion"], "monitoring.coreos.com/v1");
    let groups = &rule["spec"]["groups"];
    assert!(
        *groups == shipped_groups(),
        "the rendered rules differ from examples/alerts.yml"
    );

    // The groups as a plain rules file (JSON is YAML), checked as Prometheus would load them.
    let dir = scratch("rules");
    let file = dir.join("rules.yml");
    std::fs::write(&file, json!({ "groups": groups }).to_string()).unwrap();
    let out = run(Command::new(promtool).args(["check", "rules"]).arg(&file));
    let count: usize = groups
        .as_array()
        .unwrap()
        .iter()
        .map(|g| g["rules"].as_array().unwrap().len())
        .sum();
    assert!(count > 0);
    assert!(
        out.contains(&format!("SUCCESS: {count} rules found")),
        "{out}"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn the_rendered_dashboard_config_map_holds_the_shipped_dashboard_for_the_grafana_sidecar() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let objects = kustomize(&kubectl, &base());
    let map = the(&objects, "ConfigMap");
    // No hash suffix: the name stays the same when the dashboard changes.
    assert_eq!(map["metadata"]["name"], "dockerhub-exporter-dashboard");
    assert_eq!(map["metadata"]["labels"]["grafana_dashboard"], "1");
    let data = map["data"].as_object().unwrap();
    assert_eq!(
        data.keys().collect::<Vec<_>>(),
        ["dockerhub-inventory.json"]
    );
    assert!(
        data["dockerhub-inventory.json"] == dashboard_text(),
        "the ConfigMap's dashboard differs from grafana/dockerhub-inventory.json"
    );
}

#[test]
fn the_readme_overlay_replaces_the_image_and_sets_the_namespace() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let version: Value = serde_json::from_str(&run(
        Command::new(&kubectl).args(["version", "--client", "-o", "json"])
    ))
    .expect("kubectl prints its version as JSON");
    let minor = version["clientVersion"]["minor"]
        .as_str()
        .unwrap_or_default();
    let minor: u32 = minor.trim_end_matches('+').parse().unwrap_or(0);
    if minor < 21 {
        // kustomize before v4 takes a base directory under `bases:` only.
        let reason = format!("kubectl 1.{minor} cannot render overlays; 1.21 or later can");
        assert!(std::env::var_os(REQUIRE_KUBERNETES).is_none(), "{reason}");
        println!("skipped: {reason}");
        return;
    }
    // kustomize accepts a base only by a relative path, so the overlay lives beside the
    // build's temporary files, which are on this machine's file system like the base.
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kubernetes-overlay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let to_base = relative(&dir, &base());
    let overlay = README_OVERLAY.replace("{base}", to_base.to_str().unwrap());
    std::fs::write(dir.join("kustomization.yaml"), overlay).unwrap();

    let objects = kustomize(&kubectl, &dir);
    assert_eq!(objects.len(), 5);
    for o in &objects {
        assert_eq!(o["metadata"]["namespace"], "monitoring", "{}", o["kind"]);
    }
    let container = &the(&objects, "Deployment")["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "ghcr.io/myorg/dockerhub_exporter:0.1.0");
    std::fs::remove_dir_all(dir).unwrap();
}

/// Starts the binary as the kubelet would start the rendered container, with the Secret the
/// command of docs/deploy.md creates: each volume is a temporary directory (the Secret's items written
/// with the volume's mode), paths in the arguments are moved into those directories, and the
/// environment comes from the Secret. Only `--hub.url` and the listen address are added.
async fn start_like_the_kubelet(
    container: &Value,
    pod: &Value,
    secret: &Value,
    hub_url: &str,
    dir: &Path,
) -> (Process, BTreeMap<String, PathBuf>) {
    let mut mounts = BTreeMap::new();
    for mount in container["volumeMounts"].as_array().unwrap() {
        let name = mount["name"].as_str().unwrap();
        let path = mount["mountPath"].as_str().unwrap().to_string();
        let local = dir.join(name);
        std::fs::create_dir_all(&local).unwrap();
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == name)
            .unwrap();
        if let Some(from) = volume.get("secret") {
            assert_eq!(from["secretName"], secret["metadata"]["name"]);
            let mode = from["defaultMode"].as_u64().unwrap_or(0o644) as u32;
            for item in from["items"].as_array().unwrap() {
                let key = item["key"].as_str().unwrap();
                let value = secret_value(secret, key)
                    .unwrap_or_else(|| panic!("the Secret of docs/deploy.md has no key {key}"));
                let file = local.join(item["path"].as_str().unwrap());
                std::fs::write(&file, value).unwrap();
                std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
            }
        }
        mounts.insert(path, local);
    }
    let args: Vec<String> = strings(&container["args"])
        .into_iter()
        .map(|arg| {
            for (path, local) in &mounts {
                if let Some(rest) = arg.strip_prefix(&format!("{path}/")) {
                    return local.join(rest).to_str().unwrap().to_string();
                }
            }
            arg
        })
        .collect();
    let mut env = Vec::new();
    for e in container["env"].as_array().unwrap() {
        let name = e["name"].as_str().unwrap().to_string();
        if let Some(value) = e["value"].as_str() {
            env.push((name, value.to_string()));
            continue;
        }
        let from = &e["valueFrom"]["secretKeyRef"];
        assert_eq!(from["name"], secret["metadata"]["name"], "{name}");
        let key = from["key"].as_str().unwrap();
        match secret_value(secret, key) {
            Some(value) => env.push((name, value)),
            None => assert_eq!(from["optional"], true, "{name}: the Secret lacks {key}"),
        }
    }
    let mut argv = hub_only(hub_url, &["--web.listen-address", "127.0.0.1:0"]);
    argv.extend(args);
    (start_or_report(&argv, &env).await, mounts)
}

/// The binary started with `args` and only `env`, as [`Process::start`] starts it, except
/// that a binary that exits before serving fails the test at once with its log.
async fn start_or_report(args: &[String], env: &[(String, String)]) -> Process {
    let mut child = tokio::process::Command::new(BIN)
        .args(no_real_registry(args))
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the binary starts");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let log = Arc::new(Mutex::new(Vec::new()));
    let started = tokio::time::timeout(WAIT_LIMIT, async {
        while let Some(line) = lines.next_line().await.ok()? {
            log.lock().unwrap().push(line.clone());
            if line.contains("dockerhub_exporter started") {
                return Some(line);
            }
        }
        None
    })
    .await
    .expect("the binary starts or exits within the wait limit");
    let Some(started) = started else {
        let status = child.wait().await.unwrap();
        panic!(
            "the binary exited ({status}) with the rendered arguments {args:?}:\n{}",
            log.lock().unwrap().join("\n")
        );
    };
    let address = started
        .split("address=")
        .nth(1)
        .and_then(|a| a.split(' ').next())
        .expect("the start line names the address");
    let url = format!("http://{address}");
    let sink = Arc::clone(&log);
    tokio::spawn(async move {
        while let Ok(Some(line)) = lines.next_line().await {
            sink.lock().unwrap().push(line);
        }
    });
    Process { child, log, url }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rendered_container_starts_the_binary_which_reads_the_secret_and_writes_its_state() {
    let Some(kubectl) = kubectl() else {
        return;
    };
    let objects = kustomize(&kubectl, &base());
    let monitor = the(&objects, "ServiceMonitor");
    let metrics_path = monitor["spec"]["endpoints"][0]["path"].as_str().unwrap();
    let pod = &the(&objects, "Deployment")["spec"]["template"]["spec"];
    let container = &pod["containers"][0];
    let state_file = flag_value(&strings(&container["args"]), "--state.file")
        .unwrap()
        .to_string();

    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").private().with_tags(3));
    hub.add_repo("acme", Repo::new("web").with_tags(2));
    // An organization access token (username = organization) and a bot account naming it.
    hub.add_account("acme", "dckr_pat_x", &["acme"]);
    hub.add_account("acme-bot", "dckr_pat_x", &["acme"]);
    let running = hub.start().await.unwrap();

    // The Secret of docs/deploy.md without namespaces (the username's is read), then with them.
    for (username, namespaces) in [("acme", None), ("acme-bot", Some("acme"))] {
        let dir = scratch(&format!("pod-{username}"));
        let secret = readme_secret(&kubectl, &dir, username, namespaces);
        let (process, mounts) =
            start_like_the_kubelet(container, pod, &secret, &running.url(), &dir).await;
        let log = process.log();
        let started: Vec<_> = log
            .lines()
            .find(|l| l.contains("dockerhub_exporter started"))
            .unwrap()
            .split_whitespace()
            .collect();
        assert!(
            started.contains(&"authenticated=true") && started.contains(&"namespaces=acme"),
            "the username and the namespaces come from the Secret: {started:?}"
        );
        eventually(|| async {
            let (status, _) = get(&format!("{}/readyz", process.url)).await;
            (status == 200).then_some(())
        })
        .await;
        for probe in ["livenessProbe", "readinessProbe"] {
            let path = container[probe]["httpGet"]["path"].as_str().unwrap();
            let (status, _) = get(&format!("{}{path}", process.url)).await;
            assert_eq!(status, 200, "{probe} {path}");
        }
        let (status, m) = get(&format!("{}{metrics_path}", process.url)).await;
        assert_eq!(status, 200);
        assert_eq!(
            value(&m, "dockerhub_up", &[]),
            Some(1.0),
            "{}",
            process.log()
        );
        assert_eq!(
            served_tags(&m, "acme", "api").len(),
            3,
            "the private repository is read with the token from the mounted file"
        );
        assert!(!process.log().contains("authentication failed"));
        // The state file is written inside the state volume's directory.
        let (mount, local) = mounts
            .iter()
            .find(|(path, _)| state_file.starts_with(&format!("{path}/")))
            .unwrap();
        let local_state = local.join(state_file.strip_prefix(&format!("{mount}/")).unwrap());
        eventually(|| async { local_state.is_file().then_some(()) }).await;
        assert!(process.terminate().await.success());
        std::fs::remove_dir_all(dir).unwrap();
    }
}
