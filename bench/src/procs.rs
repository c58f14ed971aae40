//! What each process costs, read from /proc: CPU time (utime + stime) and
//! resident memory (current and peak). Linux only, like the bench.

use std::{collections::BTreeMap, fs};

/// A process group the report shows: one service process, or every process
/// of Postgres or RabbitMQ.
#[derive(Debug, Clone)]
pub struct Group {
    pub name: String,
    pub pids: Vec<u32>,
    /// For a group found by command name: the name, to find it again.
    comm: Option<String>,
}

impl Group {
    pub fn one(name: &str, pid: u32) -> Self {
        Self {
            name: name.to_owned(),
            pids: vec![pid],
            comm: None,
        }
    }

    /// Every process whose command name is `comm` (`postgres`, `beam.smp`).
    pub fn named(name: &str, comm: &str) -> Self {
        let pids = fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
            .filter(|pid| {
                fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
            })
            .collect();
        Self {
            name: name.to_owned(),
            pids,
            comm: Some(comm.to_owned()),
        }
    }

    /// The group as it is now: Postgres starts a process per connection, and
    /// pools open connections as load grows, so look again after a warm-up.
    pub fn refreshed(&self) -> Self {
        match &self.comm {
            Some(comm) => Self::named(&self.name, comm),
            None => self.clone(),
        }
    }

    /// CPU seconds used so far by the group's processes (those still alive).
    pub fn cpu_seconds(&self) -> f64 {
        let ticks: u64 = self.pids.iter().filter_map(|pid| cpu_ticks(*pid)).sum();
        to_seconds(ticks)
    }

    /// Peak resident memory since the last [`Group::reset_peak`], in MiB
    /// (summed over the group's processes).
    pub fn peak_rss_mib(&self) -> f64 {
        let kib: u64 = self
            .pids
            .iter()
            .filter_map(|pid| status_kib(*pid, "VmHWM"))
            .sum();
        to_mib(kib)
    }

    pub fn rss_mib(&self) -> f64 {
        let kib: u64 = self
            .pids
            .iter()
            .filter_map(|pid| status_kib(*pid, "VmRSS"))
            .sum();
        to_mib(kib)
    }

    /// Starts a new peak-RSS window (`clear_refs` 5 resets VmHWM; needs the
    /// same user or root — otherwise peaks are since process start).
    pub fn reset_peak(&self) {
        for pid in &self.pids {
            let _ = fs::write(format!("/proc/{pid}/clear_refs"), "5");
        }
    }
}

/// CPU seconds of every group, and of the whole machine (all cores, busy
/// time only), at one moment.
#[derive(Debug, Clone)]
pub struct CpuSnapshot {
    pub groups: BTreeMap<String, f64>,
    pub machine_busy: f64,
}

impl CpuSnapshot {
    pub fn take(groups: &[Group]) -> Self {
        Self {
            groups: groups
                .iter()
                .map(|g| (g.name.clone(), g.cpu_seconds()))
                .collect(),
            machine_busy: machine_busy_seconds(),
        }
    }

    /// CPU seconds per group between `self` and a later snapshot.
    pub fn until(&self, later: &Self) -> (BTreeMap<String, f64>, f64) {
        let groups = later
            .groups
            .iter()
            .map(|(name, after)| {
                let before = self.groups.get(name).copied().unwrap_or(0.0);
                (name.clone(), (after - before).max(0.0))
            })
            .collect();
        (groups, later.machine_busy - self.machine_busy)
    }
}

fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces: fields start after its ')'.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 here.
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

fn machine_busy_seconds() -> f64 {
    let stat = fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(cpu) = stat.lines().next() else {
        return 0.0;
    };
    let values: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: busy = all but idle, iowait.
    let busy: u64 = values
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .take(8)
        .map(|(_, v)| v)
        .sum();
    to_seconds(busy)
}

/// Clock ticks per second of /proc's CPU times; 100 on Linux unless the
/// kernel says otherwise.
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

#[allow(clippy::cast_precision_loss)] // tick and KiB counts far below 2^52
fn to_seconds(ticks: u64) -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    ticks as f64 / *TICKS.get_or_init(ticks_per_second)
}

#[allow(clippy::cast_precision_loss)]
fn to_mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}
