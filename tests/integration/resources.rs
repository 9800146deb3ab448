//! The exporter's own resource series (`process_*`, `dockerhub_exporter_runtime_tasks`) follow
//! what the process holds, up and down.

use std::time::SystemTime;

use simhub::{Repo, SimHub};
use tokio::net::TcpStream;

use crate::support::*;

/// The exposition once `check` holds for the named series.
async fn metrics_when(process: &Process, name: &str, check: impl Fn(f64) -> bool) -> String {
    eventually(|| async {
        let (_, m) = get(&format!("{}/metrics", process.url)).await;
        value(&m, name, &[]).filter(|v| check(*v)).map(|_| m)
    })
    .await
}

#[tokio::test]
async fn open_connections_show_in_tasks_and_descriptors_and_leave_when_closed() {
    let hub = SimHub::new();
    hub.add_repo("acme", Repo::new("api").with_tags(3));
    let running = hub.start().await.unwrap();
    let before_start = SystemTime::now();
    let process = Process::start(
        &hub_args(&running.url(), "acme", &["--refresh.interval", "1h"]),
        &[],
    )
    .await;
    let m = process.metrics_after_refreshes(1.0).await;
    let started = value(&m, "process_start_time_seconds", &[]).expect("start time");
    let since_epoch = |t: SystemTime| {
        t.duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    assert!(started >= since_epoch(before_start) - 1.0);
    assert!(started <= since_epoch(SystemTime::now()));
    assert!(value(&m, "process_resident_memory_bytes", &[]).unwrap() > 1e6);
    assert!(value(&m, "process_threads", &[]).unwrap() >= 1.0);
    let pid = process.child.id().expect("running");
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let soft: f64 = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .expect("a soft limit on open files");
    assert_eq!(value(&m, "process_max_fds", &[]), Some(soft));

    // The baseline once it holds still: a scrape's connection may still be closing when
    // the next one counts.
    let (tasks, fds) = eventually(|| async {
        let counts = |m: &str| {
            (
                value(m, "dockerhub_exporter_runtime_tasks", &[]).expect("task count"),
                value(m, "process_open_fds", &[]).expect("descriptor count"),
            )
        };
        let first = counts(&get(&format!("{}/metrics", process.url)).await.1);
        let second = counts(&get(&format!("{}/metrics", process.url)).await.1);
        (first == second).then_some(first)
    })
    .await;
    // Connections that send nothing: each is a socket and a task in the exporter until it
    // gives up on their headers or they close.
    const IDLE: usize = 12;
    let address = process.url.trim_start_matches("http://").to_string();
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        idle.push(TcpStream::connect(&address).await.unwrap());
    }
    // Two fewer than opened: one of the exporter's pooled connections to the Hub could close
    // meanwhile. A series that did not follow the connections would not rise at all.
    let more = (IDLE - 2) as f64;
    let m = metrics_when(&process, "dockerhub_exporter_runtime_tasks", |t| {
        t >= tasks + more
    })
    .await;
    assert!(value(&m, "process_open_fds", &[]).unwrap() >= fds + more);
    drop(idle);
    let m = metrics_when(&process, "dockerhub_exporter_runtime_tasks", |t| t <= tasks).await;
    assert!(value(&m, "process_open_fds", &[]).unwrap() <= fds);
    assert!(process.terminate().await.success());
}
