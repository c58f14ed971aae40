//! `grpc.health.v1.Health` with a real answer: SERVING only while the database
//! answers. The gateway's `/health` and gRPC clients and balancers read it.

use std::time::Duration;

use contracts::user::user_service_server::UserServiceServer;
use sqlx::PgPool;
use tokio::task::JoinHandle;
use tonic::server::NamedService;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::grpc::UserGrpc;

/// Publishes the database's state as the status of both the whole server
/// (`""`) and `user.UserService`: probes once before returning, so the first
/// health check after start-up already has a true answer, then every
/// `interval` in a task the caller aborts at shutdown.
pub(crate) async fn watch_database(
    reporter: HealthReporter,
    pool: PgPool,
    interval: Duration,
) -> JoinHandle<()> {
    let mut last = probe_and_publish(&reporter, &pool, interval, None).await;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await; // the first tick is immediate; we just probed
        loop {
            ticker.tick().await;
            last = probe_and_publish(&reporter, &pool, interval, Some(last)).await;
        }
    })
}

async fn probe_and_publish(
    reporter: &HealthReporter,
    pool: &PgPool,
    timeout: Duration,
    last: Option<ServingStatus>,
) -> ServingStatus {
    // The pool's acquire timeout bounds this when Postgres is down, but a
    // half-open connection could still stall: bound it by the interval too.
    let ping = sqlx::query_scalar!("SELECT 1 AS ping").fetch_one(pool);
    let ping = tokio::time::timeout(timeout, ping).await;
    let status = match ping {
        Ok(Ok(_)) => ServingStatus::Serving,
        _ => ServingStatus::NotServing,
    };
    if last != Some(status) {
        tracing::info!(?status, "database health changed");
        for service in ["", UserServiceServer::<UserGrpc>::NAME] {
            reporter.set_service_status(service, status).await;
        }
    }
    status
}
