//! `just bench-abuse`: what one attacking client costs everyone else, on
//! release binaries. A customer on [`CUSTOMER`] reads products and places
//! orders, once on a quiet gateway and once while [`ATTACKER`] holds 600
//! log-ins whose bodies never finish and 3 HTTP/2 connections of 200
//! streams withholding their DATA — the attack of issue 26 and of
//! tests/tests/it/abuse/edge.rs. Reports the customer's answers, latency
//! and the gateway's CPU per customer request (docs/benchmarks.md).

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use system_tests::{
    Options, System,
    attack::{
        ATTACKER, CUSTOMER, client_from, customer_request, percentile, slow_bodies, status_line,
        withheld_streams,
    },
};
use tokio::task::JoinSet;

use crate::procs::Group;

/// The customer's requests in each phase: half product reads, half orders.
pub const REQUESTS: usize = 300;
/// The attack: trickled bodies, and HTTP/2 connections × withheld streams.
pub const SLOW_BODIES: usize = 600;
pub const H2_CONNECTIONS: usize = 3;
pub const H2_STREAMS: usize = 200;

/// What the customer saw in one phase.
#[derive(Debug)]
pub struct Phase {
    pub statuses: BTreeMap<String, usize>,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    /// The gateway's CPU time over the phase, per customer request (under
    /// attack it includes what the attacker's requests cost).
    pub gateway_cpu_per_request: Duration,
}

/// The run: the quiet phase, the phase under attack, and what the attacker
/// was answered (status → count; 0: closed without an answer).
#[derive(Debug)]
pub struct Run {
    pub quiet: Phase,
    pub attacked: Phase,
    pub attacker: BTreeMap<u16, usize>,
}

pub async fn run() -> anyhow::Result<Run> {
    let system = System::start(Options::default()).await;
    let gateway_addr = system.gateway.listen_addr.expect("the gateway listens");
    let gateway = Group::one("api-gateway", system.gateway.pid());
    let customer_id = system.user_with_credit(100_000_000).await;
    let customer = client_from(CUSTOMER, Some(&system.token(&customer_id)));
    // Warm: connections, the token cache, prepared statements.
    phase(&system, &customer, &gateway, 50).await;
    let quiet = phase(&system, &customer, &gateway, REQUESTS).await;

    let bodies = slow_bodies(ATTACKER, gateway_addr, SLOW_BODIES).await;
    let mut streams = JoinSet::new();
    for _ in 0..H2_CONNECTIONS {
        streams.spawn(withheld_streams(
            ATTACKER,
            gateway_addr,
            H2_STREAMS,
            Duration::from_secs(30),
        ));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let attacked = phase(&system, &customer, &gateway, REQUESTS).await;

    let mut answers = JoinSet::new();
    for stream in bodies {
        answers.spawn(status_line(stream));
    }
    let mut attacker = BTreeMap::new();
    for status in answers
        .join_all()
        .await
        .into_iter()
        .chain(streams.join_all().await.concat())
    {
        *attacker.entry(status).or_default() += 1;
    }
    Ok(Run {
        quiet,
        attacked,
        attacker,
    })
}

/// `requests` from the customer, one at a time, alternating a product
/// read and a one-item order.
async fn phase(
    system: &System,
    customer: &reqwest::Client,
    gateway: &Group,
    requests: usize,
) -> Phase {
    let cpu_before = gateway.cpu_seconds();
    let mut latencies = Vec::with_capacity(requests);
    let mut statuses = BTreeMap::new();
    for i in 0..requests {
        let started = Instant::now();
        let response = customer_request(system, customer, i).await;
        latencies.push(started.elapsed());
        let status = match response {
            Ok(r) => r.status().as_u16().to_string(),
            Err(e) if e.is_timeout() => "timeout".to_owned(),
            Err(_) => "connection error".to_owned(),
        };
        *statuses.entry(status).or_default() += 1;
    }
    let cpu = gateway.cpu_seconds() - cpu_before;
    latencies.sort();
    Phase {
        statuses,
        p50: percentile(&latencies, 0.5),
        p99: percentile(&latencies, 0.99),
        max: latencies[latencies.len() - 1],
        gateway_cpu_per_request: Duration::from_secs_f64(cpu / requests as f64),
    }
}
