//! `just bench`: the three workloads through the real system, each service a
//! release binary of its own, against a single-process floor; one table and
//! a JSON file. Results and method: docs/benchmarks.md.
//!
//! # Layout
//! - [`workloads`]: the run — start, seed, floor, W1, W2, W3, lone order.
//! - [`wrk`]: driving wrk with the Lua scripts in `bench/lua/`.
//! - [`procs`]: CPU time and memory of processes, from /proc.
//! - [`report`]: the table and the JSON.
//! - [`soak`]: `just soak`, memory under a steady load for minutes.
//! - [`abuse`]: `just bench-abuse`, a customer's share while another
//!   address attacks the edge.
//! - `src/bin/floor.rs`: the floor process.

pub mod abuse;
pub mod procs;
pub mod report;
pub mod soak;
pub mod workloads;
pub mod wrk;

use std::time::Duration;

use platform::env::{ConfigError, duration_or, parse_or};

/// Parameters from the environment: `BENCH_DURATION` (20s), `BENCH_WARMUP`
/// (5s), `BENCH_CONNECTIONS` (64), `BENCH_THREADS` (2), `BENCH_USERS`
/// (1000), `BENCH_LAG_ORDERS` (300), `BENCH_LONE_ORDERS` (200).
#[derive(Debug, Clone)]
pub struct Params {
    pub load: wrk::Load,
    pub warmup: Duration,
    pub users: usize,
    pub lag_orders: usize,
    pub lone_orders: usize,
}

impl Params {
    pub fn from_env() -> Result<Self, ConfigError> {
        Ok(Self {
            load: wrk::Load {
                threads: parse_or("BENCH_THREADS", 2)?,
                connections: parse_or("BENCH_CONNECTIONS", 64)?,
                duration: duration_or("BENCH_DURATION", Duration::from_secs(20))?,
            },
            warmup: duration_or("BENCH_WARMUP", Duration::from_secs(5))?,
            users: parse_or("BENCH_USERS", 1000)?,
            lag_orders: parse_or("BENCH_LAG_ORDERS", 300)?,
            lone_orders: parse_or("BENCH_LONE_ORDERS", 200)?,
        })
    }
}
