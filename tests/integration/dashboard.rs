//! The Grafana dashboard: its structure, and every panel's queries answered with data by a
//! real Prometheus scraping the exporter while tags are pushed and deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use base64::Engine;
use serde_json::Value;
use simhub::{PullQuota, Repo, SimHub, TagSpec};

use crate::support::*;

fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("grafana/dockerhub-inventory.json");
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).expect("valid JSON")
}

/// Every panel, rows included, with panels nested in collapsed rows.
fn panels(d: &Value) -> Vec<&Value> {
    let mut out = Vec::new();
    for p in d["panels"].as_array().expect("panels") {
        out.push(p);
        out.extend(p["panels"].as_array().into_iter().flatten());
    }
    out
}

fn is_layout_only(p: &Value) -> bool {
    matches!(p["type"].as_str(), Some("row" | "text"))
}

/// Every query of the dashboard: panel targets and query variables, as (where, expr, instant).
fn queries(d: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for p in panels(d).into_iter().filter(|p| !is_layout_only(p)) {
        for t in p["targets"].as_array().into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap_or_default().to_string();
            let instant = t["instant"].as_bool().unwrap_or(false);
            out.push((format!("{:?} {}", p["title"], t["refId"]), expr, instant));
        }
    }
    out
}

#[test]
fn the_dashboard_is_well_formed() {
    let d = dashboard();
    assert_eq!(d["uid"], "dockerhub-inventory");
    assert!(d["time"]["from"].is_string() && d["refresh"].is_string());
    let vars = d["templating"]["list"].as_array().unwrap();
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("variable {name}"))
    };
    assert_eq!(var("datasource")["type"], "datasource");
    assert_eq!(var("datasource")["query"], "prometheus");
    for name in ["hub_namespace", "repository"] {
        let v = var(name);
        assert_eq!(v["type"], "query");
        assert!(
            v["definition"]
                .as_str()
                .unwrap()
                .starts_with("label_values(")
        );
        assert_eq!(
            (v["multi"].as_bool(), v["includeAll"].as_bool()),
            (Some(true), Some(true)),
            "{name}"
        );
    }

    let mut ids = BTreeSet::new();
    let mut boxes: Vec<(String, [i64; 4])> = Vec::new();
    for p in panels(&d) {
        assert!(
            ids.insert(p["id"].as_i64().expect("numeric id")),
            "duplicate id {}",
            p["id"]
        );
        let g = &p["gridPos"];
        let [x, y, w, h] = ["x", "y", "w", "h"].map(|k| g[k].as_i64().expect("gridPos"));
        assert!(
            x >= 0 && w > 0 && h > 0 && x + w <= 24,
            "{} is outside 24 columns",
            p["title"]
        );
        let title = p["title"].to_string();
        for (other, [ox, oy, ow, oh]) in &boxes {
            let apart = x + w <= *ox || *ox + ow <= x || y + h <= *oy || *oy + oh <= y;
            assert!(apart, "{title} overlaps {other}");
        }
        boxes.push((title.clone(), [x, y, w, h]));
        if is_layout_only(p) {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${datasource}", "{title}");
        let targets = p["targets"].as_array().filter(|t| !t.is_empty());
        let targets = targets.unwrap_or_else(|| panic!("{title} has no query"));
        for t in targets {
            assert_eq!(t["datasource"]["uid"], "${datasource}", "{title}");
            assert!(
                !t["expr"].as_str().unwrap_or_default().is_empty(),
                "{title}"
            );
        }
        let described = p["description"].as_str().is_some_and(|s| !s.is_empty());
        assert!(described, "{title} has no description");
    }

    // Every variable is used; every inventory series honours the namespace and repository
    // the user chose.
    let text = serde_json::to_string(&d["panels"]).unwrap();
    for name in ["datasource", "hub_namespace", "repository"] {
        assert!(
            text.contains(&format!("${name}")) || text.contains(&format!("${{{name}")),
            "{name} unused"
        );
    }
    let per_namespace = [
        "dockerhub_repositories_added_total",
        "dockerhub_repositories_removed_total",
    ];
    let per_repository = [
        "dockerhub_repository_",
        "dockerhub_tag_",
        "dockerhub_image_",
        "dockerhub_tags_",
    ];
    for (place, expr, _) in queries(&d) {
        for (at, _) in expr.match_indices("dockerhub_") {
            let rest = &expr[at..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            let selector = &rest[name.len()..];
            let labels = selector
                .strip_prefix('{')
                .and_then(|s| s.split_once('}'))
                .map(|(l, _)| l)
                .unwrap_or("");
            if per_namespace.contains(&name.as_str())
                || per_repository.iter().any(|p| name.starts_with(p))
            {
                assert!(
                    labels.contains("hub_namespace=~\"$hub_namespace\""),
                    "{place}: {name} ignores $hub_namespace"
                );
            }
            if per_repository.iter().any(|p| name.starts_with(p)) {
                assert!(
                    labels.contains("repository=~\"$repository\""),
                    "{place}: {name} ignores $repository"
                );
            }
        }
    }
}

/// Grafana's variables as Grafana would fill them in with "All" selected.
fn substitute(expr: &str) -> String {
    let values: BTreeMap<&str, &str> = BTreeMap::from([
        ("$__rate_interval", "20s"),
        ("$__interval", "2s"),
        ("$__range", "10m"),
        ("$hub_namespace", ".*"),
        ("$repository", ".*"),
    ]);
    let mut out = expr.to_string();
    for (k, v) in values {
        out = out.replace(k, v);
    }
    assert!(
        !out.contains("$__") && !out.contains("$hub") && !out.contains("$repo"),
        "{out}"
    );
    out
}

/// Runs a query; the series it returns, or the error Prometheus gave.
async fn run(prometheus: &Prometheus, expr: &str, instant: bool) -> Result<usize, String> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let (start, end) = ((now - 120.0).to_string(), now.to_string());
    let (path, params): (&str, Vec<(&str, &str)>) = if instant {
        ("/api/v1/query", vec![("query", expr)])
    } else {
        (
            "/api/v1/query_range",
            vec![
                ("query", expr),
                ("start", &start),
                ("end", &end),
                ("step", "2"),
            ],
        )
    };
    let url =
        reqwest::Url::parse_with_params(&format!("{}{path}", prometheus.url), &params).unwrap();
    let body = reqwest::get(url)
        .await
        .map_err(|e| e.to_string())?
        .text()
        .await
        .map_err(|e| e.to_string())?;
    let v: Value = serde_json::from_str(&body).map_err(|e| format!("{e}: {body}"))?;
    if v["status"] != "success" {
        return Err(body);
    }
    Ok(v["data"]["result"].as_array().map_or(0, Vec::len))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_panel_query_returns_data_from_a_real_prometheus() {
    let Some(binary) = tool("prometheus") else {
        return;
    };
    let hub = SimHub::demo(11);
    // Like the real Hub, answer with X-RateLimit-* headers (a limit the test never reaches).
    hub.set_rate_limit(100_000, std::time::Duration::from_secs(60));
    let running = hub.start().await.unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let hub_url = running.url();
    let (registry_url, auth_url) = (running.registry_url(), running.registry_auth_url());
    // The simulated registry mirrors acme, one tag short, read as acme-bot (some of acme's
    // repositories are private): the mirror panels have a mismatch to show.
    let registry = hub.start_registry().await.unwrap();
    let host = registry.addr().to_string();
    let mirrored = hub
        .repository_names("acme")
        .into_iter()
        .rev()
        .find(|r| !hub.tag_names("acme", r).is_empty())
        .expect("a repository with tags");
    let lacking = hub.tag_names("acme", &mirrored).remove(0);
    hub.set_registry_tag(
        &format!("acme/{mirrored}"),
        &lacking,
        simhub::RegistryTag::Absent,
    );
    let auth = base64::engine::general_purpose::STANDARD.encode("acme-bot:dckr_pat_demo_acme");
    let auth_file = write(
        &temp_dir("dashboard-mirror"),
        "auth.json",
        &format!(r#"{{"auths": {{"{host}": {{"auth": "{auth}"}}}}}}"#),
    );
    let mirror = format!("acme={host}/acme");
    let exporter = Process::start(
        &hub_args(
            &hub_url,
            "library,acme",
            &[
                "--hub.username",
                "acme-bot",
                "--refresh.interval",
                "1s",
                "--hub.rate-limit",
                "100000",
                "--web.listen-address",
                &listen,
                "--registry.url",
                &registry_url,
                "--registry.auth-url",
                &auth_url,
                "--pull-limit.interval",
                "1s",
                "--mirror",
                &mirror,
                "--mirror.insecure-registry",
                &host,
                "--mirror.auth-file",
                auth_file.to_str().unwrap(),
            ],
        ),
        &[("DOCKERHUB_PASSWORD", "dckr_pat_demo_acme")],
    )
    .await;
    let prometheus = Prometheus::start(&binary, &listen, "dashboard").await;
    prometheus
        .wait_for_samples("dockerhub_tags_added_total", 2.0)
        .await;

    // Changes of every kind, so that the change panels have something to show.
    let repos = hub.repository_names("acme");
    let changed = repos
        .iter()
        .find(|r| hub.tag_names("acme", r).len() >= 2)
        .expect("a repository with tags");
    let tags = hub.tag_names("acme", changed);
    assert!(hub.delete_tag("acme", changed, &tags[0]));
    hub.repush_tag("acme", changed, &tags[1]).unwrap();
    hub.push_tag("acme", changed, TagSpec::new("9.9.9"));
    let gone = repos.iter().find(|r| *r != changed).unwrap();
    assert!(hub.delete_repo("acme", gone));
    hub.add_repo("acme", Repo::new("fresh").with_tags(3));
    // Pulls spent behind the exporter's address, so that the pull limit falls at a rate.
    prometheus
        .wait_for_samples(
            r#"dockerhub_pull_limit_remaining{account="anonymous"}"#,
            2.0,
        )
        .await;
    hub.set_pull_quota(None, PullQuota::limited(100, 60));
    eventually(|| async {
        let seen = prometheus
            .scalar("sum(dockerhub_repositories_removed_total)")
            .await?;
        let moved = prometheus
            .scalar("sum(increase(dockerhub_tags_updated_total[10m]))")
            .await?;
        let falling = prometheus
            .scalar(r#"-deriv(dockerhub_pull_limit_remaining{account="anonymous"}[1h])"#)
            .await?;
        let mismatched = prometheus
            .scalar(r#"count(dockerhub_mirror_tag_mismatch{reason="missing"})"#)
            .await?;
        (seen >= 1.0 && moved > 0.0 && falling > 0.0 && mismatched >= 1.0).then_some(())
    })
    .await;

    let d = dashboard();
    let mut failures = Vec::new();
    for (place, expr, instant) in queries(&d) {
        match run(&prometheus, &substitute(&expr), instant).await {
            Ok(0) => failures.push(format!("{place}: no series for {expr}")),
            Ok(_) => {}
            Err(e) => failures.push(format!("{place}: {e} for {expr}")),
        }
    }
    // The variables' own queries list values.
    for (label, matcher) in [
        ("hub_namespace", "dockerhub_repositories"),
        ("repository", "dockerhub_repository_info"),
    ] {
        let values = prometheus
            .api(
                &format!("/api/v1/label/{label}/values"),
                &[("match[]", matcher)],
            )
            .await;
        if values
            .as_ref()
            .and_then(Value::as_array)
            .is_none_or(Vec::is_empty)
        {
            failures.push(format!("variable {label}: no values"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    prometheus.stop().await;
    assert!(exporter.terminate().await.success());
}
