//! The reference in `docs/` kept true: every metric family the exporter serves (every feature
//! on, against the simulated Hub) is in `docs/metrics.md` with its type and label names, and
//! every family there is served; every long flag of the binary and its subcommands is in
//! `docs/configuration.md` with its environment variable, and every flag there exists; every
//! shipped alert is in `docs/alerting.md`; every relative link of `README.md` and `docs/`
//! leads to a file, and to a heading where it names one.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use simhub::SimHub;

use crate::support::signals::{TOKEN, token_file};
use crate::support::*;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The cells of the table rows of `text` that start with a code span (no cell of these
/// tables holds a `|`).
fn table_rows(text: &str) -> Vec<Vec<String>> {
    text.lines()
        .filter(|l| l.starts_with("| `"))
        .map(|l| {
            l.trim()
                .trim_matches('|')
                .split('|')
                .map(|c| c.trim().to_string())
                .collect()
        })
        .collect()
}

/// The code spans of a cell.
fn code_spans(cell: &str) -> Vec<&str> {
    cell.split('`').skip(1).step_by(2).collect()
}

/// A family as documented or as served: its type and label names.
type Shape = (String, BTreeSet<String>);

fn documented_families() -> BTreeMap<String, Shape> {
    let mut documented = BTreeMap::new();
    for row in table_rows(&read(&root().join("docs/metrics.md"))) {
        assert!(
            row.len() >= 5,
            "metric, type, labels, meaning, query: {row:?}"
        );
        let name = code_spans(&row[0])[0].to_string();
        assert!(
            !code_spans(&row[4]).is_empty(),
            "{name} has an example query"
        );
        let labels = row[2]
            .split(',')
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect();
        let previous = documented.insert(name.clone(), (row[1].clone(), labels));
        assert!(previous.is_none(), "{name} documented twice");
    }
    documented
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_family_served_is_in_docs_metrics_with_its_type_and_labels_and_back() {
    // Every feature on: an account, namespaces and a watched repository, the Hub's rate-limit
    // headers, the webhook, the audit log and the registry's pull limit.
    let hub = SimHub::demo(5);
    hub.set_rate_limit(100_000, Duration::from_secs(60));
    let running = hub.start().await.unwrap();
    let dir = temp_dir("docs-metrics");
    let token = token_file(&dir);
    let registry = running.registry_url();
    let auth = running.registry_auth_url();
    let process = Process::start(
        &hub_args(
            &running.url(),
            "acme",
            &[
                "--hub.username",
                "acme-bot",
                "--hub.rate-limit",
                "100000",
                "--hub.repository",
                "library/nginx",
                "--web.webhook-token-file",
                token.to_str().unwrap(),
                "--hub.audit-log.interval",
                "1m",
                "--registry.url",
                &registry,
                "--registry.auth-url",
                &auth,
            ],
        ),
        &[("DOCKERHUB_PASSWORD", "dckr_pat_demo_acme")],
    )
    .await;
    let metrics = eventually(|| async {
        let (_, m) = get(&format!("{}/metrics", process.url)).await;
        // The pull limit is checked on its own clock: wait for its figures too.
        (refreshes(&m) >= 1.0 && m.contains("\ndockerhub_pull_limit_remaining{")).then_some(m)
    })
    .await;
    // A webhook, so that its counter has been used as well as declared.
    let status = post(&format!("{}/hooks/dockerhub/{TOKEN}", process.url), "{}").await;
    assert_eq!(status, 400);
    let served: BTreeMap<String, Shape> = families(&metrics)
        .into_iter()
        .map(|f| {
            let labels = f
                .samples
                .iter()
                .flat_map(|s| s.labels.iter().map(|(name, _)| name.clone()))
                .collect();
            assert!(!f.samples.is_empty(), "{} is served with samples", f.name);
            (f.name, (f.kind, labels))
        })
        .collect();
    let documented = documented_families();
    let undocumented: Vec<&String> = served
        .keys()
        .filter(|f| !documented.contains_key(*f))
        .collect();
    assert!(
        undocumented.is_empty(),
        "served but not in docs/metrics.md: {undocumented:?}"
    );
    let unserved: Vec<&String> = documented
        .keys()
        .filter(|f| !served.contains_key(*f))
        .collect();
    assert!(
        unserved.is_empty(),
        "in docs/metrics.md but not served: {unserved:?}"
    );
    for (name, shape) in &served {
        assert_eq!(
            &documented[name], shape,
            "{name}: documented type and labels, then served"
        );
    }
    assert!(process.terminate().await.success());
    std::fs::remove_dir_all(dir).unwrap();
}

/// The long flags of `--help` of the binary with `args`, each with its environment variable.
fn flags_in_help(args: &[&str]) -> BTreeMap<String, Option<String>> {
    let out = std::process::Command::new(BIN)
        .args(args)
        .arg("--help")
        .output()
        .unwrap();
    assert!(out.status.success());
    let mut flags = BTreeMap::new();
    let mut current: Option<String> = None;
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let trimmed = line.trim_start();
        let flag = trimmed
            .strip_prefix("--")
            .or_else(|| trimmed.split_once(", --").map(|(_, f)| f))
            .filter(|_| line.starts_with("  "));
        if let Some(flag) = flag {
            let name = format!("--{}", flag.split([' ', '=']).next().unwrap());
            flags.insert(name.clone(), None);
            current = Some(name);
        } else if let (Some(name), Some(env)) = (&current, trimmed.strip_prefix("[env: ")) {
            let env = env.split([']', '=']).next().unwrap().to_string();
            flags.insert(name.clone(), Some(env));
        }
    }
    flags.remove("--help");
    flags.remove("--version");
    flags
}

#[test]
fn every_long_flag_is_in_docs_configuration_with_its_environment_variable_and_back() {
    let mut in_help: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for args in [&[][..], &["inventory"], &["healthcheck"]] {
        let flags = flags_in_help(args);
        assert!(!flags.is_empty(), "{args:?} has flags");
        for (flag, env) in flags {
            in_help.entry(flag).or_default().extend(env);
        }
    }
    assert!(in_help.len() > 30, "{in_help:?}");
    assert!(in_help["--hub.url"].contains("DOCKERHUB_URL"));
    let mut documented: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for row in table_rows(&read(&root().join("docs/configuration.md"))) {
        let flags = code_spans(&row[0]);
        let envs: BTreeSet<String> = code_spans(row.get(1).map_or("", String::as_str))
            .into_iter()
            .map(str::to_string)
            .collect();
        for flag in flags.into_iter().filter(|f| f.starts_with("--")) {
            documented
                .entry(flag.to_string())
                .or_default()
                .extend(envs.clone());
        }
    }
    let undocumented: Vec<&String> = in_help
        .keys()
        .filter(|f| !documented.contains_key(*f))
        .collect();
    assert!(
        undocumented.is_empty(),
        "not in docs/configuration.md: {undocumented:?}"
    );
    let unknown: Vec<&String> = documented
        .keys()
        .filter(|f| !in_help.contains_key(*f))
        .collect();
    assert!(
        unknown.is_empty(),
        "in docs/configuration.md but no such flag: {unknown:?}"
    );
    for (flag, envs) in &in_help {
        for env in envs {
            assert!(
                documented[flag].contains(env),
                "{flag}: its variable {env} is in its row of docs/configuration.md"
            );
        }
    }
}

#[test]
fn every_shipped_alert_is_in_docs_alerting() {
    let rules = read(&root().join("examples/alerts.yml"));
    let alerting = read(&root().join("docs/alerting.md"));
    let alerts: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- alert: "))
        .map(str::trim)
        .collect();
    assert!(alerts.len() >= 5, "{alerts:?}");
    let missing: Vec<&&str> = alerts
        .iter()
        .filter(|a| !alerting.contains(&format!("`{a}`")))
        .collect();
    assert!(missing.is_empty(), "not in docs/alerting.md: {missing:?}");
}

/// GitHub's anchor of a heading: lower case, punctuation but `-` and `_` dropped, spaces
/// to `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The lines of a Markdown text outside code blocks.
fn prose(text: &str) -> Vec<&str> {
    let mut fenced = false;
    text.lines()
        .filter(|l| {
            if l.starts_with("```") {
                fenced = !fenced;
                return false;
            }
            !fenced
        })
        .collect()
}

fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .into_iter()
        .filter_map(|l| l.strip_prefix('#'))
        .map(|h| anchor(h.trim_start_matches('#')))
        .collect()
}

/// The targets of the inline links of a Markdown text, outside code.
fn links(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in prose(text) {
        // Code spans hold no links.
        let outside_code: String = line.split('`').step_by(2).collect::<Vec<_>>().join(" ");
        let mut rest = outside_code.as_str();
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            found.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    found
}

#[test]
fn every_relative_link_of_the_readme_and_docs_leads_to_a_file_and_heading() {
    let mut files: Vec<PathBuf> = vec![root().join("README.md"), root().join("CHANGELOG.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    assert!(docs.len() >= 9, "{docs:?}");
    files.extend(docs);
    let mut checked = 0;
    let mut broken = Vec::new();
    for file in &files {
        let text = read(file);
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            let (path, fragment) = link.split_once('#').unwrap_or((&link, ""));
            let target = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            checked += 1;
            if !target.exists() {
                broken.push(format!("{}: {link}: no such file", file.display()));
            } else if !fragment.is_empty() && !anchors(&read(&target)).contains(fragment) {
                broken.push(format!("{}: {link}: no such heading", file.display()));
            }
        }
    }
    assert!(checked > 50, "{checked} links");
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_readme_stays_short_and_points_to_every_reference_file() {
    let readme = read(&root().join("README.md"));
    assert!(
        readme.lines().count() <= 300,
        "{} lines",
        readme.lines().count()
    );
    for entry in std::fs::read_dir(root().join("docs")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        assert!(
            readme.contains(&format!("](docs/{name})")),
            "the README's table of contents links docs/{name}"
        );
    }
    for file in ["CHANGELOG.md", "LICENSE", "BENCHMARKS.md"] {
        assert!(
            readme.contains(&format!("]({file})")),
            "the README links {file}"
        );
    }
}
