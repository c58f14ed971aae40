//! notification-service, for now only its lifecycle: it starts, logs and shuts down
//! cleanly on SIGINT/SIGTERM. Its behaviour lands with its issue (see
//! docs/roadmap.md).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _telemetry = platform::telemetry::init("notification-service");
    tracing::info!("notification-service started (placeholder: no queues consumed yet)");
    platform::shutdown_signal().await;
    tracing::info!("notification-service stopped");
    Ok(())
}
