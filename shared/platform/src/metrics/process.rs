//! What every process reports about itself: the standard Prometheus
//! `process_*` metrics (CPU time, resident and virtual memory, open and
//! maximum file descriptors, threads, start time), read from the OS at each
//! scrape by [`metrics_process`], and `build_info`, one constant series
//! naming the binary, its version and the compiler that built it.
//!
//! Reading `/proc/self` costs a few system calls, so it is done when
//! Prometheus asks rather than on a timer: an unscraped process does no work
//! for it.

use std::sync::OnceLock;

/// `rustc --version`'s number, from `build.rs`.
const RUSTC_VERSION: &str = env!("PLATFORM_RUSTC_VERSION");

fn collector() -> &'static metrics_process::Collector {
    static COLLECTOR: OnceLock<metrics_process::Collector> = OnceLock::new();
    COLLECTOR.get_or_init(metrics_process::Collector::default)
}

pub(super) fn describe() {
    collector().describe();
    metrics::describe_gauge!(
        "build_info",
        "Always 1: the service this process runs, its version (the binary's \
         Cargo package version) and the rustc that built it."
    );
}

/// Refreshes the `process_*` gauges; the admin port calls it before each
/// render of `/metrics`.
pub fn collect() {
    collector().collect();
}

/// Sets `build_info{service, version, rustc} 1` (on the installed
/// recorder: `telemetry::init` installs it first). One series per process:
/// the labels are fixed at build time. Query it to see which version each
/// instance runs, or join on it (`* on (instance) group_left(version)`).
pub fn record_build_info(service: &'static str, version: &'static str) {
    metrics::gauge!(
        "build_info",
        "service" => service,
        "version" => version,
        "rustc" => RUSTC_VERSION
    )
    .set(1.0);
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_rustc_version_is_a_version_number() {
        let parts: Vec<&str> = super::RUSTC_VERSION.split('.').collect();
        assert!(
            parts.len() >= 3 && parts[0].parse::<u32>().is_ok(),
            "{}",
            super::RUSTC_VERSION
        );
    }
}
