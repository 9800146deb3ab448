//! The process's own health at scrape time: memory, descriptors, threads, CPU and the tasks
//! alive on the async runtime.
//!
//! These are the `process_*` series every Prometheus exporter serves, so the usual dashboards
//! and leak alerts work unchanged, plus `dockerhub_exporter_runtime_tasks`, the counterpart
//! of Go's `go_goroutines`: a connection or request that never ends shows up there first.
//! The figures are read from `/proc/self` when a scrape asks, never cached; on a system
//! without `/proc` the `process_*` series are left out rather than served as zeros. This
//! module only reads; it never changes what it measures.

use std::time::SystemTime;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge, IntGauge};

/// Linux counts CPU time in `/proc/PID/stat` in these ticks per second (USER_HZ), which is
/// 100 on every architecture the kernel supports for user space (`man 5 proc`).
const TICKS_PER_SECOND: f64 = 100.0;

/// A collector that reads the process's figures when gathered.
#[derive(Clone)]
pub struct ProcessCollector {
    cpu: Counter,
    open_fds: IntGauge,
    max_fds: IntGauge,
    virtual_memory: IntGauge,
    resident_memory: IntGauge,
    threads: IntGauge,
    start_time: Gauge,
    tasks: IntGauge,
    descs: Vec<Desc>,
}

impl ProcessCollector {
    /// Creates the collector; `started` is the Unix time the process started.
    pub fn new(started: SystemTime) -> Self {
        // The names and help texts are constants: creating these cannot fail.
        let gauge = |name: &str, help: &str| IntGauge::new(name, help).expect("valid metric");
        let cpu = Counter::new(
            "process_cpu_seconds_total",
            "Total user and system CPU time spent in seconds.",
        )
        .expect("valid metric");
        let start_time = Gauge::new(
            "process_start_time_seconds",
            "Start time of the process since unix epoch in seconds.",
        )
        .expect("valid metric");
        start_time.set(super::unix_seconds(started));
        let c = ProcessCollector {
            cpu,
            open_fds: gauge("process_open_fds", "Number of open file descriptors."),
            max_fds: gauge(
                "process_max_fds",
                "Maximum number of open file descriptors.",
            ),
            virtual_memory: gauge(
                "process_virtual_memory_bytes",
                "Virtual memory size in bytes.",
            ),
            resident_memory: gauge(
                "process_resident_memory_bytes",
                "Resident memory size in bytes.",
            ),
            threads: gauge("process_threads", "Number of OS threads in the process."),
            start_time,
            tasks: gauge(
                "dockerhub_exporter_runtime_tasks",
                "Tasks alive on the exporter's async runtime: the refresh, its requests and one per open connection. One that only grows is a leak.",
            ),
            descs: Vec::new(),
        };
        let descs = c
            .parts()
            .iter()
            .flat_map(|m| m.desc().into_iter().cloned())
            .collect();
        ProcessCollector { descs, ..c }
    }

    fn parts(&self) -> [&dyn Collector; 8] {
        [
            &self.cpu,
            &self.open_fds,
            &self.max_fds,
            &self.virtual_memory,
            &self.resident_memory,
            &self.threads,
            &self.start_time,
            &self.tasks,
        ]
    }

    /// Reads the current figures into the series; false where `/proc/self` cannot be read.
    fn update(&self) -> bool {
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            self.tasks
                .set(i64::try_from(handle.metrics().num_alive_tasks()).unwrap_or(i64::MAX));
        }
        let Some(status) = std::fs::read_to_string("/proc/self/status")
            .ok()
            .and_then(|s| Status::parse(&s))
        else {
            return false;
        };
        self.virtual_memory.set(clamp(status.virtual_bytes));
        self.resident_memory.set(clamp(status.resident_bytes));
        self.threads.set(clamp(status.threads));
        if let Some(ticks) = std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| cpu_ticks(&s))
        {
            // A counter only goes up, and so does the kernel's figure: add the difference.
            let cpu = ticks as f64 / TICKS_PER_SECOND;
            let seen = self.cpu.get();
            if cpu > seen {
                self.cpu.inc_by(cpu - seen);
            }
        }
        if let Ok(dir) = std::fs::read_dir("/proc/self/fd") {
            // The directory handle read here is itself a descriptor: leave it out.
            self.open_fds
                .set(clamp(dir.count() as u64).saturating_sub(1).max(0));
        }
        if let Some(max) = std::fs::read_to_string("/proc/self/limits")
            .ok()
            .and_then(|l| max_open_files(&l))
        {
            self.max_fds.set(clamp(max));
        }
        true
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let from_proc = self.update();
        let parts = self.parts();
        // Without /proc only the runtime's task count is known.
        let served = if from_proc {
            &parts[..]
        } else {
            &parts[parts.len() - 1..]
        };
        served.iter().flat_map(|m| m.collect()).collect()
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The figures of `/proc/PID/status` this module reports; memory in bytes.
#[derive(Debug, PartialEq, Eq)]
struct Status {
    virtual_bytes: u64,
    resident_bytes: u64,
    threads: u64,
}

impl Status {
    /// Parses the file; None if a figure is missing.
    fn parse(text: &str) -> Option<Status> {
        let field = |name: &str| -> Option<u64> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?
                .trim()
                .trim_end_matches("kB")
                .trim()
                .parse()
                .ok()
        };
        Some(Status {
            virtual_bytes: field("VmSize")?.saturating_mul(1024),
            resident_bytes: field("VmRSS")?.saturating_mul(1024),
            threads: field("Threads")?,
        })
    }
}

/// CPU time from a `/proc/PID/stat` line, in ticks; None if it is not shaped like one.
fn cpu_ticks(line: &str) -> Option<u64> {
    // The command name is in parentheses and may itself contain spaces and parentheses:
    // the fields start after the last `)`.
    let (_, rest) = line.rsplit_once(')')?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field numbers in `man 5 proc` count from 1 for the pid; `rest` starts at field 3.
    // utime and stime are fields 14 and 15.
    let field = |n: usize| -> Option<u64> { fields.get(n - 3)?.parse().ok() };
    Some(field(14)?.saturating_add(field(15)?))
}

/// The soft limit on open files from `/proc/PID/limits`; None if unlimited or absent.
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // A line as Linux writes it, with a command name holding a space and a parenthesis.
    const STAT: &str = "4242 (dockerhub (x) 1) S 1 4242 4242 0 -1 4194560 5000 0 0 0 \
        250 75 0 0 20 0 6 0 123456 52428800 3000 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 \
        17 1 0 0 0 0 0";

    #[test]
    fn cpu_time_is_read_after_the_last_parenthesis() {
        assert_eq!(cpu_ticks(STAT), Some(325));
    }

    #[test]
    fn a_stat_line_cut_short_is_refused() {
        assert_eq!(cpu_ticks("4242 (x) S 1 2 3"), None);
        assert_eq!(cpu_ticks("no parenthesis at all"), None);
        assert_eq!(cpu_ticks(""), None);
    }

    #[test]
    fn status_memory_is_in_bytes_and_a_missing_figure_is_refused() {
        let status = "Name:\tdockerhub\nVmPeak:\t  90000 kB\nVmSize:\t   51200 kB\n\
            VmHWM:\t 13000 kB\nVmRSS:\t   12000 kB\nThreads:\t6\n";
        assert_eq!(
            Status::parse(status),
            Some(Status {
                virtual_bytes: 51200 * 1024,
                resident_bytes: 12000 * 1024,
                threads: 6,
            })
        );
        assert_eq!(Status::parse(&status.replace("Threads", "Thr")), None);
    }

    #[test]
    fn the_soft_open_files_limit_is_read_and_unlimited_is_none() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
            Max cpu time              unlimited            unlimited            seconds   \n\
            Max open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(1024));
        let unlimited = limits.replace("1024 ", "unlimited ");
        assert_eq!(max_open_files(&unlimited), None);
        assert_eq!(max_open_files("Max processes 10 10 processes"), None);
    }

    #[tokio::test]
    async fn every_series_is_gathered_with_figures_from_this_process() {
        let started = SystemTime::now();
        let registry = prometheus::Registry::new();
        registry
            .register(Box::new(ProcessCollector::new(started)))
            .expect("registers");
        let spawned: Vec<_> = (0..5)
            .map(|_| tokio::spawn(std::future::pending::<()>()))
            .collect();
        let families = registry.gather();
        let value = |name: &str| -> f64 {
            let f = families
                .iter()
                .find(|f| f.name() == name)
                .unwrap_or_else(|| panic!("{name} is gathered"));
            let m = &f.get_metric()[0];
            if m.get_counter().has_value() {
                m.get_counter().value()
            } else {
                m.get_gauge().value()
            }
        };
        assert!(value("process_resident_memory_bytes") > 1e5);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_threads") >= 1.0);
        assert!(value("process_cpu_seconds_total") >= 0.0);
        assert_eq!(
            value("process_start_time_seconds"),
            super::super::unix_seconds(started)
        );
        assert!(value("dockerhub_exporter_runtime_tasks") >= 5.0);
        for task in spawned {
            task.abort();
        }
    }
}
