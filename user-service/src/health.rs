//! `grpc.health.v1.Health` with a real answer: SERVING only while the database
//! answers. Kubernetes gRPC probes and the gateway's `/health` read it.

use std::time::Duration;

use contracts::user::user_service_server::UserServiceServer;
use sqlx::PgPool;
use tonic::server::NamedService;
use tonic_health::{ServingStatus, server::HealthReporter};

use crate::grpc::UserGrpc;

/// Pings the database every `interval` and publishes the result as the status
/// of both the whole server (`""`) and `user.UserService`. Runs until aborted.
pub async fn watch_database(reporter: HealthReporter, pool: PgPool, interval: Duration) {
    let mut last = None;
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        // The pool's acquire timeout bounds this when Postgres is down, but a
        // half-open connection could still stall: bound it by the interval.
        let ping = tokio::time::timeout(interval, sqlx::query("SELECT 1").execute(&pool)).await;
        let status = match ping {
            Ok(Ok(_)) => ServingStatus::Serving,
            _ => ServingStatus::NotServing,
        };
        if last != Some(status) {
            tracing::info!(?status, "database health changed");
            for service in ["", UserServiceServer::<UserGrpc>::NAME] {
                reporter.set_service_status(service, status).await;
            }
            last = Some(status);
        }
    }
}
