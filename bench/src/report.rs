//! The report: one table on stdout, the same figures as JSON.

use std::{collections::BTreeMap, path::PathBuf, time::Duration};

use serde::Serialize;

use crate::wrk::WrkResult;

/// One workload's figures.
#[derive(Debug, Clone, Serialize)]
pub struct Workload {
    pub name: String,
    pub result: WrkResult,
    /// CPU seconds per process group during the measured run.
    pub cpu_seconds: BTreeMap<String, f64>,
    /// Busy CPU seconds of the whole machine (wrk included).
    pub machine_busy_seconds: f64,
    /// Peak RSS per process group during the run.
    pub peak_rss_mib: BTreeMap<String, f64>,
}

impl Workload {
    /// CPU milliseconds per request of `group`.
    #[allow(clippy::cast_precision_loss)]
    pub fn cpu_ms_per_request(&self, group: &str) -> f64 {
        self.cpu_seconds.get(group).copied().unwrap_or(0.0) * 1e3
            / self.result.requests.max(1) as f64
    }
}

/// Our four services, as process groups are named.
const SERVICES: [&str; 4] = [
    "api-gateway",
    "user-service",
    "order-service",
    "notification-service",
];

#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub load: String,
    /// Spawn → ready `/readyz`, restarted on an existing database.
    pub startup_ms: BTreeMap<String, f64>,
    pub idle_rss_mib: BTreeMap<String, f64>,
    pub binary_size_mib: BTreeMap<String, f64>,
    pub floor: Workload,
    pub w1: Workload,
    /// W2 on the five seeded products: every order updates one of five hot
    /// stock rows, as a shop's bestsellers do.
    pub w2: Workload,
    /// W2 spread over a thousand products (little contention on a row).
    pub w2_wide: Workload,
    /// W2 with the gateway's requests over NATS, Redis, then TCP (events
    /// over RabbitMQ).
    pub w2_over: Vec<Workload>,
    /// After W2: until every confirmed order has its notification.
    pub w2_backlog_drain_seconds: f64,
    /// W3: 201 → notification stored.
    pub lag: Latency,
    /// One client, one order at a time, end to end.
    pub lone_order: Latency,
}

#[derive(Debug, Serialize)]
pub struct Latency {
    pub count: usize,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub max_ms: f64,
}

impl Latency {
    pub fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort();
        let at = |q: f64| {
            #[allow(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                clippy::cast_precision_loss
            )]
            let i = ((samples.len() as f64 * q).ceil() as usize).clamp(1, samples.len().max(1)) - 1;
            samples.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
        };
        Self {
            count: samples.len(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
}

impl Machine {
    pub fn describe() -> Self {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kib: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal"))
            .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
            .unwrap_or(0.0);
        Self {
            cpus: std::thread::available_parallelism().map_or(0, usize::from),
            cpu_model: cpuinfo
                .lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map_or_else(String::new, |(_, m)| m.trim().to_owned()),
            memory_gib: mem_kib / 1024.0 / 1024.0,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_owned(),
        }
    }
}

pub fn print(report: &Report) {
    let m = &report.machine;
    println!(
        "\nmachine: {} CPUs ({}), {:.0} GiB, Linux {}; load generator, Postgres, RabbitMQ and \
         services share the CPUs, all on 127.0.0.1",
        m.cpus, m.cpu_model, m.memory_gib, m.kernel
    );
    println!("load: {}\n", report.load);
    println!(
        "{:<18} {:>9} {:>8} {:>8} {:>8} {:>6} | CPU ms/request: {:>6} {:>6} {:>6} {:>6} {:>6} | {:>8} {:>8} {:>6} {:>8}",
        "workload",
        "req/s",
        "p50 ms",
        "p99 ms",
        "p99.9",
        "errors",
        "ours",
        "gw",
        "users",
        "orders",
        "notif",
        "postgres",
        "rabbitmq",
        "pubsub",
        "machine"
    );
    let workloads = [&report.floor, &report.w1, &report.w2, &report.w2_wide];
    for w in workloads.into_iter().chain(&report.w2_over) {
        let r = &w.result;
        let ours: f64 = if w.name == "floor" {
            w.cpu_ms_per_request("bench-floor")
        } else {
            SERVICES.iter().map(|s| w.cpu_ms_per_request(s)).sum()
        };
        #[allow(clippy::cast_precision_loss)]
        let machine = w.machine_busy_seconds * 1e3 / r.requests.max(1) as f64;
        println!(
            "{:<18} {:>9.0} {:>8.2} {:>8.2} {:>8.2} {:>6} | {:>30.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>6.3} | {:>8.3} {:>8.3} {:>6.3} {:>8.3}",
            w.name,
            r.per_second(),
            us_to_ms(r.p50_us),
            us_to_ms(r.p99_us),
            us_to_ms(r.p999_us),
            r.errors(),
            "",
            ours,
            w.cpu_ms_per_request("api-gateway"),
            w.cpu_ms_per_request("user-service"),
            w.cpu_ms_per_request("order-service"),
            w.cpu_ms_per_request("notification-service"),
            w.cpu_ms_per_request("postgres"),
            w.cpu_ms_per_request("rabbitmq"),
            w.cpu_ms_per_request("pubsub"),
            machine,
        );
    }
    println!(
        "\nW1 / floor: {:.2} of the single-process limit",
        report.w1.result.per_second() / report.floor.result.per_second().max(1.0)
    );
    println!(
        "W2 events drained {:.1} s after the load stopped (every confirmed order notified)",
        report.w2_backlog_drain_seconds
    );
    let (lag, lone) = (&report.lag, &report.lone_order);
    println!(
        "W3 event lag (201 → notification stored, {} orders at low load): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lag.count, lag.p50_ms, lag.p99_ms, lag.max_ms
    );
    println!(
        "lone POST /orders ({} sequential, one client): p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        lone.count, lone.p50_ms, lone.p99_ms, lone.max_ms
    );
    println!(
        "\n{:<22} {:>10} {:>10} {:>10} {:>10} {:>10}",
        "service", "ready ms", "idle MiB", "W1 peak", "W2 peak", "binary MiB"
    );
    for s in SERVICES {
        println!(
            "{:<22} {:>10.0} {:>10.1} {:>10.1} {:>10.1} {:>10.1}",
            s,
            report.startup_ms.get(s).copied().unwrap_or(0.0),
            report.idle_rss_mib.get(s).copied().unwrap_or(0.0),
            report.w1.peak_rss_mib.get(s).copied().unwrap_or(0.0),
            report.w2.peak_rss_mib.get(s).copied().unwrap_or(0.0),
            report.binary_size_mib.get(s).copied().unwrap_or(0.0),
        );
    }
    println!(
        "{:<22} {:>10} {:>10} {:>10.1}",
        "bench-floor (W1 only)",
        "",
        "",
        report
            .floor
            .peak_rss_mib
            .get("bench-floor")
            .copied()
            .unwrap_or(0.0)
    );
}

pub fn write_json(report: &Report) -> anyhow::Result<PathBuf> {
    let path = system_tests::process::binaries_dir().join("../bench/report.json");
    std::fs::write(&path, serde_json::to_string_pretty(report)?)?;
    Ok(path.canonicalize().unwrap_or(path))
}

#[allow(clippy::cast_precision_loss)]
fn us_to_ms(us: u64) -> f64 {
    us as f64 / 1e3
}
