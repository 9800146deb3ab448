//! The benchmark: the exporter, as its own process, against the simulated Hub at a chosen
//! size, latency and quota. Prints the requests made against the minimum, the refresh time
//! against the quota and latency bounds, CPU time, peak memory, render time, the size of
//! /metrics and scrape latencies, idle and while a refresh runs.
//!
//! ```text
//! cargo run --release --example bench -- --repos 1000 --tags 100 --platforms 2 \
//!     --latency 50ms --quota 100000 --concurrency 4
//! cargo run --release --example bench -- --repos 1000 --tags 100 --seed-style
//! cargo run --release --example bench -- --repos 1000 --tags 10 --incremental 10
//! cargo run --release --example bench -- --repos 1 --tags 1 --crowded-tag 50000
//! cargo run --release --example bench -- --repos 40 --tags 150 --quota 150 --signals
//! cargo run --release --example bench -- --repos 100 --tags 100 --latency 0ms --mirror-check 10
//! ```
//!
//! The exporter runs as a child process (this program started again with `child` as its first
//! argument), so its memory and CPU figures are its own, not the simulated Hub's.

use std::io::BufRead;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::Parser;

use dockerhub_exporter::config::Args as ExporterArgs;
use simhub::{Repo, SimHub, TagSpec};

mod mirror;
mod signals;
mod soak;

/// Platforms given to each tag, in this order.
const PLATFORMS: [(&str, &str, Option<&str>); 5] = [
    ("linux", "amd64", None),
    ("linux", "arm64", Some("v8")),
    ("linux", "arm", Some("v7")),
    ("linux", "ppc64le", None),
    ("linux", "s390x", None),
];

#[derive(Debug, Parser)]
#[command(about = "Benchmark dockerhub_exporter against the simulated Hub")]
struct Bench {
    /// Repositories in the namespace.
    #[arg(long, default_value_t = 100)]
    repos: usize,
    /// Tags in each repository.
    #[arg(long, default_value_t = 100)]
    tags: usize,
    /// Platform images per tag (1 to 5).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u8).range(1..=5))]
    platforms: u8,
    /// Latency the simulated Hub adds to every answer.
    #[arg(long, default_value = "50ms", value_parser = dockerhub_exporter::config::parse_duration)]
    latency: Duration,
    /// The exporter's --hub.rate-limit (requests a minute).
    #[arg(long, default_value_t = 100_000)]
    quota: u32,
    /// The exporter's --hub.burst.
    #[arg(long, default_value_t = 10)]
    burst: u32,
    /// The exporter's --hub.concurrency.
    #[arg(long, default_value_t = 4)]
    concurrency: u32,
    /// One request at a time (concurrency 1, burst 1), as a naive exporter would.
    #[arg(long)]
    seed_style: bool,
    /// Scrapes measured for each latency figure.
    #[arg(long, default_value_t = 100)]
    scrapes: usize,
    /// After the idle scrapes, keep the exporter and the simulated Hub running (until Ctrl-C)
    /// for measuring with other tools.
    #[arg(long)]
    hold: bool,
    /// Instead of the benchmark: a soak run of this length (e.g. 1h) with a refresh every
    /// second, tags churning (the inventory kept at its size), faults switching on and off every
    /// 30 s and a scrape every second; prints the exporter's RSS, open file descriptors,
    /// threads and runtime tasks every 5 minutes.
    #[arg(long, value_parser = dockerhub_exporter::config::parse_duration)]
    soak: Option<Duration>,
    /// The simulated Hub answers uncompressed even to requests that ask for gzip.
    #[arg(long)]
    no_hub_gzip: bool,
    /// Instead of the full benchmark: with --refresh.full-interval, push a tag to this many
    /// repositories after the first refresh and count the requests of a later one.
    #[arg(long)]
    incremental: Option<usize>,
    /// Instead of the full benchmark: with basic authentication (bcrypt cost 10), measure
    /// scrapes with the right password idle and while this many clients send wrong passwords
    /// as fast as they are answered.
    #[arg(long)]
    auth_flood: Option<usize>,
    /// Adds a repository `crowded` with one tag of this many platform images, each of its own
    /// platform, to measure rendering a tag with very many images.
    #[arg(long)]
    crowded_tag: Option<usize>,
    /// Scrapes ask for OpenMetrics first, with the `Accept` header Prometheus sends.
    #[arg(long)]
    openmetrics: bool,
    /// Instead of the full benchmark: after the first refresh, every tag listing becomes a
    /// listing without end whose pages hold one tag with a digest of this many bytes (0: empty
    /// pages) and claim a billion tags; prints pages asked for and peak RSS over 5 refreshes.
    #[arg(long)]
    endless_pages: Option<usize>,
    /// Instead of the full benchmark: the time from a change at the Hub to its change counter
    /// moving on /metrics, and the Hub requests per change, with a push webhook, with the
    /// audit log read every minute, and with neither (refreshes every minute; 15m derived).
    /// 25 to 30 minutes; give --quota 150, the exporter's default, for its real pace.
    #[arg(long)]
    signals: bool,
    /// Instead of the full benchmark: the mirror checks of every tag against a local Debian
    /// `docker-registry` filled through its API: the first check, and one after this many tags
    /// changed on the Hub and the mirror; requests by endpoint and wall time of each.
    #[arg(long)]
    mirror_check: Option<usize>,
    /// The exporter's --mirror.rate-limit with --mirror-check (requests a minute).
    #[arg(long, default_value_t = 1_000_000)]
    mirror_rate_limit: u32,
}

fn main() -> ExitCode {
    if std::env::args().nth(1).as_deref() == Some("child") {
        return child();
    }
    let bench = Bench::parse();
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(run(bench));
    ExitCode::SUCCESS
}

/// The exporter, as the binary runs it, with the arguments after `child`.
fn child() -> ExitCode {
    dockerhub_exporter::command::main(ExporterArgs::parse_from(std::env::args().skip(1)))
}

fn build_hub(b: &Bench) -> SimHub {
    let hub = SimHub::new();
    for r in 0..b.repos {
        let mut repo = Repo::new(&format!("service-{r:05}"));
        for t in 0..b.tags {
            let mut tag = TagSpec::new(&format!("1.{}.{}", t / 100, t % 100))
                .size(50_000_000 + (t as u64 % 97) * 1_000_000)
                .pushed_ago(Duration::from_secs(3_600 * (b.tags - t) as u64));
            for (os, arch, variant) in PLATFORMS.iter().take(b.platforms as usize) {
                tag = tag.platform(os, arch, *variant);
            }
            repo = repo.with_tag(tag);
        }
        hub.add_repo("bench", repo);
    }
    if let Some(images) = b.crowded_tag {
        let tag = (0..images).fold(TagSpec::new("crowded"), |tag, i| {
            tag.platform("linux", &format!("arch{i}"), None)
        });
        hub.add_repo("bench", Repo::new("crowded").with_tag(tag));
    }
    hub.set_latency(b.latency);
    // The benchmark reads anonymously what an account would read: repositories of more than
    // 1,000 tags in full, as the real Hub lists them only to an account.
    hub.set_anonymous_offset_limit(None);
    hub
}

/// The exporter child with its log lines arriving on a channel.
struct Exporter {
    child: Child,
    url: String,
    lines: mpsc::Receiver<serde_json::Value>,
}

impl Exporter {
    fn start(hub_url: &str, b: &Bench, extra: &[&str]) -> Exporter {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let (concurrency, burst) = if b.seed_style {
            (1, 1)
        } else {
            (b.concurrency, b.burst)
        };
        let mut child = Command::new(std::env::current_exe().expect("own path"))
            .arg("child")
            .args(["--hub.url", hub_url, "--hub.namespace", "bench"])
            .args(["--hub.rate-limit", &b.quota.to_string()])
            .args(["--hub.burst", &burst.to_string()])
            .args(["--hub.concurrency", &concurrency.to_string()])
            .args(["--web.listen-address", &format!("127.0.0.1:{port}")])
            .args(["--log.format", "json"])
            // The bench measures the Hub API; the pull-limit checks would go to Docker's registry.
            .args(["--pull-limit.interval", "0"])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the exporter starts");
        let stderr = child.stderr.take().expect("stderr");
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stderr)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(v) = serde_json::from_str(&line) {
                    let _ = send.send(v);
                }
            }
        });
        Exporter {
            child,
            url: format!("http://127.0.0.1:{port}/metrics"),
            lines,
        }
    }

    /// Waits for the next log line with this message and returns it.
    fn wait_for(&self, message: &str) -> serde_json::Value {
        loop {
            let v = self.lines.recv().expect("the exporter is running");
            if v["message"] == message {
                return v;
            }
        }
    }

    /// Waits for the next log line with one of these messages and returns it.
    fn wait_for_any(&self, messages: &[&str]) -> serde_json::Value {
        loop {
            let v = self.lines.recv().expect("the exporter is running");
            if messages.iter().any(|m| v["message"] == *m) {
                return v;
            }
        }
    }

    /// The next `refresh finished` line, if one has arrived.
    fn finished(&self) -> Option<serde_json::Value> {
        self.lines
            .try_iter()
            .find(|v| v["message"] == "refresh finished")
    }

    /// User plus system CPU time so far.
    fn cpu(&self) -> Duration {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the command name, which is in parentheses and may contain spaces.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<u64> = after
            .split_whitespace()
            .map(|f| f.parse().unwrap_or(0))
            .collect();
        // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after `)`;
        // Linux counts them in 1/100 s (USER_HZ).
        let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
        Duration::from_millis(ticks * 10)
    }

    /// Peak resident memory (VmHWM) in MiB.
    fn peak_rss_mib(&self) -> f64 {
        self.status_field("VmHWM:") / 1024.0
    }

    /// A number from /proc/PID/status (kB for memory fields).
    fn status_field(&self, field: &str) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    }

    /// RSS in MiB, open file descriptors and threads, now.
    fn resources(&self) -> (f64, usize, f64) {
        let fds =
            std::fs::read_dir(format!("/proc/{}/fd", self.child.id())).map_or(0, |d| d.count());
        (
            self.status_field("VmRSS:") / 1024.0,
            fds,
            self.status_field("Threads:"),
        )
    }

    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// One scrape: its latency and body size.
async fn scrape(client: &reqwest::Client, url: &str, gzip: bool) -> (Duration, usize) {
    let mut request = client.get(url);
    if gzip {
        request = request.header("Accept-Encoding", "gzip");
    }
    let started = Instant::now();
    let mut response = request.send().await.expect("scrape");
    // Counted, not collected: the figure is the exporter's, not a growing client buffer's.
    let mut size = 0;
    while let Some(chunk) = response.chunk().await.expect("body") {
        size += chunk.len();
    }
    (started.elapsed(), size)
}

/// The client that scrapes the exporter: as Prometheus asks, with `--openmetrics`.
pub(crate) fn scraper(b: &Bench) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    if b.openmetrics {
        headers.insert(
            reqwest::header::ACCEPT,
            reqwest::header::HeaderValue::from_static(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
            ),
        );
    }
    reqwest::Client::builder()
        .default_headers(headers)
        // Bodies are counted as sent: a gzip scrape stays compressed.
        .no_gzip()
        .build()
        .expect("a client")
}

/// p50 and p99 of `times`, in milliseconds.
fn percentiles(mut times: Vec<Duration>) -> (f64, f64) {
    times.sort();
    let at = |q: f64| {
        let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
        times[i].as_secs_f64() * 1000.0
    };
    (at(0.5), at(0.99))
}

async fn scrapes(client: &reqwest::Client, url: &str, n: usize, gzip: bool) -> (f64, f64, usize) {
    let mut times = Vec::with_capacity(n);
    let mut size = 0;
    for _ in 0..n {
        let (t, s) = scrape(client, url, gzip).await;
        times.push(t);
        size = s;
    }
    let (p50, p99) = percentiles(times);
    (p50, p99, size)
}

fn secs(v: &serde_json::Value, field: &str) -> f64 {
    v[field].as_f64().unwrap_or(f64::NAN)
}

async fn run(b: Bench) {
    if let Some(changed) = b.mirror_check {
        // A Hub of its own, its tags at the digests the registry gives.
        mirror::run(&b, changed).await;
        return;
    }
    let built = Instant::now();
    let hub = build_hub(&b);
    hub.set_compression(!b.no_hub_gzip);
    let running = hub.start().await.expect("the simulated Hub starts");
    let hub_url = running.url();
    let tags = b.repos * b.tags;
    let crowded = b.crowded_tag.is_some() as usize;
    let minimum =
        (b.repos + crowded).div_ceil(100) + b.repos * b.tags.div_ceil(100).max(1) + crowded;
    let (concurrency, burst) = if b.seed_style {
        (1, 1)
    } else {
        (b.concurrency, b.burst)
    };
    println!(
        "# {} repositories x {} tags = {tags} tags, {} platforms each; latency {:?}; quota {}/min, burst {burst}, concurrency {concurrency}{} (Hub built in {:.1} s)",
        b.repos,
        b.tags,
        b.platforms,
        b.latency,
        b.quota,
        if b.seed_style { " (seed style)" } else { "" },
        built.elapsed().as_secs_f64()
    );
    if let Some(length) = b.soak {
        soak::soak(&b, &hub, &hub_url, length).await;
        return;
    }
    if let Some(changed) = b.incremental {
        incremental(&b, &hub, &hub_url, changed, minimum).await;
        return;
    }
    if let Some(fat) = b.endless_pages {
        endless(&b, &hub, &hub_url, fat).await;
        return;
    }
    if let Some(attackers) = b.auth_flood {
        auth_flood(&b, &hub_url, attackers).await;
        return;
    }
    if b.signals {
        signals::signals(&b, &hub, &hub_url).await;
        return;
    }

    let state = std::env::temp_dir().join(format!("dockerhub-bench-{}.json", std::process::id()));
    let state_arg = state.to_str().expect("UTF-8 path").to_string();
    let exporter = Exporter::start(
        &hub_url,
        &b,
        &["--refresh.interval", "24h", "--state.file", &state_arg],
    );
    exporter.wait_for("dockerhub_exporter started");
    let cpu_before = exporter.cpu();
    let done = exporter.wait_for("refresh finished");
    let cpu = exporter.cpu().saturating_sub(cpu_before);
    let received = hub.requests();
    let requests = received.len();
    let hub_bytes: u64 = received.iter().map(|r| r.body_bytes).sum();
    let asked_gzip = received.iter().filter(|r| r.accepts_gzip).count();
    let wall = secs(&done, "duration_seconds");
    let quota_bound = requests.saturating_sub(burst as usize) as f64 / b.quota as f64 * 60.0;
    let latency_bound = requests as f64 * b.latency.as_secs_f64() / concurrency as f64;
    println!("requests              {requests} (minimum {minimum})");
    println!(
        "refresh wall time     {wall:.2} s (quota bound {quota_bound:.2} s, latency bound {latency_bound:.2} s; {:.1}% of the larger)",
        wall / quota_bound.max(latency_bound) * 100.0
    );
    println!("refresh CPU time      {:.2} s", cpu.as_secs_f64());
    println!(
        "from the Hub          {:.2} MB in bodies ({asked_gzip} of {requests} requests asked for gzip; the Hub {})",
        hub_bytes as f64 / 1e6,
        if b.no_hub_gzip {
            "never compresses"
        } else {
            "compresses when asked"
        }
    );
    println!(
        "render                {:.3} s for {:.1} MB",
        secs(&done, "render_seconds"),
        done["exposition_bytes"].as_f64().unwrap_or(0.0) / 1e6
    );

    let client = scraper(&b);
    let first_gzip = scrape(&client, &exporter.url, true).await.0;
    let (p50, p99, plain) = scrapes(&client, &exporter.url, b.scrapes, false).await;
    let (gp50, gp99, gzipped) = scrapes(&client, &exporter.url, b.scrapes, true).await;
    println!(
        "/metrics size         {:.1} MB plain, {:.1} MB gzip",
        plain as f64 / 1e6,
        gzipped as f64 / 1e6
    );
    println!(
        "render + first gzip   {:.3} s",
        secs(&done, "render_seconds") + first_gzip.as_secs_f64()
    );
    println!(
        "scrape idle           plain p50 {p50:.1} ms p99 {p99:.1} ms; gzip p50 {gp50:.1} ms p99 {gp99:.1} ms"
    );
    // The pages for people, served from the same snapshot: the landing page walks every
    // repository, a repository's page sorts its tags.
    let base = exporter.url.trim_end_matches("/metrics");
    let (lp50, lp99, landing) = scrapes(&client, &format!("{base}/"), b.scrapes, false).await;
    let first_repository = format!("{base}/repositories/bench/service-00000");
    let (rp50, rp99, page) = scrapes(&client, &first_repository, b.scrapes, false).await;
    println!(
        "pages                 landing p50 {lp50:.1} ms p99 {lp99:.1} ms ({:.0} kB); repository page of {} tags p50 {rp50:.1} ms p99 {rp99:.1} ms ({:.0} kB)",
        landing as f64 / 1e3,
        b.tags,
        page as f64 / 1e3
    );
    println!("peak RSS              {:.0} MiB", exporter.peak_rss_mib());
    println!(
        "state file            {:.1} MB",
        std::fs::metadata(&state).map_or(0, |m| m.len()) as f64 / 1e6
    );
    if b.hold {
        println!("holding: exporter at {}, Ctrl-C to stop", exporter.url);
        let _ = tokio::signal::ctrl_c().await;
    }
    exporter.stop();

    // A restart from the state file serves the whole inventory while its refresh runs.
    let exporter = Exporter::start(
        &hub_url,
        &b,
        &["--refresh.interval", "24h", "--state.file", &state_arg],
    );
    exporter.wait_for("dockerhub_exporter started");
    let (mut plain_times, mut gzip_times) = (Vec::new(), Vec::new());
    while exporter.finished().is_none() {
        plain_times.push(scrape(&client, &exporter.url, false).await.0);
        gzip_times.push(scrape(&client, &exporter.url, true).await.0);
    }
    let n = plain_times.len();
    let (p50, p99) = percentiles(plain_times);
    let (gp50, gp99) = percentiles(gzip_times);
    println!(
        "scrape in refresh     plain p50 {p50:.1} ms p99 {p99:.1} ms; gzip p50 {gp50:.1} ms p99 {gp99:.1} ms ({n} each)"
    );
    println!("peak RSS (restart)    {:.0} MiB", exporter.peak_rss_mib());
    exporter.stop();
    let _ = std::fs::remove_file(&state);
}

/// A mostly static organisation: after a full walk, `changed` repositories get a new tag,
/// and a refresh between full walks lists only those.
async fn incremental(b: &Bench, hub: &SimHub, hub_url: &str, changed: usize, minimum: usize) {
    let exporter = Exporter::start(
        hub_url,
        b,
        &["--refresh.interval", "1s", "--refresh.full-interval", "24h"],
    );
    let first = exporter.wait_for("refresh finished");
    for r in 0..changed.min(b.repos) {
        hub.push_tag("bench", &format!("service-{r:05}"), TagSpec::new("2.0.0"));
    }
    // The refresh running now may have listed the repositories before or after the pushes;
    // the one after it certainly lists them after. Between them, they list each changed
    // repository once.
    let second = exporter.wait_for("refresh finished");
    let third = exporter.wait_for("refresh finished");
    println!(
        "full walk             {} requests (minimum {minimum}), {:.2} s",
        first["requests"],
        secs(&first, "duration_seconds")
    );
    for (which, v) in [("next refresh", &second), ("the one after", &third)] {
        println!(
            "{which:<22}{} requests, {:.2} s",
            v["requests"],
            secs(v, "duration_seconds")
        );
    }
    println!(
        "                      ({changed} repositories changed between the full walk and these two)"
    );
    exporter.stop();
}

/// A Hub whose tag listings never end: the pages each refresh asks for, and peak memory.
async fn endless(b: &Bench, hub: &SimHub, hub_url: &str, fat: usize) {
    use simhub::{Fault, FaultKind};
    let exporter = Exporter::start(hub_url, b, &["--refresh.interval", "1s"]);
    let first = exporter.wait_for("refresh finished");
    let normal_rss = exporter.peak_rss_mib();
    println!(
        "first refresh         {}, {} requests, peak RSS {normal_rss:.0} MiB",
        first["result"], first["requests"]
    );
    // Lets the refresh running now end before the listings turn endless.
    exporter.wait_for("refresh finished");
    hub.add_fault(
        Fault::new(
            "/tags",
            FaultKind::Endless {
                count: 1_000_000_000,
                items: usize::from(fat > 0),
                fat,
            },
        )
        .times(u32::MAX),
    );
    for n in 1..=5 {
        let done = exporter.wait_for("refresh finished");
        println!(
            "endless refresh {n}     {}, {} requests ({} tag listings), {:.2} s, peak RSS {:.0} MiB",
            done["result"],
            done["requests"],
            b.repos,
            secs(&done, "duration_seconds"),
            exporter.peak_rss_mib()
        );
    }
    exporter.stop();
}

/// Scrapes with the right password, idle and while `attackers` clients send wrong ones.
async fn auth_flood(b: &Bench, hub_url: &str, attackers: usize) {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let config =
        std::env::temp_dir().join(format!("dockerhub-bench-web-{}.yml", std::process::id()));
    let hash = bcrypt::hash("right horse", 10).expect("a hash");
    std::fs::write(
        &config,
        format!("basic_auth_users:\n  prometheus: {hash}\n"),
    )
    .expect("the web configuration is written");
    let exporter = Exporter::start(
        hub_url,
        b,
        &[
            "--refresh.interval",
            "24h",
            "--web.config.file",
            config.to_str().expect("UTF-8"),
        ],
    );
    exporter.wait_for("refresh finished");
    let client = scraper(b);
    let url = exporter.url.clone();
    let measure = || async {
        let mut times = Vec::with_capacity(b.scrapes);
        let mut refused = 0;
        for _ in 0..b.scrapes {
            let started = Instant::now();
            let answer = client
                .get(&url)
                .header("Accept-Encoding", "gzip")
                .basic_auth("prometheus", Some("right horse"))
                .send()
                .await
                .expect("scrape");
            if answer.status() != 200 {
                refused += 1;
            }
            answer.bytes().await.expect("body");
            times.push(started.elapsed());
        }
        let (p50, p99) = percentiles(times);
        (p50, p99, refused)
    };
    let (p50, p99, refused) = measure().await;
    println!(
        "scrape idle           gzip p50 {p50:.1} ms p99 {p99:.1} ms ({refused} of {} not 200)",
        b.scrapes
    );
    let stop = Arc::new(AtomicBool::new(false));
    let wrong = Arc::new(AtomicUsize::new(0));
    let mut flood = tokio::task::JoinSet::new();
    for attacker in 0..attackers {
        let (stop, wrong, url) = (Arc::clone(&stop), Arc::clone(&wrong), url.clone());
        let client = scraper(b);
        flood.spawn(async move {
            let password = format!("guess {attacker}");
            while !stop.load(Ordering::Relaxed) {
                if let Ok(answer) = client
                    .get(&url)
                    .basic_auth("prometheus", Some(&password))
                    .send()
                    .await
                {
                    let _ = answer.bytes().await;
                }
                wrong.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    // Every attacker waits on bcrypt before the measurement starts.
    while wrong.load(Ordering::Relaxed) < attackers {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let started = Instant::now();
    let before = wrong.load(Ordering::Relaxed);
    let (p50, p99, refused) = measure().await;
    let rate = (wrong.load(Ordering::Relaxed) - before) as f64 / started.elapsed().as_secs_f64();
    stop.store(true, Ordering::Relaxed);
    while flood.join_next().await.is_some() {}
    println!(
        "scrape in flood       gzip p50 {p50:.1} ms p99 {p99:.1} ms ({refused} of {} not 200); {attackers} clients, {rate:.0} wrong passwords refused a second",
        b.scrapes
    );
    exporter.stop();
    let _ = std::fs::remove_file(config);
}
