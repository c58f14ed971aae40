use anyhow::Context;
use order_service::{App, Config};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::from_env().context("reading configuration")?;
    let _telemetry = platform::telemetry::init("order-service");
    let app = App::build(config).await.context("starting order-service")?;
    app.run_until(platform::shutdown_signal()).await
}
