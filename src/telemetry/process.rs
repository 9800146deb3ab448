//! The process's own health at scrape time: memory, descriptors, threads, CPU and the tasks
//! alive on the async runtime.
//!
//! These are the `process_*` series every Prometheus exporter serves, so the usual dashboards
//! and leak alerts work unchanged, plus `dockerhub_exporter_runtime_tasks`, the counterpart
//! of Go's `go_goroutines`: a connection or request that never ends shows up there first.
//! The figures are read from `/proc/self` when a scrape asks and kept nowhere, so concurrent
//! scrapes cannot disturb each other; a figure that cannot be read (no `/proc`, an unlimited
//! descriptor limit, no runtime) is left out rather than served as 0. This module only reads;
//! it never changes what it measures.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Counter, Gauge};
use tokio::runtime::Handle;

/// Linux counts CPU time in `/proc/PID/stat` in ticks of USER_HZ per second (`man 5 proc`),
/// which `sysconf(_SC_CLK_TCK)` tells; 100 where it cannot, the value on x86 and ARM.
fn ticks_per_second() -> f64 {
    // SAFETY: sysconf only reads a system constant; it has no preconditions and touches no
    // memory of ours.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// What one scrape read: each file once, parsed; None where it could not be read.
struct Readings {
    status: Option<Status>,
    cpu_ticks: Option<u64>,
    open_fds: Option<usize>,
    max_fds: Option<u64>,
    tasks: Option<usize>,
    started: f64,
    ticks_per_second: f64,
}

/// A served series: name, help, whether it is a counter (else a gauge), and its value in
/// the readings, if they have it.
type Series = (
    &'static str,
    &'static str,
    bool,
    fn(&Readings) -> Option<f64>,
);

/// Every series, in the order served.
const SERIES: [Series; 8] = [
    (
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        true,
        |r| r.cpu_ticks.map(|t| t as f64 / r.ticks_per_second),
    ),
    (
        "process_open_fds",
        "Number of open file descriptors.",
        false,
        |r| r.open_fds.map(|n| n as f64),
    ),
    (
        "process_max_fds",
        "Maximum number of open file descriptors.",
        false,
        |r| r.max_fds.map(|n| n as f64),
    ),
    (
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        false,
        |r| r.status.as_ref().map(|s| s.virtual_bytes as f64),
    ),
    (
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        false,
        |r| r.status.as_ref().map(|s| s.resident_bytes as f64),
    ),
    (
        "process_threads",
        "Number of OS threads in the process.",
        false,
        |r| r.status.as_ref().map(|s| s.threads as f64),
    ),
    (
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        false,
        |r| Some(r.started),
    ),
    (
        "dockerhub_exporter_runtime_tasks",
        "Tasks alive on the exporter's async runtime: the refresh, its requests and one per open connection. One that only grows is a leak.",
        false,
        |r| r.tasks.map(|n| n as f64),
    ),
];

/// A collector that reads the process's figures when gathered.
pub struct ProcessCollector {
    /// `/proc/self`, or another directory of the same shape in tests.
    root: PathBuf,
    /// The runtime whose tasks are counted: the one the collector was made in.
    runtime: Option<Handle>,
    started: f64,
    /// USER_HZ, read once.
    ticks_per_second: f64,
    descs: Vec<Desc>,
}

impl ProcessCollector {
    /// Creates the collector, inside the exporter's runtime; `started` is when the exporter
    /// started (its telemetry is made at start, milliseconds after the process).
    pub fn new(started: SystemTime) -> Self {
        Self::reading(Path::new("/proc/self"), started)
    }

    /// The same, reading the figures from `root` instead of `/proc/self`.
    fn reading(root: &Path, started: SystemTime) -> Self {
        // Constant, valid names: every description is made.
        let descs = SERIES
            .iter()
            .filter_map(|&(name, help, ..)| {
                Desc::new(name.into(), help.into(), Vec::new(), HashMap::new()).ok()
            })
            .collect();
        ProcessCollector {
            root: root.to_path_buf(),
            runtime: Handle::try_current().ok(),
            started: super::unix_seconds(started),
            ticks_per_second: ticks_per_second(),
            descs,
        }
    }

    /// Reads the figures now.
    fn read(&self) -> Readings {
        let read = |file: &str| std::fs::read_to_string(self.root.join(file)).ok();
        Readings {
            status: read("status").and_then(|s| Status::parse(&s)),
            cpu_ticks: read("stat").and_then(|s| cpu_ticks(&s)),
            // The directory handle that lists the descriptors is itself one: leave it out.
            open_fds: std::fs::read_dir(self.root.join("fd"))
                .ok()
                .map(|d| d.count().saturating_sub(1)),
            max_fds: read("limits").and_then(|l| max_open_files(&l)),
            tasks: self.runtime.as_ref().map(|h| h.metrics().num_alive_tasks()),
            started: self.started,
            ticks_per_second: self.ticks_per_second,
        }
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        // Files under /proc are made by the kernel as they are read, without waiting on a
        // disk: cheap enough to read on the runtime's thread at each scrape.
        let readings = self.read();
        SERIES
            .iter()
            .filter_map(|&(name, help, counter, value)| {
                Some((name, help, counter, value(&readings)?))
            })
            .flat_map(|(name, help, counter, value)| family(name, help, counter, value))
            .collect()
    }
}

/// One family of one series, fresh for each scrape.
fn family(name: &str, help: &str, counter: bool, value: f64) -> Vec<MetricFamily> {
    // The names and help texts are constants of this module: creating these cannot fail, and
    // should it, the series is left out.
    if counter {
        Counter::new(name, help).map_or_else(
            |_| Vec::new(),
            |c| {
                c.inc_by(value.max(0.0));
                c.collect()
            },
        )
    } else {
        Gauge::new(name, help).map_or_else(
            |_| Vec::new(),
            |g| {
                g.set(value);
                g.collect()
            },
        )
    }
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

    #[cfg(target_os = "linux")]
    #[test]
    fn the_tick_rate_is_the_one_the_system_reports() {
        let out = std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .expect("getconf runs (it comes with the C library)");
        let reported: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
        assert_eq!(ticks_per_second(), reported);
    }

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

    /// The families a collector serves now: name and value.
    fn gathered(collector: ProcessCollector) -> Vec<(String, f64)> {
        let registry = prometheus::Registry::new();
        registry.register(Box::new(collector)).expect("registers");
        registry
            .gather()
            .iter()
            .map(|f| {
                let m = &f.get_metric()[0];
                let v = if f.get_field_type() == prometheus::proto::MetricType::COUNTER {
                    m.get_counter().get_value()
                } else {
                    m.get_gauge().get_value()
                };
                (f.name().to_string(), v)
            })
            .collect()
    }

    fn names(families: &[(String, f64)]) -> Vec<&str> {
        families.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn every_series_is_gathered_with_figures_from_this_process() {
        // Spend CPU until the kernel has counted a tick of it, so that 0 would be wrong.
        let mut spin = 0u64;
        while std::fs::read_to_string("/proc/self/stat")
            .ok()
            .and_then(|s| cpu_ticks(&s))
            .is_none_or(|t| t == 0)
        {
            spin = std::hint::black_box(spin.wrapping_add(1));
        }
        let started = SystemTime::now();
        let spawned: Vec<_> = (0..5)
            .map(|_| tokio::spawn(std::future::pending::<()>()))
            .collect();
        let families = gathered(ProcessCollector::new(started));
        assert_eq!(names(&families).len(), SERIES.len(), "{families:?}");
        let value = |name: &str| -> f64 {
            families
                .iter()
                .find(|(n, _)| n == name)
                .unwrap_or_else(|| panic!("{name} is gathered"))
                .1
        };
        assert!(value("process_resident_memory_bytes") > 1e5);
        assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
        assert!(value("process_open_fds") >= 3.0);
        assert!(value("process_max_fds") >= value("process_open_fds"));
        assert!(value("process_threads") >= 1.0);
        assert!(value("process_cpu_seconds_total") > 0.0);
        assert_eq!(
            value("process_start_time_seconds"),
            super::super::unix_seconds(started)
        );
        assert!(value("dockerhub_exporter_runtime_tasks") >= 5.0);
        for task in spawned {
            task.abort();
        }
    }

    #[tokio::test]
    async fn without_proc_only_the_start_time_and_the_tasks_are_served() {
        let missing = std::env::temp_dir().join("dockerhub-no-proc-here");
        let families = gathered(ProcessCollector::reading(&missing, SystemTime::now()));
        assert_eq!(
            names(&families),
            [
                "dockerhub_exporter_runtime_tasks",
                "process_start_time_seconds"
            ]
        );
    }

    #[tokio::test]
    async fn figures_that_cannot_be_read_are_left_out_not_served_as_zero() {
        let root = std::env::temp_dir().join(format!("dockerhub-proc-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        std::fs::write(
            root.join("status"),
            "VmSize:\t 2048 kB\nVmRSS:\t 1024 kB\nThreads:\t3\n",
        )
        .unwrap();
        // An unlimited descriptor limit has no number to serve; stat and fd are missing.
        std::fs::write(
            root.join("limits"),
            "Max open files            unlimited            unlimited            files\n",
        )
        .unwrap();
        let families = gathered(ProcessCollector::reading(&root, SystemTime::now()));
        std::fs::remove_dir_all(&root).unwrap();
        assert_eq!(
            families
                .iter()
                .filter(|(n, _)| n != "process_start_time_seconds"
                    && n != "dockerhub_exporter_runtime_tasks")
                .cloned()
                .collect::<Vec<_>>(),
            [
                ("process_resident_memory_bytes".to_string(), 1024.0 * 1024.0),
                ("process_threads".to_string(), 3.0),
                ("process_virtual_memory_bytes".to_string(), 2048.0 * 1024.0),
            ]
        );
    }

    #[test]
    fn outside_a_runtime_the_task_count_is_left_out() {
        let families = gathered(ProcessCollector::new(SystemTime::now()));
        assert!(!names(&families).contains(&"dockerhub_exporter_runtime_tasks"));
        assert!(names(&families).contains(&"process_start_time_seconds"));
    }
}
