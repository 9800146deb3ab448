//! The soak run (`--soak`): an hour or so of one-second refreshes with tags churning and
//! faults switching on and off, reporting the exporter's memory, descriptors, threads and
//! runtime tasks as it goes, and checking every body it scrapes (a gzip body decodes as one
//! member, a plain one is as long as its `Content-Length`, each in both formats). Kept apart from the benchmark, which measures speed, because it
//! measures what must not grow.

use std::time::{Duration, Instant};

use simhub::SimHub;

use std::io::Read as _;

use crate::{Bench, Exporter};

/// The soak run: see `--soak`.
pub(crate) async fn soak(b: &Bench, hub: &SimHub, hub_url: &str, length: Duration) {
    use simhub::{Fault, FaultKind};
    let state = std::env::temp_dir().join(format!("dockerhub-soak-{}.json", std::process::id()));
    let exporter = Exporter::start(
        hub_url,
        b,
        &[
            "--refresh.interval",
            "1s",
            "--hub.timeout",
            "2s",
            "--state.file",
            state.to_str().expect("UTF-8 path"),
        ],
    );
    let _churn = hub.start_churn(Duration::from_secs(2), 7);
    let repos: Vec<String> = hub.repository_names("bench");
    let tag_count = || -> usize { repos.iter().map(|r| hub.tag_names("bench", r).len()).sum() };
    let initial_tags = tag_count();
    exporter.wait_for("refresh finished");
    let client = reqwest::Client::new();
    let started = Instant::now();
    let report = |label: &str, e: &Exporter, tasks: f64| {
        let (rss, fds, threads) = e.resources();
        println!(
            "{label:<8} {:>6.0} s  RSS {rss:>7.1} MiB  fds {fds:>4}  threads {threads:>3}  tasks {tasks:>3}  tags {}",
            started.elapsed().as_secs_f64(),
            tag_count()
        );
        (rss, fds, threads, tasks)
    };
    let first = report(
        "start",
        &exporter,
        runtime_tasks(&client, &exporter.url).await,
    );
    let faults = [
        ("service-00001/tags", FaultKind::Status(503)),
        ("service-00002/tags", FaultKind::TruncatedJson),
        ("service-00003/tags", FaultKind::HtmlOk),
        ("service-00004/tags", FaultKind::ResetMidBody),
        (
            "service-00005/tags",
            FaultKind::Slow(Duration::from_secs(3)),
        ),
        ("service-00006/tags", FaultKind::Huge(20 << 20)),
        ("service-00007/tags", FaultKind::LoopNext),
        ("/repositories?", FaultKind::Status(502)),
    ];
    let mut next_report = Duration::from_secs(300);
    let mut faulty = false;
    let mut scrapes = 0u64;
    let mut broken = 0u64;
    // Bodies as sent: the client must not decompress them itself.
    let scraper = reqwest::Client::builder()
        .no_gzip()
        .build()
        .expect("a client");
    while started.elapsed() < length {
        let elapsed = started.elapsed();
        let phase = (elapsed.as_secs() / 30) % 2 == 1;
        if phase != faulty {
            faulty = phase;
            if faulty {
                for (path, kind) in &faults {
                    hub.add_fault(Fault::new(*path, kind.clone()));
                }
            } else {
                hub.clear_faults();
            }
        }
        // The churn pushes more often than it deletes: delete the surplus, so that the
        // inventory keeps its size and memory figures compare like with like.
        let mut surplus = tag_count().saturating_sub(initial_tags);
        for repo in repos.iter().cycle().take(repos.len() * 2) {
            if surplus == 0 {
                break;
            }
            let names = hub.tag_names("bench", repo);
            if names.len() > 1 && hub.delete_tag("bench", repo, &names[0]) {
                surplus -= 1;
            }
        }
        let gzip = scrapes.is_multiple_of(2);
        let openmetrics = (scrapes / 2).is_multiple_of(2);
        if let Err(e) = checked_scrape(&scraper, &exporter.url, gzip, openmetrics).await {
            broken += 1;
            println!(
                "broken   {:>6.0} s  gzip {gzip} OpenMetrics {openmetrics}: {e}",
                started.elapsed().as_secs_f64()
            );
        }
        scrapes += 1;
        // Drain the log so that the pipe never fills.
        let _ = exporter.lines.try_iter().count();
        if elapsed >= next_report {
            report(
                "running",
                &exporter,
                runtime_tasks(&client, &exporter.url).await,
            );
            next_report += Duration::from_secs(300);
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    hub.clear_faults();
    let last = report(
        "end",
        &exporter,
        runtime_tasks(&client, &exporter.url).await,
    );
    let exposition_errors = exposition_errors(&client, &exporter.url).await;
    println!(
        "change   RSS {:+.1} MiB, fds {:+}, threads {:+}, tasks {:+}; {scrapes} scrapes, {broken} broken bodies, {exposition_errors} exposition errors",
        last.0 - first.0,
        last.1 as i64 - first.1 as i64,
        last.2 - first.2,
        last.3 - first.3
    );
    exporter.stop();
    let _ = std::fs::remove_file(&state);
}

/// One scrape of the metrics at `url`, its body checked: it arrives whole, as long as its
/// `Content-Length`, and a gzip body decodes as one gzip member to an exposition that ends as
/// its format ends. The body's length as sent, or what was wrong with it.
async fn checked_scrape(
    client: &reqwest::Client,
    url: &str,
    gzip: bool,
    openmetrics: bool,
) -> Result<usize, String> {
    let mut request = client.get(url);
    if gzip {
        request = request.header("Accept-Encoding", "gzip");
    }
    if openmetrics {
        request = request.header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5",
        );
    }
    let response = request
        .timeout(Duration::from_secs(30))
        .send()
        .await
        .map_err(|e| format!("request: {e}"))?;
    let announced = response.content_length();
    let gzipped = response
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v == "gzip");
    let body = response
        .bytes()
        .await
        .map_err(|e| format!("body cut short: {e}"))?;
    // A gzip scrape answered plain means the exposition was kept plain after its check failed.
    if gzipped != gzip {
        return Err(format!("asked gzip {gzip}, answered gzip {gzipped}"));
    }
    if announced != Some(body.len() as u64) {
        return Err(format!("{} bytes of {announced:?}", body.len()));
    }
    let text = if gzipped {
        let mut text = Vec::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_end(&mut text)
            .map_err(|e| format!("gzip does not decode: {e}"))?;
        text
    } else {
        body.to_vec()
    };
    let end: &[u8] = if openmetrics { b"# EOF\n" } else { b"\n" };
    if !text.ends_with(end) {
        return Err("the exposition does not end as its format ends".to_string());
    }
    Ok(body.len())
}

/// `dockerhub_exporter_errors_total{kind="exposition"}` as the exposition says (NaN if it
/// does not): publications whose compressed form failed its check.
async fn exposition_errors(client: &reqwest::Client, url: &str) -> f64 {
    let request = client.get(url).timeout(Duration::from_secs(10));
    let text = match request.send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .find_map(|l| l.strip_prefix("dockerhub_exporter_errors_total{kind=\"exposition\"} "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}

/// The tasks alive on the exporter's runtime, as its exposition says (NaN if it does not).
async fn runtime_tasks(client: &reqwest::Client, url: &str) -> f64 {
    let request = client.get(url).timeout(Duration::from_secs(10));
    let text = match request.send().await {
        Ok(response) => response.text().await.unwrap_or_default(),
        Err(_) => String::new(),
    };
    text.lines()
        .find_map(|l| l.strip_prefix("dockerhub_exporter_runtime_tasks "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(f64::NAN)
}
