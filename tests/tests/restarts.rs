//! The machine's RabbitMQ and Postgres themselves stopped and started again
//! in the middle of a burst (issue 7, scenarios 5 and 6): the services must
//! reconnect by themselves, without a restart, answer fast and clearly while
//! a server is away, and lose and double nothing.
//!
//! Every test and program using those servers feels a restart, so these are
//! `#[ignore]`d in a plain `cargo test` and run by `just test-restarts` —
//! the last step of `just test` — alone in their own binary, one at a time.
//! The tests in `tests/it` cover the same faults scoped to one system (its
//! connections closed, its databases cut) so they can run in parallel.

// A panic is how a test reports failure.
#![allow(clippy::unwrap_used)]

use std::time::{Duration, Instant};

use system_tests::{Options, System, burst::Burst, servers::Server};

/// How long a server stays down: longer than the services bridge by waiting
/// (`DATABASE_ACQUIRE_TIMEOUT`, 2 s by default), so requests in flight get
/// their "outcome unknown" answer and are sent again.
const DOWN: Duration = Duration::from_secs(6);

/// No request may wait longer than the gateway's deadline for order-service
/// (5 s by default) and some scheduling slack: a fast, clear answer, never a
/// hang.
const FAIL_FAST: Duration = Duration::from_secs(8);

/// One restart at a time, even when run with several test threads.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test]
#[ignore = "restarts the machine's RabbitMQ: run alone by `just test-restarts`"]
async fn rabbitmq_restarted_mid_burst_services_reconnect_and_lose_no_event() {
    restart_mid_burst(Server::RabbitMq).await;
}

#[tokio::test]
#[ignore = "restarts the machine's Postgres: run alone by `just test-restarts`"]
async fn postgres_restarted_mid_burst_services_recover_without_restart() {
    restart_mid_burst(Server::Postgres).await;
}

async fn restart_mid_burst(server: Server) {
    let _serial = SERIAL.lock().await;
    let system = System::start(Options::default()).await;
    let pids: Vec<u32> = system.processes().map(|p| p.pid()).collect();
    let mut burst = Burst::start(&system).await;

    burst.fault_time().await;
    let outage = server.stop().await;
    let stopped = Instant::now();
    // A read while the server is away: a clear answer, fast.
    let (status, content_type) = system.get_user(&burst.users()[0]).await;
    let read = (status, stopped.elapsed());
    tokio::time::sleep(DOWN.saturating_sub(stopped.elapsed())).await;
    outage.end().await;
    burst.fault_over();
    let restarted = Instant::now();
    // Back by themselves, within seconds (the reconnect backoff tops out at
    // 5 s; pools reconnect on the next query).
    for process in system.processes() {
        process.wait_ready(Duration::from_secs(20)).await;
    }
    let ready_after = restarted.elapsed();

    let report = burst.check(&system).await;
    eprintln!(
        "{server:?} down {DOWN:?} mid-burst, all ready {ready_after:?} after its start: {report:?}"
    );
    for (process, pid) in system.processes().zip(&pids) {
        assert_eq!(process.pid(), *pid, "{} was restarted", process.name);
    }
    assert!(
        report.slowest < FAIL_FAST,
        "a request waited {:?} for its answer",
        report.slowest
    );
    assert!(
        read.1 < FAIL_FAST,
        "the read during the outage took {:?}",
        read.1
    );
    let expected = match server {
        // user-service and its database are still there.
        Server::RabbitMq => 200,
        Server::Postgres => 503,
    };
    assert_eq!(
        read.0, expected,
        "a read during the outage: {content_type:?}"
    );
    if read.0 == 503 {
        assert_eq!(
            content_type.as_deref(),
            Some("application/problem+json"),
            "the 503's body"
        );
    }
    assert!(
        !report.unknown_outcomes.is_empty(),
        "no request was answered \"outcome unknown\": the outage struck nothing"
    );
}
